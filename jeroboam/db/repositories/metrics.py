"""The scrape-time counts behind the metrics: two grouped, indexed reads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from jeroboam.db.models import Cluster
from jeroboam.db.repositories.leases import IN_PROGRESS


def queue_depth(session: Session, now: datetime) -> int:
    """In-progress clusters due now whose lease is free: the work ``claim_due`` would take."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Cluster)
            .where(Cluster.next_check_at <= now)
            .where(or_(Cluster.lease_expires_at.is_(None), Cluster.lease_expires_at < now))
            .where(or_(Cluster.status.in_(IN_PROGRESS), Cluster.status.is_(None)))
        )
        or 0
    )


def clusters_by_status_health(session: Session) -> dict[tuple[str, str], int]:
    rows = session.execute(
        select(Cluster.status, Cluster.health_status, func.count()).group_by(Cluster.status, Cluster.health_status)
    ).all()
    return {(status or "", health or ""): int(count) for status, health, count in rows}
