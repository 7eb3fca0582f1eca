"""/v1/containers on the docker provider: how long a user waits.

    .venv/bin/python -m bench.containers http://127.0.0.1:9511 --runs 10 --containers 100

Prints one JSON line per figure, against the server at URL (noauth headers, or ``--token``) with
its docker provider, on a fresh swarm-mode cluster of 1 manager + ``--workers`` workers that it
deletes at the end:

* ``create_to_running``: POST /v1/containers, then PUT …/start, until GET shows ``Running``;
  median and max of ``--runs``.
* ``execute``: PUT …/execute?command=true round trip (median, p99, max of ``--execs``).
* ``list``: GET /v1/containers with ``--containers`` containers (each status read live from the
  nodes): p50/p99 of ``--lists`` requests.
* ``registry_push_to_running``: the cluster's template has ``registry_enabled``; an image of
  ``--payload-mb`` MB of random bytes on top of the workload image is built on the host engine,
  pushed to the cluster's registry on its ``registry_push_address`` (``push_s``), then created and
  started through /v1/containers from ``<registry_address>/…`` until GET shows ``Running``
  (``to_running_s``: the node pulls it from the registry).
* ``leftover``: Docker objects labelled with the cluster on the local engine after the
  containers and the cluster were deleted (0 expected).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tarfile
import time
from typing import Any

import docker
import httpx

POLL = 0.05
HEADERS = {"OpenStack-API-Version": "container-infra latest"}
IMAGE = "jeroboam/busybox:latest"


def emit(figure: dict[str, Any]) -> None:
    print(json.dumps(figure), flush=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Api:
    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/"), headers={**HEADERS, **headers}, timeout=120)

    def call(self, method: str, path: str, *, expect: int = 200, **kw: Any) -> Any:
        response = self.http.request(method, path, **kw)
        if response.status_code != expect:
            raise SystemExit(f"{method} {path}: HTTP {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def wait(self, path: str, key: str, wanted: str, deadline: float = 300) -> None:
        end = time.monotonic() + deadline
        while True:
            body = self.http.get(path).json()
            if body.get(key) == wanted:
                return
            if time.monotonic() > end or str(body.get(key, "")).endswith("_FAILED"):
                raise SystemExit(f"{path}: {key} is {body.get(key)} ({body.get('status_reason')}), wanted {wanted}")
            time.sleep(POLL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the server, e.g. http://127.0.0.1:9511")
    parser.add_argument("--token", help="a Keystone token (default: noauth headers)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--execs", type=int, default=30)
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--lists", type=int, default=50)
    parser.add_argument("--payload-mb", type=float, default=5.0, help="size of the image pushed to the registry")
    args = parser.parse_args()
    headers = {"X-Auth-Token": args.token} if args.token else {"X-Project-Id": "bench", "X-User-Id": "bench",
                                                               "X-Roles": "member,reader"}  # fmt: skip
    api = Api(args.url, headers)
    host = docker.DockerClient(base_url="unix:///var/run/docker.sock", version="1.41")
    host.api.trust_env = False  # the environment's CA bundle must not replace docker's own
    template = api.call(
        "POST", "/v1/clustertemplates", expect=201,
        json={"name": f"bench-containers-{int(time.time())}", "coe": "swarm-mode", "image_id": "jeroboam-node",
              "external_network_id": "public", "flavor_id": "m1.small", "master_flavor_id": "m1.small",
              "registry_enabled": True},
    )["uuid"]  # fmt: skip
    began = time.monotonic()
    cluster = api.call(
        "POST", "/v1/clusters", expect=202,
        json={"name": "bench-containers", "cluster_template_id": template, "node_count": args.workers},
    )["uuid"]  # fmt: skip
    try:
        api.wait(f"/v1/clusters/{cluster}", "status", "CREATE_COMPLETE")
        emit({"figure": "cluster_create", "workers": args.workers, "seconds": round(time.monotonic() - began, 3)})
        made: list[str] = []

        timings = []
        for _ in range(args.runs):
            start = time.monotonic()
            uuid = api.call(
                "POST", "/v1/containers", expect=201,
                json={"image": IMAGE, "bay_uuid": cluster, "command": "sleep 3600", "memory": "8m"},
            )["uuid"]  # fmt: skip
            api.call("PUT", f"/v1/containers/{uuid}/start")
            api.wait(f"/v1/containers/{uuid}", "status", "Running", 60)
            timings.append(time.monotonic() - start)
            made.append(uuid)
        emit({"figure": "create_to_running", "runs": args.runs, "median_s": round(statistics.median(timings), 3),
              "max_s": round(max(timings), 3)})  # fmt: skip

        execs = []
        for _ in range(args.execs):
            start = time.monotonic()
            api.call("PUT", f"/v1/containers/{made[0]}/execute", params={"command": "true"})
            execs.append(time.monotonic() - start)
        emit({"figure": "execute", "runs": args.execs, "median_s": round(statistics.median(execs), 3),
              "p99_s": round(percentile(execs, 0.99), 3), "max_s": round(max(execs), 3)})  # fmt: skip

        while len(made) < args.containers:
            made.append(
                api.call("POST", "/v1/containers", expect=201, json={"image": IMAGE, "bay_uuid": cluster})["uuid"]
            )
        lists = []
        for _ in range(args.lists):
            start = time.monotonic()
            body = api.call("GET", "/v1/containers", params={"bay_ident": cluster, "limit": args.containers})
            lists.append(time.monotonic() - start)
            assert len(body["containers"]) == args.containers, len(body["containers"])
        emit({"figure": "list", "containers": args.containers, "requests": args.lists,
              "p50_s": round(percentile(lists, 0.5), 3), "p99_s": round(percentile(lists, 0.99), 3)})  # fmt: skip

        for uuid in made[: args.runs]:
            api.call("DELETE", f"/v1/containers/{uuid}", expect=204)
        registry_figure(api, host, cluster, args.payload_mb)
    finally:
        api.http.delete(f"/v1/clusters/{cluster}")
        end = time.monotonic() + 300
        while api.http.get(f"/v1/clusters/{cluster}").status_code != 404 and time.monotonic() < end:
            time.sleep(POLL)
    left = api.http.get("/v1/containers", params={"limit": 1000}).json().get("containers", [])
    label: dict[str, Any] = {"label": f"org.jeroboam.cluster={cluster}"}
    objects = (
        len(host.containers.list(all=True, filters=label))
        + len(host.volumes.list(filters=label))
        + len(host.networks.list(filters=label))
    )
    emit({"figure": "leftover", "container_rows": len([c for c in left if c["bay_uuid"] == cluster]),
          "engine_objects": objects})  # fmt: skip
    api.call("DELETE", f"/v1/clustertemplates/{template}", expect=204)


def registry_figure(api: Api, host: docker.DockerClient, cluster: str, payload_mb: float) -> None:
    """Build a ``payload_mb`` image on the host engine, push it to the cluster's registry, run it."""
    shown = api.call("GET", f"/v1/clusters/{cluster}")
    push, address = shown["registry_push_address"], shown["registry_address"]
    name = f"bench/payload:{int(time.time() * 1000)}"
    payload = os.urandom(int(payload_mb * 1024 * 1024))  # random: no layer the registry has already
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for path, data in (("Dockerfile", f"FROM {IMAGE}\nCOPY payload /payload\n".encode()), ("payload", payload)):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    tag = f"{push}/{name}"
    host.images.build(fileobj=context, custom_context=True, tag=tag, pull=False, rm=True)
    try:
        start = time.monotonic()
        for line in host.api.push(tag, stream=True, decode=True):
            if "error" in line:
                raise SystemExit(f"push of {tag} failed: {line['error']}")
        pushed = time.monotonic()
        uuid = api.call(
            "POST", "/v1/containers", expect=201,
            json={"image": f"{address}/{name}", "bay_uuid": cluster, "command": "sleep 3600"},
        )["uuid"]  # fmt: skip
        api.call("PUT", f"/v1/containers/{uuid}/start")
        api.wait(f"/v1/containers/{uuid}", "status", "Running", 120)
        running = time.monotonic()
        emit({"figure": "registry_push_to_running", "image_mb": payload_mb, "push_s": round(pushed - start, 3),
              "to_running_s": round(running - pushed, 3), "total_s": round(running - start, 3)})  # fmt: skip
        api.call("DELETE", f"/v1/containers/{uuid}", expect=204)
    finally:
        host.images.remove(tag)


if __name__ == "__main__":
    main()
