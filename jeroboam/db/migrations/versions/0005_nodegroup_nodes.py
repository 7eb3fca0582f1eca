"""nodegroups.nodes: the nodes a nodegroup had when last observed (name and address of each)

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodegroups") as batch:
        batch.add_column(sa.Column("nodes", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("nodegroups") as batch:
        batch.drop_column("nodes")
