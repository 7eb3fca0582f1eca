"""Services in a test Keystone's catalog: the suite registers Jeroboam and the stand-ins there."""

from __future__ import annotations

import httpx

from tests.support.keystone import DOMAIN_ID, REGION_ID, KeystoneServer


def admin_token(client: httpx.Client, keystone: KeystoneServer) -> str:
    """A system-scoped token of the bootstrap admin."""
    admin = keystone.admin
    identity = {"methods": ["password"]}
    identity["password"] = {"user": {"name": admin.name, "domain": {"id": DOMAIN_ID}, "password": admin.password}}
    body = {"auth": {"identity": identity, "scope": {"system": {"all": True}}}}
    response = client.post("/v3/auth/tokens", json=body)
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]


def register_service(keystone: KeystoneServer, service_type: str, name: str, url: str) -> None:
    """Add a service of ``service_type`` with public, internal and admin endpoints at ``url``."""
    with httpx.Client(base_url=keystone.url, timeout=30) as client:
        headers = {"X-Auth-Token": admin_token(client, keystone)}
        service = client.post(
            "/v3/services", json={"service": {"type": service_type, "name": name, "enabled": True}}, headers=headers
        )
        assert service.status_code == 201, service.text
        service_id = service.json()["service"]["id"]
        for interface in ("public", "internal", "admin"):
            endpoint = {"service_id": service_id, "interface": interface, "region_id": REGION_ID, "url": url}
            created = client.post("/v3/endpoints", json={"endpoint": endpoint}, headers=headers)
            assert created.status_code == 201, created.text
