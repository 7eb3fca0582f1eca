"""A page of a list as the client asked for it (limit, marker, sort key and direction)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class PageRequest:
    limit: int
    marker: str | None = None
    sort_key: str = "id"
    sort_dir: Literal["asc", "desc"] = "asc"
