"""The database figures of a metrics scrape (for the API and the conductor alike)."""

from __future__ import annotations

from datetime import UTC, datetime

from jeroboam.db.repositories import metrics as repo
from jeroboam.db.session import Database
from jeroboam.errors import DatabaseUnavailableError
from jeroboam.observability.metrics import Snapshot


def database_snapshot(db: Database) -> Snapshot:
    """The scrape-time figures; during a database outage, only that it is down."""
    try:
        with db.read() as session:
            return Snapshot(
                queue_depth=repo.queue_depth(session, datetime.now(UTC)),
                clusters=repo.clusters_by_status_health(session),
            )
    except DatabaseUnavailableError:
        return Snapshot(queue_depth=0, database_up=False)
