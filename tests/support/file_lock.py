"""One exclusive lock file for the heavy test environments built under ``.cache/`` (Keystone, the
ecosystem clients, the 2015 client): a second pytest process waits for the first one's build."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def held(path: Path, timeout: float, error: Callable[[str], Exception]) -> Iterator[None]:
    """Hold ``path`` exclusively; ``error(message)`` is raised when another holder keeps it past ``timeout``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise error(f"another process held {path} for more than {timeout:.0f} s") from None
                time.sleep(0.5)  # polling a lock another process holds: no event to wait on
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
