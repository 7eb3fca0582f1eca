"""``jeroboam up --workers 2``: the all-in-one with two API worker processes and its conductor in
the supervising process. The conductor polls only once an hour here, so a cluster that gets built
proves that the workers' wake-ups reach it across processes."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from tests.compat.conftest import JEROBOAM, running_jeroboam

HEADERS = {
    "X-Project-Id": "workers",
    "X-User-Id": "someone",
    "X-Roles": "member,reader",
    "OpenStack-API-Version": "container-infra latest",
}
TEMPLATE = {
    "name": "sim",
    "coe": "kubernetes",
    "image_id": "fedora-coreos",
    "driver": "sim",
    "external_network_id": "public",
    "flavor_id": "m1.small",
    "master_flavor_id": "m1.small",
}


def _workers_of(pid: int) -> list[int]:
    """Child processes of ``pid`` that are multiprocessing workers (uvicorn spawns them)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    found = []
    for child in children:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        except FileNotFoundError:
            continue
        if b"multiprocessing.spawn" in command or b"spawn_main" in command:
            found.append(int(child))
    return found


def test_two_api_workers_serve_and_wake_the_conductor(tmp_path: Path) -> None:
    env = {"JEROBOAM_CONDUCTOR__POLL_INTERVAL": "3600", "JEROBOAM_X509__KEY_ALGORITHM": "ec"}
    with running_jeroboam(tmp_path / "data", env=env, args=("--workers", "2")) as server:
        assert len(_workers_of(server.process.pid)) == 2, server.log_tail()
        assert (tmp_path / "data" / "wakeup.sock").is_socket()
        with httpx.Client(base_url=server.url, headers=HEADERS, timeout=10) as http:
            template = http.post("/v1/clustertemplates", json=TEMPLATE)
            assert template.status_code == 201, template.text
            made = [
                http.post(
                    "/v1/clusters",
                    json={"cluster_template_id": template.json()["uuid"], "master_count": 1, "node_count": 1},
                )
                for _ in range(4)
            ]
            assert [r.status_code for r in made] == [202] * 4, [r.text for r in made]
            uuids = [r.json()["uuid"] for r in made]
            deadline = time.monotonic() + 60  # an hour-long poll would trip it
            while True:
                statuses = [http.get(f"/v1/clusters/{uuid}").json()["status"] for uuid in uuids]
                if statuses == ["CREATE_COMPLETE"] * 4:
                    break
                assert time.monotonic() < deadline, (statuses, server.log_tail())
                time.sleep(0.1)
            listed = http.get("/v1/clusters").json()["clusters"]
            assert sorted(c["uuid"] for c in listed) == sorted(uuids)
    assert server.returncode == 0, server.log_tail()
    assert not (tmp_path / "data" / "wakeup.sock").exists()


def test_workers_below_one_are_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(JEROBOAM), "up", "--workers", "0", "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "--workers must be at least 1" in result.stderr
