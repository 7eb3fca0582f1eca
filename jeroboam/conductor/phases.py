"""The ordered phases of a reconcile pass, each one idempotent driver call, and how a driver's
failure is classified (retry later, or fail the operation)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from jeroboam.conductor.pki import ClusterPki
from jeroboam.config import Settings
from jeroboam.db.repositories import leases as repo
from jeroboam.db.repositories import operations as operations_repo
from jeroboam.db.repositories.leases import Claim, LeaseLostError
from jeroboam.db.session import Database
from jeroboam.domain.specs import ClusterObservation, ClusterSpec, NodeGroupObservation
from jeroboam.domain.states import Action, Status
from jeroboam.drivers.base import ClusterDriver
from jeroboam.drivers.registry import DriverRegistry
from jeroboam.errors import DatabaseUnavailableError, PermanentError, RetryableError, UnreachableError
from jeroboam.observability.metrics import DEFAULT_DRIVER_LABEL, metrics

log = logging.getLogger(__name__)
T = TypeVar("T")

UNKNOWN_ERROR_DELAY = 2.0


class PhaseRetryError(Exception):
    def __init__(self, phase: str, message: str, delay: float) -> None:
        super().__init__(message)
        self.phase, self.message, self.delay = phase, message, delay


class SupersededError(Exception):
    """A delete arrived while this pass ran: stop at once and let the delete start."""


class PhaseFailedError(Exception):
    def __init__(self, phase: str, message: str) -> None:
        super().__init__(message)
        self.phase, self.message = phase, message


@dataclass
class Work:
    """What a reconcile pass read at its start (no ORM objects outlive their session)."""

    claim: Claim
    spec: ClusterSpec
    status: Status
    generation: int
    deadline: datetime
    driver_name: str
    attempts: int
    actions: list[Action]
    deleting_nodegroups: list[str] = field(default_factory=list)
    autoheal: bool = False
    force_delete: bool = False  # DELETE ...?force=true: forget the cluster if its driver cannot delete it
    simulated: bool = False  # the driver builds nothing real: every status_reason says so


@dataclass
class Observed:
    """What the phases of a pass saw: each nodegroup's nodes, the endpoint, the status probe."""

    nodegroups: dict[str, NodeGroupObservation] = field(default_factory=dict)  # by nodegroup uuid
    api_address: str | None = None
    status: ClusterObservation | None = None


class ClusterDrivers:
    """The registry's drivers that can build clusters."""

    def __init__(self, registry: DriverRegistry) -> None:
        self.registry = registry
        self._checked: dict[str, ClusterDriver] = {}

    def get(self, name: str) -> ClusterDriver:
        driver = self._checked.get(name)
        if driver is None:
            found = self.registry.get(name)
            # A runtime Protocol check inspects every member: done once per driver, not per call.
            if not isinstance(found, ClusterDriver):
                raise PhaseFailedError("infrastructure", f"The {name} driver cannot build clusters yet.")
            driver = self._checked[name] = found
        return driver


def timeout_message(work: Work, phase: str | None = None) -> str:
    return (
        f"the operation did not finish by its deadline ({work.deadline:%Y-%m-%d %H:%M:%S} UTC)"
        + (f" while in phase {phase}" if phase else "")
        + "; retry it, or raise create_timeout / [cluster] update_timeout if the infrastructure is slow"
    )


class Phases:
    """infrastructure → pki → control plane → workers → endpoint → status."""

    def __init__(self, db: Database, settings: Settings, pki: ClusterPki, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.settings = settings
        self.pki = pki
        self.clock = clock
        self.metrics = metrics()
        # Since when each cluster's infrastructure has not answered at all (this process's view: a
        # conductor that takes the cluster over starts the window again).
        self._unreachable_since: dict[str, datetime] = {}

    def run(self, work: Work, driver: ClusterDriver) -> Observed:
        spec = work.spec
        observed = Observed()
        self.phase(work, "infrastructure", lambda: driver.ensure_infrastructure(spec))
        tls = self.phase(work, "pki", lambda: self.pki.ensure(work.claim, spec, driver))
        spec = work.spec = replace(spec, tls=tls)  # the later phases hand the endpoint its TLS
        for group in spec.masters:
            observed.nodegroups[group.uuid] = self.phase(
                work,
                "control_plane",
                lambda g=group: driver.ensure_nodegroup(spec, g),  # type: ignore[misc]
            )
        for name in work.deleting_nodegroups:
            self.phase(work, "workers", lambda n=name: driver.delete_nodegroup(spec, n))  # type: ignore[misc]
        for group in spec.workers:
            observed.nodegroups[group.uuid] = self.phase(
                work,
                "workers",
                lambda g=group: driver.ensure_nodegroup(spec, g),  # type: ignore[misc]
            )
        observed.api_address = self.phase(work, "endpoint", lambda: driver.ensure_endpoint(spec))
        observed.status = self.phase(work, "status", lambda: driver.observe(spec))
        return observed

    def phase(self, work: Work, phase: str, call: Callable[[], T]) -> T:
        """Run one driver call of ``phase``; classify its failure; record progress."""
        if self.clock() >= work.deadline:
            raise PhaseFailedError(phase, timeout_message(work, phase))
        self._record(work, phase)
        driver = work.driver_name or DEFAULT_DRIVER_LABEL
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = call()
            outcome = "ok"
        except UnreachableError as exc:
            self.metrics.driver_errors.labels(driver, phase, "unreachable").inc()
            error = self._unreachable(work, phase, exc)
            outcome = "retry" if isinstance(error, PhaseRetryError) else "failed"
            raise error from exc
        except RetryableError as exc:
            outcome = "retry"
            self.metrics.driver_errors.labels(driver, phase, "retryable").inc()
            self._unreachable_since.pop(work.spec.uuid, None)
            raise PhaseRetryError(phase, str(exc), exc.delay) from exc
        except PermanentError as exc:
            self.metrics.driver_errors.labels(driver, phase, "permanent").inc()
            raise PhaseFailedError(phase, str(exc)) from exc
        except LeaseLostError:
            outcome = "lease_lost"
            raise
        except DatabaseUnavailableError:  # the pki phase's own writes: an outage, logged once by the database
            outcome = "database_unavailable"
            raise
        except Exception as exc:  # an unexpected driver error: retry a few times, then give up
            log.exception("cluster %s: unexpected error in phase %s", work.spec.uuid, phase)
            self.metrics.driver_errors.labels(driver, phase, "unexpected").inc()
            if work.attempts >= self.settings.conductor.unknown_error_retries:
                raise PhaseFailedError(
                    phase,
                    f"the {work.driver_name} driver failed unexpectedly ({type(exc).__name__}); see the conductor log",
                ) from exc
            outcome = "retry"
            raise PhaseRetryError(phase, f"unexpected {type(exc).__name__}", UNKNOWN_ERROR_DELAY) from exc
        finally:
            self.metrics.phase_duration.labels(phase, driver, outcome).observe(time.perf_counter() - started)
        self._unreachable_since.pop(work.spec.uuid, None)
        return result

    def _unreachable(self, work: Work, phase: str, exc: UnreachableError) -> PhaseRetryError | PhaseFailedError:
        """Retry while the infrastructure has been silent for less than the window, then fail: an
        engine that is not there must not hold an operation until its deadline."""
        now = self.clock()
        since = self._unreachable_since.setdefault(work.spec.uuid, now)
        silent = (now - since).total_seconds()
        window = self.settings.conductor.unreachable_retry_window
        if silent < window:
            return PhaseRetryError(phase, str(exc), min(exc.delay, max(window - silent, 0.1)))
        self._unreachable_since.pop(work.spec.uuid, None)
        then = (
            f"delete it with force (DELETE /v1/clusters/{work.spec.uuid}?force=true) to forget it"
            if work.status == Status.DELETE_IN_PROGRESS
            else "retry once it answers, or delete the cluster"
        )
        return PhaseFailedError(
            phase,
            f"{str(exc).rstrip('.')}; no answer for {silent:.0f} s ([conductor] unreachable_retry_window = "
            f"{window:g}): {then}",
        )

    def _record(self, work: Work, phase: str) -> None:
        lease = timedelta(seconds=self.settings.conductor.lease_seconds)
        with self.db.transaction() as session:
            status = repo.fenced_status(session, work.claim)
            if status == Status.DELETE_IN_PROGRESS and work.status != Status.DELETE_IN_PROGRESS:
                # Nothing is written (the raise rolls back): the delete takes over once this
                # claim's lease, which the renewer no longer extends, lapses.
                raise SupersededError(work.spec.uuid)
            now = self.clock()
            repo.record_phase(session, work.claim, phase, now + lease, now)
        log.info("cluster %s: phase %s", work.spec.uuid, phase)

    def current(self, work: Work) -> str:
        with self.db.transaction() as session:
            cluster = repo.fenced_cluster(session, work.claim)
            phases = [op.phase for op in operations_repo.open_for_cluster(session, cluster.uuid) if op.phase]
        return phases[-1] if phases else "infrastructure"
