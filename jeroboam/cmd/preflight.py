"""Checks a process makes before it serves: the schema is current, the keys decrypt what is stored."""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError

from jeroboam.cmd.configuration import fail
from jeroboam.config import Settings
from jeroboam.db import migrate
from jeroboam.db.session import Database
from jeroboam.drivers.registry import DriverRegistry
from jeroboam.pki.secrets import Keyring, SecretsError, load_keyring
from jeroboam.services.stored_secrets import check_stored_secrets


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
        for warning in drivers.get(name).startup_warnings():
            logging.getLogger("jeroboam").warning("%s", warning)
