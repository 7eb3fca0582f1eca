"""SQLAlchemy models: the source of truth for every resource.

Column names follow Magnum's where the wire shows them, because ``sort_key``
accepts column names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC (microseconds on every backend), returns aware UTC."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, onupdate=utcnow)


class ClusterTemplate(TimestampMixin, Base):
    __tablename__ = "cluster_templates"
    __table_args__ = (Index("ix_cluster_templates_project_name", "project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    name: Mapped[str | None] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(255), nullable=False)
    user_id: Mapped[str] = mapped_column(String(255), nullable=False)
    coe: Mapped[str] = mapped_column(String(255), nullable=False)
    image_id: Mapped[str] = mapped_column(String(255), nullable=False)
    flavor_id: Mapped[str | None] = mapped_column(String(255))
    master_flavor_id: Mapped[str | None] = mapped_column(String(255))
    keypair_id: Mapped[str | None] = mapped_column(String(255))
    external_network_id: Mapped[str | None] = mapped_column(String(255))
    fixed_network: Mapped[str | None] = mapped_column(String(255))
    fixed_subnet: Mapped[str | None] = mapped_column(String(255))
    network_driver: Mapped[str | None] = mapped_column(String(255))
    volume_driver: Mapped[str | None] = mapped_column(String(255))
    dns_nameserver: Mapped[str | None] = mapped_column(String(255))
    apiserver_port: Mapped[int | None] = mapped_column(Integer)
    docker_volume_size: Mapped[int | None] = mapped_column(Integer)
    docker_storage_driver: Mapped[str | None] = mapped_column(String(255))
    cluster_distro: Mapped[str | None] = mapped_column(String(255))
    http_proxy: Mapped[str | None] = mapped_column(String(255))
    https_proxy: Mapped[str | None] = mapped_column(String(255))
    no_proxy: Mapped[str | None] = mapped_column(String(255))
    insecure_registry: Mapped[str | None] = mapped_column(String(255))
    registry_enabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, nullable=False)
    tls_disabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    public: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    server_type: Mapped[str] = mapped_column(String(255), default="vm", nullable=False)
    master_lb_enabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    floating_ip_enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    tags: Mapped[str | None] = mapped_column(String(255))
    driver: Mapped[str | None] = mapped_column(String(255))


class Cluster(TimestampMixin, Base):
    __tablename__ = "clusters"
    __table_args__ = (Index("ix_clusters_project_name", "project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    name: Mapped[str | None] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(255), nullable=False)
    user_id: Mapped[str] = mapped_column(String(255), nullable=False)
    cluster_template_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    keypair: Mapped[str | None] = mapped_column(String(255))
    docker_volume_size: Mapped[int | None] = mapped_column(Integer)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, nullable=False)
    master_flavor_id: Mapped[str | None] = mapped_column(String(255))
    flavor_id: Mapped[str | None] = mapped_column(String(255))
    stack_id: Mapped[str | None] = mapped_column(String(255))
    api_address: Mapped[str | None] = mapped_column(String(255))
    node_addresses: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    master_addresses: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    discovery_url: Mapped[str | None] = mapped_column(String(255))
    create_timeout: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str | None] = mapped_column(String(32), index=True)
    status_reason: Mapped[str | None] = mapped_column(Text)
    health_status: Mapped[str | None] = mapped_column(String(20))
    health_status_reason: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    coe_version: Mapped[str | None] = mapped_column(String(255))
    container_version: Mapped[str | None] = mapped_column(String(255))
    fixed_network: Mapped[str | None] = mapped_column(String(255))
    fixed_subnet: Mapped[str | None] = mapped_column(String(255))
    floating_ip_enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    master_lb_enabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    etcd_ca_cert_ref: Mapped[str | None] = mapped_column(String(512))
    ca_cert_ref: Mapped[str | None] = mapped_column(String(512))
    magnum_cert_ref: Mapped[str | None] = mapped_column(String(512))
    generation: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    observed_generation: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # The conductor holding the cluster, until when, and the fencing token of that claim: every
    # write of a conductor carries its token, so one whose lease was taken over cannot write.
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # When the conductor should look at the cluster next (work to do, a retry, a health check);
    # periodic work reads only rows that are due, so its cost follows the clusters that changed.
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # When the autoscaler looks at the cluster's workload next; None when it is not autoscaled, so
    # the autoscaler's pass reads only the clusters that enabled it (indexed).
    autoscale_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # What the autoscaler remembers between passes: when each idle node was first seen idle.
    autoscaler_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, nullable=False)
    # The cluster's own registry (template registry_enabled), as the driver last reported it: the
    # address its nodes pull from and the one users push to; None without a registry.
    registry_address: Mapped[str | None] = mapped_column(String(255))
    registry_push_address: Mapped[str | None] = mapped_column(String(255))


class Operation(Base):
    """One accepted action on a cluster: the audit trail and the unit of work of the engine."""

    __tablename__ = "operations"
    __table_args__ = (Index("ix_operations_cluster_state", "cluster_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    cluster_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    nodegroup_id: Mapped[str | None] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    # pending -> running -> succeeded | failed; 'superseded' when a delete replaced it.
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    project_id: Mapped[str] = mapped_column(String(255), nullable=False)
    user_id: Mapped[str | None] = mapped_column(String(255))
    request_id: Mapped[str | None] = mapped_column(String(64))
    generation: Mapped[int] = mapped_column(Integer, nullable=False)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    phase: Mapped[str | None] = mapped_column(String(32))
    # {phase: ISO time it was first entered}; a retried pass keeps the first time.
    phase_times: Mapped[dict[str, str] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NodeGroup(TimestampMixin, Base):
    __tablename__ = "nodegroups"
    __table_args__ = (UniqueConstraint("cluster_id", "name", name="uq_nodegroups_cluster_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    cluster_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("clusters.uuid", ondelete="CASCADE"), nullable=False, index=True
    )
    project_id: Mapped[str] = mapped_column(String(255), nullable=False)
    docker_volume_size: Mapped[int | None] = mapped_column(Integer)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, nullable=False)
    flavor_id: Mapped[str | None] = mapped_column(String(255))
    image_id: Mapped[str | None] = mapped_column(String(255))
    node_addresses: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    # The nodes last observed (``{"name", "address"}`` each): what a resize's nodes_to_remove
    # may name. Not on the wire; Magnum has no such field.
    nodes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list, nullable=False)
    node_count: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    role: Mapped[str] = mapped_column(String(255), nullable=False)
    max_node_count: Mapped[int | None] = mapped_column(Integer)
    min_node_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    stack_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str | None] = mapped_column(String(32))
    status_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[str | None] = mapped_column(String(20))
    node_labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, nullable=False)
    node_taints: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list, nullable=False)
    generation: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    observed_generation: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class Quota(TimestampMixin, Base):
    __tablename__ = "quotas"
    __table_args__ = (UniqueConstraint("project_id", "resource", name="uq_quotas_project_resource"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(255), nullable=False)
    resource: Mapped[str] = mapped_column(String(255), nullable=False)
    hard_limit: Mapped[int] = mapped_column(Integer, nullable=False)


class Federation(TimestampMixin, Base):
    __tablename__ = "federations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    name: Mapped[str | None] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    hostcluster_id: Mapped[str] = mapped_column(String(255), nullable=False)
    member_ids: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    status: Mapped[str | None] = mapped_column(String(20))
    status_reason: Mapped[str | None] = mapped_column(Text)
    properties: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, nullable=False)


class Service(TimestampMixin, Base):
    """A conductor's heartbeat row, shown by ``/v1/mservices``."""

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("host", "binary", name="uq_services_host_binary"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    binary: Mapped[str] = mapped_column(String(255), nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    last_seen_up: Mapped[datetime | None] = mapped_column(UTCDateTime)
    forced_down: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    report_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class ClusterCertificate(TimestampMixin, Base):
    """A certificate of a cluster with its private key, which is stored encrypted (``pki.secrets``).

    ``kind`` is ``ca`` (the cluster CA), ``etcd_ca`` / ``front_proxy_ca`` (kubernetes), ``server``
    (the endpoint) or ``client`` (the conductor's own). ``key_id`` names the encryption key of
    ``encrypted_private_key``; ``operation_id`` the rotation that issued the row, if one did.
    """

    __tablename__ = "cluster_certificates"
    __table_args__ = (UniqueConstraint("cluster_id", "kind", name="uq_cluster_certificates_cluster_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cluster_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("clusters.uuid", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    certificate: Mapped[str] = mapped_column(Text, nullable=False)
    encrypted_private_key: Mapped[str] = mapped_column(Text, nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    operation_id: Mapped[str | None] = mapped_column(String(36))


class Container(TimestampMixin, Base):
    """A container of the bay-era ``/v1/containers`` API, on one node (``host``) of its bay.

    ``status`` is the last state an action left it in; answers show the live state the driver
    reads. The row goes with its cluster (ON DELETE CASCADE), whose nodes take the container along.
    """

    __tablename__ = "containers"
    __table_args__ = (Index("ix_containers_project_name", "project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    name: Mapped[str | None] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(255), nullable=False)
    user_id: Mapped[str] = mapped_column(String(255), nullable=False)
    bay_uuid: Mapped[str] = mapped_column(
        String(36), ForeignKey("clusters.uuid", ondelete="CASCADE"), nullable=False, index=True
    )
    image: Mapped[str] = mapped_column(String(255), nullable=False)
    command: Mapped[str | None] = mapped_column(String(255))
    memory: Mapped[str | None] = mapped_column(String(255))
    environment: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, nullable=False)
    status: Mapped[str | None] = mapped_column(String(20))
    host: Mapped[str | None] = mapped_column(String(255))
