"""autoscaler: when each autoscaled cluster's workload is looked at next, and what it remembers

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-02
"""

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _enabled(labels: object) -> bool:
    if isinstance(labels, str):
        labels = json.loads(labels or "{}")
    value = labels.get("auto_scaling_enabled", False) if isinstance(labels, dict) else False
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def upgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.add_column(sa.Column("autoscale_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("autoscaler_state", sa.JSON(), nullable=True))
    op.create_index("ix_clusters_autoscale_at", "clusters", ["autoscale_at"])
    # Clusters created with the label before the autoscaler existed are looked at now.
    clusters = sa.table("clusters", sa.column("id", sa.Integer), sa.column("labels", sa.JSON),
                        sa.column("autoscale_at", TIMESTAMP))  # fmt: skip
    connection = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None)
    for row_id, labels in connection.execute(sa.select(clusters.c.id, clusters.c.labels)).all():
        if _enabled(labels):
            connection.execute(sa.update(clusters).where(clusters.c.id == row_id).values(autoscale_at=now))


def downgrade() -> None:
    op.drop_index("ix_clusters_autoscale_at", table_name="clusters")
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("autoscaler_state")
        batch.drop_column("autoscale_at")
