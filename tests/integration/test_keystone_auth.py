"""The API in keystone mode against a real Keystone, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jeroboam.api.app import create_app
from jeroboam.db import migrate
from jeroboam.services.wiring import Services
from tests.conftest import make_settings
from tests.support.keystone import KeystoneServer
from tests.support.server import free_port, serve

pytestmark = pytest.mark.keystone
VERSION = {"OpenStack-API-Version": "container-infra latest"}
TEMPLATE = {"name": "ks-template", "coe": "swarm-mode", "image_id": "jeroboam-node", "external_network_id": "public"}


@pytest.fixture(scope="module")
def keystone_api(keystone_server: KeystoneServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("keystone-api")
    settings = make_settings(
        workdir,
        f"sqlite:///{workdir / 'db.sqlite'}",
        auth_strategy="keystone",
        keystone_authtoken=keystone_server.authtoken_settings(),
    )
    services = Services.build(settings)
    migrate.upgrade(services.db.engine)
    with serve(create_app(settings, services)) as url:
        yield url
    services.db.dispose()


def call(url: str, method: str, path: str, token: str | None = None, **kw: object) -> httpx.Response:
    headers = dict(VERSION)
    if token is not None:
        headers["X-Auth-Token"] = token
    return httpx.request(method, f"{url}{path}", headers=headers, timeout=30, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_missing_or_bad_token_is_keystonemiddlewares_401(
    keystone_api: str, keystone_server: KeystoneServer, token: str | None
) -> None:
    response = call(keystone_api, "GET", "/v1/clustertemplates", token)
    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": 401,
            "title": "Unauthorized",
            "message": "The request you have made requires authentication.",
        }
    }
    assert response.headers["WWW-Authenticate"] == f'Keystone uri="{keystone_server.url}"'
    assert response.headers["X-OpenStack-Request-Id"].startswith("req-")


@pytest.mark.parametrize("path", ["/", "/v1", "/healthcheck"])
def test_public_routes_need_no_token(keystone_api: str, path: str) -> None:
    assert call(keystone_api, "GET", path).status_code == 200


def test_roles_and_projects_come_from_the_token(keystone_api: str, keystone_server: KeystoneServer) -> None:
    member = keystone_server.token_for("alpha-member")
    created = call(keystone_api, "POST", "/v1/clustertemplates", member, json=TEMPLATE)
    assert created.status_code == 201, created.text
    template = created.json()
    assert template["project_id"] == keystone_server.projects["alpha"]
    assert template["user_id"] == keystone_server.users["alpha-member"].user_id

    other = keystone_server.token_for("beta-member")
    assert call(keystone_api, "GET", f"/v1/clustertemplates/{template['uuid']}", other).status_code == 404

    reader = keystone_server.token_for("alpha-reader")
    assert call(keystone_api, "GET", f"/v1/clustertemplates/{template['uuid']}", reader).status_code == 200
    denied = call(keystone_api, "POST", "/v1/clustertemplates", reader, json=TEMPLATE)
    assert denied.status_code == 403
    assert denied.json()["errors"][0]["detail"] == "Policy doesn't allow clustertemplate:create to be performed."

    admin = keystone_server.token_for("cloud-admin")
    listed = call(keystone_api, "GET", "/v1/clustertemplates", admin).json()["clustertemplates"]
    assert template["uuid"] in [t["uuid"] for t in listed]
    assert call(keystone_api, "GET", "/v1/mservices", admin).status_code == 200
    assert call(keystone_api, "GET", "/v1/mservices", member).status_code == 403


def test_a_validated_token_outlives_its_deleted_user(keystone_api: str, keystone_server: KeystoneServer) -> None:
    keystone_server.create_user("short-lived", "alpha", ["member"])
    token = keystone_server.token_for("short-lived")
    assert call(keystone_api, "GET", "/v1/clustertemplates", token).status_code == 200
    keystone_server.delete_user("short-lived")
    assert call(keystone_api, "GET", "/v1/clustertemplates", token).status_code == 200


def test_keystone_unreachable_is_503(keystone_server: KeystoneServer, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        auth_strategy="keystone",
        keystone_authtoken=keystone_server.authtoken_settings(
            auth_url=f"http://127.0.0.1:{free_port()}", http_connect_timeout=1
        ),
    )
    services = Services.build(settings)
    migrate.upgrade(services.db.engine)
    with serve(create_app(settings, services)) as url:
        response = call(url, "GET", "/v1/clustertemplates", "some-token")
    services.db.dispose()
    assert response.status_code == 503
    error = response.json()["errors"][0]
    assert error["code"] == "server"
    assert "Keystone" in error["detail"]
