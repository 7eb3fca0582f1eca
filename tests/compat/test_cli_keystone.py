"""The real ``openstack coe`` client against ``jeroboam up`` with real Keystone tokens.

A test Keystone (``tests/support/keystone.py``) provides alpha-member, alpha-reader, beta-member
and cloud-admin; ``jeroboam up`` validates their tokens as the service user ``jeroboam``. The
client finds Jeroboam through the Keystone catalog (service type ``container-infra``), which this
module registers: with password authentication python-magnumclient ignores ``--os-endpoint``.
Run with ``-s`` to see the transcript.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.compat.conftest import (
    Cli,
    JeroboamProcess,
    Transcript,
    failed,
    json_of,
    ok,
    rows_of,
    running_jeroboam,
    table_of,
)
from tests.support.keystone import DOMAIN_ID, REGION_ID, KeystoneServer, start_keystone

pytestmark = [pytest.mark.compat, pytest.mark.keystone, pytest.mark.timeout(600)]

SWARM = ("--coe", "swarm-mode", "--image", "jeroboam-node", "--external-network", "public", "--flavor", "m1.small")


@pytest.fixture(scope="module")
def keystone() -> Iterator[KeystoneServer]:
    server = start_keystone()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def jeroboam(keystone: KeystoneServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JeroboamProcess]:
    with running_jeroboam(tmp_path_factory.mktemp("jeroboam-up-keystone"), env=keystone.jeroboam_env()) as server:
        register_endpoint(keystone, server.endpoint)
        yield server
    assert server.returncode == 0, f"jeroboam up exited {server.returncode}; log:\n{server.log_tail()}"


def register_endpoint(keystone: KeystoneServer, url: str, service_type: str = "container-infra") -> None:
    """Add a ``service_type`` service with public/internal/admin endpoints at ``url``."""
    admin = keystone.admin
    auth = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": admin.name, "domain": {"id": DOMAIN_ID}, "password": admin.password}},
            },
            "scope": {"system": {"all": True}},
        }
    }
    with httpx.Client(base_url=keystone.url, timeout=30) as client:
        token = client.post("/v3/auth/tokens", json=auth)
        assert token.status_code == 201, token.text
        headers = {"X-Auth-Token": token.headers["X-Subject-Token"]}
        service = client.post(
            "/v3/services",
            json={"service": {"type": service_type, "name": "jeroboam", "enabled": True}},
            headers=headers,
        )
        assert service.status_code == 201, service.text
        service_id = service.json()["service"]["id"]
        for interface in ("public", "internal", "admin"):
            endpoint = {"service_id": service_id, "interface": interface, "region_id": REGION_ID, "url": url}
            created = client.post("/v3/endpoints", json={"endpoint": endpoint}, headers=headers)
            assert created.status_code == 201, created.text


class Users:
    """A Cli per Keystone user (password auth, project-scoped)."""

    def __init__(self, keystone: KeystoneServer, transcript: Transcript) -> None:
        self.keystone = keystone
        self.transcript = transcript

    def cli(self, name: str, password: str | None = None) -> Cli:
        user = self.keystone.users[name]
        return Cli(
            [
                "--os-auth-url",
                self.keystone.identity_url,
                "--os-identity-api-version",
                "3",
                "--os-username",
                user.name,
                "--os-password",
                password if password is not None else user.password,
                "--os-project-name",
                user.project_name,
                "--os-user-domain-name",
                "Default",
                "--os-project-domain-name",
                "Default",
                "--os-region-name",
                REGION_ID,
            ],
            transcript=self.transcript,
        )

    def project_id(self, name: str) -> str:
        return self.keystone.projects[name]


@pytest.fixture(scope="module")
def users(keystone: KeystoneServer, jeroboam: JeroboamProcess, transcript: Transcript) -> Users:
    return Users(keystone, transcript)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def alpha_template(users: Users) -> dict[str, str]:
    """A private template of project alpha, created by alpha-member."""
    name = unique("alpha-private")
    created: dict[str, str] = json_of(users.cli("alpha-member")("cluster", "template", "create", *SWARM, name))
    return created


# --------------------------------------------------------------------------- templates per role


def test_member_creates_and_sees_own_template(users: Users, alpha_template: dict[str, str]) -> None:
    assert alpha_template["project_id"] == users.project_id("alpha")
    alpha = users.cli("alpha-member")
    listed = {item["uuid"] for item in json_of(alpha("cluster", "template", "list"))}
    assert alpha_template["uuid"] in listed
    shown = json_of(alpha("cluster", "template", "show", alpha_template["name"]))
    assert shown["uuid"] == alpha_template["uuid"]


def test_other_project_does_not_see_private_template(users: Users, alpha_template: dict[str, str]) -> None:
    beta = users.cli("beta-member")
    listed = {item["uuid"] for item in json_of(beta("cluster", "template", "list"))}
    assert alpha_template["uuid"] not in listed
    result = failed(beta("cluster", "template", "show", alpha_template["uuid"]))
    assert "could not be found" in result.stderr
    assert "HTTP 404" in result.stderr
    deleted = beta("cluster", "template", "delete", alpha_template["uuid"])
    assert "failed" in deleted.stdout
    assert "could not be found" in deleted.stdout


def test_reader_sees_but_cannot_create_or_change(users: Users, alpha_template: dict[str, str]) -> None:
    reader = users.cli("alpha-reader")
    listed = {item["uuid"] for item in json_of(reader("cluster", "template", "list"))}
    assert alpha_template["uuid"] in listed
    result = failed(reader("cluster", "template", "create", *SWARM, unique("reader")))
    assert "HTTP 403" in result.stderr
    assert "clustertemplate:create" in result.stderr
    result = failed(reader("cluster", "template", "update", alpha_template["uuid"], "--name", unique("nope")))
    assert "HTTP 403" in result.stderr


def test_member_cannot_publish(users: Users) -> None:
    result = failed(users.cli("alpha-member")("cluster", "template", "create", *SWARM, "--public", unique("pub")))
    assert "HTTP 403" in result.stderr
    assert "Not authorized to set public or hidden flag" in result.stderr


def test_member_updates_and_deletes_own_template(users: Users) -> None:
    alpha = users.cli("alpha-member")
    name = unique("alpha-temp")
    created = json_of(alpha("cluster", "template", "create", *SWARM, "--labels", "a=b", name))
    updated = json_of(alpha("cluster", "template", "update", name, "--label", "c=d", "--no-label", "a"))
    assert updated["labels"] == {"c": "d"}
    ok(alpha("cluster", "template", "delete", str(created["uuid"])))
    assert created["uuid"] not in {item["uuid"] for item in json_of(alpha("cluster", "template", "list"))}


def test_admin_sees_every_project(users: Users, alpha_template: dict[str, str]) -> None:
    admin = users.cli("cloud-admin")
    listed = {item["uuid"] for item in json_of(admin("cluster", "template", "list"))}
    assert alpha_template["uuid"] in listed


# --------------------------------------------------------------------------- quotas, stats, services


def test_admin_manages_quotas(users: Users) -> None:
    admin = users.cli("cloud-admin")
    alpha = users.project_id("alpha")
    args = ("--project-id", alpha, "--resource", "Cluster")
    created = table_of(admin("quotas", "create", *args, "--hard-limit", "4"))
    assert created["project_id"] == alpha
    assert created["hard_limit"] == "4"
    listed = {row["project_id"]: row for row in rows_of(admin("quotas", "list", "--all-tenants"))}
    assert listed[alpha]["hard_limit"] == "4"
    assert table_of(admin("quotas", "show", *args))["hard_limit"] == "4"
    assert table_of(admin("quotas", "update", *args, "--hard-limit", "6"))["hard_limit"] == "6"
    # A member of the project may read its own project's quota, not change it.
    member = users.cli("alpha-member")
    assert table_of(member("quotas", "show", *args))["hard_limit"] == "6"
    refused = member("quotas", "update", *args, "--hard-limit", "100")
    assert "failed" in refused.stdout
    assert "HTTP 403" in refused.stdout
    deleted = ok(admin("quotas", "delete", *args))
    assert "has been accepted" in deleted.stdout


def test_member_cannot_list_quotas_or_see_other_projects(users: Users) -> None:
    member = users.cli("alpha-member")
    result = failed(member("quotas", "list"))
    assert "HTTP 403" in result.stderr
    beta = users.project_id("beta")
    result = failed(member("quotas", "show", "--project-id", beta, "--resource", "Cluster"))
    assert "HTTP 403" in result.stderr


def test_stats(users: Users) -> None:
    alpha, beta = users.project_id("alpha"), users.project_id("beta")
    assert table_of(users.cli("alpha-member")("stats", "list", alpha)) == {"clusters": "0", "nodes": "0"}
    assert table_of(users.cli("alpha-reader")("stats", "list", alpha)) == {"clusters": "0", "nodes": "0"}
    result = failed(users.cli("alpha-member")("stats", "list", beta))
    assert "HTTP 403" in result.stderr
    assert table_of(users.cli("cloud-admin")("stats", "list", beta)) == {"clusters": "0", "nodes": "0"}


def test_services(users: Users) -> None:
    services = json_of(users.cli("cloud-admin")("service", "list"))
    assert len(services) == 1
    assert services[0]["state"] == "up"
    result = failed(users.cli("alpha-member")("service", "list"))
    assert "HTTP 403" in result.stderr


# --------------------------------------------------------------------------- authentication failures


def test_bad_password_fails(users: Users) -> None:
    result = failed(users.cli("alpha-member", password="not-the-password")("cluster", "template", "list"))
    assert "401" in result.stderr


def test_bad_token_is_refused_in_keystonemiddleware_shape(jeroboam: JeroboamProcess) -> None:
    response = httpx.get(
        f"{jeroboam.endpoint}/clustertemplates",
        headers={"X-Auth-Token": "not-a-token", "OpenStack-API-Version": "container-infra latest"},
        timeout=30,
    )
    assert response.status_code == 401
    assert set(response.json()["error"]) >= {"code", "title", "message"}
    assert response.headers["WWW-Authenticate"].startswith("Keystone uri=")
    # The version documents need no token.
    assert httpx.get(f"{jeroboam.url}/v1", timeout=30).status_code == 200
