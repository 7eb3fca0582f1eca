"""Cluster rules that need no database or policy: sizes, labels, quota room, nodegroup marks.

Shared by the cluster and nodegroup services (and their unit tests)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from jeroboam.db.models import Cluster, NodeGroup
from jeroboam.domain import autoscaling
from jeroboam.domain.identifiers import new_uuid
from jeroboam.domain.specs import MASTER
from jeroboam.domain.states import Status
from jeroboam.errors import ConflictError, InvalidFieldError, InvalidInputError, QuotaExceededError

DEFAULT_MASTER = "default-master"
DEFAULT_WORKER = "default-worker"
# What a cluster PATCH may change (everything else is refused with 400).
UPDATABLE = ("node_count", "health_status", "health_status_reason")
HEALTH_FIELDS = ("health_status", "health_status_reason")


class Labelled(Protocol):
    @property
    def labels(self) -> dict[str, str]: ...


class Changes(Protocol):
    @property
    def changes(self) -> Mapping[str, object]: ...


class Owned(Protocol):
    """What a policy target reads of a cluster (ORM object or plain row)."""

    @property
    def project_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...


def target(cluster: Owned) -> dict[str, object]:
    return {"project_id": cluster.project_id, "user_id": cluster.user_id}


def check_master_size(master_count: int) -> None:
    """The base driver rule: an odd number of masters, at least one (etcd/raft quorum)."""
    if master_count < 1 or master_count % 2 == 0:
        raise InvalidInputError(f"master nodegroup size of {master_count} is invalid, size cannot be an even number.")


def cluster_labels(
    template_labels: Mapping[str, str], given: Mapping[str, str] | None, *, merge: bool
) -> dict[str, str]:
    """No labels (or none) ⇒ the template's; ``merge`` ⇒ the template's overlaid; else exactly the given."""
    if not given:
        return dict(template_labels)
    if merge:
        return {**template_labels, **given}
    return dict(given)


def label_count(labels: Mapping[str, str], key: str) -> int | None:
    """An integer-valued label such as ``min_node_count``, or None when absent."""
    try:
        return autoscaling.count_label(labels, key)
    except InvalidInputError as exc:  # named as the field it came in
        raise InvalidFieldError("labels", dict(labels), exc.message) from None


def quota_message(limit: int) -> str:
    return (
        f"Resource limit exceeded: You have reached the maximum clusters per project, {limit}. "
        "You may delete a cluster to make room for a new one."
    )


@dataclass(frozen=True)
class Room:
    """A project's clusters and its cluster quota."""

    clusters: int
    limit: int

    def check(self) -> None:
        if self.clusters >= self.limit:
            raise QuotaExceededError(quota_message(self.limit))


def autoscaler_labels_only(cluster: Labelled, patch: Changes) -> bool:
    """A label change that touches only the autoscaler's labels (a cluster PATCH may make it)."""
    new_labels = patch.changes.get("labels")
    old, new = dict(cluster.labels or {}), dict(new_labels) if isinstance(new_labels, Mapping) else {}
    changed = {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}
    return bool(changed) and changed <= set(autoscaling.LABELS)


def default_nodegroup(nodegroups: Sequence[NodeGroup], role: str) -> NodeGroup | None:
    for ng in nodegroups:
        if ng.is_default and (ng.role == MASTER) == (role == MASTER):
            return ng
    return None


def check_not_deleting(nodegroup: NodeGroup) -> None:
    """A nodegroup being deleted takes no other change (its removal would undo it)."""
    if nodegroup.status == Status.DELETE_IN_PROGRESS:
        raise ConflictError(f"Nodegroup {nodegroup.name} is being deleted.")


def mark(nodegroup: NodeGroup, status: str | None) -> None:
    """A nodegroup whose desired state changed: its new status and generation."""
    nodegroup.status = status
    nodegroup.generation = (nodegroup.generation or 0) + 1


def default_nodegroup_of(
    cluster: Cluster,
    name: str,
    role: str,
    count: int,
    flavor: str | None,
    minimum: int,
    image_id: str,
    maximum: int | None = None,
) -> NodeGroup:
    """One of a new cluster's two default nodegroups, with the cluster's volume size and labels and
    the image and flavor the service chose (the conductor takes them as written)."""
    return NodeGroup(
        uuid=new_uuid(),
        name=name,
        cluster_id=cluster.uuid,
        project_id=cluster.project_id,
        docker_volume_size=cluster.docker_volume_size,
        labels=dict(cluster.labels),
        flavor_id=flavor,
        image_id=image_id,
        node_addresses=[],
        node_count=count,
        role=role,
        min_node_count=minimum,
        max_node_count=maximum,
        is_default=True,
        status=Status.CREATE_IN_PROGRESS,
        node_labels={},
        node_taints=[],
        generation=1,
    )
