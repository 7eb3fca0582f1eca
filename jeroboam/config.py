"""The one settings object.

Built once by a command (``load_settings``) and passed down; nothing reads the
environment or a file anywhere else. Sources, strongest first: explicit
overrides (command-line flags), ``JEROBOAM_<GROUP>__<OPTION>`` environment
variables, the TOML file, defaults. Group and option names follow Magnum's
where the concept is the same.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "jeroboam"


class ApiSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(9511, ge=1, le=65535, description="Port the API listens on.")
    max_limit: int = Field(1000, ge=1, description="Largest page a list request returns; also the default page size.")
    workers: int = Field(
        1, ge=1, description="API worker processes (jeroboam-api; jeroboam up runs its conductor beside them)."
    )
    request_log: bool = Field(
        True,
        description="Log one line per request served (method, path, status, milliseconds; with log_format "
        "'json' also the request id and the uuid of the cluster it concerns); 5xx answers at WARNING.",
    )
    reads_in_event_loop: bool = Field(
        True,
        description="Run read-only requests (lists, shows) on the event loop instead of a thread: reads wait "
        "for no lock, and the thread hop costs more than the read. Set false when the database is far away "
        "(each query's round trip then holds up the worker's other requests).",
    )


class DatabaseSettings(BaseModel):
    connection: str | None = Field(
        None,
        description=(
            "SQLAlchemy URL of the database, e.g. postgresql+psycopg://user@127.0.0.1/jeroboam "
            "or mysql+pymysql://root@127.0.0.1/jeroboam. Default: SQLite in the data directory."
        ),
    )
    pool_size: int = Field(5, ge=1, description="Connections kept open per process (not SQLite).")
    connect_timeout: float = Field(
        3.0,
        gt=0,
        description="Seconds to wait for a new connection to the database (not SQLite; PostgreSQL's driver "
        "counts whole seconds, at least 2). A database that is down and refuses connections is noticed at once; "
        "one that does not answer at all, after this long: either way the API answers 503.",
    )
    statement_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds one statement may take (not SQLite): PostgreSQL's statement_timeout, and the "
        "MySQL/MariaDB driver's read and write timeouts, so no request waits longer on a database that stopped "
        "answering.",
    )
    pool_timeout: float = Field(
        10.0, gt=0, description="Seconds a request waits for a free pooled connection before it is answered 503."
    )


class NoauthSettings(BaseModel):
    default_project_id: str = Field("default", description="Project of a request without X-Project-Id (noauth only).")
    default_user_id: str = Field("admin", description="User of a request without X-User-Id (noauth only).")
    default_roles: list[str] = Field(
        ["admin", "member", "reader"],
        description="Roles of a request without X-Roles (noauth only).",
    )


class KeystoneAuthtokenSettings(BaseModel):
    www_authenticate_uri: str | None = Field(
        None,
        description="Public Keystone URL advertised in WWW-Authenticate (default: auth_url).",
    )
    auth_url: str | None = Field(None, description="Keystone URL used to validate tokens.")
    username: str | None = Field(None, description="Service user that validates tokens.")
    password: SecretStr | None = Field(None, description="Password of the service user.")
    project_name: str = Field("service", description="Project of the service user.")
    user_domain_name: str = Field("Default", description="Domain of the service user.")
    project_domain_name: str = Field("Default", description="Domain of the service project.")
    http_connect_timeout: float = Field(5.0, gt=0, description="Seconds to wait for Keystone before answering 503.")
    token_cache_size: int = Field(10000, ge=0, description="Validated tokens kept in memory (each until it expires).")


class OpenStackServicesSettings(BaseModel):
    lookup: bool = Field(
        True,
        description="With auth_strategy 'keystone', look up an image, flavor, key pair or network that the "
        "driver does not know by that value in the Glance, Nova or Neutron of the caller's service catalog, "
        "with the caller's token, as Magnum does.",
    )
    interface: Literal["public", "internal", "admin"] = Field(
        "public", description="Catalog endpoint interface to use for Glance, Nova and Neutron."
    )
    region_name: str | None = Field(None, description="Catalog region to use (default: the first endpoint's).")
    timeout: float = Field(5.0, gt=0, description="Seconds to wait for Glance, Nova or Neutron before answering 503.")
    cache_ttl: float = Field(
        60.0, ge=0, description="Seconds an answer of Glance, Nova or Neutron is reused for the same project."
    )
    cache_size: int = Field(10000, ge=0, description="Answers of Glance, Nova and Neutron kept in memory.")


class PolicySettings(BaseModel):
    policy_file: Path | None = Field(None, description="YAML or JSON file whose rules override the built-in defaults.")
    enforce_new_defaults: bool = Field(True, description="Use the secure role-based defaults (as oslo.policy does).")


class QuotaSettings(BaseModel):
    max_clusters_per_project: int = Field(
        20, ge=0, description="Clusters a project may own when no quota row says otherwise."
    )
    max_nodes_per_project: int = Field(
        -1,
        ge=-1,
        description="Nodes (masters and workers of every nodegroup) a project may have; -1: no limit. "
        "A create or resize beyond it is refused (403, as the cluster quota).",
    )


class ClusterTemplateSettings(BaseModel):
    kubernetes_allowed_network_drivers: list[str] = Field(
        ["flannel", "calico"],
        description="Network drivers allowed in kubernetes templates ('all' allows every supported one).",
    )
    kubernetes_default_network_driver: str = Field(
        "flannel", description="Network driver of a kubernetes template that names none."
    )
    swarm_allowed_network_drivers: list[str] = Field(
        ["docker"],
        description="Network drivers allowed in swarm templates ('all' allows every supported one).",
    )
    swarm_default_network_driver: str = Field(
        "docker", description="Network driver of a swarm template that names none."
    )


class DriversSettings(BaseModel):
    default_driver: str | None = Field(
        None,
        description="Driver of a template that names none, when it supports the template's coe (may be the "
        "simulation, sim, which is otherwise used only when a template names it).",
    )
    fallback_driver: str | None = Field(
        None,
        description="Driver of a template that names none when no real driver builds its coe (tests and "
        'benchmarks set "sim"). Unset, such a template is refused with a 400 that says how to ask for sim.',
    )
    disabled_drivers: list[str] = Field([], description="Installed drivers that may not be used.")


class FlavorSettings(BaseModel):
    vcpus: float = Field(..., gt=0, description="CPU limit of a node.")
    ram: int = Field(..., gt=0, description="Memory limit of a node, MiB.")
    disk: int = Field(0, ge=0, description="Root disk, GiB (0: the engine's default).")


def _default_flavors() -> dict[str, FlavorSettings]:
    return {
        "m1.tiny": FlavorSettings(vcpus=0.5, ram=512),
        "m1.small": FlavorSettings(vcpus=1, ram=1024),
        "m1.medium": FlavorSettings(vcpus=2, ram=2048),
    }


class DockerEngineSettings(BaseModel):
    name: str = Field("local", description="Name of the engine, shown in logs and node reasons.")
    url: str = Field("unix:///var/run/docker.sock", description="Docker API of the engine (unix:// or tcp://).")
    tls_ca: Path | None = Field(None, description="CA that signed a tcp:// engine's certificate.")
    tls_cert: Path | None = Field(None, description="Client certificate for a tcp:// engine.")
    tls_key: Path | None = Field(None, description="Client key for a tcp:// engine.")
    publish_address: str = Field(
        "127.0.0.1", description="Address of the engine's host on which managers' APIs are published."
    )
    projects: list[str] = Field(
        [], description="Projects this engine is reserved for (empty: any project, one at a time)."
    )


class DockerDriverSettings(BaseModel):
    images: dict[str, str] = Field(
        {"jeroboam-node": "debian"},
        description="Node images a template may name, each with its os_distro.",
    )
    flavors: dict[str, FlavorSettings] = Field(
        default_factory=_default_flavors, description="Flavors a template may name."
    )
    external_networks: list[str] = Field(["public"], description="External networks a template may name.")
    engines: list[DockerEngineSettings] = Field(
        default_factory=lambda: [DockerEngineSettings()],
        description="Docker engines that host cluster nodes; a cluster's nodes all live on one engine.",
    )
    allow_project_mixing: bool = Field(
        False,
        description="Let one engine host clusters of several projects at once. Off: an engine serves one "
        "project at a time (nodes share the engine's kernel, so an engine is no boundary between projects).",
    )
    address_pool: str = Field(
        "172.28.0.0/14", description="Addresses of cluster networks; each cluster takes one free subnet of it."
    )
    subnet_prefix: int = Field(24, ge=16, le=26, description="Prefix length of each cluster's subnet.")
    max_parallel_node_creates: int = Field(
        4, ge=1, description="Nodes the conductor creates at once on one engine, over every cluster."
    )
    cpu_allocation_ratio: float = Field(
        16.0,
        gt=0,
        description="Flavor vCPUs an engine may host per CPU it has (idle nodes use little CPU); a create or "
        "resize that does not fit with what is already placed is refused with a 400.",
    )
    ram_allocation_ratio: float = Field(
        1.5, gt=0, description="Flavor memory an engine may host per byte it has (as cpu_allocation_ratio)."
    )
    api_ports: tuple[int, int] = Field(
        (23760, 24759), description="Range of ports the managers' TLS Docker API is published on (inclusive)."
    )
    preload_images: list[str] = Field(
        ["jeroboam/busybox:latest"],
        description="Images of the host engine loaded into every node before it joins (no registry needed).",
    )
    copyable_images: list[str] = Field(
        ["jeroboam/busybox:latest"],
        description="Images of the host engine that a container (/v1/containers) may name: copied into the "
        "node it runs on when the node lacks them. Other images must already be on the nodes.",
    )
    container_timeout: float = Field(
        20.0,
        gt=0,
        le=25,
        description="Seconds one container call (/v1/containers: create, action, logs, execute, status) may "
        "take on a node; a node that does not answer in time shows its containers Unknown.",
    )
    node_storage: Literal["volume", "tmpfs"] = Field(
        "volume",
        description="Storage of each node's nested Docker: a named volume on the engine's disk, or a tmpfs in "
        "memory (fast; the only kind that honours docker_volume_size).",
    )
    dispatcher_heartbeat_seconds: float = Field(
        1.0, gt=0, description="Swarm heartbeat; a dead node is noticed after about three of them."
    )
    node_ready_timeout: float = Field(60.0, gt=0, description="Seconds a new node's Docker engine has to answer.")
    drain_timeout: float = Field(
        30.0, ge=0, description="Seconds to wait for a node's tasks to move away before it is removed."
    )
    cache_dir: Path | None = Field(
        None, description="Where saved image archives are cached (default: <data_dir>/docker-cache)."
    )


class SimDriverSettings(BaseModel):
    images: dict[str, str] = Field(
        {"jeroboam-node": "debian", "fedora-coreos": "fedora-coreos"},
        description="Simulated images a template may name, each with its os_distro.",
    )
    flavors: dict[str, FlavorSettings] = Field(
        default_factory=_default_flavors, description="Simulated flavors a template may name."
    )
    external_networks: list[str] = Field(["public"], description="Simulated external networks a template may name.")
    state_dir: Path | None = Field(
        None,
        description="Directory of the simulated clusters' state files, shared by every process on the "
        "machine (default: <data_dir>/sim).",
    )
    latency_seconds: float = Field(
        0.0, ge=0, description="Simulated latency of every lifecycle call, seconds (label sim_latency overrides it)."
    )


class ClusterSettings(BaseModel):
    create_timeout: int = Field(
        60, ge=1, description="Minutes a cluster create may take when the request names no create_timeout."
    )
    update_timeout: int = Field(
        60, ge=1, description="Minutes an update, resize, upgrade, rotation or nodegroup change may take."
    )
    delete_timeout: int = Field(30, ge=1, description="Minutes a delete may take before it is DELETE_FAILED.")
    seconds_per_minute: float = Field(
        60.0,
        gt=0,
        description="Length of a timeout 'minute' in seconds. Only tests shorten it, to see "
        "deadlines pass in bounded time.",
    )


class ConductorSettings(BaseModel):
    workers: int = Field(4, ge=1, description="Clusters one conductor reconciles at the same time.")
    own_process: bool = Field(
        True,
        description="jeroboam up with one API process: run the conductor in a child process, so that the API "
        "never waits for the conductor's threads to release the interpreter lock (false: one process).",
    )
    lease_seconds: float = Field(
        10.0,
        gt=0,
        description="How long a claim on a cluster lasts unless renewed; a crashed conductor's "
        "work is taken over after at most this long.",
    )
    poll_interval: float = Field(2.0, gt=0, description="Seconds between looks for due work when no wake-up arrives.")
    health_polling_interval: int = Field(
        60, description="Seconds between health checks of a complete cluster (negative disables)."
    )
    unknown_error_retries: int = Field(
        3, ge=0, description="Times an unexpected driver error is retried before the operation fails."
    )
    unreachable_retry_window: float = Field(
        300,
        ge=0,
        description="Seconds an operation keeps retrying while its infrastructure (a Docker engine) does not "
        "answer at all; then it ends *_FAILED with the reason (a delete may then be forced: ?force=true).",
    )


class AutoscalerSettings(BaseModel):
    """Defaults of the autoscaler (clusters with the label auto_scaling_enabled=true)."""

    interval: float = Field(
        30.0, gt=0, description="Seconds between two looks of the autoscaler at one cluster's workload."
    )
    scale_down_unneeded_time: float = Field(
        600.0, ge=0, description="Seconds a worker must run no task before it is removed (label overrides)."
    )
    scale_down_delay_after_add: float = Field(
        600.0, ge=0, description="Seconds after a cluster's last change before any scale-down (label overrides)."
    )
    pending_grace: float = Field(
        10.0,
        ge=0,
        description="Seconds a task must stay pending, and the cluster unchanged, before the cluster grows for it.",
    )
    observe_timeout: float = Field(
        10.0, gt=0, description="Seconds one cluster's workload observation may take before it is skipped."
    )


class ServiceSettings(BaseModel):
    host: str = Field(default_factory=socket.gethostname, description="Name this process reports in mservices.")
    service_down_time: int = Field(
        180, ge=1, description="Seconds without a heartbeat after which a conductor is 'down'."
    )
    periodic_interval_max: int = Field(
        60, ge=1, description="Longest spacing of periodic work, and the heartbeat cadence, seconds."
    )


class MetricsSettings(BaseModel):
    enabled: bool = Field(True, description="Serve Prometheus metrics at /metrics on the API.")
    allowed_networks: list[str] = Field(
        ["127.0.0.0/8", "::1/128"],
        description="Clients from these networks may read /metrics without authentication.",
    )
    remote_access: Literal["none", "admin", "any"] = Field(
        "none",
        description="/metrics for clients outside allowed_networks: refused ('none'), authenticated admins "
        "only ('admin': a Keystone token with the admin role), or anyone ('any').",
    )
    multiprocess_dir: Path | None = Field(
        None,
        description="Where API worker processes (and jeroboam up's conductor) share their samples when "
        "[api] workers > 1; emptied at start (default: <data_dir>/metrics).",
    )
    conductor_address: str = Field("127.0.0.1", description="Address of jeroboam-conductor's /metrics listener.")
    conductor_port: int | None = Field(
        None, ge=1, le=65535, description="Port of jeroboam-conductor's /metrics listener (unset: no listener)."
    )


class SecretsSettings(BaseModel):
    encryption_keys: list[SecretStr] = Field(
        [],
        description="Keys that encrypt private keys at rest (Fernet keys: url-safe base64 of 32 bytes, from "
        "'jeroboam-manage secrets generate-key'). The first encrypts, every one decrypts. Empty: the keys "
        "of key_file.",
    )
    key_file: Path | None = Field(
        None,
        description="File of encryption keys, one a line, first encrypts; used when encryption_keys is empty "
        "(default <data_dir>/secret.key, created with mode 0600 on first start).",
    )


class X509Settings(BaseModel):
    key_algorithm: Literal["rsa", "ec"] = Field(
        "rsa", description="Keys the clusters' CAs and certificates get: 'rsa' (rsa_key_size) or 'ec' (P-256)."
    )
    rsa_key_size: int = Field(2048, ge=2048, le=8192, description="Bits of generated RSA keys.")
    term_of_validity: int = Field(
        1825, ge=1, le=36500, description="Days a generated or signed certificate is valid (never past its CA)."
    )
    allow_ca: bool = Field(False, description="Keep the CA flag of a signed CSR (else it is removed).")
    allowed_extensions: list[str] = Field(
        ["keyUsage", "extendedKeyUsage", "subjectAltName", "basicConstraints", "subjectKeyIdentifier"],
        description="CSR extensions copied into signed certificates; others are dropped, or refused when critical.",
    )
    allowed_key_usage: list[str] = Field(
        ["Digital Signature", "Key Encipherment", "Non Repudiation"],
        description="Key usages a signed certificate may keep; others are dropped, or refused when critical.",
    )


class Settings(BaseSettings):
    """Everything configurable, grouped as Magnum groups its options."""

    model_config = SettingsConfigDict(
        env_prefix="JEROBOAM_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the all-in-one keeps its SQLite database and generated files.",
    )
    auth_strategy: Literal["noauth", "keystone"] = Field(
        "noauth", description="How requests are authenticated: 'noauth' headers or 'keystone' tokens."
    )
    debug: bool = Field(False, description="Log at debug level.")
    log_format: Literal["text", "json"] = Field(
        "text",
        description="'json': one JSON object per log line, with request_id and cluster_uuid fields when the "
        "line concerns a request or a cluster.",
    )
    transport_url: str | None = Field(
        None,
        description="Message broker for conductor wake-ups and notifications, e.g. "
        "rabbit://guest:guest@127.0.0.1:5672/. Without one, conductors find work by polling.",
    )
    api: ApiSettings = ApiSettings()
    database: DatabaseSettings = DatabaseSettings()
    noauth: NoauthSettings = NoauthSettings()
    keystone_authtoken: KeystoneAuthtokenSettings = KeystoneAuthtokenSettings()
    openstack_services: OpenStackServicesSettings = OpenStackServicesSettings()
    oslo_policy: PolicySettings = PolicySettings()
    quotas: QuotaSettings = QuotaSettings()
    cluster_template: ClusterTemplateSettings = ClusterTemplateSettings()
    drivers: DriversSettings = DriversSettings()
    docker: DockerDriverSettings = DockerDriverSettings()
    sim: SimDriverSettings = SimDriverSettings()
    service: ServiceSettings = ServiceSettings()
    cluster: ClusterSettings = ClusterSettings()
    conductor: ConductorSettings = ConductorSettings()
    autoscaler: AutoscalerSettings = AutoscalerSettings()
    secrets: SecretsSettings = SecretsSettings()
    metrics: MetricsSettings = MetricsSettings()
    x509: X509Settings = X509Settings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)

    @model_validator(mode="after")
    def _keystone_is_complete(self) -> Settings:
        if self.auth_strategy == "keystone":
            keystone = self.keystone_authtoken
            missing = [
                f"keystone_authtoken.{name}"
                for name in ("auth_url", "username", "password")
                if getattr(keystone, name) is None
            ]
            if missing:
                raise ValueError(f"auth_strategy 'keystone' needs {', '.join(missing)}")
        return self

    @property
    def metrics_dir(self) -> Path:
        return self.metrics.multiprocess_dir or self.data_dir / "metrics"

    @property
    def database_url(self) -> str:
        if self.database.connection:
            return self.database.connection
        return f"sqlite:///{self.data_dir / 'jeroboam.sqlite'}"


class ConfigFileError(Exception):
    """The configuration file cannot be read."""


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from defaults, an optional TOML file, the environment and overrides."""
    if config_file is None:
        return Settings(**overrides)
    if not config_file.is_file():
        raise ConfigFileError(f"configuration file {config_file} does not exist")
    bound = type(
        "FileSettings",
        (Settings,),
        {"model_config": SettingsConfigDict(**{**Settings.model_config, "toml_file": config_file})},
    )
    settings: Settings = bound(**overrides)
    return settings
