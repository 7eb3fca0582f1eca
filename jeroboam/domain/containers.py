"""Containers of the bay-era API (``/v1/containers``): statuses, actions and the types that
cross the driver contract (pure Python)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Status strings as Magnum 1.x wrote them (mixed case).
RUNNING = "Running"
STOPPED = "Stopped"
PAUSED = "Paused"
ERROR = "Error"
UNKNOWN = "Unknown"
STATUSES = (ERROR, RUNNING, STOPPED, PAUSED, UNKNOWN)

# What each action leaves the container in, and the statuses it may start from.
ACTIONS: dict[str, str] = {
    "start": RUNNING,
    "stop": STOPPED,
    "reboot": RUNNING,
    "pause": PAUSED,
    "unpause": RUNNING,
}
ALLOWED_FROM: dict[str, frozenset[str]] = {
    "start": frozenset({STOPPED, RUNNING}),
    "stop": frozenset({RUNNING, PAUSED, STOPPED}),
    "reboot": frozenset({RUNNING, STOPPED}),
    "pause": frozenset({RUNNING}),
    "unpause": frozenset({PAUSED}),
}

# The coe a bay must have to run containers (upstream: swarm bays only).
CONTAINER_COES = frozenset({"swarm", "swarm-mode"})
EXPECTED_COE = "swarm"

_MEMORY = re.compile(r"^([0-9]+)([bkmg]?)$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def memory_bytes(memory: str | None) -> int | None:
    """``512m`` → bytes; None when unset. Raises ValueError for anything else."""
    if memory is None:
        return None
    found = _MEMORY.match(memory.strip())
    if found is None:
        raise ValueError(memory)
    return int(found.group(1)) * _UNITS[found.group(2).lower()]


def refusal(action: str, status: str) -> str | None:
    """Why ``action`` cannot be done to a container in ``status`` (None: it can)."""
    if status in ALLOWED_FROM[action]:
        return None
    allowed = ", ".join(sorted(ALLOWED_FROM[action]))
    return f"Cannot {action} a container in status {status}; {action} needs a container that is {allowed}."


@dataclass(frozen=True)
class Bay:
    """The cluster a container lives on, as a driver needs to find it."""

    uuid: str
    name: str
    project_id: str
    coe: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerSpec:
    """What a container is created from."""

    uuid: str
    name: str
    image: str
    command: str | None = None
    memory: str | None = None
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerRef:
    """A container the driver created: where it was put, and the status last recorded."""

    uuid: str
    host: str | None
    status: str


@dataclass(frozen=True)
class ContainerState:
    """What a driver sees of a container now; ``reason`` says why it is Error or Unknown."""

    status: str
    reason: str = ""
    host: str | None = None


@dataclass(frozen=True)
class ExecResult:
    output: str
    exit_code: int
