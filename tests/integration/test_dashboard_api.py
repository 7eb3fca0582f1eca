"""The API side of the dashboard over real HTTP, against ``jeroboam up`` (a real conductor and the
sim driver): the operations and catalog extensions under /v1/jeroboam (with the cross-project 404),
the dashboard's static files with their security headers, and its configuration document."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.conftest import JeroboamProcess, poll, running_jeroboam
from tests.support.identities import ADMIN, ALPHA_MEMBER, ALPHA_READER, BETA_MEMBER, Identity

WAIT = 60.0
PHASES = ["infrastructure", "pki", "control_plane", "workers", "endpoint", "status"]


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JeroboamProcess]:
    with running_jeroboam(tmp_path_factory.mktemp("dashboard-api")) as process:
        yield process


def call(up: JeroboamProcess, method: str, path: str, who: Identity | None, **kw: Any) -> httpx.Response:
    headers = {"OpenStack-API-Version": "container-infra latest", **(who.headers if who else {})}
    return httpx.request(method, f"{up.url}{path}", headers=headers, timeout=30, **kw)


def wait_status(up: JeroboamProcess, uuid: str, wanted: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = call(up, "GET", f"/v1/clusters/{uuid}", ALPHA_MEMBER).json()
        return body if body["status"] == wanted else None

    return poll(f"cluster {uuid} {wanted}", probe, WAIT, 0.2)


def make_cluster(up: JeroboamProcess, name: str, labels: dict[str, str]) -> str:
    template = call(
        up,
        "POST",
        "/v1/clustertemplates",
        ALPHA_MEMBER,
        json={"name": f"{name}-t", "coe": "swarm-mode", "image_id": "jeroboam-node", "driver": "sim"},
    )
    assert template.status_code == 201, template.text
    created = call(
        up,
        "POST",
        "/v1/clusters",
        ALPHA_MEMBER,
        json={"name": name, "cluster_template_id": template.json()["uuid"], "labels": labels},
    )
    assert created.status_code == 202, created.text
    uuid: str = created.json()["uuid"]
    return uuid


def test_operations_record_phases_failure_and_retry(up: JeroboamProcess) -> None:
    uuid = make_cluster(up, "ops", {"sim_fail_phase": "endpoint", "sim_latency": "0.1"})
    wait_status(up, uuid, "CREATE_FAILED")
    answer = call(up, "GET", f"/v1/jeroboam/clusters/{uuid}/operations", ALPHA_MEMBER)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["cluster_uuid"] == uuid
    [create] = body["operations"]
    assert create["kind"] == "create"
    assert (create["state"], create["outcome"], create["phase"]) == ("failed", "failed", "endpoint")
    assert (create["project_id"], create["user_id"]) == (ALPHA_MEMBER.project_id, ALPHA_MEMBER.user_id)
    assert create["phases"] == PHASES
    assert list(create["phase_times"]) == PHASES[:5]  # entered in order, up to the failing one
    entered = [datetime.fromisoformat(create["phase_times"][p]) for p in PHASES[:5]]
    assert entered == sorted(entered)
    created_at, deadline = datetime.fromisoformat(create["created_at"]), datetime.fromisoformat(create["deadline"])
    assert 3500 < (deadline - created_at).total_seconds() <= 3600  # the default 60-minute create timeout
    assert "failed in phase endpoint" in create["reason"]
    assert create["finished_at"] is not None

    # A retry (PATCH of the same node_count) is a new operation, listed first, that ends succeeded.
    retry = call(
        up, "PATCH", f"/v1/clusters/{uuid}", ALPHA_MEMBER, json=[{"op": "replace", "path": "/node_count", "value": 1}]
    )
    assert retry.status_code == 202, retry.text
    wait_status(up, uuid, "CREATE_COMPLETE")
    newest, oldest = call(up, "GET", f"/v1/jeroboam/clusters/{uuid}/operations", ALPHA_MEMBER).json()["operations"]
    assert oldest["uuid"] == create["uuid"]
    assert (newest["kind"], newest["state"], newest["outcome"]) == ("update", "succeeded", "succeeded")
    assert list(newest["phase_times"]) == PHASES
    assert (newest["request"]["node_count"], newest["request"]["previous_node_count"]) == (1, 1)


def test_operations_are_visible_as_the_cluster_is(up: JeroboamProcess) -> None:
    uuid = make_cluster(up, "seen", {})
    path = f"/v1/jeroboam/clusters/{uuid}/operations"
    assert call(up, "GET", path, ALPHA_READER).status_code == 200
    assert call(up, "GET", path, ADMIN).status_code == 200
    by_name = call(up, "GET", "/v1/jeroboam/clusters/seen/operations", ALPHA_MEMBER)
    assert by_name.status_code == 200
    assert by_name.json()["cluster_uuid"] == uuid

    stranger = call(up, "GET", path, BETA_MEMBER)
    assert stranger.status_code == 404
    error = stranger.json()["errors"][0]
    assert error["code"] == "client"
    assert uuid in error["detail"]
    assert "operations" not in stranger.text
    assert call(up, "GET", "/v1/jeroboam/clusters/no-such-cluster/operations", ALPHA_MEMBER).status_code == 404
    assert call(up, "GET", f"{path}?limit=1", ALPHA_MEMBER).status_code == 400


def test_catalog_lists_what_templates_may_name(up: JeroboamProcess) -> None:
    answer = call(up, "GET", "/v1/jeroboam/catalog", BETA_MEMBER)
    assert answer.status_code == 200, answer.text
    drivers = {d["name"]: d for d in answer.json()["drivers"]}
    assert {"docker", "sim"} <= set(drivers)
    sim = drivers["sim"]
    assert {"server_type": "vm", "coe": "swarm-mode"} in sim["provides"]
    assert {"name": "jeroboam-node", "os_distro": "debian"} in sim["images"]
    assert "public" in sim["external_networks"]
    flavor = next(f for f in sim["flavors"] if f["name"] == "m1.small")
    assert flavor["vcpus"] > 0
    assert flavor["ram"] > 0
    # Each listed value is accepted by the template checks; a value not listed is refused.
    accepted = call(
        up,
        "POST",
        "/v1/clustertemplates",
        BETA_MEMBER,
        json={
            "name": "from-catalog",
            "coe": "swarm-mode",
            "driver": "sim",
            "image_id": sim["images"][0]["name"],
            "flavor_id": flavor["name"],
            "external_network_id": sim["external_networks"][0],
        },
    )
    assert accepted.status_code == 201, accepted.text
    refused = call(
        up,
        "POST",
        "/v1/clustertemplates",
        BETA_MEMBER,
        json={"name": "x", "coe": "swarm-mode", "driver": "sim", "image_id": "not-in-catalog"},
    )
    assert refused.status_code == 400


SECURITY = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def test_dashboard_is_served_with_security_headers(up: JeroboamProcess) -> None:
    redirect = httpx.get(f"{up.url}/dashboard", follow_redirects=False)
    assert redirect.status_code == 308
    assert redirect.headers["location"] == "/dashboard/"
    index = httpx.get(f"{up.url}/dashboard/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    csp = index.headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    for name, value in SECURITY.items():
        assert index.headers[name] == value
    # No inline script or style: every script has a src, and no element carries a style attribute.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", index.text) == []
    assert "<style" not in index.text
    assert " style=" not in index.text
    script = httpx.get(f"{up.url}/dashboard/js/main.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["x-frame-options"] == "DENY"
    # A warm load revalidates: the same ETag is a 304 with no body.
    again = httpx.get(f"{up.url}/dashboard/js/main.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert httpx.get(f"{up.url}/dashboard/js/nothing.js").status_code == 404
    # The public prefix does not reach the API: a raw dot-segment path is the dashboard's 404.
    assert raw_status(up, "/dashboard/../v1/clusters") == 404


def raw_status(up: JeroboamProcess, path: str) -> int:
    """The status of a GET sent byte for byte (httpx would normalise the path first)."""
    host, port = up.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def test_dashboard_configuration_and_sign_in_in_noauth(up: JeroboamProcess) -> None:
    config = httpx.get(f"{up.url}/dashboard/config.json")
    assert config.status_code == 200
    assert config.headers["cache-control"] == "no-store"
    body = config.json()
    assert body["auth_strategy"] == "noauth"
    assert body["noauth"]["default_project_id"]
    assert body["keystone"] is None
    refused = httpx.post(f"{up.url}/dashboard/auth/tokens", json={"username": "u", "password": "p"})
    assert refused.status_code == 404
    # The Magnum document at / is unchanged, and other top-level paths still mean /v1/...
    assert httpx.get(f"{up.url}/").json()["versions"][0]["id"] == "v1"
    assert httpx.get(f"{up.url}/dashboards").status_code == 404


def test_dashboard_code_never_writes_markup_from_strings() -> None:
    """Output is escaped by construction: the page builds DOM with textContent, never from HTML text."""
    static = Path(str(resources.files("jeroboam.dashboard") / "static"))
    sources = {path.name: path.read_text() for path in static.rglob("*.js")}
    assert "main.js" in sources
    assert "cluster.js" in sources
    for name, text in sources.items():
        for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert forbidden not in text, f"{name} uses {forbidden}"


def test_jeroboam_up_prints_the_dashboard_url(up: JeroboamProcess) -> None:
    assert f"Open the dashboard at {up.url}/dashboard/" in up.log_path.read_text()
