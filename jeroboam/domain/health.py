"""What a driver's observation of a cluster means for its ``health_status`` and reason."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from jeroboam.domain.specs import ClusterObservation
from jeroboam.domain.states import Health


def health_of(observation: ClusterObservation) -> tuple[Health, dict[str, str]]:
    reason: dict[str, str] = {"api": "ok" if observation.api_ok else (observation.api_reason or "unreachable")}
    healthy = observation.api_ok
    for group in observation.nodegroups:
        for node in group.nodes:
            reason[f"{node.name}.Ready"] = "True" if node.ready else "False"
            if not node.ready:
                healthy = False
                if node.reason:
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


def auto_healing_enabled(labels: Mapping[str, str] | None) -> bool:
    """The cluster label that turns autoheal on (Magnum's ``auto_healing_enabled``, 'true' in any case)."""
    return str((labels or {}).get("auto_healing_enabled", "")).lower() == "true"


def next_health_check(now: datetime, interval: float) -> datetime | None:
    """When a settled cluster is due for its next health check; None when checks are off (a
    negative ``[conductor] health_polling_interval``)."""
    return now + timedelta(seconds=interval) if interval >= 0 else None
