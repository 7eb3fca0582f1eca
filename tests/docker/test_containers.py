"""/v1/containers on a real swarm-mode cluster of the docker provider, through ``jeroboam up``.

The tests run in file order and share one cluster (1 manager, 2 workers): a container is created
Stopped on a worker, started, its logs and an ``execute`` give the real output and exit code, its
memory limit and environment are what the engine applied, pause/unpause/reboot/stop move its live
status; an image the cluster cannot get is a 400 naming the ways to provide it, and an image the
operator allowed is copied from the host engine on demand; a node that hangs shows its containers
Unknown with the reason (bounded, never a hang); a node removed by a resize shows them Error; the
delete of a container and of the cluster leaves nothing on the engine. The cluster's template has
``registry_enabled``: an image built on the host engine is pushed to the cluster's registry on
127.0.0.1 (TLS signed by the cluster's CA) and runs as a container through the API and as a swarm
service through the ordinary ``docker`` CLI with the environment of ``coe cluster config``; an
upgrade re-makes every node and keeps the registry and its images; a CA rotation moves the registry
and the nodes' trust to the new CA. Run with ``-s`` for the transcript.
"""

from __future__ import annotations

import io
import json
import os
import re
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from jeroboam.drivers.docker.image import workload_image
from tests.compat.conftest import Cli, JeroboamProcess, ok, running_jeroboam
from tests.compat.conftest import poll as poll_until

pytestmark = [pytest.mark.docker]

WAIT = 180.0
LABEL = "org.jeroboam.cluster"
COPIED = "jeroboam-e2e/copied:1"  # a tag made by this test on the host engine, copied on demand
PUSHED = "e2e/hello:1"  # built on the host engine by this test, pushed to the cluster's registry
DOCKER_CLI = "/usr/bin/docker"  # Debian's docker.io client
FAST = {
    "JEROBOAM_CONDUCTOR__POLL_INTERVAL": "0.2",
    "JEROBOAM_CONDUCTOR__HEALTH_POLLING_INTERVAL": "1",
    "JEROBOAM_X509__KEY_ALGORITHM": "ec",
    "JEROBOAM_DOCKER__COPYABLE_IMAGES": json.dumps(["jeroboam/busybox:latest", COPIED]),
    "JEROBOAM_DOCKER__CONTAINER_TIMEOUT": "10",
}
HEADERS = {"OpenStack-API-Version": "container-infra latest"}
TEMPLATE = {
    "coe": "swarm-mode",
    "image_id": "jeroboam-node",
    "external_network_id": "public",
    "flavor_id": "m1.small",
    "master_flavor_id": "m1.small",
    "registry_enabled": True,
}


@dataclass
class Bay:
    server: JeroboamProcess
    client: httpx.Client
    host: docker.DockerClient
    work: Path
    uuid: str = ""
    container: str = ""
    env: dict[str, str] | None = None  # the cluster's docker environment (coe cluster config)

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        response = self.client.request(method, path, **kw)
        print(f"$ {method} {path} -> {response.status_code} {response.text[:300]}", flush=True)
        return response

    def show(self, uuid: str) -> dict[str, Any]:
        response = self.call("GET", f"/v1/containers/{uuid}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def node(self, name: str) -> Any:
        [found] = self.host.containers.list(
            all=True, filters={"label": [f"{LABEL}={self.uuid}", f"org.jeroboam.node={name}"]}
        )
        return found

    def in_node(self, name: str, *command: str) -> str:
        result = self.node(name).exec_run(["docker", *command])
        output: bytes = result.output
        assert result.exit_code == 0, output.decode()
        return output.decode().strip()

    def wait_cluster(self, wanted: str) -> None:
        def probe() -> bool | None:
            body = self.client.get(f"/v1/clusters/{self.uuid}").json()
            assert body["status"] == wanted or body["status"].endswith("_IN_PROGRESS"), body["status_reason"]
            return True if body["status"] == wanted else None

        poll_until(f"cluster {wanted}", probe, WAIT, 0.3)


@pytest.fixture(scope="module")
def bay(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient) -> Iterator[Bay]:
    work = tmp_path_factory.mktemp("containers-e2e")
    docker_client.images.get(workload_image(docker_client)).tag(*COPIED.split(":"))
    try:
        with running_jeroboam(work / "data", env=FAST) as server:
            client = httpx.Client(base_url=server.url, headers=HEADERS, timeout=60)
            state = Bay(server, client, docker_client, work)
            template = client.post("/v1/clustertemplates", json={"name": "swarm", **TEMPLATE})
            assert template.status_code == 201, template.text
            created = client.post(
                "/v1/clusters",
                json={"name": "boxes", "cluster_template_id": template.json()["uuid"], "node_count": 2},
            )
            assert created.status_code == 202, created.text
            state.uuid = created.json()["uuid"]
            state.wait_cluster("CREATE_COMPLETE")
            yield state
            if state.uuid:
                client.delete(f"/v1/clusters/{state.uuid}")
                poll_until(
                    "cluster gone",
                    lambda: client.get(f"/v1/clusters/{state.uuid}").status_code == 404 or None,
                    WAIT,
                    0.3,
                )
            client.close()
    finally:
        docker_client.images.remove(COPIED)  # only the tags this test made
        for image in docker_client.images.list(name=f"*/{PUSHED.split(':')[0]}"):
            for tag in image.tags:
                if tag.endswith(f"/{PUSHED}"):
                    docker_client.images.remove(tag)


def host_docker(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The ordinary ``docker`` CLI: the host engine, or the cluster with ``env`` (``coe cluster config``)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    environment.update(env or {})
    print(f"$ docker {' '.join(args)}", flush=True)
    result = subprocess.run([DOCKER_CLI, *args], capture_output=True, text=True, env=environment, timeout=120)
    print(f"  exit {result.returncode}: " + (result.stdout + result.stderr).strip()[-600:], flush=True)
    return result


def test_a_container_is_created_stopped_on_a_worker_with_its_limits(bay: Bay) -> None:
    response = bay.call(
        "POST",
        "/v1/containers",
        json={
            "name": "greeter",
            "image": "jeroboam/busybox:latest",
            "bay_uuid": bay.uuid,
            "command": "sh -c 'echo hello-$GREETING; exec sleep 600'",
            "memory": "64m",
            "environment": {"GREETING": "world"},
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "Stopped"
    assert "-default-worker-" in body["host"]
    bay.container = body["uuid"]
    inspect = json.loads(bay.in_node(body["host"], "inspect", f"jb-{bay.container}"))[0]
    assert inspect["HostConfig"]["Memory"] == 64 * 1024 * 1024
    assert "GREETING=world" in inspect["Config"]["Env"]
    assert inspect["Config"]["Hostname"] == bay.container


def test_start_logs_and_execute_give_the_real_output(bay: Bay) -> None:
    started = bay.call("PUT", f"/v1/containers/{bay.container}/start")
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "Running"
    assert bay.show(bay.container)["status"] == "Running"
    logs = poll_until(
        "the greeting in the logs",
        lambda: (
            out
            if "hello-world" in (out := bay.call("GET", f"/v1/containers/{bay.container}/logs").json()["output"])
            else None
        ),
        30,
        0.2,
    )
    assert logs.strip() == "hello-world"
    run = bay.call(
        "PUT", f"/v1/containers/{bay.container}/execute", params={"command": "sh -c 'echo $GREETING; exit 3'"}
    )
    assert run.status_code == 200, run.text
    assert run.json() == {"output": "world\n", "exit_code": 3}


def test_actions_move_the_live_status(bay: Bay) -> None:
    for action, status in (("pause", "Paused"), ("unpause", "Running"), ("reboot", "Running"), ("stop", "Stopped")):
        response = bay.call("PUT", f"/v1/containers/{bay.container}/{action}")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
        assert bay.show(bay.container)["status"] == status
    refused = bay.call("PUT", f"/v1/containers/{bay.container}/pause")
    assert refused.status_code == 409
    assert "not running" in refused.json()["errors"][0]["detail"]
    refused_exec = bay.call("PUT", f"/v1/containers/{bay.container}/execute", params={"command": "true"})
    assert refused_exec.status_code == 409


def test_the_cluster_registry_serves_tls_of_the_cluster_ca_on_127_0_0_1(bay: Bay) -> None:
    shown = bay.call("GET", f"/v1/clusters/{bay.uuid}").json()
    address, push = shown["registry_address"], shown["registry_push_address"]
    assert re.fullmatch(r"172\.\d+\.\d+\.\d+:5000", address), address
    assert re.fullmatch(r"127\.0\.0\.1:\d+", push), push
    assert address.split(":")[0] not in shown["node_addresses"] + shown["master_addresses"]
    healthy = poll_until(
        "the registry in the cluster's health",
        lambda: b if (b := bay.client.get(f"/v1/clusters/{bay.uuid}").json())["health_status"] == "HEALTHY" else None,
        60,
        0.3,
    )
    assert healthy["health_status_reason"]["registry"] == "ok"
    assert healthy["health_status_reason"]["registry.push_address"] == push
    os.environ.setdefault("SHELL", "/bin/bash")  # `coe cluster config` reads $SHELL
    cli = Cli(["--os-auth-type", "none", "--os-endpoint", bay.server.endpoint])
    certs = bay.work / "config"
    certs.mkdir()
    config = ok(cli("cluster", "config", bay.uuid, "--dir", str(certs), "--force", "--output-certs"))
    bay.env = dict(re.findall(r"^export (\w+)=(.*)$", config.stdout, re.MULTILINE))
    verified = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    with urllib.request.urlopen(f"https://{push}/v2/", context=verified, timeout=10) as answer:
        assert answer.status == 200
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"https://{push}/v2/", context=ssl.create_default_context(cafile=None), timeout=10)


def test_an_image_pushed_from_the_host_runs_as_a_container_and_as_a_service(bay: Bay) -> None:
    shown = bay.call("GET", f"/v1/clusters/{bay.uuid}").json()
    address, push = shown["registry_address"], shown["registry_push_address"]
    dockerfile = b'FROM jeroboam/busybox:latest\nCMD ["sh", "-c", "echo hello from the registry; exec sleep 600"]\n'
    bay.host.images.build(fileobj=io.BytesIO(dockerfile), tag=f"{push}/{PUSHED}", pull=False, rm=True)
    ok(host_docker("push", f"{push}/{PUSHED}"))

    made = bay.call("POST", "/v1/containers", json={"image": f"{address}/{PUSHED}", "bay_uuid": bay.uuid})
    assert made.status_code == 201, made.text
    uuid = made.json()["uuid"]
    assert bay.call("PUT", f"/v1/containers/{uuid}/start").json()["status"] == "Running"
    poll_until(
        "the pushed image's output",
        lambda: (
            True
            if "hello from the registry" in bay.call("GET", f"/v1/containers/{uuid}/logs").json()["output"]
            else None
        ),
        30,
        0.2,
    )
    assert bay.call("DELETE", f"/v1/containers/{uuid}").status_code == 204

    cluster = bay.env
    ok(host_docker("service", "create", "--detach", "--name", "hello", "--constraint", "node.role==worker",
                   f"{address}/{PUSHED}", env=cluster))  # fmt: skip
    poll_until(
        "the service's task running",
        lambda: True if "Running" in host_docker(
            "service", "ps", "hello", "--format", "{{.CurrentState}}", env=cluster).stdout else None,
        60,
        0.5,
    )  # fmt: skip
    logs = host_docker("service", "logs", "--raw", "hello", env=cluster)
    assert "hello from the registry" in logs.stdout + logs.stderr
    ok(host_docker("service", "rm", "hello", env=cluster))


def test_an_image_the_cluster_cannot_get_is_a_clear_400(bay: Bay) -> None:
    response = bay.call("POST", "/v1/containers", json={"image": "nosuch/image:1", "bay_uuid": bay.uuid})
    assert response.status_code == 400
    text = response.json()["errors"][0]["detail"]
    assert "nosuch/image:1" in text
    assert "[docker] copyable_images" in text
    too_big = bay.call(
        "POST", "/v1/containers", json={"image": "jeroboam/busybox:latest", "bay_uuid": bay.uuid, "memory": "100g"}
    )
    assert too_big.status_code == 400
    assert "room" in too_big.json()["errors"][0]["detail"]


def test_an_allowed_host_image_is_copied_into_the_node_on_demand(bay: Bay) -> None:
    response = bay.call(
        "POST", "/v1/containers", json={"image": COPIED, "bay_uuid": bay.uuid, "command": "echo copied"}
    )
    assert response.status_code == 201, response.text
    uuid, node = response.json()["uuid"], response.json()["host"]
    assert COPIED in bay.in_node(node, "images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert bay.call("PUT", f"/v1/containers/{uuid}/start").status_code == 200
    poll_until(
        "the copied image's output",
        lambda: True if "copied" in bay.call("GET", f"/v1/containers/{uuid}/logs").json()["output"] else None,
        30,
        0.2,
    )
    assert poll_until("exited", lambda: True if bay.show(uuid)["status"] == "Stopped" else None, 30, 0.2)
    assert bay.call("DELETE", f"/v1/containers/{uuid}").status_code == 204
    assert f"jb-{uuid}" not in bay.in_node(node, "ps", "-a", "--format", "{{.Names}}").split()


def test_a_hung_node_shows_its_containers_unknown_without_hanging(bay: Bay) -> None:
    node = bay.node(bay.show(bay.container)["host"])
    node.pause()
    try:
        began = time.monotonic()
        shown = bay.show(bay.container)
        elapsed = time.monotonic() - began
        print(f"  (show with the node paused: {elapsed:.2f} s)", flush=True)
        assert shown["status"] == "Unknown"
        assert "paused" in shown["status_reason"]
        listed = bay.call("GET", "/v1/containers").json()["containers"]
        assert [c["status"] for c in listed if c["uuid"] == bay.container] == ["Unknown"]
        refused = bay.call("PUT", f"/v1/containers/{bay.container}/start")
        assert refused.status_code == 503
    finally:
        node.unpause()


def test_a_container_whose_node_a_resize_removed_is_error(bay: Bay) -> None:
    host = bay.show(bay.container)["host"]
    resized = bay.call(
        "POST", f"/v1/clusters/{bay.uuid}/actions/resize", json={"node_count": 1, "nodes_to_remove": [host]}
    )
    assert resized.status_code == 202, resized.text
    bay.wait_cluster("UPDATE_COMPLETE")
    shown = bay.show(bay.container)
    print(f"  (after its node was removed: {shown['status']}: {shown['status_reason']})", flush=True)
    assert shown["status"] == "Error"
    assert f"node {host} is no longer part of bay" in shown["status_reason"]
    assert bay.call("DELETE", f"/v1/containers/{bay.container}").status_code == 204


def test_an_upgrade_replaces_every_node_and_keeps_the_registry_with_its_images(bay: Bay) -> None:
    registry = bay.host.containers.get(f"jb-{bay.uuid[:8]}-registry")
    template = bay.call("POST", "/v1/clustertemplates", json={"name": "swarm-v2", **TEMPLATE})
    assert template.status_code == 201, template.text
    upgraded = bay.call(
        "POST", f"/v1/clusters/{bay.uuid}/actions/upgrade", json={"cluster_template": template.json()["uuid"]}
    )
    assert upgraded.status_code == 202, upgraded.text
    bay.wait_cluster("UPDATE_COMPLETE")
    nodes = bay.host.containers.list(filters={"label": [f"{LABEL}={bay.uuid}", "org.jeroboam.node"]})
    assert {n.labels["org.jeroboam.template"] for n in nodes} == {template.json()["uuid"]}
    assert bay.host.containers.get(str(registry.id)).status == "running"  # the same container, not re-made
    # A node the upgrade made pulls the image pushed before it: the registry kept its data.
    address = bay.call("GET", f"/v1/clusters/{bay.uuid}").json()["registry_address"]
    made = bay.call("POST", "/v1/containers", json={"image": f"{address}/{PUSHED}", "bay_uuid": bay.uuid})
    assert made.status_code == 201, made.text
    uuid = made.json()["uuid"]
    assert bay.call("PUT", f"/v1/containers/{uuid}/start").status_code == 200
    poll_until(
        "the pushed image's output on a new node",
        lambda: True if "hello from the registry" in bay.call("GET", f"/v1/containers/{uuid}/logs").json()["output"]
        else None,
        30,
        0.2,
    )  # fmt: skip
    assert bay.call("DELETE", f"/v1/containers/{uuid}").status_code == 204


def test_a_ca_rotation_moves_the_registry_and_the_nodes_to_the_new_ca(bay: Bay) -> None:
    rotated = bay.call(
        "PATCH", f"/v1/certificates/{bay.uuid}", headers={"Content-Type": "application/octet-stream"}, content=b""
    )
    assert rotated.status_code == 202, rotated.text
    bay.wait_cluster("UPDATE_COMPLETE")
    shown = bay.call("GET", f"/v1/clusters/{bay.uuid}").json()
    address, push = shown["registry_address"], shown["registry_push_address"]
    new_ca = bay.call("GET", f"/v1/certificates/{bay.uuid}").json()["pem"]
    with urllib.request.urlopen(
        f"https://{push}/v2/", context=ssl.create_default_context(cadata=new_ca), timeout=10
    ) as answer:
        assert answer.status == 200
    old_ca = ssl.create_default_context(cafile=str(bay.work / "config" / "ca.pem"))
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"https://{push}/v2/", context=old_ca, timeout=10)
    # A node pulls from the registry at create: its engine verifies the new certificate with the new CA.
    made = bay.call("POST", "/v1/containers", json={"image": f"{address}/{PUSHED}", "bay_uuid": bay.uuid})
    assert made.status_code == 201, made.text
    assert bay.call("DELETE", f"/v1/containers/{made.json()['uuid']}").status_code == 204


def test_deleting_the_cluster_leaves_no_container_and_no_docker_object(bay: Bay) -> None:
    made = bay.call(
        "POST",
        "/v1/containers",
        json={"image": "jeroboam/busybox:latest", "bay_uuid": bay.uuid, "command": "sleep 600"},
    )
    assert made.status_code == 201
    started = bay.call("PUT", f"/v1/containers/{made.json()['uuid']}/start")
    assert started.json()["status"] == "Running"
    assert bay.call("DELETE", f"/v1/clusters/{bay.uuid}").status_code == 204
    poll_until(
        "cluster gone",
        lambda: True if bay.client.get(f"/v1/clusters/{bay.uuid}").status_code == 404 else None,
        WAIT,
        0.3,
    )
    assert bay.call("GET", f"/v1/containers/{made.json()['uuid']}").status_code == 404
    assert bay.call("GET", "/v1/containers").json()["containers"] == []
    label = {"label": f"{LABEL}={bay.uuid}"}
    left = (
        len(bay.host.containers.list(all=True, filters=label))
        + len(bay.host.volumes.list(filters=label))
        + len(bay.host.networks.list(filters=label))
    )
    print(f"  (Docker objects of the cluster left on the engine: {left})", flush=True)
    assert left == 0
    bay.uuid = ""
