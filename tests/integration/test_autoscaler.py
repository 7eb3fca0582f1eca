"""The autoscaler on every backend, with the sim driver's SIMULATED workload: it grows a nodegroup
for work that cannot be placed (within max and the project's node quota), removes idle nodes
(never protected ones, never below min), acts through operations like a user's resize, yields to
a user's requests, and its operations are resumed by another conductor after a crash."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from jeroboam.conductor.worker import Conductor
from jeroboam.context import RequestContext
from jeroboam.db import migrate
from jeroboam.db.models import Cluster, NodeGroup, Operation
from jeroboam.db.repositories import autoscaler as autoscaler_repo
from jeroboam.drivers.sim import SimDriver
from jeroboam.errors import InvalidInputError
from jeroboam.rpc.notifications import Notifier
from jeroboam.rpc.wakeup import InProcessWaker, NullWaker
from jeroboam.services.cluster_views import ClusterPatch
from jeroboam.services.wiring import Services
from tests.conftest import make_settings
from tests.integration.test_periodic_work import TEMPLATE, Clock, Statements
from tests.support.databases import database_or_skip

MEMBER = RequestContext(project_id="autoscaled", user_id="tester", roles=frozenset({"member", "reader"}))
INTERVAL = 30
UNNEEDED = 120
AUTOSCALED = {"auto_scaling_enabled": "true", "min_node_count": "1", "max_node_count": "3"}
SIMULATED = "Simulated by the sim driver: nothing real was built."  # every sim cluster says so


class Recorder(Notifier):
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, event_type: str, payload: dict[str, Any]) -> None:
        self.events.append((event_type, payload))


class Scaled:
    """Services, a sim driver and a conductor that is not started: the test drives its passes."""

    def __init__(self, services: Services, conductor: Conductor, clock: Clock, notifier: Recorder) -> None:
        self.services = services
        self.conductor = conductor
        self.clock = clock
        self.notifier = notifier
        self.statements = Statements(services.db.engine)
        sim = services.drivers.get("sim")
        assert isinstance(sim, SimDriver)
        self.sim = sim
        self.template = services.cluster_templates.create(MEMBER, dict(TEMPLATE)).uuid

    def converge(self) -> None:
        """Reconcile whatever is due until nothing is (no autoscaler pass)."""
        while self.conductor.claim_and_start():
            self.conductor.wait_idle()
        self.conductor.wait_idle()

    def autoscale(self, after: float = INTERVAL + 1) -> int:
        """Move the clock on, run one autoscaler batch, then converge what it started."""
        self.clock.offset += timedelta(seconds=after)
        handled = self.conductor.autoscale()
        self.converge()
        return handled

    def create(self, labels: dict[str, str] | None = None, node_count: int = 1) -> str:
        uuid = self.services.clusters.create(
            MEMBER,
            {"cluster_template_id": self.template, "node_count": node_count, "labels": labels or AUTOSCALED},
            template_missing_is_invalid=False,
        ).uuid
        self.converge()
        return uuid

    def row(self, uuid: str) -> Cluster:
        with self.services.db.transaction() as session:
            return session.scalars(select(Cluster).where(Cluster.uuid == uuid)).one()

    def workers(self, uuid: str) -> int:
        with self.services.db.transaction() as session:
            return session.scalars(
                select(NodeGroup.node_count).where(NodeGroup.cluster_id == uuid, NodeGroup.name == "default-worker")
            ).one()

    def sim_workers(self, uuid: str) -> list[str]:
        state = self.sim.read_state(uuid)
        assert state is not None
        return [node.name for node in state.nodes("default-worker")]

    def operations(self, uuid: str) -> list[Operation]:
        with self.services.db.transaction() as session:
            return list(session.scalars(select(Operation).where(Operation.cluster_id == uuid).order_by(Operation.id)))


@pytest.fixture
def scaled(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scaled]:
    workdir = tmp_path_factory.mktemp(f"autoscaler-{backend}")
    with database_or_skip(backend, workdir) as url:
        settings = make_settings(
            workdir,
            url,
            conductor={"lease_seconds": 30, "health_polling_interval": 3600, "workers": 2},
            autoscaler={
                "interval": INTERVAL, "scale_down_unneeded_time": UNNEEDED, "scale_down_delay_after_add": 0,
                "pending_grace": 0,
            },
            sim={"state_dir": workdir / "sim", "latency_seconds": 0.0},
            x509={"key_algorithm": "ec"},
            quotas={"max_clusters_per_project": 1000},
        )  # fmt: skip
        yield from _scaled(settings)


def _scaled(settings: Any) -> Iterator[Scaled]:
    services = Services.build(settings, waker=NullWaker())
    migrate.upgrade(services.db.engine)
    clock = Clock()
    notifier = Recorder()
    conductor = Conductor(
        services.db, services.drivers, settings, notifier=notifier, wakeups=InProcessWaker(),
        host="autoscaler", keyring=services.keyring, clock=clock,
    )  # fmt: skip
    try:
        yield Scaled(services, conductor, clock, notifier)
    finally:
        conductor.stop(timeout=5)
        services.db.dispose()


def test_pending_work_grows_the_cluster_through_a_resize_operation(scaled: Scaled) -> None:
    uuid = scaled.create()
    # m1.small: 1 CPU, 1024 MiB. One node takes two replicas; three more need two more nodes.
    scaled.sim.set_service(uuid, "web", replicas=5, cpu=0.5, memory_mib=400)
    assert scaled.autoscale() == 1
    row = scaled.row(uuid)
    assert row.status == "UPDATE_COMPLETE"
    assert row.status_reason == (
        f"autoscaler: 3 tasks of service web pending (insufficient resources); default-worker 1 → 3 ({SIMULATED[:-1]})."
    )
    assert scaled.workers(uuid) == 3
    assert len(scaled.sim_workers(uuid)) == 3
    resize = scaled.operations(uuid)[-1]
    assert (resize.action, resize.user_id, resize.state) == ("resize", "autoscaler", "succeeded")
    assert resize.request["previous_node_count"] == 1
    events = [event for event, payload in scaled.notifier.events if payload["cluster_uuid"] == uuid]
    assert events[-2:] == ["magnum.cluster.update.start", "magnum.cluster.update.end"]
    # Everything runs now: the next passes change nothing.
    assert scaled.autoscale() == 1
    assert scaled.workers(uuid) == 3
    assert scaled.row(uuid).status == "UPDATE_COMPLETE"
    assert len(scaled.operations(uuid)) == 2


def test_growth_stops_at_max_and_the_health_reason_says_why(scaled: Scaled) -> None:
    uuid = scaled.create({**AUTOSCALED, "max_node_count": "2"})
    scaled.sim.set_service(uuid, "web", replicas=6, cpu=0.5, memory_mib=400)
    scaled.autoscale()
    assert scaled.workers(uuid) == 2
    assert "limited by max_node_count 2" in (scaled.row(uuid).status_reason or "")
    scaled.autoscale()
    assert scaled.workers(uuid) == 2
    note = scaled.row(uuid).health_status_reason["autoscaler"]
    assert note == (
        "2 tasks of service web pending (insufficient resources): nodegroup default-worker at its max_node_count"
    )


def test_work_no_node_could_take_is_no_reason_to_grow(scaled: Scaled) -> None:
    uuid = scaled.create()
    scaled.sim.set_service(uuid, "huge", replicas=1, cpu=4, memory_mib=100)
    scaled.autoscale()
    assert scaled.workers(uuid) == 1
    row = scaled.row(uuid)
    assert row.status == "CREATE_COMPLETE"
    assert row.health_status_reason["autoscaler"] == (
        "1 task of service huge pending (insufficient resources): "
        "no node of any autoscaled nodegroup could ever take them"
    )
    scaled.sim.set_service(uuid, "huge", replicas=0)  # gone: the note goes too
    scaled.autoscale()
    assert "autoscaler" not in scaled.row(uuid).health_status_reason


def test_idle_nodes_are_removed_after_the_unneeded_time_never_below_min_nor_protected(scaled: Scaled) -> None:
    uuid = scaled.create(node_count=1)
    scaled.sim.set_service(uuid, "web", replicas=5, cpu=0.5, memory_mib=400)
    scaled.autoscale()
    assert scaled.workers(uuid) == 3
    first, *others = scaled.sim_workers(uuid)
    scaled.sim.protect_node(uuid, others[0])
    scaled.sim.set_service(uuid, "web", replicas=0)
    scaled.autoscale()  # every node is seen idle from now on
    assert scaled.workers(uuid) == 3
    scaled.autoscale(after=UNNEEDED / 2)
    assert scaled.workers(uuid) == 3  # not idle long enough
    scaled.autoscale(after=UNNEEDED)
    assert scaled.workers(uuid) == 1
    assert scaled.sim_workers(uuid) == [others[0]]  # the protected one stays; min is 1
    row = scaled.row(uuid)
    assert row.status == "UPDATE_COMPLETE"
    assert row.status_reason is not None
    assert row.status_reason.startswith(f"autoscaler: nodes {first}, {others[1]} idle for")
    assert row.status_reason.endswith(f"(no task running); default-worker 3 → 1 ({SIMULATED[:-1]}).")
    scaled.autoscale(after=UNNEEDED * 2)
    assert scaled.workers(uuid) == 1


def test_growth_never_passes_the_projects_node_quota(backend: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp(f"autoscaler-quota-{backend}")
    with database_or_skip(backend, workdir) as url:
        settings = make_settings(
            workdir, url,
            conductor={"lease_seconds": 30, "health_polling_interval": 3600, "workers": 2},
            autoscaler={"interval": INTERVAL, "pending_grace": 0},
            quotas={"max_nodes_per_project": 3},
            sim={"state_dir": workdir / "sim", "latency_seconds": 0.0},
            x509={"key_algorithm": "ec"},
        )  # fmt: skip
        for scaled in _scaled(settings):
            uuid = scaled.create({**AUTOSCALED, "max_node_count": "9"})  # 1 master + 1 worker
            scaled.sim.set_service(uuid, "web", replicas=8, cpu=0.5, memory_mib=400)
            scaled.autoscale()
            assert scaled.workers(uuid) == 2
            assert "limited by the project's node quota" in (scaled.row(uuid).status_reason or "")
            scaled.autoscale()
            assert scaled.workers(uuid) == 2
            assert "quota leaves room for 0 more nodes" in scaled.row(uuid).health_status_reason["autoscaler"]


def test_a_user_request_accepted_during_the_pass_wins(scaled: Scaled) -> None:
    uuid = scaled.create()
    scaled.sim.set_service(uuid, "web", replicas=5, cpu=0.5, memory_mib=400)
    conductor = scaled.conductor
    scaled.clock.offset += timedelta(seconds=INTERVAL + 1)
    now = scaled.clock()
    with scaled.services.db.transaction() as session:
        claims = autoscaler_repo.claim_due(session, conductor.owner, now, now + timedelta(seconds=30), 10,
                                           skip_locked=False)  # fmt: skip
    assert [c.cluster_id for c in claims] == [uuid]
    # The user resizes while the autoscaler observes: the transition table accepts it...
    scaled.services.clusters.resize(MEMBER, uuid, 2)
    with scaled.services.db.transaction() as session:  # ...and the conductor holding the lease lets it run
        session.execute(update(Cluster).where(Cluster.uuid == uuid).values(lease_token=Cluster.lease_token))
    conductor.autoscaler.handle(claims, conductor.owner, conductor._autoscale_pool, budget=10)
    assert [op.user_id for op in scaled.operations(uuid)] == ["tester", "tester"]  # no autoscaler operation
    # The user's resize runs; then the autoscaler looks again at what the user left.
    with scaled.services.db.transaction() as session:
        session.execute(update(Cluster).where(Cluster.uuid == uuid).values(lease_owner=None, lease_expires_at=None))
    scaled.converge()
    assert scaled.workers(uuid) == 2
    scaled.autoscale()
    assert scaled.workers(uuid) == 3  # 2 nodes take 4 replicas; one more for the fifth
    assert scaled.operations(uuid)[-1].user_id == "autoscaler"


def test_a_user_resize_during_an_autoscaler_operation_wins(scaled: Scaled) -> None:
    uuid = scaled.create()
    scaled.sim.set_service(uuid, "web", replicas=5, cpu=0.5, memory_mib=400)
    scaled.clock.offset += timedelta(seconds=INTERVAL + 1)
    scaled.conductor.autoscale()  # accepted, not yet converged
    assert scaled.row(uuid).status == "UPDATE_IN_PROGRESS"
    scaled.services.clusters.resize(MEMBER, uuid, 1)  # the table accepts a resize while one runs
    scaled.converge()
    assert scaled.workers(uuid) == 1
    assert len(scaled.sim_workers(uuid)) == 1
    row = scaled.row(uuid)
    assert row.status == "UPDATE_COMPLETE"
    assert row.status_reason == SIMULATED  # the user's resize is the last word


def test_an_autoscaler_operation_is_resumed_by_another_conductor_after_a_crash(scaled: Scaled) -> None:
    uuid = scaled.create()
    scaled.sim.set_service(uuid, "web", replicas=3, cpu=0.5, memory_mib=400)
    scaled.clock.offset += timedelta(seconds=INTERVAL + 1)
    scaled.conductor.autoscale()
    now = scaled.clock()
    with scaled.services.db.transaction() as session:  # a conductor claims the work, then dies
        session.execute(
            update(Cluster).where(Cluster.uuid == uuid)
            .values(lease_owner="dead", lease_expires_at=now + timedelta(seconds=30),
                    lease_token=Cluster.lease_token + 1)
        )  # fmt: skip
    scaled.converge()
    assert scaled.row(uuid).status == "UPDATE_IN_PROGRESS"  # its lease still holds
    scaled.clock.offset += timedelta(seconds=31)
    scaled.converge()
    row = scaled.row(uuid)
    assert row.status == "UPDATE_COMPLETE"
    assert row.status_reason == (
        f"autoscaler: 1 task of service web pending (insufficient resources); default-worker 1 → 2 ({SIMULATED[:-1]})."
    )
    assert len(scaled.sim_workers(uuid)) == 2


def test_without_the_label_a_cluster_is_never_looked_at(scaled: Scaled) -> None:
    plain = scaled.create({"min_node_count": "1", "max_node_count": "3"})
    off = scaled.create({**AUTOSCALED, "auto_scaling_enabled": False})  # type: ignore[dict-item]
    for uuid in (plain, off):
        scaled.sim.set_service(uuid, "web", replicas=5, cpu=0.5, memory_mib=400)
        assert scaled.row(uuid).autoscale_at is None
    scaled.clock.offset += timedelta(seconds=INTERVAL + 1)
    before = scaled.statements.count
    assert scaled.conductor.autoscale() == 0
    assert scaled.statements.count - before == 1  # one indexed SELECT, nothing due
    scaled.converge()
    assert scaled.workers(plain) == scaled.workers(off) == 1


def patch_labels(scaled: Scaled, uuid: str, **changes: str) -> None:
    labels = {**scaled.row(uuid).labels, **changes}
    scaled.services.clusters.update(MEMBER, uuid, lambda _view: ClusterPatch({"labels": labels}, frozenset({"labels"})))


def test_switching_the_label_off_stops_the_autoscaler_at_once_and_on_again(scaled: Scaled) -> None:
    uuid = scaled.create()
    patch_labels(scaled, uuid, auto_scaling_enabled="false")
    assert scaled.row(uuid).autoscale_at is None
    scaled.sim.set_service(uuid, "web", replicas=5, cpu=0.5, memory_mib=400)
    assert scaled.autoscale() == 0
    assert scaled.workers(uuid) == 1
    patch_labels(scaled, uuid, auto_scaling_enabled="true", max_node_count="2")
    assert scaled.autoscale() == 1
    assert scaled.workers(uuid) == 2  # the new max
    with scaled.services.db.transaction() as session:  # a label the template gave, switched off
        cluster = session.scalars(select(Cluster).where(Cluster.uuid == uuid)).one()
        cluster.labels = {**cluster.labels, "auto_scaling_enabled": "false"}
    scaled.sim.set_service(uuid, "web", replicas=0)
    assert scaled.autoscale(after=UNNEEDED * 3) == 1  # seen disabled: stops, shrinks nothing
    assert scaled.row(uuid).autoscale_at is None
    assert scaled.autoscale(after=UNNEEDED * 3) == 0
    assert scaled.workers(uuid) == 2


def test_a_label_patch_may_change_only_the_autoscaler_labels_within_bounds(scaled: Scaled) -> None:
    uuid = scaled.create()
    with pytest.raises(InvalidInputError, match=r"node_count \(1\) of default-worker should be at least"):
        patch_labels(scaled, uuid, min_node_count="2")
    with pytest.raises(InvalidInputError, match="cannot change cluster property"):
        patch_labels(scaled, uuid, kube_tag="v1.31")
    assert scaled.row(uuid).labels == AUTOSCALED


@pytest.mark.parametrize(
    ("labels", "node_count", "message"),
    [
        ({"auto_scaling_enabled": "true", "min_node_count": "3", "max_node_count": "2"}, 2,
         r"max_node_count \(2\) of default-worker should be greater or equal to min_node_count \(3\)"),
        ({"min_node_count": "2"}, 1, r"node_count \(1\) of default-worker should be at least min_node_count \(2\)"),
        ({"max_node_count": "2"}, 3, r"node_count \(3\) of default-worker should be at most max_node_count \(2\)"),
        ({"scale_down_unneeded_time": "soon"}, 1, "Label scale_down_unneeded_time must be a duration"),
    ],
)  # fmt: skip
def test_bounds_that_cannot_hold_are_refused_at_create(
    scaled: Scaled, labels: dict[str, str], node_count: int, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        scaled.services.clusters.create(
            MEMBER, {"cluster_template_id": scaled.template, "node_count": node_count, "labels": labels},
            template_missing_is_invalid=False,
        )  # fmt: skip


CHILD = """
from jeroboam.conductor.worker import Conductor
from jeroboam.config import load_settings
from jeroboam.rpc.notifications import NullNotifier
from jeroboam.rpc.wakeup import InProcessWaker, NullWaker
from jeroboam.services.wiring import Services

settings = load_settings()
services = Services.build(settings, waker=NullWaker())
conductor = Conductor(services.db, services.drivers, settings, notifier=NullNotifier(), wakeups=InProcessWaker(),
                      host="doomed", keyring=services.keyring)
assert conductor.autoscale() == 1
while conductor.claim_and_start():
    conductor.wait_idle()
conductor.wait_idle()
"""


def test_a_conductor_process_killed_mid_scale_up_is_resumed(
    scaled: Scaled, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A real process runs the autoscaler's decision and dies (``os._exit``) in the middle of the
    workers phase, one new node saved; another conductor takes the operation over and ends it."""
    settings = scaled.services.settings
    uuid = scaled.create()
    with scaled.services.db.transaction() as session:  # arranged: crash in the next workers phase
        cluster = session.scalars(select(Cluster).where(Cluster.uuid == uuid)).one()
        cluster.labels = {**cluster.labels, "sim_crash_phase": "workers"}
        cluster.autoscale_at = scaled.clock() - timedelta(seconds=1)
    scaled.sim.set_service(uuid, "web", replicas=6, cpu=0.5, memory_mib=400)  # 2 more nodes
    env = {
        **os.environ,
        "JEROBOAM_DATA_DIR": str(settings.data_dir),
        "JEROBOAM_DATABASE__CONNECTION": settings.database_url,
        "JEROBOAM_SIM__STATE_DIR": str(settings.sim.state_dir),
        "JEROBOAM_X509__KEY_ALGORITHM": "ec",
        "JEROBOAM_AUTOSCALER__PENDING_GRACE": "0",
        "JEROBOAM_CONDUCTOR__LEASE_SECONDS": "30",
    }
    child = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120)
    assert child.returncode == 137, child.stderr[-2000:]
    row = scaled.row(uuid)
    assert row.status == "UPDATE_IN_PROGRESS"
    assert row.lease_owner is not None  # the dead conductor's
    assert len(scaled.sim_workers(uuid)) == 2  # one of the two new nodes was made before the crash
    scaled.clock.offset += timedelta(seconds=31)  # its lease lapses
    scaled.converge()
    row = scaled.row(uuid)
    assert row.status == "UPDATE_COMPLETE"
    assert row.status_reason == (
        f"autoscaler: 4 tasks of service web pending (insufficient resources); default-worker 1 → 3 ({SIMULATED[:-1]})."
    )
    assert len(scaled.sim_workers(uuid)) == 3
    assert [(op.user_id, op.state) for op in scaled.operations(uuid)][-1] == ("autoscaler", "succeeded")
