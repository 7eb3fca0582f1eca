"""The sim driver: SIMULATED clusters kept in state files shared between processes."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from jeroboam.config import load_settings
from jeroboam.domain.containers import Bay, ContainerRef, ContainerSpec
from jeroboam.domain.specs import ClusterSpec, NodeGroupSpec
from jeroboam.drivers.base import ClusterDriver
from jeroboam.drivers.sim import CRASH_EXIT_CODE, SimDriver
from jeroboam.errors import PermanentError, RetryableError

UUID = "5d12f6fd-a0d5-4a5e-b5e6-7c2d7a0c0001"
SPAWN = multiprocessing.get_context("spawn")


def make_driver(state_dir: Path, **sim: Any) -> SimDriver:
    return SimDriver(load_settings(data_dir=state_dir.parent, sim={"state_dir": state_dir, **sim}))


def group(name: str, role: str = "worker", count: int = 2, image: str = "fedora-coreos", **kw: Any) -> NodeGroupSpec:
    return NodeGroupSpec(
        uuid=f"ng-{name}",
        name=name,
        role=role,
        node_count=count,
        image=image,
        flavor="m1.small",
        labels={},
        node_labels={},
        **kw,
    )


def cluster(labels: dict[str, str] | None = None, coe: str = "kubernetes", workers: int = 2) -> ClusterSpec:
    return ClusterSpec(
        uuid=UUID,
        name="k1",
        project_id="alpha",
        coe=coe,
        template_id="t1",
        labels=labels or {},
        nodegroups=(group("default-master", "master", 1), group("default-worker", count=workers)),
        generation=1,
    )


def reconcile(driver: SimDriver, spec: ClusterSpec) -> str:
    """The conductor's phases, in its order."""
    driver.ensure_infrastructure(spec)
    for ng in spec.masters + spec.workers:
        driver.ensure_nodegroup(spec, ng)
    return driver.ensure_endpoint(spec)


def names(driver: SimDriver, ng: str) -> list[str]:
    state = driver.read_state(UUID)
    assert state is not None
    return [node.name for node in state.nodes(ng)]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "sim"


@pytest.fixture
def driver(state_dir: Path) -> SimDriver:
    return make_driver(state_dir)


def run_in_child(target: Callable[..., Any], *args: Any, timeout: float = 60) -> int | None:
    process = SPAWN.Process(target=target, args=args)
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
        pytest.fail(f"child process {target.__name__} did not finish in {timeout} s")
    return process.exitcode


# Child-process targets (spawned: they rebuild the driver from the state directory).


def child_reconcile(state_dir: str, spec: ClusterSpec) -> None:
    reconcile(make_driver(Path(state_dir)), spec)


def child_delete(state_dir: str, spec: ClusterSpec) -> None:
    make_driver(Path(state_dir)).delete_cluster(spec)


def child_hammer(state_dir: str, spec: ClusterSpec, ng: NodeGroupSpec, rounds: int) -> None:
    driver = make_driver(Path(state_dir))
    for count in range(1, rounds + 1):
        driver.ensure_nodegroup(spec, replace(ng, node_count=count))
        with pytest.raises(RetryableError):
            driver.ensure_infrastructure(spec)


def child_hang_in_worker_thread(state_dir: str, spec: ClusterSpec) -> None:
    # The pool's thread is joined at exit: the hang must notice that the main thread finished.
    driver = make_driver(Path(state_dir))
    ThreadPoolExecutor(1).submit(driver.ensure_endpoint, spec)
    deadline = time.monotonic() + 30
    while not hang_began(driver, "endpoint"):  # the count is written just before the hang
        assert time.monotonic() < deadline, "the worker thread never began to hang"
        time.sleep(0.02)


def hang_began(driver: SimDriver, phase: str) -> bool:
    state = driver.read_state(UUID)
    return state is not None and state.faults.get(f"hang:{phase}", 0) > 0


class SleepRecorder:
    """Wraps the driver's interruptible sleep (latency and hangs): records every duration asked
    for and signals when a sleep begins; the real sleep still runs."""

    def __init__(self, driver: SimDriver, monkeypatch: pytest.MonkeyPatch) -> None:
        self.asked: list[float] = []
        self.began = threading.Event()
        self._sleep = driver._sleep
        monkeypatch.setattr(driver, "_sleep", self)

    def __call__(self, seconds: float) -> bool:
        self.asked.append(seconds)
        if seconds:
            self.began.set()
        return self._sleep(seconds)


# --- contract and idempotency ---


def test_sim_driver_is_a_cluster_driver(driver: SimDriver, state_dir: Path, tmp_path: Path) -> None:
    assert isinstance(driver, ClusterDriver)
    assert driver.state_dir == state_dir
    assert SimDriver(load_settings(data_dir=tmp_path)).state_dir == tmp_path / "sim"


def test_reconcile_twice_builds_the_same_cluster(driver: SimDriver, state_dir: Path) -> None:
    spec = cluster()
    address = reconcile(driver, spec)
    first = (state_dir / f"{UUID}.json").read_text()
    assert reconcile(driver, spec) == address
    assert (state_dir / f"{UUID}.json").read_text() == first
    assert address == f"https://sim-{UUID[:8]}.invalid:6443"
    assert names(driver, "default-master") == ["k1-default-master-0"]
    assert names(driver, "default-worker") == ["k1-default-worker-0", "k1-default-worker-1"]


def test_ensure_nodegroup_returns_its_nodes_with_fake_private_addresses(driver: SimDriver) -> None:
    spec = cluster(workers=3)
    reconcile(driver, spec)
    observed = driver.ensure_nodegroup(spec, spec.workers[0])
    assert observed.name == "default-worker"
    assert [node.name for node in observed.nodes] == [f"k1-default-worker-{i}" for i in range(3)]
    assert all(node.ready for node in observed.nodes)
    assert len(set(observed.addresses)) == 3
    assert all(address.startswith("10.") for address in observed.addresses)


def test_swarm_endpoint_is_a_docker_tcp_address(driver: SimDriver) -> None:
    assert reconcile(driver, cluster(coe="swarm")) == f"tcp://sim-{UUID[:8]}.invalid:2376"


def test_phases_out_of_order_are_retried_not_failed(driver: SimDriver) -> None:
    spec = cluster()
    with pytest.raises(RetryableError, match="network"):
        driver.ensure_nodegroup(spec, spec.masters[0])
    driver.ensure_infrastructure(spec)
    with pytest.raises(RetryableError, match="control plane"):
        driver.ensure_nodegroup(spec, spec.workers[0])
    with pytest.raises(RetryableError, match="control plane"):
        driver.ensure_endpoint(spec)


# --- scaling and upgrades ---


def test_scale_up_then_down_prefers_nodes_to_remove_then_newest(driver: SimDriver) -> None:
    spec = cluster()
    reconcile(driver, spec)
    workers = spec.workers[0]
    driver.ensure_nodegroup(spec, replace(workers, node_count=5))
    assert names(driver, "default-worker") == [f"k1-default-worker-{i}" for i in range(5)]

    shrink = replace(workers, node_count=2, nodes_to_remove=("k1-default-worker-1", "k1-default-worker-3", "absent"))
    driver.ensure_nodegroup(spec, shrink)
    assert names(driver, "default-worker") == ["k1-default-worker-0", "k1-default-worker-2"]
    driver.ensure_nodegroup(spec, shrink)  # again: nothing more goes
    assert names(driver, "default-worker") == ["k1-default-worker-0", "k1-default-worker-2"]

    driver.ensure_nodegroup(spec, replace(workers, node_count=3))
    assert names(driver, "default-worker")[-1] == "k1-default-worker-5"  # names are never reused


def test_image_change_is_a_rolling_replacement_in_batches(driver: SimDriver) -> None:
    spec = cluster(workers=5)
    reconcile(driver, spec)
    upgraded = replace(spec.workers[0], image="jeroboam-node", max_batch_size=2)
    observed = driver.ensure_nodegroup(spec, upgraded)
    state = driver.read_state(UUID)
    assert state is not None
    group_state = state.groups["default-worker"]
    assert group_state.rollout is None
    assert group_state.last_rollout is not None
    assert group_state.last_rollout.batches == 3
    assert {node.image for node in group_state.nodes} == {"jeroboam-node"}
    assert [node.name for node in observed.nodes] == [f"k1-default-worker-{i}" for i in range(5, 10)]

    driver.ensure_nodegroup(spec, upgraded)
    assert names(driver, "default-worker") == [f"k1-default-worker-{i}" for i in range(5, 10)]


def test_delete_nodegroup_is_idempotent(driver: SimDriver) -> None:
    spec = cluster()
    reconcile(driver, spec)
    driver.ensure_nodegroup(spec, group("extra"))
    driver.delete_nodegroup(spec, "extra")
    driver.delete_nodegroup(spec, "extra")
    assert names(driver, "extra") == []
    assert [ng.name for ng in driver.observe(spec).nodegroups] == ["default-master", "default-worker"]


# --- delete ---


def test_delete_cluster_removes_every_file_and_is_idempotent(driver: SimDriver, state_dir: Path) -> None:
    spec = cluster()
    reconcile(driver, spec)
    driver.delete_cluster(spec)
    assert list(state_dir.iterdir()) == []
    driver.delete_cluster(spec)
    assert list(state_dir.iterdir()) == []
    observed = driver.observe(spec)
    assert (observed.api_address, observed.api_ok) == (None, False)
    assert all(ng.nodes == () for ng in observed.nodegroups)


def test_delete_of_a_cluster_never_built_succeeds(driver: SimDriver) -> None:
    driver.delete_cluster(cluster())
    assert driver.read_state(UUID) is None


# --- observe and node health ---


def test_observe_reports_the_endpoint_and_every_node(driver: SimDriver) -> None:
    spec = cluster(labels={"kube_tag": "v1.29.4"})
    driver.ensure_infrastructure(spec)
    driver.ensure_nodegroup(spec, spec.masters[0])
    before = driver.observe(spec)
    assert (before.api_ok, before.api_address) == (False, None)
    assert "not published" in before.api_reason
    address = driver.ensure_endpoint(spec)
    driver.ensure_nodegroup(spec, spec.workers[0])
    after = driver.observe(spec)
    assert (after.api_ok, after.api_address, after.coe_version) == (True, address, "v1.29.4")
    assert [len(ng.nodes) for ng in after.nodegroups] == [1, 2]
    assert all(node.ready for ng in after.nodegroups for node in ng.nodes)


def test_unhealthy_nodes_label_marks_the_first_workers_not_ready(driver: SimDriver) -> None:
    spec = cluster(labels={"sim_unhealthy_nodes": "2"}, workers=3)
    reconcile(driver, spec)
    master, workers = driver.observe(spec).nodegroups
    assert all(node.ready for node in master.nodes)
    assert [node.ready for node in workers.nodes] == [False, False, True]
    assert "sim_unhealthy_nodes" in workers.nodes[0].reason
    driver.ensure_nodegroup(spec, spec.workers[0])  # not replaced: they stay unhealthy
    assert [node.ready for node in driver.observe(spec).nodegroups[1].nodes] == [False, False, True]


def test_killed_node_is_reported_then_replaced(driver: SimDriver) -> None:
    spec = cluster()
    reconcile(driver, spec)
    driver.kill_node(UUID, "k1-default-worker-0")
    workers = driver.observe(spec).nodegroups[1]
    assert [(node.name, node.ready) for node in workers.nodes] == [
        ("k1-default-worker-0", False),
        ("k1-default-worker-1", True),
    ]
    assert "kill_node" in workers.nodes[0].reason
    observed = driver.ensure_nodegroup(spec, spec.workers[0])
    assert [(node.name, node.ready) for node in observed.nodes] == [
        ("k1-default-worker-1", True),
        ("k1-default-worker-2", True),
    ]
    state = driver.read_state(UUID)
    assert state is not None
    assert state.groups["default-worker"].dead_replaced == 1
    with pytest.raises(LookupError):
        driver.kill_node(UUID, "k1-default-worker-0")


# --- injected faults ---


@pytest.mark.parametrize(
    ("phase", "call"),
    [
        ("infrastructure", lambda d, s: d.ensure_infrastructure(s)),
        ("control_plane", lambda d, s: d.ensure_nodegroup(s, s.masters[0])),
        ("workers", lambda d, s: d.ensure_nodegroup(s, s.workers[0])),
        ("endpoint", lambda d, s: d.ensure_endpoint(s)),
        ("delete", lambda d, s: d.delete_cluster(s)),
    ],
)
def test_fail_phase_fails_permanently_then_a_retry_succeeds(
    driver: SimDriver, phase: str, call: Callable[[SimDriver, ClusterSpec], object]
) -> None:
    spec = cluster(labels={"sim_fail_phase": phase, "sim_fail_times": "2"})
    prepared = replace(spec, labels={})
    reconcile(driver, prepared)
    for _ in range(2):
        with pytest.raises(PermanentError) as failed:
            call(driver, spec)
        assert str(failed.value) == f"simulated failure in phase {phase} (label sim_fail_phase)"
    call(driver, spec)


def test_fail_phase_fails_a_create_and_the_retry_completes(driver: SimDriver) -> None:
    spec = cluster(labels={"sim_fail_phase": "workers"})
    with pytest.raises(PermanentError, match="workers"):
        reconcile(driver, spec)
    assert reconcile(make_driver(driver.state_dir), spec).startswith("https://")


def test_retry_phase_asks_for_retries_then_succeeds(driver: SimDriver) -> None:
    spec = cluster(labels={"sim_retry_phase": "endpoint,infrastructure", "sim_retry_times": "2"})
    for attempt in (1, 2):
        with pytest.raises(RetryableError) as retry:
            driver.ensure_infrastructure(spec)
        assert retry.value.delay == pytest.approx(0.2)
        assert f"{attempt} of 2" in str(retry.value)
    driver.ensure_infrastructure(spec)
    driver.ensure_nodegroup(spec, spec.masters[0])
    for _ in range(2):
        with pytest.raises(RetryableError, match="phase endpoint"):
            driver.ensure_endpoint(spec)
    assert driver.ensure_endpoint(spec)


@pytest.mark.parametrize(
    ("labels", "label"),
    [
        ({"sim_fail_phase": "network"}, "sim_fail_phase"),
        ({"sim_retry_times": "many"}, "sim_retry_times"),
        ({"sim_latency": "-1"}, "sim_latency"),
        ({"sim_hang_seconds": "nan"}, "sim_hang_seconds"),
    ],
)
def test_invalid_labels_fail_ensure_but_never_delete(driver: SimDriver, labels: dict[str, str], label: str) -> None:
    spec = cluster(labels=labels)
    with pytest.raises(PermanentError, match=label):
        driver.ensure_infrastructure(spec)
    reconcile(driver, replace(spec, labels={}))
    assert driver.observe(spec).api_ok
    driver.delete_cluster(spec)
    assert driver.read_state(UUID) is None


def test_hang_phase_hangs_until_the_driver_is_closed(driver: SimDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = cluster(labels={"sim_hang_phase": "endpoint"})
    reconcile(driver, replace(spec, labels={}))
    sleeps = SleepRecorder(driver, monkeypatch)
    outcome: list[BaseException | str] = []

    def call() -> None:
        try:
            outcome.append(driver.ensure_endpoint(spec))
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    assert sleeps.began.wait(10)
    assert sleeps.asked == [0.0, 3600.0]  # no latency, then the hang (the default is an hour)
    assert thread.is_alive()
    assert outcome == []
    driver.close()
    thread.join(10)
    assert not thread.is_alive()
    assert isinstance(outcome[0], RetryableError)
    assert "sim_hang_phase" in str(outcome[0])


def test_hang_times_and_seconds_bound_the_hang(driver: SimDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = cluster(labels={"sim_hang_phase": "infrastructure", "sim_hang_seconds": "0.2", "sim_hang_times": "1"})
    sleeps = SleepRecorder(driver, monkeypatch)
    driver.ensure_infrastructure(spec)
    assert sleeps.asked == [0.0, 0.2]  # no latency, then a hang of 0.2 s that ran to its end
    driver.ensure_infrastructure(spec)
    assert sleeps.asked == [0.0, 0.2, 0.0]  # the second call does not hang
    state = driver.read_state(UUID)
    assert state is not None
    assert state.faults == {"hang:infrastructure": 1}


def test_a_hang_in_a_worker_thread_lets_the_process_exit(state_dir: Path) -> None:
    spec = cluster(labels={"sim_hang_phase": "endpoint"})
    assert run_in_child(child_hang_in_worker_thread, str(state_dir), spec, timeout=60) == 0
    assert hang_began(make_driver(state_dir), "endpoint")


def test_latency_label_slows_every_call(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    driver = make_driver(state_dir, latency_seconds=5.0)
    spec = cluster(labels={"sim_latency": "0.1"})  # the label replaces the configured latency
    sleeps = SleepRecorder(driver, monkeypatch)
    driver.ensure_infrastructure(spec)
    driver.observe(spec)
    assert sleeps.asked == [0.1, 0.1]


def test_configured_latency_is_interrupted_by_close(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    driver = make_driver(state_dir, latency_seconds=3600.0)
    sleeps = SleepRecorder(driver, monkeypatch)
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(driver.ensure_infrastructure, cluster())
        assert sleeps.began.wait(10)  # the call is in its latency
        driver.close()
        with pytest.raises(RetryableError, match="interrupted"):
            call.result(timeout=10)
    assert sleeps.asked == [3600.0]


@pytest.mark.parametrize("phase", ["infrastructure", "control_plane", "workers", "endpoint"])
def test_crash_phase_exits_the_process_and_the_next_conductor_completes(state_dir: Path, phase: str) -> None:
    spec = cluster(labels={"sim_crash_phase": phase}, workers=3)
    assert run_in_child(child_reconcile, str(state_dir), spec) == CRASH_EXIT_CODE
    driver = make_driver(state_dir)
    state = driver.read_state(UUID)
    assert state is not None
    assert state.faults == {f"crash:{phase}": 1}
    assert reconcile(driver, spec).startswith("https://")
    assert names(driver, "default-worker") == [f"k1-default-worker-{i}" for i in range(3)]


def test_crash_in_the_middle_of_workers_keeps_the_first_node(state_dir: Path) -> None:
    spec = cluster(labels={"sim_crash_phase": "workers", "sim_crash_times": "2"}, workers=3)
    assert run_in_child(child_reconcile, str(state_dir), spec) == CRASH_EXIT_CODE
    assert names(make_driver(state_dir), "default-worker") == ["k1-default-worker-0"]
    assert run_in_child(child_reconcile, str(state_dir), spec) == CRASH_EXIT_CODE
    assert names(make_driver(state_dir), "default-worker") == ["k1-default-worker-0", "k1-default-worker-1"]
    assert run_in_child(child_reconcile, str(state_dir), spec) == 0
    assert names(make_driver(state_dir), "default-worker") == [f"k1-default-worker-{i}" for i in range(3)]


def test_crash_in_the_middle_of_a_rolling_upgrade_resumes_it(state_dir: Path) -> None:
    driver = make_driver(state_dir)
    spec = cluster(workers=4)
    reconcile(driver, spec)
    upgraded = replace(spec.workers[0], image="jeroboam-node", max_batch_size=2)
    crashing = replace(spec, labels={"sim_crash_phase": "workers"}, nodegroups=(spec.masters[0], upgraded))
    assert run_in_child(child_reconcile, str(state_dir), crashing) == CRASH_EXIT_CODE
    state = driver.read_state(UUID)
    assert state is not None
    assert state.groups["default-worker"].rollout is not None
    assert [node.image for node in state.nodes("default-worker")] == ["fedora-coreos"] * 2 + ["jeroboam-node"] * 2
    reconcile(driver, crashing)
    state = driver.read_state(UUID)
    assert state is not None
    last = state.groups["default-worker"].last_rollout
    assert last is not None
    assert last.batches == 2


def test_crash_in_the_middle_of_delete_then_delete_completes(state_dir: Path) -> None:
    driver = make_driver(state_dir)
    spec = cluster(labels={"sim_crash_phase": "delete"})
    reconcile(driver, spec)
    assert run_in_child(child_delete, str(state_dir), spec) == CRASH_EXIT_CODE
    assert names(driver, "default-master") == []
    assert names(driver, "default-worker") == ["k1-default-worker-0", "k1-default-worker-1"]
    driver.delete_cluster(spec)
    assert list(state_dir.iterdir()) == []


# --- shared state ---


def test_two_processes_changing_one_cluster_lose_no_update(state_dir: Path) -> None:
    driver = make_driver(state_dir)
    plain = cluster()
    reconcile(driver, plain)
    spec = replace(plain, labels={"sim_retry_phase": "infrastructure", "sim_retry_times": "1000"})
    rounds = 25
    children = [
        SPAWN.Process(target=child_hammer, args=(str(state_dir), spec, group(name, count=0), rounds))
        for name in ("left", "right")
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
    assert [child.exitcode for child in children] == [0, 0]

    raw = json.loads((state_dir / f"{UUID}.json").read_text())
    assert raw["faults"] == {"retry:infrastructure": 2 * rounds}
    for name in ("left", "right"):
        assert names(driver, name) == [f"k1-{name}-{i}" for i in range(rounds)]
    state = driver.read_state(UUID)
    assert state is not None
    addresses = [node.address for ng in state.groups.values() for node in ng.nodes]
    assert len(addresses) == len(set(addresses)) == 2 * rounds + 3
    assert [path.name for path in state_dir.iterdir() if path.name.endswith(".tmp")] == []


def test_a_state_file_of_another_version_can_still_be_deleted(driver: SimDriver, state_dir: Path) -> None:
    spec = cluster()
    reconcile(driver, spec)
    path = state_dir / f"{UUID}.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "version": 99}))
    with pytest.raises(PermanentError, match="version 99"):
        driver.ensure_infrastructure(spec)
    driver.delete_cluster(spec)
    assert list(state_dir.iterdir()) == []


# -- SIMULATED workload (the autoscaler's observation) --------------------------------------------


def test_simulated_services_are_placed_first_fit_and_the_rest_pend(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "sim")
    spec = cluster(workers=2)  # m1.small: 1 CPU, 1024 MiB each
    reconcile(driver, spec)
    driver.set_service(UUID, "web", replicas=5, cpu=0.5, memory_mib=400)
    driver.set_service(UUID, "gpu", replicas=1, cpu=0.1, memory_mib=10, constraints=("node.labels.gpu==yes",))
    workload = driver.observe_workload(spec, 5)
    assert [(t.service, t.reason) for t in workload.pending] == [
        ("web", "insufficient resources"),
        ("gpu", "scheduling constraints not satisfied"),
    ]
    assert sorted(n.running_tasks for n in workload.nodes) == [2, 2]
    driver.set_service(UUID, "web", replicas=0)
    driver.protect_node(UUID, names(driver, "default-worker")[0])
    idle = driver.observe_workload(spec, 5)
    assert [(n.running_tasks, n.protected) for n in idle.nodes] == [(0, True), (0, False)]


def test_the_sim_services_label_until_services_are_set(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "sim")
    spec = cluster({"sim_services": "web:3:0.5:400"}, workers=1)
    reconcile(driver, spec)
    assert len(driver.observe_workload(spec, 5).pending) == 1
    with pytest.raises(PermanentError, match="label sim_services must be name:replicas:cpu:memory_mib"):
        driver.observe_workload(replace(spec, labels={"sim_services": "web:3"}), 5)


def test_containers_go_to_the_worker_with_the_fewest_whatever_their_uuids(driver: SimDriver) -> None:
    """Placement depends on what is placed, not on the (random) uuid: six containers on two workers
    are three and three, and a deleted one frees its place."""
    spec = cluster(coe="swarm-mode")
    reconcile(driver, spec)
    bay = Bay(UUID, "k1", "alpha", "swarm-mode")
    # Even uuids: placing by the uuid modulo the number of workers put them all on one node.
    uuids = [f"00000000-0000-0000-0000-0000000000{n:02x}" for n in (0, 2, 4, 6, 8, 10)]
    hosts = [driver.create_container(bay, ContainerSpec(uuid, "", "x")).host for uuid in uuids]
    assert sorted(hosts.count(host) for host in set(hosts)) == [3, 3]
    driver.delete_container(bay, ContainerRef(uuids[0], hosts[0], "Stopped"))
    again = driver.create_container(bay, ContainerSpec("00000000-0000-0000-0000-0000000000ff", "", "x"))
    assert again.host == hosts[0]


def test_a_registry_enabled_cluster_observes_a_simulated_registry(driver: SimDriver) -> None:
    spec = replace(cluster(coe="swarm-mode"), registry_enabled=True)
    reconcile(driver, spec)
    registry = driver.observe(spec).registry
    assert registry is not None
    assert registry.ok
    assert registry.address.endswith(".invalid:5000")
    assert "simulated" in registry.reason
    assert driver.observe(cluster(coe="swarm-mode")).registry is None
