"""Stand-ins for Glance, Nova and Neutron: the few calls Heat, Horizon and tempest make to them.

There is no Glance, Nova or Neutron here, and Heat's resource constraints, Horizon's forms and
tempest's keypair setup ask them about the images, flavors, keypairs and networks a cluster
template names. These stand-ins answer those questions (list/show by name and ID, the image
schema, version documents, availability zones) from a fixed inventory that matches what
Jeroboam's sim driver offers, with the IDs Jeroboam gives the same resources; keypairs can also
be created and deleted (tempest makes one). They are test fixtures, not models of the services:
every request is recorded with the token it carried, and one they do not know is answered 404 and
listed in ``unknown``. ``failure[service] = status`` makes a service answer that status (``0``: the
connection is cut in the middle of the answer), to test how Jeroboam reports a failing service.

One app serves the three under ``/image``, ``/compute/v2.1`` and ``/network``;
``register_standins`` puts them in a Keystone catalog.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from jeroboam.domain.resources import resource_id

CREATED_AT = "2026-01-01T00:00:00Z"
IMAGES = {"jeroboam-node": "debian", "fedora-coreos": "fedora-coreos"}
FLAVORS = {"m1.tiny": (1, 512), "m1.small": (1, 1024), "m1.medium": (2, 2048)}
EXTERNAL_NETWORKS = ("public",)
PRIVATE_NETWORK = "private"
PRIVATE_SUBNET = "private-subnet"
AVAILABILITY_ZONE = "nova"


def _local_id(name: str) -> str:
    """IDs of stand-in resources Jeroboam does not configure (tenant network and subnet)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"jeroboam-standin:{name}"))


@dataclass
class Inventory:
    """What the stand-ins hold, and every request they were sent."""

    images: list[dict[str, Any]] = field(default_factory=list)
    flavors: list[dict[str, Any]] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)
    subnets: list[dict[str, Any]] = field(default_factory=list)
    keypairs: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    tokens: list[tuple[str, str, str]] = field(default_factory=list)  # (service, path?query, X-Auth-Token)
    failure: dict[str, int] = field(default_factory=dict)

    def seen(self, service: str) -> list[tuple[str, str]]:
        """(path below the service's name, token) of each request ``service`` was sent."""
        return [(path, token) for name, path, token in list(self.tokens) if name == service]

    def image_id(self, name: str) -> str:
        return next(image["id"] for image in self.images if image["name"] == name)

    def flavor_id(self, name: str) -> str:
        return next(flavor["id"] for flavor in self.flavors if flavor["name"] == name)

    def network_id(self, name: str) -> str:
        return next(network["id"] for network in self.networks if network["name"] == name)

    def subnet_id(self, name: str) -> str:
        return next(subnet["id"] for subnet in self.subnets if subnet["name"] == name)

    def add_keypair(self, name: str, public_key: str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJeroboamStandin") -> None:
        fingerprint = ":".join(f"{b:02x}" for b in hashlib.md5(public_key.encode(), usedforsecurity=False).digest())
        self.keypairs[name] = {
            "name": name,
            "public_key": public_key,
            "fingerprint": fingerprint,
        }


def default_inventory() -> Inventory:
    inventory = Inventory()
    for name, os_distro in IMAGES.items():
        image_id = resource_id("image", name)
        inventory.images.append(
            {
                "id": image_id,
                "name": name,
                "status": "active",
                "visibility": "public",
                "protected": False,
                "os_distro": os_distro,
                "container_format": "bare",
                "disk_format": "qcow2",
                "min_disk": 0,
                "min_ram": 0,
                "size": 1024,
                "tags": [],
                "created_at": CREATED_AT,
                "updated_at": CREATED_AT,
                "owner": "standin",
                "self": f"/v2/images/{image_id}",
                "file": f"/v2/images/{image_id}/file",
                "schema": "/v2/schemas/image",
            }
        )
    for name, (vcpus, ram) in FLAVORS.items():
        inventory.flavors.append(
            {
                "id": resource_id("flavor", name),
                "name": name,
                "vcpus": vcpus,
                "ram": ram,
                "disk": 10,
                "swap": "",
                "OS-FLV-EXT-DATA:ephemeral": 0,
                "OS-FLV-DISABLED:disabled": False,
                "os-flavor-access:is_public": True,
                "rxtx_factor": 1.0,
                "links": [],
            }
        )
    for name in EXTERNAL_NETWORKS:
        inventory.networks.append(_network(resource_id("network", name), name, external=True, subnets=[]))
    subnet_id = _local_id(PRIVATE_SUBNET)
    private_id = _local_id(PRIVATE_NETWORK)
    inventory.networks.append(_network(private_id, PRIVATE_NETWORK, external=False, subnets=[subnet_id]))
    inventory.subnets.append(
        {
            "id": subnet_id,
            "name": PRIVATE_SUBNET,
            "network_id": private_id,
            "cidr": "10.0.0.0/24",
            "ip_version": 4,
            "enable_dhcp": True,
            "gateway_ip": "10.0.0.1",
            "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.254"}],
            "dns_nameservers": [],
            "host_routes": [],
            "tenant_id": "standin",
            "project_id": "standin",
            "description": "",
            "tags": [],
        }
    )
    return inventory


def _network(network_id: str, name: str, *, external: bool, subnets: list[str]) -> dict[str, Any]:
    return {
        "id": network_id,
        "name": name,
        "status": "ACTIVE",
        "admin_state_up": True,
        "shared": external,
        "router:external": external,
        "subnets": subnets,
        "tenant_id": "standin",
        "project_id": "standin",
        "mtu": 1500,
        "description": "",
        "tags": [],
        "availability_zones": [AVAILABILITY_ZONE],
    }


def _matching(items: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    """Items whose fields equal every query parameter that names a field (others are ignored)."""
    found = items
    for key in set(request.query_params):
        values = request.query_params.getlist(key)
        if items and key in items[0]:
            found = [item for item in found if _field_text(item[key]) in {v.lower() for v in values}]
    return found


def _field_text(value: Any) -> str:
    """A field as a query compares it: booleans as ``true``/``false`` (clients send either case)."""
    return str(value).lower()


def _not_found(what: str) -> JSONResponse:
    return JSONResponse({"itemNotFound": {"code": 404, "message": f"{what} could not be found."}}, status_code=404)


# --------------------------------------------------------------------------- Glance

_IMAGE_SCHEMA_PROPERTIES = {
    "id": {"type": "string"},
    "name": {"type": ["null", "string"]},
    "status": {"type": "string"},
    "visibility": {"type": "string"},
    "protected": {"type": "boolean"},
    "os_distro": {"type": "string"},
    "container_format": {"type": ["null", "string"]},
    "disk_format": {"type": ["null", "string"]},
    "min_disk": {"type": "integer"},
    "min_ram": {"type": "integer"},
    "size": {"type": ["null", "integer"]},
    "tags": {"type": "array", "items": {"type": "string"}},
    "created_at": {"type": "string"},
    "updated_at": {"type": "string"},
    "owner": {"type": ["null", "string"]},
    "self": {"type": "string"},
    "file": {"type": "string"},
    "schema": {"type": "string"},
}


def _glance(inventory: Inventory) -> APIRouter:
    router = APIRouter()

    @router.get("")
    @router.get("/")
    def versions() -> JSONResponse:
        return JSONResponse(
            {"versions": [{"id": "v2.16", "status": "CURRENT", "links": [{"rel": "self", "href": "/image/v2/"}]}]},
            status_code=300,
        )

    @router.get("/v2/schemas/image")
    def image_schema() -> dict[str, Any]:
        return {
            "name": "image",
            "properties": _IMAGE_SCHEMA_PROPERTIES,
            "additionalProperties": {"type": "string"},
            "links": [],
        }

    @router.get("/v2/images")
    def list_images(request: Request) -> dict[str, Any]:
        return {"images": _matching(inventory.images, request), "schema": "/v2/schemas/images", "first": "/v2/images"}

    @router.get("/v2/images/{image_id}")
    def show_image(image_id: str) -> Any:
        for image in inventory.images:
            if image["id"] == image_id:
                return image
        return _not_found(f"Image {image_id}")

    return router


# --------------------------------------------------------------------------- Nova

NOVA_VERSION = {
    "id": "v2.1",
    "status": "CURRENT",
    "version": "2.96",
    "min_version": "2.1",
    "updated": "2013-07-23T11:33:21Z",
    "links": [{"rel": "self", "href": "/compute/v2.1/"}],
}


def _nova(inventory: Inventory) -> APIRouter:
    router = APIRouter()

    @router.get("")
    @router.get("/")
    def current_version() -> dict[str, Any]:
        return {"version": NOVA_VERSION}

    @router.get("/flavors")
    @router.get("/flavors/detail")
    def list_flavors(request: Request) -> dict[str, Any]:
        return {"flavors": _matching(inventory.flavors, request)}

    @router.get("/flavors/{flavor_id}")
    def show_flavor(flavor_id: str) -> Any:
        for flavor in inventory.flavors:
            if flavor["id"] == flavor_id:
                return {"flavor": flavor}
        return _not_found(f"Flavor {flavor_id}")

    @router.get("/flavors/{flavor_id}/os-extra_specs")
    def flavor_extra_specs(flavor_id: str) -> dict[str, Any]:
        return {"extra_specs": {}}

    @router.get("/os-keypairs")
    def list_keypairs() -> dict[str, Any]:
        return {"keypairs": [{"keypair": keypair} for keypair in inventory.keypairs.values()]}

    @router.get("/os-keypairs/{name}")
    def show_keypair(name: str) -> Any:
        keypair = inventory.keypairs.get(name)
        if keypair is None:
            return _not_found(f"Keypair {name}")
        details = {"id": 1, "user_id": "standin", "deleted": False, "created_at": CREATED_AT}
        return {"keypair": {**keypair, **details, "updated_at": None, "deleted_at": None}}

    @router.post("/os-keypairs")
    async def create_keypair(request: Request) -> Any:
        body = (await request.json()).get("keypair", {})
        name = body.get("name")
        if not name or name in inventory.keypairs:
            return JSONResponse({"conflictingRequest": {"code": 409, "message": f"Keypair {name} exists"}}, 409)
        inventory.add_keypair(name, body.get("public_key") or f"ssh-ed25519 AAAAC3Standin{name}")
        created = {**inventory.keypairs[name], "user_id": "standin"}
        if "public_key" not in body:
            created["private_key"] = "-----BEGIN OPENSSH PRIVATE KEY-----\nstandin\n-----END OPENSSH PRIVATE KEY-----\n"
        return {"keypair": created}

    @router.delete("/os-keypairs/{name}")
    def delete_keypair(name: str) -> Response:
        if inventory.keypairs.pop(name, None) is None:
            return _not_found(f"Keypair {name}")
        return Response(status_code=202)

    @router.get("/os-availability-zone")
    def availability_zones() -> dict[str, Any]:
        return {
            "availabilityZoneInfo": [{"zoneName": AVAILABILITY_ZONE, "zoneState": {"available": True}, "hosts": None}]
        }

    return router


# --------------------------------------------------------------------------- Neutron


def _neutron(inventory: Inventory) -> APIRouter:
    router = APIRouter()

    @router.get("")
    @router.get("/")
    def versions() -> dict[str, Any]:
        return {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": "/network/v2.0/"}]}]}

    @router.get("/v2.0/extensions")
    def extensions() -> dict[str, Any]:
        return {"extensions": []}

    @router.get("/v2.0/networks")
    def list_networks(request: Request) -> dict[str, Any]:
        return {"networks": _matching(inventory.networks, request)}

    @router.get("/v2.0/networks/{network_id}")
    def show_network(network_id: str) -> Any:
        for network in inventory.networks:
            if network["id"] == network_id:
                return {"network": network}
        return JSONResponse({"NeutronError": {"type": "NetworkNotFound", "message": "not found", "detail": ""}}, 404)

    @router.get("/v2.0/subnets")
    def list_subnets(request: Request) -> dict[str, Any]:
        return {"subnets": _matching(inventory.subnets, request)}

    @router.get("/v2.0/subnets/{subnet_id}")
    def show_subnet(subnet_id: str) -> Any:
        for subnet in inventory.subnets:
            if subnet["id"] == subnet_id:
                return {"subnet": subnet}
        return JSONResponse({"NeutronError": {"type": "SubnetNotFound", "message": "not found", "detail": ""}}, 404)

    return router


# --------------------------------------------------------------------------- the app

PREFIXES = {"image": "/image", "compute": "/compute/v2.1", "network": "/network"}


def standins_app(inventory: Inventory) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Response:
        inventory.requests.append(_request_line(request))
        service, _, rest = request.url.path.lstrip("/").partition("/")
        path = "/" + rest + (f"?{request.url.query}" if request.url.query else "")
        inventory.tokens.append((service, path, request.headers.get("x-auth-token", "")))
        failure = inventory.failure.get(service)
        if failure == 0:
            return StreamingResponse(_cut_short(), media_type="application/json")
        if failure is not None:
            return JSONResponse({"error": {"code": failure, "message": "stand-in failure"}}, status_code=failure)
        response: Response = await call_next(request)
        return response

    app.include_router(_glance(inventory), prefix=PREFIXES["image"])
    app.include_router(_nova(inventory), prefix=PREFIXES["compute"])

    @app.get("/compute")
    @app.get("/compute/")
    def compute_versions() -> dict[str, Any]:
        return {"versions": [NOVA_VERSION]}

    app.include_router(_neutron(inventory), prefix=PREFIXES["network"])

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])
    def unknown(request: Request) -> JSONResponse:
        inventory.unknown.append(_request_line(request))
        return JSONResponse({"error": {"code": 404, "message": "the stand-in does not serve this"}}, status_code=404)

    return app


async def _cut_short() -> AsyncIterator[bytes]:
    """An answer whose connection is lost after its headers: the server closes it mid-body."""
    yield b'{"partial":'
    raise ConnectionAbortedError("stand-in failure: connection cut")


def _request_line(request: Request) -> str:
    return f"{request.method} {request.url.path}" + (f"?{request.url.query}" if request.url.query else "")


def endpoints(base_url: str) -> Iterator[tuple[str, str, str]]:
    """(service type, service name, endpoint URL) of each stand-in at ``base_url``."""
    names = {"image": "glance-standin", "compute": "nova-standin", "network": "neutron-standin"}
    for service_type, prefix in PREFIXES.items():
        yield service_type, names[service_type], base_url + prefix
