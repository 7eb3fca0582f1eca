"""A Docker engine that is configured but not there: ``jeroboam up`` says so at start, operations end
``*_FAILED`` after ``[conductor] unreachable_retry_window`` instead of waiting for their timeout, and
the owner can force the delete of a cluster whose engine is gone (``DELETE ...?force=true``).

The engine is a loopback port nobody listens on: connections are refused at once, as on a host whose
dockerd is stopped.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.conftest import JeroboamProcess, poll, running_jeroboam
from tests.support.server import free_port

HEADERS = {
    "X-Project-Id": "absent",
    "X-User-Id": "owner",
    "X-Roles": "member,reader",
    "OpenStack-API-Version": "container-infra latest",
}
WINDOW = 3  # seconds of silence before an operation fails
DEADLINE = 60.0  # far below the 60-minute create timeout and the 30-minute delete timeout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[JeroboamProcess, str]]:
    closed = f"tcp://127.0.0.1:{free_port()}"
    env = {
        "JEROBOAM_DOCKER__ENGINES": json.dumps([{"name": "gone", "url": closed}]),
        "JEROBOAM_CONDUCTOR__UNREACHABLE_RETRY_WINDOW": str(WINDOW),
        "JEROBOAM_X509__KEY_ALGORITHM": "ec",
    }
    with running_jeroboam(tmp_path_factory.mktemp("absent-engine"), env=env) as process:
        yield process, closed


@pytest.fixture(scope="module")
def api(server: tuple[JeroboamProcess, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0].url, headers=HEADERS, timeout=30) as client:
        template = {
            "name": "swarm",
            "coe": "swarm-mode",
            "image_id": "jeroboam-node",
            "external_network_id": "public",
            "flavor_id": "m1.small",
            "master_flavor_id": "m1.small",
        }
        assert client.post("/v1/clustertemplates", json=template).status_code == 201
        yield client


def create(api: httpx.Client, name: str) -> str:
    response = api.post("/v1/clusters", json={"cluster_template_id": "swarm", "name": name, "node_count": 1})
    assert response.status_code == 202, response.text
    uuid: str = response.json()["uuid"]
    return uuid


def wait_status(api: httpx.Client, uuid: str, status: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = api.get(f"/v1/clusters/{uuid}").json()
        return body if body.get("status") == status else None

    return poll(f"cluster {uuid} {status}", probe, DEADLINE, 0.3)


def test_start_warns_that_the_engine_does_not_answer(server: tuple[JeroboamProcess, str]) -> None:
    process, closed = server
    log = process.log_path.read_text()
    assert f"Docker engine gone ({closed}) does not answer" in log, process.log_tail()


def test_create_fails_after_the_window_with_the_reason(api: httpx.Client, server: tuple[JeroboamProcess, str]) -> None:
    uuid = create(api, "never")
    failed = wait_status(api, uuid, "CREATE_FAILED")
    reason = failed["status_reason"]
    assert reason.startswith("Create failed in phase infrastructure: No Docker engine answers at ")
    assert server[1] in reason
    assert f"([conductor] unreachable_retry_window = {WINDOW})" in reason
    assert reason.endswith("retry once it answers, or delete the cluster")


def test_delete_fails_after_the_window_and_a_forced_delete_forgets_the_cluster(
    api: httpx.Client, server: tuple[JeroboamProcess, str]
) -> None:
    uuid = create(api, "stuck")
    wait_status(api, uuid, "CREATE_FAILED")
    assert api.delete(f"/v1/clusters/{uuid}").status_code == 204
    failed = wait_status(api, uuid, "DELETE_FAILED")
    assert failed["status_reason"].endswith(
        f"delete it with force (DELETE /v1/clusters/{uuid}?force=true) to forget it"
    )
    bad = api.delete(f"/v1/clusters/{uuid}?force=yes")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["detail"].startswith("Invalid input for field/attribute force. Value: 'yes'.")

    assert api.delete(f"/v1/clusters/{uuid}?force=true").status_code == 204

    def gone() -> bool | None:
        return True if api.get(f"/v1/clusters/{uuid}").status_code == 404 else None

    poll(f"cluster {uuid} forgotten", gone, DEADLINE, 0.3)
    # What may be left behind, and where, stays on the forced delete's operation row.
    data_dir = Path(server[0].log_path).parent
    with sqlite3.connect(data_dir / "jeroboam.sqlite") as db:
        [(reason,)] = db.execute(
            "SELECT reason FROM operations WHERE cluster_id = ? AND action = 'delete' AND state = 'succeeded'", (uuid,)
        ).fetchall()
    assert reason.startswith("Forced delete: the docker driver could not delete (No Docker engine answers at ")
    assert f"network jb-{uuid} labelled org.jeroboam.cluster={uuid} on Docker engine gone ({server[1]})" in reason
