"""Engine and sessions; commits happen only at the unit-of-work edge (``Database.transaction``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from jeroboam.errors import ServiceUnavailableError


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin) instead of the driver's deferred BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run while a writer commits; busy_timeout waits for the lock instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Take the write lock at the start: a deferred transaction that reads, then writes after another
    # writer committed, fails with SQLITE_BUSY_SNAPSHOT instead of waiting. Readers in WAL mode are
    # not blocked by this.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


# Names of the MySQL/MariaDB named locks a pooled connection holds (in its ``info``).
NAMED_LOCKS = "jeroboam.named_locks"
NAMED_LOCK_TIMEOUT = 30


def _release_named_locks(dbapi_connection: Any, record: Any) -> None:
    # GET_LOCK locks belong to the connection, not the transaction: release them when the
    # connection returns to the pool, i.e. after the transaction that took them has ended.
    names = record.info.pop(NAMED_LOCKS, None)
    if names and dbapi_connection is not None:
        cursor = dbapi_connection.cursor()
        try:
            for name in names:
                cursor.execute("SELECT RELEASE_LOCK(%s)", (name,))
        finally:
            cursor.close()


def hold_named_lock(session: Session, name: str) -> None:
    """Hold the lock ``name`` until ``session``'s transaction ends, for a check-then-insert that
    has no row to lock (a quota count). PostgreSQL: a transaction advisory lock; MySQL/MariaDB:
    GET_LOCK, released when the connection returns to the pool; SQLite: nothing to do (a write
    transaction already holds the database lock)."""
    backend = session.get_bind().dialect.name
    digest = hashlib.sha256(name.encode()).digest()
    if backend == "postgresql":
        key = int.from_bytes(digest[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    elif backend in ("mysql", "mariadb"):
        lock = f"jeroboam.{digest.hex()[:48]}"  # at most 64 characters
        connection = session.connection()
        got = connection.scalar(text("SELECT GET_LOCK(:name, :timeout)"), {"name": lock, "timeout": NAMED_LOCK_TIMEOUT})
        if got != 1:
            raise ServiceUnavailableError("The database is busy (a lock was not granted in time); retry the request.")
        connection.info.setdefault(NAMED_LOCKS, []).append(lock)


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)
    if engine.dialect.name in ("mysql", "mariadb"):
        event.listen(engine, "checkin", _release_named_locks)
    return engine


class Database:
    """One per process: the engine and a session factory."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 5) -> Database:
        return cls(make_engine(url, pool_size=pool_size))

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits when the block ends and rolls back if it raises."""
        try:
            with self._sessions() as session, session.begin():
                yield session
        except OperationalError as exc:
            raise ServiceUnavailableError(f"The database is not available ({type(exc.orig).__name__}).") from exc

    def dispose(self) -> None:
        self.engine.dispose()
