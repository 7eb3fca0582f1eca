"""/v1/federations over HTTP (reference §3.9): stored records, project-scoped, no backend action."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from jeroboam.db.models import Cluster
from tests.conftest import Api, RunningServer
from tests.support.identities import ALPHA_MEMBER, ALPHA_MEMBER2, ALPHA_READER, BETA_MEMBER

SUMMARY_KEYS = {"uuid", "name", "hostcluster_id", "member_ids", "status", "properties", "links"}
FULL_KEYS = SUMMARY_KEYS | {"status_reason", "project_id", "created_at", "updated_at"}
PROPERTIES = {"dns-zone": "example.com."}


def error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["errors"][0]
    return body


def add_cluster(server: RunningServer, project_id: str, name: str) -> str:
    cluster_uuid = str(uuid.uuid4())
    with server.services.db.transaction() as session:
        session.add(
            Cluster(
                uuid=cluster_uuid,
                name=name,
                project_id=project_id,
                user_id="someone",
                cluster_template_id=str(uuid.uuid4()),
                status="CREATE_COMPLETE",
            )
        )
    return cluster_uuid


@pytest.fixture
def alpha(api: Api) -> Api:
    return api.as_(ALPHA_MEMBER)


@pytest.fixture
def host(server: RunningServer) -> str:
    return add_cluster(server, "alpha", "host")


def create(client: Api, hostcluster_id: str, **extra: Any) -> str:
    body = {"name": "fed", "hostcluster_id": hostcluster_id, "properties": PROPERTIES, **extra}
    response = client.post("/v1/federations", json=body)
    assert response.status_code == 202, response.text
    assert set(response.json()) == {"uuid"}
    created: str = response.json()["uuid"]
    return created


def test_empty_list(alpha: Api) -> None:
    response = alpha.get("/v1/federations")
    # Sample "GET federations".
    assert response.status_code == 200
    assert response.json() == {"federations": []}


def test_create_stores_and_shows_the_federation(alpha: Api, host: str, server: RunningServer) -> None:
    member = add_cluster(server, "alpha", "member")
    fed = create(alpha, "host", member_ids=[member], properties={"dns-zone": "example.com.", "extra": "x"})
    response = alpha.get(f"/v1/federations/{fed}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == FULL_KEYS
    assert body["uuid"] == fed
    assert body["name"] == "fed"
    assert body["hostcluster_id"] == host  # the name was resolved to the cluster's uuid
    assert body["member_ids"] == [member]
    assert body["status"] == "CREATE_COMPLETE"
    assert body["status_reason"]
    assert body["properties"] == {"dns-zone": "example.com.", "extra": "x"}
    assert body["project_id"] == "alpha"
    assert body["created_at"].endswith("+00:00")
    assert body["updated_at"] is None
    assert body["links"] == [
        {"href": f"{alpha.url}/v1/federations/{fed}", "rel": "self"},
        {"href": f"{alpha.url}/federations/{fed}", "rel": "bookmark"},
    ]
    assert alpha.get("/v1/federations/fed").json() == body


def test_create_generates_a_name(alpha: Api, host: str) -> None:
    fed = create(alpha, host, name=None)
    assert alpha.get(f"/v1/federations/{fed}").json()["name"].endswith("-federation")


def test_create_ignores_server_owned_fields(alpha: Api, host: str) -> None:
    given = str(uuid.uuid4())
    fed = create(alpha, host, uuid=given, status="DELETE_FAILED", status_reason="mine")
    assert fed != given
    body = alpha.get(f"/v1/federations/{fed}").json()
    assert body["status"] == "CREATE_COMPLETE"
    assert body["status_reason"] != "mine"


@pytest.mark.parametrize(
    ("changes", "status", "detail"),
    [
        ({"hostcluster_id": None}, 400, "No hostcluster specified. Please specify a hostcluster_id."),
        ({"hostcluster_id": "nowhere"}, 404, "Cluster nowhere could not be found."),
        ({"properties": None}, 400, "Please specify a `properties` dict for the federation."),
        ({"properties": {}}, 400, "No DNS zone specified. Please specify a `dns-zone`."),
        ({"properties": {"zone": "x"}}, 400, "No DNS zone specified. Please specify a `dns-zone`."),
        (
            {"properties": {"dns-zone": 5}},
            400,
            "Invalid input for field/attribute properties. Value: '{'dns-zone': 5}'. "
            "Wrong type. Expected '<class 'str'>', got '<class 'int'>'",
        ),
        (
            {"properties": "dns-zone=x"},
            400,
            "Invalid input for field/attribute properties. Value: 'dns-zone=x'. "
            "Wrong type. Expected '<class 'dict'>', got '<class 'str'>'",
        ),
        (
            {"name": "1bad"},
            400,
            "Invalid input for field/attribute name. Value: '1bad'. "
            "Value should match the pattern ^[a-zA-Z][a-zA-Z0-9_.-]*$",
        ),
        (
            {"name": "a" * 243},
            400,
            f"Invalid input for field/attribute name. Value: '{'a' * 243}'. "
            "Value should have a maximum character requirement of 242",
        ),
        (
            {"status": "DONE"},
            400,
            "Invalid input for field/attribute status. Value: 'DONE'. Value should be one of: "
            "CREATE_IN_PROGRESS, CREATE_FAILED, CREATE_COMPLETE, UPDATE_IN_PROGRESS, UPDATE_FAILED, "
            "UPDATE_COMPLETE, DELETE_IN_PROGRESS, DELETE_FAILED, DELETE_COMPLETE",
        ),
        ({"bogus": 1}, 400, "Unknown attribute for argument federation: bogus"),
        (
            {"project_id": "beta"},
            400,
            "Invalid input for field/attribute project_id. Value: 'beta'. Cannot set read only field.",
        ),
        ({"member_ids": [str(uuid.UUID(int=7))]}, 404, f"Cluster {uuid.UUID(int=7)} could not be found."),
    ],
)
def test_create_validation(alpha: Api, host: str, changes: dict[str, Any], status: int, detail: str) -> None:
    body = {"name": "fed", "hostcluster_id": host, "properties": PROPERTIES, **changes}
    response = alpha.post("/v1/federations", json=body)
    assert response.status_code == status
    assert error(response)["detail"] == detail
    assert alpha.get("/v1/federations").json() == {"federations": []}


def test_create_with_a_member_twice_is_a_conflict(alpha: Api, host: str) -> None:
    response = alpha.post(
        "/v1/federations",
        json={"name": "fed", "hostcluster_id": host, "properties": PROPERTIES, "member_ids": [host, "host"]},
    )
    assert response.status_code == 409
    assert error(response)["detail"] == f"A cluster with UUID {host} is already a member of the federation fed."


def test_host_cluster_of_another_project_is_not_found(api: Api, server: RunningServer) -> None:
    theirs = add_cluster(server, "beta", "theirs")
    response = api.as_(ALPHA_MEMBER).post("/v1/federations", json={"hostcluster_id": theirs, "properties": PROPERTIES})
    assert response.status_code == 404
    assert error(response)["detail"] == f"Cluster {theirs} could not be found."


def test_reader_cannot_write(api: Api, host: str) -> None:
    reader = api.as_(ALPHA_READER)
    response = reader.post("/v1/federations", json={"hostcluster_id": host, "properties": PROPERTIES})
    assert response.status_code == 403
    assert error(response)["detail"] == "Policy doesn't allow federation:create to be performed."
    fed = create(api.as_(ALPHA_MEMBER), host)
    assert reader.get(f"/v1/federations/{fed}").status_code == 200
    patched = reader.patch(f"/v1/federations/{fed}", json=[{"op": "replace", "path": "/name", "value": "x"}])
    assert patched.status_code == 403
    assert error(patched)["detail"] == "Policy doesn't allow federation:update to be performed."
    deleted = reader.delete(f"/v1/federations/{fed}")
    assert deleted.status_code == 403
    assert error(deleted)["detail"] == "Policy doesn't allow federation:delete to be performed."


def test_list_detail_and_pages(alpha: Api, host: str) -> None:
    feds = [create(alpha, host, name=f"fed{i}") for i in range(3)]
    listed = alpha.get("/v1/federations")
    assert listed.status_code == 200
    items = listed.json()["federations"]
    assert [item["uuid"] for item in items] == feds
    assert all(set(item) == SUMMARY_KEYS for item in items)
    assert "next" not in listed.json()
    detail = alpha.get("/v1/federations/detail").json()["federations"]
    assert all(set(item) == FULL_KEYS for item in detail)
    page = alpha.get("/v1/federations/detail?limit=2").json()
    assert [item["uuid"] for item in page["federations"]] == feds[:2]
    assert page["next"] == f"{alpha.url}/v1/federations/detail?sort_key=id&sort_dir=asc&limit=2&marker={feds[1]}"
    rest = alpha.get(page["next"].removeprefix(alpha.url)).json()
    assert [item["uuid"] for item in rest["federations"]] == feds[2:]
    by_name = alpha.get("/v1/federations?sort_key=name&sort_dir=desc").json()["federations"]
    assert [item["name"] for item in by_name] == ["fed2", "fed1", "fed0"]
    bad = alpha.get("/v1/federations?all_tenants=1")
    assert bad.status_code == 400
    assert error(bad)["detail"] == 'Unknown argument: "all_tenants"'


def test_other_projects_see_nothing(api: Api, alpha: Api, host: str) -> None:
    fed = create(alpha, host)
    beta = api.as_(BETA_MEMBER)
    assert beta.get("/v1/federations").json() == {"federations": []}
    for response in (
        beta.get(f"/v1/federations/{fed}"),
        beta.patch(f"/v1/federations/{fed}", json=[{"op": "replace", "path": "/name", "value": "x"}]),
        beta.delete(f"/v1/federations/{fed}"),
    ):
        assert response.status_code == 404
        assert error(response)["detail"] == f"Federation {fed} could not be found."
    # Federations have no all-projects rule: an admin of another project does not see them either.
    assert api.get("/v1/federations").json() == {"federations": []}
    # A second member of the same project does.
    assert api.as_(ALPHA_MEMBER2).get(f"/v1/federations/{fed}").status_code == 200


def test_duplicate_names_are_ambiguous(alpha: Api, host: str) -> None:
    create(alpha, host, name="twin")
    create(alpha, host, name="twin")
    response = alpha.get("/v1/federations/twin")
    assert response.status_code == 409
    assert (
        error(response)["detail"]
        == "Multiple federations exist with same name. Please use the federation uuid instead."
    )


def test_join_and_unjoin_members(alpha: Api, host: str, server: RunningServer) -> None:
    fed = create(alpha, host)
    member = add_cluster(server, "alpha", "member")
    other = add_cluster(server, "alpha", "other")

    joined = alpha.patch(f"/v1/federations/{fed}", json=[{"op": "add", "path": "/member_ids", "value": member}])
    assert joined.status_code == 202
    assert joined.json() == {"uuid": fed}
    body = alpha.get(f"/v1/federations/{fed}").json()
    assert body["member_ids"] == [member]
    assert body["status"] == "UPDATE_COMPLETE"
    assert body["updated_at"] is not None

    by_name = alpha.patch(f"/v1/federations/{fed}", json=[{"op": "add", "path": "/member_ids", "value": "other"}])
    assert by_name.status_code == 202
    assert alpha.get(f"/v1/federations/{fed}").json()["member_ids"] == [member, other]

    again = alpha.patch(f"/v1/federations/{fed}", json=[{"op": "add", "path": "/member_ids", "value": member}])
    assert again.status_code == 409
    assert error(again)["detail"] == f"A cluster with UUID {member} is already a member of the federation fed."

    missing = str(uuid.uuid4())
    unknown = alpha.patch(f"/v1/federations/{fed}", json=[{"op": "add", "path": "/member_ids", "value": missing}])
    assert unknown.status_code == 404
    assert error(unknown)["detail"] == f"Cluster {missing} could not be found."

    left = alpha.patch(f"/v1/federations/{fed}", json=[{"op": "remove", "path": "/member_ids", "value": member}])
    assert left.status_code == 202
    assert alpha.get(f"/v1/federations/{fed}").json()["member_ids"] == [other]

    not_member = alpha.patch(f"/v1/federations/{fed}", json=[{"op": "remove", "path": "/member_ids", "value": member}])
    assert not_member.status_code == 404
    assert error(not_member)["detail"] == f"Cluster {member} is not a member of the federation fed."
    assert alpha.get(f"/v1/federations/{fed}").json()["member_ids"] == [other]

    cleared = alpha.patch(f"/v1/federations/{fed}", json=[{"op": "remove", "path": "/member_ids"}])
    assert cleared.status_code == 202
    assert alpha.get(f"/v1/federations/{fed}").json()["member_ids"] == []


def test_member_of_another_project_cannot_join(api: Api, alpha: Api, host: str, server: RunningServer) -> None:
    fed = create(alpha, host)
    theirs = add_cluster(server, "beta", "theirs")
    response = alpha.patch(f"/v1/federations/{fed}", json=[{"op": "add", "path": "/member_ids", "value": theirs}])
    assert response.status_code == 404
    assert alpha.get(f"/v1/federations/{fed}").json()["member_ids"] == []


def test_patch_attributes(alpha: Api, host: str, server: RunningServer) -> None:
    fed = create(alpha, host)
    other = add_cluster(server, "alpha", "other")
    response = alpha.patch(
        f"/v1/federations/{fed}?rollback=True",
        json=[
            {"op": "replace", "path": "/name", "value": "renamed"},
            {"op": "replace", "path": "/properties/dns-zone", "value": "example.org."},
            {"op": "add", "path": "/properties/ttl", "value": "60"},
            {"op": "replace", "path": "/hostcluster_id", "value": "other"},
        ],
    )
    assert response.status_code == 202, response.text
    body = alpha.get(f"/v1/federations/{fed}").json()
    assert body["name"] == "renamed"
    assert body["properties"] == {"dns-zone": "example.org.", "ttl": "60"}
    assert body["hostcluster_id"] == other
    assert body["status"] == "UPDATE_COMPLETE"


@pytest.mark.parametrize(
    ("patch", "status", "detail"),
    [
        (
            [{"op": "remove", "path": "/properties/dns-zone"}],
            400,
            "No DNS zone specified. Please specify a `dns-zone`.",
        ),
        ([{"op": "remove", "path": "/properties"}], 400, "Please specify a `properties` dict for the federation."),
        (
            [{"op": "remove", "path": "/hostcluster_id"}],
            400,
            "'/hostcluster_id' is a mandatory attribute and can not be removed",
        ),
        (
            [{"op": "replace", "path": "/hostcluster_id", "value": "nowhere"}],
            404,
            "Cluster nowhere could not be found.",
        ),
        (
            [{"op": "replace", "path": "/status", "value": "CREATE_FAILED"}],
            400,
            "'/status' is an internal attribute and can not be updated",
        ),
        (
            [{"op": "replace", "path": "/uuid", "value": "x"}],
            400,
            "'/uuid' is an internal attribute and can not be updated",
        ),
        (
            [{"op": "replace", "path": "/project_id", "value": "beta"}],
            400,
            "'/project_id' is an internal attribute and can not be updated",
        ),
        (
            [{"op": "replace", "path": "/name", "value": "9lives"}],
            400,
            "Invalid input for field/attribute name. Value: '9lives'. "
            "Value should match the pattern ^[a-zA-Z][a-zA-Z0-9_.-]*$",
        ),
        (
            [{"op": "add", "path": "/foo", "value": "x"}],
            400,
            "Adding a new attribute /foo to the root of the resource is not allowed.",
        ),
        ({"op": "replace", "path": "/name", "value": "x"}, 400, None),
        ([{"op": "move", "path": "/name", "value": "x"}], 400, None),
    ],
)
def test_patch_errors_change_nothing(alpha: Api, host: str, patch: Any, status: int, detail: str | None) -> None:
    fed = create(alpha, host)
    before = alpha.get(f"/v1/federations/{fed}").json()
    response = alpha.patch(f"/v1/federations/{fed}", json=patch)
    assert response.status_code == status
    if detail is not None:
        assert error(response)["detail"] == detail
    assert alpha.get(f"/v1/federations/{fed}").json() == before


def test_patch_rejects_unknown_query_argument(alpha: Api, host: str) -> None:
    fed = create(alpha, host)
    response = alpha.patch(f"/v1/federations/{fed}?force=1", json=[{"op": "replace", "path": "/name", "value": "x"}])
    assert response.status_code == 400
    assert error(response)["detail"] == 'Unknown argument: "force"'
    bad_rollback = alpha.patch(
        f"/v1/federations/{fed}?rollback=perhaps", json=[{"op": "replace", "path": "/name", "value": "x"}]
    )
    assert bad_rollback.status_code == 400


def test_delete(alpha: Api, host: str) -> None:
    fed = create(alpha, host)
    assert alpha.delete(f"/v1/federations/{fed}").status_code == 204
    response = alpha.get(f"/v1/federations/{fed}")
    assert response.status_code == 404
    assert error(response)["detail"] == f"Federation {fed} could not be found."
    assert alpha.delete(f"/v1/federations/{fed}").status_code == 404
    assert alpha.get("/v1/federations").json() == {"federations": []}
