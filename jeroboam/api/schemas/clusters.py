"""Clusters on the wire (reference §3.2): request fields and representations, and the legacy
bay spelling of both (§3.10)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jeroboam.api.deps import isoformat, links
from jeroboam.api.schemas.fields import Field
from jeroboam.domain.versions import CLUSTER_ID_FIELD, Version
from jeroboam.services.cluster_views import ClusterView

NAME_PATTERN = r"^[a-zA-Z][a-zA-Z0-9_.-]*$"
HEALTH = ("HEALTHY", "UNHEALTHY", "UNKNOWN")


def _text(**kw: Any) -> Field:
    return Field("string", min_length=1, max_length=255, **kw)


def _ignored(description: str = "Accepted and ignored (Magnum declares it writable).") -> Field:
    return Field("any", description=description)


def _readonly() -> Field:
    return Field("any", readonly=True)


FIELDS: dict[str, Field] = {
    "uuid": Field("uuid", description="Generated when absent."),
    "name": Field("string", min_length=1, max_length=242, pattern=NAME_PATTERN, description="Generated when absent."),
    "cluster_template_id": _text(mandatory=True, description="Template uuid or name."),
    "node_count": Field("integer", minimum=0, description="Default worker nodegroup size (1); 0 needs 1.10."),
    "master_count": Field("integer", minimum=1, description="Odd; >1 needs master_lb_enabled."),
    "create_timeout": Field("integer", minimum=0, description="Minutes (default 60)."),
    "keypair": _text(description="Defaults to the template's keypair_id."),
    "docker_volume_size": Field("integer", minimum=1),
    "labels": Field("labels", description="Absent or empty: the template's labels."),
    "merge_labels": Field("boolean", description="Overlay labels on the template's."),
    "master_flavor_id": _text(),
    "flavor_id": _text(),
    "fixed_network": _text(),
    "fixed_subnet": _text(),
    "floating_ip_enabled": Field("boolean"),
    "master_lb_enabled": Field("boolean"),
    "discovery_url": Field("string", max_length=255, description="Stored as given; may be empty (as upstream)."),
    "status": _ignored(),
    "status_reason": _ignored(),
    "health_status": _ignored(),
    "health_status_reason": _ignored(),
    "faults": _ignored(),
    "labels_overridden": _ignored(),
    "labels_added": _ignored(),
    "labels_skipped": _ignored(),
    "links": _readonly(),
    "stack_id": _readonly(),
    "cluster_id": _readonly(),
    "api_address": _readonly(),
    "registry_address": _readonly(),
    "registry_push_address": _readonly(),
    "coe_version": _readonly(),
    "container_version": _readonly(),
    "project_id": _readonly(),
    "user_id": _readonly(),
    "node_addresses": _readonly(),
    "master_addresses": _readonly(),
    "created_at": _readonly(),
    "updated_at": _readonly(),
}
IGNORED = frozenset(name for name, spec in FIELDS.items() if spec.kind == "any" and not spec.readonly)

RESIZE_FIELDS: dict[str, Field] = {
    "node_count": Field("integer", mandatory=True, minimum=0),
    "nodes_to_remove": Field("list", description="Server ids to remove first when shrinking."),
    "nodegroup": _text(description="Nodegroup uuid, name or id (default: the default worker)."),
}
UPGRADE_FIELDS: dict[str, Field] = {
    "cluster_template": _text(mandatory=True, description="Template uuid or name."),
    "max_batch_size": Field("integer", minimum=1, description="Nodes replaced at a time (1)."),
    "nodegroup": _text(description="Nodegroup uuid, name or id (default: the whole cluster)."),
}

# PATCH: attributes that are never patchable (400 'internal attribute'), and non-removable ones.
INTERNAL = (
    "/api_address",
    "/registry_address",
    "/registry_push_address",
    "/node_addresses",
    "/master_addresses",
    "/stack_id",
    "/cluster_id",
    "/ca_cert_ref",
    "/magnum_cert_ref",
    "/etcd_ca_cert_ref",
    "/front_proxy_ca_cert_ref",
)
MANDATORY = ("/cluster_template_id",)
PATCH_FIELDS: dict[str, Field] = {
    "node_count": Field("integer", minimum=0),
    "health_status": Field("string", enum=HEALTH),
    "health_status_reason": Field("dict"),
}


def label_differences(own: Mapping[str, str], parent: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Magnum's label bookkeeping against the parent's labels (template for clusters, cluster
    for nodegroups): overridden keys show the parent's value, added keys the own value,
    skipped keys the parent's value."""
    return {
        "labels_overridden": {k: v for k, v in parent.items() if k in own and own[k] != v},
        "labels_added": {k: v for k, v in own.items() if k not in parent},
        "labels_skipped": {k: v for k, v in parent.items() if k not in own},
    }


def _reference(view: ClusterView, version: Version) -> tuple[str, str | None]:
    """``stack_id`` before microversion 1.13, ``cluster_id`` from it (same value)."""
    return ("cluster_id" if version >= CLUSTER_ID_FIELD else "stack_id"), view.cluster.stack_id


def render_summary(view: ClusterView, base: str, version: Version, collection_path: str = "clusters") -> dict[str, Any]:
    c = view.cluster
    key, reference = _reference(view, version)
    master_count, node_count = view.counts()
    return {
        "uuid": c.uuid,
        "name": c.name,
        "cluster_template_id": c.cluster_template_id,
        "keypair": c.keypair,
        "node_count": node_count,
        "master_count": master_count,
        "docker_volume_size": c.docker_volume_size,
        "labels": dict(c.labels or {}),
        "master_flavor_id": c.master_flavor_id,
        "flavor_id": c.flavor_id,
        "create_timeout": c.create_timeout,
        "links": links(base, collection_path, c.uuid),
        key: reference,
        "status": c.status,
        "health_status": c.health_status,
        "merge_labels": False,
    }


def render_detail(
    view: ClusterView, base: str, version: Version, *, with_faults: bool = False, collection_path: str = "clusters"
) -> dict[str, Any]:
    """Detail list and GET one; ``with_faults`` (GET one) adds ``faults`` to a failed cluster."""
    c = view.cluster
    key, reference = _reference(view, version)
    master_count, node_count = view.counts()
    body: dict[str, Any] = {
        "uuid": c.uuid,
        "name": c.name,
        "cluster_template_id": c.cluster_template_id,
        "keypair": c.keypair,
        "node_count": node_count,
        "master_count": master_count,
        "docker_volume_size": c.docker_volume_size,
        "labels": dict(c.labels or {}),
        "master_flavor_id": c.master_flavor_id,
        "flavor_id": c.flavor_id,
        "create_timeout": c.create_timeout,
        "links": links(base, collection_path, c.uuid),
        key: reference,
        "status": c.status,
        "status_reason": c.status_reason,
        "health_status": c.health_status,
        "health_status_reason": dict(c.health_status_reason or {}),
        "discovery_url": c.discovery_url,
        "api_address": c.api_address,
        "coe_version": c.coe_version,
        "container_version": c.container_version,
        "project_id": c.project_id,
        "user_id": c.user_id,
        "node_addresses": view.node_addresses,
        "master_addresses": view.master_addresses,
    }
    if c.registry_address:  # Jeroboam's own fields, only on a cluster with a registry (docs/compatibility.md)
        body["registry_address"] = c.registry_address
        body["registry_push_address"] = c.registry_push_address
    if with_faults and view.failed:
        body["faults"] = view.faults()
    body.update(
        {
            "fixed_network": c.fixed_network,
            "fixed_subnet": c.fixed_subnet,
            "floating_ip_enabled": c.floating_ip_enabled,
            "merge_labels": False,
            **label_differences(c.labels or {}, view.template_labels),
            "master_lb_enabled": c.master_lb_enabled,
            "created_at": isoformat(c.created_at),
            "updated_at": isoformat(c.updated_at),
        }
    )
    return body


# -- legacy bays ---------------------------------------------------------------------------------
BAY_RENAMES = {"cluster_template_id": "baymodel_id", "create_timeout": "bay_create_timeout", "faults": "bay_faults"}
CLUSTER_NAMES = {bay: cluster for cluster, bay in BAY_RENAMES.items()}
# Cluster attributes bays never had.
NOT_IN_BAYS = frozenset(
    {
        "health_status",
        "health_status_reason",
        "merge_labels",
        "labels_overridden",
        "labels_added",
        "labels_skipped",
        "fixed_network",
        "fixed_subnet",
        "floating_ip_enabled",
        "master_lb_enabled",
    }
)
BAY_FIELDS: dict[str, Field] = {
    BAY_RENAMES.get(name, name): spec
    for name, spec in FIELDS.items()
    if name not in NOT_IN_BAYS and name not in ("cluster_id", "faults")
}
BAY_FIELDS["node_count"] = Field("integer", minimum=1, description="Worker count (1).")
BAY_FIELDS["bay_faults"] = _ignored()
BAY_PATCH_FIELDS: dict[str, Field] = {"node_count": Field("integer", minimum=1)}


def as_bay(cluster_body: Mapping[str, Any]) -> dict[str, Any]:
    """A cluster representation in the bay spelling (always ``stack_id``)."""
    bay: dict[str, Any] = {}
    for key, value in cluster_body.items():
        if key in NOT_IN_BAYS:
            continue
        bay["stack_id" if key == "cluster_id" else BAY_RENAMES.get(key, key)] = value
    return bay


def from_bay(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validated bay request values in the cluster spelling."""
    return {CLUSTER_NAMES.get(key, key): value for key, value in values.items()}
