"""Reconcile one claimed cluster toward its desired spec, through its driver.

An in-progress cluster runs the ordered phases (``phases.py``: infrastructure →
pki → control plane → workers → endpoint), each an idempotent ``ensure`` that
can run again after a crash; a deleting cluster runs the driver's delete; a
settled cluster gets a health check (and autoheal, ``health.py``). How a pass
ends is ``outcomes.py``. Every database write is fenced by the claim's token.
The driver is called with no transaction open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from jeroboam.conductor.health import HealthChecks
from jeroboam.conductor.outcomes import Outcomes
from jeroboam.conductor.phases import (
    ClusterDrivers,
    PhaseFailedError,
    PhaseRetryError,
    Phases,
    SupersededError,
    Work,
    timeout_message,
)
from jeroboam.conductor.pki import ClusterPki
from jeroboam.conductor.spec import build_spec
from jeroboam.config import Settings
from jeroboam.db.repositories import clusters as clusters_repo
from jeroboam.db.repositories import leases as repo
from jeroboam.db.repositories import nodegroups as nodegroups_repo
from jeroboam.db.repositories import operations as operations_repo
from jeroboam.db.repositories.leases import Claim, LeaseLostError
from jeroboam.db.session import Database
from jeroboam.domain import states
from jeroboam.domain.health import auto_healing_enabled
from jeroboam.domain.states import Action, Status
from jeroboam.drivers.base import ClusterDriver
from jeroboam.drivers.registry import DriverRegistry
from jeroboam.errors import JeroboamError
from jeroboam.pki.secrets import Keyring
from jeroboam.rpc.notifications import Notifier

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Reconciler:
    def __init__(
        self,
        db: Database,
        drivers: DriverRegistry,
        settings: Settings,
        notifier: Notifier,
        *,
        keyring: Keyring | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.pki = ClusterPki(db, settings, keyring, clock=clock)
        self.drivers = ClusterDrivers(drivers)
        self.phases = Phases(db, settings, self.pki, clock)
        self.outcomes = Outcomes(db, settings, notifier, clock)
        self.health = HealthChecks(db, settings, notifier, self.pki, self.drivers, clock)

    # -- entry point -------------------------------------------------------------------------
    def run(self, claim: Claim) -> None:
        work: Work | None = None
        try:
            work = self._load(claim)
            if work is None:
                return
            if work.status in states.IN_PROGRESS:
                self._progress(work)
            else:
                self.health.check(work)
        except LeaseLostError:
            log.info("cluster %s: lease taken over by another conductor; stopping", claim.cluster_id)
            if work is not None and work.status in states.IN_PROGRESS and work.status != Status.DELETE_IN_PROGRESS:
                self._undo_late_call(work)
        except SupersededError:
            log.info("cluster %s: a delete superseded the running operation", claim.cluster_id)

    def cancel(self, cluster_id: str) -> None:
        """A delete superseded the work running on ``cluster_id``: every driver stops what it can
        (the docker driver's node creation) at once, not at the pass's next phase."""
        for name in self.drivers.registry.names():
            driver = self.drivers.registry.get(name)
            if isinstance(driver, ClusterDriver):
                driver.cancel(cluster_id)

    def _forced_delete(self, work: Work, driver: ClusterDriver) -> str | None:
        """A forced delete: try the driver once; when it cannot delete, forget the cluster anyway and
        return what may be left behind, and where (None: the driver deleted everything)."""
        try:
            driver.delete_cluster(work.spec)
            return None
        except Exception as exc:  # whatever the driver says, the owner asked to forget the cluster
            left = (
                f"Forced delete: the {work.driver_name} driver could not delete ({exc}); "
                f"left behind may be {driver.leftovers(work.spec)}."
            )
            log.warning("cluster %s: %s", work.spec.uuid, left)
            return left

    def _undo_late_call(self, work: Work) -> None:
        """This pass's lease lapsed during a driver call (stuck past its deadline, or superseded by
        a delete) and a delete took over: the call may have built something after that delete ran,
        so delete again (idempotent) rather than leave it orphaned."""
        with self.db.transaction() as session:
            if not repo.deleted_or_deleting(session, work.spec.uuid):
                return
        try:
            self._driver(work).delete_cluster(work.spec)
            log.info("cluster %s: removed what a late driver call of a superseded pass built", work.spec.uuid)
        except Exception:
            log.exception("cluster %s: could not undo a late driver call; its resources may remain", work.spec.uuid)

    # -- reading -----------------------------------------------------------------------------
    def _load(self, claim: Claim) -> Work | None:
        now = self.clock()
        with self.db.transaction() as session:
            cluster = repo.fenced_cluster(session, claim)
            template = clusters_repo.template(session, cluster.cluster_template_id)
            nodegroups = list(nodegroups_repo.for_cluster(session, cluster.uuid))
            operations = list(operations_repo.open_for_cluster(session, cluster.uuid))
            status = Status(cluster.status) if cluster.status else Status.CREATE_IN_PROGRESS
            if template is None:
                if status == Status.DELETE_IN_PROGRESS:
                    repo.delete_cluster_rows(session, cluster)
                    return None
                self.outcomes.finish(session, cluster, operations, nodegroups, status, False,
                             f"The cluster template {cluster.cluster_template_id} no longer exists.")  # fmt: skip
                return None
            operations_repo.start(operations, now)
            deadline = min(
                (op.deadline for op in operations),
                default=now + timedelta(seconds=self.settings.cluster.update_timeout * 60),
            )
            return Work(
                claim=claim,
                spec=replace(
                    build_spec(cluster, template, nodegroups, operations),
                    tls=self.pki.stored_material(session, cluster.uuid, tls_disabled=template.tls_disabled),
                ),
                status=status,
                generation=cluster.generation,
                deadline=deadline,
                driver_name=template.driver or "",
                attempts=max((op.attempts for op in operations), default=0),
                actions=[Action(op.action) for op in operations],
                deleting_nodegroups=[ng.name for ng in nodegroups if ng.status == Status.DELETE_IN_PROGRESS],
                autoheal=auto_healing_enabled(cluster.labels),
                force_delete=any(op.action == Action.DELETE and (op.request or {}).get("force") for op in operations),
                simulated=self._simulated(template.driver or ""),
            )

    def _simulated(self, name: str) -> bool:
        try:
            return self.drivers.registry.get(name).simulated
        except JeroboamError:  # a driver no longer installed: its own failure says so
            return False

    def _driver(self, work: Work) -> ClusterDriver:
        return self.drivers.get(work.driver_name)

    # -- in-progress work ---------------------------------------------------------------------
    def _progress(self, work: Work) -> None:
        try:
            if self.clock() >= work.deadline:
                raise PhaseFailedError(self.phases.current(work), timeout_message(work))
            driver = self._driver(work)
            if work.status == Status.DELETE_IN_PROGRESS:
                left = self._forced_delete(work, driver) if work.force_delete else None
                if left is None:
                    self.phases.phase(work, "delete", lambda: driver.delete_cluster(work.spec))
                self.outcomes.deleted(work, left)
                return
            observed = self.phases.run(work, driver)
        except PhaseRetryError as retry:
            self.outcomes.retry_later(work, retry)
            return
        except PhaseFailedError as failure:
            self.outcomes.fail(work, failure)
            return
        self.outcomes.succeed(work, observed)
