"""The conductor's queries: claiming due clusters with leases, fenced writes, the work snapshot.

A claim is a compare-and-set on ``lease_token``: the token grows by one with
every claim, so exactly one conductor wins a cluster, and every later write of
that conductor names the token — a conductor whose lease expired and was taken
over finds its token stale and writes nothing (``LeaseLostError``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from jeroboam.db.models import Cluster, ClusterTemplate, NodeGroup, Operation
from jeroboam.db.repositories import certificates
from jeroboam.db.repositories.operations import OPEN
from jeroboam.domain.states import Status


class LeaseLostError(Exception):
    """Another conductor holds the cluster now (or it is gone); stop without writing."""


@dataclass(frozen=True)
class Claim:
    cluster_id: str
    token: int
    generation: int = 0  # the cluster's generation when claimed


def claim_due(
    session: Session, owner: str, now: datetime, lease_until: datetime, limit: int, *, skip_locked: bool
) -> list[Claim]:
    """Claim up to ``limit`` clusters whose ``next_check_at`` has come and whose lease is free."""
    stmt = (
        select(Cluster.id, Cluster.uuid, Cluster.lease_token, Cluster.generation)
        .where(Cluster.next_check_at <= now)
        .where(or_(Cluster.lease_expires_at.is_(None), Cluster.lease_expires_at < now))
        .order_by(Cluster.next_check_at)
        .limit(limit)
    )
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True)
    claims: list[Claim] = []
    for row_id, uuid, token, generation in session.execute(stmt).all():
        result = session.execute(
            update(Cluster)
            .where(Cluster.id == row_id, Cluster.lease_token == token)
            .values(lease_owner=owner, lease_expires_at=lease_until, lease_token=token + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claims.append(Claim(uuid, token + 1, generation))
    return claims


def renew(session: Session, claim: Claim, lease_until: datetime) -> bool:
    # A released lease (owner cleared by the finished pass) is not revived by a late renewal.
    result = session.execute(
        update(Cluster)
        .where(Cluster.uuid == claim.cluster_id, Cluster.lease_token == claim.token, Cluster.lease_owner.is_not(None))
        .values(lease_expires_at=lease_until)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def superseded_by_delete(session: Session, claim: Claim) -> bool:
    """A delete was accepted after ``claim`` was made (the claimed work is not that delete)."""
    row = session.execute(select(Cluster.status, Cluster.generation).where(Cluster.uuid == claim.cluster_id)).first()
    return row is None or (row.status == Status.DELETE_IN_PROGRESS and row.generation > claim.generation)


def deleted_or_deleting(session: Session, cluster_id: str) -> bool:
    status = session.scalar(select(Cluster.status).where(Cluster.uuid == cluster_id))
    return status is None or status == Status.DELETE_IN_PROGRESS


def fenced_cluster(session: Session, claim: Claim) -> Cluster:
    """The cluster row, locked for this transaction, if the claim still holds it."""
    cluster = session.scalars(select(Cluster).where(Cluster.uuid == claim.cluster_id).with_for_update()).first()
    if cluster is None or cluster.lease_token != claim.token:
        raise LeaseLostError(claim.cluster_id)
    return cluster


def release(cluster: Cluster) -> None:
    cluster.lease_owner = None
    cluster.lease_expires_at = None


def template_of(session: Session, cluster: Cluster) -> ClusterTemplate | None:
    return session.scalars(select(ClusterTemplate).where(ClusterTemplate.uuid == cluster.cluster_template_id)).first()


def nodegroups_of(session: Session, cluster: Cluster) -> Sequence[NodeGroup]:
    return session.scalars(select(NodeGroup).where(NodeGroup.cluster_id == cluster.uuid).order_by(NodeGroup.id)).all()


def open_operations(session: Session, cluster: Cluster) -> Sequence[Operation]:
    return session.scalars(
        select(Operation).where(Operation.cluster_id == cluster.uuid, Operation.state.in_(OPEN)).order_by(Operation.id)
    ).all()


def delete_cluster_rows(session: Session, cluster: Cluster) -> None:
    certificates.delete_for_cluster(session, cluster.uuid)  # its CAs and (encrypted) keys
    for nodegroup in nodegroups_of(session, cluster):
        session.delete(nodegroup)
    # Nodegroups first: the unit of work does not order these deletes (no relationship), and the
    # cluster's ON DELETE CASCADE would remove the nodegroups under it (SAWarning: 0 rows matched).
    session.flush()
    session.delete(cluster)
    session.flush()


def in_progress_without_schedule(session: Session, statuses: Sequence[str], now: datetime) -> int:
    """Repair: an in-progress cluster must always be due at some point."""
    result = session.execute(
        update(Cluster)
        .where(Cluster.status.in_(statuses), Cluster.next_check_at.is_(None))
        .values(next_check_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def deadline_of(session: Session, cluster_id: str) -> datetime | None:
    """The earliest deadline among the cluster's open operations."""
    return session.scalar(
        select(Operation.deadline)
        .where(Operation.cluster_id == cluster_id, Operation.state.in_(OPEN))
        .order_by(Operation.deadline)
        .limit(1)
    )
