"""Conditions: typed facts about a cluster, each with a reason a person can act on."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

INFRASTRUCTURE_READY = "InfrastructureReady"
CERTIFICATES_VALID = "CertificatesValid"
CONTROL_PLANE_READY = "ControlPlaneReady"
WORKERS_READY = "WorkersReady"
ENDPOINT_READY = "EndpointReady"

# Reconcile phases in order, each with the condition it establishes.
PHASES: tuple[tuple[str, str], ...] = (
    ("infrastructure", INFRASTRUCTURE_READY),
    ("pki", CERTIFICATES_VALID),
    ("control_plane", CONTROL_PLANE_READY),
    ("workers", WORKERS_READY),
    ("endpoint", ENDPOINT_READY),
)


@dataclass(frozen=True)
class Condition:
    type: str
    status: bool
    reason: str = ""
    message: str = ""
    observed_generation: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def set_condition(conditions: list[dict[str, Any]], condition: Condition) -> list[dict[str, Any]]:
    """A new list with ``condition`` replacing any of the same type, order kept."""
    result = [c for c in conditions if c.get("type") != condition.type]
    result.append(condition.as_dict())
    order = {name: index for index, (_, name) in enumerate(PHASES)}
    return sorted(result, key=lambda c: order.get(str(c.get("type")), len(order)))
