"""Nodegroups on the wire (reference §3.3): request fields and the three representations."""

from __future__ import annotations

from typing import Any

from jeroboam.api.deps import isoformat, links
from jeroboam.api.schemas.clusters import label_differences
from jeroboam.api.schemas.fields import Field
from jeroboam.services.nodegroups import NodeGroupView
from jeroboam.services.records import NodeGroupSummary


def _text(**kw: Any) -> Field:
    return Field("string", min_length=1, max_length=255, **kw)


def _ignored() -> Field:
    return Field("any", description="Accepted and ignored (set by the server).")


FIELDS: dict[str, Field] = {
    "name": _text(mandatory=True, description="Unique within the cluster."),
    "node_count": Field("integer", minimum=0, description="Default 1."),
    "role": _text(description="Default 'worker'; 'master' is refused."),
    "min_node_count": Field("integer", minimum=0, description="Default 0."),
    "max_node_count": Field("integer", minimum=0, description="Default: unbounded."),
    "flavor_id": _text(description="Default: the cluster's flavor."),
    "image_id": _text(description="Default: the cluster template's image."),
    "docker_volume_size": Field("integer", minimum=1),
    "labels": Field("labels", description="Absent or empty: the cluster's labels."),
    "merge_labels": Field("boolean", description="Overlay labels on the cluster's."),
    "node_labels": Field("dict", description="Kubernetes node labels (string to string)."),
    "node_taints": Field("list", description="Kubernetes taints: objects with key, value and effect."),
    "id": _ignored(),
    "uuid": _ignored(),
    "cluster_id": _ignored(),
    "project_id": _ignored(),
    "node_addresses": _ignored(),
    "is_default": _ignored(),
    "stack_id": _ignored(),
    "status": _ignored(),
    "status_reason": _ignored(),
    "version": _ignored(),
    "labels_overridden": _ignored(),
    "labels_added": _ignored(),
    "labels_skipped": _ignored(),
    "links": Field("any", readonly=True),
    "created_at": Field("any", readonly=True),
    "updated_at": Field("any", readonly=True),
}
IGNORED = frozenset(name for name, spec in FIELDS.items() if spec.kind == "any" and not spec.readonly)

PATCH_FIELDS: dict[str, Field] = {
    "min_node_count": Field("integer", minimum=0),
    "max_node_count": Field("integer", minimum=0),
    "node_labels": Field("dict"),
    "node_taints": Field("list"),
}


def collection_path(cluster_uuid: str) -> str:
    return f"clusters/{cluster_uuid}/nodegroups"


def render_summary(nodegroup: NodeGroupSummary) -> dict[str, Any]:
    """List items: no links, and Magnum's always-rendered defaults for the two bounds (the real
    values are in the GET of one nodegroup)."""
    return {
        "uuid": nodegroup.uuid,
        "name": nodegroup.name,
        "flavor_id": nodegroup.flavor_id,
        "image_id": nodegroup.image_id,
        "node_count": nodegroup.node_count,
        "role": nodegroup.role,
        "min_node_count": 0,
        "max_node_count": None,
        "is_default": nodegroup.is_default,
        "stack_id": nodegroup.stack_id,
        "status": nodegroup.status,
        "merge_labels": False,
    }


def render_detail(view: NodeGroupView, base: str) -> dict[str, Any]:
    ng = view.nodegroup
    return {
        "id": ng.id,
        "uuid": ng.uuid,
        "name": ng.name,
        "cluster_id": view.cluster_uuid,
        "project_id": ng.project_id,
        "docker_volume_size": ng.docker_volume_size,
        "labels": dict(ng.labels or {}),
        "links": links(base, collection_path(view.cluster_uuid), ng.uuid),
        "flavor_id": ng.flavor_id,
        "image_id": ng.image_id,
        "node_addresses": list(ng.node_addresses or ()),
        "node_count": ng.node_count,
        "role": ng.role,
        "min_node_count": ng.min_node_count,
        "max_node_count": ng.max_node_count,
        "is_default": ng.is_default,
        "stack_id": ng.stack_id,
        "status": ng.status,
        "status_reason": ng.status_reason,
        "version": ng.version,
        "merge_labels": False,
        **label_differences(ng.labels or {}, view.cluster_labels),
        "node_labels": dict(ng.node_labels or {}),
        "node_taints": list(ng.node_taints or ()),
        "created_at": isoformat(ng.created_at),
        "updated_at": isoformat(ng.updated_at),
    }


def render_accepted(view: NodeGroupView, base: str) -> dict[str, Any]:
    """The 202 body of a create: the nodegroup as the request defined it, in Magnum's shape
    (no id, status, is_default, stack_id or timestamps; docker_volume_size only when given)."""
    ng = view.nodegroup
    body: dict[str, Any] = {
        "uuid": ng.uuid,
        "name": ng.name,
        "cluster_id": view.cluster_uuid,
        "project_id": ng.project_id,
    }
    if ng.docker_volume_size is not None:
        body["docker_volume_size"] = ng.docker_volume_size
    body.update(
        {
            "labels": dict(ng.labels or {}),
            "links": links(base, collection_path(view.cluster_uuid), ng.uuid),
            "flavor_id": ng.flavor_id,
            "image_id": ng.image_id,
            "node_count": ng.node_count,
            "role": ng.role,
            "min_node_count": ng.min_node_count,
            "max_node_count": ng.max_node_count,
            "merge_labels": False,
            **label_differences(ng.labels or {}, view.cluster_labels),
            "node_labels": dict(ng.node_labels or {}),
            "node_taints": list(ng.node_taints or ()),
        }
    )
    return body
