"""``jeroboam up``'s conductor in a process of its own (``[conductor] own_process``).

In one process, the API's event loop and the conductor's threads take turns on the interpreter
lock: while clusters are built, every read waited for it at each query and each socket write, and
on a busy machine a conductor thread preempted while holding it stalled every request for as long
(measured by ``bench/busy_conductor.py``). Here the API keeps the process it was started in; the
conductor is a spawned child with the same settings (rebuilt from the same file, environment and
data directory), woken over the data directory's datagram socket, stopped with SIGTERM. The parent
binds the socket and hands it over, so the API serves at once and no wake-up sent while the child
starts is lost.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path

from jeroboam.cmd.configuration import setup_logging
from jeroboam.cmd.preflight import secrets_keyring
from jeroboam.cmd.workers import WORKER_CONFIG_ENV, worker_settings
from jeroboam.conductor.worker import Conductor
from jeroboam.config import Settings
from jeroboam.rpc.amqp import broker_notifier
from jeroboam.rpc.wakeup import DatagramWaker, DatagramWakeSource, NullWaker
from jeroboam.services.wiring import Services

log = logging.getLogger("jeroboam")

STOP_SECONDS = 30


class ConductorProcess:
    """The child process and what the parent needs to stop it, or to notice that it died."""

    def __init__(
        self,
        settings: Settings,
        config: Path | None,
        wakeups: DatagramWakeSource,
        adjust: Callable[[Settings], Settings],
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._stopping = False
        if config:
            os.environ[WORKER_CONFIG_ENV] = str(config)
        self.process: BaseProcess = context.Process(
            target=run, args=(str(settings.data_dir), str(wakeups.path), wakeups.bound, adjust),
            name="jeroboam-conductor",
        )  # fmt: skip

    def start(self) -> None:
        self.process.start()

    def watch(self, on_death: Callable[[int | None], None]) -> None:
        """Call ``on_death(exitcode)`` (from a thread) if the child ends before ``stop``."""

        def watcher() -> None:
            self.process.join()
            if not self._stopping:
                on_death(self.process.exitcode)

        threading.Thread(target=watcher, name="conductor-watch", daemon=True).start()

    def request_stop(self) -> None:
        """SIGTERM, once, without waiting: the child stops its conductor and exits 0. (A second one
        could reach it while the interpreter finalizes, when the default action is back: -15.)"""
        if not self._stopping and self.process.is_alive():
            self.process.terminate()
        self._stopping = True

    def stop(self) -> int | None:
        self.request_stop()
        if self.process.is_alive():
            self.process.join(STOP_SECONDS)
        if self.process.is_alive():
            log.error("the conductor process did not stop within %d s; killing it", STOP_SECONDS)
            self.process.kill()
            self.process.join()
        return self.process.exitcode


def run(data_dir: str, path: str, bound: socket.socket, adjust: Callable[[Settings], Settings]) -> None:
    """The child: the parent's settings again (``adjust``: the parent's changes to the loaded
    ones, a module-level function), a conductor woken by ``bound``, and a wait for SIGTERM or
    SIGINT."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    watch_parent(stop)
    settings = worker_settings(data_dir=data_dir)
    setup_logging(settings)
    settings = adjust(settings)
    notifier = broker_notifier(settings, f"jeroboam.{settings.service.host}")
    keyring = secrets_keyring(settings)
    services = Services.build(settings, waker=NullWaker(), notifier=notifier, keyring=keyring)
    wakeups = DatagramWakeSource.adopt(Path(path), bound)
    conductor = Conductor(services.db, services.drivers, settings, notifier=notifier, wakeups=wakeups, keyring=keyring)
    conductor.start()
    try:
        stop.wait()
    finally:
        DatagramWaker(Path(path)).wake("")  # the loop waits for a wake-up: end its wait now
        conductor.stop()
        bound.close()  # the parent removes the socket's path
        services.close()


def watch_parent(stop: threading.Event) -> None:
    """Stop too when the API process ends without stopping this one (killed, SIGKILL): a conductor
    left behind would go on working with nobody to stop it."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    sentinel = parent.sentinel

    def watcher() -> None:
        multiprocessing.connection.wait([sentinel])
        log.error("the API process is gone: stopping the conductor")
        stop.set()

    threading.Thread(target=watcher, name="parent-watch", daemon=True).start()
