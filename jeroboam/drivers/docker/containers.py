"""Containers of the bay-era API on a swarm-mode cluster of the docker provider.

Each container is a plain Docker container in the own engine of one node of the cluster (a
worker with room for its memory), named ``jb-<uuid>`` and labelled with its uuid and memory.
The engine reaches it by running the ``docker`` CLI inside the node (as the driver already does
to join nodes), every call under ``timeout``, so a node whose engine hangs costs at most
``[docker] container_timeout``; a node that is gone, stopped or paused is reported, never raised,
by ``observe``. Nothing of a container lives outside its node: removing the node (resize,
autoheal, cluster delete) removes it.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from docker.errors import APIError, NotFound

from jeroboam.config import DockerDriverSettings
from jeroboam.domain.containers import (
    ERROR,
    PAUSED,
    RUNNING,
    STOPPED,
    UNKNOWN,
    Bay,
    ContainerRef,
    ContainerSpec,
    ContainerState,
    ExecResult,
    memory_bytes,
)
from jeroboam.drivers.docker import labels
from jeroboam.drivers.docker.client import ENGINE_ERRORS
from jeroboam.drivers.docker.nodes import Node, Nodes, registry_address
from jeroboam.drivers.docker.placement import Home, Placement
from jeroboam.errors import ConflictError, InvalidInputError, RetryableError, ServiceUnavailableError

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

CONTAINER = f"{labels.PREFIX}.container"
MEMORY = f"{labels.PREFIX}.memory"
STOP_GRACE_SECONDS = 5
PARALLEL_NODES = 8
MIB = 1024 * 1024
LISTING = f'{{{{.Label "{CONTAINER}"}}}} {{{{.State}}}}'  # `docker ps --format`: "<uuid> <state>"
# `docker ps` states -> the API's statuses.
STATES = {
    "running": RUNNING,
    "restarting": RUNNING,
    "paused": PAUSED,
    "created": STOPPED,
    "exited": STOPPED,
    "removing": STOPPED,
    "dead": ERROR,
}
COMMANDS = {
    "start": ["start"],
    "stop": ["stop", "-t", str(STOP_GRACE_SECONDS)],
    "reboot": ["restart", "-t", str(STOP_GRACE_SECONDS)],
    "pause": ["pause"],
    "unpause": ["unpause"],
}


def docker_name(uuid: str) -> str:
    return f"jb-{uuid}"


@dataclass(frozen=True)
class Answer:
    code: int
    output: str


class NodeUnavailableError(Exception):
    """The node cannot run a command now; ``status`` and the message say why."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def user_error(exc: NodeUnavailableError) -> Exception:
    """What the API answers when a call cannot reach the container's node."""
    if exc.status == ERROR:
        return ConflictError(exc.message[:1].upper() + exc.message[1:] + ".")
    return ServiceUnavailableError(exc.message[:1].upper() + exc.message[1:] + ".")


def _gone(node_name: str | None, bay: Bay) -> NodeUnavailableError:
    return NodeUnavailableError(
        ERROR,
        f"node {node_name} is no longer part of bay {bay.name} (removed by a resize or a repair); "
        "the container went with it",
    )


class BayContainers:
    """The container operations of ``DockerDriver`` (which delegates to this)."""

    def __init__(self, settings: DockerDriverSettings, placement: Placement, nodes: Nodes) -> None:
        self.settings = settings
        self.placement = placement
        self.nodes = nodes
        self.timeout = settings.container_timeout

    # -- the operations ------------------------------------------------------------------------------
    def create(self, bay: Bay, spec: ContainerSpec) -> ContainerState:
        home, members = self._members(bay)
        try:
            wanted = memory_bytes(spec.memory) or 0
        except ValueError:
            raise InvalidInputError(f"Invalid memory {spec.memory}: give a number with b, k, m or g.") from None
        node = self._choose(bay, members, wanted, spec.memory)
        self._ensure_image(home, bay, node, spec.image)
        command = ["create", "--pull", "never", "--name", docker_name(spec.uuid), "--hostname", spec.uuid]
        command += ["--label", f"{CONTAINER}={spec.uuid}", "--label", f"{MEMORY}={wanted}"]
        if spec.memory:
            command += ["--memory", spec.memory]
        for key, value in sorted(spec.environment.items()):
            command += ["--env", f"{key}={value}"]
        command.append(spec.image)
        if spec.command:
            command += shlex.split(spec.command)
        answer = self._docker(bay, node, command)
        if answer.code != 0:
            raise InvalidInputError(f"The container could not be created on node {node.name}: {answer.output}")
        return ContainerState(STOPPED, "", node.name)

    def act(self, bay: Bay, ref: ContainerRef, action: str) -> ContainerState:
        node = self._node_of(bay, ref)
        answer = self._docker(bay, node, [*COMMANDS[action], docker_name(ref.uuid)])
        if answer.code != 0:
            raise ConflictError(f"Cannot {action} container {ref.uuid}: {_engine_words(answer.output)}")
        return self._state_on(bay, node, ref.uuid)

    def logs(self, bay: Bay, ref: ContainerRef) -> str:
        node = self._node_of(bay, ref)
        answer = self._docker(bay, node, ["logs", docker_name(ref.uuid)], strip=False)
        if answer.code != 0:
            raise ConflictError(f"Cannot read the logs of container {ref.uuid}: {_engine_words(answer.output)}")
        return answer.output

    def execute(self, bay: Bay, ref: ContainerRef, command: str) -> ExecResult:
        try:
            words = shlex.split(command)
        except ValueError as exc:
            raise InvalidInputError(f"Invalid command {command!r}: {exc}") from None
        if not words:
            raise InvalidInputError("The command is empty.")
        node = self._node_of(bay, ref)
        state = self._state_on(bay, node, ref.uuid)
        if state.status != RUNNING:
            raise ConflictError(f"Cannot execute in container {ref.uuid}: it is {state.status}, not Running.")
        answer = self._docker(bay, node, ["exec", docker_name(ref.uuid), *words], strip=False)
        return ExecResult(answer.output, answer.code)

    def delete(self, bay: Bay, ref: ContainerRef) -> None:
        if self.placement.find(bay.uuid) is None:
            return  # the cluster is gone, and its nodes with their containers
        try:
            node = self._node_of(bay, ref)
        except ConflictError:
            return  # its node is gone, and the container with it
        answer = self._docker(bay, node, ["rm", "-f", docker_name(ref.uuid)])
        if answer.code != 0 and "no such container" not in answer.output.lower():
            raise ConflictError(f"Cannot delete container {ref.uuid}: {_engine_words(answer.output)}")

    def observe(self, bay: Bay, refs: Sequence[ContainerRef]) -> dict[str, ContainerState]:
        try:
            home, members = self._members(bay)
        except (RetryableError, ServiceUnavailableError) as exc:
            reason = f"bay {bay.name} cannot be reached: {exc}"
            return {r.uuid: ContainerState(UNKNOWN, reason, r.host) for r in refs}
        del home
        by_node: dict[str | None, list[ContainerRef]] = {}
        for ref in refs:
            by_node.setdefault(ref.host, []).append(ref)

        def one(host: str | None) -> dict[str, ContainerState]:
            return self._observe_node(bay, members.get(host or ""), host, by_node[host])

        hosts = list(by_node)
        results = _parallel(hosts, one)
        found: dict[str, ContainerState] = {}
        for result in results:
            found.update(result)
        return found

    # -- nodes -----------------------------------------------------------------------------------------
    def _members(self, bay: Bay) -> tuple[Home, dict[str, Node]]:
        home = self.placement.find(bay.uuid)
        if home is None:
            raise ServiceUnavailableError(f"Bay {bay.name} has no network on any Docker engine.")
        return home, {n.name: n for n in self.nodes.list(home, bay.uuid)}

    def _node_of(self, bay: Bay, ref: ContainerRef) -> Node:
        _, members = self._members(bay)
        node = members.get(ref.host or "")
        if node is None:
            raise ConflictError(f"Container {ref.uuid}: {_gone(ref.host, bay).message}.")
        return node

    def _choose(self, bay: Bay, members: dict[str, Node], wanted: int, memory: str | None) -> Node:
        """The running worker with the most free memory that has room for ``wanted`` bytes
        (managers only when the bay has no worker)."""
        workers = [n for n in members.values() if n.role == labels.WORKER]
        candidates = [n for n in (workers or list(members.values())) if n.running]
        if not candidates:
            raise ConflictError(f"Bay {bay.name} has no running node to put the container on.")
        rooms: list[tuple[int, Node]] = []
        notes: list[str] = []

        def room_of(node: Node) -> tuple[Node, int | None, str]:
            try:
                return node, self._free_memory(bay, node), ""
            except NodeUnavailableError as exc:
                return node, None, exc.message

        for node, free, problem in _parallel(candidates, room_of):
            if free is None:
                notes.append(f"{node.name}: {problem}")
            elif free >= wanted:
                rooms.append((free, node))
            else:
                notes.append(f"{node.name} has {free // MIB} MiB free")
        if not rooms:
            asked = f"memory {memory}" if memory else "a container"
            raise InvalidInputError(
                f"No node of bay {bay.name} has room for {asked}: {'; '.join(notes)}. "
                "Ask for less memory, delete containers, or resize the bay."
            )
        return max(rooms, key=lambda item: (item[0], item[1].name))[1]

    def _free_memory(self, bay: Bay, node: Node) -> int:
        """The node's memory (its flavor's limit, else the engine's) less what its containers claim."""
        limit = int(node.container.attrs.get("HostConfig", {}).get("Memory") or 0)
        if not limit:
            limit = int(node.container.client.info().get("MemTotal", 0)) if node.container.client else 0
        answer = self._docker(
            bay, node, ["ps", "-a", "--filter", f"label={CONTAINER}", "--format", f'{{{{.Label "{MEMORY}"}}}}']
        )
        if answer.code != 0:
            raise NodeUnavailableError(UNKNOWN, _engine_words(answer.output))
        claimed = sum(int(word) for word in answer.output.split() if word.isdigit())
        return max(0, limit - claimed)

    def _ensure_image(self, home: Home, bay: Bay, node: Node, image: str) -> None:
        registry = registry_address(home)
        if image.startswith(f"{registry}/"):  # the cluster's own registry: the node pulls (bounded)
            pulled = self._docker(bay, node, ["pull", "-q", image])
            if pulled.code == 0:
                return
            raise InvalidInputError(
                f"Image {image} could not be pulled from the registry of bay {bay.name} ({registry}): "
                f"{_engine_words(pulled.output)}. Push it there first (docker push to the registry_push_address "
                "the bay shows), or check that the bay's template has registry_enabled."
            )
        if self._docker(bay, node, ["image", "inspect", "--format", "{{.Id}}", image]).code == 0:
            return
        if image in self.settings.copyable_images:
            try:
                self.nodes.load(home, node, image)
                return
            except Exception as exc:  # say why, in the words of the error below
                log.warning("could not copy image %s into node %s: %s", image, node.name, exc)
                problem = f" Copying it from Docker engine {home.engine.name} failed: {exc}."
        else:
            problem = ""
        allowed = ", ".join(self.settings.copyable_images) or "none"
        raise InvalidInputError(
            f"Image {image} is not available on bay {bay.name}: its node {node.name} does not have it.{problem} "
            f"Either push it to the bay's own registry (a template with registry_enabled) and name it "
            f"{registry}/<name>, or the operator allows copying it from the host Docker engine (add it to "
            f"[docker] copyable_images and have it there; allowed now: {allowed}); images the bay's nodes "
            "already have (the [docker] preload_images) always work."
        )

    # -- the docker CLI inside a node ----------------------------------------------------------------------
    def _docker(self, bay: Bay, node: Node, args: list[str], *, strip: bool = True) -> Answer:
        """``docker ARGS`` in the node, killed after ``container_timeout`` seconds."""
        if not node.running:
            raise NodeUnavailableError(UNKNOWN, f"node {node.name} is {node.state}")
        command = ["timeout", "-s", "KILL", str(int(self.timeout)), "docker", *args]
        try:
            result = node.container.exec_run(command)
        except NotFound:
            raise _gone(node.name, bay) from None
        except APIError as exc:
            raise NodeUnavailableError(UNKNOWN, f"node {node.name} cannot run commands: {exc.explanation}") from None
        except ENGINE_ERRORS as exc:
            raise NodeUnavailableError(UNKNOWN, f"the engine of node {node.name} does not answer: {exc}") from None
        raw = result.output if isinstance(result.output, bytes) else b"".join(result.output)
        output = raw.decode(errors="replace")
        code = int(result.exit_code or 0)
        if code == 137 and args[0] != "exec":
            raise NodeUnavailableError(
                UNKNOWN, f"the Docker engine of node {node.name} did not answer within {self.timeout:.0f} s"
            )
        return Answer(code, output.strip() if strip else output)

    def _state_on(self, bay: Bay, node: Node, uuid: str) -> ContainerState:
        return self._observe_node(bay, node, node.name, [ContainerRef(uuid, node.name, UNKNOWN)])[uuid]

    def _observe_node(
        self, bay: Bay, node: Node | None, host: str | None, refs: Sequence[ContainerRef]
    ) -> dict[str, ContainerState]:
        if node is None:
            reason = _gone(host, bay).message
            return {r.uuid: ContainerState(ERROR, reason, host) for r in refs}
        try:
            answer = self._docker(
                bay,
                node,
                [
                    "ps",
                    "-a",
                    "--filter",
                    f"label={CONTAINER}",
                    "--format",
                    f'{{{{.Label "{CONTAINER}"}}}} {{{{.State}}}}',
                ],
            )
        except NodeUnavailableError as exc:
            return {r.uuid: ContainerState(exc.status, exc.message, host) for r in refs}
        if answer.code != 0:
            reason = f"node {host} could not list its containers: {_engine_words(answer.output)}"
            return {r.uuid: ContainerState(UNKNOWN, reason, host) for r in refs}
        states = dict(line.split(" ", 1) for line in answer.output.splitlines() if " " in line)
        found: dict[str, ContainerState] = {}
        for ref in refs:
            state = states.get(ref.uuid)
            if state is None:
                found[ref.uuid] = ContainerState(ERROR, f"the container no longer exists on node {host}", host)
            else:
                status = STATES.get(state.strip(), UNKNOWN)
                reason = "" if status != ERROR else f"the engine of node {host} reports it {state.strip()}"
                found[ref.uuid] = ContainerState(status, reason, host)
        return found


def _engine_words(output: str) -> str:
    """The engine's message without the CLI's prefix."""
    text = output.strip().splitlines()[-1] if output.strip() else "no output"
    return text.removeprefix("Error response from daemon: ").removeprefix("Error: ")


def _parallel(items: Sequence[T], call: Callable[[T], R]) -> list[R]:
    if len(items) <= 1:
        return [call(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(PARALLEL_NODES, len(items))) as pool:
        return list(pool.map(call, items))
