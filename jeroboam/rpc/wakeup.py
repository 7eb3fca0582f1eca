"""Wake-ups: the API tells conductors that a cluster has work. Only a hint — losing one delays
the work until the next poll (``conductor.poll_interval``), because the database is the queue."""

from __future__ import annotations

import threading
from typing import Protocol


class Waker(Protocol):
    def wake(self, cluster_id: str) -> None: ...


class InProcessWaker:
    """For the all-in-one: the API and the conductor share one process."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def wake(self, cluster_id: str) -> None:
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """Block until woken or ``timeout``; True when woken."""
        woken = self._event.wait(timeout)
        self._event.clear()
        return woken


class NullWaker:
    """No wake-ups: conductors find work by polling alone."""

    def wake(self, cluster_id: str) -> None:
        return None
