"""UUID handling as OpenStack does it (oslo ``is_uuid_like``)."""

from __future__ import annotations

import uuid as uuidlib


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
