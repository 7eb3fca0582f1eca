"""Prometheus metrics and JSON logs of a real ``jeroboam up`` over HTTP: the figures move with a
sim cluster's create, API worker processes are summed, and clients outside the allowed networks
are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.compat.conftest import running_jeroboam
from tests.integration.test_all_in_one_workers import HEADERS, TEMPLATE, _workers_of
from tests.support.server import free_port

ADMIN = {**HEADERS, "X-Roles": "admin"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    response = httpx.get(f"{url}/metrics", headers=headers or {}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


def wait_for(condition: Callable[[], bool], what: str, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


def create_cluster(http: httpx.Client, **extra: object) -> httpx.Response:
    template = http.post("/v1/clustertemplates", json=TEMPLATE)
    assert template.status_code == 201, template.text
    body = {"cluster_template_id": template.json()["uuid"], "master_count": 1, "node_count": 1, **extra}
    made = http.post("/v1/clusters", json=body)
    assert made.status_code == 202, made.text
    return made


def status_of(http: httpx.Client, uuid: str) -> str:
    return str(http.get(f"/v1/clusters/{uuid}").json()["status"])


def test_metrics_and_json_logs_follow_a_cluster_create(tmp_path: Path) -> None:
    env = {
        "JEROBOAM_X509__KEY_ALGORITHM": "ec",
        "JEROBOAM_SIM__LATENCY_SECONDS": "0.3",  # the create lasts long enough to be scraped mid-way
        "JEROBOAM_LOG_FORMAT": "json",
    }
    with (
        running_jeroboam(tmp_path / "data", env=env) as server,
        httpx.Client(base_url=server.url, headers=HEADERS, timeout=10) as http,
    ):
        made = create_cluster(http, labels={"sim_latency": "0.3"})
        uuid = made.json()["uuid"]
        request_id = made.headers["x-openstack-request-id"]

        during = scrape(server.url)
        assert value(during, "jeroboam_operations_accepted_total", kind="create", driver="sim") == 1
        assert value(during, "jeroboam_http_requests_total", route="/v1/clusters", method="POST", status="202") == 1
        assert value(during, "jeroboam_http_request_duration_seconds_count", route="/v1/clusters", method="POST") == 1
        assert total(during, "jeroboam_clusters", status="CREATE_IN_PROGRESS") == 1
        assert value(during, "jeroboam_operations_completed_total", kind="create", driver="sim") == 0

        wait_for(lambda: status_of(http, uuid) == "CREATE_COMPLETE", "the create to complete")
        assert http.get(f"/v1/no-such-collection/{uuid}").status_code == 404
        after = scrape(server.url)

    assert value(after, "jeroboam_operations_completed_total", kind="create", driver="sim") == 1
    assert value(after, "jeroboam_operations_failed_total", kind="create", driver="sim") == 0
    assert (
        value(after, "jeroboam_operation_duration_seconds_count", kind="create", driver="sim", result="succeeded") == 1
    )
    assert value(after, "jeroboam_operation_duration_seconds_sum", kind="create", driver="sim", result="succeeded") > 0
    for phase in ("infrastructure", "pki", "control_plane", "workers", "endpoint", "status"):
        assert value(after, "jeroboam_phase_duration_seconds_count", phase=phase, driver="sim", result="ok") >= 1, phase
    assert total(after, "jeroboam_clusters", status="CREATE_COMPLETE") == 1
    assert total(after, "jeroboam_clusters", status="CREATE_IN_PROGRESS") == 0
    assert value(after, "jeroboam_queue_depth") == 0
    # Shows are counted under their route template, never under the raw path.
    assert value(after, "jeroboam_http_requests_total", route="/v1/clusters/{ident}", method="GET", status="200") >= 1
    assert not any(uuid in dict(labels).get("route", "") for _, labels in after)
    # A path no route matches is counted under one label, not one series per path.
    assert value(after, "jeroboam_http_requests_total", route="<unrouted>", method="GET", status="404") == 1

    lines = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.startswith("{")]
    about = [line for line in lines if line.get("cluster_uuid") == uuid]
    assert about, server.log_tail()
    assert any(line["request_id"] == request_id and "create finished" in line["message"] for line in about), about
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)


def test_api_workers_and_conductor_are_summed(tmp_path: Path) -> None:
    env = {"JEROBOAM_X509__KEY_ALGORITHM": "ec"}
    data = tmp_path / "data"
    with running_jeroboam(data, env=env, args=("--workers", "2")) as server:
        workers = _workers_of(server.process.pid)
        assert len(workers) == 2, server.log_tail()
        requests = 0

        def both_workers_served() -> bool:
            # A new connection each: the kernel spreads them over the workers (until both served some).
            nonlocal requests
            assert httpx.get(f"{server.url}/v1/clusters", headers=HEADERS, timeout=10).status_code == 200
            requests += 1
            counted = {path.stem.rsplit("_", 1)[1] for path in (data / "metrics").glob("histogram_*.db")}
            return requests >= 20 and {str(pid) for pid in workers} <= counted

        wait_for(both_workers_served, "requests served by both workers")
        with httpx.Client(base_url=server.url, headers=HEADERS, timeout=10) as http:
            uuid = create_cluster(http).json()["uuid"]
            wait_for(lambda: status_of(http, uuid) == "CREATE_COMPLETE", "the create to complete")
        served_by = {int(path.stem.rsplit("_", 1)[1]) for path in (data / "metrics").glob("counter_*.db")}
        # Both workers counted requests, and the conductor (in the supervisor) counted the create.
        assert set(workers) | {server.process.pid} <= served_by, (served_by, workers)
        for _ in range(4):  # whichever worker answers, the figures are the sum over every process
            samples = scrape(server.url)
            assert (
                value(samples, "jeroboam_http_requests_total", route="/v1/clusters", method="GET", status="200")
                == requests
            )
            assert value(samples, "jeroboam_operations_accepted_total", kind="create", driver="sim") == 1
            assert value(samples, "jeroboam_operations_completed_total", kind="create", driver="sim") == 1
    assert server.returncode == 0, server.log_tail()


def test_metrics_refused_outside_the_allowed_networks(tmp_path: Path) -> None:
    # The test client is on loopback: an allowed list without it makes it a remote client.
    env = {"JEROBOAM_METRICS__ALLOWED_NETWORKS": '["192.0.2.0/24"]'}
    with running_jeroboam(tmp_path / "default", env=env) as server:
        refused = httpx.get(f"{server.url}/metrics", timeout=10)
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["code"] == "client"
        assert "jeroboam_" not in refused.text
        assert httpx.get(f"{server.url}/metrics", headers=ADMIN, timeout=10).status_code == 403
    env = {**env, "JEROBOAM_METRICS__REMOTE_ACCESS": "admin"}
    with running_jeroboam(tmp_path / "admins", env=env) as server:
        assert httpx.get(f"{server.url}/metrics", headers=HEADERS, timeout=10).status_code == 403
        assert "jeroboam_queue_depth" in httpx.get(f"{server.url}/metrics", headers=ADMIN, timeout=10).text


def test_a_conductor_serves_its_metrics_on_its_own_port(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("JEROBOAM_", "PROMETHEUS_"))},
        "JEROBOAM_DATA_DIR": str(tmp_path),
        "JEROBOAM_METRICS__CONDUCTOR_PORT": str(port),
    }
    tmp_path.mkdir(exist_ok=True)
    subprocess.run([str(bin_dir / "jeroboam-manage"), "db", "upgrade"], env=env, check=True, timeout=120)
    with (tmp_path / "conductor.log").open("wb") as log:
        conductor = subprocess.Popen(
            [str(bin_dir / "jeroboam-conductor")], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}"

        def answering() -> bool:
            assert conductor.poll() is None, (tmp_path / "conductor.log").read_text()
            try:
                return httpx.get(f"{url}/metrics", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(answering, "the conductor's metrics listener")
        samples = scrape(url)
        assert value(samples, "jeroboam_queue_depth") == 0
        assert ("jeroboam_lease_takeovers_total", frozenset()) in samples
    finally:
        conductor.terminate()
        assert conductor.wait(30) == 0
