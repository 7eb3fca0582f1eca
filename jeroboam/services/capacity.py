"""What one request may ask for: the project's node quota, and what the driver can host. Checked
before anything is written, so a request that cannot fit is refused at once rather than starting
thousands of nodes that take the service down."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from jeroboam.config import Settings
from jeroboam.db.models import Cluster, ClusterTemplate, NodeGroup
from jeroboam.db.repositories import nodegroups as nodegroups_repo
from jeroboam.domain.specs import MASTER, NodeDemand
from jeroboam.errors import QuotaExceededError


class Capacity(Protocol):
    """The part of a driver these checks ask (``drivers.base.Driver.check_capacity``)."""

    def check_capacity(self, demand: NodeDemand) -> None: ...


def check_node_quota(session: Session, settings: Settings, project_id: str, added: int) -> None:
    limit = settings.quotas.max_nodes_per_project
    if limit < 0 or added <= 0:
        return
    used = nodegroups_repo.nodes_in_project(session, project_id)
    if used + added > limit:
        raise QuotaExceededError(
            f"Quota exceeded: project {project_id} has {used} nodes and asked for {added} more, above its "
            f"limit of {limit} nodes ([quotas] max_nodes_per_project)."
        )


def check_driver_capacity(driver: Capacity, demand: NodeDemand) -> None:
    """The driver's own limits (InvalidInputError naming them)."""
    if any(count > 0 for _, count in demand.added):
        driver.check_capacity(demand)


def check_growth(
    session: Session,
    settings: Settings,
    driver: Capacity | None,
    cluster: Cluster,
    nodegroup: NodeGroup,
    node_count: int,
    template: ClusterTemplate | None,
) -> None:
    """A resize of ``nodegroup`` to ``node_count``: the quota, then the driver's capacity."""
    added = node_count - nodegroup.node_count
    if added <= 0:
        return
    check_node_quota(session, settings, cluster.project_id, added)
    if driver is None:
        return
    default_flavor = None
    if template is not None:
        default_flavor = template.master_flavor_id if nodegroup.role == MASTER else template.flavor_id
    workers = sum(
        node_count if ng.uuid == nodegroup.uuid else ng.node_count
        for ng in nodegroups_repo.for_cluster(session, cluster.uuid)
        if ng.role != MASTER
    )
    flavor = nodegroup.flavor_id or default_flavor
    check_driver_capacity(driver, NodeDemand(cluster.project_id, cluster.uuid, ((flavor, added),), workers))
