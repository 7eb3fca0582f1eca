"""Node containers: each node is a Docker-in-Docker container on the cluster's engine.

Nodes are near-privileged rather than ``--privileged`` (which needs
CAP_SYS_RESOURCE, missing on some hosts): every capability but SYS_RESOURCE,
no seccomp/AppArmor profile, no masked or read-only /proc and /sys paths, all
devices. The nested Docker keeps its state on a named volume (overlay2 cannot
stack on the container's own overlay root), so a restarted node comes back as
the same swarm node.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import math
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from docker import DockerClient
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from jeroboam.config import DockerDriverSettings, FlavorSettings
from jeroboam.domain.specs import ClusterSpec, NodeGroupSpec, TlsMaterial
from jeroboam.drivers.docker import labels
from jeroboam.drivers.docker.client import ENGINE_ERRORS
from jeroboam.drivers.docker.image import (
    REGISTRY_PORT,
    WORKLOAD_IMAGE,
    ImageBuildError,
    image_archive,
    workload_image,
)
from jeroboam.drivers.docker.placement import Home, unreachable
from jeroboam.errors import PermanentError, RetryableError

log = logging.getLogger(__name__)

TLS_PORT = 2376
CERT_DIR = "/certs"
PRELOAD_DIR = "/preload"
NODE_ENV = {"DOCKERD_ARGS": "--storage-driver overlay2"}
# A cluster without a registry: tasks use the image already loaded into the node instead of asking a
# registry first (a cluster with one must let them pull, so its nodes go without).
OFFLINE_ENV = {"DOCKER_SERVICE_PREFER_OFFLINE_IMAGE": "1"}


class PortTakenError(Exception):
    """The chosen host port is in use; pick another."""


@dataclass(frozen=True)
class Node:
    """A node container as found on the engine (its labels say what it is)."""

    container: Container
    name: str
    nodegroup: str
    role: str
    index: int
    slot: int | None
    template: str
    image: str
    flavor: str
    api_port: int | None

    @classmethod
    def of(cls, container: Container) -> Node:
        tags = container.labels
        slot = tags.get(labels.SLOT)
        port = tags.get(labels.API_PORT)
        return cls(
            container=container,
            name=str(tags.get(labels.NODE, container.name)),
            nodegroup=tags.get(labels.NODEGROUP, ""),
            role=tags.get(labels.ROLE, labels.WORKER),
            index=int(tags.get(labels.INDEX, "0")),
            slot=int(slot) if slot is not None else None,
            template=tags.get(labels.TEMPLATE, ""),
            image=tags.get(labels.IMAGE, ""),
            flavor=tags.get(labels.FLAVOR, ""),
            api_port=int(port) if port else None,
        )

    @property
    def state(self) -> str:
        state = self.container.attrs.get("State", {})
        if state.get("Paused"):
            return "paused"
        return str(state.get("Status", "unknown"))

    @property
    def running(self) -> bool:
        return self.state == "running"

    def address(self, network: str) -> str | None:
        nets = self.container.attrs.get("NetworkSettings", {}).get("Networks", {})
        address = (nets.get(network) or {}).get("IPAddress")
        return str(address) if address else None


def tar_of(files: dict[str, tuple[bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, (data, mode) in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def flavor_env(flavor: FlavorSettings | None) -> dict[str, str]:
    """What the node entrypoint needs to advertise the flavor to swarm (whole CPUs, at least one)."""
    if flavor is None:
        return {}
    return {"NODE_MEMORY_MIB": str(flavor.ram), "NODE_CPUS": str(max(1, math.ceil(flavor.vcpus)))}


def run_in(container: Container, command: list[str]) -> tuple[int, str]:
    """Run a command inside a node; its exit code and output (stdout and stderr)."""
    result = container.exec_run(command)
    output = result.output if isinstance(result.output, bytes) else b"".join(result.output)
    return int(result.exit_code or 0), output.decode(errors="replace").strip()


def fingerprint(tls: TlsMaterial) -> str:
    return hashlib.sha256((tls.ca_cert_pem + tls.server_cert_pem).encode()).hexdigest()


def registry_address(home: Home) -> str:
    """Where the nodes of a cluster with a registry pull from (``cluster_registry``)."""
    return f"{home.registry_ip}:{REGISTRY_PORT}"


def trust_registry(home: Home, container: Container, tls: TlsMaterial) -> None:
    """Make a node's engine trust its cluster's registry: the cluster's CA in the engine's certs.d for
    the registry's address (read at each pull, so a rotated CA takes effect without a restart)."""
    path = f"etc/docker/certs.d/{registry_address(home)}/ca.crt"
    container.put_archive("/", tar_of({path: (tls.ca_cert_pem.encode(), 0o644)}))


def installed_fingerprint(container: Container) -> str | None:
    """The ``fingerprint`` of the TLS material last installed in a container's /certs (None: none)."""
    try:
        stream, _ = container.get_archive(f"{CERT_DIR}/fingerprint")
    except NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile("fingerprint")
        return member.read().decode() if member else None


class Nodes:
    def __init__(self, settings: DockerDriverSettings, flavors: dict[str, FlavorSettings], cache_dir: Path) -> None:
        self.settings = settings
        self.flavors = flavors
        self.cache_dir = cache_dir

    # -- reading ---------------------------------------------------------------------------------
    def list(self, home: Home, cluster_uuid: str) -> list[Node]:
        for _ in range(3):
            try:
                found = home.engine.client.containers.list(all=True, filters=labels.of_cluster(cluster_uuid))
            except NotFound:
                continue  # removed between the listing and its inspection: list again
            except ENGINE_ERRORS as exc:
                raise unreachable(home.engine.settings, exc) from exc
            # the registry and the API front are no nodes
            nodes = (Node.of(c) for c in found if c.labels.get(labels.ROLE) not in (labels.REGISTRY, labels.FRONT))
            return sorted(nodes, key=lambda n: (n.nodegroup, n.index))
        raise RetryableError(f"the nodes of cluster {cluster_uuid} kept changing while being listed", 1)

    # -- creating --------------------------------------------------------------------------------
    def create(
        self,
        home: Home,
        spec: ClusterSpec,
        group: NodeGroupSpec,
        index: int,
        image: str,
        *,
        slot: int | None = None,
        api_port: int | None = None,
    ) -> Node:
        """Create and start a node; managers get a fixed address, their certificates and a published port."""
        node = labels.node_name(spec.name, group.name, index)
        name = labels.container_name(spec.uuid, node)
        tags = {
            labels.CLUSTER: spec.uuid,
            labels.PROJECT: spec.project_id,
            labels.NODEGROUP: group.name,
            labels.ROLE: labels.MANAGER if group.is_master else labels.WORKER,
            labels.INDEX: str(index),
            labels.NODE: node,
            labels.TEMPLATE: spec.template_id,
            labels.IMAGE: group.image,
            labels.FLAVOR: group.flavor or "",
        }
        if slot is not None:
            tags[labels.SLOT] = str(slot)
        if api_port is not None:
            tags[labels.API_PORT] = str(api_port)
        api = home.engine.client.api
        volume = labels.volume_name(name)
        self._volume(home, volume, tags, group)
        flavor = self.flavors.get(group.flavor or "")
        host_config = api.create_host_config(
            cap_add=["ALL"],
            cap_drop=["SYS_RESOURCE"],
            security_opt=["seccomp=unconfined", "apparmor=unconfined"],
            device_cgroup_rules=["a *:* rwm"],
            binds={volume: {"bind": "/var/lib/docker", "mode": "rw"}},
            port_bindings={TLS_PORT: (home.engine.settings.publish_address, api_port)} if api_port else None,
            restart_policy={"Name": "unless-stopped"},
            nano_cpus=int(flavor.vcpus * 1e9) if flavor else None,
            mem_limit=f"{flavor.ram}m" if flavor else None,
        )
        host_config.update({"MaskedPaths": [], "ReadonlyPaths": []})  # the CLI's systempaths=unconfined
        endpoint = api.create_endpoint_config(ipv4_address=home.manager_address(slot) if slot is not None else None)
        try:
            created = api.create_container(
                image,
                name=name,
                hostname=node,
                labels=tags,
                environment={**NODE_ENV, **({} if spec.registry_enabled else OFFLINE_ENV), **flavor_env(flavor)},
                host_config=host_config,
                networking_config=api.create_networking_config({str(home.network.name): endpoint}),  # type: ignore[arg-type]
                ports=[TLS_PORT] if api_port else None,
                healthcheck={
                    "Test": ["CMD", "docker", "version"],
                    "Interval": 5_000_000_000,
                    "Timeout": 3_000_000_000,
                    "Retries": 3,
                },
            )
        except APIError as exc:
            if exc.status_code == 409:  # made by an earlier, interrupted pass: use it
                container = home.engine.client.containers.get(name)
                return self._start(home, Node.of(container), spec)
            raise RetryableError(f"could not create node {node} on engine {home.engine.name}: {exc}", 5) from exc
        container = home.engine.client.containers.get(created["Id"])
        return self._start(home, Node.of(container), spec)

    def _volume(self, home: Home, volume: str, tags: dict[str, str], group: NodeGroupSpec) -> None:
        options: dict[str, str] = {}
        if self.settings.node_storage == "tmpfs":
            size = f",size={group.docker_volume_size}g" if group.docker_volume_size else ""
            options = {"type": "tmpfs", "device": "tmpfs", "o": f"exec{size}"}
        home.engine.client.volumes.create(volume, driver="local", driver_opts=options, labels=tags)

    def _start(self, home: Home, node: Node, spec: ClusterSpec) -> Node:
        if node.role == labels.MANAGER and spec.tls is not None:
            self.install_certs(node, spec.tls)
        if spec.registry_enabled and spec.tls is not None:
            trust_registry(home, node.container, spec.tls)
        try:
            node.container.start()
        except APIError as exc:
            text = str(exc).lower()
            if "port is already allocated" in text or "address already in use" in text:
                self.remove(node)
                raise PortTakenError(str(exc)) from exc
            raise RetryableError(f"could not start node {node.name}: {exc}", 5) from exc
        node.container.reload()
        return Node.of(node.container)

    def install_certs(self, node: Node, tls: TlsMaterial) -> None:
        """The manager's TLS endpoint material (read by the node's entrypoint at start)."""
        node.container.put_archive(
            "/",
            tar_of(
                {
                    f"{CERT_DIR[1:]}/ca.pem": (tls.ca_cert_pem.encode(), 0o644),
                    f"{CERT_DIR[1:]}/server-cert.pem": (tls.server_cert_pem.encode(), 0o644),
                    f"{CERT_DIR[1:]}/server-key.pem": (tls.server_key_pem.encode(), 0o600),
                    f"{CERT_DIR[1:]}/fingerprint": (fingerprint(tls).encode(), 0o644),
                }
            ),
        )

    def installed_fingerprint(self, node: Node) -> str | None:
        return installed_fingerprint(node.container)

    def wait_ready(self, node: Node) -> None:
        """Until the node's own Docker engine answers (bounded by ``node_ready_timeout``)."""
        deadline = time.monotonic() + self.settings.node_ready_timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                code, output = run_in(node.container, ["docker", "version", "--format", "{{.Server.Version}}"])
            except APIError as exc:
                last = str(exc)
                node.container.reload()
                if node.container.status not in ("running", "created", "restarting"):
                    break
            else:
                if code == 0:
                    return
                last = output[-200:]
            time.sleep(0.1)
        raise RetryableError(
            f"the Docker engine of node {node.name} did not answer within "
            f"{self.settings.node_ready_timeout:.0f} s ({last or 'no answer'})",
            2,
        )

    def preload(self, home: Home, node: Node) -> None:
        """Load the ``preload_images`` into the node before it joins, so no task lands on a node
        that lacks its image (without a registry it could never pull it)."""
        for ref in self.settings.preload_images:
            self.load(home, node, ref)

    def load(self, home: Home, node: Node, ref: str) -> None:
        """Copy image ``ref`` of the engine into the node's own Docker engine."""
        archive = self._archive(home, ref)
        inside = f"{PRELOAD_DIR}/{archive.name}"
        node.container.put_archive("/", tar_of({inside[1:]: (archive.read_bytes(), 0o644)}))
        code, output = run_in(node.container, ["sh", "-c", f"docker load -q -i {inside} && rm -f {inside}"])
        if code != 0:
            raise RetryableError(f"could not load image {ref} into node {node.name}: {output[-200:]}", 2)

    def _archive(self, home: Home, ref: str) -> Path:
        client = home.engine.client
        try:
            client.images.get(ref)
        except NotFound:
            if ref != WORKLOAD_IMAGE:
                raise PermanentError(
                    f"Image {ref} of [docker] preload_images is not on Docker engine {home.engine.name}; "
                    "load it there (docker load / docker pull) or remove it from the setting."
                ) from None
            try:
                workload_image(client, progress=lambda line: log.info("%s", line))
            except ImageBuildError as exc:
                raise PermanentError(str(exc)) from exc
        return Path(image_archive(client, ref, self.cache_dir))

    # -- removing --------------------------------------------------------------------------------
    def remove(self, node: Node) -> None:
        """The container, its anonymous volumes and its named node volume."""
        volume = labels.volume_name(str(node.container.name))
        with contextlib.suppress(NotFound):
            node.container.remove(force=True, v=True)
        client = node.container.client
        if client is not None:
            remove_volume(client, volume)


def remove_volume(client: DockerClient, name: str) -> None:
    for _ in range(20):
        try:
            client.volumes.get(name).remove(force=True)
            return
        except NotFound:
            return
        except APIError as exc:
            if "in use" not in str(exc):
                raise
            time.sleep(0.1)  # the container's removal is still releasing it
