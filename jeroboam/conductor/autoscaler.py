"""The autoscaler's pass: claim the due autoscaled clusters, observe their workload through the
driver (in a pool, each answer handled as it comes, so one cluster's unreachable endpoint delays
only itself), decide with ``domain.autoscaling.plan``, and act as a user's resize would.

Every decision goes through ``operations.accept`` (THE transition table) as a ``resize``
operation whose requester is the autoscaler: the cluster goes ``UPDATE_IN_PROGRESS``, the
reconciler converges it (crash-resumable like any operation) and ends it ``UPDATE_COMPLETE`` with
the autoscaler's reason as ``status_reason``. Only settled (``*_COMPLETE``) clusters are claimed,
and a decision is written only if the cluster's generation did not move since the claim: a user's
resize, upgrade or delete always wins, and the next pass looks at the state they left.
"""

from __future__ import annotations

import contextlib
import logging
import uuid as uuidlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, as_completed
from concurrent.futures import TimeoutError as FuturesTimeoutError
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from jeroboam.conductor.outcomes import payload
from jeroboam.conductor.phases import ClusterDrivers, PhaseFailedError
from jeroboam.conductor.pki import ClusterPki
from jeroboam.conductor.spec import build_spec
from jeroboam.config import Settings
from jeroboam.context import RequestContext
from jeroboam.db.models import Cluster, NodeGroup
from jeroboam.db.repositories import autoscaler as repo
from jeroboam.db.repositories import leases
from jeroboam.db.repositories import nodegroups as nodegroups_repo
from jeroboam.db.repositories.leases import Claim, LeaseLostError
from jeroboam.db.session import Database
from jeroboam.domain import autoscaling as rules
from jeroboam.domain import states
from jeroboam.domain.autoscaling import Group, History, Plan, Resources, Timings, Workload
from jeroboam.domain.specs import MASTER, ClusterSpec
from jeroboam.domain.states import Action
from jeroboam.drivers.base import WorkloadNotObservableError
from jeroboam.errors import JeroboamError, RetryableError
from jeroboam.rpc.notifications import Notifier
from jeroboam.services.cluster_rules import mark
from jeroboam.services.operations import accept

log = logging.getLogger(__name__)


@dataclass
class Subject:
    """One claimed autoscaled cluster, as read for its pass."""

    claim: Claim
    spec: ClusterSpec
    driver: str
    groups: list[Group]
    history: History
    timings: Timings
    room: int | None
    notes: list[str]
    stored_note: str | None  # the note health_status_reason holds now


class Autoscaler:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        notifier: Notifier,
        pki: ClusterPki,
        drivers: ClusterDrivers,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.settings = settings
        self.notifier = notifier
        self.pki = pki
        self.drivers = drivers
        self.clock = clock
        config = settings.autoscaler
        self.defaults = Timings(
            unneeded=timedelta(seconds=config.scale_down_unneeded_time),
            delay_after_add=timedelta(seconds=config.scale_down_delay_after_add),
            pending_grace=timedelta(seconds=config.pending_grace),
        )

    # -- the pass --------------------------------------------------------------------------------
    def run(self, owner: str, limit: int, pool: Executor, *, skip_locked: bool) -> int:
        """Claim up to ``limit`` due autoscaled clusters and handle them; returns how many."""
        now = self.clock()
        lease = self.settings.conductor.lease_seconds
        with self.db.transaction() as session:
            claims = repo.claim_due(session, owner, now, now + timedelta(seconds=lease), limit, skip_locked=skip_locked)
        if claims:
            self.handle(claims, owner, pool, budget=min(self.settings.autoscaler.observe_timeout, lease * 0.8))
        return len(claims)

    def handle(self, claims: Sequence[Claim], owner: str, pool: Executor, budget: float) -> None:
        subjects, disabled = self._read(claims)
        unchanged: list[Claim] = []
        for claim in disabled:  # the label was switched off: stop at once
            with contextlib.suppress(LeaseLostError):
                self._write(claim, None, None, enabled=False)
        futures: dict[Future[Workload], Subject] = {
            pool.submit(self._observe, subject): subject for subject in subjects
        }  # fmt: skip
        try:
            for future in as_completed(futures, timeout=budget):
                subject = futures[future]
                try:
                    result = self._plan(subject, future.result())
                except (JeroboamError, RetryableError, WorkloadNotObservableError) as exc:
                    result = None
                    subject.notes.append(f"workload not observed: {exc}")
                except Exception as exc:  # one cluster's surprise never stops the others
                    log.warning("cluster %s: workload observation failed: %r", subject.spec.uuid, exc)
                    result = None
                    subject.notes.append(f"workload not observed ({type(exc).__name__})")
                if not self._changes(subject, result):
                    unchanged.append(subject.claim)
                    continue
                try:
                    self._write(subject.claim, subject, result, enabled=True)
                except LeaseLostError:
                    log.info("cluster %s: taken over during its autoscaler pass", subject.claim.cluster_id)
        except FuturesTimeoutError:
            late = [s.spec.uuid for f, s in futures.items() if not f.done()]
            for future in futures:
                future.cancel()
            log.warning(
                "autoscaler: %d clusters' workload did not answer within %.0f s (%s); they are looked at again "
                "when their leases lapse",
                len(late), budget, ", ".join(late[:5]),
            )  # fmt: skip
        now = self.clock()
        with self.db.transaction() as session:
            repo.release(session, owner, unchanged, now + timedelta(seconds=self.settings.autoscaler.interval))

    # -- reading ---------------------------------------------------------------------------------
    def _read(self, claims: Sequence[Claim]) -> tuple[list[Subject], list[Claim]]:
        quota = self.settings.quotas.max_nodes_per_project  # -1: no limit
        subjects: list[Subject] = []
        disabled: list[Claim] = []
        with self.db.read() as session:
            snap = repo.snapshot(session, claims, count_project_nodes=quota >= 0)
            tls = self.pki.stored_materials(
                session,
                {
                    uuid: bool(t.tls_disabled) if (t := snap.templates.get(c.cluster_template_id)) else True
                    for uuid, c in snap.clusters.items()
                },
            )
        for claim in claims:
            cluster = snap.clusters.get(claim.cluster_id)
            if cluster is None:
                continue  # taken over since it was claimed
            template = snap.templates.get(cluster.cluster_template_id)
            labels = dict(cluster.labels or {})
            if template is None or not rules.enabled(labels, dict(template.labels or {})):
                disabled.append(claim)
                continue
            nodegroups = snap.nodegroups.get(cluster.uuid, [])
            spec = replace(build_spec(cluster, template, nodegroups, []), tls=tls.get(cluster.uuid))
            notes: list[str] = []
            groups = self._groups(template.driver or "", spec, nodegroups, labels, notes)
            state = cluster.autoscaler_state or {}
            history = History(
                idle_since={name: datetime.fromisoformat(at) for name, at in (state.get("idle_since") or {}).items()},
                last_change=snap.last_change.get(cluster.uuid),
            )
            room = quota - snap.project_nodes.get(cluster.project_id, 0) if quota >= 0 else None
            timings = rules.timings_of(labels, self.defaults)
            stored = (cluster.health_status_reason or {}).get(rules.NOTE_KEY) or None
            subjects.append(Subject(claim, spec, template.driver or "", groups, history, timings, room, notes, stored))
        return subjects, disabled

    def _groups(
        self, driver_name: str, spec: ClusterSpec, nodegroups: Sequence[NodeGroup], labels: Mapping[str, Any],
        notes: list[str],
    ) -> list[Group]:  # fmt: skip
        """The cluster's worker nodegroups with their bounds and flavors; default worker first."""
        try:
            driver = self.drivers.get(driver_name)
        except PhaseFailedError as exc:
            notes.append(f"not autoscaled: {exc.message}")
            return []
        by_name = {ng.name: ng for ng in nodegroups}
        groups = []
        for ng_spec in sorted(spec.workers, key=lambda g: not by_name[g.name].is_default):
            ng = by_name[ng_spec.name]
            try:
                bounds = rules.bounds_of(
                    ng.node_count, ng.min_node_count, ng.max_node_count, {**labels, **(ng.labels or {})}
                )
            except JeroboamError as exc:
                notes.append(f"nodegroup {ng.name} is not autoscaled: {exc}")
                continue
            flavor = driver.flavor_of(ng_spec.flavor) if ng_spec.flavor else None
            capacity = Resources(float(flavor.vcpus), int(flavor.ram)) if flavor is not None else None
            node_labels = {**ng_spec.node_labels, rules.NODEGROUP_NODE_LABEL: ng.name}
            groups.append(Group(ng.name, ng.node_count, bounds, capacity, node_labels))
        return groups

    def _observe(self, subject: Subject) -> Workload:
        driver = self.drivers.get(subject.driver)
        return driver.observe_workload(subject.spec, self.settings.autoscaler.observe_timeout)

    def _plan(self, subject: Subject, workload: Workload) -> Plan:
        return rules.plan(subject.groups, workload, subject.history, subject.timings, self.clock(), subject.room)

    # -- writing ---------------------------------------------------------------------------------
    @staticmethod
    def _note(subject: Subject, result: Plan | None) -> str | None:
        parts = [*subject.notes, *([result.note] if result is not None and result.note else [])]
        return "; ".join(parts) or None

    def _changes(self, subject: Subject, result: Plan | None) -> bool:
        """Whether the pass has anything to write beyond releasing the claim."""
        if result is not None and result.decision is not None:
            return True
        idle = result.idle_since if result is not None else dict(subject.history.idle_since)
        return idle != subject.history.idle_since or self._note(subject, result) != subject.stored_note

    def _write(self, claim: Claim, subject: Subject | None, result: Plan | None, *, enabled: bool) -> None:
        now = self.clock()
        decided = None
        with self.db.transaction() as session:
            cluster = leases.fenced_cluster(session, claim)
            leases.release(cluster)
            cluster.autoscale_at = now + timedelta(seconds=self.settings.autoscaler.interval) if enabled else None
            reasons = dict(cluster.health_status_reason or {})
            note = self._note(subject, result) if subject is not None else None
            if (reasons.get(rules.NOTE_KEY) or None) != note:
                reasons.pop(rules.NOTE_KEY, None)
                cluster.health_status_reason = {**reasons, **({rules.NOTE_KEY: note} if note else {})}
            if not enabled or subject is None:
                cluster.autoscaler_state = None
                return
            if result is not None:
                idle = {name: at.isoformat() for name, at in sorted(result.idle_since.items())}
                if (cluster.autoscaler_state or {}).get("idle_since") != idle:
                    cluster.autoscaler_state = {"idle_since": idle}
            if cluster.generation != claim.generation or cluster.status not in states.COMPLETE:
                cluster.autoscale_at = now  # a user acted meanwhile: look again at what they left
                return
            if result is not None and result.decision is not None:
                decided = self._accept(session, cluster, result)
        if decided is not None and subject is not None:
            log.info("cluster %s: %s", claim.cluster_id, decided)
            self.notifier.emit("magnum.cluster.update.start", payload(subject.spec, decided))

    def _accept(self, session: Any, cluster: Cluster, result: Plan) -> str | None:
        decision = result.decision
        assert decision is not None
        nodegroup = next(
            (
                ng
                for ng in nodegroups_repo.for_cluster(session, cluster.uuid)
                if ng.name == decision.nodegroup and ng.role != MASTER
            ),
            None,
        )
        if nodegroup is None or nodegroup.node_count != decision.from_count:
            return None  # changed since it was read: the next pass decides on what is there
        context = RequestContext(
            project_id=cluster.project_id, user_id=rules.REQUESTER, roles=frozenset({"admin"}),
            request_id=f"req-{uuidlib.uuid4()}", is_admin=True,
        )  # fmt: skip
        request = rules.AutoscalerResize(
            node_count=decision.to_count,
            previous_node_count=decision.from_count,
            nodegroup=nodegroup.uuid,
            nodes_to_remove=decision.nodes_to_remove,
            reason=decision.reason,
        )
        accept(session, self.settings, context, cluster, Action.RESIZE, request, nodegroup_id=nodegroup.uuid)
        nodegroup.node_count = decision.to_count
        mark(nodegroup, cluster.status)
        cluster.status_reason = decision.reason
        if decision.grows:  # idle times start again once the new nodes are there
            cluster.autoscaler_state = {"idle_since": {}}
        return decision.reason
