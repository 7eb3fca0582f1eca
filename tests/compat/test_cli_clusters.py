"""The real ``openstack coe cluster`` / ``coe nodegroup`` commands against ``jeroboam up`` (noauth:
the default admin), with clusters of the SIMULATED ``sim`` driver, which really go through
CREATE_IN_PROGRESS → CREATE_COMPLETE (and the UPDATE / DELETE ones) in a second or two.

The tests of this module run in file order and share one cluster (``cluster``): create, list,
show, update, resize, upgrade, nodegroups, delete. Other tests make their own clusters: one slow
one (label ``sim_latency``) to catch operations while they run, and one that fails creating its
workers (label ``sim_fail_phase``) and is retried by a resize.

What python-magnumclient 5.0.0 does differently from older clients:

* ``coe cluster update`` takes named flags (``--node-count 3``); the positional JSON-patch form
  ``coe cluster update NAME replace node_count=3`` is an argparse error (exit 2).
* ``coe nodegroup update`` likewise takes ``--min-nodes`` / ``--max-nodes`` instead of
  ``replace max_node_count=5``.
* ``coe cluster resize --nodes-to-remove`` wants server ids; a user of the ``coe`` commands only
  sees node names in ``health_status_reason`` (``<node>.Ready``), which is what this server (like
  the sim driver) takes.

Run with ``-s`` to see the transcript; the summary line is printed at the end of the module.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from tests.compat.conftest import (
    Cli,
    JeroboamProcess,
    Transcript,
    failed,
    json_of,
    ok,
    rows_of,
    running_jeroboam,
    sent_requests,
)
from tests.compat.conftest import (
    poll as poll_until,
)

pytestmark = pytest.mark.compat

T = TypeVar("T")

WAIT = 120.0  # seconds for a cluster or nodegroup to reach a state (each `openstack` call takes 2-5 s)
POLL = 0.5  # seconds between two polls (on top of the command's own start-up time)
FAST_CONDUCTOR = {"JEROBOAM_CONDUCTOR__POLL_INTERVAL": "0.2", "JEROBOAM_CONDUCTOR__HEALTH_POLLING_INTERVAL": "1"}
SIM_KUBERNETES = ("--coe", "kubernetes", "--driver", "sim", "--external-network", "public")
SIZES = ("--flavor", "m1.small", "--master-flavor", "m1.small")
# A cluster slow enough to be caught while an operation runs: every driver call takes 3 s (an
# operation makes at least four), and its first delete call hangs 15 s.
SLOW_LABELS = "sim_latency=3,sim_hang_phase=delete,sim_hang_seconds=15,sim_hang_times=1"
CLUSTER_LIST_COLUMNS = {"uuid", "name", "keypair", "node_count", "master_count", "status", "health_status"}
NODEGROUP_LIST_COLUMNS = {"uuid", "name", "flavor_id", "image_id", "node_count", "status", "role"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def jeroboam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JeroboamProcess]:
    with running_jeroboam(tmp_path_factory.mktemp("jeroboam-clusters"), env=FAST_CONDUCTOR) as server:
        yield server
    assert server.returncode == 0, f"jeroboam up exited {server.returncode}; log:\n{server.log_tail()}"


@pytest.fixture(scope="module")
def expected_failures() -> list[str]:
    """Commands a test expected to exit non-zero (the user-facing error paths)."""
    return []


@pytest.fixture(scope="module")
def run_cli(jeroboam: JeroboamProcess, transcript: Transcript, expected_failures: list[str]) -> Iterator[Cli]:
    yield Cli(["--os-auth-type", "none", "--os-endpoint", jeroboam.endpoint], transcript=transcript)
    # Printed just before the Transcript's own summary line.
    commands = transcript.commands
    passed = sum(1 for _, rc in commands if rc == 0)
    unexpected = [shown for shown, rc in commands if rc != 0 and shown not in expected_failures]
    print(
        f"SUMMARY: {len(commands)} openstack commands run: {passed} passed (exit 0), "
        f"{len(commands) - passed} failed (exit non-zero): {len(commands) - passed - len(unexpected)} expected "
        f"error paths, {len(unexpected)} unexpected",
        flush=True,
    )
    for shown in unexpected:
        print(f"  unexpected failure: {shown}", flush=True)


@pytest.fixture(scope="module")
def templates(run_cli: Cli) -> dict[str, dict[str, Any]]:
    """Two kubernetes templates of the sim driver, differing in image: ``old`` and ``new``."""
    old = json_of(
        run_cli("cluster", "template", "create", *SIM_KUBERNETES, "--image", "fedora-coreos", *SIZES, unique("k8s-old"))
    )
    new = json_of(
        run_cli("cluster", "template", "create", *SIM_KUBERNETES, "--image", "jeroboam-node", *SIZES, unique("k8s-new"))
    )
    return {"old": old, "new": new}


@pytest.fixture(scope="module")
def cluster(run_cli: Cli, templates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The module's shared cluster, as created (``name``, the ``created`` command result)."""
    name = unique("lifecycle")
    created = run_cli(
        "cluster",
        "create",
        "--cluster-template",
        templates["old"]["name"],
        "--master-count",
        "1",
        "--node-count",
        "2",
        name,
        debug=True,
    )
    return {"name": name, "created": created}


# --------------------------------------------------------------------------- helpers


def expect_failure(run_cli: Cli, expected_failures: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run a command that must exit non-zero, and mark it as an expected failure."""
    before = len(run_cli.transcript.commands)
    result = failed(run_cli(*args))
    expected_failures.extend(shown for shown, _ in run_cli.transcript.commands[before:])
    return result


def poll(what: str, probe: Callable[[], T | None], deadline: float = WAIT) -> T:
    return poll_until(what, probe, deadline, POLL)


def show(run_cli: Cli, name: str) -> dict[str, Any]:
    shown: dict[str, Any] = json_of(run_cli("cluster", "show", name, "-f", "json"))
    return shown


def wait_status(run_cli: Cli, name: str, wanted: str, **fields: Any) -> dict[str, Any]:
    """`coe cluster show` until the cluster is ``wanted`` (and has ``fields``); fail fast on another
    settled status."""

    def probe() -> dict[str, Any] | None:
        body = show(run_cli, name)
        status = body["status"]
        if status == wanted and all(body[key] == value for key, value in fields.items()):
            return body
        assert status == wanted or status.endswith("_IN_PROGRESS"), (
            f"cluster {name} is {status} ({body['status_reason']}), waiting for {wanted}"
        )
        return None

    return poll(f"cluster {name} {wanted} with {fields}", probe)


def wait_healthy(run_cli: Cli, name: str, check: Callable[[dict[str, str]], bool] = lambda _: True) -> dict[str, Any]:
    """`coe cluster show` until ``health_status`` is HEALTHY and its reason passes ``check``."""

    def probe() -> dict[str, Any] | None:
        body = show(run_cli, name)
        reason = body["health_status_reason"] or {}
        return body if body["health_status"] == "HEALTHY" and check(reason) else None

    return poll(f"cluster {name} HEALTHY", probe)


def wait_gone(run_cli: Cli, expected_failures: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run a ``show`` command until it fails with "could not be found"."""

    def probe() -> subprocess.CompletedProcess[str] | None:
        before = len(run_cli.transcript.commands)
        result = run_cli(*args, "-f", "value", "-c", "status")
        if result.returncode == 0:
            assert result.stdout.strip().endswith("_IN_PROGRESS") or "DELETE" in result.stdout, result.stdout
            return None
        expected_failures.extend(shown for shown, _ in run_cli.transcript.commands[before:])
        return result

    result = poll(f"{' '.join(args)} gone", probe)
    assert "could not be found" in result.stderr
    assert "HTTP 404" in result.stderr
    return result


def worker_nodes(reason: dict[str, str]) -> list[str]:
    """Worker node names in a health_status_reason (``<node>.Ready`` keys), oldest first."""
    names = [key.removesuffix(".Ready") for key in reason if key.endswith(".Ready") and "-default-worker-" in key]
    return sorted(names, key=lambda node: int(node.rsplit("-", 1)[1]))


# --------------------------------------------------------------------------- the shared cluster, in order


def test_cluster_create_prints_the_accepted_request(cluster: dict[str, Any], templates: dict[str, Any]) -> None:
    created: subprocess.CompletedProcess[str] = ok(cluster["created"])
    posts = [body for method, url, body in sent_requests(created) if method == "POST" and url.endswith("/v1/clusters")]
    assert len(posts) == 1, sent_requests(created)
    body = posts[0]
    assert body["name"] == cluster["name"]
    assert body["cluster_template_id"] == templates["old"]["name"]  # the client sends the name as given
    assert body["master_count"] == 1
    assert body["node_count"] == 2
    line = next(line for line in created.stdout.splitlines() if line.startswith("Request to create cluster "))
    accepted = line.removeprefix("Request to create cluster ").removesuffix(" accepted")
    uuid.UUID(accepted)
    cluster["uuid"] = accepted


def test_cluster_list(run_cli: Cli, cluster: dict[str, Any]) -> None:
    listed = json_of(run_cli("cluster", "list", "-f", "json"))
    mine = [item for item in listed if item["name"] == cluster["name"]]
    assert len(mine) == 1, listed
    item = mine[0]
    assert set(item) == CLUSTER_LIST_COLUMNS
    assert item["uuid"] == cluster["uuid"]
    assert item["node_count"] == 2
    assert item["master_count"] == 1
    assert item["status"] in ("CREATE_IN_PROGRESS", "CREATE_COMPLETE")
    # The table a user reads by default has the same columns.
    rows = rows_of(run_cli("cluster", "list"))
    assert {row["name"] for row in rows} >= {cluster["name"]}
    assert set(rows[0]) == CLUSTER_LIST_COLUMNS


def test_cluster_show_until_complete_and_healthy(
    run_cli: Cli, cluster: dict[str, Any], templates: dict[str, Any]
) -> None:
    name = cluster["name"]
    body = wait_status(run_cli, name, "CREATE_COMPLETE")
    assert body["uuid"] == cluster["uuid"]
    assert body["name"] == name
    assert body["cluster_template_id"] == templates["old"]["uuid"]
    assert str(body["api_address"]).startswith("https://")
    assert str(body["api_address"]).endswith(":6443")
    assert body["node_count"] == 2
    assert body["master_count"] == 1
    assert len(body["node_addresses"]) == 2
    assert len(body["master_addresses"]) == 1
    assert body["flavor_id"] == "m1.small"
    assert body["master_flavor_id"] == "m1.small"
    assert body["faults"] in (None, {}, "")  # only a failed cluster has faults
    assert body["status_reason"] == "Simulated by the sim driver: nothing real was built."
    healthy = wait_healthy(run_cli, name)
    reason = healthy["health_status_reason"]
    assert reason["api"] == "ok"
    assert len(worker_nodes(reason)) == 2
    assert all(value == "True" for key, value in reason.items() if key.endswith(".Ready"))


def test_cluster_update_node_count(run_cli: Cli, cluster: dict[str, Any], expected_failures: list[str]) -> None:
    name = cluster["name"]
    # magnumclient 5.0.0 has no positional JSON-patch form any more: an argparse error.
    old_form = expect_failure(run_cli, expected_failures, "cluster", "update", name, "replace", "node_count=3")
    assert old_form.returncode == 2
    assert "unrecognized arguments: replace node_count=3" in old_form.stderr

    result = ok(run_cli("cluster", "update", name, "--node-count", "3", debug=True))
    assert f"Request to update cluster {name} has been accepted." in result.stdout
    patches = [body for method, _, body in sent_requests(result) if method == "PATCH"]
    assert patches == [[{"op": "replace", "path": "/node_count", "value": 3}]]
    body = wait_status(run_cli, name, "UPDATE_COMPLETE", node_count=3)
    assert len(body["node_addresses"]) == 3
    assert body["master_count"] == 1


def test_cluster_update_of_other_fields_is_refused(
    run_cli: Cli, cluster: dict[str, Any], expected_failures: list[str]
) -> None:
    name = cluster["name"]
    result = expect_failure(run_cli, expected_failures, "cluster", "update", name, "--name", unique("renamed"))
    assert "cannot change cluster property(ies) name" in result.stderr
    assert "HTTP 400" in result.stderr
    result = expect_failure(run_cli, expected_failures, "cluster", "update", name, "--master-count", "3")
    assert "cannot change cluster property(ies) master_count" in result.stderr
    assert show(run_cli, name)["status"] == "UPDATE_COMPLETE"  # nothing was accepted


def test_cluster_resize(run_cli: Cli, cluster: dict[str, Any]) -> None:
    name = cluster["name"]
    result = ok(run_cli("cluster", "resize", name, "1", debug=True))
    assert f"Request to resize cluster {name} has been accepted." in result.stdout
    posts = [body for method, url, body in sent_requests(result) if method == "POST"]
    assert posts == [{"node_count": 1}], sent_requests(result)
    body = wait_status(run_cli, name, "UPDATE_COMPLETE", node_count=1)
    assert len(body["node_addresses"]) == 1


def test_cluster_resize_with_nodes_to_remove(run_cli: Cli, cluster: dict[str, Any]) -> None:
    name = cluster["name"]
    ok(run_cli("cluster", "resize", name, "3"))
    wait_status(run_cli, name, "UPDATE_COMPLETE", node_count=3)
    # The node names a user can see: the health reason's `<node>.Ready` keys.
    reason = wait_healthy(run_cli, name, lambda r: len(worker_nodes(r)) == 3)["health_status_reason"]
    oldest, *newer = worker_nodes(reason)
    # Without --nodes-to-remove the newest node would go; name the oldest instead.
    result = ok(run_cli("cluster", "resize", name, "2", "--nodes-to-remove", oldest, debug=True))
    posts = [body for method, _, body in sent_requests(result) if method == "POST"]
    assert posts == [{"node_count": 2, "nodes_to_remove": [oldest]}], sent_requests(result)
    body = wait_status(run_cli, name, "UPDATE_COMPLETE", node_count=2)
    assert len(body["node_addresses"]) == 2
    healthy = wait_healthy(run_cli, name, lambda r: len(worker_nodes(r)) == 2)
    assert worker_nodes(healthy["health_status_reason"]) == newer


def test_cluster_resize_naming_an_unknown_node_removes_nothing(
    run_cli: Cli, cluster: dict[str, Any], expected_failures: list[str]
) -> None:
    name = cluster["name"]
    nodes = worker_nodes(wait_healthy(run_cli, name, lambda r: len(worker_nodes(r)) == 2)["health_status_reason"])
    typo = nodes[0][:-1] + "O"  # a letter O for a zero: once a 202 that removed the newest node
    result = expect_failure(run_cli, expected_failures, "cluster", "resize", name, "1", "--nodes-to-remove", typo)
    assert f"Node {typo} not in nodegroup default-worker (its nodes: {nodes[0]} (" in result.stderr
    assert "nothing was removed (HTTP 400)" in result.stderr
    body = show(run_cli, name)
    assert (body["node_count"], body["status"]) == (2, "UPDATE_COMPLETE")


def test_cluster_upgrade(run_cli: Cli, cluster: dict[str, Any], templates: dict[str, Any]) -> None:
    name, new = cluster["name"], templates["new"]
    before = show(run_cli, name)
    assert before["cluster_template_id"] == templates["old"]["uuid"]
    result = ok(run_cli("cluster", "upgrade", name, new["name"], "--max-batch-size", "2", debug=True))
    assert f"Request to upgrade cluster {name} has been accepted." in result.stdout
    posts = [body for method, url, body in sent_requests(result) if method == "POST"]
    assert posts == [{"cluster_template": new["name"], "max_batch_size": 2}], sent_requests(result)
    body = wait_status(run_cli, name, "UPDATE_COMPLETE", cluster_template_id=new["uuid"])
    assert body["node_count"] == before["node_count"]
    assert body["master_count"] == before["master_count"]
    # Every node was replaced by one of the new image.
    assert set(body["node_addresses"]).isdisjoint(before["node_addresses"])
    assert set(body["master_addresses"]).isdisjoint(before["master_addresses"])
    for nodegroup in ("default-master", "default-worker"):
        shown = json_of(run_cli("nodegroup", "show", name, nodegroup, "-f", "json"))
        assert shown["image_id"] == new["image_id"] == "jeroboam-node"
        assert shown["status"] == "UPDATE_COMPLETE"


def test_nodegroup_lifecycle(run_cli: Cli, cluster: dict[str, Any], expected_failures: list[str]) -> None:
    name, group = cluster["name"], unique("ng")
    workers_before = show(run_cli, name)["node_count"]

    result = ok(
        run_cli(
            "nodegroup", "create", name, group, "--node-count", "2", "--role", "worker", "--min-nodes", "1",
            "--max-nodes", "4", debug=True,
        )
    )  # fmt: skip
    posts = [body for method, _, body in sent_requests(result) if method == "POST"]
    assert len(posts) == 1, sent_requests(result)
    sent = {"name": group, "node_count": 2, "role": "worker", "min_node_count": 1, "max_node_count": 4}
    assert posts[0].items() >= sent.items()
    line = next(line for line in result.stdout.splitlines() if line.startswith("Request to create nodegroup "))
    accepted = line.removeprefix("Request to create nodegroup ").removesuffix(" accepted")
    uuid.UUID(accepted)

    listed = json_of(run_cli("nodegroup", "list", name, "-f", "json"))
    assert {item["name"] for item in listed} == {"default-master", "default-worker", group}
    assert all(set(item) == NODEGROUP_LIST_COLUMNS for item in listed)
    mine = next(item for item in listed if item["name"] == group)
    assert mine["uuid"] == accepted
    assert mine["role"] == "worker"
    assert mine["node_count"] == 2
    workers = json_of(run_cli("nodegroup", "list", name, "--role", "worker", "-f", "json"))
    assert {item["name"] for item in workers} == {"default-worker", group}

    def created() -> dict[str, Any] | None:
        shown: dict[str, Any] = json_of(run_cli("nodegroup", "show", name, group, "-f", "json"))
        assert shown["status"] in ("CREATE_IN_PROGRESS", "CREATE_COMPLETE"), shown
        return shown if shown["status"] == "CREATE_COMPLETE" else None

    shown = poll(f"nodegroup {group} CREATE_COMPLETE", created)
    assert shown["uuid"] == accepted
    assert shown["cluster_id"] == cluster["uuid"]
    assert shown["min_node_count"] == 1
    assert shown["max_node_count"] == 4
    assert shown["is_default"] is False
    assert shown["role"] == "worker"
    assert len(shown["node_addresses"]) == 2
    body = wait_status(run_cli, name, "UPDATE_COMPLETE", node_count=workers_before + 2)
    assert set(shown["node_addresses"]) <= set(body["node_addresses"])

    # Outside the nodegroup's bounds: refused before anything is accepted.
    result = expect_failure(run_cli, expected_failures, "cluster", "resize", name, "6", "--nodegroup", group)
    assert f"Resizing {group} outside the allowed range: min_node_count = 1, max_node_count = 4" in result.stderr
    assert "HTTP 400" in result.stderr

    result = ok(run_cli("nodegroup", "update", name, group, "--max-nodes", "5", debug=True))
    assert f"Request to update nodegroup {group} has been accepted." in result.stdout
    patches = [body for method, _, body in sent_requests(result) if method == "PATCH"]
    assert patches == [[{"op": "replace", "path": "/max_node_count", "value": 5}]]

    def updated() -> dict[str, Any] | None:
        shown: dict[str, Any] = json_of(run_cli("nodegroup", "show", name, group, "-f", "json"))
        return shown if shown["status"] == "UPDATE_COMPLETE" and shown["max_node_count"] == 5 else None

    shown = poll(f"nodegroup {group} max_node_count 5", updated)
    assert shown["min_node_count"] == 1
    assert shown["node_count"] == 2

    # A default nodegroup cannot be deleted.
    result = expect_failure(run_cli, expected_failures, "nodegroup", "delete", name, "default-worker")
    assert "Deleting a default nodegroup is not supported" in result.stderr
    assert "HTTP 400" in result.stderr

    result = ok(run_cli("nodegroup", "delete", name, group))
    assert f"Request to delete nodegroup {group} has been accepted." in result.stdout
    gone = wait_gone(run_cli, expected_failures, "nodegroup", "show", name, group)
    assert f"Nodegroup {group} could not be found" in gone.stderr
    listed = json_of(run_cli("nodegroup", "list", name, "-f", "json"))
    assert {item["name"] for item in listed} == {"default-master", "default-worker"}
    wait_status(run_cli, name, "UPDATE_COMPLETE", node_count=workers_before)


def test_show_missing_cluster(run_cli: Cli, expected_failures: list[str]) -> None:
    missing = unique("missing")
    result = expect_failure(run_cli, expected_failures, "cluster", "show", missing)
    assert f"Cluster {missing} could not be found" in result.stderr
    assert "HTTP 404" in result.stderr
    result = expect_failure(run_cli, expected_failures, "cluster", "resize", missing, "2")
    assert f"Cluster {missing} could not be found" in result.stderr


def test_cluster_delete(run_cli: Cli, cluster: dict[str, Any], expected_failures: list[str]) -> None:
    name = cluster["name"]
    result = ok(run_cli("cluster", "delete", name))
    assert f"Request to delete cluster {name} has been accepted." in result.stdout
    gone = wait_gone(run_cli, expected_failures, "cluster", "show", name)
    assert f"Cluster {name} could not be found" in gone.stderr
    listed = json_of(run_cli("cluster", "list", "-f", "json"))
    assert name not in {item["name"] for item in listed}


# --------------------------------------------------------------------------- operations while others run


def test_conflicts_while_an_operation_runs(
    run_cli: Cli, templates: dict[str, Any], expected_failures: list[str]
) -> None:
    name = unique("slow")
    ok(run_cli("cluster", "create", "--cluster-template", templates["old"]["name"], "--labels", SLOW_LABELS, name))
    wait_status(run_cli, name, "CREATE_COMPLETE")

    ok(run_cli("cluster", "upgrade", name, templates["new"]["name"], "--max-batch-size", "2"))
    # The first upgrade was accepted (UPDATE_IN_PROGRESS, committed before its 202): a second is refused.
    result = expect_failure(run_cli, expected_failures, "cluster", "upgrade", name, templates["new"]["name"])
    assert "HTTP 409" in result.stderr
    assert "Cannot upgrade the cluster while it is UPDATE_IN_PROGRESS" in result.stderr
    wait_status(run_cli, name, "UPDATE_COMPLETE", cluster_template_id=templates["new"]["uuid"])

    ok(run_cli("cluster", "delete", name))
    # The first delete call hangs (label sim_hang_phase=delete): the cluster stays DELETE_IN_PROGRESS.
    result = expect_failure(run_cli, expected_failures, "cluster", "resize", name, "2")
    assert "HTTP 409" in result.stderr
    assert "Cannot resize the cluster while it is DELETE_IN_PROGRESS" in result.stderr
    wait_gone(run_cli, expected_failures, "cluster", "show", name)


# --------------------------------------------------------------------------- a failure, surfaced and retried


def test_failed_create_is_shown_and_a_resize_retries_it(
    run_cli: Cli, templates: dict[str, Any], expected_failures: list[str]
) -> None:
    name = unique("failing")
    ok(
        run_cli(
            "cluster", "create", "--cluster-template", templates["old"]["name"], "--node-count", "1",
            "--labels", "sim_fail_phase=workers", name,
        )
    )  # fmt: skip
    body = wait_status(run_cli, name, "CREATE_FAILED")
    assert "workers" in body["status_reason"]
    assert body["faults"], body  # GET of a failed cluster names what failed
    assert any("workers" in str(reason) for reason in body["faults"].values())
    assert body["labels"] == {"sim_fail_phase": "workers"}

    # The label fails the phase once: a resize retries the creation, which now succeeds.
    result = ok(run_cli("cluster", "resize", name, "2"))
    assert f"Request to resize cluster {name} has been accepted." in result.stdout
    body = wait_status(run_cli, name, "CREATE_COMPLETE", node_count=2)
    assert len(body["node_addresses"]) == 2
    assert body["api_address"]
    assert body["faults"] in (None, {}, "")

    ok(run_cli("cluster", "delete", name))
    wait_gone(run_cli, expected_failures, "cluster", "show", name)
