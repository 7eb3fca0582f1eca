"""The docker provider's driver against the real local engine, below the API: placement between
projects, deletion after a conductor killed mid-create, and template checks."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import replace
from pathlib import Path

import docker
import docker.errors
import pytest

from jeroboam.config import DockerDriverSettings, Settings
from jeroboam.domain.specs import ClusterSpec, NodeGroupSpec, Taint, TemplateResources, TlsMaterial
from jeroboam.drivers.docker.driver import DockerDriver
from jeroboam.errors import InvalidInputError, RetryableError
from jeroboam.pki import x509 as pki

pytestmark = pytest.mark.docker
LABEL = "org.jeroboam.cluster"


def tls_for(spec: ClusterSpec, driver: DockerDriver) -> TlsMaterial:
    policy = pki.X509Policy(key_algorithm="ec")
    ca = pki.create_authority(spec.name, policy)
    authority = pki.Authority(ca.certificate_pem, ca.private_key_pem)
    server = pki.issue_server(authority, spec.name, ["127.0.0.1", "localhost", *driver.tls_server_names(spec)], policy)
    client = pki.issue_client(authority, policy)
    return TlsMaterial(
        ca.certificate_pem, server.certificate_pem, server.private_key_pem, client.certificate_pem,
        client.private_key_pem,
    )  # fmt: skip


def spec_of(project: str, workers: int = 1) -> ClusterSpec:
    cluster = str(uuid.uuid4())

    def group(name: str, role: str, count: int) -> NodeGroupSpec:
        return NodeGroupSpec(str(uuid.uuid4()), name, role, count, "jeroboam-node", "m1.small", {}, {})

    return ClusterSpec(
        uuid=cluster,
        name=f"t-{cluster[:6]}",
        project_id=project,
        coe="swarm-mode",
        template_id=str(uuid.uuid4()),
        labels={},
        nodegroups=(group("default-master", "master", 1), group("default-worker", "worker", workers)),
        generation=1,
    )


def leftovers(client: docker.DockerClient, cluster: str) -> int:
    label = {"label": f"{LABEL}={cluster}"}
    return (
        len(client.containers.list(all=True, filters=label))
        + len(client.volumes.list(filters=label))
        + len(client.networks.list(filters=label))
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def driver(settings: Settings, docker_client: docker.DockerClient) -> DockerDriver:
    return DockerDriver(settings)


def test_an_engine_serves_one_project_at_a_time_by_default(
    driver: DockerDriver, docker_client: docker.DockerClient
) -> None:
    first, second = spec_of("project-a"), spec_of("project-b")
    same_project = spec_of("project-a")
    try:
        driver.ensure_infrastructure(first)
        driver.ensure_infrastructure(same_project)  # the same project shares its engine
        with pytest.raises(RetryableError, match="serving another project"):
            driver.ensure_infrastructure(second)
        assert leftovers(docker_client, second.uuid) == 0
        driver.delete_cluster(first)
        driver.delete_cluster(same_project)
        driver.ensure_infrastructure(second)  # the engine is free again
        assert leftovers(docker_client, second.uuid) == 1
    finally:
        for spec in (first, second, same_project):
            driver.delete_cluster(spec)


def test_mixing_projects_on_one_engine_is_an_explicit_setting(
    settings: Settings, docker_client: docker.DockerClient
) -> None:
    settings.docker.allow_project_mixing = True
    driver = DockerDriver(settings)
    specs = [spec_of("project-a"), spec_of("project-b")]
    try:
        for spec in specs:
            driver.ensure_infrastructure(spec)
        subnets = {
            docker_client.networks.list(filters={"label": f"{LABEL}={s.uuid}"})[0].attrs["IPAM"]["Config"][0]["Subnet"]
            for s in specs
        }
        assert len(subnets) == 2
    finally:
        for spec in specs:
            driver.delete_cluster(spec)


def test_a_cluster_is_built_observed_repaired_and_deleted_to_nothing(
    driver: DockerDriver, docker_client: docker.DockerClient
) -> None:
    spec = spec_of("project-a")
    labelled = replace(
        spec.workers[0],
        name="labelled",
        uuid=str(uuid.uuid4()),
        node_labels={"zone": "a"},
        node_taints=(Taint("dedicated", "NoSchedule", "db"),),
        flavor="m1.tiny",
    )
    spec = replace(spec, nodegroups=(*spec.nodegroups, labelled))
    try:
        driver.ensure_infrastructure(spec)
        spec = replace(spec, tls=tls_for(spec, driver))
        masters = driver.ensure_nodegroup(spec, spec.masters[0])
        workers = driver.ensure_nodegroup(spec, spec.workers[0])
        driver.ensure_nodegroup(spec, labelled)
        address = driver.ensure_endpoint(spec)
        assert address.startswith("tcp://127.0.0.1:")
        seen = driver.observe(spec)
        assert seen.api_ok, seen.api_reason
        assert [n.ready for g in seen.nodegroups for n in g.nodes] == [True, True, True]
        assert len(masters.nodes) == 1
        assert len(workers.nodes) == 1
        assert seen.coe_version

        # node_labels and taints reach swarm; the flavor limits the node container
        home = driver.placement.find(spec.uuid)
        assert home is not None
        [member] = [m for m in driver._swarm(home, spec).nodes().values() if m.hostname.endswith("-labelled-0")]
        assert member.labels == {"zone": "a", "jeroboam.nodegroup": "labelled"}
        assert member.availability == "pause"
        [container] = docker_client.containers.list(filters={"label": f"org.jeroboam.node={member.hostname}"})
        assert container.attrs["HostConfig"]["NanoCpus"] == 500_000_000
        assert container.attrs["HostConfig"]["Memory"] == 512 * 2**20

        # The host's node image changes (a package update; here another tag stands in for the rebuilt
        # image): a replaced node still takes the image the cluster was built with.
        built_with = container.attrs["Config"]["Image"]
        docker_client.images.get(built_with).tag("jeroboam/node", f"rebuilt-{spec.uuid[:8]}")
        driver._images[home.engine.name] = f"jeroboam/node:rebuilt-{spec.uuid[:8]}"

        # a worker whose engine stops answering (paused) is reported, then replaced
        [hung] = docker_client.containers.list(filters={"label": f"org.jeroboam.node={workers.nodes[0].name}"})
        hung.pause()
        reasons = {n.name: n.reason for g in driver.observe(spec).nodegroups for n in g.nodes if not n.ready}
        assert reasons == {workers.nodes[0].name: "node container is paused"}
        healed = driver.ensure_nodegroup(spec, spec.workers[0])
        assert [n.name for n in healed.nodes] != [workers.nodes[0].name]
        assert all(n.ready for n in healed.nodes)
        assert workers.nodes[0].name not in driver._swarm(home, spec).nodes()
        for node in healed.nodes:
            [new] = docker_client.containers.list(filters={"label": f"org.jeroboam.node={node.name}"})
            assert new.attrs["Config"]["Image"] == built_with

        # a nodegroup that is deleted leaves nothing
        driver.delete_nodegroup(spec, "labelled")
        assert not docker_client.containers.list(all=True, filters={"label": f"org.jeroboam.node={member.hostname}"})
    finally:
        driver.delete_cluster(spec)
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(f"jeroboam/node:rebuilt-{spec.uuid[:8]}")  # the tag only
    assert leftovers(docker_client, spec.uuid) == 0


CRASHING_CONDUCTOR = textwrap.dedent(
    """
    import pickle, sys
    from jeroboam.drivers.docker.driver import DockerDriver
    settings, spec = pickle.loads(sys.stdin.buffer.read())
    driver = DockerDriver(settings)
    driver.ensure_infrastructure(spec)
    driver.ensure_nodegroup(spec, spec.masters[0])
    driver.ensure_nodegroup(spec, spec.workers[0])
    """
)


def test_delete_after_a_conductor_killed_mid_create_leaves_nothing(
    driver: DockerDriver, settings: Settings, docker_client: docker.DockerClient
) -> None:
    import pickle

    spec = spec_of("project-a", workers=2)
    driver.ensure_infrastructure(spec)
    spec = replace(spec, tls=tls_for(spec, driver))
    process = subprocess.Popen([sys.executable, "-c", CRASHING_CONDUCTOR], stdin=subprocess.PIPE, env=dict(os.environ))
    assert process.stdin is not None
    process.stdin.write(pickle.dumps((settings, spec)))
    process.stdin.close()
    try:
        deadline = time.monotonic() + 120
        # Kill it as soon as it has made a worker: the middle of the workers phase.
        while not docker_client.containers.list(
            all=True, filters={"label": [f"{LABEL}={spec.uuid}", "org.jeroboam.role=worker"]}
        ):
            assert process.poll() is None, "the conductor finished before it could be killed"
            assert time.monotonic() < deadline, "no worker container appeared"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        assert leftovers(docker_client, spec.uuid) >= 3  # network, manager, a worker (and volumes)
    finally:
        if process.poll() is None:
            process.kill()
        driver.delete_cluster(spec)
    assert leftovers(docker_client, spec.uuid) == 0


def test_a_manager_whose_port_another_cluster_took_moves_to_a_free_port_keeping_its_swarm(
    settings: Settings, docker_client: docker.DockerClient
) -> None:
    """Two conductors can pick one free port for two managers; only the one started first gets it.
    A conductor killed between creating its manager and starting it leaves a manager whose port
    another cluster holds by then (found by the real-cluster crash run: the takeover's start failed
    until the create ended CREATE_FAILED). Here a stopped manager and a container on its port."""
    settings.docker.allow_project_mixing = True  # the engine may host other runs' clusters
    driver = DockerDriver(settings)
    spec = spec_of("project-a", workers=0)
    thief = None
    try:
        driver.ensure_infrastructure(spec)
        spec = replace(spec, tls=tls_for(spec, driver))
        driver.ensure_nodegroup(spec, spec.masters[0])
        first = driver.ensure_endpoint(spec)
        home = driver.placement.find(spec.uuid)
        assert home is not None
        [before] = driver._swarm(home, spec).nodes().values()
        [manager] = docker_client.containers.list(filters={"label": [f"{LABEL}={spec.uuid}", "org.jeroboam.role"]})
        port = int(manager.labels["org.jeroboam.api-port"])
        manager.stop(timeout=5)
        thief = docker_client.containers.run(
            "jeroboam/busybox:latest", ["sleep", "600"], detach=True, ports={"2376/tcp": ("127.0.0.1", port)},
            labels={"org.jeroboam.test": "port-thief"},
        )  # fmt: skip

        driver.ensure_nodegroup(spec, spec.masters[0])
        moved = driver.ensure_endpoint(spec)  # answers over TLS on the new port
        assert moved != first
        assert moved.startswith("tcp://127.0.0.1:")
        [after] = driver._swarm(home, spec).nodes().values()
        assert (after.id, after.hostname, after.state) == (before.id, before.hostname, "ready")  # its volume kept
        assert len(docker_client.volumes.list(filters={"label": f"{LABEL}={spec.uuid}"})) == 1
    finally:
        if thief is not None:
            thief.remove(force=True)
        driver.delete_cluster(spec)
    assert leftovers(docker_client, spec.uuid) == 0


def test_docker_volume_size_is_refused_at_template_time_unless_storage_can_size_it(settings: Settings) -> None:
    resources = TemplateResources(
        coe="swarm-mode", server_type="vm", image_id="jeroboam-node", flavor_id="m1.small", docker_volume_size=5
    )
    with pytest.raises(InvalidInputError, match="docker_volume_size"):
        DockerDriver(settings).check_template(resources)
    settings.docker.node_storage = "tmpfs"
    assert DockerDriver(settings).check_template(resources).os_distro == "debian"


def test_three_masters_form_a_raft_quorum_of_reachable_managers(
    driver: DockerDriver, docker_client: docker.DockerClient
) -> None:
    spec = spec_of("project-a", workers=1)
    spec = replace(spec, nodegroups=(replace(spec.masters[0], node_count=3), spec.workers[0]))
    try:
        driver.ensure_infrastructure(spec)
        spec = replace(spec, tls=tls_for(spec, driver))
        for group in (*spec.masters, *spec.workers):
            driver.ensure_nodegroup(spec, group)
        driver.ensure_endpoint(spec)
        home = driver.placement.find(spec.uuid)
        assert home is not None
        members = driver._swarm(home, spec).nodes()
        managers = [m for m in members.values() if m.role == "manager"]
        assert len(managers) == 3
        assert {m.reachability for m in managers} == {"reachable"}
        assert all(m.state == "ready" for m in members.values())
        ports = {c.labels["org.jeroboam.api-port"] for c in docker_client.containers.list(
            filters={"label": [f"{LABEL}={spec.uuid}", "org.jeroboam.role=manager"]})}  # fmt: skip
        assert len(ports) == 3  # each manager publishes its own endpoint
    finally:
        driver.delete_cluster(spec)
    assert leftovers(docker_client, spec.uuid) == 0


def test_the_control_plane_resizes_one_manager_at_a_time_keeping_raft_quorum(
    tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    """1 → 3 → 5 → 3 → 1 managers: after every step the swarm has exactly that many managers, all
    reachable, one leader, and the worker stayed; leaving managers are demoted before they go."""
    # The engine is shared with other test runs: this cluster may sit next to other projects'.
    driver = DockerDriver(Settings(data_dir=tmp_path, docker=DockerDriverSettings(allow_project_mixing=True)))
    spec = spec_of("project-a", workers=1)
    transcript: list[str] = []
    policy = pki.X509Policy(key_algorithm="ec")
    ca = pki.create_authority(spec.name, policy)
    authority = pki.Authority(ca.certificate_pem, ca.private_key_pem)
    client = pki.issue_client(authority, policy)

    def tls(spec: ClusterSpec) -> TlsMaterial:
        """As the pki phase: the same CA, an endpoint certificate naming the managers there are."""
        names = ["127.0.0.1", "localhost", *driver.tls_server_names(spec)]
        server = pki.issue_server(authority, spec.name, names, policy)
        return TlsMaterial(
            ca.certificate_pem, server.certificate_pem, server.private_key_pem, client.certificate_pem,
            client.private_key_pem,
        )  # fmt: skip

    try:
        driver.ensure_infrastructure(spec)
        spec = replace(spec, tls=tls(spec))
        for group in (*spec.masters, *spec.workers):
            driver.ensure_nodegroup(spec, group)
        driver.ensure_endpoint(spec)
        home = driver.placement.find(spec.uuid)
        assert home is not None
        worker = [n for n in driver._swarm(home, spec).nodes() if "-default-worker-" in n]
        for current, desired in ((1, 3), (3, 5), (5, 3), (3, 1)):
            driver.check_master_resize(current, desired)
            masters = replace(spec.masters[0], node_count=desired)
            spec = replace(spec, nodegroups=(masters, spec.workers[0]))
            driver.ensure_infrastructure(spec)
            spec = replace(spec, tls=tls(spec))
            started = time.monotonic()
            driver.ensure_nodegroup(spec, masters)
            took = time.monotonic() - started
            raw = driver._swarm(home, spec).client.api.nodes()
            managers = sorted(
                (n["Description"]["Hostname"], status["Reachability"], bool(status.get("Leader")))
                for n in raw if (status := n.get("ManagerStatus"))
            )  # fmt: skip
            transcript.append(
                f"{current} -> {desired} managers in {took:.0f} s: "
                + ", ".join(f"{name} {reach}{' leader' if leader else ''}" for name, reach, leader in managers)
            )
            assert len(managers) == desired
            assert {reach for _, reach, _ in managers} == {"reachable"}
            assert sum(leader for _, _, leader in managers) == 1
            assert [n for n in driver._swarm(home, spec).nodes() if "-default-worker-" in n] == worker
            assert driver.observe(spec).api_ok
    finally:
        print("\n".join(["control-plane resize transcript:", *transcript]))
        driver.delete_cluster(spec)
    assert leftovers(docker_client, spec.uuid) == 0


def test_a_delete_stops_node_creation_at_once(tmp_path: Path, docker_client: docker.DockerClient) -> None:
    # Another project's clusters on the shared engine must not keep this one from being placed.
    driver = DockerDriver(Settings(data_dir=tmp_path, docker={"allow_project_mixing": True}))
    spec = spec_of("project-cancel", workers=6)
    try:
        driver.ensure_infrastructure(spec)
        home = driver.placement.find(spec.uuid)
        assert home is not None
        image = driver._node_image(home.engine)
        driver.cancel(spec.uuid)  # what the conductor does when a delete supersedes the create
        with pytest.raises(RetryableError, match="a delete stopped the creation of nodes"):
            driver._provision(home, spec, spec.workers[0], image, range(6))
        assert docker_client.containers.list(all=True, filters={"label": f"{LABEL}={spec.uuid}"}) == []
    finally:
        driver.delete_cluster(spec)
    assert spec.uuid not in driver._cancelled  # the delete ends the mark
    assert leftovers(docker_client, spec.uuid) == 0
