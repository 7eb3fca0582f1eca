"""A bounded crash run (``tests/reliability/crash.py``): conductors killed with SIGKILL under
traffic lose, duplicate and strand nothing. The standalone script runs longer forms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reliability import crash
from tests.support.databases import BackendUnavailableError

pytestmark = [pytest.mark.postgresql, pytest.mark.timeout(280)]


def test_conductor_kills_under_traffic_lose_duplicate_and_strand_nothing(tmp_path: Path) -> None:
    config = crash.Config(
        duration=50.0, clusters=6, seed=11, settle_timeout=90.0, resume_timeout=30.0, workdir=tmp_path
    )
    try:
        summary = crash.run(config)
    except BackendUnavailableError as exc:
        pytest.skip(f"PostgreSQL is not reachable, the crash run needs it: {exc}")
    print(json.dumps(summary))
    assert summary["kills"] >= 1, summary
    assert summary["accepted"] > 0, summary
    assert summary["quiet"], summary
    assert summary["lost"] == 0, summary
    assert summary["duplicated"] == 0, summary
    assert summary["stuck"] == 0, summary
    assert summary["mismatched"] == 0, summary
    assert summary["phantom"] == 0, summary
    assert summary["errors"] == 0, summary
    assert summary["not_resumed"] == 0, summary
