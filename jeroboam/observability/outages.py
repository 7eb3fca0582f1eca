"""One log line when a dependency (the database, the broker) goes away and one when it is back.

Every caller that meets the failure reports it here, from any thread and as often as it retries;
only the first report of an outage is logged (a WARNING naming the cause), and the first success
after it (an INFO with how long it lasted). So an operator sees two lines per outage per process,
never a line (or a traceback) per attempt.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)


class Outage:
    """The state of one dependency of this process, as ``what`` names it in the log."""

    def __init__(self, what: str, consequence: str, logger: logging.Logger = log) -> None:
        self.what = what
        self.consequence = consequence
        self._log = logger
        self._lock = threading.Lock()
        self._since: float | None = None
        self.count = 0  # outages seen by this process

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def failed(self, cause: BaseException | str) -> bool:
        """Report a failed attempt; True when it starts an outage (and was logged)."""
        if self._since is not None:  # the common case while down: no lock, no line
            return False
        with self._lock:
            if self._since is not None:
                return False
            self._since = time.monotonic()
            self.count += 1
        reason = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        reason = reason.strip().splitlines()[0].rstrip(":") if reason.strip() else "no reason given"
        self._log.warning("%s is unavailable (%s); %s", self.what, reason, self.consequence)
        return True

    def succeeded(self) -> float | None:
        """Report a successful attempt; the outage's length in seconds when it ends one."""
        if self._since is None:  # steady state: one attribute read
            return None
        with self._lock:
            if self._since is None:
                return None
            lasted = time.monotonic() - self._since
            self._since = None
        self._log.info("%s is available again after %.1f s", self.what, lasted)
        return lasted
