"""The conductor's periodic work on every backend: its cost follows what changed, not the number
of clusters (counted in SQL statements, never in time), and the batched health checks keep the
engine's guarantees — fenced writes, requests accepted meanwhile due at once, autoheal."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update

from jeroboam.conductor.worker import Conductor
from jeroboam.context import RequestContext
from jeroboam.db import migrate
from jeroboam.db.models import Cluster, Operation
from jeroboam.db.repositories import leases as leases_repo
from jeroboam.drivers.sim import SimDriver
from jeroboam.rpc.notifications import NullNotifier
from jeroboam.rpc.wakeup import InProcessWaker, NullWaker
from jeroboam.services.wiring import Services
from tests.conftest import make_settings
from tests.support.databases import database_or_skip

INTERVAL = 60
MEMBER = RequestContext(project_id="periodic", user_id="tester", roles=frozenset({"member", "reader"}))
TEMPLATE = {
    "name": "sim",
    "coe": "kubernetes",
    "image_id": "fedora-coreos",
    "external_network_id": "public",
    "flavor_id": "m1.small",
    "master_flavor_id": "m1.small",
    "driver": "sim",
    "labels": {},
}


class Statements:
    """SQL statements an engine sends (transaction control and pragmas aside: they differ by backend)."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        self._lock = threading.Lock()
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            with self._lock:
                self.count += 1


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


class Periodic:
    """Services and a conductor that is not started: the test drives its passes."""

    def __init__(self, services: Services, conductor: Conductor, clock: Clock, statements: Statements) -> None:
        self.services = services
        self.conductor = conductor
        self.clock = clock
        self.statements = statements
        sim = services.drivers.get("sim")
        assert isinstance(sim, SimDriver)
        self.sim = sim
        self.template = services.cluster_templates.create(MEMBER, dict(TEMPLATE)).uuid

    def run_until_idle(self) -> int:
        handled = 0
        while done := self.conductor.cycle():
            self.conductor.wait_idle()
            handled += done
        self.conductor.wait_idle()
        return handled

    def create(self, count: int, **values: Any) -> list[str]:
        made = [
            self.services.clusters.create(
                MEMBER, {"cluster_template_id": self.template, "node_count": 1, **values},
                template_missing_is_invalid=False,
            ).uuid
            for _ in range(count)
        ]  # fmt: skip
        self.run_until_idle()
        return made

    def health_pass(self) -> tuple[int, int]:
        """Move the clock past the polling interval and run until idle: (clusters, statements)."""
        self.clock.offset += timedelta(seconds=INTERVAL + 1)
        before = self.statements.count
        handled = self.run_until_idle()
        return handled, self.statements.count - before

    def check_batch(self, claims: list[leases_repo.Claim]) -> None:
        conductor = self.conductor
        conductor.reconciler.health.check_batch(claims, conductor.owner, conductor._health_pool, budget=10)

    def row(self, uuid: str) -> Cluster:
        with self.services.db.transaction() as session:
            return session.scalars(select(Cluster).where(Cluster.uuid == uuid)).one()

    def kill_a_worker(self, uuid: str) -> str:
        state = self.sim.read_state(uuid)
        assert state is not None
        node = next(n.name for name, g in state.groups.items() if "worker" in name for n in g.nodes)
        self.sim.kill_node(uuid, node)
        return node


@pytest.fixture
def periodic(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Periodic]:
    workdir = tmp_path_factory.mktemp(f"periodic-{backend}")
    with database_or_skip(backend, workdir) as url:
        settings = make_settings(
            workdir,
            url,
            conductor={"lease_seconds": 30, "health_polling_interval": INTERVAL, "workers": 1},
            sim={"state_dir": workdir / "sim", "latency_seconds": 0.0},
            x509={"key_algorithm": "ec"},
            quotas={"max_clusters_per_project": 1000},
        )
        services = Services.build(settings, waker=NullWaker())
        migrate.upgrade(services.db.engine)
        clock = Clock()
        conductor = Conductor(
            services.db, services.drivers, settings, notifier=NullNotifier(), wakeups=InProcessWaker(),
            host="periodic", keyring=services.keyring, clock=clock,
        )  # fmt: skip
        try:
            yield Periodic(services, conductor, clock, Statements(services.db.engine))
        finally:
            conductor.stop(timeout=5)
            services.db.dispose()


def test_a_pass_with_nothing_due_reads_two_indexes_whatever_the_clusters(periodic: Periodic) -> None:
    periodic.create(3)
    periodic.health_pass()
    periodic.conductor.cycle()  # the first pass also runs the repair sweep
    before = periodic.statements.count
    assert periodic.conductor.cycle() == 0
    assert periodic.statements.count - before == 2  # due in-progress work; settled clusters due for health


def test_health_pass_statements_do_not_grow_with_unchanged_clusters(periodic: Periodic) -> None:
    periodic.create(3)
    periodic.health_pass()  # settles whatever the first observations changed
    handled, few = periodic.health_pass()
    assert handled == 3
    periodic.create(27)
    periodic.health_pass()
    handled, many = periodic.health_pass()
    assert handled == 30
    assert many == few


def test_a_health_change_is_written_and_the_others_only_rescheduled(periodic: Periodic) -> None:
    sick, *well = periodic.create(3)
    periodic.health_pass()
    node = periodic.kill_a_worker(sick)
    periodic.health_pass()
    row = periodic.row(sick)
    assert row.health_status == "UNHEALTHY"
    assert row.health_status_reason[f"{node}.Ready"] == "False"
    for uuid in well:
        assert periodic.row(uuid).health_status == "HEALTHY"
    for uuid in (sick, *well):
        row = periodic.row(uuid)
        assert row.lease_owner is None
        assert row.lease_expires_at is None
        assert row.next_check_at is not None
        assert row.next_check_at > periodic.clock() + timedelta(seconds=INTERVAL - 5)


def test_a_health_batch_whose_claims_were_taken_over_writes_nothing(periodic: Periodic) -> None:
    uuids = periodic.create(2)
    periodic.health_pass()
    periodic.kill_a_worker(uuids[0])
    periodic.clock.offset += timedelta(seconds=INTERVAL + 1)
    now = periodic.clock()
    with periodic.services.db.transaction() as session:
        claims = leases_repo.claim_settled(
            session, periodic.conductor.owner, now, now + timedelta(seconds=30), 10, skip_locked=False
        )
    assert {c.cluster_id for c in claims} == set(uuids)
    with periodic.services.db.transaction() as session:  # another conductor takes both over
        session.execute(
            update(Cluster)
            .where(Cluster.uuid.in_(uuids))
            .values(lease_owner="other", lease_token=Cluster.lease_token + 1)
        )
    before = {uuid: periodic.row(uuid) for uuid in uuids}
    periodic.conductor.reconciler.health.check_batch(
        claims, periodic.conductor.owner, periodic.conductor._health_pool, 10
    )
    for uuid in uuids:
        row = periodic.row(uuid)
        assert row.lease_owner == "other"
        assert row.health_status == before[uuid].health_status == "HEALTHY"
        assert row.next_check_at == before[uuid].next_check_at


def test_a_request_accepted_during_a_health_batch_is_due_at_once(periodic: Periodic) -> None:
    (uuid,) = periodic.create(1)
    periodic.clock.offset += timedelta(seconds=INTERVAL + 1)
    now = periodic.clock()
    with periodic.services.db.transaction() as session:
        claims = leases_repo.claim_settled(
            session, periodic.conductor.owner, now, now + timedelta(seconds=30), 10, skip_locked=False
        )
    periodic.services.clusters.resize(MEMBER, uuid, 2)  # accepted while the batch holds the lease
    periodic.conductor.reconciler.health.check_batch(
        claims, periodic.conductor.owner, periodic.conductor._health_pool, 10
    )
    row = periodic.row(uuid)
    assert row.status == "UPDATE_IN_PROGRESS"
    assert row.lease_owner is None
    assert row.next_check_at is not None
    assert row.next_check_at <= periodic.clock()
    periodic.run_until_idle()
    assert periodic.row(uuid).status == "UPDATE_COMPLETE"


def test_autoheal_starts_from_a_health_pass_and_replaces_the_node(periodic: Periodic) -> None:
    (uuid,) = periodic.create(1, labels={"auto_healing_enabled": "true"})
    periodic.health_pass()
    node = periodic.kill_a_worker(uuid)
    periodic.clock.offset += timedelta(seconds=INTERVAL + 1)
    periodic.conductor.check_health()
    assert periodic.row(uuid).status == "UPDATE_IN_PROGRESS"
    with periodic.services.db.transaction() as session:
        latest = session.scalars(
            select(Operation).where(Operation.cluster_id == uuid).order_by(Operation.id.desc())
        ).first()
        assert latest is not None
        assert latest.request == {"autoheal": True, "nodes": [node]}
    periodic.run_until_idle()
    assert periodic.row(uuid).status == "UPDATE_COMPLETE"
    periodic.health_pass()
    assert periodic.row(uuid).health_status == "HEALTHY"


def test_a_backlog_larger_than_the_workers_does_not_wait_for_the_poll_interval(periodic: Periodic) -> None:
    """With one worker, no wake-ups and an hour between polls, three clusters accepted at once are
    all built: the loop looks again as soon as a reconcile frees its slot."""
    made = [
        periodic.services.clusters.create(
            MEMBER, {"cluster_template_id": periodic.template, "node_count": 1}, template_missing_is_invalid=False
        ).uuid
        for _ in range(3)
    ]
    settings = periodic.services.settings.model_copy(deep=True)
    settings.conductor.poll_interval = 3600
    settings.conductor.workers = 1
    services = periodic.services
    conductor = Conductor(
        services.db, services.drivers, settings, notifier=NullNotifier(), wakeups=InProcessWaker(), host="backlog",
        keyring=services.keyring,
    )  # fmt: skip
    conductor.start()
    try:
        deadline = time.monotonic() + 60  # a guard against hanging; an hour-long poll would trip it
        while any(periodic.row(uuid).status != "CREATE_COMPLETE" for uuid in made):
            assert time.monotonic() < deadline, [periodic.row(uuid).status for uuid in made]
            time.sleep(0.05)
    finally:
        conductor.stop(timeout=5)


def masters_of(periodic: Periodic, uuid: str) -> list[str]:
    state = periodic.sim.read_state(uuid)
    assert state is not None
    return [n.name for name, g in state.groups.items() if "master" in name for n in g.nodes]


def test_a_dead_manager_behind_a_front_is_named_by_health_and_replaced_by_autoheal(periodic: Periodic) -> None:
    (uuid,) = periodic.create(1, master_count=3, master_lb_enabled=True, labels={"auto_healing_enabled": "true"})
    periodic.health_pass()
    front = periodic.row(uuid).api_address
    reason = periodic.row(uuid).health_status_reason
    assert reason["api_address"] == f"{front}: the simulated API front of 3 managers"
    assert reason["managers"].startswith("3 of 3 managers answer")
    first, *_ = masters_of(periodic, uuid)
    periodic.sim.kill_node(uuid, first)
    periodic.clock.offset += timedelta(seconds=INTERVAL + 1)
    periodic.conductor.check_health()
    row = periodic.row(uuid)
    assert (row.health_status, row.status, row.api_address) == ("UNHEALTHY", "UPDATE_IN_PROGRESS", front)
    assert row.health_status_reason["api"] == "ok"  # the front leads to the two that live
    assert row.health_status_reason["managers"].startswith(
        f"2 of 3 managers answer: {first} DOWN (simulated node failure (kill_node))"
    )
    periodic.run_until_idle()
    periodic.health_pass()
    row = periodic.row(uuid)
    assert (row.health_status, row.status, row.api_address) == ("HEALTHY", "UPDATE_COMPLETE", front)
    assert row.health_status_reason["managers"].startswith("3 of 3 managers answer")
    assert first not in masters_of(periodic, uuid)
    assert len(masters_of(periodic, uuid)) == 3


def test_without_a_front_a_dead_single_manager_is_reported_until_autoheal_moves_the_endpoint(
    periodic: Periodic,
) -> None:
    (uuid,) = periodic.create(1, labels={"auto_healing_enabled": "true"})
    periodic.health_pass()
    before = periodic.row(uuid).api_address
    [master] = masters_of(periodic, uuid)
    periodic.sim.kill_node(uuid, master)
    periodic.clock.offset += timedelta(seconds=INTERVAL + 1)
    periodic.conductor.check_health()
    row = periodic.row(uuid)
    assert (row.health_status, row.status, row.api_address) == ("UNHEALTHY", "UPDATE_IN_PROGRESS", before)
    assert row.health_status_reason["api"] == (
        f"{before} does not answer a client: no simulated manager is alive behind it"
    )
    assert (
        row.health_status_reason["managers"]
        == f"0 of 1 manager answer: {master} DOWN (simulated node failure (kill_node))"
    )
    periodic.run_until_idle()  # autoheal: a new manager, which publishes its own endpoint
    periodic.health_pass()
    row = periodic.row(uuid)
    assert row.health_status == "HEALTHY"
    assert row.api_address != before
    assert row.health_status_reason["api"] == "ok"
    assert row.health_status_reason["api_address"].startswith(f"{row.api_address}: simulated manager ")


def test_without_a_front_health_moves_api_address_to_a_manager_that_answers(periodic: Periodic) -> None:
    (uuid,) = periodic.create(1, master_count=3, master_lb_enabled=True)
    # The API refuses several masters without master_lb_enabled; a row that says so anyway (made
    # before that rule, or by an operator) is a cluster without a front, whose endpoint is a manager.
    with periodic.services.db.transaction() as session:
        session.execute(update(Cluster).where(Cluster.uuid == uuid).values(master_lb_enabled=False))
    periodic.health_pass()
    before = periodic.row(uuid).api_address
    first, second, _ = masters_of(periodic, uuid)
    periodic.sim.kill_node(uuid, first)
    periodic.health_pass()  # no autoheal: the health check alone moves the endpoint
    row = periodic.row(uuid)
    assert row.status == "CREATE_COMPLETE"
    assert row.api_address != before
    assert row.health_status == "UNHEALTHY"  # a manager is down, though the endpoint answers
    assert row.health_status_reason["api"] == "ok"
    assert row.health_status_reason["api_address"] == (
        f"{row.api_address}: simulated manager {second}, the first that answers ({first} does not) "
        f"(moved from {before}, which no longer answers)"
    )
    assert row.health_status_reason["managers"].startswith(f"2 of 3 managers answer: {first} DOWN")
