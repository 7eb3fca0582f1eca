"""UUID handling as OpenStack does it (oslo ``is_uuid_like``)."""

from __future__ import annotations

import uuid as uuidlib

# Integer attributes and row ids live in SQL INTEGER columns: signed 32-bit on PostgreSQL and
# MariaDB. Values outside this range can name no row and cannot be stored.
SQL_INT_MIN = -(2**31)
SQL_INT_MAX = 2**31 - 1


def is_uuid_like(value: object) -> bool:
    """Canonical, upper-case, braced, urn: or dash-less spellings all count."""
    if not isinstance(value, str):
        return False
    try:
        parsed = uuidlib.UUID(value)
    except ValueError:
        return False
    bare = value.lower().removeprefix("urn:uuid:").strip("{}").replace("-", "")
    return parsed.hex == bare


def canonical_uuid(value: str) -> str:
    return str(uuidlib.UUID(value))


def new_uuid() -> str:
    return str(uuidlib.uuid4())


def parse_row_id(value: str) -> int | None:
    """``value`` as an integer row id (ASCII digits, within an INTEGER column), else None."""
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if number <= SQL_INT_MAX else None
