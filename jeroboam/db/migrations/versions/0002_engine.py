"""engine: operations, cluster leases with fencing tokens, conductor schedule, conditions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(255), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("lease_token", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_check_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("conditions", sa.JSON(), nullable=True))
        batch.create_index("ix_clusters_next_check_at", ["next_check_at"])
    op.execute("UPDATE clusters SET conditions = '[]' WHERE conditions IS NULL")
    with op.batch_alter_table("clusters") as batch:
        batch.alter_column("conditions", existing_type=sa.JSON(), nullable=False)
    op.create_table(
        "operations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("cluster_id", sa.String(36), nullable=False),
        sa.Column("nodegroup_id", sa.String(36), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("deadline", TIMESTAMP, nullable=False),
        sa.Column("phase", sa.String(32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    op.create_index("ix_operations_cluster_id", "operations", ["cluster_id"])
    op.create_index("ix_operations_state", "operations", ["state"])
    op.create_index("ix_operations_deadline", "operations", ["deadline"])
    op.create_index("ix_operations_cluster_state", "operations", ["cluster_id", "state"])


def downgrade() -> None:
    op.drop_table("operations")
    with op.batch_alter_table("clusters") as batch:
        batch.drop_index("ix_clusters_next_check_at")
        for column in ("conditions", "next_check_at", "lease_token", "lease_expires_at", "lease_owner"):
            batch.drop_column(column)
