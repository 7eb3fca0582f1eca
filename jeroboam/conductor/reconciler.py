"""Reconcile one claimed cluster toward its desired spec, through its driver.

An in-progress cluster runs the ordered phases (infrastructure → pki →
control plane → workers → endpoint), each an idempotent ``ensure`` that can
run again after a crash; a deleting cluster runs the driver's delete; a
settled cluster gets a health check (and autoheal). Every database write is
fenced by the claim's token. The driver is called with no transaction open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, as_completed
from concurrent.futures import TimeoutError as FuturesTimeoutError
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from jeroboam.config import Settings
from jeroboam.context import RequestContext
from jeroboam.db.models import Cluster, ClusterTemplate, NodeGroup, Operation
from jeroboam.db.repositories import leases as repo
from jeroboam.db.repositories.leases import Claim, LeaseLostError
from jeroboam.db.session import Database
from jeroboam.domain import conditions as cond
from jeroboam.domain import states
from jeroboam.domain.specs import (
    MASTER,
    ClusterObservation,
    ClusterSpec,
    NodeGroupObservation,
    NodeGroupSpec,
    Taint,
    canonical_coe,
)
from jeroboam.domain.states import Action, Health, Status
from jeroboam.drivers.base import ClusterDriver, PermanentError, RetryableError
from jeroboam.drivers.registry import DriverRegistry
from jeroboam.errors import JeroboamError
from jeroboam.pki.secrets import Keyring
from jeroboam.rpc.notifications import Notifier
from jeroboam.services.certificates import ClusterPki
from jeroboam.services.operations import accept

log = logging.getLogger(__name__)
T = TypeVar("T")

UNKNOWN_ERROR_DELAY = 2.0
EVENT_OF_ACTION = {Action.CREATE: "create", Action.DELETE: "delete"}


def utcnow() -> datetime:
    return datetime.now(UTC)


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


def _taints(raw: list[dict[str, Any]]) -> tuple[Taint, ...]:
    return tuple(Taint(key=t["key"], effect=t["effect"], value=t.get("value")) for t in raw if "key" in t)


def build_spec(
    cluster: Cluster | Any,
    template: ClusterTemplate | Any,
    nodegroups: Sequence[NodeGroup | Any],
    operations: Sequence[Operation],
) -> ClusterSpec:
    """The driver's view of the desired state, from ORM objects or plain rows of the same columns
    (a health check's snapshot)."""  # fmt: skip
    removals: dict[str, tuple[str, ...]] = {}
    batch = 1
    for operation in operations:
        request = operation.request or {}
        if operation.action == Action.RESIZE and request.get("nodes_to_remove"):
            removals[operation.nodegroup_id or ""] = tuple(str(n) for n in request["nodes_to_remove"])
        if operation.action == Action.UPGRADE and request.get("max_batch_size"):
            batch = int(request["max_batch_size"])
    default_worker = next((ng.uuid for ng in nodegroups if ng.is_default and ng.role != MASTER), "")
    specs = []
    for ng in nodegroups:
        if ng.status == Status.DELETE_IN_PROGRESS:
            continue
        to_remove = removals.get(ng.uuid, ())
        if not to_remove and ng.uuid == default_worker:
            to_remove = removals.get("", ())
        specs.append(
            NodeGroupSpec(
                uuid=ng.uuid,
                name=ng.name,
                role=ng.role,
                node_count=ng.node_count,
                image=ng.image_id or template.image_id,
                flavor=ng.flavor_id or (template.master_flavor_id if ng.role == MASTER else template.flavor_id),
                labels=dict(ng.labels or {}),
                node_labels=dict(ng.node_labels or {}),
                node_taints=_taints(list(ng.node_taints or [])),
                docker_volume_size=ng.docker_volume_size or cluster.docker_volume_size,
                nodes_to_remove=to_remove,
                max_batch_size=batch,
            )
        )
    return ClusterSpec(
        uuid=cluster.uuid,
        name=cluster.name or cluster.uuid,
        project_id=cluster.project_id,
        coe=canonical_coe(template.coe),
        template_id=template.uuid,
        labels=dict(cluster.labels or {}),
        nodegroups=tuple(specs),
        generation=cluster.generation,
        master_lb_enabled=cluster.master_lb_enabled,
        floating_ip_enabled=cluster.floating_ip_enabled,
        fixed_network=cluster.fixed_network,
        fixed_subnet=cluster.fixed_subnet,
        keypair=cluster.keypair,
        tls_disabled=template.tls_disabled,
    )


def health_of(observation: ClusterObservation) -> tuple[Health, dict[str, str]]:
    reason: dict[str, str] = {"api": "ok" if observation.api_ok else (observation.api_reason or "unreachable")}
    healthy = observation.api_ok
    for group in observation.nodegroups:
        for node in group.nodes:
            reason[f"{node.name}.Ready"] = "True" if node.ready else "False"
            if not node.ready:
                healthy = False
                if node.reason:
                    reason[f"{node.name}.Reason"] = node.reason
    return (Health.HEALTHY if healthy else Health.UNHEALTHY), reason


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
        self.drivers = drivers
        self.settings = settings
        self.notifier = notifier
        self.clock = clock
        self.pki = ClusterPki(db, settings, keyring, clock=clock)
        self._cluster_drivers: dict[str, ClusterDriver] = {}

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
                self._check_health(work)
        except LeaseLostError:
            log.info("cluster %s: lease taken over by another conductor; stopping", claim.cluster_id)
            if work is not None and work.status in states.IN_PROGRESS and work.status != Status.DELETE_IN_PROGRESS:
                self._undo_late_call(work)
        except SupersededError:
            log.info("cluster %s: a delete superseded the running operation", claim.cluster_id)

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
            template = repo.template_of(session, cluster)
            nodegroups = list(repo.nodegroups_of(session, cluster))
            operations = list(repo.open_operations(session, cluster))
            status = Status(cluster.status) if cluster.status else Status.CREATE_IN_PROGRESS
            if template is None:
                if status == Status.DELETE_IN_PROGRESS:
                    repo.delete_cluster_rows(session, cluster)
                    return None
                self._finish(session, cluster, operations, nodegroups, status, False,
                             f"The cluster template {cluster.cluster_template_id} no longer exists.")  # fmt: skip
                return None
            for operation in operations:
                if operation.state == "pending":
                    operation.state = "running"
                    operation.started_at = now
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
                autoheal=str((cluster.labels or {}).get("auto_healing_enabled", "")).lower() == "true",
            )

    def _driver(self, work: Work) -> ClusterDriver:
        return self._driver_named(work.driver_name)

    def _driver_named(self, name: str) -> ClusterDriver:
        driver = self._cluster_drivers.get(name)
        if driver is None:
            found = self.drivers.get(name)
            # A runtime Protocol check inspects every member: done once per driver, not per call.
            if not isinstance(found, ClusterDriver):
                raise PhaseFailedError("infrastructure", f"The {name} driver cannot build clusters yet.")
            driver = self._cluster_drivers[name] = found
        return driver

    # -- in-progress work ---------------------------------------------------------------------
    def _progress(self, work: Work) -> None:
        try:
            if self.clock() >= work.deadline:
                raise PhaseFailedError(self._current_phase(work), self._timeout_message(work))
            driver = self._driver(work)
            if work.status == Status.DELETE_IN_PROGRESS:
                self._phase(work, "delete", lambda: driver.delete_cluster(work.spec))
                self._deleted(work)
                return
            observed = self._run_phases(work, driver)
        except PhaseRetryError as retry:
            self._retry_later(work, retry)
            return
        except PhaseFailedError as failure:
            self._fail(work, failure)
            return
        self._succeed(work, observed)

    def _run_phases(self, work: Work, driver: ClusterDriver) -> dict[str, Any]:
        spec = work.spec
        observed: dict[str, Any] = {"nodegroups": {}}
        self._phase(work, "infrastructure", lambda: driver.ensure_infrastructure(spec))
        tls = self._phase(work, "pki", lambda: self.pki.ensure(work.claim, spec, driver))
        spec = work.spec = replace(spec, tls=tls)  # the later phases hand the endpoint its TLS
        for group in spec.masters:
            observed["nodegroups"][group.uuid] = self._phase(
                work,
                "control_plane",
                lambda g=group: driver.ensure_nodegroup(spec, g),  # type: ignore[misc]
            )
        for name in work.deleting_nodegroups:
            self._phase(work, "workers", lambda n=name: driver.delete_nodegroup(spec, n))  # type: ignore[misc]
        for group in spec.workers:
            observed["nodegroups"][group.uuid] = self._phase(
                work,
                "workers",
                lambda g=group: driver.ensure_nodegroup(spec, g),  # type: ignore[misc]
            )
        observed["api_address"] = self._phase(work, "endpoint", lambda: driver.ensure_endpoint(spec))
        observed["status"] = self._phase(work, "status", lambda: driver.observe(spec))
        return observed

    def _phase(self, work: Work, phase: str, call: Callable[[], T]) -> T:
        """Run one driver call of ``phase``; classify its failure; record progress."""
        if self.clock() >= work.deadline:
            raise PhaseFailedError(phase, self._timeout_message(work, phase))
        self._record_phase(work, phase)
        try:
            return call()
        except RetryableError as exc:
            raise PhaseRetryError(phase, str(exc), exc.delay) from exc
        except PermanentError as exc:
            raise PhaseFailedError(phase, str(exc)) from exc
        except LeaseLostError:
            raise
        except Exception as exc:  # an unexpected driver error: retry a few times, then give up
            log.exception("cluster %s: unexpected error in phase %s", work.spec.uuid, phase)
            if work.attempts >= self.settings.conductor.unknown_error_retries:
                raise PhaseFailedError(
                    phase,
                    f"the {work.driver_name} driver failed unexpectedly ({type(exc).__name__}); see the conductor log",
                ) from exc
            raise PhaseRetryError(phase, f"unexpected {type(exc).__name__}", UNKNOWN_ERROR_DELAY) from exc

    def _record_phase(self, work: Work, phase: str) -> None:
        lease = timedelta(seconds=self.settings.conductor.lease_seconds)
        with self.db.transaction() as session:
            status = repo.fenced_status(session, work.claim)
            if status == Status.DELETE_IN_PROGRESS and work.status != Status.DELETE_IN_PROGRESS:
                # Nothing is written (the raise rolls back): the delete takes over once this
                # claim's lease, which the renewer no longer extends, lapses.
                raise SupersededError(work.spec.uuid)
            now = self.clock()
            repo.record_phase(session, work.claim, phase, now + lease, now)
        log.debug("cluster %s: phase %s", work.spec.uuid, phase)

    def _current_phase(self, work: Work) -> str:
        with self.db.transaction() as session:
            cluster = repo.fenced_cluster(session, work.claim)
            phases = [op.phase for op in repo.open_operations(session, cluster) if op.phase]
        return phases[-1] if phases else "infrastructure"

    def _timeout_message(self, work: Work, phase: str | None = None) -> str:
        return (
            f"the operation did not finish by its deadline ({work.deadline:%Y-%m-%d %H:%M:%S} UTC)"
            + (f" while in phase {phase}" if phase else "")
            + "; retry it, or raise create_timeout / [cluster] update_timeout if the infrastructure is slow"
        )

    # -- outcomes ----------------------------------------------------------------------------
    def _outdated(self, cluster: Cluster, work: Work) -> bool:
        """A newer request changed the spec while this pass ran: its outcome no longer applies;
        the cluster is due again at once so the newest spec is converged."""
        if cluster.generation == work.generation:
            return False
        cluster.next_check_at = self.clock()
        repo.release(cluster)
        return True

    def _retry_later(self, work: Work, retry: PhaseRetryError) -> None:
        now = self.clock()
        with self.db.transaction() as session:
            cluster = repo.fenced_cluster(session, work.claim)
            if self._outdated(cluster, work):
                return
            for operation in repo.open_operations(session, cluster):
                operation.attempts += 1
                operation.reason = f"retrying phase {retry.phase}: {retry.message}"
            cluster.status_reason = f"Waiting to retry phase {retry.phase}: {retry.message}"
            cluster.next_check_at = now + timedelta(seconds=retry.delay)
            repo.release(cluster)

    def _fail(self, work: Work, failure: PhaseFailedError) -> None:
        verb = {Status.CREATE_IN_PROGRESS: "Create", Status.DELETE_IN_PROGRESS: "Delete"}.get(work.status, "Update")
        reason = f"{verb} failed in phase {failure.phase}: {failure.message}"
        with self.db.transaction() as session:
            cluster = repo.fenced_cluster(session, work.claim)
            if self._outdated(cluster, work):
                return
            operations = list(repo.open_operations(session, cluster))
            nodegroups = list(repo.nodegroups_of(session, cluster))
            condition = dict(cond.PHASES).get(failure.phase)
            if condition:
                cluster.conditions = cond.set_condition(
                    list(cluster.conditions or []),
                    cond.Condition(condition, False, "PhaseFailed", failure.message, work.generation),
                )
            self._finish(session, cluster, operations, nodegroups, work.status, False, reason)
        self._notify(work, "error", reason)

    def _succeed(self, work: Work, observed: dict[str, Any]) -> None:
        now = self.clock()
        with self.db.transaction() as session:
            cluster = repo.fenced_cluster(session, work.claim)
            nodegroups = list(repo.nodegroups_of(session, cluster))
            cluster.api_address = observed.get("api_address")
            # Magnum's stack_id / cluster_id is an opaque driver reference; ours is the cluster itself.
            cluster.stack_id = cluster.stack_id or cluster.uuid
            seen_status: ClusterObservation | None = observed.get("status")
            if seen_status is not None:
                cluster.coe_version = seen_status.coe_version
                cluster.container_version = seen_status.container_version
                cluster.health_status, cluster.health_status_reason = health_of(seen_status)
            masters: list[str] = []
            workers: list[str] = []
            for ng in nodegroups:
                seen: NodeGroupObservation | None = observed["nodegroups"].get(ng.uuid)
                if seen is not None:
                    ng.node_addresses = seen.addresses
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
                for operation in repo.open_operations(session, cluster):
                    if operation.generation <= work.generation:
                        self._close(operation, "succeeded", now)
                cluster.observed_generation = work.generation
                cluster.next_check_at = now
                repo.release(cluster)
                return
            cluster.observed_generation = work.generation
            operations = list(repo.open_operations(session, cluster))
            self._finish(session, cluster, operations, nodegroups, work.status, True, None)
        self._notify(work, "end", None)

    def _deleted(self, work: Work) -> None:
        now = self.clock()
        with self.db.transaction() as session:
            cluster = repo.fenced_cluster(session, work.claim)
            for operation in repo.open_operations(session, cluster):
                self._close(operation, "succeeded", now)
            repo.delete_cluster_rows(session, cluster)
        self._notify(work, "end", None)

    def _finish(
        self,
        session: Any,
        cluster: Cluster,
        operations: list[Operation],
        nodegroups: list[NodeGroup],
        status: Status,
        succeeded: bool,
        reason: str | None,
    ) -> None:
        now = self.clock()
        final = states.finish(status, succeeded=succeeded)
        cluster.status = final
        cluster.status_reason = reason
        for operation in operations:
            self._close(operation, "succeeded" if succeeded else "failed", now, reason)
        for ng in nodegroups:
            ng_status = Status(ng.status) if ng.status else None
            if ng_status == Status.DELETE_IN_PROGRESS and succeeded:
                session.delete(ng)
            elif ng_status in states.IN_PROGRESS:
                ng.status = states.finish(ng_status, succeeded=succeeded)
                ng.status_reason = reason
        interval = self.settings.conductor.health_polling_interval
        cluster.next_check_at = now + timedelta(seconds=interval) if interval >= 0 else None
        repo.release(cluster)

    @staticmethod
    def _close(operation: Operation, state: str, now: datetime, reason: str | None = None) -> None:
        operation.state = state
        operation.finished_at = now
        operation.reason = reason

    # -- settled clusters: health and autoheal ---------------------------------------------------
    def _check_health(self, work: Work) -> None:
        health, reason = self._probe(work.driver_name, work.spec)
        self._record_health(work.claim, work.spec, work.autoheal, health, reason)

    def _probe(self, driver_name: str, spec: ClusterSpec) -> tuple[Health, dict[str, str]]:
        """Ask the driver what is there; a failure to ask is an UNKNOWN health with the reason."""
        try:
            driver = self._driver_named(driver_name)
            return health_of(driver.observe(spec))
        except (PhaseFailedError, JeroboamError) as exc:
            return Health.UNKNOWN, {"api": str(exc)}
        except Exception as exc:  # a health probe must never take the conductor down
            log.warning("cluster %s: health check failed: %s", spec.uuid, exc)
            return Health.UNKNOWN, {"api": f"health check failed ({type(exc).__name__})"}

    def _record_health(
        self, claim: Claim, spec: ClusterSpec, autoheal: bool, health: Health, reason: dict[str, str]
    ) -> None:
        """Write a health check's outcome (fenced by the claim), start autoheal, release the lease."""
        now = self.clock()
        heal = False
        with self.db.transaction() as session:
            cluster = repo.fenced_cluster(session, claim)
            cluster.health_status = health
            cluster.health_status_reason = reason
            interval = self.settings.conductor.health_polling_interval
            cluster.next_check_at = now + timedelta(seconds=interval) if interval >= 0 else None
            if cluster.generation != claim.generation:
                cluster.next_check_at = now  # a request accepted during the probe is due now
            status = Status(cluster.status) if cluster.status else None
            if (
                autoheal
                and health == Health.UNHEALTHY
                and status in states.COMPLETE
                and states.allowed(status, Action.UPDATE)
            ):
                failed = sorted(k.removesuffix(".Ready") for k, v in reason.items() if v == "False")
                accept(session, self.settings, RequestContext.admin(), cluster, Action.UPDATE,
                       {"autoheal": True, "nodes": failed})  # fmt: skip
                heal = True
            repo.release(cluster)
        if heal:
            log.info("cluster %s: unhealthy with auto_healing_enabled; replacing failed nodes", spec.uuid)
            self.notifier.emit("magnum.cluster.update.start", _payload(spec, "autoheal"))

    def check_health_batch(self, claims: Sequence[Claim], owner: str, pool: Executor, budget: float) -> None:
        """Health checks of a batch of claimed settled clusters, with a constant number of queries
        for those whose health did not change: one snapshot (clusters, templates, nodegroups,
        certificates), the driver probes in ``pool``, and two statements that release the leases
        and schedule the next check. A cluster whose health changed, or that needs autoheal, is
        written on its own, fenced, as ``_check_health`` does. Probes that do not answer within
        ``budget`` seconds are left: their leases lapse and they are checked again."""
        probes: dict[str, tuple[Claim, ClusterSpec, bool, str | None, dict[str, Any]]] = {}
        futures: dict[Future[tuple[Health, dict[str, str]]], str] = {}
        with self.db.read() as session:
            clusters, templates, nodegroups = repo.settled_snapshot(session, claims)
            tls_disabled = {
                uuid: bool(t.tls_disabled) if (t := templates.get(c.cluster_template_id)) else True
                for uuid, c in clusters.items()
            }
            tls = self.pki.stored_materials(session, tls_disabled)
            for claim in claims:
                cluster = clusters.get(claim.cluster_id)
                if cluster is None:
                    continue  # taken over since it was claimed: not ours to check
                template = templates.get(cluster.cluster_template_id)
                autoheal = str((cluster.labels or {}).get("auto_healing_enabled", "")).lower() == "true"
                if template is None:
                    reason = {"api": f"The cluster template {cluster.cluster_template_id} no longer exists."}
                    probes[claim.cluster_id] = (claim, _bare_spec(cluster), autoheal, None, {})
                    done: Future[tuple[Health, dict[str, str]]] = Future()
                    done.set_result((Health.UNKNOWN, reason))
                    futures[done] = claim.cluster_id
                    continue
                spec = replace(build_spec(cluster, template, nodegroups[cluster.uuid], []), tls=tls[cluster.uuid])
                stored = (cluster.health_status, dict(cluster.health_status_reason or {}))
                probes[claim.cluster_id] = (claim, spec, autoheal, *stored)
                futures[pool.submit(self._probe, template.driver or "", spec)] = claim.cluster_id
        results: dict[str, tuple[Health, dict[str, str]]] = {}
        try:
            for future in as_completed(futures, timeout=budget):
                results[futures[future]] = future.result()
        except FuturesTimeoutError:
            for future in futures:
                future.cancel()
            log.warning(
                "health checks of %d clusters did not answer within %.0f s; they are checked again when "
                "their leases lapse",
                len(futures) - len(results),
                budget,
            )
        unchanged: list[Claim] = []
        changed: list[tuple[Claim, ClusterSpec, bool, Health, dict[str, str]]] = []
        for uuid, (health, reason) in results.items():
            claim, spec, autoheal, stored_health, stored_reason = probes[uuid]
            if health == stored_health and reason == stored_reason and not (autoheal and health == Health.UNHEALTHY):
                unchanged.append(claim)
            else:
                changed.append((claim, spec, autoheal, health, reason))
        now = self.clock()
        interval = self.settings.conductor.health_polling_interval
        with self.db.transaction() as session:
            repo.release_unchanged(
                session, owner, unchanged, now + timedelta(seconds=interval) if interval >= 0 else None, now
            )
        for claim, spec, autoheal, health, reason in changed:
            try:
                self._record_health(claim, spec, autoheal, health, reason)
            except LeaseLostError:
                log.info("cluster %s: lease taken over during its health check; not recorded", claim.cluster_id)

    # -- notifications -----------------------------------------------------------------------------
    def _notify(self, work: Work, outcome: str, reason: str | None) -> None:
        kind = EVENT_OF_ACTION.get(work.actions[0], "update") if work.actions else "update"
        if work.status == Status.DELETE_IN_PROGRESS:
            kind = "delete"
        elif work.status == Status.CREATE_IN_PROGRESS:
            kind = "create"
        self.notifier.emit(f"magnum.cluster.{kind}.{outcome}", self._payload(work, reason))

    @staticmethod
    def _payload(work: Work, reason: str | None) -> dict[str, Any]:
        return _payload(work.spec, reason)


def _payload(spec: ClusterSpec, reason: str | None) -> dict[str, Any]:
    return {"cluster_uuid": spec.uuid, "name": spec.name, "project_id": spec.project_id, "reason": reason}


def _bare_spec(cluster: Cluster | Any) -> ClusterSpec:
    """A spec that names the cluster only (its template is gone: nothing to probe)."""
    return ClusterSpec(
        uuid=cluster.uuid, name=cluster.name or cluster.uuid, project_id=cluster.project_id, coe="",
        template_id=cluster.cluster_template_id, labels=dict(cluster.labels or {}), nodegroups=(),
        generation=cluster.generation,
    )  # fmt: skip
