"""The driver's view of a cluster's desired state, built from what the database holds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from jeroboam.db.models import Operation
from jeroboam.domain.operations import Resize, Upgrade
from jeroboam.domain.specs import MASTER, ClusterSpec, NodeGroupSpec, Taint, canonical_coe
from jeroboam.domain.states import Action, Status
from jeroboam.services.cluster_views import ClusterFields, NodeGroupFields


class ClusterRow(ClusterFields, Protocol):
    """What a spec reads of a cluster: an ORM ``Cluster`` or a health snapshot's plain row."""

    @property
    def generation(self) -> int: ...


class TemplateRow(Protocol):
    @property
    def uuid(self) -> str: ...
    @property
    def coe(self) -> str: ...
    @property
    def tls_disabled(self) -> bool: ...
    @property
    def registry_enabled(self) -> bool: ...


class NodeGroupRow(NodeGroupFields, Protocol):
    """What a spec reads of a nodegroup (ORM object or plain row)."""

    @property
    def uuid(self) -> str: ...
    @property
    def image_id(self) -> str | None: ...
    @property
    def flavor_id(self) -> str | None: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def node_labels(self) -> dict[str, str]: ...
    @property
    def node_taints(self) -> list[dict[str, str]]: ...
    @property
    def docker_volume_size(self) -> int | None: ...


def taints(raw: Sequence[dict[str, Any]]) -> tuple[Taint, ...]:
    return tuple(Taint(key=t["key"], effect=t["effect"], value=t.get("value")) for t in raw if "key" in t)


def build_spec(
    cluster: ClusterRow,
    template: TemplateRow,
    nodegroups: Sequence[NodeGroupRow],
    operations: Sequence[Operation],
) -> ClusterSpec:
    """The driver's view of the desired state, from ORM objects or plain rows of the same columns
    (a health check's snapshot)."""  # fmt: skip
    removals: dict[str, tuple[str, ...]] = {}
    batch = 1
    for operation in operations:
        if operation.action == Action.RESIZE:
            resize = Resize.from_json(operation.request or {})
            if resize.nodes_to_remove:
                removals[operation.nodegroup_id or ""] = resize.nodes_to_remove
        if operation.action == Action.UPGRADE:
            upgrade = Upgrade.from_json(operation.request or {})
            if upgrade.max_batch_size:
                batch = upgrade.max_batch_size
    default_worker = next((ng.uuid for ng in nodegroups if ng.is_default and ng.role != MASTER), "")
    specs = []
    for ng in nodegroups:
        if ng.status == Status.DELETE_IN_PROGRESS:
            continue
        to_remove = removals.get(ng.uuid, ())
        if not to_remove and ng.uuid == default_worker:
            to_remove = removals.get("", ())
        specs.append(
            NodeGroupSpec(
                uuid=ng.uuid,
                name=ng.name,
                role=ng.role,
                node_count=ng.node_count,
                # The services wrote the image and flavor with the template's fallbacks applied.
                image=ng.image_id or "",
                flavor=ng.flavor_id,
                labels=dict(ng.labels or {}),
                node_labels=dict(ng.node_labels or {}),
                node_taints=taints(list(ng.node_taints or [])),
                docker_volume_size=ng.docker_volume_size or cluster.docker_volume_size,
                nodes_to_remove=to_remove,
                max_batch_size=batch,
            )
        )
    return ClusterSpec(
        uuid=cluster.uuid,
        name=cluster.name or cluster.uuid,
        project_id=cluster.project_id,
        coe=canonical_coe(template.coe),
        template_id=template.uuid,
        labels=dict(cluster.labels or {}),
        nodegroups=tuple(specs),
        generation=cluster.generation,
        master_lb_enabled=cluster.master_lb_enabled,
        floating_ip_enabled=cluster.floating_ip_enabled,
        fixed_network=cluster.fixed_network,
        fixed_subnet=cluster.fixed_subnet,
        keypair=cluster.keypair,
        tls_disabled=template.tls_disabled,
        registry_enabled=template.registry_enabled,
    )


def bare_spec(cluster: ClusterRow) -> ClusterSpec:
    """A spec that names the cluster only (its template is gone: nothing to probe)."""
    return ClusterSpec(
        uuid=cluster.uuid, name=cluster.name or cluster.uuid, project_id=cluster.project_id, coe="",
        template_id=cluster.cluster_template_id, labels=dict(cluster.labels or {}), nodegroups=(),
        generation=cluster.generation,
    )  # fmt: skip
