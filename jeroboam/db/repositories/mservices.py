"""Heartbeat rows of conductor processes (``/v1/mservices``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from jeroboam.db.models import Service


def heartbeat(session: Session, host: str, binary: str, now: datetime) -> Service:
    """Record that ``binary`` on ``host`` is alive; creates its row on first beat."""
    row = session.scalars(select(Service).where(Service.host == host, Service.binary == binary)).first()
    if row is None:
        row = Service(host=host, binary=binary, report_count=0)
        session.add(row)
    row.report_count += 1
    row.last_seen_up = now
    session.flush()
    return row


def list_all(session: Session) -> Sequence[Service]:
    return session.scalars(select(Service).order_by(Service.id)).all()
