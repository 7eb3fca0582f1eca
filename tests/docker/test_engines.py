"""Several Docker hosts, and Docker engines that stop answering or restart under running clusters.

``jeroboam up`` gets three engines of its own, each ``dockerd`` in a network namespace this module
creates (``tests/support/netns_engines.py``): ``vip`` reserved for project ``gold``, ``east`` and
``west`` for anyone, one project at a time. The host's engine is not used (other work runs on it).
The tests run in file order and share the clusters, each of one manager (``alpha-1`` also has one
worker and ``auto_healing_enabled``):

placement by the rules → a frozen (SIGSTOP) engine is never chosen → a frozen engine turns its
clusters UNHEALTHY naming it, a delete waits for it, clusters elsewhere stay HEALTHY → dockerd
restarted (SIGTERM, start) → power loss (SIGKILL of every process of the engine) with a node that
does not come back, healed → deletes leave nothing on any engine; the engines are then torn down
and nothing of them is left (the fixture raises otherwise).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import docker
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.compat.conftest import JeroboamProcess, running_jeroboam
from tests.compat.conftest import poll as poll_until
from tests.support.netns_engines import NetnsEngine, engines_setting, netns_engines

pytestmark = [pytest.mark.docker]

T = TypeVar("T")
WAIT = 180.0  # seconds for a cluster operation (a create takes ~10 s here; CI machines are busy)
LABEL = "org.jeroboam.cluster"
TEMPLATE = {
    "name": "swarm",
    "coe": "swarm-mode",
    "image_id": "jeroboam-node",
    "external_network_id": "public",
    "flavor_id": "m1.tiny",
    "master_flavor_id": "m1.tiny",
}


def poll(what: str, probe: Callable[[], T | None], deadline: float = WAIT) -> T:
    return poll_until(what, probe, deadline, 0.3)


@dataclass
class Hosts:
    """What the ordered tests share."""

    server: JeroboamProcess
    engines: dict[str, NetnsEngine]
    work: Path
    clusters: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (project, uuid)
    durations: dict[str, float] = field(default_factory=dict)

    def api(self, project: str) -> httpx.Client:
        headers = {
            "X-Project-Id": project,
            "X-User-Id": f"{project}-owner",
            "X-Roles": "member,reader",
            "OpenStack-API-Version": "container-infra latest",
        }
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=30)

    def create(self, project: str, name: str, workers: int = 0, labels: dict[str, str] | None = None) -> str:
        with self.api(project) as api:
            if api.get("/v1/clustertemplates/swarm").status_code == 404:
                assert api.post("/v1/clustertemplates", json=TEMPLATE).status_code == 201
            body = {"cluster_template_id": "swarm", "name": name, "master_count": 1, "node_count": workers}
            if labels:
                body["labels"] = labels
            response = api.post("/v1/clusters", json=body)
        assert response.status_code == 202, response.text
        uuid: str = response.json()["uuid"]
        self.clusters[name] = (project, uuid)
        return uuid

    def show(self, name: str) -> dict[str, Any]:
        project, uuid = self.clusters[name]
        with self.api(project) as api:
            response = api.get(f"/v1/clusters/{uuid}")
        if response.status_code == 404:
            return {}
        body: dict[str, Any] = response.json()
        return body

    def wait(
        self, name: str, check: Callable[[dict[str, Any]], bool], what: str, *, also: Callable[[], None] = lambda: None
    ) -> dict[str, Any]:
        """Until the cluster ``check``s, calling ``also`` (an assertion about other clusters) at every look."""
        last: dict[str, Any] = {}

        def probe() -> dict[str, Any] | None:
            nonlocal last
            also()
            last = self.show(name)
            return last if check(last) else None

        try:
            return poll(f"{name} {what}", probe)
        except AssertionError:
            print(json.dumps(last, indent=1)[:3000], self.server.log_tail(40), sep="\n")
            raise

    def healthy(self, name: str) -> dict[str, Any]:
        return self.wait(
            name, lambda b: b.get("status", "").endswith("_COMPLETE") and b.get("health_status") == "HEALTHY", "HEALTHY"
        )

    def engine_of(self, name: str) -> list[str]:
        """The engines holding objects of the cluster (asked directly, not through Jeroboam; a frozen
        engine is not asked)."""
        uuid = self.clusters[name][1]
        found = []
        for engine in self.engines.values():
            if engine.frozen:
                continue
            with contextlib.closing(engine.client()) as client:
                only: dict[str, Any] = {"label": [f"{LABEL}={uuid}"]}
                if client.networks.list(filters=only) or client.containers.list(all=True, filters=only):
                    found.append(engine.name)
        return found

    def timed(self, what: str, started: float) -> None:
        self.durations[what] = round(time.monotonic() - started, 1)
        print(f"{what}: {self.durations[what]} s", flush=True)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    work = tmp_path_factory.mktemp("engines")
    with netns_engines(3, work, names=["vip", "east", "west"]) as started:
        engines = {e.name: e for e in started}
        env = {
            "JEROBOAM_DOCKER__ENGINES": engines_setting(started, {"vip": ["gold"]}),
            "JEROBOAM_DOCKER__ALLOW_PROJECT_MIXING": "false",
            "JEROBOAM_CONDUCTOR__POLL_INTERVAL": "0.2",
            "JEROBOAM_CONDUCTOR__HEALTH_POLLING_INTERVAL": "1",
            "JEROBOAM_CONDUCTOR__UNREACHABLE_RETRY_WINDOW": "300",
            "JEROBOAM_X509__KEY_ALGORITHM": "ec",
        }
        with running_jeroboam(work / "up", env=env) as server:
            shared = Hosts(server, engines, work)
            yield shared
            print("durations (s):", json.dumps(shared.durations), flush=True)


def test_clusters_are_placed_by_the_rules(hosts: Hosts) -> None:
    started = time.monotonic()
    hosts.create("gold", "gold-1")
    hosts.create("alpha", "alpha-1", workers=1, labels={"auto_healing_enabled": "true"})
    hosts.create("beta", "beta-1")
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(hosts.healthy, ["gold-1", "alpha-1", "beta-1"]))
    hosts.timed("three creates on three engines", started)
    assert hosts.engine_of("gold-1") == ["vip"]  # the engine reserved for gold
    # alpha and beta each got an unreserved engine of their own (they raced for the first one).
    assert sorted(hosts.engine_of("alpha-1") + hosts.engine_of("beta-1")) == ["east", "west"]
    for name in ("gold-1", "alpha-1", "beta-1"):
        address = hosts.show(name)["api_address"]
        assert address.startswith(f"tcp://{hosts.engines[hosts.engine_of(name)[0]].address}:"), address


def test_a_frozen_engine_is_never_chosen(hosts: Hosts) -> None:
    """beta's engine is frozen after beta's cluster is deleted: it is free and the emptiest, but
    alpha's second cluster goes next to its first, and a new project's cluster waits, saying why."""
    beta_engine = hosts.engine_of("beta-1")[0]
    alpha_engine = hosts.engine_of("alpha-1")[0]
    project, uuid = hosts.clusters["beta-1"]
    with hosts.api(project) as api:
        assert api.delete(f"/v1/clusters/{uuid}").status_code == 204
    hosts.wait("beta-1", lambda b: not b, "deleted")
    assert hosts.engine_of("beta-1") == []
    hosts.engines[beta_engine].freeze()
    try:
        started = time.monotonic()
        hosts.create("alpha", "alpha-2")
        hosts.healthy("alpha-2")
        hosts.timed("create while an engine is frozen", started)
        assert hosts.engine_of("alpha-2") == [alpha_engine]  # not the free one, which is frozen; not vip
        hosts.create("delta", "delta-1")
        waiting = hosts.wait(
            "delta-1",
            lambda b: f"or does not answer ({beta_engine})" in (b.get("status_reason") or ""),
            "waiting for an engine",
        )
        assert waiting["status"] == "CREATE_IN_PROGRESS"
        assert waiting["status_reason"].startswith("Waiting to retry phase infrastructure: Every Docker engine is")
    finally:
        hosts.engines[beta_engine].thaw()
    project, uuid = hosts.clusters["delta-1"]
    with hosts.api(project) as api:
        assert api.delete(f"/v1/clusters/{uuid}").status_code == 204
    hosts.wait("delta-1", lambda b: not b, "deleted")


def test_a_frozen_engine_turns_its_clusters_unhealthy_and_holds_their_deletes(hosts: Hosts) -> None:
    engine = hosts.engine_of("alpha-1")[0]
    gold = hosts.healthy("gold-1")

    def gold_untouched() -> None:
        now = hosts.show("gold-1")
        assert (now["status"], now["health_status"]) == (gold["status"], "HEALTHY"), now

    hosts.engines[engine].freeze()
    try:
        started = time.monotonic()
        names = f"(engine {engine})"
        plain = hosts.wait(
            "alpha-2",
            lambda b: b.get("health_status") == "UNHEALTHY" and names in b["health_status_reason"]["api"],
            "UNHEALTHY naming its engine",
            also=gold_untouched,
        )
        hosts.timed("frozen engine: UNHEALTHY", started)
        assert plain["status"] == "CREATE_COMPLETE"
        assert plain["health_status_reason"]["api"].startswith("No Docker engine answers at unix://")
        # alpha-1 heals itself: its autoheal update waits for the engine, saying so.
        healing = hosts.wait(
            "alpha-1",
            lambda b: b.get("status") == "UPDATE_IN_PROGRESS" and names in (b.get("status_reason") or ""),
            "autoheal waiting for its engine",
            also=gold_untouched,
        )
        assert healing["health_status"] == "UNHEALTHY"
        project, uuid = hosts.clusters["alpha-2"]
        with hosts.api(project) as api:
            assert api.delete(f"/v1/clusters/{uuid}").status_code == 204
        held = hosts.wait(
            "alpha-2",
            lambda b: names in (b.get("status_reason") or ""),
            "delete waiting for its engine",
            also=gold_untouched,
        )
        assert held["status"] == "DELETE_IN_PROGRESS"
        assert held["status_reason"].startswith("Waiting to retry phase delete: No Docker engine answers at ")
    finally:
        hosts.engines[engine].thaw()
    started = time.monotonic()
    hosts.wait("alpha-2", lambda b: not b, "deleted once its engine is back")
    hosts.timed("thawed engine: delete finished", started)
    assert hosts.engine_of("alpha-2") == []
    healed = hosts.healthy("alpha-1")
    hosts.timed("thawed engine: autoheal finished", started)
    assert healed["status"] == "UPDATE_COMPLETE"
    gold_untouched()


def client_of(hosts: Hosts, name: str) -> docker.DockerClient:
    """The cluster's Docker API at its api_address, with a client certificate the API signed."""
    project, uuid = hosts.clusters[name]
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "admin")]))
        .sign(key, hashes.SHA256())
    )
    with hosts.api(project) as api:
        signed = api.post(
            "/v1/certificates",
            json={"cluster_uuid": uuid, "csr": csr.public_bytes(serialization.Encoding.PEM).decode()},
        )
        assert signed.status_code == 201, signed.text
        ca = api.get(f"/v1/certificates/{uuid}").json()["pem"]
        address = api.get(f"/v1/clusters/{uuid}").json()["api_address"]
    files = Path(tempfile.mkdtemp(dir=hosts.work))
    (files / "ca.pem").write_text(ca)
    (files / "cert.pem").write_text(signed.json()["pem"])
    (files / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    tls = docker.tls.TLSConfig(
        client_cert=(str(files / "cert.pem"), str(files / "key.pem")), ca_cert=str(files / "ca.pem"), verify=True
    )
    client = docker.DockerClient(base_url=address, tls=tls, version="1.41", timeout=10)
    client.api.trust_env = False
    return client


def ready_swarm(client: docker.DockerClient) -> dict[str, str] | None:
    """The swarm's nodes (hostname: state) once every one is ready."""
    nodes = {n.attrs["Description"]["Hostname"]: n.attrs["Status"]["State"] for n in client.nodes.list()}
    return nodes if set(nodes.values()) == {"ready"} else None


def says_its_engine_is_away(engine: NetnsEngine) -> Callable[[dict[str, Any]], bool]:
    """UNHEALTHY, naming the engine: in the health reason, or (while autoheal's update waits for the
    engine, and health checks pause) in the status reason."""
    names = f"(engine {engine.name})"

    def check(body: dict[str, Any]) -> bool:
        reasons = ((body.get("health_status_reason") or {}).get("api", ""), body.get("status_reason") or "")
        return body.get("health_status") == "UNHEALTHY" and any(names in r for r in reasons)

    return check


def test_dockerd_restart_under_running_clusters(hosts: Hosts) -> None:
    """SIGTERM to both engines' dockerd (as ``systemctl restart docker``): it stops the node
    containers, and on start their restart policy brings them back with the same addresses and
    published ports. gold-1 (no autoheal) comes back by itself; alpha-1 (autoheal) too, or through
    its autoheal update."""
    names = ("alpha-1", "gold-1")
    engines = [hosts.engines[hosts.engine_of(name)[0]] for name in names]
    before = {name: hosts.healthy(name) for name in names}
    for name in names:
        with contextlib.closing(client_of(hosts, name)) as client:
            assert ready_swarm(client) is not None
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(NetnsEngine.stop, engines))
    for name, engine in zip(names, engines, strict=True):
        hosts.wait(name, says_its_engine_is_away(engine), "UNHEALTHY naming its engine while dockerd is down")
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(NetnsEngine.start, engines))
    for name in names:
        after = hosts.healthy(name)
        hosts.timed(f"dockerd restart: {name} HEALTHY again", started)
        assert after["api_address"] == before[name]["api_address"]
        with contextlib.closing(client_of(hosts, name)) as client:
            nodes = poll(f"every swarm node of {name} ready", lambda: ready_swarm(client))
        assert len(nodes) == before[name]["node_count"] + before[name]["master_count"], nodes
    assert hosts.show("gold-1")["status"] == "CREATE_COMPLETE"  # no update was needed: healed by itself


def test_power_loss_with_a_node_that_does_not_come_back(hosts: Hosts) -> None:
    """Every process of the engine killed at once (dockerd, containerd, shims, nodes) and /run emptied,
    as a host that loses power. The worker's restart policy was set to "no" before (``docker update
    --restart=no``, the stand-in for a node that does not come back): the cluster says so and
    autoheal replaces the worker."""
    engine = hosts.engines[hosts.engine_of("alpha-1")[0]]
    before = hosts.healthy("alpha-1")
    uuid = hosts.clusters["alpha-1"][1]
    only: dict[str, Any] = {"label": [f"{LABEL}={uuid}", "org.jeroboam.role=worker"]}
    with contextlib.closing(engine.client()) as client:
        [worker] = client.containers.list(filters=only)
        # The stubs know only "always" and "on-failure"; the API takes "no" too.
        client.api.update_container(str(worker.id), restart_policy=cast(Any, {"Name": "no"}))
    started = time.monotonic()
    engine.crash()
    hosts.wait("alpha-1", says_its_engine_is_away(engine), "UNHEALTHY naming its engine while it is off")
    engine.start()
    hosts.timed("power loss: engine back", started)
    after = hosts.wait(
        "alpha-1",
        lambda b: b.get("status") == "UPDATE_COMPLETE" and b.get("health_status") == "HEALTHY",
        "healed",
    )
    hosts.timed("power loss: healed", started)
    assert after["api_address"] == before["api_address"]
    with contextlib.closing(engine.client()) as client:
        [replacement] = client.containers.list(all=True, filters=only)
        assert replacement.id != worker.id
        assert replacement.status == "running"
    with contextlib.closing(client_of(hosts, "alpha-1")) as client:
        nodes = poll("every swarm node ready", lambda: ready_swarm(client))
    assert sorted(nodes) == sorted(["alpha-1-default-master-0", replacement.labels["org.jeroboam.node"]]), nodes


def test_deletes_leave_nothing_on_any_engine(hosts: Hosts) -> None:
    for name in ("alpha-1", "gold-1"):
        project, uuid = hosts.clusters[name]
        with hosts.api(project) as api:
            assert api.delete(f"/v1/clusters/{uuid}").status_code == 204
    for name in ("alpha-1", "gold-1"):
        hosts.wait(name, lambda b: not b, "deleted")
    for engine in hosts.engines.values():
        with contextlib.closing(engine.client()) as client:
            ours: dict[str, Any] = {"label": [LABEL]}
            left = [c.name for c in client.containers.list(all=True, filters=ours)]
            left += [n.name for n in client.networks.list(filters=ours)]
            left += [v.name for v in client.volumes.list(filters=ours)]
            assert left == [], (engine.name, left)
