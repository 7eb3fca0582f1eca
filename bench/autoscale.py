"""The autoscaler's timings on a real swarm-mode cluster (docker provider), one JSON line per figure.

    .venv/bin/python -m bench.autoscale http://127.0.0.1:9511 [--token TOKEN] [--replicas 5]

Against the server at URL: a template of ``--flavor`` workers (default ``m1.tiny``: 512 MiB that
swarm sees), a cluster of one worker with ``auto_scaling_enabled=true``, ``min_node_count=1``,
``max_node_count=--max``; the cluster's environment from ``openstack coe cluster config``; then,
with the ordinary ``docker`` CLI, a service of ``--replicas`` replicas reserving ``--reserve`` each
(more than one worker holds):

* ``pending → first new node Ready``: from the service's creation to a new worker Ready in swarm;
* ``pending → all replicas Running``;
* ``idle → node removed``: from scaling the service to 0 to the first worker gone, and to the
  cluster back at min. The server's ``[autoscaler] scale_down_unneeded_time`` is part of it
  (``--unneeded`` only reports what the server was given: the API does not show it);
* ``transcript``: each step's time since the start, the cluster's status and ``status_reason``.

The cluster and template are deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bench.create import Api, emit

T = TypeVar("T")
OPENSTACK = Path(sys.executable).with_name("openstack")
DOCKER = "/usr/bin/docker"
POLL = 0.2


def poll(what: str, probe: Callable[[], T | None], timeout: float) -> T:
    end = time.monotonic() + timeout
    while (found := probe()) is None:
        if time.monotonic() > end:
            raise SystemExit(f"no {what} within {timeout} s")
        time.sleep(POLL)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="API base URL, e.g. http://127.0.0.1:9511")
    parser.add_argument("--token", help="Keystone token (default: noauth headers)")
    parser.add_argument("--flavor", default="m1.tiny")
    parser.add_argument("--replicas", type=int, default=5)
    parser.add_argument("--reserve", default="200M", help="memory each replica reserves")
    parser.add_argument("--max", type=int, default=3, help="the cluster's max_node_count")
    parser.add_argument("--unneeded", type=float, help="the server's scale_down_unneeded_time, seconds (reported)")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    noauth = {"X-Project-Id": "default", "X-User-Id": "bench", "X-Roles": "admin,member,reader"}
    headers = {"X-Auth-Token": args.token} if args.token else noauth
    api = Api(args.url, headers)
    auth = ["--os-token", args.token] if args.token else ["--os-auth-type", "none"]
    name = f"autoscale-bench-{os.getpid()}"
    start = time.monotonic()
    steps: list[dict[str, Any]] = []

    def step(what: str, uuid: str | None = None) -> float:
        at = round(time.monotonic() - start, 2)
        entry: dict[str, Any] = {"t_s": at, "step": what}
        if uuid:
            body = api.cluster(uuid)
            entry.update(status=body["status"], node_count=body["node_count"], status_reason=body["status_reason"])
        steps.append(entry)
        print(f"# {at:8.2f} s  {what}", file=sys.stderr, flush=True)
        return time.monotonic()

    template = api.call("POST", "/v1/clustertemplates", {
        "name": name, "coe": "swarm-mode", "image_id": "jeroboam-node", "external_network_id": "public",
        "flavor_id": args.flavor, "master_flavor_id": "m1.small",
    }, expect=(201,)).json()["uuid"]  # fmt: skip
    labels = {"auto_scaling_enabled": "true", "min_node_count": "1", "max_node_count": str(args.max)}
    uuid = api.call("POST", "/v1/clusters", {
        "name": name, "cluster_template_id": template, "master_count": 1, "node_count": 1, "labels": labels,
    }, expect=(202,)).json()["uuid"]  # fmt: skip
    try:
        created = time.monotonic()
        api.wait_status(uuid, "CREATE_COMPLETE")
        emit({"figure": "cluster create", "seconds": round(time.monotonic() - created, 2)})
        step("cluster CREATE_COMPLETE", uuid)
        with tempfile.TemporaryDirectory() as config:
            env = cluster_env([str(OPENSTACK), *auth, "--os-endpoint", f"{args.url.rstrip('/')}/v1"], uuid, config)
            run(env, "service", "create", "--detach", "--no-resolve-image", "--name", "web", "--replicas",
                str(args.replicas), "--reserve-memory", args.reserve, "--constraint", "node.role==worker",
                "--endpoint-mode", "dnsrr", "--stop-signal", "KILL", "jeroboam/busybox:latest",
                "sleep", "3600")  # fmt: skip
            pending = step(f"service web created: {args.replicas} replicas reserving {args.reserve} each")
            first = workers(env)
            poll("a new worker Ready", lambda: True if len(workers(env)) > len(first) else None, args.timeout)
            emit({"figure": "pending → first new node Ready", "seconds": round(time.monotonic() - pending, 2)})
            step("a new worker Ready", uuid)
            poll("every replica Running", lambda: True if running(env) == args.replicas else None, args.timeout)
            emit({"figure": "pending → all replicas Running", "seconds": round(time.monotonic() - pending, 2),
                  "workers": len(workers(env))})  # fmt: skip
            step(f"all {args.replicas} replicas Running on {len(workers(env))} workers", uuid)
            grown = workers(env)
            run(env, "service", "scale", "--detach", "web=0")
            idle = step("service web scaled to 0")
            poll("a worker removed", lambda: True if len(workers(env)) < len(grown) else None, args.timeout)
            emit({"figure": "idle → node removed", "seconds": round(time.monotonic() - idle, 2),
                  "scale_down_unneeded_time_s": args.unneeded})  # fmt: skip
            step("a worker removed", uuid)
            poll(
                "the cluster back at min", lambda: True if api.cluster(uuid)["node_count"] == 1 else None, args.timeout
            )
            api.wait_status(uuid, "UPDATE_COMPLETE")
            emit({"figure": "idle → back at min", "seconds": round(time.monotonic() - idle, 2),
                  "scale_down_unneeded_time_s": args.unneeded})  # fmt: skip
            step("cluster back at min_node_count", uuid)
    finally:
        api.call("DELETE", f"/v1/clusters/{uuid}", expect=(204,))
        api.wait_gone(uuid)
        api.call("DELETE", f"/v1/clustertemplates/{template}", expect=(204,))
    emit({"figure": "transcript", "steps": steps})
    return 0


def cluster_env(openstack: list[str], uuid: str, directory: str) -> dict[str, str]:
    result = subprocess.run(
        [*openstack, "coe", "cluster", "config", uuid, "--dir", directory, "--force", "--output-certs"],
        capture_output=True, text=True, check=True, env={**os.environ, "SHELL": "/bin/bash"},
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(re.findall(r"^export (\w+)=(.*)$", result.stdout, re.MULTILINE))
    return env


def run(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([DOCKER, *args], capture_output=True, text=True, env=env, timeout=120)
    if result.returncode != 0:
        raise SystemExit(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def workers(env: dict[str, str]) -> list[str]:
    out = run(env, "node", "ls", "--filter", "role=worker", "--format", "{{.Hostname}} {{.Status}}")
    return sorted(line.split()[0] for line in out.splitlines() if line.endswith("Ready"))


def running(env: dict[str, str]) -> int:
    out = run(env, "service", "ps", "web", "--filter", "desired-state=running", "--format", "{{.CurrentState}}")
    return sum(1 for line in out.splitlines() if line.startswith("Running"))


if __name__ == "__main__":
    raise SystemExit(main())
