"""Health checks of settled clusters (one by one, or in batches) and the autoheal they start."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, as_completed
from concurrent.futures import TimeoutError as FuturesTimeoutError
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

from jeroboam.conductor.outcomes import payload
from jeroboam.conductor.phases import ClusterDrivers, PhaseFailedError, Work
from jeroboam.conductor.pki import ClusterPki
from jeroboam.conductor.spec import bare_spec, build_spec
from jeroboam.config import Settings
from jeroboam.context import RequestContext
from jeroboam.db.repositories import leases as repo
from jeroboam.db.repositories.leases import Claim, LeaseLostError
from jeroboam.db.session import Database
from jeroboam.domain import autoscaling, states
from jeroboam.domain.health import auto_healing_enabled, health_of, moved, next_health_check
from jeroboam.domain.operations import Autoheal
from jeroboam.domain.specs import ClusterSpec
from jeroboam.domain.states import Action, Health, Status
from jeroboam.errors import JeroboamError
from jeroboam.observability import logs
from jeroboam.observability.metrics import metrics
from jeroboam.rpc.notifications import Notifier
from jeroboam.services.operations import accept

log = logging.getLogger(__name__)


class Probed(NamedTuple):
    """A health probe's outcome: health, reason, and the ``api_address`` the driver says users
    should be given now (None: the driver did not say)."""

    health: Health
    reason: dict[str, str]
    address: str | None = None


class HealthChecks:
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

    def check(self, work: Work) -> None:
        self.record(work.claim, work.spec, work.autoheal, self.probe(work.driver_name, work.spec))

    def probe(self, driver_name: str, spec: ClusterSpec) -> Probed:
        """Ask the driver what is there; a failure to ask is an UNKNOWN health with the reason."""
        try:
            driver = self.drivers.get(driver_name)
            observation = driver.observe(spec)
            return Probed(*health_of(observation), observation.api_address)
        except (PhaseFailedError, JeroboamError) as exc:
            return Probed(Health.UNKNOWN, {"api": str(exc)})
        except Exception as exc:  # a health probe must never take the conductor down
            log.warning("cluster %s: health check failed: %s", spec.uuid, exc)
            return Probed(Health.UNKNOWN, {"api": f"health check failed ({type(exc).__name__})"})

    def record(self, claim: Claim, spec: ClusterSpec, autoheal: bool, probed: Probed) -> None:
        """Write a health check's outcome (fenced by the claim), start autoheal, release the lease."""
        with logs.about_cluster(spec.uuid):
            self._record(claim, spec, autoheal, probed)

    def _record(self, claim: Claim, spec: ClusterSpec, autoheal: bool, probed: Probed) -> None:
        now = self.clock()
        heal = False
        health, reason = probed.health, probed.reason
        with self.db.transaction() as session:
            cluster = repo.fenced_cluster(session, claim)
            if probed.address and probed.address != cluster.api_address and cluster.api_address:
                # The endpoint users were given stopped answering and the driver found one that does
                # (another manager): hand that one out from now on, and say so.
                log.info("cluster %s: api_address moved from %s to %s", spec.uuid, cluster.api_address, probed.address)
                reason = moved(reason, cluster.api_address, probed.address)
                cluster.api_address = probed.address
            cluster.health_status = health
            cluster.health_status_reason = autoscaling.with_note(reason, cluster.health_status_reason)
            cluster.next_check_at = next_health_check(now, self.settings.conductor.health_polling_interval)
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
                       Autoheal(failed))  # fmt: skip
                heal = True
                metrics().autoheal_replacements.inc(len(failed))
            repo.release(cluster)
        if heal:
            log.info("cluster %s: unhealthy with auto_healing_enabled; replacing failed nodes", spec.uuid)
            self.notifier.emit("magnum.cluster.update.start", payload(spec, "autoheal"))

    def check_batch(self, claims: Sequence[Claim], owner: str, pool: Executor, budget: float) -> None:
        """Health checks of a batch of claimed settled clusters, with a constant number of queries
        for those whose health did not change: one snapshot (clusters, templates, nodegroups,
        certificates), the driver probes in ``pool``, and two statements that release the leases
        and schedule the next check. A cluster whose health changed, or that needs autoheal, is
        written on its own, fenced, as ``check`` does. Probes that do not answer within
        ``budget`` seconds are left: their leases lapse and they are checked again."""
        probes: dict[str, tuple[Claim, ClusterSpec, bool, str | None, dict[str, Any], str | None]] = {}
        futures: dict[Future[Probed], str] = {}
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
                autoheal = auto_healing_enabled(cluster.labels)
                if template is None:
                    reason = {"api": f"The cluster template {cluster.cluster_template_id} no longer exists."}
                    probes[claim.cluster_id] = (claim, bare_spec(cluster), autoheal, None, {}, None)
                    done: Future[Probed] = Future()
                    done.set_result(Probed(Health.UNKNOWN, reason))
                    futures[done] = claim.cluster_id
                    continue
                spec = replace(build_spec(cluster, template, nodegroups[cluster.uuid], []), tls=tls[cluster.uuid])
                stored = (cluster.health_status, dict(cluster.health_status_reason or {}), cluster.api_address)
                probes[claim.cluster_id] = (claim, spec, autoheal, *stored)
                futures[pool.submit(self.probe, template.driver or "", spec)] = claim.cluster_id
        results: dict[str, Probed] = {}
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
        changed: list[tuple[Claim, ClusterSpec, bool, Probed]] = []
        for uuid, probed in results.items():
            claim, spec, autoheal, stored_health, stored_reason, stored_address = probes[uuid]
            if (
                probed.health == stored_health
                and autoscaling.with_note(probed.reason, stored_reason) == stored_reason
                and probed.address in (None, stored_address)
                and not (autoheal and probed.health == Health.UNHEALTHY)
            ):
                unchanged.append(claim)
            else:
                changed.append((claim, spec, autoheal, probed))
        now = self.clock()
        due = next_health_check(now, self.settings.conductor.health_polling_interval)
        with self.db.transaction() as session:
            repo.release_unchanged(session, owner, unchanged, due, now)
        for claim, spec, autoheal, probed in changed:
            try:
                self.record(claim, spec, autoheal, probed)
            except LeaseLostError:
                log.info("cluster %s: lease taken over during its health check; not recorded", claim.cluster_id)
