"""Counts behind ``/v1/stats``: clusters, and the nodes of every nodegroup of those clusters."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jeroboam.db.models import Cluster, NodeGroup


def cluster_stats(session: Session, project_id: str | None, *, all_projects: bool) -> tuple[int, int]:
    """(clusters, nodes) of one project, or of every project when ``all_projects``.

    Nodes are the ``node_count`` of all nodegroups of the counted clusters, masters included.
    """
    clusters = select(func.count(Cluster.id))
    nodes = select(func.coalesce(func.sum(NodeGroup.node_count), 0)).join(Cluster, NodeGroup.cluster_id == Cluster.uuid)
    if not all_projects:
        clusters = clusters.where(Cluster.project_id == project_id)
        nodes = nodes.where(Cluster.project_id == project_id)
    return int(session.scalar(clusters) or 0), int(session.scalar(nodes) or 0)
