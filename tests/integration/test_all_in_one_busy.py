"""``jeroboam up`` keeps answering while its conductor is busy: every conductor worker is held inside
a driver call (the sim driver's ``sim_hang_phase``, which lasts until the server stops: a condition
the test controls, not a duration), and meanwhile another project's health check, list, template
create and cluster create are answered. The conductor runs in a spawned child process
(``[conductor] own_process``), woken over the data directory's socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.compat.conftest import poll, running_jeroboam
from tests.integration.test_all_in_one_workers import TEMPLATE, _workers_of

WORKERS = 2
HANG = {"sim_hang_phase": "workers", "sim_hang_seconds": "3600"}


def headers(project: str) -> dict[str, str]:
    return {"X-Project-Id": project, "X-User-Id": "someone", "X-Roles": "member,reader",
            "OpenStack-API-Version": "container-infra latest"}  # fmt: skip


def test_reads_and_writes_are_answered_while_every_conductor_worker_is_held_in_a_driver_call(tmp_path: Path) -> None:
    env = {
        "JEROBOAM_CONDUCTOR__WORKERS": str(WORKERS),
        "JEROBOAM_X509__KEY_ALGORITHM": "ec",
    }
    with running_jeroboam(tmp_path / "data", env=env) as server:
        assert len(_workers_of(server.process.pid)) == 1, server.log_tail()  # the conductor's process
        busy = httpx.Client(base_url=server.url, headers=headers("busy"), timeout=30)
        other = httpx.Client(base_url=server.url, headers=headers("other"), timeout=30)
        with busy, other:
            template = busy.post("/v1/clustertemplates", json=TEMPLATE).json()["uuid"]
            body = {"cluster_template_id": template, "master_count": 1, "node_count": 1, "labels": HANG}
            uuids = [busy.post("/v1/clusters", json=body).json()["uuid"] for _ in range(WORKERS)]

            def held() -> list[dict[str, Any]] | None:
                latest = [busy.get(f"/v1/jeroboam/clusters/{u}/operations").json()["operations"][0] for u in uuids]
                return latest if all(op["phase"] == "workers" for op in latest) else None

            poll("every conductor worker in the hanging driver call", held, 120, 0.2)
            # Meanwhile, as another project: a health check, a list, and writes.
            assert other.get("/").status_code == 200
            assert other.get("/v1/clusters").json()["clusters"] == []
            made = other.post("/v1/clustertemplates", json=TEMPLATE)
            assert made.status_code == 201, made.text
            accepted = other.post("/v1/clusters", json={**body, "cluster_template_id": made.json()["uuid"]})
            assert accepted.status_code == 202, accepted.text
            listed = other.get("/v1/clusters").json()["clusters"]
            assert [(c["uuid"], c["status"]) for c in listed] == [(accepted.json()["uuid"], "CREATE_IN_PROGRESS")]
            assert [busy.get(f"/v1/clusters/{u}").json()["status"] for u in uuids] == ["CREATE_IN_PROGRESS"] * WORKERS
    assert server.returncode == 0, server.log_tail()  # the hanging calls end when the server stops
    assert not (tmp_path / "data" / "wakeup.sock").exists()
