"""Cluster template on the wire (reference §3.1): request fields and the 36-key representation."""

from __future__ import annotations

from typing import Any

from jeroboam.api.deps import isoformat, links
from jeroboam.api.schemas.fields import Field
from jeroboam.services.records import TemplateFields


def _text(**kw: Any) -> Field:
    return Field("string", min_length=1, max_length=255, **kw)


FIELDS: dict[str, Field] = {
    "uuid": Field("uuid"),
    "name": _text(description="Generated when absent."),
    "coe": Field("string", mandatory=True, description="kubernetes, swarm or swarm-mode."),
    "image_id": _text(mandatory=True),
    "flavor_id": _text(),
    "master_flavor_id": _text(),
    "keypair_id": _text(),
    "dns_nameserver": _text(),
    "external_network_id": _text(),
    "fixed_network": _text(),
    "fixed_subnet": _text(),
    "network_driver": _text(),
    "volume_driver": _text(),
    "apiserver_port": Field("integer", minimum=1024, maximum=65535),
    "docker_volume_size": Field("integer", minimum=1),
    "docker_storage_driver": _text(),
    "cluster_distro": _text(description="Ignored: taken from the image."),
    "http_proxy": _text(),
    "https_proxy": _text(),
    "no_proxy": _text(),
    "insecure_registry": _text(),
    "registry_enabled": Field("boolean"),
    "labels": Field("labels"),
    "tls_disabled": Field("boolean"),
    "public": Field("boolean"),
    "hidden": Field("boolean"),
    "server_type": Field("string", enum=("vm", "bm")),
    "master_lb_enabled": Field("boolean"),
    "floating_ip_enabled": Field("boolean"),
    "tags": Field("string", max_length=255, description="Comma-separated."),
    "driver": _text(),
    "links": Field("any", readonly=True),
    "project_id": Field("string", readonly=True),
    "user_id": Field("string", readonly=True),
    "created_at": Field("string", readonly=True),
    "updated_at": Field("string", readonly=True),
}

CREATE_DEFAULTS: dict[str, Any] = {
    "labels": {},
    "registry_enabled": False,
    "tls_disabled": False,
    "public": False,
    "hidden": False,
    "server_type": "vm",
    "master_lb_enabled": False,
    "floating_ip_enabled": True,
}

# Stored attributes a PATCH may address (the rest are internal).
PATCHABLE = [name for name, spec in FIELDS.items() if not spec.readonly and name != "uuid"]


def render(template: TemplateFields, base: str, collection_path: str = "clustertemplates") -> dict[str, Any]:
    return {
        "uuid": template.uuid,
        "name": template.name,
        "coe": template.coe,
        "image_id": template.image_id,
        "flavor_id": template.flavor_id,
        "master_flavor_id": template.master_flavor_id,
        "dns_nameserver": template.dns_nameserver,
        "keypair_id": template.keypair_id,
        "external_network_id": template.external_network_id,
        "fixed_network": template.fixed_network,
        "fixed_subnet": template.fixed_subnet,
        "network_driver": template.network_driver,
        "apiserver_port": template.apiserver_port,
        "docker_volume_size": template.docker_volume_size,
        "cluster_distro": template.cluster_distro,
        "links": links(base, collection_path, template.uuid),
        "http_proxy": template.http_proxy,
        "https_proxy": template.https_proxy,
        "no_proxy": template.no_proxy,
        "volume_driver": template.volume_driver,
        "registry_enabled": template.registry_enabled,
        "labels": template.labels or {},
        "tls_disabled": template.tls_disabled,
        "public": template.public,
        "server_type": template.server_type,
        "insecure_registry": template.insecure_registry,
        "docker_storage_driver": template.docker_storage_driver,
        "master_lb_enabled": template.master_lb_enabled,
        "floating_ip_enabled": template.floating_ip_enabled,
        "project_id": template.project_id,
        "user_id": template.user_id,
        "hidden": template.hidden,
        "tags": template.tags,
        "driver": template.driver,
        "created_at": isoformat(template.created_at),
        "updated_at": isoformat(template.updated_at),
    }
