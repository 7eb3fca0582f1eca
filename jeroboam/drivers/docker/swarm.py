"""A cluster's swarm, driven through its managers' published TLS API (as a user could)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import docker
from docker.errors import APIError, NotFound

from jeroboam.drivers.docker.client import ENGINE_ERRORS
from jeroboam.drivers.docker.nodes import Node, run_in
from jeroboam.errors import RetryableError

log = logging.getLogger(__name__)

SWARM_PORT = 2377
# Taint effect -> swarm availability: NoSchedule keeps running tasks, NoExecute moves them away.
AVAILABILITY_OF_TAINT = {"NoSchedule": "pause", "NoExecute": "drain"}


@dataclass(frozen=True)
class SwarmNode:
    id: str
    hostname: str
    state: str  # ready / down / unknown / disconnected
    availability: str
    role: str
    labels: dict[str, str]
    version: int
    message: str
    reachability: str | None

    @classmethod
    def of(cls, attrs: dict[str, Any]) -> SwarmNode:
        spec, status = attrs.get("Spec", {}), attrs.get("Status", {})
        manager = attrs.get("ManagerStatus") or {}
        return cls(
            id=attrs["ID"],
            hostname=attrs.get("Description", {}).get("Hostname", ""),
            state=status.get("State", "unknown"),
            availability=spec.get("Availability", "active"),
            role=spec.get("Role", "worker"),
            labels=dict(spec.get("Labels") or {}),
            version=int(attrs.get("Version", {}).get("Index", 0)),
            message=status.get("Message", ""),
            reachability=manager.get("Reachability"),
        )


class Swarm:
    def __init__(self, client: docker.DockerClient, heartbeat_seconds: float) -> None:
        self.client = client
        self.heartbeat_seconds = heartbeat_seconds

    def _call(self, what: str, call: Any) -> Any:
        try:
            return call()
        except ENGINE_ERRORS as exc:
            raise RetryableError(f"the swarm manager API did not answer while {what}: {exc}", 2) from exc

    def read(self, what: str, call: Any) -> Any:
        """A read of the swarm's state; an unanswered call is a RetryableError saying ``what``."""
        return self._call(what, call)

    def ping(self) -> tuple[bool, str]:
        try:
            self.client.ping()
            return True, ""
        except ENGINE_ERRORS as exc:
            return False, f"manager API unreachable: {type(exc).__name__}"

    def version(self) -> str | None:
        try:
            return str(self.client.version().get("Version"))
        except ENGINE_ERRORS:
            return None

    def active(self) -> bool:
        info = self._call("reading the swarm state", self.client.info)
        return bool(info.get("Swarm", {}).get("LocalNodeState") == "active")

    def init(self, address: str) -> None:
        if self.active():
            return
        self._call(
            "initialising the swarm",
            lambda: self.client.swarm.init(
                advertise_addr=address,
                listen_addr=f"0.0.0.0:{SWARM_PORT}",
                dispatcher_heartbeat_period=int(self.heartbeat_seconds * 1e9),
            ),
        )
        log.info("swarm initialised on %s", address)

    def join_token(self, role: str) -> str:
        self.client.swarm.reload()
        tokens = self.client.swarm.attrs.get("JoinTokens", {})
        return str(tokens["Manager" if role == "manager" else "Worker"])

    def nodes(self) -> dict[str, SwarmNode]:
        """Swarm nodes by hostname (the newest entry when a hostname appears twice)."""
        found: dict[str, SwarmNode] = {}
        raw = self._call("listing nodes", lambda: self.client.api.nodes())
        for attrs in sorted(raw, key=lambda a: a.get("CreatedAt", "")):
            node = SwarmNode.of(attrs)
            found[node.hostname] = node
        return found

    def wait_all_ready(self, timeout: float) -> None:
        """Until every swarm node is ready again (bounded; a node still down is the health check's)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if all(node.state == "ready" for node in self.nodes().values()):
                    return
            except RetryableError:
                pass
            time.sleep(0.2)

    def configure(self, node: SwarmNode, availability: str, node_labels: dict[str, str]) -> None:
        if node.availability == availability and node.labels == node_labels:
            return
        spec: Any = {"Availability": availability, "Role": node.role, "Labels": node_labels}
        self._call("labelling a node", lambda: self.client.api.update_node(node.id, node.version, spec))

    def drain(self, node: SwarmNode, timeout: float) -> None:
        """Move the node's tasks away (bounded: a workload may ignore its stop signal)."""
        if node.availability != "drain":
            spec: Any = {"Availability": "drain", "Role": node.role, "Labels": node.labels}
            try:
                self.client.api.update_node(node.id, node.version, spec)
            except ENGINE_ERRORS as exc:
                log.info("could not drain %s (%s); removing it anyway", node.hostname, exc)
                return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                tasks = self.client.api.tasks(filters={"node": node.id, "desired-state": "running"})  # type: ignore[no-untyped-call]
            except ENGINE_ERRORS:
                return
            if not tasks:
                return
            time.sleep(0.2)
        log.info("node %s still had tasks after %.0f s of draining; removing it", node.hostname, timeout)

    def demote(self, node: SwarmNode) -> None:
        spec: Any = {"Availability": node.availability, "Role": "worker", "Labels": node.labels}
        self._call("demoting a manager", lambda: self.client.api.update_node(node.id, node.version, spec))

    def wait_demoted(self, hostname: str, timeout: float) -> None:
        """Until the swarm no longer counts ``hostname`` among its managers (bounded: retried later)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            node = self.nodes().get(hostname)
            if node is None or (node.role == "worker" and node.reachability is None):
                return
            time.sleep(0.2)
        raise RetryableError(f"manager {hostname} was still in the raft membership after {timeout:.0f} s", 2)

    def forget(self, node_id: str) -> None:
        try:
            self.client.api.remove_node(node_id, force=True)
        except NotFound:
            pass
        except APIError as exc:
            raise RetryableError(f"could not remove swarm node {node_id}: {exc}", 2) from exc


def join(node: Node, token: str, address: str, manager_address: str) -> None:
    """Join ``node`` to the swarm from inside it (its own engine, through the host engine)."""
    code, output = run_in(
        node.container,
        ["docker", "swarm", "join", "--token", token, "--advertise-addr", address, f"{manager_address}:{SWARM_PORT}"],
    )
    if code != 0 and "already part of a swarm" not in output:
        raise RetryableError(f"node {node.name} could not join the swarm: {output[-300:]}", 2)


def in_swarm(node: Node) -> bool:
    code, output = run_in(node.container, ["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"])
    return code == 0 and output == "active"
