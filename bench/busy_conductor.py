"""Does the API keep answering while the conductor (in the same all-in-one process) is busy?

    .venv/bin/python -m bench.busy_conductor http://127.0.0.1:9511 [--clusters 8] [--nodes 100]

Against the server at URL (noauth headers; ``--token`` for Keystone): one client, one request at a
time, alternating ``GET /v1/clusters`` as a member of a project with a few settled clusters and
``GET /`` (the version document a load balancer's health check reads), first for ``--seconds``
while nothing else runs (``idle``), then from the moment ``--clusters`` sim clusters of ``--nodes``
workers each are accepted in ANOTHER project until they are all built (``busy``). One JSON line per
(phase, request): count, p50/p99/max in ms, and for ``busy`` how long the builds took and the
server's CPU over that time (with ``--server-pid``). Everything it made is deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from bench.common import (
    Api,
    Client,
    Credentials,
    Target,
    delete_all_clusters,
    emit,
    ensure_template,
    percentile,
    process_cpu_seconds,
    set_cluster_quota,
    wait_settled,
)

READS = ("GET /v1/clusters", "GET /")


def sample(target: Target, reader: Credentials, until: Any) -> dict[str, list[float]]:
    """Latencies (s) of the alternating reads, one at a time, while ``until()`` is false."""
    client = Client(target, fresh=False, timeout=300)
    requests = {
        "GET /v1/clusters": target.request("GET", "/v1/clusters", reader),
        "GET /": target.request("GET", "/", reader),
    }
    seen: dict[str, list[float]] = {name: [] for name in READS}
    while not until():
        for name, request in requests.items():
            started = time.perf_counter()
            response = client.call(request)
            seen[name].append(time.perf_counter() - started)
            if response.status != 200:
                raise SystemExit(f"{name}: HTTP {response.status}: {response.body[:200]!r}")
    client.close()
    return seen


def figures(phase: str, seen: dict[str, list[float]], extra: dict[str, Any]) -> None:
    for name, latencies in seen.items():
        ordered = sorted(latencies)
        emit({
            "benchmark": "busy_conductor", "phase": phase, "figure": name, "count": len(ordered),
            "p50_ms": round(percentile(ordered, 0.5) * 1000, 2), "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2) if ordered else 0.0, **extra,
        })  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="API base URL, e.g. http://127.0.0.1:9511")
    parser.add_argument("--token", help="Keystone token (default: noauth headers)")
    parser.add_argument("--clusters", type=int, default=8, help="clusters created in the busy project")
    parser.add_argument("--nodes", type=int, default=100, help="workers of each")
    parser.add_argument("--readers-clusters", type=int, default=5, help="settled clusters the reader lists")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the idle phase")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--server-pid", type=int, action="append", default=[], help="server process (CPU)")
    parser.add_argument("--label", default="", help="free text naming the deployment")
    args = parser.parse_args(argv)
    target = Target.parse(args.url)
    tag = f"busy-{os.getpid()}"
    reader = Credentials(args.token, f"{tag}-reader", "bench", "member,reader")
    builder = Credentials(args.token, f"{tag}-builder", "bench", "member,reader")
    admin = Api(target, Credentials(args.token, f"{tag}-builder", "bench-admin", "admin,member,reader"))
    read_api, build_api = Api(target, reader), Api(target, builder)
    base = {"deployment": args.label, "clusters": args.clusters, "nodes": args.nodes}
    try:
        template = ensure_template(read_api, "busy-template")
        for index in range(args.readers_clusters):
            body = {"name": f"reader-{index}", "cluster_template_id": template, "master_count": 1, "node_count": 1}
            read_api.call("POST", "/v1/clusters", body, expect=(202,))
        wait_settled(read_api, timeout=args.timeout)
        end = time.monotonic() + args.seconds
        figures("idle", sample(target, reader, lambda: time.monotonic() > end), base)

        set_cluster_quota(admin, builder.project, args.clusters + 10)
        big = ensure_template(build_api, "busy-template")
        cpu = process_cpu_seconds(args.server_pid) if args.server_pid else None
        started = time.monotonic()
        for index in range(args.clusters):
            body = {"name": f"big-{index}", "cluster_template_id": big, "master_count": 1, "node_count": args.nodes}
            build_api.call("POST", "/v1/clusters", body, expect=(202,))
        deadline = started + args.timeout
        checked = [0.0]

        def built() -> bool:
            if time.monotonic() > deadline:
                raise SystemExit(f"the clusters were not built within {args.timeout} s")
            if time.monotonic() - checked[0] < 0.5:
                return False
            checked[0] = time.monotonic()
            found = build_api.call("GET", "/v1/clusters?limit=1000", expect=(200,)).json()["clusters"]
            return all(not c["status"].endswith("_IN_PROGRESS") for c in found)

        seen = sample(target, reader, built)
        extra: dict[str, Any] = {**base, "build_s": round(time.monotonic() - started, 1)}
        if cpu is not None:
            extra["server_cpu_s"] = round(process_cpu_seconds(args.server_pid) - cpu, 1)
        figures("busy", seen, extra)
    finally:
        print("# cleaning up", file=sys.stderr, flush=True)
        delete_all_clusters(build_api)
        delete_all_clusters(read_api)
        for api in (build_api, read_api):
            for item in api.call("GET", "/v1/clustertemplates", expect=(200,)).json()["clustertemplates"]:
                api.call("DELETE", f"/v1/clustertemplates/{item['uuid']}", expect=(204, 404))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
