"""Operation rows: the audit trail of accepted actions and the engine's unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jeroboam.db.models import Operation

OPEN = ("pending", "running")


def add(session: Session, operation: Operation) -> Operation:
    """Added to the session; inserted at its next flush (or commit), with the other new rows."""
    session.add(operation)
    return operation


def open_for_cluster(session: Session, cluster_id: str) -> Sequence[Operation]:
    """Pending and running operations of a cluster, oldest first."""
    return session.scalars(
        select(Operation).where(Operation.cluster_id == cluster_id, Operation.state.in_(OPEN)).order_by(Operation.id)
    ).all()


def latest_for_cluster(session: Session, cluster_id: str) -> Operation | None:
    return session.scalars(
        select(Operation).where(Operation.cluster_id == cluster_id).order_by(Operation.id.desc()).limit(1)
    ).first()


def supersede_open(session: Session, cluster_id: str, now: datetime, reason: str) -> int:
    result = session.execute(
        update(Operation)
        .where(Operation.cluster_id == cluster_id, Operation.state.in_(OPEN))
        .values(state="superseded", finished_at=now, reason=reason)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def list_for_cluster(session: Session, cluster_id: str) -> Sequence[Operation]:
    return session.scalars(select(Operation).where(Operation.cluster_id == cluster_id).order_by(Operation.id)).all()
