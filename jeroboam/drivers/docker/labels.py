"""Labels on every Docker object the provider creates, and the names it gives them.

Everything the driver knows about a cluster lives on the engine, in these labels:
a conductor that restarts, or another conductor process, finds it all again.
"""

from __future__ import annotations

import re
from typing import Any

# A Docker list filter (docker-py's own type for it is stricter than what the API takes).
Filters = dict[str, Any]

PREFIX = "org.jeroboam"
CLUSTER = f"{PREFIX}.cluster"
PROJECT = f"{PREFIX}.project"
NODEGROUP = f"{PREFIX}.nodegroup"
ROLE = f"{PREFIX}.role"
INDEX = f"{PREFIX}.index"
SLOT = f"{PREFIX}.slot"  # a manager's place: its fixed address and certificate name
TEMPLATE = f"{PREFIX}.template"
IMAGE = f"{PREFIX}.image"
FLAVOR = f"{PREFIX}.flavor"
API_PORT = f"{PREFIX}.api-port"
REGISTRY_PORT = f"{PREFIX}.registry-port"  # the host port a cluster registry is published on
NODE = f"{PREFIX}.node"
CONFIG = f"{PREFIX}.config"  # the API front's configuration digest: a change recreates it

MANAGER, WORKER = "manager", "worker"
REGISTRY = "registry"  # the ROLE of a cluster's registry container (not a node)
FRONT = "front"  # the role of a cluster's API front (master_lb_enabled), which is no node


def of_cluster(uuid: str) -> Filters:
    """A Docker list filter: the objects of one cluster."""
    return {"label": [f"{CLUSTER}={uuid}"]}


def ours() -> Filters:
    """A Docker list filter: every object the provider made."""
    return {"label": [CLUSTER]}


def _dns_label(text: str) -> str:
    cleaned = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return cleaned or "cluster"


def node_name(cluster_name: str, nodegroup: str, index: int) -> str:
    """The node's hostname and swarm node name: ``<cluster>-<nodegroup>-<index>`` (a DNS label)."""
    tail = f"-{_dns_label(nodegroup)[:24]}-{index}"
    return _dns_label(cluster_name)[: 63 - len(tail)].rstrip("-") + tail


def container_name(cluster_uuid: str, node: str) -> str:
    """Unique on the engine even when two projects name their clusters alike."""
    return f"jb-{cluster_uuid[:8]}-{node}"


def front_name(cluster_uuid: str) -> str:
    """The container of a cluster's API front."""
    return f"jb-{cluster_uuid[:8]}-api-front"


def network_name(cluster_uuid: str) -> str:
    return f"jb-{cluster_uuid}"


def volume_name(container: str) -> str:
    return f"{container}-docker"
