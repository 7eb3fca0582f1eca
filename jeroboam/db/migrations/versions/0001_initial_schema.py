"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-21
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# Microseconds on every backend (MySQL/MariaDB DATETIME defaults to whole seconds).
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cluster_templates',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('coe', sa.String(length=255), nullable=False),
    sa.Column('image_id', sa.String(length=255), nullable=False),
    sa.Column('flavor_id', sa.String(length=255), nullable=True),
    sa.Column('master_flavor_id', sa.String(length=255), nullable=True),
    sa.Column('keypair_id', sa.String(length=255), nullable=True),
    sa.Column('external_network_id', sa.String(length=255), nullable=True),
    sa.Column('fixed_network', sa.String(length=255), nullable=True),
    sa.Column('fixed_subnet', sa.String(length=255), nullable=True),
    sa.Column('network_driver', sa.String(length=255), nullable=True),
    sa.Column('volume_driver', sa.String(length=255), nullable=True),
    sa.Column('dns_nameserver', sa.String(length=255), nullable=True),
    sa.Column('apiserver_port', sa.Integer(), nullable=True),
    sa.Column('docker_volume_size', sa.Integer(), nullable=True),
    sa.Column('docker_storage_driver', sa.String(length=255), nullable=True),
    sa.Column('cluster_distro', sa.String(length=255), nullable=True),
    sa.Column('http_proxy', sa.String(length=255), nullable=True),
    sa.Column('https_proxy', sa.String(length=255), nullable=True),
    sa.Column('no_proxy', sa.String(length=255), nullable=True),
    sa.Column('insecure_registry', sa.String(length=255), nullable=True),
    sa.Column('registry_enabled', sa.Boolean(), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('tls_disabled', sa.Boolean(), nullable=False),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('hidden', sa.Boolean(), nullable=False),
    sa.Column('server_type', sa.String(length=255), nullable=False),
    sa.Column('master_lb_enabled', sa.Boolean(), nullable=False),
    sa.Column('floating_ip_enabled', sa.Boolean(), nullable=False),
    sa.Column('tags', sa.String(length=255), nullable=True),
    sa.Column('driver', sa.String(length=255), nullable=True),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid')
    )
    with op.batch_alter_table('cluster_templates', schema=None) as batch_op:
        batch_op.create_index('ix_cluster_templates_project_name', ['project_id', 'name'], unique=False)

    op.create_table('clusters',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('cluster_template_id', sa.String(length=36), nullable=False),
    sa.Column('keypair', sa.String(length=255), nullable=True),
    sa.Column('docker_volume_size', sa.Integer(), nullable=True),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('master_flavor_id', sa.String(length=255), nullable=True),
    sa.Column('flavor_id', sa.String(length=255), nullable=True),
    sa.Column('stack_id', sa.String(length=255), nullable=True),
    sa.Column('api_address', sa.String(length=255), nullable=True),
    sa.Column('node_addresses', sa.JSON(), nullable=False),
    sa.Column('master_addresses', sa.JSON(), nullable=False),
    sa.Column('discovery_url', sa.String(length=255), nullable=True),
    sa.Column('create_timeout', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('health_status', sa.String(length=20), nullable=True),
    sa.Column('health_status_reason', sa.JSON(), nullable=False),
    sa.Column('coe_version', sa.String(length=255), nullable=True),
    sa.Column('container_version', sa.String(length=255), nullable=True),
    sa.Column('fixed_network', sa.String(length=255), nullable=True),
    sa.Column('fixed_subnet', sa.String(length=255), nullable=True),
    sa.Column('floating_ip_enabled', sa.Boolean(), nullable=False),
    sa.Column('master_lb_enabled', sa.Boolean(), nullable=False),
    sa.Column('etcd_ca_cert_ref', sa.String(length=512), nullable=True),
    sa.Column('ca_cert_ref', sa.String(length=512), nullable=True),
    sa.Column('magnum_cert_ref', sa.String(length=512), nullable=True),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('observed_generation', sa.Integer(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid')
    )
    with op.batch_alter_table('clusters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clusters_cluster_template_id'), ['cluster_template_id'], unique=False)
        batch_op.create_index('ix_clusters_project_name', ['project_id', 'name'], unique=False)
        batch_op.create_index(batch_op.f('ix_clusters_status'), ['status'], unique=False)

    op.create_table('federations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('hostcluster_id', sa.String(length=255), nullable=False),
    sa.Column('member_ids', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=True),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('properties', sa.JSON(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('uuid')
    )
    with op.batch_alter_table('federations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_federations_project_id'), ['project_id'], unique=False)

    op.create_table('quotas',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('resource', sa.String(length=255), nullable=False),
    sa.Column('hard_limit', sa.Integer(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('project_id', 'resource', name='uq_quotas_project_resource')
    )
    op.create_table('services',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('binary', sa.String(length=255), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('disabled_reason', sa.String(length=255), nullable=True),
    sa.Column('last_seen_up', TIMESTAMP, nullable=True),
    sa.Column('forced_down', sa.Boolean(), nullable=False),
    sa.Column('report_count', sa.Integer(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('host', 'binary', name='uq_services_host_binary')
    )
    op.create_table('nodegroups',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('cluster_id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('docker_volume_size', sa.Integer(), nullable=True),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('flavor_id', sa.String(length=255), nullable=True),
    sa.Column('image_id', sa.String(length=255), nullable=True),
    sa.Column('node_addresses', sa.JSON(), nullable=False),
    sa.Column('node_count', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=255), nullable=False),
    sa.Column('max_node_count', sa.Integer(), nullable=True),
    sa.Column('min_node_count', sa.Integer(), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('stack_id', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.String(length=20), nullable=True),
    sa.Column('node_labels', sa.JSON(), nullable=False),
    sa.Column('node_taints', sa.JSON(), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('observed_generation', sa.Integer(), nullable=False),
    sa.Column('created_at', TIMESTAMP, nullable=False),
    sa.Column('updated_at', TIMESTAMP, nullable=True),
    sa.ForeignKeyConstraint(['cluster_id'], ['clusters.uuid'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('cluster_id', 'name', name='uq_nodegroups_cluster_name'),
    sa.UniqueConstraint('uuid')
    )
    with op.batch_alter_table('nodegroups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nodegroups_cluster_id'), ['cluster_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('nodegroups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nodegroups_cluster_id'))

    op.drop_table('nodegroups')
    op.drop_table('services')
    op.drop_table('quotas')
    with op.batch_alter_table('federations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_federations_project_id'))

    op.drop_table('federations')
    with op.batch_alter_table('clusters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clusters_status'))
        batch_op.drop_index('ix_clusters_project_name')
        batch_op.drop_index(batch_op.f('ix_clusters_cluster_template_id'))

    op.drop_table('clusters')
    with op.batch_alter_table('cluster_templates', schema=None) as batch_op:
        batch_op.drop_index('ix_cluster_templates_project_name')

    op.drop_table('cluster_templates')
