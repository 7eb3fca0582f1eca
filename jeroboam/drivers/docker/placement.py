"""Which engine hosts a cluster, and the cluster's own network on it.

Tenant boundary: nodes are near-privileged containers sharing their engine's
kernel, so an engine is no security boundary between projects. Unless
``[docker] allow_project_mixing`` is on, an engine hosts clusters of one project
at a time (an engine with no cluster left is free again), and engines listed
with ``projects`` serve only those projects. The check runs after the network
is made, so two conductors placing clusters of different projects on one free
engine at once both see the conflict and back off; neither proceeds alone.

An engine that does not answer is never chosen for a new cluster. Looking a
cluster up asks the engine it was last found on first, then every other engine
at once, each with a short timeout (``LOOKUP_TIMEOUT``): an engine that hangs
(a frozen host) costs a lookup at most that long, and never delays clusters
that live elsewhere. A cluster found nowhere while some engine is silent is
not "absent": it may live there, so the lookup reports that engine instead.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TypeVar

import docker
from docker.errors import APIError
from docker.models.networks import Network

from jeroboam.config import DockerDriverSettings, DockerEngineSettings
from jeroboam.domain.specs import ClusterSpec, NodeDemand
from jeroboam.drivers.base import Flavor
from jeroboam.drivers.docker import labels
from jeroboam.drivers.docker.client import ENGINE_ERRORS, engine_client
from jeroboam.errors import InvalidInputError, RetryableError, UnreachableError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Host-side addresses of a cluster subnet: .1 is the bridge, managers take fixed
# addresses from .2 (their certificates name them before they exist), the
# cluster's registry the one after the last manager's, workers any address from
# the upper half.
FIRST_MANAGER_HOST = 2
MAX_MANAGERS = 7
REGISTRY_HOST = FIRST_MANAGER_HOST + MAX_MANAGERS
LOOKUP_TIMEOUT = 5  # seconds for a lookup (networks, capacity) on one engine: a hung engine is "down"


def worker_addresses(subnet_prefix: int) -> int:
    """Workers a cluster subnet holds: its upper half, less the broadcast address."""
    return int(2 ** (32 - subnet_prefix - 1)) - 1


@dataclass(frozen=True)
class Load:
    """What an engine has and what its nodes' flavors take of it."""

    cpus: float
    memory_mib: float
    placed_vcpus: float
    placed_mib: float


def unreachable(engine: DockerEngineSettings, exc: Exception) -> RetryableError:
    """The retryable error of a failed engine call: refused (the engine answered) or unreachable."""
    if isinstance(exc, APIError):
        return RetryableError(f"Docker engine {engine.name} refused a request: {exc}", 2)
    return UnreachableError(
        f"No Docker engine answers at {engine.url} (engine {engine.name}): {exc}. "
        "Install docker.io and start dockerd (scripts/ensure-docker does both as root).",
        10,
    )


@dataclass
class Engine:
    settings: DockerEngineSettings
    _client: docker.DockerClient | None = field(default=None, repr=False)
    _quick: docker.DockerClient | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = engine_client(self.settings)
        return self._client

    @property
    def quick(self) -> docker.DockerClient:
        """A client for lookups, with a short timeout."""
        if self._quick is None:
            self._quick = engine_client(self.settings, timeout=LOOKUP_TIMEOUT)
        return self._quick

    def networks(self, filters: labels.Filters) -> list[Network]:
        try:
            return list(self.quick.networks.list(filters=filters))
        except ENGINE_ERRORS as exc:
            raise unreachable(self.settings, exc) from exc


@dataclass(frozen=True)
class Home:
    """Where a cluster lives: its engine and network."""

    engine: Engine
    network: Network

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        config = self.network.attrs["IPAM"]["Config"][0]
        return ipaddress.IPv4Network(config["Subnet"])

    def manager_address(self, slot: int) -> str:
        return str(self.subnet.network_address + FIRST_MANAGER_HOST + slot)

    @property
    def registry_ip(self) -> str:
        """The fixed address of the cluster's registry on its network."""
        return str(self.subnet.network_address + REGISTRY_HOST)

    def front_address(self) -> str:
        """The API front's fixed address: the last of the lower half (managers take its start,
        workers the upper half)."""
        return str(self.subnet.network_address + self.subnet.num_addresses // 2 - 1)


class Placement:
    def __init__(self, settings: DockerDriverSettings) -> None:
        self.settings = settings
        self.engines = [Engine(engine) for engine in settings.engines]
        self._lock = threading.Lock()  # one network allocation at a time in this process
        self._homes: dict[str, str] = {}  # cluster -> the engine it was last found on

    def find(self, cluster_uuid: str) -> Home | None:
        """The engine and network of a cluster; None when it has none. Raises the unreachable error
        of a silent engine when the cluster is not found on the engines that answer."""
        home, silent = self.locate(cluster_uuid)
        if home is None and silent:
            raise silent[0][1]
        return home

    def locate(
        self, cluster_uuid: str, *, everywhere: bool = False
    ) -> tuple[Home | None, list[tuple[Engine, RetryableError]]]:
        """The cluster's home if an engine that answers has it, and the engines that did not answer
        (each with its error). The engine it was last found on is asked first; unless ``everywhere``
        (every engine asked, so the silent ones are all known), the others only if it has not."""
        only = labels.of_cluster(cluster_uuid)
        silent: list[tuple[Engine, RetryableError]] = []
        known = next((e for e in self.engines if e.name == self._homes.get(cluster_uuid)), None)
        if known is not None and not everywhere:
            try:
                found = known.networks(only)
            except RetryableError as exc:
                silent.append((known, exc))
                found = []
            if found:
                return self._home_of(cluster_uuid, known, found[0]), []
        rest = [e for e in self.engines if everywhere or e is not known]
        home: Home | None = None
        for engine, answer in _ask(rest, lambda e: e.networks(only), enough=lambda nets: bool(nets) and not everywhere):
            if isinstance(answer, RetryableError):
                silent.append((engine, answer))
            elif isinstance(answer, Exception):
                raise answer
            elif answer and home is None:
                home = self._home_of(cluster_uuid, engine, answer[0])
        return home, ([] if home is not None and not everywhere else silent)

    def _home_of(self, cluster_uuid: str, engine: Engine, network: Network) -> Home:
        network.reload()
        self._homes[cluster_uuid] = engine.name
        return Home(engine, network)

    def forget(self, cluster_uuid: str) -> None:
        self._homes.pop(cluster_uuid, None)

    # -- capacity ---------------------------------------------------------------------------------
    def check_room(self, demand: NodeDemand, flavors: Mapping[str, Flavor]) -> None:
        """InvalidInputError when the nodes ``demand`` adds do not fit on the cluster's engine (or, for
        a cluster not placed yet, on the engine with the most room) with what is placed there."""
        sized = [(flavors[f], n) for f, n in demand.added if f is not None and f in flavors]
        vcpus = sum((flavor.vcpus * n for flavor, n in sized), 0.0)
        mib = sum((float(flavor.ram * n) for flavor, n in sized), 0.0)
        try:
            home = self.find(demand.cluster_uuid) if demand.cluster_uuid else None
        except RetryableError:
            return  # its engine does not answer: the conductor says so when it gets there
        engines = [home.engine] if home is not None else self.engines
        loads = [
            (engine, load)
            for engine, load in _ask(engines, lambda e: self._load(e, flavors), lambda _: False)
            if isinstance(load, Load)  # an engine that does not answer is not counted
        ]
        if not loads:
            return
        engine, load = max(
            loads, key=lambda pair: pair[1].cpus * self.settings.cpu_allocation_ratio - pair[1].placed_vcpus
        )
        cpu_limit = load.cpus * self.settings.cpu_allocation_ratio
        mib_limit = load.memory_mib * self.settings.ram_allocation_ratio
        if load.placed_vcpus + vcpus <= cpu_limit and load.placed_mib + mib <= mib_limit:
            return
        nodes = sum(n for _, n in demand.added)
        raise InvalidInputError(
            f"Not enough room for {nodes} more node{'s' if nodes != 1 else ''} ({vcpus:g} vCPUs, {mib:g} MiB by "
            f"flavor) on Docker engine {engine.name}: it hosts {cpu_limit:g} vCPUs ({load.cpus:g} CPUs x [docker] "
            f"cpu_allocation_ratio {self.settings.cpu_allocation_ratio:g}) and {mib_limit:.0f} MiB "
            f"({load.memory_mib:.0f} MiB x ram_allocation_ratio {self.settings.ram_allocation_ratio:g}), of which "
            f"{load.placed_vcpus:g} vCPUs and {load.placed_mib:g} MiB are placed; ask for fewer or smaller nodes."
        )

    @staticmethod
    def _load(engine: Engine, flavors: Mapping[str, Flavor]) -> Load:
        info = engine.quick.info()
        placed_vcpus = placed_mib = 0.0
        # One list call with labels (not an inspect per container).
        for container in engine.quick.api.containers(all=True, filters={"label": [labels.FLAVOR]}):
            flavor = flavors.get((container.get("Labels") or {}).get(labels.FLAVOR, ""))
            if flavor is not None:
                placed_vcpus += flavor.vcpus
                placed_mib += flavor.ram
        return Load(float(info.get("NCPU", 0)), float(info.get("MemTotal", 0)) / 2**20, placed_vcpus, placed_mib)

    # -- placing a new cluster -------------------------------------------------------------------
    def place(self, spec: ClusterSpec) -> Home:
        home, silent = self.locate(spec.uuid)
        if home is not None:
            return home
        placed_on = self._homes.get(spec.uuid)
        for engine, exc in silent:
            if engine.name == placed_on:
                raise exc  # placed there earlier: wait for it rather than start the cluster twice
        candidates = self._candidates(spec.project_id)
        if not candidates:
            pool = self._pool(spec.project_id)
            down = [(e, exc) for e, exc in silent if e in pool]
            if len(down) == len(pool):
                raise down[0][1]  # every engine the project may use is silent: that is the reason
            raise RetryableError(
                "Every Docker engine is serving another project now (each hosts one project at a time, "
                "because nodes share their engine's kernel)"
                + (f", or does not answer ({', '.join(e.name for e, _ in down)})" if down else "")
                + ". The cluster starts when an engine is free, or add an engine to [docker] engines.",
                30,
            )
        engine = min(candidates, key=lambda pair: pair[1])[0]
        with self._lock:
            network = self._create_network(engine, spec)
        if not self.settings.allow_project_mixing:
            others = self._other_projects(engine, spec.project_id)
            if others:
                network.remove()
                raise RetryableError(
                    f"Docker engine {engine.name} was just taken by another project; trying again",
                    random.uniform(0.5, 2.0),  # noqa: S311 - spreading retries, not a secret
                )
        self._homes[spec.uuid] = engine.name
        log.info("cluster %s placed on engine %s, network %s", spec.uuid, engine.name, network.name)
        return Home(engine, network)

    def _pool(self, project_id: str) -> list[Engine]:
        """The engines reserved for the project, or else the unreserved ones."""
        reserved = [e for e in self.engines if project_id in e.settings.projects]
        return reserved or [e for e in self.engines if not e.settings.projects]

    def _candidates(self, project_id: str) -> list[tuple[Engine, int]]:
        """Engines that answer and may take a cluster of the project, each with its cluster count."""
        result = []
        for engine, nets in _ask(self._pool(project_id), lambda e: e.networks(labels.ours()), lambda _: False):
            if isinstance(nets, Exception):
                log.warning("engine %s does not answer; not placing clusters there: %s", engine.name, nets)
                continue
            projects = {n.attrs.get("Labels", {}).get(labels.PROJECT) for n in nets}
            if not self.settings.allow_project_mixing and projects - {project_id}:
                continue
            result.append((engine, len(nets)))
        return result

    def _other_projects(self, engine: Engine, project_id: str) -> set[str]:
        nets = engine.networks(labels.ours())
        return {str(n.attrs.get("Labels", {}).get(labels.PROJECT)) for n in nets} - {project_id}

    def _create_network(self, engine: Engine, spec: ClusterSpec) -> Network:
        taken = self._used_subnets(engine)
        pool = ipaddress.IPv4Network(self.settings.address_pool)
        for subnet in pool.subnets(new_prefix=self.settings.subnet_prefix):
            if any(subnet.overlaps(used) for used in taken):
                continue
            upper = list(subnet.subnets(prefixlen_diff=1))[1]  # workers' addresses
            ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(subnet), iprange=str(upper))])
            try:
                return engine.client.networks.create(
                    labels.network_name(spec.uuid),
                    driver="bridge",
                    ipam=ipam,
                    check_duplicate=True,
                    labels={labels.CLUSTER: spec.uuid, labels.PROJECT: spec.project_id},
                )
            except APIError as exc:
                if "overlap" in str(exc).lower():
                    taken.append(subnet)
                    continue
                if "already exists" in str(exc).lower():
                    home = self.find(spec.uuid)
                    if home is not None:
                        return home.network
                raise RetryableError(
                    f"Docker engine {engine.name} could not create the cluster network: {exc}", 5
                ) from exc
            except ENGINE_ERRORS as exc:
                raise unreachable(engine.settings, exc) from exc
        raise RetryableError(
            f"No free subnet of /{self.settings.subnet_prefix} is left in [docker] address_pool "
            f"{self.settings.address_pool} on engine {engine.name}; delete clusters or widen the pool.",
            30,
        )

    @staticmethod
    def _used_subnets(engine: Engine) -> list[ipaddress.IPv4Network]:
        used: list[ipaddress.IPv4Network] = []
        for network in engine.networks({}):
            for config in (network.attrs.get("IPAM") or {}).get("Config") or []:
                try:
                    subnet = ipaddress.ip_network(config.get("Subnet", ""), strict=False)
                except ValueError:
                    continue
                if isinstance(subnet, ipaddress.IPv4Network):
                    used.append(subnet)
        return used


def _ask(
    engines: Sequence[Engine], call: Callable[[Engine], T], enough: Callable[[T], bool]
) -> list[tuple[Engine, T | Exception]]:
    """``call`` on every engine at once; each engine with its answer or its error, in the order they
    came. Stops waiting at the first answer that is ``enough`` (the calls left finish on their own,
    within the engines' timeout)."""
    if len(engines) <= 1:
        answers: list[tuple[Engine, T | Exception]] = []
        for engine in engines:
            try:
                answers.append((engine, call(engine)))
            except Exception as error:  # handed to the caller with its engine
                answers.append((engine, error))
        return answers
    pool = ThreadPoolExecutor(max_workers=len(engines), thread_name_prefix="engine-lookup")
    futures = {pool.submit(call, engine): engine for engine in engines}
    answers = []
    try:
        for future in as_completed(futures):
            try:
                answer = future.result()
            except Exception as error:  # handed to the caller with its engine
                answers.append((futures[future], error))
                continue
            answers.append((futures[future], answer))
            if enough(answer):
                break
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return answers
