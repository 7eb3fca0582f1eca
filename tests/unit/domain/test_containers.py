"""The container rules of the domain: memory sizes and which action a status allows."""

from __future__ import annotations

import pytest

from jeroboam.domain.containers import ACTIONS, ALLOWED_FROM, PAUSED, RUNNING, STOPPED, memory_bytes, refusal


@pytest.mark.parametrize(
    ("text", "expected"),
    [("512m", 512 * 1024**2), ("1g", 1024**3), ("64K", 64 * 1024), ("100", 100), ("7b", 7), (None, None)],
)
def test_memory_sizes(text: str | None, expected: int | None) -> None:
    assert memory_bytes(text) == expected


@pytest.mark.parametrize("text", ["lots", "1.5g", "-1m", "1t", ""])
def test_bad_memory_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=text or "^$"):
        memory_bytes(text)


def test_every_action_has_its_result_and_allowed_statuses() -> None:
    assert set(ACTIONS) == set(ALLOWED_FROM) == {"start", "stop", "reboot", "pause", "unpause"}
    assert refusal("pause", RUNNING) is None
    assert refusal("unpause", PAUSED) is None
    message = refusal("pause", STOPPED)
    assert message is not None
    assert "Cannot pause a container in status Stopped" in message
    assert "Running" in message
