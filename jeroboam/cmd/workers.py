"""API worker processes: the supervisor serves them, each rebuilds the supervisor's settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import uvicorn

from jeroboam.cmd.configuration import settings_from
from jeroboam.config import Settings

# The configuration file API worker processes rebuild their settings from (they are spawned).
WORKER_CONFIG_ENV = "JEROBOAM_CONFIG_FILE"


def serve_workers(factory: str, settings: Settings, config: Path | None) -> None:
    """Serve the API from ``[api] workers`` processes: uvicorn's supervisor spawns them, and each
    builds its app with ``factory`` (settings from ``worker_settings``). The supervisor handles
    SIGTERM/SIGINT itself: it stops the workers, then returns."""
    if config:
        os.environ[WORKER_CONFIG_ENV] = str(config)
    uvicorn.run(
        factory,
        factory=True,
        host=settings.api.host,
        port=settings.api.port,
        workers=settings.api.workers,
        log_level="warning",
        access_log=False,
    )


def worker_settings(**overrides: Any) -> Settings:
    """In an API worker process: the supervisor's settings, from the same file and environment."""
    config = os.environ.get(WORKER_CONFIG_ENV)
    return settings_from(Path(config) if config else None, **overrides)
