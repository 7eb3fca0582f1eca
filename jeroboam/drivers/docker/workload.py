"""A swarm's workload as the autoscaler needs it: tasks the scheduler could not place, and the
running tasks of every node (global services aside: they run on every node anyway)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from jeroboam.domain import autoscaling
from jeroboam.domain.autoscaling import NodeLoad, PendingTask, Resources, Workload
from jeroboam.drivers.docker.swarm import Swarm

# Task states between assignment and the end: the task holds its node.
HOLDING = frozenset({"assigned", "accepted", "preparing", "ready", "starting", "running"})
UNPLACED = "no suitable node"


def timestamp(raw: str | None) -> datetime | None:
    """Docker's RFC 3339 timestamps carry nanoseconds; Python reads microseconds."""
    if not raw:
        return None
    head, _, rest = raw.rstrip("Z").partition(".")
    try:
        return datetime.fromisoformat(f"{head}.{rest[:6].ljust(6, '0')}" if rest else head).replace(tzinfo=UTC)
    except ValueError:
        return None


def reason_of(error: str) -> str:
    """'no suitable node (insufficient resources on 2 nodes)' -> 'insufficient resources'."""
    inside = error.partition("(")[2].rstrip(")")
    words = inside.split(" on ")[0].strip()
    return words or "no suitable node"


def pending_task(task: Mapping[str, Any], service: str) -> PendingTask:
    spec = task.get("Spec") or {}
    reservations = (spec.get("Resources") or {}).get("Reservations") or {}
    constraints = tuple((spec.get("Placement") or {}).get("Constraints") or ())
    return PendingTask(
        service=service,
        reservation=Resources(
            cpu=int(reservations.get("NanoCPUs") or 0) / 1e9,
            memory_mib=-(-int(reservations.get("MemoryBytes") or 0) // (1024 * 1024)),
        ),
        constraints=constraints,
        reason=reason_of(str((task.get("Status") or {}).get("Err") or "")),
        since=timestamp(task.get("CreatedAt")),
    )


def read_workload(tasks: list[dict[str, Any]], services: list[dict[str, Any]], nodes: list[dict[str, Any]]) -> Workload:
    """The workload from the Docker API's task, service and node lists (raw attributes)."""
    names: dict[str, str] = {}
    global_services: set[str] = set()
    for service in services:
        spec = service.get("Spec") or {}
        names[service["ID"]] = str(spec.get("Name") or service["ID"])
        if "Global" in (spec.get("Mode") or {}):
            global_services.add(service["ID"])
    running: dict[str, int] = {}
    pending: list[PendingTask] = []
    for task in tasks:
        status = task.get("Status") or {}
        state = status.get("State")
        service_id = str(task.get("ServiceID") or "")
        if state == "pending" and UNPLACED in str(status.get("Err") or ""):
            pending.append(pending_task(task, names.get(service_id, service_id)))
        elif state in HOLDING and task.get("NodeID") and service_id not in global_services:
            running[task["NodeID"]] = running.get(task["NodeID"], 0) + 1
    loads = []
    for node in nodes:
        spec, status = node.get("Spec") or {}, node.get("Status") or {}
        if spec.get("Role") != "worker":
            continue
        labels = spec.get("Labels") or {}
        loads.append(
            NodeLoad(
                name=str((node.get("Description") or {}).get("Hostname") or node["ID"]),
                nodegroup=str(labels.get(autoscaling.NODEGROUP_NODE_LABEL, "")),
                running_tasks=running.get(node["ID"], 0),
                ready=status.get("State") == "ready" and spec.get("Availability", "active") == "active",
                protected=autoscaling.is_true(labels.get(autoscaling.PROTECT_LABEL, "")),
            )
        )
    return Workload(pending=tuple(pending), nodes=tuple(loads))


def workload_of(swarm: Swarm) -> Workload:
    api = swarm.client.api
    tasks = swarm.read("listing tasks", lambda: api.tasks(filters={"desired-state": "running"}))  # type: ignore[no-untyped-call]
    services = swarm.read("listing services", lambda: api.services())  # type: ignore[no-untyped-call]
    nodes = swarm.read("listing nodes", lambda: api.nodes())
    return read_workload(list(tasks), list(services), list(nodes))
