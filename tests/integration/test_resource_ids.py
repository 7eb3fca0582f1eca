"""Configured images, flavors and networks by name or stable ID, and the exact bodies Horizon's
magnum-ui and Heat send (tests/fixtures/ecosystem_requests.json), over HTTP in noauth mode with
the sim driver (issue 11)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jeroboam.api.app import create_app
from jeroboam.db import migrate
from jeroboam.domain.resources import resource_id
from jeroboam.services.wiring import Services
from tests.conftest import Api, RunningServer, make_settings
from tests.integration.test_clusters import arrange, detail
from tests.support.identities import ALPHA_MEMBER
from tests.support.server import serve

FIXTURES = json.loads((Path(__file__).parents[1] / "fixtures" / "ecosystem_requests.json").read_text())
RESOURCES: dict[str, Any] = {
    "images": {"fedora-coreos-latest": "fedora-coreos", "jeroboam-node": "debian"},
    "flavors": {"ds2G": {"vcpus": 1, "ram": 2048}, "m1.small": {"vcpus": 1, "ram": 1024}},
    "external_networks": ["public"],
}
PUBLIC_ID = resource_id("network", "public")


def fill(body: Any, **values: str) -> Any:
    """A fixture body with its <PLACEHOLDER>s replaced."""
    text = json.dumps(body)
    for name, value in values.items():
        text = text.replace(f"<{name}>", value)
    return json.loads(text)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("resource-ids")
    settings = make_settings(
        workdir, f"sqlite:///{workdir / 'db.sqlite'}", sim=RESOURCES, drivers={"default_driver": "sim"}
    )
    services = Services.build(settings)
    migrate.upgrade(services.db.engine)
    with serve(create_app(settings, services)) as url:
        yield RunningServer(url, services, "sqlite")
    services.db.dispose()


@pytest.fixture
def alpha(served: RunningServer) -> Api:
    return Api(served.url, ALPHA_MEMBER)


def test_configured_resources_are_accepted_by_id_and_shown_as_sent(alpha: Api) -> None:
    body = {
        "name": "by-id",
        "coe": "kubernetes",
        "image_id": resource_id("image", "fedora-coreos-latest"),
        "flavor_id": resource_id("flavor", "ds2G").upper(),
        "master_flavor_id": "ds2G",
        "external_network_id": PUBLIC_ID,
    }
    created = alpha.post("/v1/clustertemplates", json=body)
    assert created.status_code == 201, created.text
    template = created.json()
    assert {key: template[key] for key in body} == body
    assert template["cluster_distro"] == "fedora-coreos"

    cluster = alpha.post(
        "/v1/clusters", json={"cluster_template_id": template["uuid"], "flavor_id": resource_id("flavor", "m1.small")}
    )
    assert cluster.status_code == 202, cluster.text
    shown = alpha.get(f"/v1/clusters/{cluster.json()['uuid']}").json()
    assert shown["flavor_id"] == resource_id("flavor", "m1.small")


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("image_id", "Image {} could not be found; images of the sim driver: fedora-coreos-latest, jeroboam-node."),
        ("flavor_id", "Unable to find flavor {}; flavors of the sim driver: ds2G, m1.small."),
        ("external_network_id", "External network {} could not be found; external networks of the sim driver: public."),
    ],
)
def test_an_unknown_id_is_400_naming_the_choices(alpha: Api, field: str, message: str) -> None:
    unknown = resource_id("image", "not-configured")
    body = {"coe": "kubernetes", "image_id": "jeroboam-node", field: unknown}
    response = alpha.post("/v1/clustertemplates", json=body)
    assert response.status_code == 400
    assert detail(response) == message.format(unknown)


def test_horizon_creates_a_template_and_a_cluster_and_updates_it(alpha: Api, served: RunningServer) -> None:
    horizon = Api(alpha.url, ALPHA_MEMBER, "1.13")  # magnum-ui 19 pins 1.13
    template = horizon.post(
        "/v1/clustertemplates", json=fill(FIXTURES["horizon_template_create"], NETWORK_ID=PUBLIC_ID)
    )
    assert template.status_code == 201, template.text
    assert template.json()["external_network_id"] == PUBLIC_ID
    assert template.json()["floating_ip_enabled"] is True

    body = fill(FIXTURES["horizon_cluster_create"], TEMPLATE_ID=template.json()["uuid"])
    cluster = horizon.post("/v1/clusters", json=body)
    assert cluster.status_code == 202, cluster.text
    uuid = cluster.json()["uuid"]
    shown = horizon.get(f"/v1/clusters/{uuid}").json()
    assert (shown["discovery_url"], shown["create_timeout"], shown["node_count"]) == ("", 60, 1)
    assert shown["labels"]["auto_scaling_enabled"] == "False"

    arrange(served, uuid, "CREATE_COMPLETE")
    updated = horizon.patch(f"/v1/clusters/{uuid}", json=FIXTURES["horizon_cluster_update"])
    assert updated.status_code == 202, updated.text
    shown = horizon.get(f"/v1/clusters/{uuid}").json()
    assert (shown["status"], shown["node_count"]) == ("UPDATE_IN_PROGRESS", 2)


def test_heat_creates_a_template_and_a_cluster_without_a_microversion(alpha: Api, served: RunningServer) -> None:
    heat = Api(alpha.url, ALPHA_MEMBER, None)  # Heat's client sends no OpenStack-API-Version (1.1)
    template = heat.post("/v1/clustertemplates", json=fill(FIXTURES["heat_template_create"], NETWORK_ID=PUBLIC_ID))
    assert template.status_code == 201, template.text

    fixed_network, fixed_subnet = "0b6d7f5e-4b8e-4c43-9a8f-2f1d4c3b2a10", "5e1f2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
    body = fill(
        FIXTURES["heat_cluster_create"],
        TEMPLATE_ID=template.json()["uuid"],
        FIXED_NETWORK_ID=fixed_network,
        FIXED_SUBNET_ID=fixed_subnet,
    )
    cluster = heat.post("/v1/clusters", json=body)
    assert cluster.status_code == 202, cluster.text
    shown = heat.get(f"/v1/clusters/{cluster.json()['uuid']}").json()
    assert "stack_id" in shown
    assert (shown["fixed_network"], shown["fixed_subnet"]) == (fixed_network, fixed_subnet)
    assert shown["keypair"] == "acceptance-key"  # the template's
    assert shown["flavor_id"] == shown["master_flavor_id"] == "ds2G"
    assert shown["status"] == "CREATE_IN_PROGRESS"  # what Heat waits on

    arrange(served, shown["uuid"], "CREATE_COMPLETE")
    updated = heat.patch(f"/v1/clusters/{shown['uuid']}", json=FIXTURES["heat_cluster_update"])
    assert updated.status_code == 202, updated.text
    # Heat takes CREATE_COMPLETE after its PATCH as "not started yet": the update shows at once.
    assert heat.get(f"/v1/clusters/{shown['uuid']}").json()["status"] == "UPDATE_IN_PROGRESS"
