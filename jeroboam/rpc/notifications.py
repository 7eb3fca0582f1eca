"""Notifications in the OpenStack format (``magnum.cluster.create.start`` ...)."""

from __future__ import annotations

from typing import Any, Protocol


class Notifier(Protocol):
    def emit(self, event_type: str, payload: dict[str, Any]) -> None: ...


class NullNotifier:
    """No broker configured: notifications go nowhere."""

    def emit(self, event_type: str, payload: dict[str, Any]) -> None:
        return None
