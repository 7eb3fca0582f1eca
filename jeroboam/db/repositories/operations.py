"""Operation rows: the audit trail of accepted actions and the engine's unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jeroboam.db.models import Operation
from jeroboam.domain.states import OPEN_OPERATIONS, OperationState

OPEN = tuple(state.value for state in OPEN_OPERATIONS)


def add(session: Session, operation: Operation) -> Operation:
    """Added to the session; inserted at its next flush (or commit), with the other new rows."""
    session.add(operation)
    return operation


def open_for_cluster(session: Session, cluster_id: str) -> Sequence[Operation]:
    """Pending and running operations of a cluster, oldest first."""
    return session.scalars(
        select(Operation).where(Operation.cluster_id == cluster_id, Operation.state.in_(OPEN)).order_by(Operation.id)
    ).all()


def history_of_cluster(session: Session, cluster_id: str) -> Sequence[Operation]:
    """Every operation of a cluster, newest first (the operations extension)."""
    return session.scalars(
        select(Operation).where(Operation.cluster_id == cluster_id).order_by(Operation.id.desc())
    ).all()


def supersede_open(session: Session, cluster_id: str, now: datetime, reason: str) -> int:
    result = session.execute(
        update(Operation)
        .where(Operation.cluster_id == cluster_id, Operation.state.in_(OPEN))
        .values(state=OperationState.SUPERSEDED, finished_at=now, reason=reason)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def start(operations: Sequence[Operation], now: datetime) -> None:
    """A conductor took these operations: pending ones are running from now."""
    for operation in operations:
        if operation.state == OperationState.PENDING:
            operation.state = OperationState.RUNNING
            operation.started_at = now


def close(operation: Operation, state: OperationState, now: datetime, reason: str | None = None) -> None:
    operation.state = state
    operation.finished_at = now
    operation.reason = reason
