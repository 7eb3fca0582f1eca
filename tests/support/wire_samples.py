"""Upstream Magnum's answers as observed on the wire, kept in ``tests/fixtures``.

The fixture is the capture as taken (its ``_about`` says how); tests compare our bodies with it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "magnum-api-wire-samples.json"
UPSTREAM_BASE = "http://localhost"


@cache
def _samples_text() -> dict[str, str]:
    """Each sample as JSON text by its case name (text, so every caller gets a fresh copy)."""
    samples = json.loads(FIXTURE.read_text(encoding="utf-8"))["samples"]
    return {item["case"]: json.dumps(item) for item in samples}


def sample(case: str, base: str | None = None) -> dict[str, Any]:
    """The wire sample named ``case``; with ``base``, upstream's ``http://localhost`` becomes it."""
    try:
        text = _samples_text()[case]
    except KeyError:
        raise LookupError(f"no wire sample named {case!r} in {FIXTURE.name}") from None
    if base is not None:
        text = text.replace(UPSTREAM_BASE, base)
    found: dict[str, Any] = json.loads(text)
    return found
