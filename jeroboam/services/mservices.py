"""``/v1/mservices`` (reference §3.8): conductor heartbeat rows with an up/down state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from jeroboam.config import Settings
from jeroboam.context import RequestContext
from jeroboam.db.models import Service
from jeroboam.db.repositories import mservices as repo
from jeroboam.db.session import Database
from jeroboam.policy import Policy

UP = "up"
DOWN = "down"


@dataclass(frozen=True)
class MService:
    row: Service
    state: str


def is_up(row: Service, now: datetime, down_time: float) -> bool:
    """Down when forced down; else up iff the last sign of life is within ``down_time`` seconds.

    The last sign of life is the last heartbeat, falling back to the row's update then creation.
    """
    if row.forced_down:
        return False
    last = row.last_seen_up or row.updated_at or row.created_at
    if last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return abs((now - last).total_seconds()) <= down_time


class MServiceService:
    def __init__(self, db: Database, policy: Policy, settings: Settings) -> None:
        self.db = db
        self.policy = policy
        self.settings = settings

    def list(self, context: RequestContext, now: datetime | None = None) -> list[MService]:
        self.policy.authorize("magnum-service:get_all", context)
        now = now or datetime.now(UTC)
        down_time = self.settings.service.service_down_time
        with self.db.transaction() as session:
            rows = repo.list_all(session)
        return [MService(row, UP if is_up(row, now, down_time) else DOWN) for row in rows]
