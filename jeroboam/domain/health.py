"""What a driver's observation of a cluster means for its ``health_status`` and reason."""

from __future__ import annotations

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
    return (Health.HEALTHY if healthy else Health.UNHEALTHY), reason
