"""The docker provider's timings: create, add/remove a worker, autoheal, delete; raw Docker-in-Docker.

    .venv/bin/python -m bench.create http://127.0.0.1:9511 --runs 5
    .venv/bin/python -m bench.create URL --token "$OS_TOKEN"          # keystone mode

Prints one JSON line per figure (``"figure"`` is its name). Against the server at URL (its docker
provider on the local engine, or on ``--engine``), with a 1 manager + ``--workers`` cluster:

* ``create_run``: each of the ``--runs`` runs: POST /v1/clusters → CREATE_COMPLETE (``create_s``),
  the same cluster built directly on the engine with nothing but the Docker API (network, node
  containers in parallel, swarm init, joins: the floor any driver on this machine has;
  ``raw_dind_s``), and the delete; then ``leftovers_after_delete``: Docker objects of the
  cluster left after it (0 expected).
* ``create``, ``raw_dind``, ``delete``: median and max over the runs (``median_s``, ``max_s``);
  ``create_vs_raw``: the quotient of the create and raw medians (``ratio``).
* ``add_worker`` / ``remove_worker``: resize +1 / -1 → UPDATE_COMPLETE (``seconds``).
* ``idle_memory``: RSS per node (cgroup ``total_rss``) after ``--settle`` seconds idle.
* ``autoheal``: ``docker kill`` of a worker's container (cluster label ``auto_healing_enabled``)
  → noticed (``noticed_s``), then the cluster HEALTHY again with a new worker
  (``healthy_again_s``); the server's ``[conductor] health_polling_interval`` bounds how soon it
  notices.

The server must have the docker provider's node image (it builds it on first use; run
``jeroboam-manage images build`` first so the first run is not an outlier).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import httpx

from jeroboam.drivers.docker import labels
from jeroboam.drivers.docker.image import WORKLOAD_IMAGE, image_archive, node_image, workload_image
from jeroboam.drivers.docker.nodes import run_in

POLL = 0.05
HEADERS = {"OpenStack-API-Version": "container-infra latest", "Content-Type": "application/json"}
NODE_HOST_CONFIG: dict[str, Any] = {
    "cap_add": ["ALL"],
    "cap_drop": ["SYS_RESOURCE"],
    "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
    "device_cgroup_rules": ["a *:* rwm"],
}


def emit(figure: dict[str, Any]) -> None:
    print(json.dumps(figure), flush=True)


class Api:
    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=url.rstrip("/"), headers={**HEADERS, **headers}, timeout=60)

    def call(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200,)) -> httpx.Response:
        response = self.http.request(method, path, json=body)
        if response.status_code not in expect:
            raise SystemExit(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response

    def cluster(self, ident: str) -> dict[str, Any]:
        body: dict[str, Any] = self.call("GET", f"/v1/clusters/{ident}").json()
        return body

    def wait(self, ident: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 600) -> None:
        end = time.monotonic() + timeout
        while True:
            body = self.cluster(ident)
            if check(body):
                return
            if body["status"].endswith("FAILED"):
                raise SystemExit(f"cluster {ident} is {body['status']}: {body['status_reason']}")
            if time.monotonic() > end:
                raise SystemExit(f"cluster {ident}: no {what} within {timeout} s (last {body['status']})")
            time.sleep(POLL)

    def wait_status(self, ident: str, status: str) -> None:
        self.wait(ident, lambda b: b["status"] == status, status)

    def wait_gone(self, ident: str, timeout: float = 600) -> None:
        end = time.monotonic() + timeout
        while self.http.get(f"/v1/clusters/{ident}").status_code != 404:
            if time.monotonic() > end:
                raise SystemExit(f"cluster {ident} still there after {timeout} s")
            time.sleep(POLL)


def summary(name: str, samples: list[float], **extra: Any) -> dict[str, Any]:
    return {
        "figure": name,
        "runs": len(samples),
        "median_s": round(statistics.median(samples), 3),
        "max_s": round(max(samples), 3),
        "samples_s": [round(s, 3) for s in samples],
        **extra,
    }


# -- raw Docker-in-Docker: the same cluster with nothing but the Docker API ---------------------------
def raw_dind(engine: docker.DockerClient, image: str, workers: int, cache: Path) -> float:
    """Network, 1 + ``workers`` node containers started in parallel with the workload image
    loaded, swarm init, joins (no TLS, no records, no checks)."""
    run = f"raw-{uuid.uuid4().hex[:8]}"
    tag = {"org.jeroboam.bench": run}
    started = time.monotonic()
    network = engine.networks.create(run, driver="bridge", labels=tag)
    archive = image_archive(engine, WORKLOAD_IMAGE, cache)
    try:
        names = [f"{run}-m0", *(f"{run}-w{i}" for i in range(workers))]
        archive_tar = _tar_of(archive)

        def start(name: str) -> Any:
            api = engine.api
            host = api.create_host_config(**NODE_HOST_CONFIG, binds={f"{name}-docker": {"bind": "/var/lib/docker"}})
            host.update({"MaskedPaths": [], "ReadonlyPaths": []})
            engine.volumes.create(f"{name}-docker", labels=tag)
            created = api.create_container(
                image, name=name, hostname=name, labels=tag, host_config=host,
                environment={"DOCKERD_ARGS": "--storage-driver overlay2"},
                networking_config=api.create_networking_config({run: api.create_endpoint_config()}),  # type: ignore[arg-type]
            )  # fmt: skip
            container = engine.containers.get(created["Id"])
            container.start()
            while run_in(container, ["docker", "version"])[0] != 0:
                time.sleep(0.1)
            container.put_archive("/", archive_tar)
            run_in(container, ["docker", "load", "-q", "-i", f"/preload/{archive.name}"])
            container.reload()
            return container

        nodes = _in_parallel(names, start)
        manager = nodes[0]
        address = manager.attrs["NetworkSettings"]["Networks"][run]["IPAddress"]
        code, output = run_in(manager, ["docker", "swarm", "init", "--advertise-addr", address])
        assert code == 0, output
        _, token = run_in(manager, ["docker", "swarm", "join-token", "-q", "worker"])
        _in_parallel(
            nodes[1:],
            lambda c: run_in(c, ["docker", "swarm", "join", "--token", token, f"{address}:2377"]),
        )
        return time.monotonic() - started
    finally:
        for container in engine.containers.list(all=True, filters={"label": f"org.jeroboam.bench={run}"}):
            container.remove(force=True, v=True)
        for volume in engine.volumes.list(filters={"label": f"org.jeroboam.bench={run}"}):
            volume.remove(force=True)
        network.remove()


def _tar_of(archive: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(archive, arcname=f"preload/{archive.name}")
    return buffer.getvalue()


def _in_parallel(items: list[Any], call: Callable[[Any], Any]) -> list[Any]:
    results: list[Any] = [None] * len(items)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = call(items[index])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(items))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def node_containers(engine: docker.DockerClient, cluster: str, role: str | None = None) -> list[Any]:
    filters = [f"{labels.CLUSTER}={cluster}"] + ([f"{labels.ROLE}={role}"] if role else [])
    return list(engine.containers.list(filters={"label": filters}))


def idle_memory(engine: docker.DockerClient, cluster: str) -> dict[str, Any]:
    rss = {}
    for container in node_containers(engine, cluster):
        stats = container.stats(stream=False)["memory_stats"].get("stats", {})
        rss[container.labels[labels.NODE]] = round(stats.get("total_rss", stats.get("anon", 0)) / 2**20, 1)
    return {"figure": "idle_memory", "rss_mib": rss, "mean_rss_mib": round(statistics.mean(rss.values()), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="API base URL, e.g. http://127.0.0.1:9511")
    parser.add_argument("--token", help="Keystone token (default: noauth headers)")
    parser.add_argument("--project", default="bench-docker", help="noauth project id")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--settle", type=float, default=20.0, help="idle seconds before measuring memory")
    parser.add_argument("--engine", default="unix:///var/run/docker.sock", help="the server's Docker engine")
    parser.add_argument("--cache-dir", default=".cache/bench-images", help="where image archives are cached")
    args = parser.parse_args(argv)
    headers = (
        {"X-Auth-Token": args.token}
        if args.token
        else {"X-Project-Id": args.project, "X-User-Id": "bench", "X-Roles": "admin,member"}
    )
    api = Api(args.url, headers)
    engine = docker.DockerClient(base_url=args.engine, version="1.41")
    engine.api.trust_env = False
    image = node_image(engine)
    workload_image(engine)
    cache = Path(args.cache_dir)
    template_name = f"bench-swarm-{uuid.uuid4().hex[:6]}"
    template = api.call(
        "POST",
        "/v1/clustertemplates",
        {"name": template_name, "coe": "swarm-mode", "image_id": "jeroboam-node", "external_network_id": "public",
         "flavor_id": "m1.small", "master_flavor_id": "m1.small"},
        expect=(201,),
    ).json()["uuid"]  # fmt: skip
    creates, raws, deletes = [], [], []
    try:
        for run in range(args.runs):
            raws.append(raw_dind(engine, image, args.workers, cache))
            started = time.monotonic()
            body = {"name": f"bench-{run}", "cluster_template_id": template, "master_count": 1,
                    "node_count": args.workers, "labels": {"auto_healing_enabled": "true"}}  # fmt: skip
            cluster = api.call("POST", "/v1/clusters", body, expect=(202,)).json()["uuid"]
            api.wait_status(cluster, "CREATE_COMPLETE")
            creates.append(time.monotonic() - started)
            emit({"figure": "create_run", "run": run, "create_s": round(creates[-1], 3),
                  "raw_dind_s": round(raws[-1], 3)})  # fmt: skip
            if run == args.runs - 1:
                lifecycle(api, engine, cluster, args)
            started = time.monotonic()
            api.call("DELETE", f"/v1/clusters/{cluster}", expect=(204,))
            api.wait_gone(cluster)
            deletes.append(time.monotonic() - started)
            emit({"figure": "leftovers_after_delete", "run": run, "objects": leftovers(engine, cluster)})
    finally:
        api.call("DELETE", f"/v1/clustertemplates/{template}", expect=(204, 404, 400, 409))
    nodes = f"1 manager + {args.workers} workers"
    emit(summary("create", creates, cluster=nodes))
    emit(summary("raw_dind", raws, cluster=nodes))
    emit({"figure": "create_vs_raw", "ratio": round(statistics.median(creates) / statistics.median(raws), 2)})
    emit(summary("delete", deletes, cluster=nodes))
    return 0


def leftovers(engine: docker.DockerClient, cluster: str) -> int:
    label: labels.Filters = labels.of_cluster(cluster)
    return (
        len(engine.containers.list(all=True, filters=label))
        + len(engine.volumes.list(filters=label))
        + len(engine.networks.list(filters=label))
    )


def resize(api: Api, cluster: str, count: int) -> float:
    started = time.monotonic()
    patch = [{"op": "replace", "path": "/node_count", "value": count}]
    api.call("PATCH", f"/v1/clusters/{cluster}", patch, expect=(202,))
    api.wait_status(cluster, "UPDATE_COMPLETE")
    return time.monotonic() - started


def lifecycle(api: Api, engine: docker.DockerClient, cluster: str, args: argparse.Namespace) -> None:
    emit({"figure": "add_worker", "seconds": round(resize(api, cluster, args.workers + 1), 3)})
    emit({"figure": "remove_worker", "seconds": round(resize(api, cluster, args.workers), 3)})
    time.sleep(args.settle)  # idle on purpose: this is what is measured
    emit(idle_memory(engine, cluster))
    victim = node_containers(engine, cluster, "worker")[0]
    name = victim.labels[labels.NODE]
    started = time.monotonic()
    victim.kill()
    api.wait(cluster, lambda b: b["health_status"] != "HEALTHY", "UNHEALTHY", 120)
    noticed = time.monotonic() - started
    api.wait(
        cluster,
        lambda b: (
            b["status"] == "UPDATE_COMPLETE"
            and b["health_status"] == "HEALTHY"
            and f"{name}.Ready" not in (b["health_status_reason"] or {})
        ),
        "HEALTHY again",
    )
    healed = time.monotonic() - started
    emit({"figure": "autoheal", "killed": name, "noticed_s": round(noticed, 3), "healthy_again_s": round(healed, 3)})


if __name__ == "__main__":
    sys.exit(main())
