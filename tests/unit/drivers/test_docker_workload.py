"""The docker provider reads a swarm's workload from the Docker API's task, service and node lists
(raw attributes shaped as a swarm-mode engine answers them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jeroboam.domain.autoscaling import NodeLoad, Resources
from jeroboam.drivers.docker.workload import read_workload, reason_of, timestamp


def service(ident: str, name: str, mode: str = "Replicated") -> dict[str, Any]:
    return {"ID": ident, "Spec": {"Name": name, "Mode": {mode: {}}}}


def node(ident: str, hostname: str, role: str = "worker", **labels: str) -> dict[str, Any]:
    return {
        "ID": ident,
        "Description": {"Hostname": hostname},
        "Spec": {"Role": role, "Availability": "active", "Labels": {"jeroboam.nodegroup": "default-worker", **labels}},
        "Status": {"State": "ready"},
    }


def task(service_id: str, state: str, node_id: str | None = None, err: str = "", **spec: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "ServiceID": service_id,
        "CreatedAt": "2026-12-02T05:01:13.123456789Z",
        "Status": {"State": state, "Err": err},
        "Spec": spec,
    }
    if node_id:
        found["NodeID"] = node_id
    return found


def test_pending_tasks_running_tasks_and_protection() -> None:
    services = [service("s1", "web"), service("s2", "agent", "Global")]
    nodes = [
        node("n0", "c-default-master-0", role="manager"),
        node("n1", "c-default-worker-0"),
        node("n2", "c-default-worker-1", **{"jeroboam.autoscaler/scale-down-disabled": "true"}),
    ]
    reservations = {"Reservations": {"NanoCPUs": 500_000_000, "MemoryBytes": 300 * 1024 * 1024 + 1}}
    tasks = [
        task("s1", "running", "n1"),
        task("s2", "running", "n1"),  # global: does not keep a node busy
        task("s2", "running", "n2"),
        task(
            "s1", "pending", err="no suitable node (insufficient resources on 2 nodes)", Resources=reservations,
            Placement={"Constraints": ["node.role==worker"]},
        ),
        task("s1", "pending", err=""),  # pending for another reason (not yet scheduled): not unplaced
    ]  # fmt: skip
    workload = read_workload(tasks, services, nodes)
    assert len(workload.pending) == 1
    pending = workload.pending[0]
    assert pending.service == "web"
    assert pending.reservation == Resources(0.5, 301)  # memory rounded up to whole MiB
    assert pending.constraints == ("node.role==worker",)
    assert pending.reason == "insufficient resources"
    assert pending.since == datetime(2026, 12, 2, 5, 1, 13, 123456, tzinfo=UTC)
    assert workload.nodes == (
        NodeLoad("c-default-worker-0", "default-worker", 1),
        NodeLoad("c-default-worker-1", "default-worker", 0, protected=True),
    )


def test_reasons_and_timestamps() -> None:
    assert reason_of("no suitable node (scheduling constraints not satisfied on 3 nodes)") == (
        "scheduling constraints not satisfied"
    )
    assert reason_of("no suitable node") == "no suitable node"
    assert timestamp("2026-12-02T05:01:13Z") == datetime(2026, 12, 2, 5, 1, 13, tzinfo=UTC)
    assert timestamp("garbage") is None
    assert timestamp(None) is None
