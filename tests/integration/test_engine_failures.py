"""Failures surface truthfully and every one is recoverable (DESIGN: "Truthful status", "Every
failure is recoverable"), with a real conductor reconciling through the ``sim`` driver.

Each phase's injected failure ends in ``*_FAILED`` naming the phase; a retry then succeeds. A hang
past the deadline fails by the deadline; transient faults end in ``*_COMPLETE``; a delete works
from every state and leaves no simulated infrastructure behind.

Faults are injected with the sim driver's ``sim_*`` cluster labels (``docs/drivers.md``). A fault
meant for an update is put on a complete cluster's row directly, as an operator's tooling would
(labels cannot change through the API).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from jeroboam.api.app import create_app
from jeroboam.conductor.worker import Conductor
from jeroboam.db import migrate
from jeroboam.db.models import Cluster, Operation
from jeroboam.drivers.sim import SimDriver
from jeroboam.rpc.notifications import NullNotifier
from jeroboam.rpc.wakeup import InProcessWaker
from jeroboam.services.wiring import Services
from tests.conftest import Api, make_settings
from tests.support.databases import database_or_skip
from tests.support.server import serve

# One timeout "minute" lasts SECONDS_PER_MINUTE seconds: create_timeout=1 is a short deadline,
# the default timeouts (60/60/30 minutes) stay far longer than any test here.
SECONDS_PER_MINUTE = 3.0
LEASE_SECONDS = 1.5
HANG_SECONDS = 20.0  # far longer than a deadline (SECONDS_PER_MINUTE) and a lease (LEASE_SECONDS) together
SHORT_HANG_SECONDS = 10.0  # a hang the test outlives, to see what the late call does
WAIT = 30.0  # the longest any condition below may take to become true
CREATE_PHASES = ("infrastructure", "control_plane", "workers", "endpoint")

SIMULATED = "Simulated by the sim driver: nothing real was built."


class Engine:
    """An API server and one conductor in this process, sharing a database and a sim driver."""

    def __init__(self, url: str, services: Services) -> None:
        self.api = Api(url)
        self.services = services
        driver = services.drivers.get("sim")
        assert isinstance(driver, SimDriver)
        self.sim: SimDriver = driver
        self.template: str = ""

    # -- reading ---------------------------------------------------------------------------------
    def show(self, uuid: str) -> dict[str, Any] | None:
        response = self.api.get(f"/v1/clusters/{uuid}")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def operations(self, uuid: str) -> list[Operation]:
        with self.services.db.transaction() as session:
            return list(session.scalars(select(Operation).where(Operation.cluster_id == uuid).order_by(Operation.id)))

    def state_files(self, uuid: str) -> list[Path]:
        return sorted(self.sim.state_dir.glob(f"{uuid}*")) + sorted(self.sim.state_dir.glob(f".{uuid}*"))

    def worker_nodes(self, uuid: str) -> int:
        state = self.sim.read_state(uuid)
        assert state is not None
        return len(state.nodes("default-worker"))

    # -- waiting ---------------------------------------------------------------------------------
    def wait_status(self, uuid: str, *wanted: str, timeout: float = WAIT) -> dict[str, Any]:
        """Wait until the cluster shows one of ``wanted``; fail at once on another settled status."""
        body: dict[str, Any] | None = None

        def settled() -> bool:
            nonlocal body
            body = self.show(uuid)
            assert body is not None, f"cluster {uuid} disappeared while waiting for {wanted}"
            status = body["status"]
            if status in wanted:
                return True
            assert status.endswith("_IN_PROGRESS"), f"cluster {uuid} is {status} ({body['status_reason']})"
            return False

        wait_for(settled, timeout, f"cluster {uuid} to reach {wanted}")
        assert body is not None
        return body

    def wait_gone(self, uuid: str, timeout: float = WAIT) -> None:
        def gone() -> bool:
            body = self.show(uuid)
            if body is None:
                return True
            assert body["status"] != "DELETE_FAILED", body["status_reason"]
            return False

        wait_for(gone, timeout, f"cluster {uuid} to be deleted")
        assert self.state_files(uuid) == [], "the delete left simulated infrastructure behind"

    # -- acting ----------------------------------------------------------------------------------
    def create(self, **body: Any) -> str:
        response = self.api.post("/v1/clusters", json={"cluster_template_id": self.template, **body})
        assert response.status_code == 202, response.text
        uuid: str = response.json()["uuid"]
        return uuid

    def resize(self, uuid: str, node_count: int) -> None:
        response = self.api.post(f"/v1/clusters/{uuid}/actions/resize", json={"node_count": node_count})
        assert response.status_code == 202, response.text

    def patch_node_count(self, uuid: str, node_count: int) -> None:
        response = self.api.patch(
            f"/v1/clusters/{uuid}", json=[{"op": "replace", "path": "/node_count", "value": node_count}]
        )
        assert response.status_code == 202, response.text

    def delete(self, uuid: str) -> None:
        response = self.api.delete(f"/v1/clusters/{uuid}")
        assert response.status_code == 204, response.text

    def set_labels(self, uuid: str, **labels: str) -> None:
        """Inject a fault into a settled cluster (the next operation sees it)."""
        with self.services.db.transaction() as session:
            cluster = session.scalars(select(Cluster).where(Cluster.uuid == uuid)).one()
            cluster.labels = {**(cluster.labels or {}), **labels}

    def complete(self, node_count: int = 1, **labels: str) -> str:
        uuid = self.create(node_count=node_count, labels=labels)
        self.wait_status(uuid, "CREATE_COMPLETE")
        return uuid


def reconciling(uuid: str) -> bool:
    """A conductor thread still works on the cluster (the worker names them after the cluster)."""
    return any(t.name == f"reconcile-{uuid[:8]}" and t.is_alive() for t in threading.enumerate())


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    workdir = tmp_path_factory.mktemp(f"engine-{backend}")
    with database_or_skip(backend, workdir) as url:
        settings = make_settings(
            workdir,
            url,
            conductor={
                "lease_seconds": LEASE_SECONDS,
                "poll_interval": 0.2,
                "health_polling_interval": 3600,
                "workers": 16,
            },
            cluster={"seconds_per_minute": SECONDS_PER_MINUTE},
            sim={"state_dir": workdir / "sim", "latency_seconds": 0.0},
            quotas={"max_clusters_per_project": 1000},
        )
        services = Services.build(settings)
        migrate.upgrade(services.db.engine)
        assert isinstance(services.waker, InProcessWaker)
        conductor = Conductor(
            services.db, services.drivers, settings, notifier=NullNotifier(), wakeups=services.waker, host="failures"
        )
        conductor.start()
        try:
            with serve(create_app(settings, services)) as base:
                engine = Engine(base, services)
                response = engine.api.post(
                    "/v1/clustertemplates",
                    json={
                        "name": "sim",
                        "coe": "kubernetes",
                        "image_id": "fedora-coreos",
                        "external_network_id": "public",
                        "flavor_id": "m1.small",
                        "master_flavor_id": "m1.small",
                        "driver": "sim",
                    },
                )
                assert response.status_code == 201, response.text
                engine.template = response.json()["uuid"]
                yield engine
                engine.api.client.close()
        finally:
            engine_sim = services.drivers.get("sim")
            assert isinstance(engine_sim, SimDriver)
            engine_sim.close()  # ends hangs at once, so the conductor stops promptly
            conductor.stop(timeout=10)
            services.db.dispose()


# -- a failure in each phase is reported with the phase, and a retry succeeds -------------------------
@pytest.mark.parametrize("phase", CREATE_PHASES)
@pytest.mark.parametrize("retry", ["resize", "patch"])
def test_create_failure_names_the_phase_and_a_retry_completes(engine: Engine, phase: str, retry: str) -> None:
    uuid = engine.create(node_count=1, labels={"sim_fail_phase": phase})
    failed = engine.wait_status(uuid, "CREATE_FAILED")
    reason = failed["status_reason"]
    assert f"Create failed in phase {phase}" in reason
    assert "sim_fail_phase" in reason
    assert reason in failed["faults"].values()
    [operation] = engine.operations(uuid)
    assert (operation.action, operation.state, operation.phase) == ("create", "failed", phase)

    if retry == "resize":
        engine.resize(uuid, 2)
    else:
        engine.patch_node_count(uuid, 1)  # the same count: a pure retry
    done = engine.wait_status(uuid, "CREATE_COMPLETE")
    expected = 2 if retry == "resize" else 1
    assert done["node_count"] == expected
    assert engine.worker_nodes(uuid) == expected
    assert done["status_reason"] == SIMULATED  # no failure left, only what every sim cluster says
    assert "faults" not in done
    assert [op.state for op in engine.operations(uuid)] == ["failed", "succeeded"]


@pytest.mark.parametrize("phase", CREATE_PHASES)
def test_update_failure_names_the_phase_and_a_retry_completes(engine: Engine, phase: str) -> None:
    uuid = engine.complete(node_count=1)
    engine.set_labels(uuid, sim_fail_phase=phase)
    engine.resize(uuid, 3)
    failed = engine.wait_status(uuid, "UPDATE_FAILED")
    assert f"Update failed in phase {phase}" in failed["status_reason"]
    assert "sim_fail_phase" in failed["status_reason"]
    assert engine.operations(uuid)[-1].state == "failed"

    # A retry of the same request, then a changed request, both complete.
    engine.resize(uuid, 3)
    assert engine.wait_status(uuid, "UPDATE_COMPLETE")["node_count"] == 3
    assert engine.worker_nodes(uuid) == 3
    engine.patch_node_count(uuid, 2)
    assert engine.wait_status(uuid, "UPDATE_COMPLETE")["node_count"] == 2
    assert engine.worker_nodes(uuid) == 2
    assert [op.state for op in engine.operations(uuid)] == ["succeeded", "failed", "succeeded", "succeeded"]


def test_delete_failure_names_the_phase_and_deleting_again_removes_everything(engine: Engine) -> None:
    uuid = engine.complete(sim_fail_phase="delete")
    engine.delete(uuid)
    failed = engine.wait_status(uuid, "DELETE_FAILED")
    assert "Delete failed in phase delete" in failed["status_reason"]
    assert "sim_fail_phase" in failed["status_reason"]
    assert engine.state_files(uuid), "a failed delete keeps what it could not remove"

    engine.delete(uuid)
    engine.wait_gone(uuid)
    assert [op.state for op in engine.operations(uuid)] == ["succeeded", "failed", "succeeded"]


# -- deadlines and transient faults ------------------------------------------------------------------------
@pytest.mark.parametrize("phase", CREATE_PHASES)
def test_a_hang_past_the_deadline_fails_by_the_deadline(engine: Engine, phase: str) -> None:
    """create_timeout=1 is one SECONDS_PER_MINUTE; the driver call hangs far longer."""
    labels = {"sim_hang_phase": phase, "sim_hang_seconds": str(HANG_SECONDS), "sim_hang_times": "1"}
    uuid = engine.create(node_count=1, create_timeout=1, labels=labels)
    # The deadline is one timeout minute after acceptance; after it the lease lapses within
    # LEASE_SECONDS and the conductor fails the operation while the hung call is still out.
    failed = engine.wait_status(uuid, "CREATE_FAILED")
    assert reconciling(uuid), "failed only after the hung call returned, not by the deadline"
    reason = failed["status_reason"]
    assert "deadline" in reason, reason
    assert f"phase {phase}" in reason, reason
    [operation] = engine.operations(uuid)
    assert operation.state == "failed"
    assert operation.finished_at is not None
    assert operation.finished_at >= operation.deadline

    # Retrying (with the default update timeout) completes: the hang happened once only.
    engine.resize(uuid, 2)
    done = engine.wait_status(uuid, "CREATE_COMPLETE")
    assert done["node_count"] == 2
    assert engine.worker_nodes(uuid) == 2


def test_retryable_faults_in_every_phase_end_complete(engine: Engine) -> None:
    labels = {"sim_retry_phase": ",".join((*CREATE_PHASES, "delete")), "sim_retry_times": "2"}
    uuid = engine.create(node_count=2, labels=labels)
    done = engine.wait_status(uuid, "CREATE_COMPLETE")
    assert done["node_count"] == 2
    assert engine.worker_nodes(uuid) == 2
    [operation] = engine.operations(uuid)
    assert operation.state == "succeeded"
    assert operation.attempts >= 2 * len(CREATE_PHASES)

    engine.delete(uuid)
    engine.wait_gone(uuid)


# -- delete from every state -------------------------------------------------------------------------------
def arrive_at(engine: Engine, state: str) -> str:
    """A cluster in ``state``; the *_IN_PROGRESS ones are caught mid-phase (slow sim calls)."""
    slow = {"sim_latency": "0.4"}
    if state == "CREATE_IN_PROGRESS":
        uuid = engine.create(node_count=2, labels=slow)
        wait_for(lambda: engine.operations(uuid)[0].phase == "control_plane", WAIT, "create to reach control_plane")
        return uuid
    if state == "CREATE_FAILED":
        uuid = engine.create(node_count=1, labels={"sim_fail_phase": "workers"})
        engine.wait_status(uuid, "CREATE_FAILED")
        return uuid
    if state == "CREATE_COMPLETE":
        return engine.complete()
    uuid = engine.complete()
    if state == "UPDATE_IN_PROGRESS":
        engine.set_labels(uuid, **slow)
        engine.resize(uuid, 4)
        wait_for(lambda: engine.operations(uuid)[-1].phase == "workers", WAIT, "resize to reach workers")
    elif state == "UPDATE_COMPLETE":
        engine.resize(uuid, 2)
        engine.wait_status(uuid, "UPDATE_COMPLETE")
    elif state == "UPDATE_FAILED":
        engine.set_labels(uuid, sim_fail_phase="endpoint")
        engine.resize(uuid, 2)
        engine.wait_status(uuid, "UPDATE_FAILED")
    elif state == "DELETE_FAILED":
        engine.set_labels(uuid, sim_fail_phase="delete")
        engine.delete(uuid)
        engine.wait_status(uuid, "DELETE_FAILED")
    else:
        raise AssertionError(state)
    return uuid


@pytest.mark.parametrize(
    "state",
    [
        "CREATE_IN_PROGRESS",
        "CREATE_FAILED",
        "CREATE_COMPLETE",
        "UPDATE_IN_PROGRESS",
        "UPDATE_COMPLETE",
        "UPDATE_FAILED",
        "DELETE_FAILED",
    ],
)
def test_delete_works_from_every_state_and_leaves_nothing(engine: Engine, state: str) -> None:
    uuid = arrive_at(engine, state)
    shown = engine.show(uuid)
    assert shown is not None
    assert shown["status"] == state
    engine.delete(uuid)
    engine.wait_gone(uuid)
    operations = engine.operations(uuid)
    assert operations[-1].action == "delete"
    assert operations[-1].state == "succeeded"
    assert all(op.state in ("succeeded", "failed", "superseded") for op in operations)


@pytest.mark.parametrize("phase", ["infrastructure", "control_plane"])
def test_a_delete_does_not_wait_for_a_hung_call_and_nothing_is_rebuilt_after_it(engine: Engine, phase: str) -> None:
    """The hung pass loses its lease to the delete at once; when its call finally returns and
    builds something for a cluster that no longer exists, the conductor removes it again."""
    labels = {"sim_hang_phase": phase, "sim_hang_seconds": str(SHORT_HANG_SECONDS)}
    uuid = engine.create(node_count=1, labels=labels)
    wait_for(lambda: engine.operations(uuid)[0].phase == phase, WAIT, f"create to hang in {phase}")
    engine.delete(uuid)
    engine.wait_gone(uuid)
    assert reconciling(uuid), "the delete waited for the hung call to return"
    wait_for(lambda: not reconciling(uuid), WAIT, "the hung call to return")
    assert engine.state_files(uuid) == [], "a late call of the superseded create left infrastructure behind"


def test_a_call_that_returns_after_a_deadline_failure_and_a_delete_leaves_nothing(engine: Engine) -> None:
    labels = {"sim_hang_phase": "infrastructure", "sim_hang_seconds": str(SHORT_HANG_SECONDS)}
    uuid = engine.create(node_count=1, create_timeout=1, labels=labels)
    engine.wait_status(uuid, "CREATE_FAILED")
    assert reconciling(uuid), "failed only after the hung call returned, not by the deadline"
    engine.delete(uuid)
    engine.wait_gone(uuid)
    assert reconciling(uuid), "the delete waited for the hung call to return"
    wait_for(lambda: not reconciling(uuid), WAIT, "the hung call to return")
    assert engine.state_files(uuid) == [], "the late ensure_infrastructure rebuilt a deleted cluster's network"


def test_a_request_accepted_during_a_health_check_is_not_postponed(engine: Engine) -> None:
    """A health check that ends after a resize was accepted must leave the resize due now, not
    push it back by a whole health polling interval."""
    uuid = engine.complete(node_count=1)
    engine.set_labels(uuid, sim_latency="1.0")  # the health probe (observe) takes a second
    with engine.services.db.transaction() as session:
        session.scalars(select(Cluster).where(Cluster.uuid == uuid)).one().next_check_at = datetime.now(UTC)

    def health_check_running() -> bool:
        with engine.services.db.transaction() as session:
            cluster = session.scalars(select(Cluster).where(Cluster.uuid == uuid)).one()
            return cluster.lease_owner is not None and cluster.status == "CREATE_COMPLETE"

    wait_for(health_check_running, WAIT, "a health check to start")
    engine.resize(uuid, 2)
    assert engine.wait_status(uuid, "UPDATE_COMPLETE")["node_count"] == 2
    assert engine.worker_nodes(uuid) == 2
