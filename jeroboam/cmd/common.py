"""What every command does first: settings, logging, a clear message on bad configuration."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from jeroboam.config import ConfigFileError, Settings, load_settings
from jeroboam.db import migrate
from jeroboam.db.session import Database
from jeroboam.drivers.registry import DriverRegistry
from jeroboam.pki.secrets import Keyring, SecretsError, load_keyring
from jeroboam.rpc.amqp import AmqpNotifier
from jeroboam.rpc.notifications import Notifier, NullNotifier
from jeroboam.services.certificates import check_stored_secrets

log = logging.getLogger(__name__)


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML configuration file")


def add_workers_argument(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--workers", type=int, help=help)


def check_workers_argument(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")


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


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def settings_from(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **{k: v for k, v in overrides.items() if v is not None})
    except ConfigFileError as exc:
        fail(str(exc))
    except ValidationError as exc:
        problems = "; ".join(
            (f"{'.'.join(str(p) for p in e['loc'])}: " if e["loc"] else "") + e["msg"] for e in exc.errors()
        )
        fail(f"invalid configuration: {problems}")


def setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def broker_notifier(settings: Settings, publisher_id: str) -> Notifier:
    """Notifications go to the broker when one is configured, else nowhere."""
    if settings.transport_url:
        return AmqpNotifier(settings.transport_url, publisher_id=publisher_id)
    return NullNotifier()


def secrets_keyring(settings: Settings) -> Keyring:
    """The keys of secrets at rest: configured ones, else ``<data_dir>/secret.key``, generated (mode
    0600) on first start so the all-in-one needs no configuration."""
    try:
        keyring = load_keyring(settings, create=True)
    except SecretsError as exc:
        fail(exc.message)
    logging.getLogger("jeroboam").info(
        "secrets at rest: %d encryption key(s) from %s", len(keyring.ids), keyring.source
    )
    return keyring


def check_secrets(db: Database, keyring: Keyring) -> None:
    """Refuse to start when the keys cannot decrypt what is stored (never write with a wrong key)."""
    try:
        check_stored_secrets(db, keyring)
    except SecretsError as exc:
        db.dispose()
        fail(exc.message)


def check_schema(db: Database) -> None:
    """Processes that do not migrate (API, conductor) refuse to start on an old or empty schema."""
    try:
        current, head = migrate.current_revision(db.engine), migrate.head_revision(db.engine)
    except OperationalError as exc:
        fail(f"cannot reach the database ({type(exc.orig).__name__}); check [database] connection")
    if current != head:
        fail(
            f"the database schema is at revision {current or 'none'} but this version needs {head}; "
            "run 'jeroboam-manage db upgrade' first"
        )


def warn_about_drivers(drivers: DriverRegistry) -> None:
    """Say at start what a driver already knows will fail (a configured engine that does not answer)."""
    for name in drivers.names():
        check = getattr(drivers.get(name), "startup_warnings", None)
        for warning in check() if check else ():
            log.warning("%s", warning)
