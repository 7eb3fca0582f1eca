"""A bounded crash run on real swarm clusters (``tests/reliability/crash_docker.py``): conductors
killed with SIGKILL while they build, resize, upgrade, rotate and delete Docker-in-Docker clusters
lose, duplicate and strand nothing, every swarm has exactly the nodes the API says, and the final
deletes leave nothing of the run's clusters on the engine. ``scripts/crash-docker`` runs longer forms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.reliability import crash, crash_docker
from tests.support.databases import BackendUnavailableError

pytestmark = [pytest.mark.docker, pytest.mark.postgresql, pytest.mark.timeout(1200)]


def test_conductor_kills_under_real_cluster_work_lose_duplicate_strand_and_leave_nothing(
    tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    # 3 creates and 8 changes, one of each kind (a deck), then the final deletes; 3 kills.
    config = crash_docker.docker_config(
        clusters=3, requests=11, kills=3, seed=16, deck=True, workdir=tmp_path,
        progress=lambda event: print(json.dumps(event), flush=True),
    )  # fmt: skip
    try:
        summary: dict[str, Any] = crash.run(config, crash_docker.DockerRig(docker_client))
    except BackendUnavailableError as exc:
        pytest.fail(f"PostgreSQL is not reachable, the crash run needs it: {exc}")
    print(json.dumps(summary))
    assert summary["kills"] >= 2, summary
    assert summary["kills_holding_work"] >= 2, summary
    assert summary["accepted"] >= 11, summary
    kinds = set(summary["accepted_by_kind"])
    assert kinds >= {"create", "resize", "upgrade", "nodegroup_create", "rotate_ca", "delete"}, summary
    assert summary["final_deletes"] >= 1, summary
    assert summary["quiet"], summary
    for figure in ("lost", "duplicated", "stuck", "mismatched", "leftover", "phantom", "errors", "not_resumed"):
        assert summary[figure] == 0, (figure, summary)
