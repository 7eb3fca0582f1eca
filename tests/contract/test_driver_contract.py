"""The driver contract (``jeroboam/drivers/base.py``), checked the same way against every driver:
what the core asks of a driver is there and typed, every lifecycle call is idempotent, checks
answer with a reason, and the control plane resizes as the driver's check promised."""

from __future__ import annotations

import inspect
import uuid
from dataclasses import replace

import pytest

from jeroboam.domain.containers import ERROR, RUNNING, STOPPED, UNKNOWN, Bay, ContainerRef, ContainerSpec
from jeroboam.domain.specs import ClusterSpec, NodeGroupSpec, TemplateResources, TlsMaterial
from jeroboam.drivers.base import ClusterDriver, ContainerDriver, Driver
from jeroboam.errors import InvalidInputError
from jeroboam.pki import x509

IMAGE, FLAVOR = "jeroboam-node", "m1.small"  # offered by every driver's default catalogue
PKI: dict[str, Pki] = {}  # by cluster


def spec_of(masters: int = 1, workers: int = 1, *, master_lb_enabled: bool = False) -> ClusterSpec:
    cluster = str(uuid.uuid4())

    def group(name: str, role: str, count: int) -> NodeGroupSpec:
        return NodeGroupSpec(str(uuid.uuid4()), name, role, count, IMAGE, FLAVOR, {}, {})

    return ClusterSpec(
        uuid=cluster,
        name=f"c-{cluster[:6]}",
        project_id="contract",
        coe="swarm-mode",
        template_id=str(uuid.uuid4()),
        labels={},
        nodegroups=(group("default-master", "master", masters), group("default-worker", "worker", workers)),
        generation=1,
        master_lb_enabled=master_lb_enabled,
    )


class Pki:
    """The conductor's pki phase, for these tests: one CA per cluster, and an endpoint certificate
    naming loopback and the driver's ``tls_server_names`` (re-issued as they change)."""

    def __init__(self, name: str) -> None:
        self.policy = x509.X509Policy(key_algorithm="ec")
        ca = x509.create_authority(name, self.policy)
        self.authority = x509.Authority(ca.certificate_pem, ca.private_key_pem)
        client = x509.issue_client(self.authority, self.policy)
        self.client = (client.certificate_pem, client.private_key_pem)

    def material(self, spec: ClusterSpec, driver: ClusterDriver) -> TlsMaterial:
        names = ["127.0.0.1", "localhost", *driver.tls_server_names(spec)]
        server = x509.issue_server(self.authority, spec.name, names, self.policy)
        return TlsMaterial(self.authority.certificate_pem, server.certificate_pem, server.private_key_pem, *self.client)


def with_masters(spec: ClusterSpec, count: int) -> ClusterSpec:
    return replace(
        spec,
        nodegroups=tuple(replace(g, node_count=count) if g.is_master else g for g in spec.nodegroups),
        generation=spec.generation + 1,
    )


def converge(driver: ClusterDriver, spec: ClusterSpec) -> ClusterSpec:
    """The conductor's phases in order (the pki phase as ``Pki``)."""
    driver.ensure_infrastructure(spec)
    pki = PKI.setdefault(spec.uuid, Pki(spec.name))
    spec = replace(spec, tls=pki.material(spec, driver))
    for group in (*spec.masters, *spec.workers):
        driver.ensure_nodegroup(spec, group)
    driver.ensure_endpoint(spec)
    return spec


def resize_refusal(driver: ClusterDriver, current: int, desired: int) -> str | None:
    """None when the driver takes the control plane from ``current`` to ``desired`` masters, else its reason."""
    try:
        driver.check_master_resize(current, desired)
    except InvalidInputError as refused:
        return refused.message
    return None


def ready_nodes(driver: ClusterDriver, spec: ClusterSpec) -> dict[str, list[bool]]:
    seen = driver.observe(spec)
    assert seen.api_ok, seen.api_reason
    return {group.name: [node.ready for node in group.nodes] for group in seen.nodegroups}


def test_the_driver_implements_every_member_of_the_contract(driver: ClusterDriver) -> None:
    assert isinstance(driver, Driver)
    assert isinstance(driver, ClusterDriver)
    members = {name for name, _ in inspect.getmembers(ClusterDriver) if not name.startswith("_")}
    members |= set(ClusterDriver.__annotations__) | set(Driver.__annotations__)
    missing = sorted(name for name in members if not hasattr(driver, name))
    assert missing == []
    assert driver.provides
    assert all(p.coe and p.server_type for p in driver.provides)


def test_check_template_names_what_does_not_exist(driver: ClusterDriver) -> None:
    resources = TemplateResources(coe="swarm-mode", server_type="vm", image_id=IMAGE, flavor_id=FLAVOR)
    assert driver.check_template(resources).name == IMAGE
    for wrong, named in (
        (replace(resources, image_id="no-such-image"), "no-such-image"),
        (replace(resources, flavor_id="no-such-flavor"), "no-such-flavor"),
        (replace(resources, external_network_id="no-such-network"), "no-such-network"),
    ):
        with pytest.raises(InvalidInputError) as refused:
            driver.check_template(wrong)
        assert named in refused.value.message


@pytest.mark.parametrize(("current", "desired"), [(1, 3), (3, 5), (5, 3), (3, 1), (1, 99)])
def test_a_master_resize_check_accepts_or_says_why_not(driver: ClusterDriver, current: int, desired: int) -> None:
    refusal = resize_refusal(driver, current, desired)
    assert refusal is None or refusal.strip(), "a refusal must say why"


def test_tls_server_names_are_names(driver: ClusterDriver) -> None:
    spec = spec_of()
    try:
        driver.ensure_infrastructure(spec)
        names = driver.tls_server_names(spec)
        assert all(isinstance(name, str) and name for name in names)
        x509.split_names(["localhost", *names])  # each is a DNS name or an IP address
    finally:
        driver.delete_cluster(spec)


def test_every_lifecycle_call_is_idempotent_and_delete_leaves_nothing_to_observe(driver: ClusterDriver) -> None:
    spec = spec_of()
    try:
        spec = converge(driver, spec)
        first = ready_nodes(driver, spec)
        assert first == {"default-master": [True], "default-worker": [True]}
        names = {g.name: [n.name for n in g.nodes] for g in driver.observe(spec).nodegroups}
        spec = converge(driver, spec)  # again, with the same spec: the same nodes
        assert {g.name: [n.name for n in g.nodes] for g in driver.observe(spec).nodegroups} == names
        assert driver.ensure_endpoint(spec) == driver.ensure_endpoint(spec)
        driver.delete_nodegroup(spec, "no-such-nodegroup")  # absent: nothing to do
    finally:
        driver.delete_cluster(spec)
        driver.delete_cluster(spec)  # deleting what is gone succeeds
    assert [n for g in driver.observe(spec).nodegroups for n in g.nodes] == []


def test_the_control_plane_resizes_as_the_check_promised(driver: ClusterDriver) -> None:
    """1 → 3 → 1 masters (with ``master_lb_enabled``, as the API requires): at every step each
    master is ready, the endpoint answers at the same address, and the workers stay (a driver
    that refuses the resize must say so in ``check_master_resize``)."""
    spec = spec_of(masters=1, workers=1, master_lb_enabled=True)
    try:
        spec = converge(driver, spec)
        endpoint = driver.ensure_endpoint(spec)
        workers = [n.name for g in driver.observe(spec).nodegroups if g.name == "default-worker" for n in g.nodes]
        for current, desired in ((1, 3), (3, 1)):
            refusal = resize_refusal(driver, current, desired)
            if refusal is not None:  # refused by contract, with the reason the API shows (400)
                assert refusal.strip()
                return
            spec = converge(driver, with_masters(spec, desired))
            seen = ready_nodes(driver, spec)
            assert seen["default-master"] == [True] * desired
            assert seen["default-worker"] == [True]
            assert driver.observe(spec).api_address == endpoint
            still = [n.name for g in driver.observe(spec).nodegroups if g.name == "default-worker" for n in g.nodes]
            assert still == workers
    finally:
        driver.delete_cluster(spec)


def test_containers_run_their_lifecycle_and_a_gone_cluster_is_reported_not_raised(driver: ClusterDriver) -> None:
    """The container part of the contract (``ContainerDriver``), on a converged cluster."""
    assert isinstance(driver, ContainerDriver)
    spec = spec_of()
    bay = Bay(spec.uuid, spec.name, spec.project_id, spec.coe)
    box = ContainerSpec(str(uuid.uuid4()), "box", "jeroboam/busybox:latest", "sleep 600", "16m", {"A": "1"})
    try:
        spec = converge(driver, spec)
        created = driver.create_container(bay, box)
        assert created.status == STOPPED
        assert created.host
        ref = ContainerRef(box.uuid, created.host, created.status)
        started = driver.container_action(bay, ref, "start")
        assert started.status == RUNNING
        ref = ContainerRef(box.uuid, created.host, started.status)
        assert driver.observe_containers(bay, [ref])[box.uuid].status == RUNNING
        assert driver.execute_in_container(bay, ref, "true").exit_code == 0
        assert isinstance(driver.container_logs(bay, ref), str)
    finally:
        driver.delete_cluster(spec)
    gone = driver.observe_containers(bay, [ref])[box.uuid]
    assert gone.status in (ERROR, UNKNOWN)
    assert gone.reason
    driver.delete_container(bay, ref)  # what is gone is deleted without an error
