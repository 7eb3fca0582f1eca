"""What clients and operators see during a database or broker outage, measured.

    .venv/bin/python -m bench.outage --backend postgresql --requests 20
    .venv/bin/python -m bench.outage --backend mariadb --broker 127.0.0.1:5672

Starts ``jeroboam-api`` and ``jeroboam-conductor`` (the ``sim`` driver) on a fresh database of
``--backend`` (server from ``JEROBOAM_TEST_POSTGRESQL`` / ``JEROBOAM_TEST_MARIADB``, as the
tests), each reaching it — and the broker at ``--broker`` — through a TCP forwarder this script
turns off and on (the shared servers never stop). One JSON line per figure:

* ``database_up_ms`` / ``database_down_ms``: answer time of ``GET /v1/clusters`` and
  ``POST /v1/clusters`` with the database up, then down (statuses listed; down must be 503);
* ``database_recovery``: seconds from the database's return to the first 2xx answer, and until
  the cluster accepted just before the outage is ``CREATE_COMPLETE``;
* ``broker_down_ms``: answer time of ``POST /v1/clusters`` with the broker down (202s);
* ``broker_recovery``: seconds for a cluster accepted while the broker is down to complete
  (found by polling), and from the broker's return to the delivery of the notifications held
  while it was away.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bench.common import emit
from tests.support.databases import SERVERS, fresh_database
from tests.support.deployment import Deployment, deployment, through, wait_for
from tests.support.forwarder import Forwarder
from tests.support.notifications import Notifications


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def answers(deployed: Deployment, template: str, requests: int) -> dict[str, tuple[list[float], set[int]]]:
    """``requests`` GETs and POSTs of /v1/clusters: their times (ms) and statuses."""
    seen: dict[str, tuple[list[float], set[int]]] = {"GET /v1/clusters": ([], set()), "POST /v1/clusters": ([], set())}
    for index in range(requests):
        for name, call in (
            ("GET /v1/clusters", lambda: deployed.client.get("/v1/clusters")),
            ("POST /v1/clusters", lambda i=index: deployed.client.post(  # type: ignore[misc]
                "/v1/clusters", json={"name": f"bench-{time.monotonic_ns()}-{i}", "cluster_template_id": template}
            )),
        ):  # fmt: skip
            elapsed, response = timed(call)
            seen[name][0].append(elapsed)
            seen[name][1].add(response.status_code)
    return seen


def settled(clusters: list[dict[str, Any]]) -> bool:
    return not any(str(c["status"]).endswith("_IN_PROGRESS") for c in clusters)


def emit_answers(figure: str, backend: str, seen: dict[str, tuple[list[float], set[int]]]) -> None:
    for request, (times, statuses) in seen.items():
        emit({
            "figure": figure, "backend": backend, "request": request, "n": len(times),
            "statuses": sorted(statuses), "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
        })  # fmt: skip


def database_outage(args: argparse.Namespace, workdir: Path) -> None:
    server = make_url(SERVERS[args.backend])
    target = (server.host or "127.0.0.1", server.port or (5432 if args.backend == "postgresql" else 3306))
    with (
        fresh_database(args.backend, workdir) as url,
        Forwarder(target) as to_api,
        Forwarder(target) as to_conductor,
        deployment(
            workdir / "database",
            url,
            api_database=through(url, to_api.address),
            conductor_database=through(url, to_conductor.address),
            settings={"QUOTAS__MAX_CLUSTERS_PER_PROJECT": "100000"},
        ) as deployed,
    ):
        template = deployed.template()
        emit_answers("database_up_ms", args.backend, answers(deployed, template, args.requests))
        wait_for(lambda: deployed.client.get("/v1/clusters").json()["clusters"], settled, 120)
        before = deployed.create(template, "before-outage")  # alone in the queue: its recovery is timed
        to_api.refuse()
        to_conductor.refuse()
        emit_answers("database_down_ms", args.backend, answers(deployed, template, args.requests))
        back = time.monotonic()
        to_api.accept()
        to_conductor.accept()
        wait_for(lambda: deployed.client.get("/v1/clusters").status_code, lambda s: s == 200, 60)
        first_answer = time.monotonic() - back
        deployed.wait_status(before, "CREATE_COMPLETE", deadline=120)
        emit({
            "figure": "database_recovery", "backend": args.backend,
            "first_2xx_s": round(first_answer, 2), "accepted_before_complete_s": round(time.monotonic() - back, 2),
            "conductor_alive": deployed.conductor.alive,
        })  # fmt: skip


def broker_outage(args: argparse.Namespace, workdir: Path) -> None:
    host, port = args.broker.rsplit(":", 1)
    broker = (host, int(port))
    with (
        fresh_database(args.backend, workdir) as url,
        Forwarder(broker) as to_api,
        Forwarder(broker) as to_conductor,
        Notifications(broker).running() as notes,
        deployment(
            workdir / "broker",
            url,
            settings={"CONDUCTOR__POLL_INTERVAL": "2", "QUOTAS__MAX_CLUSTERS_PER_PROJECT": "100000"},
            api_settings={"TRANSPORT_URL": f"rabbit://guest:guest@{to_api.address}/"},
            conductor_settings={"TRANSPORT_URL": f"rabbit://guest:guest@{to_conductor.address}/"},
        ) as deployed,
    ):
        template = deployed.template()
        to_api.refuse()
        to_conductor.refuse()
        during = deployed.create(template, "during")  # first in the queue: its completion is timed
        accepted = time.monotonic()
        times = []
        for index in range(args.requests):
            elapsed, response = timed(
                lambda i=index: deployed.client.post(  # type: ignore[misc]
                    "/v1/clusters", json={"name": f"during-{i}", "cluster_template_id": template}
                )
            )
            times.append((elapsed, response.status_code))
        deployed.wait_status(during, "CREATE_COMPLETE", deadline=120)
        polled = time.monotonic() - accepted
        emit({
            "figure": "broker_down_ms", "backend": args.backend, "request": "POST /v1/clusters", "n": len(times),
            "statuses": sorted({status for _, status in times}),
            "median_ms": round(statistics.median(t for t, _ in times), 1), "max_ms": round(max(t for t, _ in times), 1),
        })  # fmt: skip
        back = time.monotonic()
        to_api.accept()
        to_conductor.accept()
        end = "magnum.cluster.create.end"
        delivered = wait_for(lambda: notes.of(during), lambda e: end in e and len(e) >= 2, 60)
        emit({
            "figure": "broker_recovery", "backend": args.backend,
            "complete_by_polling_s": round(polled, 2),
            "held_notifications_delivered_s": round(time.monotonic() - back, 2),
            "delivered": sorted(delivered),
        })  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.outage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("postgresql", "mariadb"), default="postgresql")
    parser.add_argument("--broker", default="127.0.0.1:5672", help="RabbitMQ host:port (guest/guest); '' skips")
    parser.add_argument("--requests", type=int, default=20, help="requests per kind and state")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jeroboam-outage-") as work:
        database_outage(args, Path(work))
        if args.broker:
            broker_outage(args, Path(work))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
