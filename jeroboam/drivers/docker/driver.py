"""The ``docker`` provider's driver: swarm-mode clusters of Docker-in-Docker nodes.

One cluster lives on one engine: its own bridge network (a subnet of
``[docker] address_pool``), one container and one named volume per node, all
labelled with the cluster (see ``labels``), so the engine itself is the record
of what exists and a delete finds everything. Managers have fixed addresses
(their certificate names them before they exist) and publish their Docker API
behind mutual TLS on the engine host's ``publish_address``; the conductor
drives the swarm through that endpoint with the cluster's client certificate,
exactly as a user would.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import docker
import requests
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from jeroboam.config import Settings
from jeroboam.domain import autoscaling
from jeroboam.domain.autoscaling import Workload
from jeroboam.domain.containers import Bay, ContainerRef, ContainerSpec, ContainerState, ExecResult
from jeroboam.domain.resources import resource_id
from jeroboam.domain.specs import (
    ClusterObservation,
    ClusterSpec,
    ImageInfo,
    ManagerObservation,
    NodeDemand,
    NodeGroupObservation,
    NodeGroupSpec,
    NodeObservation,
    Provides,
    TemplateResources,
)
from jeroboam.drivers.base import CatalogDriver
from jeroboam.drivers.docker import cluster_registry, labels
from jeroboam.drivers.docker.client import ENGINE_ERRORS, engine_client, manager_client
from jeroboam.drivers.docker.cluster_registry import ClusterRegistry
from jeroboam.drivers.docker.containers import BayContainers, NodeUnavailableError, user_error
from jeroboam.drivers.docker.front import Front, Fronts
from jeroboam.drivers.docker.image import NODE_IMAGE_REPOSITORY, ImageBuildError, front_image, node_image
from jeroboam.drivers.docker.nodes import (
    Node,
    Nodes,
    PortTakenError,
    fingerprint,
    remove_volume,
    run_in,
    trust_registry,
)
from jeroboam.drivers.docker.placement import MAX_MANAGERS, Engine, Home, Placement, unreachable, worker_addresses
from jeroboam.drivers.docker.swarm import AVAILABILITY_OF_TAINT, Swarm, SwarmNode, in_swarm, join
from jeroboam.drivers.docker.workload import workload_of
from jeroboam.errors import InvalidInputError, PermanentError, RetryableError, UnreachableError

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
PARALLEL_NODES = 4
NODEGROUP_LABEL = autoscaling.NODEGROUP_NODE_LABEL
DELETE_PASSES = 5
STARTUP_PING_TIMEOUT = 3  # seconds
PROBE_TIMEOUT = 5  # seconds for a health probe of one endpoint (a refused connection answers at once)
FRONT_READY_TIMEOUT = 15.0  # seconds for a new API front to lead to a manager


def _parallel(items: Sequence[T], call: Callable[[T], R]) -> list[R]:
    """``call`` on every item at once; the results in order, or the first failure once all finished."""
    if len(items) <= 1:
        return [call(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(PARALLEL_NODES, len(items))) as pool:
        futures = [pool.submit(call, item) for item in items]
    return [future.result() for future in futures]


def _availability(group: NodeGroupSpec) -> str:
    effects = {AVAILABILITY_OF_TAINT.get(t.effect) for t in group.node_taints}
    return "drain" if "drain" in effects else "pause" if "pause" in effects else "active"


class DockerDriver(CatalogDriver):
    name = "docker"
    provides = (Provides("vm", "swarm-mode"), Provides("vm", "swarm"))
    volume_drivers = ("local",)

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.docker.images, settings.docker.flavors, settings.docker.external_networks)
        self.settings = settings.docker
        self.placement = Placement(settings.docker)
        cache = settings.docker.cache_dir or settings.data_dir / "docker-cache"
        flavors = dict(settings.docker.flavors)  # a template may name a flavor by its ID too
        flavors.update({resource_id("flavor", name): flavor for name, flavor in settings.docker.flavors.items()})
        self.nodes = Nodes(settings.docker, flavors, Path(cache))
        self._images: dict[tuple[str, str], str] = {}  # (engine, kind) -> tag
        self.fronts = Fronts()
        self.containers = BayContainers(settings.docker, self.placement, self.nodes)
        self.registry = ClusterRegistry(lambda home: home.engine.settings.publish_address)
        # Node creations in flight per engine, bounded over every cluster ([docker]
        # max_parallel_node_creates), and clusters whose creation a delete stopped.
        self._create_slots = {
            e.name: threading.BoundedSemaphore(settings.docker.max_parallel_node_creates)
            for e in settings.docker.engines
        }
        self._cancelled: set[str] = set()
        self._clients: OrderedDict[tuple[str, ...], docker.DockerClient] = OrderedDict()
        self._lock = threading.Lock()

    # -- template checks --------------------------------------------------------------------------
    def check_template(self, resources: TemplateResources) -> ImageInfo:
        info = super().check_template(resources)
        if resources.docker_volume_size and self.settings.node_storage != "tmpfs":
            raise InvalidInputError(
                "docker_volume_size is not supported by the docker driver with [docker] node_storage = "
                '"volume": the engine\'s volumes cannot be size-limited. Leave docker_volume_size unset, '
                'or have the operator set node_storage = "tmpfs" (sized, in memory).'
            )
        return info

    def check_master_resize(self, current: int, desired: int) -> None:
        """Managers join or leave the swarm one at a time (a leaving one is demoted first), so
        raft keeps its quorum at every step; the limit is ``MAX_MANAGERS``."""
        if desired > MAX_MANAGERS:
            raise InvalidInputError(f"the docker driver runs at most {MAX_MANAGERS} swarm managers (asked: {desired}).")

    def check_capacity(self, demand: NodeDemand) -> None:
        """Refuse what cannot fit: workers beyond the cluster subnet's addresses, and flavors beyond
        what the engine can host with what is already placed on it (engines that do not answer
        are not counted; the conductor reports them)."""
        room = worker_addresses(self.settings.subnet_prefix)
        if demand.workers > room:
            raise InvalidInputError(
                f"A cluster holds at most {room} worker nodes (its /{self.settings.subnet_prefix} subnet, "
                f"[docker] subnet_prefix); {demand.workers} were asked for."
            )
        self.placement.check_room(demand, self.flavors)

    # -- phases ---------------------------------------------------------------------------------
    def ensure_infrastructure(self, spec: ClusterSpec) -> None:
        if spec.tls_disabled:
            raise PermanentError(
                "the docker driver publishes the swarm managers' API only behind TLS; "
                "use a cluster template without tls_disabled"
            )
        if any(g.docker_volume_size for g in spec.nodegroups) and self.settings.node_storage != "tmpfs":
            raise PermanentError(
                'docker_volume_size needs [docker] node_storage = "tmpfs"; create the cluster without it'
            )
        masters = sum(g.node_count for g in spec.masters)
        if masters > MAX_MANAGERS:
            raise PermanentError(f"the docker driver runs at most {MAX_MANAGERS} managers (asked: {masters})")
        home = self.placement.place(spec)
        self._node_image(home.engine)
        if spec.master_lb_enabled:
            self._image(home.engine, "front")

    def tls_server_names(self, spec: ClusterSpec) -> list[str]:
        """What the managers' certificate names: their fixed addresses and hostnames, the published
        address, and the API front's address (a client of the front talks TLS to a manager)."""
        home = self.placement.find(spec.uuid)
        if home is None:
            return []
        names = [home.engine.settings.publish_address]
        if spec.registry_enabled:  # the registry serves the endpoint's certificate
            names.append(home.registry_ip)
        if spec.master_lb_enabled:
            names.append(home.front_address())
        for group in spec.masters:
            names += [home.manager_address(slot) for slot in range(group.node_count)]
            names += [labels.node_name(spec.name, group.name, slot) for slot in range(group.node_count)]
        return names

    def ensure_nodegroup(self, spec: ClusterSpec, nodegroup: NodeGroupSpec) -> NodeGroupObservation:
        home = self._home(spec)
        with _engine_answers(home.engine):
            image = self._cluster_image(home, spec) or self._node_image(home.engine)
            if nodegroup.is_master:
                self._ensure_managers(home, spec, nodegroup, image)
            else:
                self._ensure_workers(home, spec, nodegroup, image)
            return self._observe(home, spec, only=nodegroup.name).nodegroups[0]

    def delete_nodegroup(self, spec: ClusterSpec, name: str) -> None:
        home = self.placement.find(spec.uuid)
        if home is None:
            return
        with _engine_answers(home.engine):
            doomed = [n for n in self.nodes.list(home, spec.uuid) if n.nodegroup == name]
            if doomed:
                self._retire(home, spec, doomed)

    def ensure_endpoint(self, spec: ClusterSpec) -> str:
        """With ``master_lb_enabled``, the API front (``front.py``) once it leads to a manager;
        otherwise the first manager that runs."""
        home = self._home(spec)
        with _engine_answers(home.engine):
            port: int | None
            if spec.master_lb_enabled:
                image = self._image(home.engine, "front")
                front = self.fronts.ensure(home, spec, image, self._port_source(home.engine))
                self._wait_answering(home, spec, front)
                port = front.port
            else:
                manager = self._first_manager(home, spec)
                ok, reason = self._swarm(home, spec, manager).ping()
                if not ok:
                    raise RetryableError(f"the cluster endpoint does not answer yet ({reason})", 1)
                port = manager.api_port
            if spec.registry_enabled:
                self._ensure_registry(home, spec)
            else:
                self.registry.remove(home, spec.uuid)
            return self._address(home, port)

    def _wait_answering(self, home: Home, spec: ClusterSpec, front: Front) -> None:
        """Until the front leads to a manager (its first health checks take a second), bounded."""
        deadline = time.monotonic() + FRONT_READY_TIMEOUT
        reason = ""
        while time.monotonic() < deadline:
            ok, reason = Swarm(self._client(home, spec, front.port, PROBE_TIMEOUT), 0).ping()
            if ok:
                return
            time.sleep(0.2)
        raise RetryableError(f"the cluster's API front does not lead to a manager yet ({reason})", 1)

    def _ensure_registry(self, home: Home, spec: ClusterSpec) -> None:
        """The cluster's registry answers, and every running node trusts its current certificate."""
        tls = spec.tls
        assert tls is not None, "the pki phase runs before the endpoint"
        self.registry.ensure(home, spec, self._port_source(home.engine))
        running = [n for n in self.nodes.list(home, spec.uuid) if n.running]
        _parallel(running, lambda n: trust_registry(home, n.container, tls))

    def cancel(self, cluster_uuid: str) -> None:
        """Stop making nodes for the cluster (a delete superseded its create or resize); its delete
        clears the mark."""
        self._cancelled.add(cluster_uuid)

    def delete_cluster(self, spec: ClusterSpec) -> None:
        """Remove the cluster's objects from every engine that answers. A silent engine holds up the
        delete only while the cluster is found on no engine that answers (it may live there); a
        cluster found elsewhere never waits for an engine that is away."""
        home, silent = self.placement.locate(spec.uuid, everywhere=True)
        silent = [(engine, exc) for engine, exc in silent if not _absent_local_engine(engine)]
        away = {engine.name for engine, _ in silent}
        for engine in self.placement.engines:
            if _absent_local_engine(engine):
                log.info(
                    "engine %s has no Docker socket: nothing of cluster %s can exist there", engine.name, spec.uuid
                )
                continue
            if engine.name in away:
                continue
            try:
                self._delete_from(engine, spec.uuid)
            except ENGINE_ERRORS as exc:
                raise unreachable(engine.settings, exc) from exc
        if silent and home is None:
            raise silent[0][1]
        if silent:
            log.info(
                "cluster %s lived on engine %s; not asking engine %s, which does not answer",
                spec.uuid, home.engine.name if home else "?", ", ".join(sorted(away)),
            )  # fmt: skip
        self.placement.forget(spec.uuid)
        self._forget_clients(spec.uuid)
        self._cancelled.discard(spec.uuid)

    def startup_warnings(self) -> list[str]:
        """One line per configured engine that does not answer now (asked once at start, so the
        operator learns it before a user's first create does)."""
        warnings = []
        for engine in self.placement.engines:
            try:
                client = engine_client(engine.settings)
                client.api.timeout = STARTUP_PING_TIMEOUT
                client.ping()
                client.close()
            except ENGINE_ERRORS as exc:
                warnings.append(
                    f"Docker engine {engine.name} ({engine.settings.url}) does not answer ({type(exc).__name__}): "
                    f"clusters placed there fail after [conductor] unreachable_retry_window; start it "
                    f"(scripts/ensure-docker) or remove it from [docker] engines."
                )
        return warnings

    def leftovers(self, spec: ClusterSpec) -> str:
        """What a forced delete may leave, and where: every object carries the cluster's label."""
        engines = ", ".join(f"{e.name} ({e.settings.url})" for e in self.placement.engines)
        registry = (
            f" (with the registry container {cluster_registry.container_name(spec.uuid)} and its data volume "
            f"{cluster_registry.volume_name(spec.uuid)})"
            if spec.registry_enabled
            else ""
        )
        return (
            f"containers (its nodes, and its API front with master_lb_enabled), volumes and the network "
            f"{labels.network_name(spec.uuid)} labelled "
            f"{labels.CLUSTER}={spec.uuid}{registry} on Docker "
            f"engine{'s' if len(self.placement.engines) > 1 else ''} {engines}"
        )

    @staticmethod
    def _delete_from(engine: Engine, cluster_uuid: str) -> None:
        """Remove until a pass finds nothing: a conductor that died mid-create may have left
        requests the engine is still carrying out, whose objects appear after the first listing."""
        client, only = engine.client, labels.of_cluster(cluster_uuid)
        for _ in range(DELETE_PASSES):
            containers = client.containers.list(all=True, sparse=True, filters=only)
            _parallel(containers, _remove_container)
            volumes = client.volumes.list(filters=only)
            for volume in volumes:
                remove_volume(client, str(volume.name))
            networks = client.networks.list(filters=only)
            for network in networks:
                with contextlib.suppress(NotFound):
                    network.remove()
            if not (containers or volumes or networks):
                return
        raise RetryableError(f"objects of the cluster keep appearing on Docker engine {engine.name}", 2)

    def observe(self, spec: ClusterSpec) -> ClusterObservation:
        try:
            home = self.placement.find(spec.uuid)
        except RetryableError as exc:  # the engine is away: the cluster is unhealthy, and this says why
            return ClusterObservation(None, False, (), api_reason=str(exc))
        if home is None:
            return ClusterObservation(None, False, (), api_reason="the cluster has no network on any Docker engine")
        try:
            with _engine_answers(home.engine):
                return self._observe(home, spec)
        except UnreachableError as exc:  # went away while being looked at
            return ClusterObservation(None, False, (), api_reason=str(exc))

    # -- containers (the bay-era /v1/containers; see containers.py) --------------------------------
    def create_container(self, bay: Bay, container: ContainerSpec) -> ContainerState:
        return _answering(lambda: self.containers.create(bay, container))

    def container_action(self, bay: Bay, container: ContainerRef, action: str) -> ContainerState:
        return _answering(lambda: self.containers.act(bay, container, action))

    def container_logs(self, bay: Bay, container: ContainerRef) -> str:
        return _answering(lambda: self.containers.logs(bay, container))

    def execute_in_container(self, bay: Bay, container: ContainerRef, command: str) -> ExecResult:
        return _answering(lambda: self.containers.execute(bay, container, command))

    def delete_container(self, bay: Bay, container: ContainerRef) -> None:
        _answering(lambda: self.containers.delete(bay, container))

    def observe_containers(self, bay: Bay, containers: Sequence[ContainerRef]) -> dict[str, ContainerState]:
        return self.containers.observe(bay, containers)

    def observe_workload(self, spec: ClusterSpec, timeout: float) -> Workload:
        """The swarm's pending and running tasks, read from a manager (each call bounded by the
        manager client's timeout)."""
        home = self._home(spec)
        return workload_of(self._swarm(home, spec))

    # -- managers ---------------------------------------------------------------------------------
    def _ensure_managers(self, home: Home, spec: ClusterSpec, group: NodeGroupSpec, image: str) -> None:
        assert spec.tls is not None, "the pki phase runs before the control plane"
        with ThreadPoolExecutor(max_workers=1) as early:
            workers = early.submit(self._provision_workers_early, home, spec, image)
            self._converge_managers(home, spec, group, image)
            workers.result()
        self._configure(home, spec, group)

    def _converge_managers(self, home: Home, spec: ClusterSpec, group: NodeGroupSpec, image: str) -> None:
        """Existing managers one at a time (raft keeps its quorum); missing ones all at once."""
        tls = spec.tls
        assert tls is not None
        nodes = {n.slot: n for n in self._group(home, spec, group.name) if n.slot is not None}
        surplus = [nodes.pop(slot) for slot in sorted(nodes, reverse=True) if slot >= group.node_count]
        restarted = False
        for slot, node in sorted(nodes.items()):
            if self._outdated(node, spec, group):
                log.info("cluster %s: replacing manager %s with template %s", spec.uuid, node.name, spec.template_id)
                node = nodes[slot] = self._recreate(home, spec, group, node, image)
            elif self.nodes.installed_fingerprint(node) != fingerprint(tls):
                log.info("cluster %s: new TLS material for manager %s; restarting its endpoint", spec.uuid, node.name)
                self.nodes.install_certs(node, tls)
                node.container.restart(timeout=10)
                restarted = True
            elif not node.running:
                self._revive(node)
            self.nodes.wait_ready(node)
        if surplus:  # through the managers that stay, which have the current certificates by now
            self._remove_managers(home, spec, surplus)
        ports = self._port_source(home.engine)

        def make(slot: int) -> Node:
            node = self._create_manager(home, spec, group, slot, image, ports)
            self.nodes.wait_ready(node)
            if slot != 0:  # the first manager loads its images while the swarm is initialised
                self.nodes.preload(home, node)
            return node

        missing = [slot for slot in range(group.node_count) if slot not in nodes]
        created = dict(zip(missing, _parallel(missing, make), strict=True))
        nodes.update(created)
        first = nodes[0]
        swarm = self._swarm(home, spec, first)
        if not swarm.active():
            steps: list[Callable[[], object]] = [lambda: swarm.init(home.manager_address(0))]
            if 0 in created or not in_swarm(first):
                steps.append(lambda: self.nodes.preload(home, first))
            _parallel(steps, lambda step: step())
        elif 0 in created:
            self.nodes.preload(home, first)
        joining = [(slot, n) for slot, n in sorted(nodes.items()) if slot != 0 and not in_swarm(n)]
        if joining:
            token = swarm.join_token("manager")

            def enter(item: tuple[int, Node]) -> None:
                slot, node = item
                if slot not in created:
                    self.nodes.preload(home, node)
                join(node, token, home.manager_address(slot), home.manager_address(0))

            _parallel(joining, enter)
        if restarted:  # the workers re-register with the restarted managers within a few heartbeats
            swarm.wait_all_ready(self.settings.node_ready_timeout)

    def _remove_managers(self, home: Home, spec: ClusterSpec, surplus: list[Node]) -> None:
        """Shrink the control plane, highest slot first and one manager at a time: demote it (raft
        drops it from its membership while the others keep their quorum), wait until the swarm
        sees it as a worker, then retire it like a worker. Slot 0 always stays."""
        for node in surplus:
            swarm = self._swarm(home, spec)
            seen = swarm.nodes().get(node.name)
            if seen is not None and (seen.role == "manager" or seen.reachability is not None):
                log.info("cluster %s: demoting manager %s", spec.uuid, node.name)
                swarm.demote(seen)
                swarm.wait_demoted(node.name, self.settings.node_ready_timeout)
            self._retire(home, spec, [node])

    def _create_manager(
        self, home: Home, spec: ClusterSpec, group: NodeGroupSpec, slot: int, image: str, ports: Callable[[], int]
    ) -> Node:
        while True:
            port = ports()
            try:
                return self.nodes.create(home, spec, group, slot, image, slot=slot, api_port=port)
            except PortTakenError:
                log.info("port %s is taken on %s; trying the next", port, home.engine.name)

    def _port_source(self, engine: Engine) -> Callable[[], int]:
        """Ports of ``[docker] api_ports`` that no node on the engine holds, one per call (thread-safe)."""
        first, last = self.settings.api_ports
        containers = engine.client.containers.list(all=True, filters=labels.ours())
        held = (labels.API_PORT, labels.REGISTRY_PORT)  # managers' endpoints, registries
        used = {int(c.labels[key]) for c in containers for key in held if c.labels.get(key)}
        free = iter([port for port in range(first, last + 1) if port not in used])
        lock = threading.Lock()

        def take() -> int:
            with lock:
                port = next(free, None)
            if port is None:
                raise RetryableError(f"no free port in [docker] api_ports {first}-{last} on engine {engine.name}", 30)
            return port

        return take

    def _recreate(self, home: Home, spec: ClusterSpec, group: NodeGroupSpec, node: Node, image: str) -> Node:
        """A new container of the current template in the node's place, on its volume: it comes
        back as the same swarm node (managers keep their address, port and raft state)."""
        node.container.remove(force=True, v=False)
        return self.nodes.create(home, spec, group, node.index, image, slot=node.slot, api_port=node.api_port)

    def _revive(self, node: Node) -> None:
        if node.state == "paused":
            node.container.unpause()
        else:
            node.container.start()
        node.container.reload()

    def _first_manager(self, home: Home, spec: ClusterSpec) -> Node:
        managers = [n for n in self.nodes.list(home, spec.uuid) if n.role == labels.MANAGER and n.api_port]
        if not managers:
            raise RetryableError("the cluster has no manager yet", 1)
        return min(managers, key=lambda n: (not n.running, n.slot or 0))

    @staticmethod
    def _address(home: Home, port: int | None) -> str:
        return f"tcp://{home.engine.settings.publish_address}:{port}"

    # -- workers ----------------------------------------------------------------------------------
    def _ensure_workers(self, home: Home, spec: ClusterSpec, group: NodeGroupSpec, image: str) -> None:
        swarm = self._swarm(home, spec)
        nodes = self._group(home, spec, group.name)
        dead = [n for n, alive in zip(nodes, _parallel(nodes, self._alive), strict=True) if not alive]
        if dead:
            log.info("cluster %s: replacing dead nodes %s", spec.uuid, ", ".join(n.name for n in dead))
            self._retire(home, spec, dead, drain=False)
        alive = [n for n in nodes if n not in dead]
        extra = len(alive) - group.node_count
        if extra > 0:
            preferred = set(group.nodes_to_remove)
            order = sorted(alive, key=lambda n: (n.name not in preferred, -n.index))
            self._retire(home, spec, order[:extra])
            alive = order[extra:]
        next_index = max((n.index for n in nodes), default=-1) + 1
        missing = group.node_count - len(alive)
        if missing > 0:
            alive += self._provision(home, spec, group, image, range(next_index, next_index + missing))
            next_index += missing
        members = swarm.nodes()
        self._join(home, swarm, [n for n in alive if n.name not in members])
        outdated = [n for n in alive if self._outdated(n, spec, group)]
        batch = max(1, group.max_batch_size)
        while outdated:
            step, outdated = outdated[:batch], outdated[batch:]
            names = ", ".join(n.name for n in step)
            log.info("cluster %s: rolling %s to template %s", spec.uuid, names, spec.template_id)
            self._join(
                home, swarm, self._provision(home, spec, group, image, range(next_index, next_index + len(step)))
            )
            next_index += len(step)
            self._retire(home, spec, step)
        self._configure(home, spec, group)

    def _group(self, home: Home, spec: ClusterSpec, name: str) -> list[Node]:
        return [n for n in self.nodes.list(home, spec.uuid) if n.nodegroup == name]

    def _provision(
        self, home: Home, spec: ClusterSpec, group: NodeGroupSpec, image: str, indices: Iterable[int]
    ) -> list[Node]:
        """New nodes, started, answering and preloaded, not yet in the swarm (in parallel)."""
        made: list[Node] = []

        def one(index: int) -> None:
            with self._create_slots.get(home.engine.name, contextlib.nullcontext()):
                if spec.uuid in self._cancelled:
                    raise RetryableError("a delete stopped the creation of nodes", 0.1)
                node = self.nodes.create(home, spec, group, index, image)
                self.nodes.wait_ready(node)
                self.nodes.preload(home, node)
                made.append(node)

        _parallel(list(indices), one)
        return made

    def _provision_workers_early(self, home: Home, spec: ClusterSpec, image: str) -> list[Node]:
        """While the control plane comes up, start the workers a create (or a resize) needs; the
        workers phase then only joins them."""
        made: list[Node] = []
        for group in spec.workers:
            nodes = self._group(home, spec, group.name)
            running = [n for n in nodes if n.running]
            missing = group.node_count - len(running)
            if missing > 0:
                first = max((n.index for n in nodes), default=-1) + 1
                made += self._provision(home, spec, group, image, range(first, first + missing))
        return made

    def _join(self, home: Home, swarm: Swarm, nodes: list[Node]) -> None:
        if not nodes:
            return
        token = swarm.join_token("worker")
        leader = home.manager_address(0)

        def one(node: Node) -> None:
            address = node.address(str(home.network.name))
            if address is None:
                raise RetryableError(f"node {node.name} has no address on the cluster network", 2)
            join(node, token, address, leader)

        _parallel(nodes, one)

    def _alive(self, node: Node) -> bool:
        """Its container runs and its engine answers (a stopped or hung node is replaced)."""
        if not node.running:
            return False
        try:
            code, _ = run_in(node.container, ["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"])
        except ENGINE_ERRORS:
            return False
        return code == 0

    def _retire(self, home: Home, spec: ClusterSpec, doomed: list[Node], *, drain: bool = True) -> None:
        """Drain the nodes' tasks away, take them out of the swarm and remove their containers."""
        try:
            swarm = self._swarm(home, spec)
            known = swarm.nodes()
        except RetryableError:
            swarm, known = None, {}
        seen: list[SwarmNode] = [known[n.name] for n in doomed if n.name in known]
        if swarm is not None and drain:
            _parallel(seen, lambda s: swarm.drain(s, self.settings.drain_timeout))
        _parallel(doomed, self.nodes.remove)
        if swarm is not None:
            for swarm_node in seen:
                swarm.forget(swarm_node.id)

    # -- shared -----------------------------------------------------------------------------------
    def _configure(self, home: Home, spec: ClusterSpec, group: NodeGroupSpec) -> None:
        """Swarm node labels (the nodegroup's ``node_labels`` plus its name) and availability (taints)."""
        swarm = self._swarm(home, spec)
        known = swarm.nodes()
        wanted = {**group.node_labels, NODEGROUP_LABEL: group.name}
        for node in self.nodes.list(home, spec.uuid):
            found = known.get(node.name)
            if node.nodegroup == group.name and found is not None:
                # A user's scale-down protection is theirs to set on a node: kept.
                kept = {k: v for k, v in found.labels.items() if k == autoscaling.PROTECT_LABEL}
                swarm.configure(found, _availability(group), {**wanted, **kept})

    @staticmethod
    def _outdated(node: Node, spec: ClusterSpec, group: NodeGroupSpec) -> bool:
        return (node.template, node.image, node.flavor) != (spec.template_id, group.image, group.flavor or "")

    def _home(self, spec: ClusterSpec) -> Home:
        home = self.placement.find(spec.uuid)
        if home is None:
            raise RetryableError("the cluster has no network yet (the infrastructure phase runs first)", 1)
        return home

    def _cluster_image(self, home: Home, spec: ClusterSpec) -> str | None:
        """The node image the cluster's nodes of its current template run, while the engine has it: a
        replaced or added node takes that one, so a cluster never runs mixed images because the host's
        packages changed; an upgrade (a new template) moves it to the host's current image."""
        for node in self.nodes.list(home, spec.uuid):
            ref = str((node.container.attrs.get("Config") or {}).get("Image") or "")
            if node.template != spec.template_id or not ref.startswith(f"{NODE_IMAGE_REPOSITORY}:"):
                continue
            try:
                home.engine.client.images.get(ref)
            except NotFound:
                continue
            return ref
        return None

    def _node_image(self, engine: Engine) -> str:
        return self._image(engine, "node")

    def _image(self, engine: Engine, kind: str) -> str:
        """The engine's node or front image, built from the host's packages the first time."""
        tag = self._images.get((engine.name, kind))
        if tag is None:
            build = front_image if kind == "front" else node_image
            try:
                tag = build(engine.client, progress=lambda line: log.info("engine %s: %s", engine.name, line))
            except ImageBuildError as exc:
                raise PermanentError(str(exc)) from exc
            except ENGINE_ERRORS as exc:
                raise unreachable(engine.settings, exc) from exc
            self._images[(engine.name, kind)] = tag
        return tag

    def _swarm(self, home: Home, spec: ClusterSpec, manager: Node | None = None) -> Swarm:
        manager = manager or self._first_manager(home, spec)
        return Swarm(self._client(home, spec, manager.api_port), self.settings.dispatcher_heartbeat_seconds)

    def _client(self, home: Home, spec: ClusterSpec, port: int | None, timeout: int = 10) -> docker.DockerClient:
        """A client of the cluster's TLS API published on ``port`` (a manager's or the front's), kept."""
        tls = spec.tls
        if tls is None:
            raise RetryableError("the cluster's certificates are not issued yet", 1)
        host = home.engine.settings.publish_address
        key = (spec.uuid, host, str(port), str(timeout), fingerprint(tls), tls.client_cert_pem)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = manager_client(
                    host, int(port or 0), tls.ca_cert_pem, tls.client_cert_pem, tls.client_key_pem, timeout=timeout
                )
                self._clients[key] = client
                while len(self._clients) > 256:
                    self._clients.popitem(last=False)[1].close()
            self._clients.move_to_end(key)
        return client

    def _forget_clients(self, cluster_uuid: str) -> None:
        with self._lock:
            for key in [k for k in self._clients if k[0] == cluster_uuid]:
                self._clients.pop(key).close()

    # -- observing --------------------------------------------------------------------------------
    def _observe(self, home: Home, spec: ClusterSpec, only: str | None = None) -> ClusterObservation:
        """Probe the endpoint users are to be given, as a client would (TLS, the cluster's client
        certificate, bounded): the API front with ``master_lb_enabled``, else the first manager
        whose API answers. The swarm's view of the nodes is read through that same endpoint, and
        each manager's own API is probed, so a dead one is named."""
        nodes = self.nodes.list(home, spec.uuid)
        managers = sorted((n for n in nodes if n.role == labels.MANAGER and n.api_port), key=lambda n: n.slot or 0)
        front = self.fronts.find(home, spec.uuid) if spec.master_lb_enabled else None
        seen = tuple(_parallel(managers, lambda n: self._probe_manager(home, spec, n))) if spec.tls else ()
        address, endpoint, port = None, "", None
        if front is not None:
            port = front.port
            endpoint = f"the API front of {len(managers)} manager{'s' if len(managers) != 1 else ''}"
        elif managers:
            answering = [m for m, view in zip(managers, seen, strict=True) if view.ok] if seen else []
            chosen = (answering or managers)[0]
            port = chosen.api_port
            down = [m.name for m in managers if m.slot is not None and m.slot < (chosen.slot or 0)]
            endpoint = f"manager {chosen.name}" + (
                f", the first that answers ({', '.join(down)} does not)" if down and answering else ""
            )
        if port is not None:
            address = self._address(home, port)
        api_ok, api_reason, version = False, "no manager", None
        known: dict[str, SwarmNode] = {}
        if spec.tls is not None and port is not None:
            swarm = Swarm(self._client(home, spec, port, PROBE_TIMEOUT), self.settings.dispatcher_heartbeat_seconds)
            api_ok, api_reason = swarm.ping()
            if api_ok:
                try:
                    known = swarm.nodes()
                    version = swarm.version()
                except RetryableError as exc:
                    api_ok, api_reason = False, str(exc)
                    if isinstance(exc.__cause__, requests.exceptions.Timeout):
                        api_reason = (
                            f"docker node ls got no answer within {PROBE_TIMEOUT} s (the swarm has no leader while "
                            "raft elects one, about 10 s after a leader's loss)"
                        )
            if not api_ok:
                api_reason = f"{address} does not answer a client: {api_reason}"
        swarm_ok = api_ok  # the nodes' swarm states were read (through a manager, without a front)
        if spec.master_lb_enabled and front is None and managers:
            # Users were given the front's address: a manager's is no substitute to hand out.
            address, endpoint, api_ok = None, "", False
            api_reason = (
                f"the cluster's API front ({labels.front_name(spec.uuid)}) is gone, so its api_address answers "
                "nothing; an update of the cluster (autoheal) makes it again"
            )
        groups = []
        for group in spec.nodegroups:
            if only is not None and group.name != only:
                continue
            members = [n for n in nodes if n.nodegroup == group.name]
            groups.append(
                NodeGroupObservation(
                    group.name, tuple(self._node_view(home, n, known.get(n.name), swarm_ok) for n in members)
                )
            )
        return ClusterObservation(
            api_address=address,
            api_ok=api_ok,
            nodegroups=tuple(groups),
            coe_version=version,
            container_version=version,
            api_reason="" if api_ok else api_reason,
            registry=self.registry.observe(home, spec) if spec.registry_enabled and only is None else None,
            endpoint=endpoint,
            managers=seen,
        )

    def _probe_manager(self, home: Home, spec: ClusterSpec, node: Node) -> ManagerObservation:
        """Does the manager's own published API answer a client (bounded)?"""
        if not node.running:
            return ManagerObservation(node.name, False, f"its container is {node.state}")
        ok, reason = Swarm(self._client(home, spec, node.api_port, PROBE_TIMEOUT), 0).ping()
        return ManagerObservation(node.name, ok, reason)

    @staticmethod
    def _node_view(home: Home, node: Node, seen: SwarmNode | None, api_ok: bool) -> NodeObservation:
        address = node.address(str(home.network.name))
        if not node.running:
            return NodeObservation(node.name, address, False, f"node container is {node.state}")
        if not api_ok:
            return NodeObservation(node.name, address, False, "swarm state unknown: the manager API does not answer")
        if seen is None:
            return NodeObservation(node.name, address, False, "not a member of the swarm")
        agent = f"swarm node is {seen.state} {seen.message}".strip()
        if seen.state != "ready" and seen.reachability == "reachable":
            # A manager raft counts and whose own API answers serves the control plane; after a
            # leader change the new leader may keep its own agent marked down (a swarmkit race),
            # which replacing or restarting it would only repeat: said, not healed.
            return NodeObservation(node.name, address, True, f"raft member reachable; {agent}: no task is placed on it")
        if seen.state != "ready":
            return NodeObservation(node.name, address, False, agent)
        return NodeObservation(node.name, address, True)


def _answering(call: Callable[[], T]) -> T:
    """A container call; a node that cannot be reached is the user's error with the reason."""
    try:
        return call()
    except NodeUnavailableError as exc:
        raise user_error(exc) from exc


@contextlib.contextmanager
def _engine_answers(engine: Engine) -> Iterator[None]:
    """A call that fails because the cluster's engine went away mid-phase (a dockerd restart, a host
    lost) raises the engine's unreachable error, retried within ``unreachable_retry_window``, instead
    of an unexpected driver error (which fails the operation after a few attempts)."""
    try:
        yield
    except ENGINE_ERRORS as exc:
        try:
            engine.quick.ping()
        except ENGINE_ERRORS:
            raise unreachable(engine.settings, exc) from exc
        raise


def _remove_container(container: Container) -> None:
    try:
        container.remove(force=True, v=True)
    except NotFound:
        pass
    except APIError as exc:
        if exc.status_code != 409:  # 409: a removal is already under way; the next pass checks
            raise


def _absent_local_engine(engine: Engine) -> bool:
    url = urlsplit(engine.settings.url)
    return url.scheme in ("unix", "") and not os.path.exists(url.path)
