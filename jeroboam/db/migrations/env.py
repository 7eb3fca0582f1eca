"""Alembic environment: the engine comes from ``jeroboam.db.migrate``, never from an ini file."""

from alembic import context

from jeroboam.db.models import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
