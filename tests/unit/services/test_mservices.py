"""Up/down of a conductor row, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jeroboam.db.models import Service
from jeroboam.services.mservices import is_up

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DOWN_TIME = 180


def row(**values: object) -> Service:
    values.setdefault("created_at", NOW - timedelta(days=1))
    values.setdefault("forced_down", False)
    return Service(host="h", binary="magnum-conductor", **values)


@pytest.mark.parametrize(
    ("values", "up"),
    [
        ({"last_seen_up": NOW - timedelta(seconds=DOWN_TIME)}, True),
        ({"last_seen_up": NOW - timedelta(seconds=DOWN_TIME + 1)}, False),
        # A clock ahead of ours counts the same distance (Magnum compares the absolute gap).
        ({"last_seen_up": NOW + timedelta(seconds=60)}, True),
        ({"last_seen_up": NOW + timedelta(seconds=DOWN_TIME + 1)}, False),
        ({"last_seen_up": NOW, "forced_down": True}, False),
        ({}, False),
        ({"created_at": NOW - timedelta(seconds=5)}, True),
        ({"updated_at": NOW - timedelta(seconds=5)}, True),
        ({"updated_at": NOW, "last_seen_up": NOW - timedelta(hours=1)}, False),
        # Naive timestamps are taken as UTC.
        ({"last_seen_up": (NOW - timedelta(seconds=10)).replace(tzinfo=None)}, True),
    ],
)
def test_is_up(values: dict[str, object], up: bool) -> None:
    assert is_up(row(**values), NOW, DOWN_TIME) is up
