"""The autoscaler end to end, as a user: ``jeroboam up`` with shortened autoscaler timings, a real
swarm-mode cluster of one ``m1.tiny`` worker (512 MiB advertised to swarm) with
``auto_scaling_enabled=true`` and max 3, and the ordinary ``docker`` CLI over the cluster's TLS
endpoint. The tests run in file order and share the cluster: a service whose replicas reserve more
memory than the worker has → the cluster grows (never beyond max) and every replica runs → a node
is protected → the service scaled to 0 → after the unneeded time the cluster shrinks to min, the
protected node kept → pending work again, and a user's resize while the autoscaler's step runs: the
user's count is reached first, then the autoscaler re-evaluates from it → delete. Run with ``-s``
for the transcript."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest

from jeroboam.domain.autoscaling import PROTECT_LABEL
from tests.compat.conftest import Cli, Transcript, ok, running_jeroboam
from tests.docker.test_e2e import FAST, Scenario, config_env, poll

pytestmark = [pytest.mark.docker, pytest.mark.compat]

AUTOSCALER = {
    "JEROBOAM_AUTOSCALER__INTERVAL": "1",
    "JEROBOAM_AUTOSCALER__PENDING_GRACE": "2",
    "JEROBOAM_AUTOSCALER__SCALE_DOWN_UNNEEDED_TIME": "8",
    "JEROBOAM_AUTOSCALER__SCALE_DOWN_DELAY_AFTER_ADD": "4",
}
TEMPLATE = (
    "--coe", "swarm-mode", "--image", "jeroboam-node", "--external-network", "public",
    "--flavor", "m1.tiny", "--master-flavor", "m1.small",
)  # fmt: skip
REPLICAS = 5
RESERVE = "200M"  # two fit in an m1.tiny worker's 512 MiB: five need three workers


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient) -> Iterator[Scenario]:
    work = tmp_path_factory.mktemp("autoscale-e2e")
    os.environ.setdefault("SHELL", "/bin/bash")
    transcript = Transcript()
    with running_jeroboam(work / "data", env={**FAST, **AUTOSCALER}) as server:
        cli = Cli(["--os-auth-type", "none", "--os-endpoint", server.endpoint], transcript=transcript)
        state = Scenario(server, cli, work)
        yield state
        if state.uuid:
            cli("cluster", "delete", state.uuid)
            poll(
                "cluster gone",
                lambda: True if httpx.get(f"{server.endpoint}/clusters/{state.uuid}").status_code == 404 else None,
            )
    print(transcript.summary(), flush=True)
    assert server.returncode == 0, server.log_tail()


def replicas_running(scenario: Scenario, wanted: int) -> list[str] | None:
    result = ok(scenario.docker("service", "ps", "web", "--filter", "desired-state=running",
                                "--format", "{{.Node}} {{.CurrentState}}"))  # fmt: skip
    states = result.stdout.splitlines()
    return states if len(states) == wanted and all("Running" in s for s in states) else None


def test_create_an_autoscaled_cluster_of_one_tiny_worker(scenario: Scenario) -> None:
    ok(scenario.cli("cluster", "template", "create", *TEMPLATE, "swarm-autoscale"))
    out = ok(
        scenario.cli(
            "cluster", "create", "--cluster-template", "swarm-autoscale", "--node-count", "1",
            "--labels", "auto_scaling_enabled=true,min_node_count=1,max_node_count=3", "autoscaled",
        )
    ).stdout  # fmt: skip
    scenario.uuid = out.split("Request to create cluster ", 1)[1].split()[0]
    scenario.wait_status("CREATE_COMPLETE")
    scenario.env = config_env(scenario.cli, "autoscaled", scenario.work / "config")
    assert len(scenario.workers()) == 1
    memory = "{{.Description.Resources.MemoryBytes}}"
    info = ok(scenario.docker("node", "inspect", scenario.workers()[0], "--format", memory))
    assert int(info.stdout.strip()) == 512 * 1024 * 1024  # the flavor, not the host


def test_pending_replicas_grow_the_cluster_up_to_max_and_all_run(scenario: Scenario) -> None:
    ok(
        scenario.docker(
            "service", "create", "--detach", "--no-resolve-image", "--name", "web", "--replicas", str(REPLICAS),
            "--reserve-memory", RESERVE, "--constraint", "node.role==worker", "--endpoint-mode", "dnsrr",
            "--stop-signal", "KILL", "jeroboam/busybox:latest", "sleep", "3600",
        )
    )  # fmt: skip
    states = poll("every replica Running", lambda: replicas_running(scenario, REPLICAS), deadline=300)
    assert len({line.split()[0] for line in states}) == 3
    body = scenario.wait_status("UPDATE_COMPLETE")
    assert body["node_count"] == 3
    assert body["status_reason"].startswith("autoscaler: ")
    assert body["status_reason"].endswith("→ 3")
    assert len(scenario.workers()) == 3
    # Ask for more than max allows: no fourth worker.
    ok(scenario.docker("service", "scale", "--detach", f"web={REPLICAS + 3}"))
    poll(
        "the autoscaler's note on the pending work",
        lambda: scenario.show()["health_status_reason"].get("autoscaler"),
        deadline=60,
    )
    assert "at its max_node_count" in scenario.show()["health_status_reason"]["autoscaler"]
    assert scenario.show()["node_count"] == 3


def test_idle_workers_are_removed_down_to_min_but_never_a_protected_one(scenario: Scenario) -> None:
    protected = scenario.workers()[-1]
    ok(scenario.docker("node", "update", "--label-add", f"{PROTECT_LABEL}=true", protected))
    ok(scenario.docker("service", "scale", "--detach", "web=0"))
    body = poll(
        "the cluster shrunk to min",
        lambda: b if (b := scenario.show())["node_count"] == 1 and b["status"] == "UPDATE_COMPLETE" else None,
        deadline=180,
    )
    assert "idle for" in body["status_reason"]
    assert scenario.workers() == [protected]


def operations(scenario: Scenario) -> list[dict[str, Any]]:
    """The cluster's operation history, newest first (the Jeroboam extension the dashboard reads)."""
    return list(scenario.get(f"/jeroboam/clusters/{scenario.uuid}/operations")["operations"])


def test_a_user_resize_during_an_autoscaler_step_wins_then_the_autoscaler_starts_from_it(
    scenario: Scenario,
) -> None:
    seen = {op["uuid"] for op in operations(scenario)}
    ok(scenario.docker("service", "scale", "--detach", f"web={REPLICAS}"))  # needs 3 workers again
    step = poll(
        "an autoscaler step in flight",
        lambda: next(
            (op for op in operations(scenario)
             if op["uuid"] not in seen and op["user_id"] == "autoscaler" and op["state"] in ("pending", "running")),
            None,
        ),
        deadline=120,
    )  # fmt: skip
    assert (step["request"]["previous_node_count"], step["request"]["node_count"]) == (1, 3)
    # The user asks for 2 while it runs: the table accepts a resize during UPDATE_IN_PROGRESS. (Sent over
    # HTTP as the CLI sends it, not through the CLI, whose start-up could outlast the step.)
    response = httpx.post(
        f"{scenario.server.endpoint}/clusters/{scenario.uuid}/actions/resize", json={"node_count": 2},
        headers={"OpenStack-API-Version": "container-infra 1.7"}, timeout=30,
    )  # fmt: skip
    assert response.status_code == 202, response.text
    # The user's count is reached first; then, with one replica still pending, the autoscaler decides
    # again from 2 (never re-applying its superseded 1 → 3).
    poll("every replica Running", lambda: replicas_running(scenario, REPLICAS), deadline=300)
    body = scenario.wait_status("UPDATE_COMPLETE")
    assert body["node_count"] == 3
    assert body["status_reason"].startswith("autoscaler: 1 task of service web pending")
    assert body["status_reason"].endswith("default-worker 2 → 3")
    history = [op for op in reversed(operations(scenario)) if op["uuid"] not in seen]
    for op in history:
        request = op["request"]
        print(f"  operation {op['kind']} by {op['user_id']}: {request.get('previous_node_count')} → "
              f"{request['node_count']}, {op['state']} (from {op['created_at']} to {op['finished_at']})")  # fmt: skip
    print(f"  status_reason: {body['status_reason']}", flush=True)
    assert [(op["user_id"], op["request"]["node_count"], op["state"]) for op in history] == [
        ("autoscaler", 3, "succeeded"), ("admin", 2, "succeeded"), ("autoscaler", 3, "succeeded"),
    ]  # fmt: skip
    first, user, again = history
    assert first["finished_at"] >= user["created_at"]  # the user's resize came while the step ran
    assert again["request"]["previous_node_count"] == 2
    assert again["created_at"] >= user["finished_at"]
    assert len(scenario.workers()) == 3
