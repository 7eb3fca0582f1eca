"""A 3-manager swarm with ``master_lb_enabled``: its ``api_address`` is the API front, which keeps
leading to a manager that answers when the manager behind it is killed; health says which manager
is down while it is, and autoheal brings the control plane back to 3 managers.

One cluster, no workers (3 Docker-in-Docker managers and the front are what is being shown); the
whole file takes about a minute on a 2-core machine. Run with ``-s`` for the transcript.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import docker
import httpx
import pytest

from tests.compat.conftest import json_of, ok
from tests.docker.test_e2e import LABEL, TEMPLATE, Scenario, cli_scenario, config_env, poll

pytestmark = [pytest.mark.docker, pytest.mark.compat]

FAILOVER = 90.0  # seconds for `docker node ls` to work again (a raft election after the leader's loss)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient) -> Iterator[Scenario]:
    yield from cli_scenario(tmp_path_factory, "docker-front")


def managers(scenario: Scenario) -> list[str]:
    listed = ok(scenario.docker("node", "ls", "--filter", "role=manager", "--format", "{{.Hostname}} {{.Status}}"))
    return sorted(line.split()[0] for line in listed.stdout.splitlines() if line.endswith(" Ready"))


def test_the_endpoint_of_a_3_manager_cluster_survives_the_loss_of_the_manager_behind_it(
    scenario: Scenario, docker_client: docker.DockerClient
) -> None:
    json_of(scenario.cli("cluster", "template", "create", *TEMPLATE, "--master-lb-enabled", "swarm-front"))
    created = ok(
        scenario.cli(
            "cluster", "create", "--cluster-template", "swarm-front", "--master-count", "3", "--node-count", "0",
            "--labels", "auto_healing_enabled=true", "front",
        )
    )  # fmt: skip
    match = re.search(r"Request to create cluster (\S+) accepted", created.stdout)
    assert match, created.stdout
    scenario.uuid = match[1]
    scenario.wait_status("CREATE_COMPLETE")
    body = scenario.wait_healthy()
    reason = body["health_status_reason"]
    assert reason["api"] == "ok"
    assert reason["api_address"] == f"{body['api_address']}: the API front of 3 managers"
    assert reason["managers"].startswith("3 of 3 managers answer")
    [front] = docker_client.containers.list(filters={"label": [f"{LABEL}={scenario.uuid}", "org.jeroboam.role=front"]})
    assert body["api_address"].endswith(f":{front.labels['org.jeroboam.api-port']}")

    scenario.env = config_env(scenario.cli, "front", scenario.work / "certs")
    assert scenario.env["DOCKER_HOST"] == body["api_address"]
    before = managers(scenario)
    assert len(before) == 3

    # The manager behind the endpoint: the front sends every connection to the first that answers.
    behind = docker_client.containers.list(
        filters={"label": [f"{LABEL}={scenario.uuid}", "org.jeroboam.role=manager", "org.jeroboam.slot=0"]}
    )[0]
    killed = behind.labels["org.jeroboam.node"]
    behind.kill()
    started = time.monotonic()
    said: list[str] = []
    down: list[dict[str, str]] = []
    worked: list[float] = []

    def recovered() -> bool | None:
        reason = scenario.show()["health_status_reason"] or {}
        said.append(f"api: {reason.get('api')} | managers: {reason.get('managers')}")
        if f"{killed} DOWN" in reason.get("managers", ""):
            down.append(reason)
        if not worked and scenario.docker("node", "ls", "--format", "{{.Hostname}} {{.ManagerStatus}}").returncode == 0:
            worked.append(time.monotonic() - started)
        return True if worked and down else None

    # Until `docker node ls` works again through the front, and health has named the dead manager
    # (autoheal keeps the reason of the check that started it until the check after its update).
    poll("docker node ls through the front, and health naming the dead manager", recovered, FAILOVER)
    print(f"  (docker node ls works again {worked[0]:.1f} s after the kill)", flush=True)
    print("  (health said meanwhile: " + "; ".join(dict.fromkeys(said)) + ")", flush=True)
    assert down[0]["managers"].startswith("2 of 3 managers answer")

    healed = scenario.wait_healthy(lambda b: (b["health_status_reason"] or {}).get("managers", "").startswith("3 of 3"))
    assert healed["api_address"] == body["api_address"]  # the front stayed; its backends followed
    assert healed["status"] == "UPDATE_COMPLETE"  # autoheal's update
    assert poll("3 managers Ready", lambda: m if len(m := managers(scenario)) == 3 else None, 60) == before


def test_the_front_goes_with_the_cluster(scenario: Scenario, docker_client: docker.DockerClient) -> None:
    ok(scenario.cli("cluster", "delete", "front"))
    poll(
        "cluster gone",
        lambda: True if httpx.get(f"{scenario.server.endpoint}/clusters/{scenario.uuid}").status_code == 404 else None,
    )
    label = {"label": f"{LABEL}={scenario.uuid}"}
    left = (
        len(docker_client.containers.list(all=True, filters=label))
        + len(docker_client.volumes.list(filters=label))
        + len(docker_client.networks.list(filters=label))
    )
    print(f"  (Docker objects labelled with the cluster after delete: {left})", flush=True)
    assert left == 0
    scenario.uuid = ""
