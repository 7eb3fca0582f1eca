"""containers: the bay-era /v1/containers resource, rows owned by a cluster

Revision ID: 0008
Revises: 0007 (re-chained onto main's head at each merge; it was 0003)
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "containers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("bay_uuid", sa.String(36), nullable=False),
        sa.Column("image", sa.String(255), nullable=False),
        sa.Column("command", sa.String(255), nullable=True),
        sa.Column("memory", sa.String(255), nullable=True),
        sa.Column("environment", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["bay_uuid"], ["clusters.uuid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    op.create_index("ix_containers_bay_uuid", "containers", ["bay_uuid"])
    op.create_index("ix_containers_project_name", "containers", ["project_id", "name"])


def downgrade() -> None:
    op.drop_index("ix_containers_project_name", table_name="containers")
    op.drop_index("ix_containers_bay_uuid", table_name="containers")
    op.drop_table("containers")
