"""The ``sim`` driver: SIMULATED infrastructure for tests and scale runs; nothing real is built.

No machine, network or endpoint exists: a cluster is one JSON file under
``[sim] state_dir`` (default ``<data_dir>/sim``) recording what a real driver
would have built: a network, nodes per nodegroup with fake ``10.x`` addresses,
an endpoint under the never-resolvable ``.invalid`` domain (and, for a template
with ``registry_enabled``, a registry there too, reported as simulated). The file is shared
by every process on the machine and survives a crash: each change is made under
an exclusive ``flock`` on ``<uuid>.lock`` and written atomically (temporary
file, then ``os.replace``), so a conductor killed mid-phase leaves a state the
next conductor can converge from. Every lifecycle call sleeps
``[sim] latency_seconds`` first (label ``sim_latency`` overrides it).

Faults are injected with cluster labels. A *phase* is one of the calls:

====================  ==========================================
phase                 call
====================  ==========================================
``infrastructure``    ``ensure_infrastructure``
``control_plane``     ``ensure_nodegroup`` of a master nodegroup
``workers``           ``ensure_nodegroup`` of a worker nodegroup
``endpoint``          ``ensure_endpoint``
``delete``            ``delete_cluster``
``workload``          ``observe_workload``
====================  ==========================================

``delete_nodegroup`` and ``observe`` take the latency but no fault. A
``*_phase`` label names one phase or several, comma-separated; when several
faults name one phase, a call gets the first that is due, in the order fail,
retry, hang (a crash comes later, inside the work). Counters live in the state
file, so they hold across calls, retries and processes.

========================  ========  ===============================================
label                     default   effect
========================  ========  ===============================================
``sim_latency``           settings  seconds every lifecycle call of the cluster takes
``sim_fail_phase``        —         the phase raises ``PermanentError("simulated
                                    failure in phase <phase> (label
                                    sim_fail_phase)")``...
``sim_fail_times``        1         ...on its first N calls; later calls succeed
``sim_retry_phase``       —         the phase raises ``RetryableError`` (delay
                                    0.2 s)...
``sim_retry_times``       1         ...on its first N calls, then succeeds
``sim_hang_phase``        —         the phase sleeps ``sim_hang_seconds`` before
                                    working (a deadline test); every call hangs...
``sim_hang_seconds``      3600      ...for this long...
``sim_hang_times``        no limit  ...or only the first N calls
``sim_crash_phase``       —         the process exits with ``os._exit(137)`` in the
                                    middle of the phase (after its first step is
                                    saved), simulating a conductor killed there...
``sim_crash_times``       1         ...on its first N calls (counted before exiting)
``sim_unhealthy_nodes``   0         ``observe`` reports the first N worker nodes
                                    not ready; ``ensure_nodegroup`` does not
                                    replace them (they stay unhealthy)
========================  ========  ===============================================

SIMULATED workload, for the autoscaler: replicated services whose replicas
reserve CPU and memory are placed, first fit, on the ready worker nodes (by
their flavor's ``vcpus``/``ram`` from ``[sim] flavors`` and the nodegroup's
``node_labels`` against the replicas' placement constraints); replicas that fit
nowhere are reported pending, nodes without a replica idle. The services come
from ``SimDriver.set_service`` (tests) or, until one is set, the label
``sim_services`` (``name:replicas:cpu:memory_mib``, several separated by ``;``).
``SimDriver.protect_node`` gives a node the autoscaler's protection label.

``SimDriver.kill_node`` marks one node dead, as if its machine failed:
``observe`` reports it not ready and the next ``ensure_nodegroup`` replaces it.
A dead master is a dead manager: with ``master_lb_enabled`` the endpoint is a
simulated front that answers while any master lives; without it the endpoint
is the first live master's (the cluster's port plus the master's index), so it
moves when that master dies, as the docker driver's does.
A hang or a latency sleep ends early, with ``RetryableError``, when
``SimDriver.close`` is called or the process's main thread finishes, so a
process whose worker thread hangs can still exit. Invalid fault labels make
the ensure calls fail permanently with a message naming the label;
``delete_cluster``, ``delete_nodegroup`` and ``observe`` ignore every
``sim_*`` label then, so such a cluster can always be deleted.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jeroboam.config import Settings
from jeroboam.domain import autoscaling
from jeroboam.domain.autoscaling import NodeLoad, PendingTask, Resources, Workload
from jeroboam.domain.containers import (
    ACTIONS,
    ERROR,
    STOPPED,
    UNKNOWN,
    Bay,
    ContainerRef,
    ContainerSpec,
    ContainerState,
    ExecResult,
    refusal,
)
from jeroboam.domain.specs import (
    ClusterObservation,
    ClusterSpec,
    ManagerObservation,
    NodeGroupObservation,
    NodeGroupSpec,
    NodeObservation,
    Provides,
    RegistryObservation,
    canonical_coe,
)
from jeroboam.drivers.base import CatalogDriver
from jeroboam.errors import ConflictError, PermanentError, RetryableError

log = logging.getLogger(__name__)

PHASES = ("infrastructure", "control_plane", "workers", "endpoint", "delete", "workload")
CRASH_EXIT_CODE = 137
RETRY_DELAY = 0.2
STATE_VERSION = 1
# Longest uninterrupted sleep: a closing driver or an exiting process is noticed this fast.
_SLEEP_STEP = 0.2
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_ENDPOINTS = {"kubernetes": ("https", 6443), "swarm-mode": ("tcp", 2376)}
_COE_VERSIONS = {"kubernetes": "v1.30.0", "swarm-mode": "24.0.7"}
# Hosts per cluster before fake addresses repeat (10.<net>.<0-255>.<2-251>).
_HOSTS = 256 * 250
SIMULATED_CONTAINER = "simulated by the sim driver: no process runs"
# registry_enabled: addresses under .invalid, and nothing listens there.
SIMULATED_REGISTRY = "simulated by the sim driver: no registry runs"


# --- state --------------------------------------------------------------------------------------


@dataclass
class SimNode:
    """One simulated node (no machine exists)."""

    name: str
    index: int
    address: str
    image: str
    flavor: str | None
    alive: bool = True


@dataclass
class SimRollout:
    """A rolling replacement of a nodegroup's nodes towards one image and flavor."""

    image: str
    flavor: str | None
    batches: int = 0


@dataclass
class SimNodeGroup:
    role: str
    nodes: list[SimNode] = field(default_factory=list)
    next_index: int = 0
    rollout: SimRollout | None = None  # in progress
    last_rollout: SimRollout | None = None  # the last one finished
    dead_replaced: int = 0


@dataclass
class SimClusterState:
    """Everything the simulation 'built' for one cluster, as kept in its state file."""

    uuid: str
    network: str | None = None  # fake CIDR
    endpoint: str | None = None
    groups: dict[str, SimNodeGroup] = field(default_factory=dict)
    next_host: int = 0
    faults: dict[str, int] = field(default_factory=dict)  # "<kind>:<phase>" -> calls affected
    version: int = STATE_VERSION
    ca_fingerprint: str | None = None  # SHA-256 of the DER of the CA the endpoint was last given
    services: list[dict[str, Any]] | None = None  # simulated workload (set_service); None: label
    protected: list[str] = field(default_factory=list)  # nodes protected from scale-down
    # Simulated containers placed on each node (by node name): a new one goes where the fewest are,
    # as the docker driver puts it on the worker with the most free memory.
    containers: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> SimClusterState:
        data = json.loads(text)
        if data.get("version") != STATE_VERSION:
            raise PermanentError(
                f"simulated state of cluster {data.get('uuid')} has version {data.get('version')}, "
                f"this sim driver reads version {STATE_VERSION}; delete the sim state directory"
            )
        groups = {name: _group_from(raw) for name, raw in data["groups"].items()}
        return cls(**{**data, "groups": groups})

    def nodes(self, group: str) -> list[SimNode]:
        found = self.groups.get(group)
        return found.nodes if found else []


def _group_from(raw: dict[str, Any]) -> SimNodeGroup:
    def rollout(value: dict[str, Any] | None) -> SimRollout | None:
        return SimRollout(**value) if value else None

    return SimNodeGroup(
        **{
            **raw,
            "nodes": [SimNode(**node) for node in raw["nodes"]],
            "rollout": rollout(raw["rollout"]),
            "last_rollout": rollout(raw["last_rollout"]),
        }
    )


# --- fault labels -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Faults:
    latency: float | None = None
    fail: frozenset[str] = frozenset()
    fail_times: int = 1
    retry: frozenset[str] = frozenset()
    retry_times: int = 1
    hang: frozenset[str] = frozenset()
    hang_seconds: float = 3600.0
    hang_times: int | None = None
    crash: frozenset[str] = frozenset()
    crash_times: int = 1
    unhealthy_nodes: int = 0

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> _Faults:
        """Parse the ``sim_*`` labels; a bad value is a PermanentError naming the label."""
        hang_times = labels.get("sim_hang_times")
        return cls(
            latency=_seconds(labels, "sim_latency", None),
            fail=_phases(labels, "sim_fail_phase"),
            fail_times=_count(labels, "sim_fail_times", 1),
            retry=_phases(labels, "sim_retry_phase"),
            retry_times=_count(labels, "sim_retry_times", 1),
            hang=_phases(labels, "sim_hang_phase"),
            hang_seconds=_seconds(labels, "sim_hang_seconds", 3600.0) or 0.0,
            hang_times=None if hang_times is None else _count(labels, "sim_hang_times", 0),
            crash=_phases(labels, "sim_crash_phase"),
            crash_times=_count(labels, "sim_crash_times", 1),
            unhealthy_nodes=_count(labels, "sim_unhealthy_nodes", 0),
        )

    def touches(self, phase: str) -> bool:
        return phase in self.fail or phase in self.retry or phase in self.hang


def _phases(labels: Mapping[str, str], key: str) -> frozenset[str]:
    value = labels.get(key, "")
    phases = frozenset(part.strip() for part in value.split(",") if part.strip())
    unknown = sorted(phases - set(PHASES))
    if unknown:
        raise PermanentError(
            f"label {key} names unknown phase {', '.join(unknown)}; the sim driver's phases are {', '.join(PHASES)}"
        )
    return phases


def _count(labels: Mapping[str, str], key: str, default: int) -> int:
    value = labels.get(key)
    if value is None:
        return default
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise PermanentError(f"label {key} must be a whole number of times or nodes, not {value!r} (sim driver)")
    return count


def _seconds(labels: Mapping[str, str], key: str, default: float | None) -> float | None:
    value = labels.get(key)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise PermanentError(f"label {key} must be a number of seconds, not {value!r} (sim driver)")
    return seconds


# --- files --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``path``, a lock file that a holder may unlink.

    After locking, the descriptor must still be the file at ``path``: if a delete
    unlinked it meanwhile, lock the new one instead.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            try:
                current: os.stat_result | None = os.stat(path)
            except FileNotFoundError:
                current = None
        except BaseException:
            os.close(fd)
            raise
        if current is not None and (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
            break
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)  # releases the lock


def _write_atomically(path: Path, text: str) -> None:
    # No fsync: the simulation survives killed processes (the page cache does), not power loss.
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


class _Transaction:
    """One locked read-modify-write of a cluster's state, with an optional injected crash."""

    def __init__(self, path: Path, text: str | None, uuid: str, *, forgiving: bool = False) -> None:
        self.path = path
        self.state = SimClusterState(uuid=uuid)
        try:
            if text:
                self.state = SimClusterState.from_json(text)
        except (PermanentError, ValueError, KeyError, TypeError):
            if not forgiving:  # only a delete may start over from a state it cannot read
                raise
            log.warning("sim: unreadable state file %s is deleted", path)
        self.original = self.state.to_json()
        self.crash_key: str | None = None  # set when this call is to crash
        self.removed = False

    def step(self) -> None:
        """A step of the phase is done; an injected crash happens after the first one is saved."""
        if self.crash_key is None:
            return
        faults = self.state.faults
        faults[self.crash_key] = faults.get(self.crash_key, 0) + 1
        _write_atomically(self.path, self.state.to_json())
        log.warning(
            "sim: cluster %s: simulated crash in phase %s (label sim_crash_phase); exiting with %d",
            self.state.uuid,
            self.crash_key.partition(":")[2],
            CRASH_EXIT_CODE,
        )
        logging.shutdown()
        os._exit(CRASH_EXIT_CODE)

    def remove(self) -> None:
        self.removed = True

    def finish(self) -> None:
        self.step()  # a phase with nothing to do still crashes when told to
        if self.removed:
            for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):
                leftover.unlink(missing_ok=True)
            self.path.unlink(missing_ok=True)
            self.path.with_suffix(".lock").unlink(missing_ok=True)
            return
        text = self.state.to_json()
        if text != self.original:
            _write_atomically(self.path, text)


# --- the driver ---------------------------------------------------------------------------------


class SimDriver(CatalogDriver):
    """SIMULATED clusters: lifecycle calls update a state file; nothing real is built or contacted."""

    name = "sim"
    # Chosen only when a template names it or the operator configured it (drivers/registry.py); the
    # conductor says so in every status_reason of its clusters.
    simulated = True
    provides = (
        Provides("vm", "kubernetes"),
        Provides("bm", "kubernetes"),
        Provides("vm", "swarm-mode"),
        Provides("vm", "swarm"),
    )
    volume_drivers = ("cinder", "local")

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.sim.images, settings.sim.flavors, settings.sim.external_networks)
        self.state_dir = settings.sim.state_dir or settings.data_dir / "sim"
        self.latency = settings.sim.latency_seconds
        self._closed = threading.Event()
        self._dir_ready = False

    def close(self) -> None:
        """End every hang and latency sleep now (they raise RetryableError); later calls don't sleep."""
        self._closed.set()

    def check_master_resize(self, current: int, desired: int) -> None:
        """Any size: simulated masters have no quorum to keep."""

    # lifecycle

    def ensure_infrastructure(self, spec: ClusterSpec) -> None:
        faults = self._begin(spec, "infrastructure")
        with self._transaction(spec.uuid, "infrastructure", faults) as tx:
            if tx.state.network is None:
                tx.state.network = f"10.{_net_octet(spec.uuid)}.0.0/16"
                tx.step()

    def ensure_nodegroup(self, spec: ClusterSpec, nodegroup: NodeGroupSpec) -> NodeGroupObservation:
        phase = "control_plane" if nodegroup.is_master else "workers"
        faults = self._begin(spec, phase)
        with self._transaction(spec.uuid, phase, faults) as tx:
            state = tx.state
            if state.network is None:
                raise RetryableError(
                    f"simulated network of cluster {spec.name} does not exist yet (ensure_infrastructure comes first)",
                    RETRY_DELAY,
                )
            if not nodegroup.is_master and not self._control_plane_up(spec, state):
                raise RetryableError(
                    f"simulated control plane of cluster {spec.name} has no node yet for workers to join",
                    RETRY_DELAY,
                )
            group = state.groups.setdefault(nodegroup.name, SimNodeGroup(role=nodegroup.role))
            group.role = nodegroup.role
            _converge(tx, spec, nodegroup, group)
            return _observe_group(nodegroup.name, group, frozenset())

    def delete_nodegroup(self, spec: ClusterSpec, name: str) -> None:
        self._sleep_latency(self._lenient_faults(spec))
        if _read(self._state_path(spec.uuid)) is None:
            return
        with self._transaction(spec.uuid) as tx:
            tx.state.groups.pop(name, None)

    def ensure_endpoint(self, spec: ClusterSpec) -> str:
        faults = self._begin(spec, "endpoint")
        with self._transaction(spec.uuid, "endpoint", faults) as tx:
            state = tx.state
            if state.endpoint is None:
                if state.network is None or not self._control_plane_up(spec, state):
                    raise RetryableError(
                        f"simulated control plane of cluster {spec.name} has no node yet to publish",
                        RETRY_DELAY,
                    )
                state.endpoint = _api_address(spec)
            state.ca_fingerprint = _ca_fingerprint(spec)
            return _endpoint(spec, state)[0]

    def tls_server_names(self, spec: ClusterSpec) -> list[str]:
        """The simulated endpoint's host (the pki phase adds loopback)."""
        host = _api_address(spec).split("://", 1)[1].rsplit(":", 1)[0]
        return [host]

    def delete_cluster(self, spec: ClusterSpec) -> None:
        faults = self._begin(spec, "delete")
        with self._transaction(spec.uuid, "delete", faults) as tx:
            for name in list(tx.state.groups):
                del tx.state.groups[name]
                tx.step()
            tx.remove()

    def leftovers(self, spec: ClusterSpec) -> str:
        return f"the simulated state file of cluster {spec.uuid} in {self.state_dir}"

    def cancel(self, cluster_uuid: str) -> None:
        """Nothing to stop: a simulated call in flight ends by itself."""

    def observe(self, spec: ClusterSpec) -> ClusterObservation:
        faults = self._lenient_faults(spec)
        self._sleep_latency(faults)
        text = _read(self._state_path(spec.uuid))
        if text is None:
            return ClusterObservation(
                api_address=None,
                api_ok=False,
                nodegroups=tuple(NodeGroupObservation(ng.name, ()) for ng in spec.nodegroups),
                api_reason="the simulated cluster does not exist (never built, or deleted)",
            )
        state = SimClusterState.from_json(text)
        unhealthy = frozenset(_first_worker_nodes(spec, state, faults.unhealthy_nodes))
        names = [ng.name for ng in spec.nodegroups]
        names += [name for name in state.groups if name not in names]
        coe = canonical_coe(spec.coe)
        coe_version = spec.labels.get("kube_tag") if coe == "kubernetes" else None
        registry = None
        if spec.registry_enabled and state.endpoint is not None:
            host = f"sim-{spec.uuid.replace('-', '')[:8]}-registry.invalid"
            registry = RegistryObservation(f"{host}:5000", f"{host}:5443", True, SIMULATED_REGISTRY)
        address, endpoint, answers = _endpoint(spec, state) if state.endpoint else (None, "", False)
        if state.endpoint is None:
            reason = "the simulated endpoint is not published yet"
        else:
            reason = "" if answers else f"{address} does not answer a client: no simulated manager is alive behind it"
        return ClusterObservation(
            api_address=address,
            api_ok=answers,
            registry=registry,
            nodegroups=tuple(
                _observe_group(name, state.groups.get(name) or SimNodeGroup(role=""), unhealthy) for name in names
            ),
            coe_version=coe_version or _COE_VERSIONS.get(coe),
            api_reason=reason,
            endpoint=endpoint,
            managers=tuple(
                ManagerObservation(n.name, n.alive, "" if n.alive else "simulated node failure (kill_node)")
                for n in _masters(spec, state)
            ),
        )

    # containers (SIMULATED: no process runs; each container is a record on a simulated node)

    def create_container(self, bay: Bay, container: ContainerSpec) -> ContainerState:
        if self.read_state(bay.uuid) is None:
            raise ConflictError(f"The simulated bay {bay.name} has no live worker node to put the container on.")
        with self._transaction(bay.uuid) as tx:
            nodes = _worker_nodes(tx.state)
            if not nodes:
                raise ConflictError(f"The simulated bay {bay.name} has no live worker node to put the container on.")
            placed = tx.state.containers
            node = min(nodes, key=lambda n: (placed.get(n.name, 0), n.name))
            placed[node.name] = placed.get(node.name, 0) + 1
        return ContainerState(STOPPED, SIMULATED_CONTAINER, node.name)

    def container_action(self, bay: Bay, container: ContainerRef, action: str) -> ContainerState:
        seen = self._container_state(bay, container)
        if seen.status in (ERROR, UNKNOWN):
            raise ConflictError(f"Cannot {action} container {container.uuid}: {seen.reason}")
        refused = refusal(action, seen.status)
        if refused is not None:
            raise ConflictError(refused)
        return ContainerState(ACTIONS[action], SIMULATED_CONTAINER, container.host)

    def container_logs(self, bay: Bay, container: ContainerRef) -> str:
        return f"(simulated container on simulated node {container.host}: no process ran, so there are no logs)"

    def execute_in_container(self, bay: Bay, container: ContainerRef, command: str) -> ExecResult:
        return ExecResult(f"(simulated: {command!r} did not run; the sim driver runs no process)", 0)

    def delete_container(self, bay: Bay, container: ContainerRef) -> None:
        if container.host is None or self.read_state(bay.uuid) is None:
            return
        with self._transaction(bay.uuid) as tx:
            placed = tx.state.containers
            if placed.get(container.host, 0) > 1:
                placed[container.host] -= 1
            else:
                placed.pop(container.host, None)

    def observe_containers(self, bay: Bay, containers: Sequence[ContainerRef]) -> dict[str, ContainerState]:
        return {c.uuid: self._container_state(bay, c) for c in containers}

    def _container_state(self, bay: Bay, container: ContainerRef) -> ContainerState:
        state = self.read_state(bay.uuid)
        if state is None:
            return ContainerState(ERROR, "the simulated bay does not exist (never built, or deleted)", container.host)
        for group in state.groups.values():
            for node in group.nodes:
                if node.name == container.host:
                    if not node.alive:
                        return ContainerState(UNKNOWN, f"simulated node {node.name} is down", node.name)
                    return ContainerState(container.status, SIMULATED_CONTAINER, node.name)
        return ContainerState(
            ERROR,
            f"node {container.host} was removed from the bay (resize or autoheal); the container went with it",
            container.host,
        )

    def observe_workload(self, spec: ClusterSpec, timeout: float) -> Workload:
        """SIMULATED: the services' replicas placed first fit on the ready worker nodes."""
        self._begin(spec, "workload")
        state = self.read_state(spec.uuid)
        if state is None:
            return Workload()
        services = state.services if state.services is not None else _services_label(spec.labels)
        unhealthy = frozenset(_first_worker_nodes(spec, state, self._lenient_faults(spec).unhealthy_nodes))
        slots: list[tuple[SimNode, autoscaling.Group, list[float]]] = []
        for ng in spec.workers:
            flavor = self.flavor_of(ng.flavor) if ng.flavor else None
            labels = {**ng.node_labels, autoscaling.NODEGROUP_NODE_LABEL: ng.name}
            group = autoscaling.Group(ng.name, ng.node_count, autoscaling.Bounds(0, 0), None, labels)
            for node in state.nodes(ng.name):
                if node.alive and node.name not in unhealthy and flavor is not None:
                    slots.append((node, group, [flavor.vcpus, float(flavor.ram)]))
        running: dict[str, int] = {node.name: 0 for node, _, _ in slots}
        pending: list[PendingTask] = []
        for service in services:
            cpu, memory = float(service["cpu"]), float(service["memory_mib"])
            constraints = tuple(service.get("constraints", ()))
            since = datetime.fromtimestamp(float(service.get("since", 0)), UTC)
            for _ in range(int(service["replicas"])):
                allowed = [s for s in slots if all(autoscaling.satisfies(c, s[1]) for c in constraints)]
                home = next((s for s in allowed if cpu <= s[2][0] + 1e-9 and memory <= s[2][1]), None)
                if home is None:
                    reason = "insufficient resources" if allowed else "scheduling constraints not satisfied"
                    pending.append(
                        PendingTask(service["name"], Resources(cpu, int(memory)), constraints, reason, since)
                    )
                    continue
                home[2][0] -= cpu
                home[2][1] -= memory
                running[home[0].name] += 1
        nodegroup_of = {node.name: group.name for node, group, _ in slots}
        protected = set(state.protected)
        return Workload(
            pending=tuple(pending),
            nodes=tuple(
                NodeLoad(name, nodegroup_of[name], count, protected=name in protected)
                for name, count in running.items()
            ),
        )

    # helpers for tests and benchmarks

    def set_service(
        self,
        cluster_uuid: str,
        name: str,
        replicas: int,
        cpu: float = 0.0,
        memory_mib: int = 0,
        constraints: tuple[str, ...] = (),
    ) -> None:
        """Run (or rescale, or with 0 replicas stop) a SIMULATED replicated service in the cluster."""
        with self._transaction(cluster_uuid) as tx:
            services = [s for s in (tx.state.services or []) if s["name"] != name]
            if replicas > 0:
                services.append(
                    {"name": name, "replicas": replicas, "cpu": cpu, "memory_mib": memory_mib,
                     "constraints": list(constraints), "since": time.time()}
                )  # fmt: skip
            tx.state.services = services

    def protect_node(self, cluster_uuid: str, node_name: str, protected: bool = True) -> None:
        """Give (or take) a simulated node the autoscaler's scale-down protection label."""
        with self._transaction(cluster_uuid) as tx:
            names = set(tx.state.protected)
            (names.add if protected else names.discard)(node_name)
            tx.state.protected = sorted(names)

    def kill_node(self, cluster_uuid: str, node_name: str) -> None:
        """Mark a simulated node dead (its machine 'failed'); the next ensure_nodegroup replaces it."""
        if _read(self._state_path(cluster_uuid)) is None:
            raise LookupError(f"simulated cluster {cluster_uuid} does not exist")
        with self._transaction(cluster_uuid) as tx:
            for group in tx.state.groups.values():
                for node in group.nodes:
                    if node.name == node_name:
                        node.alive = False
                        return
            raise LookupError(f"simulated cluster {cluster_uuid} has no node {node_name}")

    def read_state(self, cluster_uuid: str) -> SimClusterState | None:
        """The simulated cluster's state as last saved, or None when there is none."""
        text = _read(self._state_path(cluster_uuid))
        return SimClusterState.from_json(text) if text else None

    # internals

    def _state_path(self, uuid: str) -> Path:
        if not _SAFE_NAME.match(uuid):
            raise PermanentError(f"cluster uuid {uuid!r} cannot name a simulated state file")
        return self.state_dir / f"{uuid}.json"

    @contextlib.contextmanager
    def _transaction(
        self, uuid: str, phase: str | None = None, faults: _Faults | None = None
    ) -> Iterator[_Transaction]:
        path = self._state_path(uuid)
        if not self._dir_ready:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._dir_ready = True
        with _exclusive(path.with_suffix(".lock")):
            tx = _Transaction(path, _read(path), uuid, forgiving=phase == "delete")
            if phase is not None and faults is not None and phase in faults.crash:
                key = f"crash:{phase}"
                if tx.state.faults.get(key, 0) < faults.crash_times:
                    tx.crash_key = key
            yield tx
            tx.finish()

    def _begin(self, spec: ClusterSpec, phase: str) -> _Faults:
        """Parse the labels, sleep the latency, and apply fail/retry/hang faults of ``phase``."""
        faults = self._lenient_faults(spec) if phase == "delete" else _Faults.from_labels(spec.labels)
        self._sleep_latency(faults)
        if not faults.touches(phase):
            return faults
        error: Exception | None = None
        hang = False
        with self._transaction(spec.uuid, phase) as tx:
            counts = tx.state.faults
            if phase in faults.fail and counts.get(f"fail:{phase}", 0) < faults.fail_times:
                counts[f"fail:{phase}"] = counts.get(f"fail:{phase}", 0) + 1
                error = PermanentError(f"simulated failure in phase {phase} (label sim_fail_phase)")
            elif phase in faults.retry and counts.get(f"retry:{phase}", 0) < faults.retry_times:
                counts[f"retry:{phase}"] = done = counts.get(f"retry:{phase}", 0) + 1
                error = RetryableError(
                    f"simulated transient failure in phase {phase} "
                    f"(label sim_retry_phase, {done} of {faults.retry_times})",
                    RETRY_DELAY,
                )
            elif phase in faults.hang and (
                faults.hang_times is None or counts.get(f"hang:{phase}", 0) < faults.hang_times
            ):
                counts[f"hang:{phase}"] = counts.get(f"hang:{phase}", 0) + 1
                hang = True
        if error is not None:
            log.info("sim: cluster %s: %s", spec.uuid, error)
            raise error
        if hang:
            log.warning(
                "sim: cluster %s hangs in phase %s for %s s (label sim_hang_phase)",
                spec.uuid,
                phase,
                faults.hang_seconds,
            )
            if not self._sleep(faults.hang_seconds):
                raise RetryableError(
                    f"simulated hang in phase {phase} (label sim_hang_phase) was interrupted: the process is stopping",
                    RETRY_DELAY,
                )
        return faults

    def _lenient_faults(self, spec: ClusterSpec) -> _Faults:
        """Faults for calls that must work whatever the labels: bad labels count as none."""
        try:
            return _Faults.from_labels(spec.labels)
        except PermanentError:
            return _Faults()

    def _sleep_latency(self, faults: _Faults) -> None:
        seconds = self.latency if faults.latency is None else faults.latency
        if not self._sleep(seconds):
            raise RetryableError("simulated call interrupted: the process is stopping", RETRY_DELAY)

    def _sleep(self, seconds: float) -> bool:
        """Sleep in short steps; False when interrupted by close() or the main thread finishing."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if self._closed.is_set() or _process_stopping():
                return False
            self._closed.wait(min(remaining, _SLEEP_STEP))
        return True

    @staticmethod
    def _control_plane_up(spec: ClusterSpec, state: SimClusterState) -> bool:
        masters = spec.masters
        return not masters or any(node.alive for ng in masters for node in state.nodes(ng.name))


def _services_label(labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Label ``sim_services``: ``name:replicas:cpu:memory_mib`` items separated by ``;``."""
    services = []
    for item in str(labels.get("sim_services", "")).split(";"):
        if not item.strip():
            continue
        try:
            name, replicas, cpu, memory = (part.strip() for part in item.split(":"))
            services.append({"name": name, "replicas": int(replicas), "cpu": float(cpu), "memory_mib": int(memory)})
        except ValueError:
            raise PermanentError(
                f"label sim_services must be name:replicas:cpu:memory_mib items separated by ';', not {item!r}"
            ) from None
    return services


def _process_stopping() -> bool:
    """True once the interpreter has begun to exit (before it joins worker threads)."""
    # _SHUTTING_DOWN is set before threading's exit hooks join ThreadPoolExecutor workers
    # (Python 3.11+); the main thread counts as finished only after them.
    return bool(getattr(threading, "_SHUTTING_DOWN", False)) or not threading.main_thread().is_alive()


# --- convergence --------------------------------------------------------------------------------


def _converge(tx: _Transaction, spec: ClusterSpec, nodegroup: NodeGroupSpec, group: SimNodeGroup) -> None:
    """Make ``group`` ``node_count`` live nodes of the nodegroup's image and flavor, saving step by step."""
    for dead in [node for node in group.nodes if not node.alive]:
        group.nodes.remove(dead)
        group.dead_replaced += 1
        tx.step()
    excess = len(group.nodes) - nodegroup.node_count
    if excess > 0:
        for victim in _victims(group.nodes, nodegroup.nodes_to_remove, excess):
            group.nodes.remove(victim)
            tx.step()
    while len(group.nodes) < nodegroup.node_count:
        group.nodes.append(_new_node(tx.state, spec, nodegroup, group))
        tx.step()
    target = (nodegroup.image, nodegroup.flavor)
    stale = [node for node in group.nodes if (node.image, node.flavor) != target]
    if stale and (group.rollout is None or (group.rollout.image, group.rollout.flavor) != target):
        group.rollout = SimRollout(nodegroup.image, nodegroup.flavor)
    batch_size = max(1, nodegroup.max_batch_size)
    while stale and group.rollout is not None:
        batch, stale = stale[:batch_size], stale[batch_size:]
        for old in batch:  # surge: the replacement exists before the old node goes
            group.nodes.append(_new_node(tx.state, spec, nodegroup, group))
            group.nodes.remove(old)
        group.rollout.batches += 1
        tx.step()
    if group.rollout is not None:
        group.last_rollout, group.rollout = group.rollout, None


def _victims(nodes: list[SimNode], preferred: tuple[str, ...], count: int) -> list[SimNode]:
    """``count`` nodes to remove: those named in ``preferred`` first, then the newest."""
    by_name = {node.name: node for node in nodes}
    chosen = [by_name[name] for name in dict.fromkeys(preferred) if name in by_name][:count]
    names = {node.name for node in chosen}
    newest_first = sorted((node for node in nodes if node.name not in names), key=lambda n: n.index, reverse=True)
    return chosen + newest_first[: count - len(chosen)]


def _new_node(state: SimClusterState, spec: ClusterSpec, nodegroup: NodeGroupSpec, group: SimNodeGroup) -> SimNode:
    index, host = group.next_index, state.next_host
    group.next_index += 1
    state.next_host += 1
    hi, lo = divmod(host % _HOSTS, 250)
    return SimNode(
        name=f"{spec.name}-{nodegroup.name}-{index}",
        index=index,
        address=f"10.{_net_octet(spec.uuid)}.{hi}.{lo + 2}",
        image=nodegroup.image,
        flavor=nodegroup.flavor,
    )


def _observe_group(name: str, group: SimNodeGroup, unhealthy: frozenset[str]) -> NodeGroupObservation:
    def node(sim: SimNode) -> NodeObservation:
        if not sim.alive:
            return NodeObservation(sim.name, sim.address, False, "simulated node failure (kill_node)")
        if sim.name in unhealthy:
            return NodeObservation(sim.name, sim.address, False, "simulated: not ready (label sim_unhealthy_nodes)")
        return NodeObservation(sim.name, sim.address, True)

    return NodeGroupObservation(name, tuple(node(sim) for sim in group.nodes))


def _first_worker_nodes(spec: ClusterSpec, state: SimClusterState, count: int) -> list[str]:
    names = [node.name for ng in spec.workers for node in state.nodes(ng.name)]
    return names[:count]


def _net_octet(uuid: str) -> int:
    """The second octet of the cluster's fake 10.x.0.0/16 (stable across processes)."""
    return hashlib.sha256(uuid.encode()).digest()[0] % 254 + 1


def _ca_fingerprint(spec: ClusterSpec) -> str | None:
    """What the simulated endpoint 'installed': the fingerprint of the CA it was given, if any."""
    if spec.tls is None:
        return None
    body = "".join(line for line in spec.tls.ca_cert_pem.splitlines() if line and not line.startswith("-----"))
    return hashlib.sha256(base64.b64decode(body)).hexdigest()


def _api_address(spec: ClusterSpec, offset: int = 0) -> str:
    coe = canonical_coe(spec.coe)
    if coe not in _ENDPOINTS:
        raise PermanentError(f"the sim driver does not simulate coe {spec.coe}; it simulates kubernetes and swarm")
    scheme, port = _ENDPOINTS[coe]
    return f"{scheme}://sim-{spec.uuid.replace('-', '')[:8]}.invalid:{port + offset}"


def _masters(spec: ClusterSpec, state: SimClusterState) -> list[SimNode]:
    return sorted((n for ng in spec.masters for n in state.nodes(ng.name)), key=lambda n: n.index)


def _endpoint(spec: ClusterSpec, state: SimClusterState) -> tuple[str, str, bool]:
    """SIMULATED endpoint: (api_address, what it leads to, whether it answers). With
    master_lb_enabled a front on the cluster's port leads to any live master; without, each master
    "publishes" the port plus its index and the endpoint is the first live one's, as the docker
    driver does with its managers."""
    masters = _masters(spec, state)
    live = [n for n in masters if n.alive]
    if not masters:
        return _api_address(spec), "the simulated endpoint", True
    if spec.master_lb_enabled:
        return _api_address(spec), f"the simulated API front of {len(masters)} managers", bool(live)
    chosen = (live or masters)[0]
    down = [n.name for n in masters if n.index < chosen.index and not n.alive]
    note = f"simulated manager {chosen.name}" + (
        f", the first that answers ({', '.join(down)} does not)" if down and live else ""
    )
    return _api_address(spec, chosen.index), note, chosen.alive


def _worker_nodes(state: SimClusterState) -> list[SimNode]:
    """Live nodes of worker nodegroups (of any nodegroup when the bay has no worker)."""
    workers = [n for g in state.groups.values() if g.role != "master" for n in g.nodes if n.alive]
    return workers or [n for g in state.groups.values() for n in g.nodes if n.alive]
