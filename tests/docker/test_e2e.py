"""End to end, as a user: real ``openstack coe`` against ``jeroboam up``, real swarm-mode clusters of
Docker-in-Docker nodes on the local Docker engine, and the ordinary ``docker`` CLI over the
cluster's TLS endpoint.

The tests run in file order and share one cluster: create → cluster config → refused clients →
a service on the workers → resize up → resize down naming the node → autoheal of a killed node →
upgrade → CA rotation → delete, after which no Docker object with the cluster's label is left.
Run with ``-s`` for the transcript.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import docker
import httpx
import pytest

from jeroboam.pki import x509 as pki
from tests.compat.conftest import Cli, JeroboamProcess, Transcript, json_of, ok, running_jeroboam
from tests.compat.conftest import poll as poll_until

pytestmark = [pytest.mark.docker, pytest.mark.compat]

T = TypeVar("T")
WAIT = 180.0  # seconds for a cluster operation (a create measures ~4 s; CI machines are busy)
DOCKER_CLI = "/usr/bin/docker"  # Debian's docker.io client
LABEL = "org.jeroboam.cluster"
FAST = {
    "JEROBOAM_CONDUCTOR__POLL_INTERVAL": "0.2",
    "JEROBOAM_CONDUCTOR__HEALTH_POLLING_INTERVAL": "1",
    "JEROBOAM_X509__KEY_ALGORITHM": "ec",
}
TEMPLATE = (
    "--coe", "swarm-mode", "--image", "jeroboam-node", "--external-network", "public",
    "--flavor", "m1.small", "--master-flavor", "m1.small",
)  # fmt: skip


def poll(what: str, probe: Callable[[], T | None], deadline: float = WAIT) -> T:
    return poll_until(what, probe, deadline, 0.3)


@dataclass
class Scenario:
    """What the ordered tests share."""

    server: JeroboamProcess
    cli: Cli
    work: Path
    uuid: str = ""
    env: dict[str, str] = field(default_factory=dict)
    old_certs: Path | None = None

    def get(self, path: str) -> dict[str, Any]:
        response = httpx.get(
            f"{self.server.endpoint}{path}", headers={"OpenStack-API-Version": "container-infra latest"}, timeout=10
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def show(self) -> dict[str, Any]:
        return self.get(f"/clusters/{self.uuid}")

    def wait_status(self, wanted: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            body = self.show()
            assert body["status"] == wanted or body["status"].endswith("_IN_PROGRESS"), (
                f"cluster is {body['status']}: {body['status_reason']}"
            )
            return body if body["status"] == wanted else None

        body = poll(f"cluster {wanted}", probe)
        print(f"  (cluster {wanted}; health {body['health_status']})", flush=True)
        return body

    def wait_healthy(self, check: Callable[[dict[str, Any]], bool] = lambda _: True) -> dict[str, Any]:
        return poll(
            "cluster HEALTHY", lambda: b if (b := self.show())["health_status"] == "HEALTHY" and check(b) else None
        )

    def docker(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """The user's ``docker`` CLI with the cluster environment of ``coe cluster config``."""
        environment = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        environment.update(self.env if env is None else env)
        print(f"$ docker {shlex.join(args)}", flush=True)
        result = subprocess.run([DOCKER_CLI, *args], capture_output=True, text=True, env=environment, timeout=120)
        print(f"  exit {result.returncode}\n    " + (result.stdout + result.stderr).strip().replace("\n", "\n    "))
        return result

    def workers(self) -> list[str]:
        result = ok(self.docker("node", "ls", "--filter", "role=worker", "--format", "{{.Hostname}} {{.Status}}"))
        return sorted(line.split()[0] for line in result.stdout.splitlines() if line.endswith("Ready"))


def config_env(cli: Cli, name: str, directory: Path) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    result = ok(cli("cluster", "config", name, "--dir", str(directory), "--force", "--output-certs"))
    env = dict(re.findall(r"^export (\w+)=(.*)$", result.stdout, re.MULTILINE))
    assert set(env) == {"DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"}, result.stdout
    return env


@pytest.fixture(scope="module")
def host(docker_client: docker.DockerClient) -> docker.DockerClient:
    return docker_client


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, host: docker.DockerClient) -> Iterator[Scenario]:
    yield from cli_scenario(tmp_path_factory, "docker-e2e")


def cli_scenario(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Scenario]:
    """A fast all-in-one and the real client against it; the scenario's cluster is deleted at the
    end even when a test failed, and the server must then exit 0."""
    work = tmp_path_factory.mktemp(name)
    os.environ.setdefault("SHELL", "/bin/bash")  # `coe cluster config` reads $SHELL
    transcript = Transcript()
    with running_jeroboam(work / "data", env=FAST) as server:
        cli = Cli(["--os-auth-type", "none", "--os-endpoint", server.endpoint], transcript=transcript)
        state = Scenario(server, cli, work)
        yield state
        if state.uuid:  # a failed test must not leave the cluster behind
            cli("cluster", "delete", state.uuid)
            poll(
                "cluster gone",
                lambda: True if httpx.get(f"{server.endpoint}/clusters/{state.uuid}").status_code == 404 else None,
            )
    print(transcript.summary(), flush=True)
    assert server.returncode == 0, server.log_tail()


def test_create_a_swarm_cluster_with_the_real_client(scenario: Scenario, host: docker.DockerClient) -> None:
    template = json_of(scenario.cli("cluster", "template", "create", *TEMPLATE, "swarm-e2e"))
    assert template["cluster_distro"] == "debian"
    assert template["coe"] == "swarm-mode"
    assert template["driver"] == "docker"
    result = ok(
        scenario.cli(
            "cluster", "create", "--cluster-template", "swarm-e2e", "--master-count", "1", "--node-count", "2",
            "--labels", "auto_healing_enabled=true", "e2e",
        )
    )  # fmt: skip
    match = re.search(r"Request to create cluster (\S+) accepted", result.stdout)
    assert match, result.stdout
    scenario.uuid = match[1]
    body = scenario.wait_status("CREATE_COMPLETE")
    assert re.fullmatch(r"tcp://127\.0\.0\.1:\d+", body["api_address"]), body["api_address"]
    assert len(body["node_addresses"]) == 2
    assert len(body["master_addresses"]) == 1
    healthy = scenario.wait_healthy()
    assert healthy["health_status_reason"]["api"] == "ok"
    containers = host.containers.list(filters={"label": f"{LABEL}={scenario.uuid}"})
    assert len(containers) == 3
    assert all(c.status == "running" for c in containers)


def test_cluster_config_gives_a_working_docker_environment(scenario: Scenario) -> None:
    scenario.env = config_env(scenario.cli, "e2e", scenario.work / "certs")
    assert scenario.env["DOCKER_HOST"] == scenario.show()["api_address"]
    nodes = ok(scenario.docker("node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}"))
    lines = nodes.stdout.splitlines()
    assert len(lines) == 3, lines
    assert all(" Ready" in line for line in lines), lines
    assert sum("Leader" in line for line in lines) == 1


def test_clients_without_the_cluster_ca_are_refused(scenario: Scenario) -> None:
    host = scenario.env["DOCKER_HOST"]
    plain = scenario.docker("-H", host, "version", "--format", "{{.Server.Version}}", env={})
    assert plain.returncode != 0
    assert not plain.stdout.strip()
    no_cert = scenario.docker("-H", host, "--tls", "version", "--format", "{{.Server.Version}}", env={})
    assert no_cert.returncode != 0
    assert not no_cert.stdout.strip()
    foreign = scenario.work / "foreign"
    foreign.mkdir()
    policy = pki.X509Policy(key_algorithm="ec")
    ca = pki.create_authority("foreign", policy)
    client = pki.issue_client(pki.Authority(ca.certificate_pem, ca.private_key_pem), policy)
    (foreign / "ca.pem").write_text(ca.certificate_pem)
    (foreign / "cert.pem").write_text(client.certificate_pem)
    (foreign / "key.pem").write_text(client.private_key_pem)
    alien = scenario.docker(
        "node", "ls", env={"DOCKER_HOST": host, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(foreign)}
    )
    assert alien.returncode != 0


def test_a_service_runs_its_tasks_on_the_workers(scenario: Scenario) -> None:
    ok(
        scenario.docker(
            "service", "create", "--detach", "--no-resolve-image", "--name", "sleeper", "--replicas", "4",
            "--constraint", "node.role==worker", "--endpoint-mode", "dnsrr", "--stop-signal", "KILL",
            "jeroboam/busybox:latest", "sleep", "3600",
        )
    )  # fmt: skip
    workers = set(scenario.workers())

    def running() -> list[str] | None:
        result = ok(scenario.docker("service", "ps", "sleeper", "--filter", "desired-state=running",
                                    "--format", "{{.Node}} {{.CurrentState}}"))  # fmt: skip
        states = result.stdout.splitlines()
        return states if len(states) == 4 and all("Running" in s for s in states) else None

    states = poll("4 running tasks", running)
    assert {line.split()[0] for line in states} == workers


def test_resize_up_adds_a_ready_worker(scenario: Scenario) -> None:
    ok(scenario.cli("cluster", "resize", "e2e", "3"))
    scenario.wait_status("UPDATE_COMPLETE")
    assert len(scenario.workers()) == 3
    assert len(scenario.show()["node_addresses"]) == 3


def test_resize_down_removes_the_named_worker(scenario: Scenario, host: docker.DockerClient) -> None:
    victim = scenario.workers()[0]
    ok(scenario.cli("cluster", "resize", "e2e", "2", "--nodes-to-remove", victim))
    scenario.wait_status("UPDATE_COMPLETE")
    remaining = scenario.workers()
    assert len(remaining) == 2
    assert victim not in remaining
    names = {
        c.labels["org.jeroboam.node"]
        for c in host.containers.list(all=True, filters={"label": f"{LABEL}={scenario.uuid}"})
    }
    assert victim not in names


def test_a_nodegroup_is_a_labelled_set_of_swarm_nodes(scenario: Scenario) -> None:
    ok(scenario.cli("nodegroup", "create", "e2e", "extra", "--node-count", "1", "--role", "worker"))

    def created() -> bool | None:
        group = scenario.get(f"/clusters/{scenario.uuid}/nodegroups/extra")
        assert group["status"] in ("CREATE_IN_PROGRESS", "CREATE_COMPLETE"), group
        return True if group["status"] == "CREATE_COMPLETE" else None

    poll("nodegroup extra CREATE_COMPLETE", created)
    spec = ok(scenario.docker("node", "inspect", "e2e-extra-0", "--format", "{{json .Spec.Labels}}"))
    assert json.loads(spec.stdout) == {"jeroboam.nodegroup": "extra"}
    ok(scenario.cli("nodegroup", "delete", "e2e", "extra"))

    def gone() -> bool | None:
        names = ok(scenario.docker("node", "ls", "--format", "{{.Hostname}}")).stdout.split()
        listed = scenario.get(f"/clusters/{scenario.uuid}/nodegroups")["nodegroups"]
        return True if "e2e-extra-0" not in names and all(n["name"] != "extra" for n in listed) else None

    poll("nodegroup extra gone", gone)
    assert len(scenario.workers()) == 2


def test_a_killed_node_is_replaced_by_autoheal(scenario: Scenario, host: docker.DockerClient) -> None:
    [worker, *_] = host.containers.list(filters={"label": [f"{LABEL}={scenario.uuid}", "org.jeroboam.role=worker"]})
    killed = worker.labels["org.jeroboam.node"]
    worker.kill()
    poll("the cluster UNHEALTHY", lambda: True if scenario.show()["health_status"] != "HEALTHY" else None, 30)
    body = scenario.wait_healthy(lambda b: f"{killed}.Ready" not in (b["health_status_reason"] or {}))
    assert len(body["node_addresses"]) == 2
    assert killed not in scenario.workers()
    assert len(scenario.workers()) == 2


def test_upgrade_replaces_nodes_with_the_new_template(scenario: Scenario, host: docker.DockerClient) -> None:
    new = json_of(scenario.cli("cluster", "template", "create", *TEMPLATE, "swarm-e2e-v2"))
    ok(scenario.cli("cluster", "upgrade", "e2e", "swarm-e2e-v2", "--max-batch-size", "1"))
    body = scenario.wait_status("UPDATE_COMPLETE")
    assert body["cluster_template_id"] == new["uuid"]
    nodes = host.containers.list(all=True, filters={"label": f"{LABEL}={scenario.uuid}"})
    assert len(nodes) == 3
    assert {c.labels["org.jeroboam.template"] for c in nodes} == {new["uuid"]}
    assert len(scenario.workers()) == 2


def test_ca_rotation_locks_out_old_client_certificates(scenario: Scenario) -> None:
    ok(scenario.cli("ca", "rotate", "e2e"))
    scenario.wait_status("UPDATE_COMPLETE")
    old = scenario.docker("node", "ls")
    assert old.returncode != 0
    rotated = scenario.work / "certs-rotated"
    scenario.env = config_env(scenario.cli, "e2e", rotated)
    assert len(ok(scenario.docker("node", "ls", "-q")).stdout.split()) == 3
    # The new CA with the old client certificate: the client trusts the endpoint, the endpoint
    # must refuse the certificate the old CA signed.
    mixed = scenario.work / "old-client-new-ca"
    mixed.mkdir()
    (mixed / "ca.pem").write_text((rotated / "ca.pem").read_text())
    for name in ("cert.pem", "key.pem"):
        (mixed / name).write_text((scenario.work / "certs" / name).read_text())
    refused = scenario.docker("node", "ls", env={**scenario.env, "DOCKER_CERT_PATH": str(mixed)})
    assert refused.returncode != 0
    assert "certificate" in refused.stdout + refused.stderr


def test_delete_leaves_no_docker_object_behind(scenario: Scenario, host: docker.DockerClient) -> None:
    ok(scenario.cli("cluster", "delete", "e2e"))
    poll(
        "cluster gone",
        lambda: True if httpx.get(f"{scenario.server.endpoint}/clusters/{scenario.uuid}").status_code == 404 else None,
    )
    label = {"label": f"{LABEL}={scenario.uuid}"}
    left = (
        len(host.containers.list(all=True, filters=label))
        + len(host.volumes.list(filters=label))
        + len(host.networks.list(filters=label))
    )
    print(f"  (Docker objects labelled with the cluster after delete: {left})", flush=True)
    assert left == 0
    scenario.uuid = ""
