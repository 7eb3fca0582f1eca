"""clusters: the addresses of a cluster's own registry (template registry_enabled)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.add_column(sa.Column("registry_address", sa.String(255), nullable=True))
        batch.add_column(sa.Column("registry_push_address", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("registry_push_address")
        batch.drop_column("registry_address")
