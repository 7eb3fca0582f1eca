"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from jeroboam.db import migrate
from jeroboam.db.models import Base
from jeroboam.db.session import make_engine
from tests.support.databases import database_or_skip


def test_migrations_match_models(backend: str, workdir: Path) -> None:
    with database_or_skip(backend, workdir) as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision(engine)
        migrate.upgrade(engine)  # running it again changes nothing
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        engine.dispose()
        assert differences == []
