"""``jeroboam-api``: the HTTP API alone (scale out behind a load balancer)."""

from __future__ import annotations

import argparse
import sys

from jeroboam.api.app import create_app
from jeroboam.cmd.arguments import add_config_argument, add_workers_argument, api_flags, check_workers_argument
from jeroboam.cmd.configuration import settings_from, setup_logging
from jeroboam.cmd.preflight import check_schema, check_secrets, secrets_keyring
from jeroboam.cmd.workers import serve_workers, worker_settings
from jeroboam.db.session import Database
from jeroboam.observability.metrics import use_multiprocess
from jeroboam.rpc.amqp import AmqpWaker, broker_notifier
from jeroboam.rpc.wakeup import NullWaker, Waker
from jeroboam.services.wiring import Services


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jeroboam-api", description="Jeroboam API server")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    add_workers_argument(parser, help="worker processes (default [api] workers, 1)")
    add_config_argument(parser)
    args = parser.parse_args(argv)
    check_workers_argument(parser, args)
    settings = settings_from(args.config, api=api_flags(args))
    setup_logging(settings)
    # Fail at start, not at the first request, when the keys cannot read the stored secrets.
    database = Database.from_url(settings.database_url, pool_size=1, limits=settings.database)
    check_schema(database)
    check_secrets(database, secrets_keyring(settings))
    database.dispose()
    if settings.api.workers > 1:
        use_multiprocess(settings.metrics_dir, clear=True)  # the workers' samples, summed at each scrape
    serve_workers("jeroboam.cmd.api:app_factory", settings, args.config)
    return 0


def app_factory() -> object:
    """Runs in each worker process: its own settings, database pool and broker connection."""
    settings = worker_settings()
    setup_logging(settings)  # a spawned worker process starts with Python's default logging
    waker: Waker = AmqpWaker(settings.transport_url) if settings.transport_url else NullWaker()
    notifier = broker_notifier(settings, f"jeroboam-api.{settings.service.host}")
    keyring = secrets_keyring(settings)
    return create_app(settings, Services.build(settings, waker=waker, notifier=notifier, keyring=keyring))


if __name__ == "__main__":
    sys.exit(main())
