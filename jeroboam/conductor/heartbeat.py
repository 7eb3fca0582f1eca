"""Periodic heartbeat of a conductor process into the services table."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from jeroboam.db.repositories import mservices as repo
from jeroboam.db.session import Database
from jeroboam.errors import DatabaseUnavailableError, ServiceUnavailableError

log = logging.getLogger(__name__)
# The name clients expect: magnum-tempest-plugin asserts it; rows written under the old name are renamed.
BINARY = "magnum-conductor"
FORMER_BINARIES = ("jeroboam-conductor",)


class Heartbeat:
    def __init__(self, db: Database, host: str, interval: float, binary: str = BINARY) -> None:
        self.db = db
        self.host = host
        self.interval = interval
        self.binary = binary
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        with self.db.transaction() as session:
            repo.heartbeat(session, self.host, self.binary, datetime.now(UTC), formerly=FORMER_BINARIES)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except DatabaseUnavailableError:
                pass  # an outage, logged once by the database: keep beating, it may come back
            except ServiceUnavailableError as exc:  # keep beating: the database may come back
                log.warning("heartbeat failed: %s", exc.message)
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
