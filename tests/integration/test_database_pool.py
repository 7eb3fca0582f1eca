"""Pooled connections on PostgreSQL and MariaDB: one that died while it sat idle in the pool is
found by a ping before use and replaced, so the request that takes it does not fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from jeroboam.db import session as db_session
from jeroboam.db.session import Database
from tests.support.databases import database_or_skip

BACKEND_PID = {"postgresql": "SELECT pg_backend_pid()", "mariadb": "SELECT CONNECTION_ID()"}
KILL = {"postgresql": "SELECT pg_terminate_backend({pid})", "mariadb": "KILL {pid}"}


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_a_connection_that_died_in_the_pool_is_replaced(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with database_or_skip(backend, tmp_path) as url:
        db = Database.from_url(url, pool_size=1)
        with db.read() as session:
            pid = session.execute(text(BACKEND_PID[backend])).scalar()
        killer = create_engine(url, isolation_level="AUTOCOMMIT")
        with killer.connect() as connection:
            connection.execute(text(KILL[backend].format(pid=int(pid))))
        killer.dispose()
        monkeypatch.setattr(db_session, "PING_AFTER_IDLE", 0.0)  # it has been idle long enough
        with db.read() as session:
            assert session.execute(text(BACKEND_PID[backend])).scalar() != pid
        db.dispose()
