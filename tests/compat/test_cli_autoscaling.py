"""The autoscaler's switch and bounds through the real ``openstack coe`` client (python-magnumclient
5.0.0) against ``jeroboam up``, with clusters of the SIMULATED ``sim`` driver whose SIMULATED
workload (label ``sim_services``) needs two workers.

python-magnumclient 5.0.0 changes labels with ``coe cluster update NAME --label key=value``, which
sends ``{"op": "add", "path": "/labels/key", "value": "value"}``; the older positional form
``coe cluster update NAME replace labels/key=value`` is an argparse error (exit 2) in it, so the
``replace`` dialect older clients send is checked over HTTP here.

The tests run in file order and share the cluster ``autoscaled``. Run with ``-s`` for the transcript.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.compat.conftest import (
    Cli,
    JeroboamProcess,
    Transcript,
    failed,
    json_of,
    ok,
    running_jeroboam,
    sent_requests,
)
from tests.compat.conftest import poll as poll_until

pytestmark = pytest.mark.compat

SERVER = {
    "JEROBOAM_CONDUCTOR__POLL_INTERVAL": "0.2",
    "JEROBOAM_AUTOSCALER__INTERVAL": "0.5",
    "JEROBOAM_AUTOSCALER__PENDING_GRACE": "0",
}
WORK = "sim_services=web:2:1:1024"  # two replicas of 1 vCPU / 1 GiB: one per m1.small worker
BOUNDS = "min_node_count=1,max_node_count=3"


@dataclass
class Shared:
    server: JeroboamProcess
    cli: Cli
    template: str = ""
    names: list[str] = field(default_factory=list)

    def show(self, name: str) -> dict[str, Any]:
        body: dict[str, Any] = json_of(self.cli("cluster", "show", name, "-f", "json"))
        return body

    def wait(self, name: str, what: str, check: Any) -> dict[str, Any]:
        """Poll over HTTP: each CLI call costs seconds."""

        def probe() -> dict[str, Any] | None:
            body: dict[str, Any] = httpx.get(f"{self.server.endpoint}/clusters/{name}", timeout=10).json()
            assert not body["status"].endswith("FAILED"), body["status_reason"]
            return body if check(body) else None

        return poll_until(what, probe, 120, 0.3)

    def create(self, labels: str) -> str:
        name = f"autoscaled-{uuid.uuid4().hex[:6]}"
        ok(self.cli("cluster", "create", "--cluster-template", self.template, "--node-count", "1",
                    "--labels", labels, name))  # fmt: skip
        self.names.append(name)
        # Built; an autoscaled one may already be growing (CREATE_COMPLETE can last a moment only).
        self.wait(name, f"{name} built", lambda b: b["status"] in ("CREATE_COMPLETE", "UPDATE_IN_PROGRESS",
                                                                     "UPDATE_COMPLETE"))  # fmt: skip
        return name


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    transcript = Transcript()
    with running_jeroboam(tmp_path_factory.mktemp("cli-autoscaling"), env=SERVER) as server:
        cli = Cli(["--os-auth-type", "none", "--os-endpoint", server.endpoint], transcript=transcript)
        state = Shared(server, cli)
        template = json_of(cli("cluster", "template", "create", "--coe", "kubernetes", "--driver", "sim",
                               "--external-network", "public", "--image", "jeroboam-node", "--flavor", "m1.small",
                               "--master-flavor", "m1.small", f"autoscaling-{uuid.uuid4().hex[:6]}"))  # fmt: skip
        state.template = template["uuid"]
        yield state
        for name in state.names:
            cli("cluster", "delete", name)
    print(transcript.summary(), flush=True)
    assert server.returncode == 0, server.log_tail()


def grown_by_autoscaler(body: dict[str, Any]) -> bool:
    return (
        body["status"] == "UPDATE_COMPLETE"
        and body["node_count"] == 2
        and body["status_reason"].startswith("autoscaler: ")
    )


def test_switching_it_on_with_update_label_makes_it_grow_the_cluster(shared: Shared) -> None:
    name = shared.create(f"auto_scaling_enabled=false,{BOUNDS},{WORK}")
    shared.names.insert(0, shared.names.pop())  # "autoscaled" is the first one
    result = ok(shared.cli("cluster", "update", name, "--label", "auto_scaling_enabled=true", debug=True))
    patches = [body for method, _, body in sent_requests(result) if method == "PATCH"]
    assert patches == [[{"op": "add", "path": "/labels/auto_scaling_enabled", "value": "true"}]]
    assert shared.show(name)["labels"]["auto_scaling_enabled"] == "true"
    body = shared.wait(name, "grown by the autoscaler", grown_by_autoscaler)
    assert body["status_reason"].startswith(
        "autoscaler: 1 task of service web pending (insufficient resources); default-worker 1 → 2 (Simulated"
    )


def test_switching_it_off_stops_its_decisions(shared: Shared) -> None:
    name = shared.names[0]
    ok(shared.cli("cluster", "update", name, "--label", "auto_scaling_enabled=false"))
    ok(shared.cli("cluster", "resize", name, "1"))  # a replica is pending again
    shared.wait(name, "back at 1 node", lambda b: b["status"] == "UPDATE_COMPLETE" and b["node_count"] == 1)
    # A witness with the same work, switched on, created after: once the autoscaler has grown it, it
    # has had every chance to grow the other one too.
    witness = shared.create(f"auto_scaling_enabled=true,{BOUNDS},{WORK}")
    shared.wait(witness, "the witness grown by the autoscaler", grown_by_autoscaler)
    body = shared.show(name)
    assert (body["status"], body["node_count"]) == ("UPDATE_COMPLETE", 1)
    assert body["labels"]["auto_scaling_enabled"] == "false"
    assert not body["status_reason"].startswith("autoscaler")


def test_bounds_the_cluster_cannot_hold_are_a_400_the_cli_shows(shared: Shared) -> None:
    name = shared.names[0]
    result = failed(shared.cli("cluster", "update", name, "--label", "min_node_count=2", debug=True))
    patches = [body for method, _, body in sent_requests(result) if method == "PATCH"]
    assert patches == [[{"op": "add", "path": "/labels/min_node_count", "value": "2"}]]
    result = failed(shared.cli("cluster", "update", name, "--label", "min_node_count=2"))
    assert "node_count (1) of default-worker should be at least min_node_count (2)" in result.stderr
    assert "(HTTP 400)" in result.stderr
    assert "Traceback" not in result.stderr
    result = failed(shared.cli("cluster", "update", name, "--label", "max_node_count=0"))
    assert "(HTTP 400)" in result.stderr
    assert "max_node_count" in result.stderr
    assert shared.show(name)["labels"]["min_node_count"] == "1"


def test_the_replace_dialect_of_older_clients_switches_it_too(shared: Shared) -> None:
    name = shared.names[0]
    response = httpx.patch(
        f"{shared.server.endpoint}/clusters/{name}",
        json=[{"op": "replace", "path": "/labels/auto_scaling_enabled", "value": "true"}],
        timeout=30,
    )
    assert response.status_code == 202, response.text
    assert shared.show(name)["labels"]["auto_scaling_enabled"] == "true"
    shared.wait(name, "grown again by the autoscaler", grown_by_autoscaler)
