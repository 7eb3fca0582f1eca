"""The conductor: claim due clusters, reconcile them in threads, keep their leases alive.

The database is the queue. A loop claims clusters whose ``next_check_at`` has
come (a wake-up only makes it look sooner), runs each in its own thread, and a
renewer extends the leases of running work — but never past the operation's
deadline: a driver call that hangs lets its lease lapse, so any conductor can
take the cluster over and fail the operation truthfully, while the hung
thread's late writes are refused by the fencing token.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from jeroboam.conductor.autoscaler import Autoscaler
from jeroboam.conductor.heartbeat import Heartbeat
from jeroboam.conductor.reconciler import Reconciler
from jeroboam.config import Settings
from jeroboam.db.repositories import leases as repo
from jeroboam.db.repositories.leases import Claim
from jeroboam.db.session import Database
from jeroboam.domain import states
from jeroboam.drivers.registry import DriverRegistry
from jeroboam.errors import DatabaseUnavailableError, ServiceUnavailableError
from jeroboam.observability import logs
from jeroboam.observability.metrics import metrics
from jeroboam.pki.secrets import Keyring
from jeroboam.rpc.notifications import Notifier

log = logging.getLogger(__name__)
T = TypeVar("T")
REPAIR_INTERVAL = 30.0
HEALTH_BATCH_PER_WORKER = 50


class DaemonPool(Executor):
    """A fixed pool of daemon threads: a probe stuck in a driver call never keeps the process from
    exiting (``ThreadPoolExecutor`` joins its threads at interpreter exit)."""

    def __init__(self, size: int, name: str) -> None:
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{index}", daemon=True) for index in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put((future, functools.partial(fn, **kwargs) if kwargs else fn, args))
        return future

    def shutdown(self, wait: bool = False, *, cancel_futures: bool = True) -> None:
        for _ in self._threads:
            self._queue.put(None)

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to whoever waits for the future
                future.set_exception(exc)


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
        self._slot_freed = threading.Event()  # set by a reconcile thread as it ends
        self._threads: list[threading.Thread] = []
        self._skip_locked = db.backend in ("postgresql", "mysql", "mariadb")
        self._last_repair = float("-inf")
        # Health checks: batches of settled clusters, their driver probes in a pool of
        # ``workers`` threads (probes may wait on the infrastructure).
        self._health_batch = HEALTH_BATCH_PER_WORKER * settings.conductor.workers
        self._health_pool = DaemonPool(settings.conductor.workers, "health")
        r = self.reconciler
        self.autoscaler = Autoscaler(db, settings, notifier, r.pki, r.drivers, clock)
        self._autoscale_pool = DaemonPool(settings.conductor.workers, "autoscale")

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self.heartbeat.start()
        loops = ((self._loop, "conductor-loop"), (self._renew_loop, "conductor-leases"),
                 (self._autoscale_loop, "conductor-autoscaler"))  # fmt: skip
        for target, name in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("conductor %s started", self.owner)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.heartbeat.stop()
        for thread in self._threads:
            thread.join(timeout)
        self._health_pool.shutdown()
        self._autoscale_pool.shutdown()
        deadline = time.monotonic() + timeout
        for active in list(self._active.values()):
            active.thread.join(max(0.0, deadline - time.monotonic()))

    # -- the loop --------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            claimed = 0
            try:
                claimed = self.cycle()
            except DatabaseUnavailableError:
                pass  # an outage: the database logged it once; the next poll tries again
            except ServiceUnavailableError as exc:
                log.warning("conductor: database unavailable: %s", exc.message)
            except Exception:  # the loop must survive anything
                log.exception("conductor loop error")
            self._slot_freed.clear()
            free = self._free_slots()
            if claimed and free > 0:
                continue  # there may be more due work right now
            if free <= 0:
                # Every slot is busy: look again as soon as one frees (a wake-up that arrives
                # meanwhile stays pending in the wake source), not a whole poll interval later.
                self._slot_freed.wait(self.settings.conductor.poll_interval)
                continue
            self.wakeups.wait(self.settings.conductor.poll_interval)

    def cycle(self) -> int:
        """One pass of the periodic work: the repair sweep (every REPAIR_INTERVAL), the due
        in-progress clusters (up to the free slots, each reconciled in its own thread), then one
        batch of settled clusters due for a health check. Returns how many clusters it took on.
        With nothing due it costs two indexed queries, whatever the number of clusters."""
        if time.monotonic() - self._last_repair > REPAIR_INTERVAL:
            self._repair()
            self._last_repair = time.monotonic()
        return self.claim_and_start() + self.check_health()

    def check_health(self) -> int:
        """Claim one batch of settled clusters due for a health check and check them (their
        probes run in the health pool); returns the batch's size."""
        now = self.clock()
        lease = self.settings.conductor.lease_seconds
        with self.db.transaction() as session:
            claims = repo.claim_settled(
                session, self.owner, now, now + timedelta(seconds=lease), self._health_batch,
                skip_locked=self._skip_locked,
            )  # fmt: skip
        if claims:
            # Answers after 80 % of the lease are not waited for: the leases would lapse anyway.
            self.reconciler.health.check_batch(claims, self.owner, self._health_pool, budget=lease * 0.8)
        return len(claims)

    def autoscale(self) -> int:
        """One batch of the autoscaler: claim due autoscaled clusters, observe their workload,
        act. Runs in its own thread (``_autoscale_loop``), so a slow workload observation never
        holds up the reconciles and health checks; returns the batch's size."""
        return self.autoscaler.run(self.owner, self._health_batch, self._autoscale_pool, skip_locked=self._skip_locked)

    def _autoscale_loop(self) -> None:
        while not self._stop.is_set():
            handled = 0
            try:
                handled = self.autoscale()
            except DatabaseUnavailableError:
                pass  # logged once by the database
            except ServiceUnavailableError as exc:
                log.warning("autoscaler: database unavailable: %s", exc.message)
            except Exception:  # the loop must survive anything
                log.exception("autoscaler loop error")
            if not handled:
                self._stop.wait(self.settings.conductor.poll_interval)

    def wait_idle(self, timeout: float | None = None) -> None:
        """Wait for the reconciles running now to finish (tests and benchmarks)."""
        with self._lock:
            running = [active.thread for active in self._active.values()]
        for thread in running:
            thread.join(timeout)

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
            if claim.took_over:
                metrics().lease_takeovers.inc()
            thread = threading.Thread(target=self._reconcile, args=(claim,), name=f"reconcile-{claim.cluster_id[:8]}")
            with self._lock:
                self._active[claim.cluster_id] = Active(claim, thread, time.monotonic())
            thread.start()
        return len(claims)

    def _reconcile(self, claim: Claim) -> None:
        with logs.about_cluster(claim.cluster_id):
            self._reconcile_claimed(claim)

    def _reconcile_claimed(self, claim: Claim) -> None:
        try:
            self.reconciler.run(claim)
        except DatabaseUnavailableError:
            pass  # logged once by the database; the lease lapses and the work is taken again
        except ServiceUnavailableError as exc:
            log.warning("cluster %s: database unavailable: %s", claim.cluster_id, exc.message)
        except Exception:
            log.exception("cluster %s: reconcile crashed; the lease will lapse and it is retried", claim.cluster_id)
        finally:
            with self._lock:
                active = self._active.get(claim.cluster_id)
                if active is not None and active.claim is claim:  # not a newer claim of the cluster
                    del self._active[claim.cluster_id]
            self._slot_freed.set()

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
            except DatabaseUnavailableError:
                pass  # logged once by the database; leases that lapse meanwhile are claimed again
            except Exception:
                log.exception("lease renewal failed")

    def renew_leases(self) -> None:
        with self._lock:
            running = [a.claim for a in self._active.values() if a.thread.is_alive()]
        if not running:
            return
        now = self.clock()
        lease_until = now + timedelta(seconds=self.settings.conductor.lease_seconds)
        superseded = []
        with self.db.transaction() as session:
            for claim in running:
                deadline = repo.deadline_of(session, claim.cluster_id)
                # Past its deadline a stuck call loses its lease, so the operation can be failed;
                # so does work a delete superseded, so the delete need not wait for a stuck call.
                if repo.superseded_by_delete(session, claim):
                    superseded.append(claim.cluster_id)
                elif deadline is None or now < deadline:
                    repo.renew(session, claim, lease_until)
        for cluster_id in superseded:  # a large create stops making nodes now, not at its next phase
            self.reconciler.cancel(cluster_id)
