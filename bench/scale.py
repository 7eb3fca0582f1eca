"""Scale: 10,000 clusters over 100 projects (sim driver), then what the control plane costs there.

Two parts, each printing one JSON line per figure:

``api`` — against any Magnum-API-compatible server, through the API only:

    .venv/bin/python -m bench.scale api http://127.0.0.1:9511 --projects 100 --per-project 100 \\
        [--conductor-pid PID ...] [--server-pid PID ...]

  1. load: raises the quota of projects ``scale-000`` … ``scale-099`` (admin), gives each a sim
     template and creates clusters until each has ``--per-project`` (``POST /v1/clusters``, fresh
     connection per request, ``--concurrency`` clients): accepted creates/s while the conductors
     build what was accepted;
  2. settle: the time until no cluster is ``*_IN_PROGRESS``;
  3. list latency: ``GET /v1/clusters`` as a member of one project and as an admin of all
     projects (the first page: ``[api] max_limit`` rows), and ``?limit=100``;
  4. accepted creates/s at scale (a burst into ``scale-extra``, deleted afterwards);
  5. the resident memory of ``--conductor-pid`` processes (with their descendants).

``cycle`` — in-process, on the deployment's database (stop its conductors first: this part runs
one itself, with the same settings: ``--config FILE``/``JEROBOAM_*`` variables, ``--data-dir``):

    .venv/bin/python -m bench.scale cycle --data-dir DATA [--config FILE]
    .venv/bin/python -m bench.scale cycle --data-dir DATA --scratch-database --load-projects 10 --pad-to 10000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1/postgres

  ``--database-url`` points it at another database than the settings' (``--scratch-database``: a new
  database on that server, or a new SQLite file in ``--data-dir``, migrated, dropped at the end).

  The CPU time (``time.process_time``: every thread of the process) and the SQL statements (a
  SQLAlchemy ``before_cursor_execute`` counter) of the conductor's periodic work:
  a sync cycle when 0, 10 and 1,000 clusters changed (an accepted resize each, made through the
  services layer), a health pass over every settled cluster (the conductor's clock moved past
  ``health_polling_interval``) when 0, 10 and 1,000 clusters' health changed (a simulated node
  killed in each), an autoscaler pass when 0, 100 and 1,000 clusters have ``auto_scaling_enabled``
  (``--autoscaled``; each given a SIMULATED service its worker runs, so the pass observes, decides
  nothing and reschedules: the steady cost), and the harness's memory.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import resource
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    TEMPLATE,
    Api,
    Credentials,
    Run,
    Target,
    add_target_arguments,
    all_clusters,
    credentials_of,
    delete_all_clusters,
    emit,
    ensure_template,
    measure,
    measure_batch,
    rss_mib,
    set_cluster_quota,
    status_is,
    wait_settled,
)

PROJECT = "scale-{:03d}"


# -- api ----------------------------------------------------------------------------------------------
def load(args: argparse.Namespace, run: Run, user: Credentials, admin: Api) -> None:
    target = run.target
    per_project: Counter[str] = Counter(c["project_id"] for c in all_clusters(admin, detail=True))
    requests: list[bytes] = []
    for index in range(args.projects):
        project = PROJECT.format(index)
        missing = args.per_project - per_project.get(project, 0)
        if missing <= 0:
            continue
        if not set_cluster_quota(admin, project, args.per_project + 10):
            raise SystemExit(f"the admin credentials cannot raise the quota of {project}")
        member = user.for_project(project, "member,reader")
        template = ensure_template(Api(target, member), "scale-template")
        body = {"cluster_template_id": template, "master_count": 1, "node_count": 1}
        requests += [target.request("POST", "/v1/clusters", member, body=body, keep_alive=False)] * missing
    if requests:
        # Interleave the projects, as many tenants would.
        requests = [requests[i] for i in sorted(range(len(requests)), key=lambda i: (i % args.per_project, i))]
        figure = measure_batch(
            run, "scale", "POST /v1/clusters while loading", requests, (202,), concurrency=args.concurrency,
            fresh=True, unit="creates", extra={"loaded_through": "api"},
        )  # fmt: skip
        emit(figure)
    started = time.monotonic()
    counts = wait_settled(admin, timeout=args.settle_timeout)
    emit({
        "benchmark": "scale", "figure": "settle", "deployment": run.label, "clusters": sum(counts.values()),
        "statuses": counts, "seconds_after_load": round(time.monotonic() - started, 1),
    })  # fmt: skip


def api_main(args: argparse.Namespace) -> int:
    target = Target.parse(args.url)
    user, admin_credentials = credentials_of(args)
    run = Run(target, label=args.label, auth=user.mode, server_pids=args.server_pid)
    admin = Api(target, admin_credentials)
    if not args.skip_load:
        load(args, run, user, admin)
    total = len(all_clusters(admin, detail=False))
    member = user.for_project(PROJECT.format(0), "member,reader")
    lists = [
        ("GET /v1/clusters (one project)", member, "/v1/clusters"),
        ("GET /v1/clusters/detail (one project)", member, "/v1/clusters/detail"),
        ("GET /v1/clusters (admin, all projects, first page)", admin_credentials, "/v1/clusters"),
        ("GET /v1/clusters?limit=100 (admin, all projects)", admin_credentials, "/v1/clusters?limit=100"),
    ]
    for name, credentials, path in lists:
        rows = len(Api(target, credentials).call("GET", path, expect=(200,)).json()["clusters"])
        request = target.request("GET", path, credentials, keep_alive=False)
        for concurrency in args.concurrency_lists:
            figure = measure(
                run, "scale", name, status_is(request, 200), concurrency=concurrency, seconds=args.seconds,
                fresh=True, extra={"clusters": total, "rows_per_page": rows},
            )  # fmt: skip
            emit(figure)
    if not args.skip_create_burst:
        create_burst(args, run, user, admin, total)
    if args.conductor_pid:
        emit({
            "benchmark": "scale", "figure": "conductor memory", "deployment": run.label, "clusters": total,
            "rss_mib": rss_mib(args.conductor_pid), "pids": args.conductor_pid,
        })  # fmt: skip
    return 0


def create_burst(args: argparse.Namespace, run: Run, user: Credentials, admin: Api, total: int) -> None:
    target = run.target
    project = "scale-extra"
    if not set_cluster_quota(admin, project, 10**6):
        print("create burst skipped: the admin credentials cannot raise the quota", file=sys.stderr)
        return
    member = user.for_project(project, "member,reader")
    api = Api(target, member)
    template = ensure_template(api, "scale-template")
    body = {"cluster_template_id": template, "master_count": 1, "node_count": 1}
    request = target.request("POST", "/v1/clusters", member, body=body, keep_alive=False)
    figure = measure(
        run, "scale", "POST /v1/clusters at scale", status_is(request, 202), concurrency=args.concurrency,
        seconds=args.seconds, fresh=True, unit="creates", extra={"clusters": total},
    )  # fmt: skip
    emit(figure)
    wait_settled(api, timeout=args.settle_timeout)
    delete_all_clusters(api)


# -- cycle ------------------------------------------------------------------------------------------------
class Statements:
    """Counts the SQL statements an engine executes (every thread)."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.count = 0
        self._lock = threading.Lock()
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        with self._lock:
            self.count += 1


class Clock:
    """The conductor's clock: real time plus an offset the harness moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@contextlib.contextmanager
def measured(statements: Statements, figure: dict[str, Any]) -> Iterator[None]:
    gc.collect()
    cpu, wall, before = time.process_time(), time.perf_counter(), statements.count
    yield
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    figure.update(
        cpu_ms=round(cpu * 1000, 2), wall_ms=round(wall * 1000, 1), queries=statements.count - before,
    )  # fmt: skip


def cycle_main(args: argparse.Namespace) -> int:
    with scratch_database(args) as url:
        return cycle_on(args, url)


@contextlib.contextmanager
def scratch_database(args: argparse.Namespace) -> Iterator[str | None]:
    """``--database-url`` as given, or with ``--scratch-database`` a new, migrated database on its
    server (a new SQLite file in ``--data-dir`` when no URL is given), dropped at the end."""
    from sqlalchemy import create_engine, make_url, text

    from jeroboam.db import migrate

    if not args.scratch_database:
        yield args.database_url
        return
    name = f"jeroboam_bench_{os.getpid()}"
    if not args.database_url or args.database_url.startswith("sqlite"):
        path = Path(args.data_dir or ".") / f"{name}.sqlite"
        url = f"sqlite:///{path}"
        engine = create_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        try:
            yield url
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    server = make_url(args.database_url)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        engine = create_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url
    finally:
        force = " WITH (FORCE)" if server.get_backend_name() == "postgresql" else ""
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


def cycle_on(args: argparse.Namespace, url: str | None) -> int:
    from sqlalchemy import func, select

    from jeroboam.conductor.worker import Conductor
    from jeroboam.config import load_settings
    from jeroboam.context import RequestContext
    from jeroboam.db.models import Cluster, NodeGroup
    from jeroboam.domain import states
    from jeroboam.drivers.sim import SimDriver
    from jeroboam.pki.secrets import load_keyring
    from jeroboam.rpc.notifications import NullNotifier
    from jeroboam.rpc.wakeup import InProcessWaker, NullWaker
    from jeroboam.services.wiring import Services

    overrides: dict[str, Any] = {"data_dir": Path(args.data_dir)} if args.data_dir else {}
    settings = load_settings(Path(args.config) if args.config else None, **overrides)
    if url:
        settings = settings.model_copy(update={"database": settings.database.model_copy(update={"connection": url})})
    keyring = load_keyring(settings)
    services = Services.build(settings, waker=NullWaker(), keyring=keyring)
    db = services.db
    clock = Clock()
    conductor = Conductor(
        db, services.drivers, settings, notifier=NullNotifier(), wakeups=InProcessWaker(), keyring=keyring,
        clock=clock,
    )  # fmt: skip
    statements = Statements(db.engine)
    interval = settings.conductor.health_polling_interval
    settled = [s.value for s in states.COMPLETE]
    with db.read() as session:
        total = session.scalar(select(func.count(Cluster.id))) or 0
        complete = list(
            session.execute(
                select(Cluster.uuid, Cluster.project_id).where(Cluster.status.in_(settled)).order_by(Cluster.id)
            ).all()
        )
    base = {"benchmark": "scale", "deployment": args.label, "clusters": total, "measured": "in-process conductor"}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def run_until_idle() -> int:
        """Periodic passes until nothing is due: what the loop does between two sleeps."""
        handled = 0
        while True:
            done = conductor.cycle()
            conductor.wait_idle()
            handled += done
            if not done:
                return handled

    def health_pass(changed: int) -> None:
        clock.offset += timedelta(seconds=interval + 1)  # every settled cluster is due again
        figure = {**base, "figure": "health pass", "health_changed": changed}
        with measured(statements, figure):
            figure["clusters_handled"] = run_until_idle()
        figure["cpu_us_per_cluster"] = round(figure["cpu_ms"] * 1000 / max(figure["clusters_handled"], 1), 1)
        emit(figure)

    if args.load_projects and total < args.load_projects * args.load_per_project:
        total = load_through_services(args, services, statements, run_until_idle, base)
        base["clusters"] = total
        with db.read() as session:
            complete = list(
                session.execute(
                    select(Cluster.uuid, Cluster.project_id).where(Cluster.status.in_(settled)).order_by(Cluster.id)
                ).all()
            )

    if args.pad_to and total < args.pad_to:
        total = pad_with_copies(services, args.pad_to, clock)
        base["clusters"] = total

    # The first pass settles whatever health is stale, so later passes see only what changes.
    health_pass(-1)
    health_pass(0)
    for changed in args.changed:
        victims = complete[:changed]
        for uuid, project in victims:  # an accepted resize each, through the services layer
            context = RequestContext(project_id=project, user_id="bench", roles=frozenset({"member", "reader"}))
            with db.read() as session:
                count = session.scalar(
                    select(NodeGroup.node_count).where(NodeGroup.cluster_id == uuid, NodeGroup.role != "master")
                )
            services.clusters.resize(context, uuid, 2 if count == 1 else 1)
        figure = {**base, "figure": "sync cycle", "changed": changed, "changed_by": "services layer (resize)"}
        with measured(statements, figure):
            figure["clusters_handled"] = run_until_idle()
        emit(figure)
    sim = services.drivers.get("sim")
    for changed in args.changed:
        if not changed or not isinstance(sim, SimDriver):
            continue
        for uuid, _ in complete[-changed:]:
            state = sim.read_state(uuid)
            nodes = [n.name for g in state.groups.values() for n in g.nodes if n.alive] if state else []
            if nodes:
                sim.kill_node(uuid, nodes[-1])
        health_pass(changed)
        for uuid, project in complete[-changed:]:  # repair them (not measured): a resize converges
            context = RequestContext(project_id=project, user_id="bench", roles=frozenset({"member", "reader"}))
            with contextlib.suppress(Exception):
                services.clusters.resize(context, uuid, 1)
        run_until_idle()
    for enabled in args.autoscaled:
        autoscaler_pass(conductor, services, clock, statements, complete[:enabled], base)
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    emit({
        **base, "figure": "conductor memory", "max_rss_mib": round(max_rss / 1024, 1),
        "max_rss_before_cycles_mib": round(rss_before / 1024, 1),
    })  # fmt: skip
    return 0


def pad_with_copies(services: Any, target: int, clock: Clock) -> int:
    """Rows only, for the passes that must not read them: copies of a built cluster (with its
    nodegroups), settled, their next health check a year away, no simulated state. They make the
    tables and indexes as large as ``target`` clusters without building each one."""
    from sqlalchemy import func, insert, select

    from jeroboam.db.models import Cluster, NodeGroup
    from jeroboam.domain.identifiers import new_uuid

    db = services.db
    with db.read() as session:
        have = int(session.scalar(select(func.count(Cluster.id))) or 0)
        model = session.scalars(select(Cluster).where(Cluster.status == "CREATE_COMPLETE").limit(1)).one()
        groups = list(session.scalars(select(NodeGroup).where(NodeGroup.cluster_id == model.uuid)))
    skip = {"id", "uuid", "name", "lease_owner", "lease_expires_at", "autoscale_at", "autoscaler_state"}
    columns = [c.key for c in Cluster.__table__.columns if c.key not in skip]
    ng_columns = [c.key for c in NodeGroup.__table__.columns if c.key not in ("id", "uuid", "cluster_id")]
    later = clock() + timedelta(days=365)
    for start in range(have, target, 1000):
        clusters, nodegroups = [], []
        for index in range(start, min(target, start + 1000)):
            uuid = new_uuid()
            row = {name: getattr(model, name) for name in columns}
            clusters.append({**row, "uuid": uuid, "name": f"pad-{index}", "next_check_at": later})
            nodegroups += [{**{n: getattr(g, n) for n in ng_columns}, "uuid": new_uuid(), "cluster_id": uuid}
                           for g in groups]  # fmt: skip
        with db.transaction() as session:
            session.execute(insert(Cluster), clusters)
            session.execute(insert(NodeGroup), nodegroups)
    return target


def autoscaler_pass(
    conductor: Any, services: Any, clock: Clock, statements: Statements, enabled: list[Any], base: dict[str, Any]
) -> None:
    """Switch autoscaling on for exactly ``enabled`` clusters (the labels a PATCH would set), give
    each a SIMULATED service that its worker runs, then measure an autoscaler pass over them (the
    conductor's clock moved past ``[autoscaler] interval``): batches until nothing is due."""
    from sqlalchemy import select, update

    from jeroboam.db.models import Cluster
    from jeroboam.drivers.sim import SimDriver

    uuids = [uuid for uuid, _ in enabled]
    with services.db.transaction() as session:
        session.execute(update(Cluster).where(Cluster.autoscale_at.is_not(None)).values(autoscale_at=None))
        for cluster in session.scalars(select(Cluster).where(Cluster.uuid.in_(uuids))):
            cluster.labels = {**cluster.labels, "auto_scaling_enabled": "true", "max_node_count": "3"}
            cluster.autoscale_at = clock()
    sim = services.drivers.get("sim")
    if isinstance(sim, SimDriver):
        for uuid in uuids:
            sim.set_service(uuid, "web", replicas=1, cpu=0.25, memory_mib=128)
    interval = services.settings.autoscaler.interval

    def run() -> int:
        handled = 0
        while done := conductor.autoscale():
            handled += done
        conductor.wait_idle()
        return handled

    clock.offset += timedelta(seconds=interval + 1)
    run()  # the first pass records what it sees; the measured one is the steady state
    clock.offset += timedelta(seconds=interval + 1)
    figure = {**base, "figure": "autoscaler pass", "autoscaled": len(uuids)}
    with measured(statements, figure):
        figure["clusters_handled"] = run()
    figure["cpu_us_per_autoscaled_cluster"] = round(figure["cpu_ms"] * 1000 / max(len(uuids), 1), 1)
    emit(figure)


def load_through_services(
    args: argparse.Namespace, services: Any, statements: Statements, run_until_idle: Any, base: dict[str, Any]
) -> int:
    """Create the missing clusters through the services layer (no HTTP), then let the in-process
    conductor build them; one figure for each half."""
    from sqlalchemy import func, select

    from jeroboam.context import RequestContext
    from jeroboam.db.models import Cluster, Quota

    db = services.db
    requests = []
    with db.read() as session:
        have = dict(
            session.execute(select(Cluster.project_id, func.count(Cluster.id)).group_by(Cluster.project_id)).all()
        )
    for index in range(args.load_projects):
        project = PROJECT.format(index)
        missing = args.load_per_project - have.get(project, 0)
        if missing <= 0:
            continue
        with db.transaction() as session:
            if session.scalar(select(Quota.id).where(Quota.project_id == project)) is None:
                session.add(Quota(project_id=project, resource="Cluster", hard_limit=args.load_per_project + 10))
        context = RequestContext(project_id=project, user_id="bench", roles=frozenset({"member", "reader"}))
        template = services.cluster_templates.create(context, {**TEMPLATE, "name": "scale-template", "labels": {}})
        requests += [(context, template.uuid)] * missing
    figure = {**base, "figure": "create through the services layer", "creates": len(requests)}
    with measured(statements, figure):
        for context, template in requests:
            services.clusters.create(
                context, {"cluster_template_id": template, "master_count": 1, "node_count": 1},
                template_missing_is_invalid=False,
            )  # fmt: skip
    figure["creates_per_s"] = round(len(requests) / max(figure["wall_ms"] / 1000, 1e-9), 1)
    emit(figure)
    figure = {**base, "figure": "conductor builds the created clusters", "clusters_built": len(requests)}
    with measured(statements, figure):
        run_until_idle()
    figure["cpu_ms_per_cluster"] = round(figure["cpu_ms"] / max(len(requests), 1), 2)
    figure["queries_per_cluster"] = round(figure["queries"] / max(len(requests), 1), 1)
    emit(figure)
    with db.read() as session:
        return int(session.scalar(select(func.count(Cluster.id))) or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parts = parser.add_subparsers(dest="part", required=True)
    api = parts.add_parser("api", help="load through the API, then list latency and creates/s")
    add_target_arguments(api)
    api.add_argument("--projects", type=int, default=100)
    api.add_argument("--per-project", type=int, default=100)
    api.add_argument("--concurrency", type=int, default=4, help="clients while loading and for creates/s")
    api.add_argument("--concurrency-lists", type=int, nargs="+", default=[1, 4], help="clients for list latency")
    api.add_argument("--seconds", type=float, default=5.0, help="duration of each list and burst figure")
    api.add_argument("--settle-timeout", type=float, default=1800.0)
    api.add_argument("--skip-load", action="store_true", help="measure what is there")
    api.add_argument("--skip-create-burst", action="store_true")
    api.add_argument("--conductor-pid", type=int, action="append", default=[], help="conductor process (memory)")
    cycle = parts.add_parser("cycle", help="in-process: CPU and queries of the conductor's periodic work")
    cycle.add_argument("--config", help="the deployment's TOML configuration")
    cycle.add_argument("--data-dir", help="the all-in-one's data directory (its SQLite database and sim state)")
    cycle.add_argument("--changed", type=int, nargs="+", default=[0, 10, 1000])
    cycle.add_argument("--label", default="")
    cycle.add_argument("--database-url", help="SQLAlchemy URL of the database (default: the settings')")
    cycle.add_argument(
        "--scratch-database", action="store_true", help="a new database on --database-url's server, dropped at the end"
    )
    cycle.add_argument("--autoscaled", type=int, nargs="+", default=[0, 100, 1000], help="clusters autoscaled")
    cycle.add_argument("--load-projects", type=int, default=0, help="first create clusters through the services layer")
    cycle.add_argument("--load-per-project", type=int, default=100)
    cycle.add_argument(
        "--pad-to", type=int, default=0, help="then copy settled clusters' rows (not built) up to this many clusters"
    )
    args = parser.parse_args(argv)
    return api_main(args) if args.part == "api" else cycle_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
