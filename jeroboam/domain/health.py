"""What a driver's observation of a cluster means for its ``health_status`` and reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from jeroboam.domain.specs import ClusterObservation, ManagerObservation
from jeroboam.domain.states import Health


def health_of(observation: ClusterObservation) -> tuple[Health, dict[str, str]]:
    """HEALTHY when the endpoint users are given answers, every manager answers and every node is
    ready. The reason says what ``api`` was probed at (``api_address``), each manager's state
    (``managers``, naming those down) and each node's readiness."""
    reason: dict[str, str] = {"api": "ok" if observation.api_ok else (observation.api_reason or "unreachable")}
    healthy = observation.api_ok
    if observation.api_address and observation.endpoint:
        reason["api_address"] = f"{observation.api_address}: {observation.endpoint}"
    if observation.managers:
        reason["managers"] = managers_summary(observation.managers)
        healthy = healthy and all(m.ok for m in observation.managers)
    for group in observation.nodegroups:
        for node in group.nodes:
            reason[f"{node.name}.Ready"] = "True" if node.ready else "False"
            if not node.ready:
                healthy = False
            if node.reason:  # why it is not ready, or what a ready node lacks
                reason[f"{node.name}.Reason"] = node.reason
    registry = observation.registry
    if registry is not None:
        # The addresses too: the one free-form field `openstack coe cluster show` prints.
        reason["registry.address"] = registry.address
        if registry.push_address:
            reason["registry.push_address"] = registry.push_address
        if registry.ok:
            reason["registry"] = f"ok ({registry.reason})" if registry.reason else "ok"
        else:
            reason["registry"] = registry.reason or "unreachable"
        healthy = healthy and registry.ok
    return (Health.HEALTHY if healthy else Health.UNHEALTHY), reason


def managers_summary(managers: Sequence[ManagerObservation]) -> str:
    """``2 of 3 managers answer: c-master-0 DOWN (its container is exited), c-master-1 ok, ...``."""
    answering = sum(1 for m in managers if m.ok)
    states = ", ".join(f"{m.name} ok" if m.ok else f"{m.name} DOWN ({m.reason or 'no answer'})" for m in managers)
    return f"{answering} of {len(managers)} manager{'s' if len(managers) != 1 else ''} answer: {states}"


def moved(reason: dict[str, str], old: str | None, new: str | None) -> dict[str, str]:
    """The reason of a health check that moved ``api_address`` from ``old`` to ``new``: says so."""
    if not old or not new or old == new:
        return reason
    return {**reason, "api_address": f"{reason.get('api_address', new)} (moved from {old}, which no longer answers)"}


def auto_healing_enabled(labels: Mapping[str, str] | None) -> bool:
    """The cluster label that turns autoheal on (Magnum's ``auto_healing_enabled``, 'true' in any case)."""
    return str((labels or {}).get("auto_healing_enabled", "")).lower() == "true"


def next_health_check(now: datetime, interval: float) -> datetime | None:
    """When a settled cluster is due for its next health check; None when checks are off (a
    negative ``[conductor] health_polling_interval``)."""
    return now + timedelta(seconds=interval) if interval >= 0 else None
