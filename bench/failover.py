"""The docker provider's control-plane failover, as a user sees it: kill the manager behind the
cluster's endpoint, and time until ``docker node ls`` works again through ``coe cluster config``.

    .venv/bin/python -m bench.failover http://127.0.0.1:9511
    .venv/bin/python -m bench.failover URL --modes front          # only the master_lb_enabled cluster
    .venv/bin/python -m bench.failover URL --front-autoheal false  # the front alone, no autoheal

Against the server at URL (noauth; its docker provider on the local engine), for each mode:

* ``front``: ``master_lb_enabled``, 3 managers, no worker, ``auto_healing_enabled`` as
  ``--front-autoheal`` says (default true); the manager killed is the one the API front sends
  connections to (slot 0, the leader after a create).
* ``single``: no ``master_lb_enabled``, 1 manager, no worker, ``auto_healing_enabled=true`` (the
  only way back: there is no other manager to move to).

Each mode prints one JSON line (``"figure": "failover"``): ``node_ls_again_s`` (from the kill to the
first ``docker node ls`` that succeeds with the environment of ``openstack coe cluster config``,
run again whenever ``api_address`` changes), ``healthy_again_s`` (the cluster HEALTHY with every
manager answering), ``api_address_moved`` and ``health`` (each distinct health the API showed
meanwhile: seconds after the kill, ``health_status``, and the reason's ``api`` and ``managers``;
without autoheal the run ends once ``docker node ls`` works and health's ``api`` is ``ok`` again,
the dead manager still named).
Then ``leftovers_after_delete``: Docker objects labelled with the cluster after its delete (0
expected). The server's ``[conductor] health_polling_interval`` bounds how soon health notices.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import docker
import httpx

from jeroboam.drivers.docker import labels

HEADERS = {"OpenStack-API-Version": "container-infra latest", "Content-Type": "application/json"}
DOCKER_CLI = "/usr/bin/docker"  # Debian's docker.io client
OPENSTACK = str(Path(sys.executable).parent / "openstack")
WAIT = 300.0
TEMPLATE = {
    "coe": "swarm-mode",
    "image_id": "jeroboam-node",
    "external_network_id": "public",
    "flavor_id": "m1.small",
    "master_flavor_id": "m1.small",
    "driver": "docker",
}


def emit(figure: dict[str, Any]) -> None:
    print(json.dumps(figure), flush=True)


class Bench:
    def __init__(self, url: str, engine: str, work: Path) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=f"{self.url}/v1", headers=HEADERS, timeout=30)
        self.engine = docker.DockerClient(base_url=engine, version="1.41", timeout=60)
        self.engine.api.trust_env = False
        self.work = work

    def cluster(self, uuid: str) -> dict[str, Any]:
        response = self.http.get(f"/clusters/{uuid}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def wait(self, what: str, probe: Any, deadline: float = WAIT) -> Any:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if (found := probe()) is not None:
                return found
            time.sleep(0.2)
        raise SystemExit(f"{what}: not within {deadline:.0f} s")

    def config(self, name: str) -> dict[str, str]:
        """``openstack coe cluster config``: the user's environment for the cluster."""
        directory = tempfile.mkdtemp(dir=self.work)
        done = subprocess.run(
            [OPENSTACK, "--os-auth-type", "none", "--os-endpoint", f"{self.url}/v1", "coe", "cluster", "config",
             name, "--dir", directory, "--force", "--output-certs"],
            capture_output=True, text=True, check=True, env={**os.environ, "SHELL": "/bin/bash"},
        )  # fmt: skip
        return dict(re.findall(r"^export (\w+)=(.*)$", done.stdout, re.MULTILINE))

    @staticmethod
    def node_ls(env: dict[str, str]) -> bool:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")} | env
        try:
            done = subprocess.run(
                [DOCKER_CLI, "node", "ls", "-q"], capture_output=True, env=environment, timeout=15, check=False
            )
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    def run(self, mode: str, autoheal: bool) -> None:
        name = f"failover-{mode}-{int(time.time())}"
        front = mode == "front"
        template = self.http.post("/clustertemplates", json={**TEMPLATE, "name": name, "master_lb_enabled": front})
        template.raise_for_status()
        created = self.http.post(
            "/clusters",
            json={
                "name": name,
                "cluster_template_id": template.json()["uuid"],
                "master_count": 3 if front else 1,
                "node_count": 0,
                "labels": {"auto_healing_enabled": str(autoheal).lower()},
            },
        )
        created.raise_for_status()
        uuid = created.json()["uuid"]
        try:
            self.measure(mode, autoheal, name, uuid)
        finally:
            self.http.delete(f"/clusters/{uuid}")
            self.wait("cluster gone", lambda: True if self.http.get(f"/clusters/{uuid}").status_code == 404 else None)
            self.http.delete(f"/clustertemplates/{template.json()['uuid']}")
            only: dict[str, Any] = {"label": f"{labels.CLUSTER}={uuid}"}
            left = (
                len(self.engine.containers.list(all=True, filters=only))
                + len(self.engine.volumes.list(filters=only))
                + len(self.engine.networks.list(filters=only))
            )
            emit({"figure": "leftovers_after_delete", "mode": mode, "objects": left})

    def measure(self, mode: str, autoheal: bool, name: str, uuid: str) -> None:
        def healthy() -> dict[str, Any] | None:
            body = self.cluster(uuid)
            if body["status"].endswith("_FAILED"):
                raise SystemExit(f"cluster {body['status']}: {body['status_reason']}")
            managers = (body["health_status_reason"] or {}).get("managers", "")
            all_answer = re.match(r"(\d+) of (\d+) ", managers)
            ok = all_answer is not None and all_answer[1] == all_answer[2]
            return body if body["health_status"] == "HEALTHY" and ok else None

        before = self.wait("cluster HEALTHY", healthy)
        env = self.config(name)
        if not self.node_ls(env):
            raise SystemExit("docker node ls does not work before the kill")
        managers = self.engine.containers.list(
            filters={"label": [f"{labels.CLUSTER}={uuid}", f"{labels.ROLE}={labels.MANAGER}", f"{labels.SLOT}=0"]}
        )
        managers[0].kill()
        killed = time.monotonic()
        seen: list[tuple[float, str, str, str]] = []
        node_ls_again = healthy_again = None
        address = before["api_address"]

        def done() -> bool:  # without autoheal nothing heals: health answering through the front is the end
            settled = len(seen) > 1 and seen[-1][2] == "ok"
            return node_ls_again is not None and (healthy_again is not None or (not autoheal and settled))

        while time.monotonic() - killed < WAIT and not done():
            body = self.cluster(uuid)
            reason = body["health_status_reason"] or {}
            state = (body["health_status"], str(reason.get("api")), str(reason.get("managers")))
            if not seen or seen[-1][1:] != state:
                seen.append((round(time.monotonic() - killed, 1), *state))
            if node_ls_again is None:
                if body["api_address"] != env.get("DOCKER_HOST"):
                    env = self.config(name)  # what a user does when the address they were given changed
                if self.node_ls(env):
                    node_ls_again = time.monotonic() - killed
            if healthy_again is None and len(seen) > 1 and healthy() is not None:  # after a change
                healthy_again = time.monotonic() - killed
            time.sleep(0.2)
        emit(
            {
                "figure": "failover",
                "mode": mode,
                "master_lb_enabled": mode == "front",
                "managers": 3 if mode == "front" else 1,
                "autoheal": autoheal,
                "node_ls_again_s": None if node_ls_again is None else round(node_ls_again, 1),
                "healthy_again_s": None if healthy_again is None else round(healthy_again, 1),
                "api_address_moved": self.cluster(uuid)["api_address"] != address,
                "health": [
                    {"after_s": t, "health_status": h, "api": api, "managers": managers} for t, h, api, managers in seen
                ],
            }
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the Jeroboam server, e.g. http://127.0.0.1:9511 (noauth)")
    parser.add_argument("--engine", default="unix:///var/run/docker.sock", help="the server's Docker engine")
    parser.add_argument("--modes", default="front,single", help="comma-separated: front, single")
    parser.add_argument("--front-autoheal", default="true", choices=("true", "false"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-failover-") as work:
        bench = Bench(args.url, args.engine, Path(work))
        for mode in args.modes.split(","):
            bench.run(mode, autoheal=mode == "single" or args.front_autoheal == "true")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
