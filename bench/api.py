"""API throughput and latency against any Magnum-API-compatible server.

    .venv/bin/python -m bench.api http://127.0.0.1:9511 --concurrency 1 4 16 --seconds 10
    .venv/bin/python -m bench.api URL --token "$OS_TOKEN" --admin-token "$ADMIN_TOKEN"   # keystone mode

Prints one JSON line per (figure, concurrency, connection mode): operations/s, p50/p95/p99 in ms,
errors, the load generator's CPU per operation, the 1-minute load average before and after,
and (with ``--server-pid``) the server's CPU per operation.

Setup (not timed): the project gets a ``bench-template`` (sim driver) and ``--clusters`` clusters,
created through the API and left to settle. ``POST /v1/clusters`` creates clusters in a project of
its own (``<project>-create-0``, quota raised by the admin credentials), ``(16 projects)`` spreads
them over 16 such projects (one project serialises its creates on its quota lock); both delete
what they made afterwards. Keep-alive mode reuses a connection per client process.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Iterator

from bench.common import (
    TEMPLATE,
    Api,
    Client,
    Operation,
    Run,
    Target,
    add_target_arguments,
    credentials_of,
    delete_all_clusters,
    emit,
    ensure_template,
    measure,
    set_cluster_quota,
    status_is,
    wait_settled,
)

FIGURES = (
    "GET /v1/clusters",
    "GET /v1/clusters/detail",
    "GET /v1/clusters/<uuid>",
    "GET /v1/clustertemplates",
    "GET /v1/clustertemplates/<uuid>",
    "POST+DELETE /v1/clustertemplates",
    "POST /v1/clusters",
    "POST /v1/clusters (16 projects)",
)
CREATES = ("POST /v1/clusters", "POST /v1/clusters (16 projects)")
SPREAD = 16


def ensure_clusters(api: Api, template: str, count: int) -> list[str]:
    """Exactly ``count`` settled clusters in the caller's project (extra ones are left alone)."""
    found = api.call("GET", "/v1/clusters?limit=1000", expect=(200,)).json()["clusters"]
    uuids = [item["uuid"] for item in found]
    for index in range(len(uuids), count):
        body = {"name": f"bench-{index}", "cluster_template_id": template, "master_count": 1, "node_count": 1}
        uuids.append(api.call("POST", "/v1/clusters", body, expect=(202,)).json()["uuid"])
    wait_settled(api)
    return uuids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_target_arguments(parser)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured duration of each figure")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each figure")
    parser.add_argument(
        "--connection", choices=("fresh", "keep-alive", "both"), default="both", help="connection mode(s)"
    )
    parser.add_argument("--clusters", type=int, default=20, help="clusters in the project while reads run")
    parser.add_argument("--only", nargs="+", choices=FIGURES, metavar="FIGURE", help="run only these figures")
    args = parser.parse_args(argv)

    target = Target.parse(args.url)
    user, admin = credentials_of(args)
    run = Run(target, label=args.label, auth=user.mode, server_pids=args.server_pid)
    api = Api(target, user)
    template = ensure_template(api, "bench-template")
    clusters = ensure_clusters(api, template, args.clusters)
    figures = args.only or FIGURES
    modes = {"fresh": [True], "keep-alive": [False], "both": [True, False]}[args.connection]

    # Creates go to projects of their own: one (every create waits for the project's quota lock),
    # or SPREAD of them, each request to the next (tenants creating at the same time). With a
    # Keystone token there is one project, the token's.
    creators = [Api(target, user)]
    if not user.token:
        creators = [
            Api(target, admin.for_project(f"{user.project}-create-{index}", "member,reader")) for index in range(SPREAD)
        ]
    if any(f in figures for f in CREATES):
        admin_api = Api(target, admin)
        if not all(set_cluster_quota(admin_api, c.credentials.project, 10**6) for c in creators):
            print("POST /v1/clusters skipped: the admin credentials cannot raise the quota", file=sys.stderr)
            figures = [f for f in figures if f not in CREATES]
    if user.token:
        figures = [f for f in figures if f != CREATES[1]]

    def requests_for(fresh: bool) -> dict[str, bytes]:
        def get(path: str) -> bytes:
            return target.request("GET", path, user, keep_alive=not fresh)

        return {
            "GET /v1/clusters": get("/v1/clusters"),
            "GET /v1/clusters/detail": get("/v1/clusters/detail"),
            "GET /v1/clusters/<uuid>": get(f"/v1/clusters/{clusters[0]}"),
            "GET /v1/clustertemplates": get("/v1/clustertemplates"),
            "GET /v1/clustertemplates/<uuid>": get(f"/v1/clustertemplates/{template}"),
        }

    def template_pair(fresh: bool) -> Operation:
        create = target.request(
            "POST", "/v1/clustertemplates", user, body={**TEMPLATE, "name": "bench-pair"}, keep_alive=not fresh
        )

        def operation(client: Client) -> bool:
            made = client.call(create)
            if made.status != 201:
                return False
            uuid = made.json()["uuid"]
            delete = target.request("DELETE", f"/v1/clustertemplates/{uuid}", user, keep_alive=not fresh)
            return client.call(delete).status == 204

        return operation

    def cluster_create(fresh: bool, spread: int) -> Operation:
        requests = []
        for creator in creators[:spread]:
            template_uuid = ensure_template(creator, "bench-create-template")
            body = {"cluster_template_id": template_uuid, "master_count": 1, "node_count": 1}
            requests.append(
                target.request("POST", "/v1/clusters", creator.credentials, body=body, keep_alive=not fresh)
            )
        turns: list[Iterator[int]] = []

        def operation(client: Client) -> bool:
            if not turns:  # in the client process: each starts at another project
                turns.append(itertools.count(os.getpid()))
            return client.call(requests[next(turns[0]) % len(requests)]).status == 202

        return operation

    try:
        for name, fresh, concurrency in itertools.product(figures, modes, args.concurrency):
            unit = "requests"
            if name == "POST+DELETE /v1/clustertemplates":
                operation, unit = template_pair(fresh), "pairs"
            elif name in CREATES:
                operation, unit = cluster_create(fresh, 1 if name == CREATES[0] else SPREAD), "creates"
            else:
                operation = status_is(requests_for(fresh)[name], 200)
            figure = measure(
                run, "api", name, operation, concurrency=concurrency, seconds=args.seconds, fresh=fresh,
                warmup=args.warmup, unit=unit, extra={"clusters_in_project": len(clusters)},
            )  # fmt: skip
            emit(figure)
            if name in CREATES:
                for creator in creators:
                    delete_all_clusters(creator)
    finally:
        if any(f in figures for f in CREATES):
            for creator in creators:
                delete_all_clusters(creator)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
