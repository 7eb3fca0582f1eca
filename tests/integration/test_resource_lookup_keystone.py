"""Images, flavors, key pairs and networks looked up in the caller's Glance, Nova and Neutron, as
Magnum does, with a real Keystone whose catalog lists TEST STAND-INS for those three services
(tests/support/standins.py), over HTTP (issue 11)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jeroboam.api.app import create_app
from jeroboam.db import migrate
from jeroboam.services.wiring import Services
from tests.conftest import make_settings
from tests.support.keystone import KeystoneServer
from tests.support.server import serve
from tests.support.standins import Inventory, endpoints, standins_app

pytestmark = pytest.mark.keystone

FIXTURES = json.loads((Path(__file__).parents[1] / "fixtures" / "ecosystem_requests.json").read_text())
GLANCE_IMAGE = "3f1b7c52-8d6e-4a0b-9b77-2f4f6a0c1d11"  # "fedora-coreos-latest" in Glance
GLANCE_OTHER = "7a2c9e41-5b3d-4f8a-8c66-1e2d3f4a5b6c"  # "windows": Glance has it, the driver does not
PUBLIC_NET = "c5697423-5207-505c-9c9a-0bf3362bb891"  # "public", external, as Horizon and Heat send it
PRIVATE_NET = "0b6d7f5e-4b8e-4c43-9a8f-2f1d4c3b2a10"  # "private", not external
PRIVATE_SUBNET = "5e1f2d3c-4b5a-4978-8695-a4b3c2d1e0f9"


def inventory() -> Inventory:
    """What this module's Glance, Nova and Neutron hold: IDs as a real cloud gives them, and names the
    sim driver knows under other names."""
    held = Inventory(
        images=[
            {"id": GLANCE_IMAGE, "name": "fedora-coreos-latest", "os_distro": "fedora-coreos"},
            {"id": GLANCE_OTHER, "name": "windows"},
        ],
        flavors=[{"id": "101", "name": "ds2G", "vcpus": 2, "ram": 2048, "disk": 20}],
        networks=[
            {"id": PUBLIC_NET, "name": "public", "router:external": True},
            {"id": PRIVATE_NET, "name": "private", "router:external": False},
        ],
        subnets=[{"id": PRIVATE_SUBNET, "name": "private-subnet", "network_id": PRIVATE_NET}],
    )
    held.add_keypair("acceptance-key", "ssh-ed25519 AAAA test")
    return held


SIM: dict[str, Any] = {
    "images": {"fedora-coreos-latest": "fedora-coreos"},
    "flavors": {"ds2G": {"vcpus": 1, "ram": 2048}},
    "external_networks": ["public"],
}
VERSION = {"OpenStack-API-Version": "container-infra latest"}


@pytest.fixture(scope="module")
def standins(keystone_server: KeystoneServer) -> Iterator[Inventory]:
    """The stand-ins, listed in the Keystone catalog while this module runs (removed afterwards, so
    other modules sharing the Keystone see no image, compute or network service)."""
    held = inventory()
    with serve(standins_app(held)) as url:
        services = [
            keystone_server.register_service(kind, endpoint, name=name) for kind, name, endpoint in endpoints(url)
        ]
        try:
            yield held
        finally:
            for service in services:
                keystone_server.remove_service(service)


@pytest.fixture(scope="module")
def api_url(
    keystone_server: KeystoneServer, standins: Inventory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("resource-lookup")
    settings = make_settings(
        workdir,
        f"sqlite:///{workdir / 'db.sqlite'}",
        auth_strategy="keystone",
        keystone_authtoken=keystone_server.authtoken_settings(),
        sim=SIM,
        drivers={"default_driver": "sim"},
        openstack_services={"timeout": 5.0, "cache_ttl": 300.0},
    )
    services = Services.build(settings)
    migrate.upgrade(services.db.engine)
    with serve(create_app(settings, services)) as url:
        yield url
    services.close()


@pytest.fixture(scope="module")
def token(keystone_server: KeystoneServer, standins: Inventory) -> str:
    return keystone_server.token_for("alpha-member")  # issued after the stand-ins were registered


@pytest.fixture(autouse=True)
def healthy(standins: Inventory) -> Iterator[None]:
    standins.failure.clear()
    yield
    standins.failure.clear()


def call(url: str, token: str, method: str, path: str, json: Any = None, version: bool = True) -> httpx.Response:
    headers = {"X-Auth-Token": token, **(VERSION if version else {})}
    return httpx.request(method, f"{url}{path}", headers=headers, json=json, timeout=30)


def fill(body: Any, **values: str) -> Any:
    text = json.dumps(body)
    for name, value in values.items():
        text = text.replace(f"<{name}>", value)
    return json.loads(text)


def message(response: httpx.Response) -> str:
    detail: str = response.json()["errors"][0]["detail"]
    return detail


def template(url: str, token: str, **values: Any) -> httpx.Response:
    body = {"coe": "kubernetes", "image_id": "fedora-coreos-latest", **values}
    return call(url, token, "POST", "/v1/clustertemplates", body)


# -- what the clients send ---------------------------------------------------------------------
def test_horizon_bodies_with_a_neutron_network_id(api_url: str, token: str, standins: Inventory) -> None:
    body = fill(FIXTURES["horizon_template_create"], NETWORK_ID=PUBLIC_NET)
    created = call(api_url, token, "POST", "/v1/clustertemplates", body)
    assert created.status_code == 201, created.text
    # A Neutron ID the driver knows under a name is stored as that name (the conductor has no token).
    assert created.json()["external_network_id"] == "public"
    # Asked with the caller's own token.
    assert (f"/v2.0/networks/{PUBLIC_NET}", token) in standins.seen("network")

    body = fill(FIXTURES["horizon_cluster_create"], TEMPLATE_ID=created.json()["uuid"])
    cluster = call(api_url, token, "POST", "/v1/clusters", body)
    assert cluster.status_code == 202, cluster.text
    assert ("/v2.1/os-keypairs/acceptance-key", token) in standins.seen("compute")


def test_heat_bodies_with_neutron_ids_and_no_microversion(api_url: str, token: str) -> None:
    body = fill(FIXTURES["heat_template_create"], NETWORK_ID=PUBLIC_NET)
    created = call(api_url, token, "POST", "/v1/clustertemplates", body, version=False)
    assert created.status_code == 201, created.text
    cluster_body = fill(
        FIXTURES["heat_cluster_create"],
        TEMPLATE_ID=created.json()["uuid"],
        FIXED_NETWORK_ID=PRIVATE_NET,
        FIXED_SUBNET_ID=PRIVATE_SUBNET,
    )
    cluster = call(api_url, token, "POST", "/v1/clusters", cluster_body, version=False)
    assert cluster.status_code == 202, cluster.text
    shown = call(api_url, token, "GET", f"/v1/clusters/{cluster.json()['uuid']}", version=False).json()
    # Fixed networks are not the driver's: kept as sent once Neutron knows them.
    assert (shown["fixed_network"], shown["fixed_subnet"]) == (PRIVATE_NET, PRIVATE_SUBNET)


def test_glance_and_nova_ids_and_names(api_url: str, token: str) -> None:
    created = template(api_url, token, image_id=GLANCE_IMAGE, flavor_id="101", master_flavor_id="ds2G")
    assert created.status_code == 201, created.text
    assert (created.json()["image_id"], created.json()["flavor_id"]) == ("fedora-coreos-latest", "ds2G")


# -- refusals ----------------------------------------------------------------------------------
GLANCE = "(image_id was looked up in the image service (Glance) of your catalog.)"
NOVA = "(flavor_id was looked up in the compute service (Nova) of your catalog.)"
NEUTRON = "was looked up in the network service (Neutron) of your catalog.)"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"image_id": "missing-image"}, f"Image missing-image could not be found. {GLANCE}"),
        ({"flavor_id": "missing-flavor"}, f"Unable to find flavor missing-flavor. {NOVA}"),
        (
            {"external_network_id": PRIVATE_NET},
            f"External network {PRIVATE_NET} could not be found. (external_network_id {NEUTRON}",
        ),
        ({"fixed_network": "missing-net"}, f"Fixed network missing-net could not be found. (fixed_network {NEUTRON}"),
        ({"fixed_subnet": "nope"}, f"Fixed subnet nope could not be found. (fixed_subnet {NEUTRON}"),
        (
            {"image_id": GLANCE_OTHER},
            f"Image {GLANCE_OTHER} is windows in the image service (Glance), which the sim driver does not offer "
            "(image_id).",
        ),
    ],
)
def test_what_the_services_do_not_know_is_400(api_url: str, token: str, values: dict[str, str], expected: str) -> None:
    response = template(api_url, token, **values)
    assert response.status_code == 400
    assert message(response) == expected


def test_a_missing_keypair_is_404_at_cluster_create(api_url: str, token: str) -> None:
    created = template(api_url, token, name="kp")
    assert created.status_code == 201, created.text
    response = call(
        api_url, token, "POST", "/v1/clusters", {"cluster_template_id": created.json()["uuid"], "keypair": "nope"}
    )
    assert response.status_code == 404
    assert message(response).startswith("Unable to find keypair nope.")


@pytest.mark.parametrize(("service", "failure"), [("image", 500), ("image", 0), ("network", 503)])
def test_a_failing_service_is_503_naming_it(
    api_url: str, token: str, standins: Inventory, service: str, failure: int
) -> None:
    standins.failure[service] = failure
    values = {"image_id": "uncached-image"} if service == "image" else {"fixed_network": "uncached-net"}
    response = template(api_url, token, **values)
    assert response.status_code == 503
    label = {"image": "image service (Glance)", "network": "network service (Neutron)"}[service]
    assert label in message(response)
    assert response.json()["errors"][0]["code"] == "server"


def test_found_resources_are_cached(api_url: str, token: str, standins: Inventory) -> None:
    first = template(api_url, token, name="cached-1", flavor_id="101")
    assert first.status_code == 201, first.text
    asked = len(standins.seen("compute"))
    second = template(api_url, token, name="cached-2", flavor_id="101")
    assert second.status_code == 201, second.text
    assert len(standins.seen("compute")) == asked
    # Cached answers hold while the service is down.
    standins.failure["compute"] = 500
    assert template(api_url, token, name="cached-3", flavor_id="101").status_code == 201


def test_configured_names_need_no_lookup(api_url: str, token: str, standins: Inventory) -> None:
    before = len(standins.requests)
    response = template(api_url, token, name="plain", flavor_id="ds2G", external_network_id="public")
    assert response.status_code == 201, response.text
    assert len(standins.requests) == before
