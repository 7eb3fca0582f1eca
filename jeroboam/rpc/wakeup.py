"""Wake-ups: the API tells conductors that a cluster has work. Only a hint — losing one delays
the work until the next poll (``conductor.poll_interval``), because the database is the queue."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
from pathlib import Path
from typing import Protocol

# AF_UNIX socket paths are limited to 108 bytes (the terminating NUL included).
MAX_SOCKET_PATH = 107


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


class DatagramWaker:
    """For the all-in-one's API worker processes: a datagram to the conductor's socket in the data
    directory. It never blocks: with no conductor listening, or its queue full, the hint is lost
    and the conductor's next poll finds the work."""

    def __init__(self, path: Path) -> None:
        self._path = str(path)
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)

    def wake(self, cluster_id: str) -> None:
        with contextlib.suppress(OSError):
            self._socket.sendto(b"w", self._path)

    def close(self) -> None:
        self._socket.close()


class DatagramWakeSource:
    """The all-in-one's conductor when the API runs in worker processes: it owns the socket (mode
    0600, so only the service's own user can wake it) and wakes on any datagram."""

    def __init__(self, path: Path) -> None:
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            raise ValueError(f"the wake-up socket path {path} is longer than {MAX_SOCKET_PATH} bytes")
        self.path = path
        path.unlink(missing_ok=True)  # left by a process that was killed
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        previous = os.umask(0o177)
        try:
            self._socket.bind(str(path))
        finally:
            os.umask(previous)
        self._socket.setblocking(False)

    @classmethod
    def adopt(cls, path: Path, bound: socket.socket) -> DatagramWakeSource:
        """The source around a socket another process bound at ``path`` and handed over."""
        source = cls.__new__(cls)
        source.path = path
        source._socket = bound
        bound.setblocking(False)
        return source

    @property
    def bound(self) -> socket.socket:
        """The bound socket, to hand to the process that waits on it."""
        return self._socket

    def wait(self, timeout: float) -> bool:
        """Block until woken or ``timeout``; True when woken. Wake-ups that arrived meanwhile
        count once."""
        ready, _, _ = select.select([self._socket], [], [], timeout)
        while True:
            try:
                self._socket.recv(64)
            except OSError:  # drained (BlockingIOError)
                break
        return bool(ready)

    def close(self) -> None:
        self._socket.close()
        self.path.unlink(missing_ok=True)
