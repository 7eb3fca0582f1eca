"""Fresh, throw-away databases on each backend the suite can reach."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# Server URLs (without a database) of the backends; override to point elsewhere on loopback.
SERVERS = {
    "postgresql": os.environ.get("JEROBOAM_TEST_POSTGRESQL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    "mariadb": os.environ.get("JEROBOAM_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/mysql"),
}
BACKENDS = ("sqlite", "postgresql", "mariadb")


class BackendUnavailableError(Exception):
    pass


@contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[str]:
    """Yield the URL of an empty database, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'test-{uuid.uuid4().hex[:8]}.sqlite'}"
        return
    server = SERVERS[backend]
    name = f"jeroboam_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:
        admin.dispose()
        where = make_url(server).render_as_string()
        raise BackendUnavailableError(f"{backend} at {where} is not reachable: {exc}") from exc
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            if backend == "postgresql":
                connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@contextmanager
def database_or_skip(backend: str, workdir: Path) -> Iterator[str]:
    """``fresh_database``, or skip the test, saying why, when the backend cannot be reached."""
    try:
        database = fresh_database(backend, workdir)
        url = database.__enter__()
    except BackendUnavailableError as exc:
        pytest.skip(f"{backend} backend skipped: {exc}")
    try:
        yield url
    finally:
        database.__exit__(None, None, None)
