"""The autoscaler's queries: claim the autoscaled clusters that are due, read what they need, and
release them. Every one reads only clusters whose ``autoscale_at`` is set (indexed), so their cost
follows the clusters that enabled autoscaling, never all clusters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.orm import Session

from jeroboam.db.models import Cluster, ClusterTemplate, NodeGroup, Operation
from jeroboam.db.repositories import leases
from jeroboam.db.repositories.leases import Claim
from jeroboam.domain import states

COMPLETE = sorted(status.value for status in states.COMPLETE)


def claim_due(
    session: Session, owner: str, now: datetime, lease_until: datetime, limit: int, *, skip_locked: bool
) -> list[Claim]:
    """Claim up to ``limit`` settled (``*_COMPLETE``) autoscaled clusters whose ``autoscale_at`` has
    come and whose lease is free; each claim bumps the fencing token (``leases.claim_batch``)."""
    return leases.claim_batch(
        session, owner, now, lease_until, limit, Cluster.autoscale_at, Cluster.status.in_(COMPLETE),
        skip_locked=skip_locked,
    )  # fmt: skip


@dataclass
class Snapshot:
    """What the autoscaler reads of a batch of claimed clusters (ORM objects, detached)."""

    clusters: dict[str, Cluster]
    templates: dict[str, ClusterTemplate]
    nodegroups: dict[str, list[NodeGroup]]
    last_change: dict[str, datetime]  # the end of each cluster's last operation
    project_nodes: dict[str, int]  # nodes of every cluster of each project


def snapshot(session: Session, claims: Sequence[Claim], *, count_project_nodes: bool) -> Snapshot:
    """Four queries whatever the batch's size (five when counting the projects' nodes for a node
    quota); clusters whose claim no longer holds are left out."""
    tokens = {claim.cluster_id: claim.token for claim in claims}
    clusters = {
        c.uuid: c
        for c in session.scalars(select(Cluster).where(Cluster.uuid.in_(list(tokens))))
        if c.lease_token == tokens[c.uuid]
    }
    if not clusters:
        return Snapshot({}, {}, {}, {}, {})
    wanted = sorted({c.cluster_template_id for c in clusters.values()})
    templates = {t.uuid: t for t in session.scalars(select(ClusterTemplate).where(ClusterTemplate.uuid.in_(wanted)))}
    nodegroups: dict[str, list[NodeGroup]] = {uuid: [] for uuid in clusters}
    for ng in session.scalars(select(NodeGroup).where(NodeGroup.cluster_id.in_(list(clusters))).order_by(NodeGroup.id)):
        nodegroups[ng.cluster_id].append(ng)
    last_change = {
        cluster_id: finished
        for cluster_id, finished in session.execute(
            select(Operation.cluster_id, func.max(Operation.finished_at))
            .where(Operation.cluster_id.in_(list(clusters)))
            .group_by(Operation.cluster_id)
        ).all()
        if finished is not None
    }
    if not count_project_nodes:
        return Snapshot(clusters, templates, nodegroups, last_change, {})
    projects = sorted({c.project_id for c in clusters.values()})
    project_nodes = {
        project: int(total or 0)
        for project, total in session.execute(
            select(NodeGroup.project_id, func.sum(NodeGroup.node_count))
            .where(NodeGroup.project_id.in_(projects))
            .group_by(NodeGroup.project_id)
        ).all()
    }
    return Snapshot(clusters, templates, nodegroups, last_change, project_nodes)


def release(session: Session, owner: str, claims: Iterable[Claim], autoscale_at: datetime) -> None:
    """Release claims that changed nothing, fenced by their tokens; due again at ``autoscale_at``."""
    claims = list(claims)
    if not claims:
        return
    session.execute(
        update(Cluster)
        .where(
            Cluster.uuid.in_([claim.cluster_id for claim in claims]),
            Cluster.lease_owner == owner,
            tuple_(Cluster.uuid, Cluster.lease_token).in_([(claim.cluster_id, claim.token) for claim in claims]),
        )
        .values(lease_owner=None, lease_expires_at=None, autoscale_at=autoscale_at)
        .execution_options(synchronize_session=False)
    )
