"""How a reconcile pass ends: retried later, failed, succeeded, deleted; every write fenced by
the claim, and the OpenStack notification of the outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from jeroboam.conductor.phases import Observed, PhaseFailedError, PhaseRetryError, Work
from jeroboam.config import Settings
from jeroboam.db.models import Cluster, NodeGroup, Operation
from jeroboam.db.repositories import leases as repo
from jeroboam.db.repositories import nodegroups as nodegroups_repo
from jeroboam.db.repositories import operations as operations_repo
from jeroboam.db.session import Database
from jeroboam.domain import autoscaling, states
from jeroboam.domain import conditions as cond
from jeroboam.domain.health import health_of, next_health_check
from jeroboam.domain.specs import MASTER, ClusterSpec
from jeroboam.domain.states import Action, OperationState, Status
from jeroboam.observability.metrics import DEFAULT_DRIVER_LABEL, metrics
from jeroboam.rpc.notifications import Notifier

log = logging.getLogger(__name__)
EVENT_OF_ACTION = {Action.CREATE: "create", Action.DELETE: "delete"}


class Outcomes:
    def __init__(self, db: Database, settings: Settings, notifier: Notifier, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.settings = settings
        self.notifier = notifier
        self.clock = clock
        self.metrics = metrics()

    def outdated(self, cluster: Cluster, work: Work) -> bool:
        """A newer request changed the spec while this pass ran: its outcome no longer applies;
        the cluster is due again at once so the newest spec is converged."""
        if cluster.generation == work.generation:
            return False
        cluster.next_check_at = self.clock()
        repo.release(cluster)
        return True

    def retry_later(self, work: Work, retry: PhaseRetryError) -> None:
        now = self.clock()
        with self.db.transaction() as session:
            cluster = repo.fenced_cluster(session, work.claim)
            if self.outdated(cluster, work):
                return
            for operation in operations_repo.open_for_cluster(session, cluster.uuid):
                operation.attempts += 1
                operation.reason = f"retrying phase {retry.phase}: {retry.message}"
            cluster.status_reason = simulated(work, f"Waiting to retry phase {retry.phase}: {retry.message}")
            cluster.next_check_at = now + timedelta(seconds=retry.delay)
            repo.release(cluster)
        self.metrics.retries.labels(retry.phase, driver_label(work)).inc()

    def fail(self, work: Work, failure: PhaseFailedError) -> None:
        verb = {Status.CREATE_IN_PROGRESS: "Create", Status.DELETE_IN_PROGRESS: "Delete"}.get(work.status, "Update")
        reason = simulated(work, f"{verb} failed in phase {failure.phase}: {failure.message}")
        with self.db.transaction() as session:
            cluster = repo.fenced_cluster(session, work.claim)
            if self.outdated(cluster, work):
                return
            operations = list(operations_repo.open_for_cluster(session, cluster.uuid))
            nodegroups = list(nodegroups_repo.for_cluster(session, cluster.uuid))
            condition = dict(cond.PHASES).get(failure.phase)
            if condition:
                cluster.conditions = cond.set_condition(
                    list(cluster.conditions or []),
                    cond.Condition(condition, False, "PhaseFailed", failure.message, work.generation),
                )
            self.finish(session, cluster, operations, nodegroups, work.status, False, reason, driver_label(work))
        self.notify(work, "error", reason)

    def succeed(self, work: Work, observed: Observed) -> None:
        now = self.clock()
        with self.db.transaction() as session:
            cluster = repo.fenced_cluster(session, work.claim)
            nodegroups = list(nodegroups_repo.for_cluster(session, cluster.uuid))
            cluster.api_address = observed.api_address
            # Magnum's stack_id / cluster_id is an opaque driver reference; ours is the cluster itself.
            cluster.stack_id = cluster.stack_id or cluster.uuid
            seen_status = observed.status
            if seen_status is not None:
                cluster.coe_version = seen_status.coe_version
                cluster.container_version = seen_status.container_version
                cluster.health_status, cluster.health_status_reason = health_of(seen_status)
                registry = seen_status.registry
                cluster.registry_address = registry.address if registry is not None else None
                cluster.registry_push_address = registry.push_address if registry is not None else None
            masters: list[str] = []
            workers: list[str] = []
            for ng in nodegroups:
                seen = observed.nodegroups.get(ng.uuid)
                if seen is not None:
                    ng.node_addresses = seen.addresses
                    ng.nodes = [{"name": n.name, "address": n.address or ""} for n in seen.nodes]
                    (masters if ng.role == MASTER else workers).extend(seen.addresses)
            cluster.master_addresses, cluster.node_addresses = masters, workers
            conditions = list(cluster.conditions or [])
            for _, condition in cond.PHASES:
                conditions = cond.set_condition(
                    conditions, cond.Condition(condition, True, "Ready", "", work.generation)
                )
            cluster.conditions = conditions
            if cluster.generation != work.generation:
                # A newer request arrived while this pass ran: converge again, finish what is done.
                for operation in operations_repo.open_for_cluster(session, cluster.uuid):
                    if operation.generation <= work.generation:
                        operations_repo.close(operation, OperationState.SUCCEEDED, now)
                        self.count([operation], driver_label(work), True, now)
                cluster.observed_generation = work.generation
                cluster.next_check_at = now
                repo.release(cluster)
                return
            cluster.observed_generation = work.generation
            operations = list(operations_repo.open_for_cluster(session, cluster.uuid))
            done = autoscaler_reason(operations)  # what the autoscaler did, and why; None for a user's request
            self.finish(
                session, cluster, operations, nodegroups, work.status, True, simulated(work, done), driver_label(work)
            )
        self.notify(work, "end", None)

    def deleted(self, work: Work, left: str | None = None) -> None:
        """The cluster is gone; ``left`` (a forced delete's leftovers) stays on its operation rows."""
        now = self.clock()
        with self.db.transaction() as session:
            cluster = repo.fenced_cluster(session, work.claim)
            operations = list(operations_repo.open_for_cluster(session, cluster.uuid))
            for operation in operations:
                operations_repo.close(operation, OperationState.SUCCEEDED, now, left)
            repo.delete_cluster_rows(session, cluster)
        self.count(operations, driver_label(work), True, now)
        self.notify(work, "end", left)

    def finish(
        self,
        session: Any,
        cluster: Cluster,
        operations: list[Operation],
        nodegroups: list[NodeGroup],
        status: Status,
        succeeded: bool,
        reason: str | None,
        driver: str = DEFAULT_DRIVER_LABEL,
    ) -> None:
        now = self.clock()
        self.count(operations, driver, succeeded, now)
        final = states.finish(status, succeeded=succeeded)
        cluster.status = final
        cluster.status_reason = reason
        for operation in operations:
            operations_repo.close(
                operation, OperationState.SUCCEEDED if succeeded else OperationState.FAILED, now,
                None if succeeded else reason,
            )  # fmt: skip
        for ng in nodegroups:
            ng_status = Status(ng.status) if ng.status else None
            if ng_status == Status.DELETE_IN_PROGRESS and succeeded:
                session.delete(ng)
            elif ng_status in states.IN_PROGRESS:
                ng.status = states.finish(ng_status, succeeded=succeeded)
                ng.status_reason = reason
        cluster.next_check_at = next_health_check(now, self.settings.conductor.health_polling_interval)
        repo.release(cluster)

    def count(self, operations: list[Operation], driver: str, succeeded: bool, now: datetime) -> None:
        """The metrics of operations that ended (in the fenced transaction that ends them)."""
        counter = self.metrics.operations_completed if succeeded else self.metrics.operations_failed
        result = "succeeded" if succeeded else "failed"
        for operation in operations:
            counter.labels(operation.action, driver).inc()
            created = operation.created_at
            if created is not None:
                created = created if created.tzinfo else created.replace(tzinfo=UTC)
                elapsed = max(0.0, (now - created).total_seconds())
                self.metrics.operation_duration.labels(operation.action, driver, result).observe(elapsed)

    def notify(self, work: Work, outcome: str, reason: str | None) -> None:
        kind = EVENT_OF_ACTION.get(work.actions[0], "update") if work.actions else "update"
        if work.status == Status.DELETE_IN_PROGRESS:
            kind = "delete"
        elif work.status == Status.CREATE_IN_PROGRESS:
            kind = "create"
        self.notifier.emit(f"magnum.cluster.{kind}.{outcome}", payload(work.spec, reason))
        # One line per operation's end (the log context names the cluster and the request).
        if outcome == "error":
            log.warning("cluster %s: %s failed: %s", work.spec.uuid, kind, reason)
        else:
            log.info("cluster %s: %s finished", work.spec.uuid, kind)


def driver_label(work: Work) -> str:
    return work.driver_name or DEFAULT_DRIVER_LABEL


def autoscaler_reason(operations: list[Operation]) -> str | None:
    """The reason of the autoscaler's resize when it is the last operation the pass finished."""
    if operations and operations[-1].user_id == autoscaling.REQUESTER:
        return autoscaling.AutoscalerResize.reason_of(operations[-1].request)
    return None


def simulated(work: Work, reason: str | None) -> str | None:
    """``reason``, saying so when the cluster is a simulation (nothing real was built)."""
    if not work.simulated:
        return reason
    note = f"Simulated by the {work.driver_name} driver: nothing real was built"
    return f"{reason} ({note})." if reason else f"{note}."


def payload(spec: ClusterSpec, reason: str | None) -> dict[str, Any]:
    return {"cluster_uuid": spec.uuid, "name": spec.name, "project_id": spec.project_id, "reason": reason}
