"""Engine and sessions; commits happen only at the unit-of-work edge (``Database.transaction``)."""

from __future__ import annotations

import hashlib
import logging
import math
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from jeroboam.config import DatabaseSettings
from jeroboam.errors import DatabaseUnavailableError, ServiceUnavailableError
from jeroboam.observability.outages import Outage

log = logging.getLogger(__name__)


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


# Execution option of a connection whose transaction only reads (``Database.read``).
READ_ONLY = "jeroboam_read_only"


def _sqlite_begin(connection: Any) -> None:
    # A read-only unit of work takes a plain deferred BEGIN: in WAL mode it reads a snapshot
    # and never waits for, nor blocks, a writer. Writers take the write lock at the start: a
    # deferred transaction that reads, then writes after another writer committed, fails with
    # SQLITE_BUSY_SNAPSHOT instead of waiting (readers in WAL mode are not blocked by this).
    # Sent on the driver's connection: SQLAlchemy's statement machinery costs more than the BEGIN.
    driver = connection.connection.driver_connection
    statement = "BEGIN" if connection.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE"
    try:
        driver.execute(statement)
    except sqlite3.OperationalError as exc:  # "database is locked": what SQLAlchemy would raise
        raise OperationalError(statement, None, exc) from exc


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


_EMPTY_JSON: dict[str, Callable[[], Any]] = {"{}": dict, "[]": list, "null": lambda: None}


def json_loads(text: str) -> Any:
    """JSON columns as stored, parsed by orjson; the empty values most of them hold are answered
    without parsing."""
    empty = _EMPTY_JSON.get(text)
    return empty() if empty is not None else orjson.loads(text)


# A pooled connection idle for longer than this is pinged before use (a database restart or a
# network cut while it sat in the pool is found then, not by the request); one in steady use is
# not, which saves a round trip per transaction (SQLAlchemy's pool_pre_ping pings every checkout).
PING_AFTER_IDLE = 5.0
_CHECKED_IN = "jeroboam.checked_in"


def _remember_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info[_CHECKED_IN] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    idle_since = record.info.get(_CHECKED_IN)
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()
    except Exception as exc:  # the pool replaces the connection and tries again
        raise DisconnectionError(f"a pooled connection was found dead ({type(exc).__name__})") from exc


def _bounded(backend: str, limits: DatabaseSettings) -> dict[str, Any]:
    """Driver arguments that bound the wait for a connection and for each statement, so a
    database that stopped answering turns into a 503 instead of a request that hangs."""
    if backend == "postgresql":
        return {
            "connect_timeout": max(2, math.ceil(limits.connect_timeout)),  # libpq: whole seconds, at least 2
            "options": f"-c statement_timeout={int(limits.statement_timeout * 1000)}",
        }
    if backend in ("mysql", "mariadb"):
        return {
            "connect_timeout": limits.connect_timeout,
            "read_timeout": limits.statement_timeout,
            "write_timeout": limits.statement_timeout,
        }
    return {}


def make_engine(url: str, *, pool_size: int = 5, limits: DatabaseSettings | None = None) -> Engine:
    """The engine of ``url``; ``limits`` bounds connects, statements and pool waits (the
    services' engines; migrations run without a statement timeout)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 10}, json_deserializer=json_loads
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    bounds: dict[str, Any] = {}
    if limits is not None:
        bounds = {"connect_args": _bounded(parsed.get_backend_name(), limits), "pool_timeout": limits.pool_timeout}
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, json_deserializer=json_loads, **bounds)
    event.listen(engine, "checkin", _remember_checkin)
    event.listen(engine, "checkout", _ping_if_idle)
    if engine.dialect.name in ("mysql", "mariadb"):
        event.listen(engine, "checkin", _release_named_locks)
    return engine


def _is_outage(exc: DBAPIError) -> bool:
    """The database cannot be reached (refused, cut, or silent), as opposed to a statement it
    refused (a lock wait, a deadlock, SQLite's busy database): the connection was lost, or none
    was made (an error raised without a statement is a connect's)."""
    return bool(exc.connection_invalidated) or exc.statement is None


class Database:
    """One per process: the engine and a session factory. A database outage is logged once
    (``outage``), whatever the number of requests and threads that meet it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.outage = Outage(
            "the database", "requests are answered 503 and the conductor retries until it answers", log
        )

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 5, limits: DatabaseSettings | None = None) -> Database:
        return cls(make_engine(url, pool_size=pool_size, limits=limits))

    def _unavailable(self, exc: Exception) -> ServiceUnavailableError:
        if isinstance(exc, PoolTimeoutError):
            return ServiceUnavailableError("The database is busy (no connection was free in time); retry the request.")
        assert isinstance(exc, DBAPIError)
        cause = exc.orig if exc.orig is not None else exc
        if _is_outage(exc):
            self.outage.failed(cause)
            return DatabaseUnavailableError(f"The database is not available ({type(cause).__name__}).")
        return ServiceUnavailableError(f"The database is not available ({type(cause).__name__}).")

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits when the block ends and rolls back if it raises."""
        try:
            with self._sessions() as session, session.begin():
                yield session
        except (OperationalError, PoolTimeoutError) as exc:
            raise self._unavailable(exc) from exc
        except DBAPIError as exc:  # any other error of a lost connection (e.g. PyMySQL's InterfaceError)
            if not exc.connection_invalidated:
                raise
            raise self._unavailable(exc) from exc
        self.outage.succeeded()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A unit of work that only reads: one consistent snapshot, and on SQLite no write lock
        (a deferred BEGIN), so reads neither wait for the conductor's writes nor hold them up.
        Writing in it is a programming error (SQLite refuses to upgrade such a snapshot when a
        writer got there first)."""
        try:
            with self._sessions() as session, session.begin():
                session.connection(execution_options={READ_ONLY: True})
                yield session
        except (OperationalError, PoolTimeoutError) as exc:
            raise self._unavailable(exc) from exc
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            raise self._unavailable(exc) from exc
        self.outage.succeeded()

    def reachable(self) -> bool:
        """Whether the database answers a trivial query now (the health check)."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:  # any database failure means 'not reachable'
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()
