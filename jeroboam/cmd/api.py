"""``jeroboam-api``: the HTTP API alone (scale out behind a load balancer)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import uvicorn

from jeroboam.api.app import create_app
from jeroboam.cmd.common import (
    add_config_argument,
    broker_notifier,
    check_schema,
    check_secrets,
    secrets_keyring,
    settings_from,
    setup_logging,
)
from jeroboam.db.session import Database
from jeroboam.rpc.amqp import AmqpWaker
from jeroboam.rpc.wakeup import NullWaker, Waker
from jeroboam.services.container import Services

CONFIG_ENV = "JEROBOAM_CONFIG_FILE"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jeroboam-api", description="Jeroboam API server")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--workers", type=int, help="worker processes")
    add_config_argument(parser)
    args = parser.parse_args(argv)
    settings = settings_from(args.config)
    settings.api.host = args.host or settings.api.host
    settings.api.port = args.port or settings.api.port
    settings.api.workers = args.workers or settings.api.workers
    setup_logging(settings)
    # Fail at start, not at the first request, when the keys cannot read the stored secrets.
    database = Database.from_url(settings.database_url, pool_size=1)
    check_schema(database)
    check_secrets(database, secrets_keyring(settings))
    database.dispose()
    if args.config:
        # Worker processes rebuild the settings from the same file and environment.
        os.environ[CONFIG_ENV] = str(args.config)
    uvicorn.run(
        "jeroboam.cmd.api:app_factory",
        factory=True,
        host=settings.api.host,
        port=settings.api.port,
        workers=settings.api.workers,
        log_level="warning",
        access_log=False,
    )
    return 0


def app_factory() -> object:
    """Runs in each worker process: its own settings, database pool and broker connection."""
    config = os.environ.get(CONFIG_ENV)
    settings = settings_from(Path(config) if config else None)
    waker: Waker = AmqpWaker(settings.transport_url) if settings.transport_url else NullWaker()
    notifier = broker_notifier(settings, f"jeroboam-api.{settings.service.host}")
    keyring = secrets_keyring(settings)
    return create_app(settings, Services.build(settings, waker=waker, notifier=notifier, keyring=keyring))


if __name__ == "__main__":
    sys.exit(main())
