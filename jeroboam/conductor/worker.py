"""The conductor: claim due clusters, reconcile them in threads, keep their leases alive.

The database is the queue. A loop claims clusters whose ``next_check_at`` has
come (a wake-up only makes it look sooner), runs each in its own thread, and a
renewer extends the leases of running work — but never past the operation's
deadline: a driver call that hangs lets its lease lapse, so any conductor can
take the cluster over and fail the operation truthfully, while the hung
thread's late writes are refused by the fencing token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from jeroboam.conductor.heartbeat import Heartbeat
from jeroboam.conductor.reconciler import Reconciler
from jeroboam.config import Settings
from jeroboam.db.repositories import engine as repo
from jeroboam.db.repositories.engine import Claim
from jeroboam.db.session import Database
from jeroboam.domain import states
from jeroboam.drivers.registry import DriverRegistry
from jeroboam.errors import ServiceUnavailableError
from jeroboam.pki.secrets import Keyring
from jeroboam.rpc.notifications import Notifier

log = logging.getLogger(__name__)
REPAIR_INTERVAL = 30.0


class WakeSource(Protocol):
    def wait(self, timeout: float) -> bool: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Active:
    claim: Claim
    thread: threading.Thread
    started: float


class Conductor:
    def __init__(
        self,
        db: Database,
        drivers: DriverRegistry,
        settings: Settings,
        *,
        notifier: Notifier,
        wakeups: WakeSource,
        host: str | None = None,
        keyring: Keyring | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.settings = settings
        self.wakeups = wakeups
        self.host = host or settings.service.host
        self.owner = f"{self.host}:{id(self):x}"
        self.clock = clock
        self.reconciler = Reconciler(db, drivers, settings, notifier, keyring=keyring, clock=clock)
        self.heartbeat = Heartbeat(db, self.host, settings.service.periodic_interval_max)
        self._active: dict[str, Active] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._skip_locked = db.backend in ("postgresql", "mysql", "mariadb")

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self.heartbeat.start()
        for target, name in ((self._loop, "conductor-loop"), (self._renew_loop, "conductor-leases")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("conductor %s started", self.owner)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.heartbeat.stop()
        for thread in self._threads:
            thread.join(timeout)
        deadline = time.monotonic() + timeout
        for active in list(self._active.values()):
            active.thread.join(max(0.0, deadline - time.monotonic()))

    # -- the loop --------------------------------------------------------------------------------
    def _loop(self) -> None:
        last_repair = 0.0
        while not self._stop.is_set():
            claimed = 0
            try:
                if time.monotonic() - last_repair > REPAIR_INTERVAL:
                    self._repair()
                    last_repair = time.monotonic()
                claimed = self.claim_and_start()
            except ServiceUnavailableError as exc:
                log.warning("conductor: database unavailable: %s", exc.message)
            except Exception:  # the loop must survive anything
                log.exception("conductor loop error")
            if claimed and self._free_slots() > 0:
                continue  # there may be more due work right now
            self.wakeups.wait(self.settings.conductor.poll_interval)

    def _free_slots(self) -> int:
        with self._lock:
            for uuid, active in list(self._active.items()):
                if not active.thread.is_alive():
                    del self._active[uuid]
            return self.settings.conductor.workers - len(self._active)

    def claim_and_start(self) -> int:
        """Claim what is due (up to the free slots) and start reconciling it; returns the count."""
        free = self._free_slots()
        if free <= 0:
            return 0
        now = self.clock()
        lease_until = now + timedelta(seconds=self.settings.conductor.lease_seconds)
        with self.db.transaction() as session:
            claims = repo.claim_due(session, self.owner, now, lease_until, free, skip_locked=self._skip_locked)
        for claim in claims:
            thread = threading.Thread(target=self._reconcile, args=(claim,), name=f"reconcile-{claim.cluster_id[:8]}")
            with self._lock:
                self._active[claim.cluster_id] = Active(claim, thread, time.monotonic())
            thread.start()
        return len(claims)

    def _reconcile(self, claim: Claim) -> None:
        try:
            self.reconciler.run(claim)
        except ServiceUnavailableError as exc:
            log.warning("cluster %s: database unavailable: %s", claim.cluster_id, exc.message)
        except Exception:
            log.exception("cluster %s: reconcile crashed; the lease will lapse and it is retried", claim.cluster_id)

    def _repair(self) -> None:
        with self.db.transaction() as session:
            fixed = repo.in_progress_without_schedule(session, [s.value for s in states.IN_PROGRESS], self.clock())
        if fixed:
            log.warning("conductor: rescheduled %d in-progress clusters that had no schedule", fixed)

    # -- leases ----------------------------------------------------------------------------------
    def _renew_loop(self) -> None:
        period = self.settings.conductor.lease_seconds / 3
        while not self._stop.wait(period):
            try:
                self.renew_leases()
            except Exception:
                log.exception("lease renewal failed")

    def renew_leases(self) -> None:
        with self._lock:
            running = [a.claim for a in self._active.values() if a.thread.is_alive()]
        if not running:
            return
        now = self.clock()
        lease_until = now + timedelta(seconds=self.settings.conductor.lease_seconds)
        with self.db.transaction() as session:
            for claim in running:
                deadline = repo.deadline_of(session, claim.cluster_id)
                # Past its deadline a stuck call loses its lease, so the operation can be failed;
                # so does work a delete superseded, so the delete need not wait for a stuck call.
                if (deadline is None or now < deadline) and not repo.superseded_by_delete(session, claim):
                    repo.renew(session, claim, lease_until)
