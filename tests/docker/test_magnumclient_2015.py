"""The 2015 client, unchanged: python-magnumclient 1.1.0 (in its own venv, see
``tests/support/magnum2015.py``) runs its ``container-*`` commands against ``jeroboam-api`` (with a
``jeroboam-conductor``), authenticated by the suite's real Keystone, on a real swarm-mode bay of
the docker provider. The client finds Jeroboam in the catalog under its 2015 service type
``container``. Run with ``-s`` for the transcript (each command, its exit code, what it printed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.compat.conftest import poll
from tests.compat.test_cli_keystone import register_endpoint
from tests.support.keystone import REGION_ID, KeystoneServer, start_keystone
from tests.support.magnum2015 import Magnum2015, ensure_venv
from tests.support.server import free_port, wait_until_up

pytestmark = [pytest.mark.compat, pytest.mark.keystone, pytest.mark.docker, pytest.mark.timeout(900)]

BIN = Path(sys.executable).parent
WAIT = 180.0
IMAGE = "jeroboam/busybox:latest"


@dataclass
class Deployment:
    url: str
    keystone: KeystoneServer
    magnum: Magnum2015
    bay: str = ""

    def http(self) -> httpx.Client:
        token = self.keystone.token_for("alpha-member")
        headers = {"X-Auth-Token": token, "OpenStack-API-Version": "container-infra latest"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, docker_client: object) -> Iterator[Deployment]:
    venv = ensure_venv()
    work = tmp_path_factory.mktemp("magnum2015")
    keystone = start_keystone()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JEROBOAM_", "OS_"))}
        env.update(keystone.jeroboam_env())
        env.update(
            {
                "JEROBOAM_DATA_DIR": str(work / "data"),
                "JEROBOAM_CONDUCTOR__POLL_INTERVAL": "0.2",
                "JEROBOAM_X509__KEY_ALGORITHM": "ec",
                # The test engine is shared with other suites' clusters (other projects).
                "JEROBOAM_DOCKER__ALLOW_PROJECT_MIXING": "true",
            }
        )
        subprocess.run([str(BIN / "jeroboam-manage"), "db", "upgrade"], env=env, check=True, capture_output=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        for name, argv in (
            ("api", [str(BIN / "jeroboam-api"), "--host", "127.0.0.1", "--port", str(port)]),
            ("conductor", [str(BIN / "jeroboam-conductor"), "--host", "magnum2015"]),
        ):
            with (work / f"{name}.log").open("ab") as log:
                processes.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT))
            if name == "api":
                wait_until_up(url, deadline=60)  # it made the secrets key the conductor reads
        register_endpoint(keystone, f"{url}/v1", service_type="container")
        user = keystone.users["alpha-member"]
        auth = [
            "--os-auth-url", keystone.identity_url, "--os-username", user.name, "--os-password", user.password,
            "--os-tenant-name", user.project_name, "--os-region-name", REGION_ID,
        ]  # fmt: skip
        state = Deployment(url, keystone, Magnum2015(venv, auth))
        with state.http() as client:
            template = client.post(
                "/v1/baymodels",
                json={
                    "name": "swarm",
                    "coe": "swarm-mode",
                    "image_id": "jeroboam-node",
                    "external_network_id": "public",
                    "flavor_id": "m1.small",
                    "master_flavor_id": "m1.small",
                },
            )
            assert template.status_code == 201, template.text
            bay = client.post(
                "/v1/bays", json={"name": "boxes", "baymodel_id": template.json()["uuid"], "node_count": 1}
            )
            assert bay.status_code == 202, bay.text
            state.bay = bay.json()["uuid"]

            def complete() -> bool | None:
                body = client.get(f"/v1/bays/{state.bay}").json()
                assert body["status"] in ("CREATE_IN_PROGRESS", "CREATE_COMPLETE"), body
                print(f"  (bay {body['status']}: {body['status_reason']})", flush=True)
                return True if body["status"] == "CREATE_COMPLETE" else None

            poll("bay CREATE_COMPLETE", complete, WAIT, 0.3)
        yield state
        with state.http() as client:
            client.delete(f"/v1/bays/{state.bay}")
            poll(
                "bay gone", lambda: True if client.get(f"/v1/bays/{state.bay}").status_code == 404 else None, WAIT, 0.3
            )
        print("\n--- transcript of python-magnumclient 1.1.0 ---\n" + state.magnum.transcript(), flush=True)
        (work / "transcript.txt").write_text(state.magnum.transcript())
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        keystone.stop()


def test_the_2015_client_drives_a_container_through_its_life(deployment: Deployment) -> None:
    magnum = deployment.magnum
    created = magnum(
        "container-create", "--name", "greeter", "--image", IMAGE, "--bay", "boxes",
        "--command", "sh -c 'echo hello from 2015; exec sleep 600'", "--memory", "64m",
    )  # fmt: skip
    assert created.code == 0, created.output
    assert "Stopped" in created.output
    assert "greeter" in created.output

    listed = magnum("container-list")
    assert listed.code == 0
    assert "greeter" in listed.output
    assert "Stopped" in listed.output

    shown = magnum("container-show", "greeter")
    assert shown.code == 0
    assert "bay_uuid" in shown.output
    assert deployment.bay in shown.output

    assert magnum("container-start", "greeter").code == 0
    assert "Running" in magnum("container-show", "greeter").output
    logs = poll(
        "the greeting",
        lambda: r if "hello from 2015" in (r := magnum("container-logs", "greeter")).output else None,
        30,
        0.5,
    )
    assert logs.code == 0
    executed = magnum("container-exec", "greeter", "--command", "echo inside")
    assert executed.code == 0
    assert executed.output.strip() == "inside"

    for command, status in (
        ("container-pause", "Paused"),
        ("container-unpause", "Running"),
        ("container-stop", "Stopped"),
        ("container-reboot", "Running"),
    ):
        assert magnum(command, "greeter").code == 0
        assert status in magnum("container-show", "greeter").output

    deleted = magnum("container-delete", "greeter")
    assert deleted.code == 0
    assert "greeter" not in magnum("container-list").output
    missing = magnum("container-show", "greeter")
    assert missing.code != 0
    # The 2015 client reads Magnum 1.x's error body ("error_message"), so it prints the status only.
    assert "HTTP 404" in missing.output
