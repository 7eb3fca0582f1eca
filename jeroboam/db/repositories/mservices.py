"""Heartbeat rows of conductor processes (``/v1/mservices``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from jeroboam.db.models import Service


def heartbeat(session: Session, host: str, binary: str, now: datetime, formerly: Sequence[str] = ()) -> Service:
    """Record that ``binary`` on ``host`` is alive; creates its row on first beat.

    A row of ``host`` under one of the ``formerly`` names is taken over and renamed, so an upgrade
    leaves no stale row behind.
    """
    names = (binary, *formerly)
    rows = session.scalars(select(Service).where(Service.host == host, Service.binary.in_(names))).all()
    row = next((r for r in rows if r.binary == binary), rows[0] if rows else None)
    if row is None:
        row = Service(host=host, binary=binary, report_count=0)
        session.add(row)
    row.binary = binary
    row.report_count += 1
    row.last_seen_up = now
    session.flush()
    return row


def list_all(session: Session) -> Sequence[Service]:
    return session.scalars(select(Service).order_by(Service.id)).all()
