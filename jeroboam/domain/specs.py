"""Typed data that crosses the driver contract (pure Python)."""

from __future__ import annotations

from dataclasses import dataclass, field

# coe values a template may carry; 'swarm' is accepted as an alias of 'swarm-mode'.
KNOWN_COES = ("kubernetes", "swarm", "swarm-mode", "mesos")
COE_ALIASES = {"swarm": "swarm-mode"}

# Nodegroup roles: the control plane, and the role of a default worker nodegroup (a user-made
# nodegroup may carry any other role; every role but MASTER is a worker role).
MASTER = "master"
WORKER = "worker"


def canonical_coe(coe: str) -> str:
    return COE_ALIASES.get(coe, coe)


@dataclass(frozen=True)
class Provides:
    """One (server_type, os, coe) combination a driver can build."""

    server_type: str
    coe: str
    os: str | None = None


@dataclass(frozen=True)
class TemplateResources:
    """What a template names on the infrastructure, for the driver to check."""

    coe: str
    server_type: str
    image_id: str
    flavor_id: str | None = None
    master_flavor_id: str | None = None
    external_network_id: str | None = None
    fixed_network: str | None = None
    fixed_subnet: str | None = None
    keypair_id: str | None = None
    volume_driver: str | None = None
    docker_volume_size: int | None = None
    docker_storage_driver: str | None = None


@dataclass(frozen=True)
class ImageInfo:
    name: str
    os_distro: str


@dataclass(frozen=True)
class Taint:
    key: str
    effect: str
    value: str | None = None


@dataclass(frozen=True)
class Flavor:
    name: str
    vcpus: float
    ram_mib: int


@dataclass(frozen=True)
class NodeGroupSpec:
    """The desired state of one set of nodes."""

    uuid: str
    name: str
    role: str  # MASTER or a worker role
    node_count: int
    image: str
    flavor: str | None
    labels: dict[str, str]
    node_labels: dict[str, str]
    node_taints: tuple[Taint, ...] = ()
    docker_volume_size: int | None = None
    # Nodes the user asked to remove first when shrinking (resize nodes_to_remove).
    nodes_to_remove: tuple[str, ...] = ()
    max_batch_size: int = 1

    @property
    def is_master(self) -> bool:
        return self.role == MASTER


@dataclass(frozen=True)
class NodeDemand:
    """Nodes a create or a resize asks for, for a driver to check against its capacity."""

    project_id: str
    cluster_uuid: str | None  # None: a cluster not placed yet
    added: tuple[tuple[str | None, int], ...]  # (flavor, nodes) more than the cluster has now
    workers: int  # worker nodes of the cluster once done (they share its subnet)


@dataclass(frozen=True)
class TlsMaterial:
    """The cluster endpoint's TLS: its CA, the server certificate the endpoint presents, and the
    client certificate the conductor authenticates with. PEM; the private keys are decrypted, so
    they are kept out of ``repr`` (and must never be logged)."""

    ca_cert_pem: str
    server_cert_pem: str
    server_key_pem: str = field(repr=False)
    client_cert_pem: str
    client_key_pem: str = field(repr=False)


@dataclass(frozen=True)
class ClusterSpec:
    """The desired state of a cluster, as the conductor hands it to a driver."""

    uuid: str
    name: str
    project_id: str
    coe: str
    template_id: str
    labels: dict[str, str]
    nodegroups: tuple[NodeGroupSpec, ...]
    generation: int
    master_lb_enabled: bool = False
    floating_ip_enabled: bool = True
    fixed_network: str | None = None
    fixed_subnet: str | None = None
    keypair: str | None = None
    tls_disabled: bool = False
    # The template's registry_enabled: the cluster gets its own image registry.
    registry_enabled: bool = False
    # Filled by the conductor's pki phase (None when the template has tls_disabled).
    tls: TlsMaterial | None = None

    @property
    def masters(self) -> tuple[NodeGroupSpec, ...]:
        return tuple(ng for ng in self.nodegroups if ng.is_master)

    @property
    def workers(self) -> tuple[NodeGroupSpec, ...]:
        return tuple(ng for ng in self.nodegroups if not ng.is_master)


@dataclass(frozen=True)
class NodeObservation:
    name: str
    address: str | None
    ready: bool
    reason: str = ""


@dataclass(frozen=True)
class NodeGroupObservation:
    name: str
    nodes: tuple[NodeObservation, ...]

    @property
    def addresses(self) -> list[str]:
        return [node.address for node in self.nodes if node.address]


@dataclass(frozen=True)
class RegistryObservation:
    """The cluster's own image registry (``registry_enabled``): the address its nodes pull from
    (images are named ``<address>/<name>`` in the cluster), the address users push to from the
    engine's host, and whether it answers (the reason when not; a note, such as "simulated", when it
    does)."""

    address: str
    push_address: str
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class ManagerObservation:
    """Whether one control-plane node's own API answers a client (and why not)."""

    name: str
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class ClusterObservation:
    """What a driver sees of a cluster: the endpoint users are to be given (``api_address``),
    whether it answers a client (``api_ok``, probed at that address), what it leads to
    (``endpoint``, e.g. "the API front of 3 managers"), each manager's own answer and the state
    of every node."""

    api_address: str | None
    api_ok: bool
    nodegroups: tuple[NodeGroupObservation, ...]
    coe_version: str | None = None
    container_version: str | None = None
    api_reason: str = ""
    registry: RegistryObservation | None = None  # None: the cluster has no registry
    endpoint: str = ""
    managers: tuple[ManagerObservation, ...] = ()
