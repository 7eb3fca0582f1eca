"""certificates: per-cluster CAs, endpoint and client certificates with encrypted private keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_certificates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cluster_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.Column("encrypted_private_key", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("not_after", TIMESTAMP, nullable=False),
        sa.Column("operation_id", sa.String(36), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["cluster_id"], ["clusters.uuid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cluster_id", "kind", name="uq_cluster_certificates_cluster_kind"),
    )
    op.create_index("ix_cluster_certificates_cluster_id", "cluster_certificates", ["cluster_id"])
    op.create_index("ix_cluster_certificates_key_id", "cluster_certificates", ["key_id"])


def downgrade() -> None:
    op.drop_index("ix_cluster_certificates_key_id", table_name="cluster_certificates")
    op.drop_index("ix_cluster_certificates_cluster_id", table_name="cluster_certificates")
    op.drop_table("cluster_certificates")
