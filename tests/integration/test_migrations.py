"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from jeroboam.db import migrate
from jeroboam.db.models import Base
from jeroboam.db.session import make_engine
from tests.support.databases import BackendUnavailableError, fresh_database


def test_migrations_match_models(backend: str, workdir: Path) -> None:
    try:
        database = fresh_database(backend, workdir)
        url = database.__enter__()
    except BackendUnavailableError as exc:
        pytest.skip(f"{backend} backend skipped: {exc}")
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision(engine)
        migrate.upgrade(engine)  # running it again changes nothing
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        engine.dispose()
        assert differences == []
    finally:
        database.__exit__(None, None, None)
