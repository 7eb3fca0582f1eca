"""What callers read of a cluster: the fields a representation reads, and ``ClusterView``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy.orm import Session

from jeroboam.db.repositories import clusters as repo
from jeroboam.db.repositories import nodegroups as nodegroups_repo
from jeroboam.domain import states
from jeroboam.domain.specs import MASTER


class ClusterFields(Protocol):
    """What a cluster's representation reads: an ORM ``Cluster``, or a plain row of the columns a
    read selected. A summary row has only ``repositories.clusters.SUMMARY_COLUMNS`` (the first
    fifteen here, and ``ClusterSizes``), which is all a summary shows."""

    @property
    def uuid(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def project_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def cluster_template_id(self) -> str: ...
    @property
    def keypair(self) -> str | None: ...
    @property
    def docker_volume_size(self) -> int | None: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def master_flavor_id(self) -> str | None: ...
    @property
    def flavor_id(self) -> str | None: ...
    @property
    def stack_id(self) -> str | None: ...
    @property
    def create_timeout(self) -> int | None: ...
    @property
    def status(self) -> str | None: ...
    @property
    def health_status(self) -> str | None: ...
    @property
    def status_reason(self) -> str | None: ...
    @property
    def health_status_reason(self) -> dict[str, Any]: ...
    @property
    def discovery_url(self) -> str | None: ...
    @property
    def api_address(self) -> str | None: ...
    @property
    def registry_address(self) -> str | None: ...
    @property
    def registry_push_address(self) -> str | None: ...
    @property
    def coe_version(self) -> str | None: ...
    @property
    def container_version(self) -> str | None: ...
    @property
    def node_addresses(self) -> list[str]: ...
    @property
    def master_addresses(self) -> list[str]: ...
    @property
    def fixed_network(self) -> str | None: ...
    @property
    def fixed_subnet(self) -> str | None: ...
    @property
    def floating_ip_enabled(self) -> bool: ...
    @property
    def master_lb_enabled(self) -> bool: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime | None: ...


class ClusterSizes(Protocol):
    """The sizes a summary row carries (summed over the cluster's nodegroups by its query)."""

    @property
    def master_count(self) -> int: ...
    @property
    def node_count(self) -> int: ...


class NodeGroupFields(Protocol):
    """What a cluster's representation reads of a nodegroup (ORM object or plain row)."""

    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def node_count(self) -> int: ...
    @property
    def node_addresses(self) -> list[str]: ...
    @property
    def is_default(self) -> bool: ...
    @property
    def status(self) -> str | None: ...
    @property
    def status_reason(self) -> str | None: ...


@dataclass(frozen=True)
class ClusterView:
    """A cluster with what its representation derives from: nodegroups and template labels.

    Reads hold plain rows (only the columns they show); a list without details holds no
    nodegroups, only ``sizes``: (master_count, node_count), which is all a summary shows."""

    cluster: ClusterFields
    nodegroups: Sequence[NodeGroupFields]
    template_labels: Mapping[str, str] = field(default_factory=dict)
    sizes: tuple[int, int] | None = None

    @property
    def workers(self) -> list[NodeGroupFields]:
        return [ng for ng in self.nodegroups if ng.role != MASTER]

    @property
    def masters(self) -> list[NodeGroupFields]:
        return [ng for ng in self.nodegroups if ng.role == MASTER]

    def counts(self) -> tuple[int, int]:
        """(master_count, node_count): ``sizes``, or one pass over the nodegroups."""
        if self.sizes is not None:
            return self.sizes
        masters = workers = 0
        for ng in self.nodegroups:
            if ng.role == MASTER:
                masters += ng.node_count
            else:
                workers += ng.node_count
        return masters, workers

    @property
    def node_count(self) -> int:
        return self.counts()[1]

    @property
    def master_count(self) -> int:
        return self.counts()[0]

    @property
    def node_addresses(self) -> list[str]:
        found = [address for ng in self.workers for address in ng.node_addresses or ()]
        return found or list(self.cluster.node_addresses or ())

    @property
    def master_addresses(self) -> list[str]:
        found = [address for ng in self.masters for address in ng.node_addresses or ()]
        return found or list(self.cluster.master_addresses or ())

    @property
    def failed(self) -> bool:
        return self.cluster.status in states.FAILED

    def faults(self) -> dict[str, str]:
        """Each failed nodegroup's reason; when none failed, the cluster's own reason."""
        found = {ng.name: ng.status_reason or "" for ng in self.nodegroups if ng.status in states.FAILED}
        if not found and self.cluster.status_reason:
            found = {"cluster": self.cluster.status_reason}
        return found


@dataclass(frozen=True)
class ClusterPatch:
    """A JSON-patch's outcome: attributes it changed (new values) and the ones it addressed."""

    changes: Mapping[str, Any]
    addressed: frozenset[str] = frozenset()


def read_views(session: Session, rows: Sequence[ClusterFields], *, detail: bool) -> list[ClusterView]:
    """Views of cluster rows. A summary's rows carry their sizes (``repo.SUMMARY_COLUMNS``); a
    detailed view takes two more queries, whatever the number of rows: what it shows of the
    nodegroups, and the templates' labels."""
    if not detail:
        sized = cast(Sequence[ClusterSizes], rows)
        return [ClusterView(c, (), sizes=(s.master_count, s.node_count)) for c, s in zip(rows, sized, strict=True)]
    grouped = nodegroups_repo.rows_for_clusters(session, (c.uuid for c in rows))
    labels = repo.template_labels(session, (c.cluster_template_id for c in rows))
    return [ClusterView(c, grouped.get(c.uuid, ()), labels.get(c.cluster_template_id, {})) for c in rows]
