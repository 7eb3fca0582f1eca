"""/v1/containers over real HTTP with a real conductor building SIMULATED swarm bays (the sim
driver): the 2015 wire shape, actions and their statuses, the live status of a container whose
node a resize removed, tenancy, the wrong coe and an unready bay, the 2015 version header, and
the refused /v1/pods, /v1/services and /v1/rcs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from jeroboam.api.app import create_app
from jeroboam.conductor.worker import Conductor
from jeroboam.db import migrate
from jeroboam.db.models import Cluster, Container
from jeroboam.drivers.sim import SimDriver
from jeroboam.rpc.notifications import NullNotifier
from jeroboam.services.wiring import Services
from tests.conftest import Api, make_settings
from tests.support.databases import database_or_skip
from tests.support.identities import ALPHA_MEMBER, ALPHA_READER, BETA_MEMBER
from tests.support.server import serve

WAIT = 30.0
SUMMARY_KEYS = {"uuid", "name", "bay_uuid", "image", "command", "status", "memory", "environment", "links"}
DETAIL_KEYS = SUMMARY_KEYS | {"status_reason", "host", "created_at", "updated_at"}


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def detail(response: httpx.Response) -> str:
    text: str = response.json()["errors"][0]["detail"]
    return text


class Bays:
    """An API server and a conductor in this process, on one database, building sim bays."""

    def __init__(self, url: str, services: Services) -> None:
        self.url = url
        self.services = services
        self.alpha = Api(url, ALPHA_MEMBER)
        self.templates: dict[tuple[str, bool], str] = {}

    def template(self, coe: str, *, registry: bool = False) -> str:
        if (coe, registry) not in self.templates:
            response = self.alpha.post(
                "/v1/clustertemplates",
                json={
                    "name": f"sim-{coe}{'-registry' if registry else ''}",
                    "registry_enabled": registry,
                    "coe": coe,
                    "image_id": "fedora-coreos",
                    "external_network_id": "public",
                    "flavor_id": "m1.small",
                    "master_flavor_id": "m1.small",
                    "driver": "sim",
                },
            )
            assert response.status_code == 201, response.text
            self.templates[coe, registry] = response.json()["uuid"]
        return self.templates[coe, registry]

    def bay(
        self, name: str, *, coe: str = "swarm-mode", node_count: int = 2, wait: bool = True, registry: bool = False
    ) -> str:
        template = self.template(coe, registry=registry)
        response = self.alpha.post("/v1/bays", json={"name": name, "baymodel_id": template, "node_count": node_count})
        assert response.status_code == 202, response.text
        uuid: str = response.json()["uuid"]
        if wait:
            self.wait_bay(uuid, "CREATE_COMPLETE")
        return uuid

    def wait_bay(self, uuid: str, status: str) -> None:
        def there() -> bool:
            return str(self.alpha.get(f"/v1/bays/{uuid}").json().get("status")) == status

        wait_for(there, WAIT, f"bay {uuid} to be {status}")


@pytest.fixture(scope="module")
def bays(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bays]:
    workdir = tmp_path_factory.mktemp(f"containers-{backend}")
    with database_or_skip(backend, workdir) as url:
        settings = make_settings(
            workdir,
            url,
            conductor={"lease_seconds": 5, "poll_interval": 0.2, "health_polling_interval": 3600, "workers": 4},
            sim={"state_dir": workdir / "sim", "latency_seconds": 0.0},
        )
        services = Services.build(settings)
        migrate.upgrade(services.db.engine)
        conductor = Conductor(
            services.db, services.drivers, settings, notifier=NullNotifier(), wakeups=services.waker, host="containers"
        )
        conductor.start()
        try:
            with serve(create_app(settings, services)) as base:
                state = Bays(base, services)
                yield state
                state.alpha.client.close()
        finally:
            sim = services.drivers.get("sim")
            assert isinstance(sim, SimDriver)
            sim.close()
            conductor.stop(timeout=10)
            services.db.dispose()


@pytest.fixture(scope="module")
def swarm(bays: Bays) -> str:
    return bays.bay("swarm1")


def create(client: Api, bay: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/v1/containers", json={"image": "busybox", "bay_uuid": bay, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["location"].endswith(f"/v1/containers/{body['uuid']}")
    return body


# -- the wire shape -----------------------------------------------------------------------------
def test_create_is_stopped_and_shows_every_field(bays: Bays, swarm: str) -> None:
    body = create(bays.alpha, swarm, name="web", command="sleep 100", memory="64m", environment={"A": "1"})
    assert set(body) == DETAIL_KEYS
    assert body["status"] == "Stopped"
    assert (body["name"], body["image"], body["bay_uuid"]) == ("web", "busybox", swarm)
    assert (body["command"], body["memory"], body["environment"]) == ("sleep 100", "64m", {"A": "1"})
    assert "simulated" in body["status_reason"]
    assert body["host"].startswith("swarm1-")
    shown = bays.alpha.get(f"/v1/containers/{body['uuid']}").json()
    assert shown["status"] == "Stopped"
    by_name = bays.alpha.get("/v1/containers/web")
    assert by_name.status_code == 200
    assert by_name.json()["uuid"] == body["uuid"]

    listed = bays.alpha.get("/v1/containers").json()["containers"]
    mine = [c for c in listed if c["uuid"] == body["uuid"]]
    assert len(mine) == 1
    assert set(mine[0]) == SUMMARY_KEYS
    detailed = bays.alpha.get("/v1/containers/detail").json()["containers"]
    assert set(next(c for c in detailed if c["uuid"] == body["uuid"])) == DETAIL_KEYS


def test_actions_move_the_status_and_refuse_what_cannot_be(bays: Bays, swarm: str) -> None:
    uuid = create(bays.alpha, swarm)["uuid"]

    def act(action: str) -> httpx.Response:
        return bays.alpha.request("PUT", f"/v1/containers/{uuid}/{action}")

    assert act("pause").status_code == 409  # a stopped container cannot be paused
    for action, status in (("start", "Running"), ("pause", "Paused"), ("unpause", "Running"), ("reboot", "Running")):
        response = act(action)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
        assert bays.alpha.get(f"/v1/containers/{uuid}").json()["status"] == status
    assert act("stop").json()["status"] == "Stopped"
    assert bays.alpha.post(f"/v1/containers/{uuid}/start").status_code == 405

    logs = bays.alpha.get(f"/v1/containers/{uuid}/logs")
    assert logs.status_code == 200
    assert "simulated" in logs.json()["output"]
    run = bays.alpha.request("PUT", f"/v1/containers/{uuid}/execute", params={"command": "echo hi"})
    assert run.status_code == 200
    assert "simulated" in run.json()["output"]
    assert run.json()["exit_code"] == 0
    missing = bays.alpha.request("PUT", f"/v1/containers/{uuid}/execute")
    assert missing.status_code == 400
    assert "command" in detail(missing)


def test_patch_renames_and_refuses_what_made_the_container(bays: Bays, swarm: str) -> None:
    uuid = create(bays.alpha, swarm, name="old")["uuid"]
    renamed = bays.alpha.patch(f"/v1/containers/{uuid}", json=[{"op": "replace", "path": "/name", "value": "new"}])
    assert renamed.status_code == 200, renamed.text
    assert bays.alpha.get(f"/v1/containers/{uuid}").json()["name"] == "new"
    image = bays.alpha.patch(f"/v1/containers/{uuid}", json=[{"op": "replace", "path": "/image", "value": "x"}])
    assert image.status_code == 400
    assert "/image" in detail(image)
    bay = bays.alpha.patch(f"/v1/containers/{uuid}", json=[{"op": "remove", "path": "/bay_uuid"}])
    assert bay.status_code == 400
    assert "mandatory" in detail(bay)
    status = bays.alpha.patch(f"/v1/containers/{uuid}", json=[{"op": "replace", "path": "/status", "value": "x"}])
    assert status.status_code == 400
    assert "internal" in detail(status)


def test_delete_is_204_and_the_container_is_gone(bays: Bays, swarm: str) -> None:
    uuid = create(bays.alpha, swarm)["uuid"]
    assert bays.alpha.delete(f"/v1/containers/{uuid}").status_code == 204
    assert bays.alpha.get(f"/v1/containers/{uuid}").status_code == 404


def test_bad_input_is_400_with_the_field(bays: Bays, swarm: str) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"bay_uuid": swarm}, "image"),
        ({"image": "busybox"}, "bay_uuid"),
        ({"image": "busybox", "bay_uuid": swarm, "memory": "lots"}, "memory"),
        ({"image": "busybox", "bay_uuid": swarm, "environment": {"A": 1}}, "environment"),
        ({"image": "busybox", "bay_uuid": swarm, "colour": "red"}, "colour"),
        ({"image": "busybox", "bay_uuid": "no-such-bay"}, "no-such-bay"),
    ]
    for body, named in cases:
        response = bays.alpha.post("/v1/containers", json=body)
        assert response.status_code == 400, (body, response.text)
        assert named in detail(response)


# -- pagination, sorting, the bay filter ------------------------------------------------------------
def test_pages_sort_and_filter_by_bay(bays: Bays, swarm: str) -> None:
    other = bays.bay("swarm2", node_count=1)
    made = [create(bays.alpha, other, name=f"p{i}")["uuid"] for i in range(3)]
    listed = bays.alpha.get("/v1/containers", params={"bay_ident": "swarm2"}).json()["containers"]
    assert sorted(c["uuid"] for c in listed) == sorted(made)
    first = bays.alpha.get("/v1/containers", params={"bay_ident": other, "limit": 2, "sort_key": "name"}).json()
    assert [c["name"] for c in first["containers"]] == ["p0", "p1"]
    assert "marker=" in first["next"]
    rest = bays.alpha.get(first["next"].split("/v1", 1)[1]).json()
    assert [c["name"] for c in rest["containers"]] == ["p2"]
    down = bays.alpha.get("/v1/containers", params={"bay_ident": other, "sort_key": "name", "sort_dir": "desc"})
    assert [c["name"] for c in down.json()["containers"]] == ["p2", "p1", "p0"]
    assert bays.alpha.get("/v1/containers", params={"bay_ident": "nope"}).status_code == 404
    assert bays.alpha.get("/v1/containers", params={"sort_key": "environment"}).status_code == 400


# -- tenancy and policy -------------------------------------------------------------------------------
def test_another_projects_container_and_bay_are_404(bays: Bays, swarm: str, request: pytest.FixtureRequest) -> None:
    uuid = create(bays.alpha, swarm)["uuid"]
    beta = Api(bays.url, BETA_MEMBER)
    request.addfinalizer(beta.client.close)
    assert beta.get(f"/v1/containers/{uuid}").status_code == 404
    assert beta.request("PUT", f"/v1/containers/{uuid}/start").status_code == 404
    assert beta.delete(f"/v1/containers/{uuid}").status_code == 404
    assert uuid not in {c["uuid"] for c in beta.get("/v1/containers").json()["containers"]}
    assert beta.get("/v1/containers", params={"bay_ident": swarm}).status_code == 404
    # At create the bay is a body field: a 400, as upstream answered an unknown bay_uuid, and
    # another project's bay is answered exactly as one that does not exist.
    refused = beta.post("/v1/containers", json={"image": "busybox", "bay_uuid": swarm})
    unknown = beta.post("/v1/containers", json={"image": "busybox", "bay_uuid": "no-such-bay"})
    assert refused.status_code == unknown.status_code == 400
    assert detail(refused).replace(swarm, "<bay>") == detail(unknown).replace("no-such-bay", "<bay>")
    assert "could not be found" in detail(refused)


def test_a_reader_may_look_but_not_act(bays: Bays, swarm: str, request: pytest.FixtureRequest) -> None:
    uuid = create(bays.alpha, swarm)["uuid"]
    reader = Api(bays.url, ALPHA_READER)
    request.addfinalizer(reader.client.close)
    assert reader.get(f"/v1/containers/{uuid}").status_code == 200
    assert reader.get(f"/v1/containers/{uuid}/logs").status_code == 200
    denied = reader.request("PUT", f"/v1/containers/{uuid}/start")
    assert denied.status_code == 403
    assert "container:start" in detail(denied)
    assert reader.post("/v1/containers", json={"image": "busybox", "bay_uuid": swarm}).status_code == 403


# -- the bay must be a ready swarm bay ------------------------------------------------------------------
def test_a_kubernetes_bay_is_refused_naming_swarm(bays: Bays) -> None:
    kube = bays.bay("kube1", coe="kubernetes", node_count=1)
    refused = bays.alpha.post("/v1/containers", json={"image": "busybox", "bay_uuid": kube})
    assert refused.status_code == 400
    assert detail(refused) == "Cannot fulfill request with a kubernetes bay, expecting a swarm bay."


def test_a_bay_that_is_not_complete_is_409_with_its_status(bays: Bays, swarm: str) -> None:
    uuid = create(bays.alpha, swarm)["uuid"]
    with bays.services.db.transaction() as session:
        cluster = session.scalars(select(Cluster).where(Cluster.uuid == swarm)).one()
        cluster.status, cluster.status_reason = "UPDATE_FAILED", "Update failed in phase workers: disk full"
    try:
        refused = bays.alpha.post("/v1/containers", json={"image": "busybox", "bay_uuid": swarm})
        assert refused.status_code == 409
        assert "UPDATE_FAILED" in detail(refused)
        assert "disk full" in detail(refused)
        assert bays.alpha.request("PUT", f"/v1/containers/{uuid}/start").status_code == 409
        assert bays.alpha.get(f"/v1/containers/{uuid}").status_code == 200  # still shown
    finally:
        with bays.services.db.transaction() as session:
            cluster = session.scalars(select(Cluster).where(Cluster.uuid == swarm)).one()
            cluster.status, cluster.status_reason = "CREATE_COMPLETE", None


# -- nodes removed, bays deleted ------------------------------------------------------------------------
def test_a_container_whose_node_a_resize_removed_is_error_with_the_reason(bays: Bays) -> None:
    bay = bays.bay("shrinking", node_count=2)
    containers = [create(bays.alpha, bay)["uuid"] for _ in range(6)]
    hosts = {bays.alpha.get(f"/v1/containers/{c}").json()["host"] for c in containers}
    assert len(hosts) == 2  # spread over both workers
    resized = bays.alpha.post(f"/v1/clusters/{bay}/actions/resize", json={"node_count": 1})
    assert resized.status_code == 202, resized.text
    bays.wait_bay(bay, "UPDATE_COMPLETE")
    shown = [bays.alpha.get(f"/v1/containers/{c}").json() for c in containers]
    errors = [c for c in shown if c["status"] == "Error"]
    assert errors
    assert len(errors) < len(shown)
    assert all("removed from the bay" in c["status_reason"] for c in errors)
    assert {c["status"] for c in shown if c not in errors} == {"Stopped"}


def test_deleting_the_bay_removes_its_containers(bays: Bays) -> None:
    bay = bays.bay("doomed", node_count=1)
    uuid = create(bays.alpha, bay)["uuid"]
    assert bays.alpha.delete(f"/v1/bays/{bay}").status_code == 204

    def gone() -> bool:
        return bool(bays.alpha.get(f"/v1/bays/{bay}").status_code == 404)

    wait_for(gone, WAIT, "the bay to be deleted")
    assert bays.alpha.get(f"/v1/containers/{uuid}").status_code == 404
    with bays.services.db.transaction() as session:
        assert session.scalars(select(Container).where(Container.bay_uuid == bay)).all() == []


def test_a_registry_enabled_bay_shows_its_simulated_registry(bays: Bays, swarm: str) -> None:
    bay = bays.bay("registered", node_count=1, registry=True)
    shown = bays.alpha.get(f"/v1/clusters/{bay}").json()
    assert shown["registry_address"].endswith("-registry.invalid:5000")
    assert shown["registry_push_address"].endswith("-registry.invalid:5443")
    assert shown["health_status_reason"]["registry"] == "ok (simulated by the sim driver: no registry runs)"
    plain = bays.alpha.get(f"/v1/clusters/{swarm}").json()
    assert "registry_address" not in plain
    assert "registry" not in plain["health_status_reason"]


# -- the 2015 version header, pods/services/rcs ---------------------------------------------------------
def test_the_2015_version_header_is_answered_in_its_spelling(bays: Bays, request: pytest.FixtureRequest) -> None:
    old = Api(bays.url, ALPHA_MEMBER, version=None)
    request.addfinalizer(old.client.close)
    response = old.get("/v1/containers", headers={"X-OpenStack-Magnum-API-Version": "1.1"})
    assert response.status_code == 200
    assert response.headers["x-openstack-magnum-api-version"] == "1.1"
    assert response.headers["x-openstack-magnum-api-minimum-version"] == "1.1"
    assert "x-openstack-magnum-api-maximum-version" in response.headers
    assert "openstack-api-version" not in response.headers
    too_new = old.get("/v1/containers", headers={"X-OpenStack-Magnum-API-Version": "2.0"})
    assert too_new.status_code == 406
    plain = old.get("/v1/containers")
    assert plain.status_code == 200
    assert plain.headers["openstack-api-version"].endswith(" 1.1")


@pytest.mark.parametrize("kind", ["pods", "services", "rcs"])
def test_kubernetes_objects_on_a_swarm_bay_are_400_naming_kubernetes(bays: Bays, swarm: str, kind: str) -> None:
    expected = "Cannot fulfill request with a swarm-mode bay, expecting a kubernetes bay."
    listed = bays.alpha.get(f"/v1/{kind}", params={"bay_ident": swarm})
    assert listed.status_code == 400
    assert detail(listed) == expected
    created = bays.alpha.post(f"/v1/{kind}", json={"bay_uuid": swarm, "manifest": "{}"})
    assert created.status_code == 400
    assert detail(created) == expected
    shown = bays.alpha.get(f"/v1/{kind}/some-name/{swarm}")
    assert shown.status_code == 400
    assert detail(shown) == expected
    assert bays.alpha.get(f"/v1/{kind}", params={"bay_ident": "nope"}).status_code == 404
