"""What an accepted action asked for, typed: written by a service into the operation row (as JSON,
its audit trail) and read back by the conductor. One class per action whose request the conductor
reads; other actions record a plain mapping (their request is only an audit trail)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class OperationRequest(Protocol):
    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class NodeCountUpdate:
    """A PATCH of the cluster's ``node_count`` (its default worker nodegroup)."""

    node_count: int
    previous_node_count: int
    nodegroup: str
    rollback: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "node_count": self.node_count,
            "previous_node_count": self.previous_node_count,
            "nodegroup": self.nodegroup,
            "rollback": self.rollback,
        }


@dataclass(frozen=True)
class Resize:
    """``actions/resize``: one nodegroup's new size, and the nodes to remove first."""

    node_count: int
    previous_node_count: int
    nodegroup: str
    nodes_to_remove: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "node_count": self.node_count,
            "previous_node_count": self.previous_node_count,
            "nodes_to_remove": list(self.nodes_to_remove),
            "nodegroup": self.nodegroup,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Resize:
        return cls(
            node_count=int(raw.get("node_count") or 0),
            previous_node_count=int(raw.get("previous_node_count") or 0),
            nodegroup=str(raw.get("nodegroup") or ""),
            nodes_to_remove=tuple(str(n) for n in raw.get("nodes_to_remove") or ()),
        )


@dataclass(frozen=True)
class Upgrade:
    """``actions/upgrade``: the template (and image) to move to, ``max_batch_size`` nodes at a time."""

    cluster_template_id: str
    previous_cluster_template_id: str
    image_id: str
    max_batch_size: int
    nodegroup: str

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster_template_id": self.cluster_template_id,
            "previous_cluster_template_id": self.previous_cluster_template_id,
            "image_id": self.image_id,
            "max_batch_size": self.max_batch_size,
            "nodegroup": self.nodegroup,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Upgrade:
        return cls(
            cluster_template_id=str(raw.get("cluster_template_id") or ""),
            previous_cluster_template_id=str(raw.get("previous_cluster_template_id") or ""),
            image_id=str(raw.get("image_id") or ""),
            max_batch_size=int(raw.get("max_batch_size") or 0),
            nodegroup=str(raw.get("nodegroup") or ""),
        )


@dataclass(frozen=True)
class Autoheal:
    """The conductor's own update of an unhealthy cluster: replace the nodes that failed."""

    nodes: Sequence[str]

    def to_json(self) -> dict[str, Any]:
        return {"autoheal": True, "nodes": list(self.nodes)}
