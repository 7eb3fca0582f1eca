"""The driver contract: everything the service and the conductor may ask of a driver.

Drivers take typed specs from ``jeroboam.domain`` and never touch the database.
Two parts: the checks the API's services ask before they accept a request
(``Driver``: ``check_template``, ``check_master_resize``) and the lifecycle
(``ClusterDriver``: ``ensure_*``/``delete_*``/``observe``, ``tls_server_names``,
called only by the conductor). The core never probes a driver for optional
methods: a capability a driver lacks is an explicit answer of the method
(``check_master_resize`` refusing with the reason, ``tls_server_names``
returning no names). Every lifecycle call is idempotent: the conductor re-runs
phases after a crash or a retry, so calling one twice with the same spec must
leave the same result, and deleting something absent succeeds.

Errors (``jeroboam.errors``): raise ``RetryableError(message, delay)`` for a
condition that may pass (the conductor tries again after ``delay`` until the
operation's deadline) and ``PermanentError(message)`` when retrying cannot help;
the message reaches the user in ``status_reason``, so say what failed and what
to do. Any other exception is treated as retryable a few times, then as
permanent. Checks raise ``InvalidInputError`` (a 400 with the message).

``tests/contract`` runs the same checks against every driver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from jeroboam.domain.autoscaling import Workload
from jeroboam.domain.containers import Bay, ContainerRef, ContainerSpec, ContainerState, ExecResult
from jeroboam.domain.resources import ResourceKind, ResourceNames
from jeroboam.domain.specs import (
    ClusterObservation,
    ClusterSpec,
    ImageInfo,
    NodeDemand,
    NodeGroupObservation,
    NodeGroupSpec,
    Provides,
    TemplateResources,
)
from jeroboam.errors import InvalidInputError


@runtime_checkable
class Driver(Protocol):
    name: str
    provides: Sequence[Provides]
    volume_drivers: Sequence[str]
    # A simulation builds nothing real: chosen only when a template names it or the operator
    # configured it (``drivers/registry.py``), and its clusters' status_reason says so.
    simulated: bool

    def check_template(self, resources: TemplateResources) -> ImageInfo:
        """Raise InvalidInputError naming what does not exist; return the image's facts."""
        ...

    def find_resource(self, kind: ResourceKind, value: str) -> str | None:
        """The name of the driver's ``kind`` that ``value`` names (by name or ID), or None when the
        driver has no such resource."""
        ...

    def check_master_resize(self, current: int, desired: int) -> None:
        """May the control plane go from ``current`` to ``desired`` masters? Return if so; else
        raise InvalidInputError saying why (a driver that cannot resize masters says so here).
        The service has already checked the base rule (an odd number, at least one)."""
        ...

    def check_capacity(self, demand: NodeDemand) -> None:
        """May the nodes ``demand`` adds be built? Return if so; else raise InvalidInputError naming
        the limit (a driver with no limit returns)."""
        ...

    def startup_warnings(self) -> Sequence[str]:
        """What a process should tell its operator at start (a configured engine that does not
        answer); none is an answer."""
        ...


@runtime_checkable
class ClusterDriver(Driver, Protocol):
    """A driver that can build clusters (the conductor's side of the contract)."""

    def ensure_infrastructure(self, spec: ClusterSpec) -> None:
        """Networks, volumes and whatever the nodes need before they exist."""
        ...

    def tls_server_names(self, spec: ClusterSpec) -> Sequence[str]:
        """Names (DNS or IP) the endpoint's server certificate must carry besides loopback and the
        cluster's ``api_address``, known after ``ensure_infrastructure``; none is an answer."""
        ...

    def ensure_nodegroup(self, spec: ClusterSpec, nodegroup: NodeGroupSpec) -> NodeGroupObservation:
        """Make the nodegroup exactly ``nodegroup.node_count`` healthy nodes of its image and flavor
        (creating, replacing dead ones, removing extra ones, preferring ``nodes_to_remove``; an
        image change is a rolling replacement, ``max_batch_size`` nodes at a time). Master
        nodegroups come before workers; workers join the control plane."""
        ...

    def delete_nodegroup(self, spec: ClusterSpec, name: str) -> None:
        """Remove every node of nodegroup ``name`` (drained first where the COE allows)."""
        ...

    def ensure_endpoint(self, spec: ClusterSpec) -> str:
        """Publish the cluster's API; return ``api_address`` as clients should use it."""
        ...

    def delete_cluster(self, spec: ClusterSpec) -> None:
        """Remove everything the driver ever created for the cluster, whatever state it is in."""
        ...

    def observe(self, spec: ClusterSpec) -> ClusterObservation:
        """What is there now: endpoint reachability and the state of every node."""
        ...

    def flavor_of(self, flavor: str) -> Flavor | None:
        """The CPU and memory of a flavor (named by its name or ID), None when it is unknown."""
        ...

    def observe_workload(self, spec: ClusterSpec, timeout: float) -> Workload:
        """What the COE runs and cannot place (for the autoscaler): tasks pending because no node
        has room or satisfies their constraints, with their reservations and constraints, and the
        running tasks of every node (global services aside). Answer within ``timeout`` seconds or
        raise RetryableError; raise WorkloadNotObservableError when the driver cannot tell."""
        ...

    def leftovers(self, spec: ClusterSpec) -> str:
        """What a forced delete that the driver could not carry out may leave behind, and where."""
        ...

    def cancel(self, cluster_uuid: str) -> None:
        """A delete superseded the work in flight on the cluster: stop making things for it now
        (the next ``delete_cluster`` of the cluster ends the mark); nothing to stop is an answer."""
        ...


class WorkloadNotObservableError(Exception):
    """The driver cannot observe its clusters' workload, so it cannot be autoscaled."""


class Flavor(Protocol):
    vcpus: float
    ram: int


class CatalogDriver:
    """Checks template resources against lists from settings (images, flavors, networks)."""

    name = "catalog"
    provides: Sequence[Provides] = ()
    volume_drivers: Sequence[str] = ()
    simulated = False

    def __init__(
        self,
        images: Mapping[str, str],
        flavors: Mapping[str, Flavor],
        external_networks: Sequence[str],
    ) -> None:
        self.images = dict(images)
        self.flavors = dict(flavors)
        self.external_networks = list(external_networks)
        # Each configured resource is found by its name or its stable ID (jeroboam.domain.resources).
        self._resources: dict[ResourceKind, ResourceNames] = {
            "image": ResourceNames("image", self.images),
            "flavor": ResourceNames("flavor", self.flavors),
            "network": ResourceNames("network", self.external_networks),
        }

    def find_resource(self, kind: ResourceKind, value: str) -> str | None:
        return self._resources[kind].find(value)

    def flavor_of(self, flavor: str) -> Flavor | None:
        return self.flavors.get(self.find_resource("flavor", flavor) or "")

    def observe_workload(self, spec: ClusterSpec, timeout: float) -> Workload:
        """Not supported unless a driver says otherwise."""
        raise WorkloadNotObservableError(f"the {self.name} driver cannot observe a cluster's workload")

    def check_template(self, resources: TemplateResources) -> ImageInfo:
        image = self.find_resource("image", resources.image_id)
        if image is None:
            raise InvalidInputError(
                f"Image {resources.image_id} could not be found; "
                f"images of the {self.name} driver: {', '.join(sorted(self.images))}."
            )
        for flavor in (resources.flavor_id, resources.master_flavor_id):
            if flavor is not None and self.find_resource("flavor", flavor) is None:
                raise InvalidInputError(
                    f"Unable to find flavor {flavor}; "
                    f"flavors of the {self.name} driver: {', '.join(sorted(self.flavors))}."
                )
        network = resources.external_network_id
        if network is not None and self.find_resource("network", network) is None:
            raise InvalidInputError(
                f"External network {network} could not be found; "
                f"external networks of the {self.name} driver: {', '.join(self.external_networks)}."
            )
        if resources.volume_driver is not None and resources.volume_driver not in self.volume_drivers:
            raise InvalidInputError(
                f"Volume driver type {resources.volume_driver} is not supported, expecting a "
                f"{'/'.join(self.volume_drivers)}/unspecified volume driver."
            )
        return ImageInfo(name=image, os_distro=self.images[image])

    def check_capacity(self, demand: NodeDemand) -> None:
        """No limit of its own: a catalog only names what exists."""

    def startup_warnings(self) -> Sequence[str]:
        return ()


# -- containers (the bay-era /v1/containers) -------------------------------------------------------
class ContainersNotSupportedError(InvalidInputError):
    """The bay's driver does not run containers (explicitly: it does not implement ContainerDriver)."""

    code = "containers_not_supported"


@runtime_checkable
class ContainerDriver(Protocol):
    """Containers on a cluster's nodes, asked synchronously by the API's container service.

    Every call is bounded in time. A container whose node or engine is gone is reported by
    ``observe_containers`` as ``Error`` or ``Unknown`` with a reason, never raised. The other
    calls raise ``jeroboam.errors`` errors a user can act on: InvalidInputError (an image the
    cluster cannot get, no node with room), ConflictError (an action the container's state
    refuses), ServiceUnavailableError (the node's engine does not answer in time).
    """

    def create_container(self, bay: Bay, container: ContainerSpec) -> ContainerState:
        """Create (not start) the container on a node with room for it; ``host`` names the node."""
        ...

    def container_action(self, bay: Bay, container: ContainerRef, action: str) -> ContainerState:
        """One of ``domain.containers.ACTIONS``; the state it left the container in."""
        ...

    def container_logs(self, bay: Bay, container: ContainerRef) -> str: ...

    def execute_in_container(self, bay: Bay, container: ContainerRef, command: str) -> ExecResult: ...

    def delete_container(self, bay: Bay, container: ContainerRef) -> None:
        """Remove it (forcefully); a container or node already gone is not an error."""
        ...

    def observe_containers(self, bay: Bay, containers: Sequence[ContainerRef]) -> dict[str, ContainerState]:
        """The live state of each container, by uuid (one bounded round per node)."""
        ...


def container_driver(driver: Driver) -> ContainerDriver:
    """``driver`` as a ContainerDriver, or a 400 saying it runs no containers."""
    if isinstance(driver, ContainerDriver):
        return driver
    raise ContainersNotSupportedError(f"The {driver.name} driver does not run containers.")
