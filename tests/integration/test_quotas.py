"""/v1/quotas over HTTP (reference §3.6), compared with upstream's wire samples where one exists."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, RunningServer
from tests.support.identities import ADMIN, ALPHA_MEMBER, ALPHA_READER, BETA_MEMBER

QUOTA_KEYS = {"id", "hard_limit", "project_id", "resource", "created_at", "updated_at"}


def error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["errors"][0]
    return body


def create(api: Api, project_id: str, hard_limit: int = 5) -> dict[str, Any]:
    response = api.post("/v1/quotas", json={"project_id": project_id, "resource": "Cluster", "hard_limit": hard_limit})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_default_quota_is_synthesized_from_settings(api: Api) -> None:
    # Sample "GET default quota": no id or timestamps, resource always present.
    response = api.as_(ALPHA_READER).get("/v1/quotas/alpha/Cluster")
    assert response.status_code == 200
    assert response.json() == {"hard_limit": 20, "project_id": "alpha", "resource": "Cluster"}
    at_1_1 = api.as_(ALPHA_READER, "1.1").get("/v1/quotas/alpha/Cluster")
    assert at_1_1.status_code == 200
    assert at_1_1.json() == {"hard_limit": 20, "project_id": "alpha", "resource": "Cluster"}


def test_non_admin_cannot_read_another_projects_quota(api: Api) -> None:
    response = api.as_(ALPHA_MEMBER).get("/v1/quotas/beta/Cluster")
    assert response.status_code == 403
    assert error(response) == {
        "request_id": "",
        "code": "client",
        "status": 403,
        "title": "Not authorized",
        "detail": "Not authorized.",
        "links": [],
    }


def test_create_get_update_list_delete_round_trip(api: Api) -> None:
    created = create(api, "p1", 5)
    assert set(created) == QUOTA_KEYS
    assert created["hard_limit"] == 5
    assert created["project_id"] == "p1"
    assert created["resource"] == "Cluster"
    assert created["updated_at"] is None
    assert created["created_at"].endswith("+00:00")

    duplicate = api.post("/v1/quotas", json={"project_id": "p1", "resource": "Cluster", "hard_limit": 3})
    assert duplicate.status_code == 409
    assert error(duplicate)["detail"] == "Quota for project p1 already exists for resource Cluster."
    assert error(duplicate)["title"] == "Quota for project p1 already exists for resource Cluster"

    patched = api.patch("/v1/quotas/p1/Cluster", json={"project_id": "p1", "resource": "Cluster", "hard_limit": 7})
    assert patched.status_code == 202
    assert patched.json()["hard_limit"] == 7
    assert patched.json()["id"] == created["id"]
    assert patched.json()["updated_at"] is not None

    shown = api.get("/v1/quotas/p1/Cluster")
    assert shown.status_code == 200
    assert shown.json() == patched.json()

    listed = api.get("/v1/quotas?all_tenants=true")
    assert listed.status_code == 200
    assert listed.json() == {"quotas": [patched.json()]}

    assert api.delete("/v1/quotas/p1/Cluster").status_code == 204
    again = api.delete("/v1/quotas/p1/Cluster")
    assert again.status_code == 404
    assert error(again)["detail"] == "Quota could not be found: project_id p1 resource Cluster."
    # Back to the default.
    assert api.get("/v1/quotas/p1/Cluster").json() == {"hard_limit": 20, "project_id": "p1", "resource": "Cluster"}


def test_create_defaults_resource_and_hard_limit(api: Api) -> None:
    response = api.post("/v1/quotas", json={"project_id": "p2"})
    assert response.status_code == 201
    assert response.json()["resource"] == "Cluster"
    assert response.json()["hard_limit"] == 1


def test_project_reads_its_own_stored_quota(api: Api) -> None:
    create(api, "alpha", 3)
    response = api.as_(ALPHA_READER).get("/v1/quotas/alpha/Cluster")
    assert response.status_code == 200
    assert response.json()["hard_limit"] == 3


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"project_id": "p", "hard_limit": -1},
            "Invalid input for field/attribute hard_limit. Value: '-1'. Value should be greater or equal to 0",
        ),
        (
            {"project_id": "p", "resource": "Volume"},
            "Invalid input for field/attribute resource. Value: 'Volume'. Value should be one of: Cluster",
        ),
        ({"project_id": "p", "bogus": 1}, "Unknown attribute for argument quota: bogus"),
        ({"hard_limit": 2}, "Must provide a valid project ID."),
        (
            {"project_id": ""},
            "Invalid input for field/attribute project_id. Value: ''. Value should have a minimum character "
            "requirement of 1",
        ),
        (
            {"project_id": "p", "created_at": "2020-01-01"},
            "Invalid input for field/attribute created_at. Value: '2020-01-01'. Cannot set read only field.",
        ),
    ],
)
def test_create_validation(api: Api, body: dict[str, Any], detail: str) -> None:
    response = api.post("/v1/quotas", json=body)
    assert response.status_code == 400
    assert error(response)["detail"] == detail
    assert api.get("/v1/quotas?all_tenants=true").json() == {"quotas": []}


def test_create_zero_hard_limit_is_allowed(api: Api) -> None:
    assert create(api, "p0", 0)["hard_limit"] == 0


def test_writes_are_admin_only(api: Api) -> None:
    member = api.as_(ALPHA_MEMBER)
    response = member.post("/v1/quotas", json={"project_id": "alpha", "hard_limit": 100})
    # Sample "POST quota member".
    assert response.status_code == 403
    assert error(response)["detail"] == "Policy doesn't allow quota:create to be performed."
    assert error(response)["title"] == "Policy doesn't allow quota:create to be performed"
    create(api, "alpha", 2)
    patched = member.patch("/v1/quotas/alpha/Cluster", json={"hard_limit": 100})
    assert patched.status_code == 403
    assert error(patched)["detail"] == "Policy doesn't allow quota:update to be performed."
    deleted = member.delete("/v1/quotas/alpha/Cluster")
    assert deleted.status_code == 403
    assert error(deleted)["detail"] == "Policy doesn't allow quota:delete to be performed."
    listed = member.get("/v1/quotas")
    assert listed.status_code == 403
    assert error(listed)["detail"] == "Policy doesn't allow quota:get_all to be performed."
    assert api.get("/v1/quotas/alpha/Cluster").json()["hard_limit"] == 2


def test_patch_without_hard_limit_sets_one_and_path_wins(api: Api) -> None:
    create(api, "p1", 9)
    response = api.patch("/v1/quotas/p1/Cluster", json={"project_id": "other", "resource": "Cluster"})
    assert response.status_code == 202
    assert response.json()["hard_limit"] == 1
    assert response.json()["project_id"] == "p1"
    assert api.get("/v1/quotas/other/Cluster").json() == {
        "hard_limit": 20,
        "project_id": "other",
        "resource": "Cluster",
    }


def test_patch_missing_quota_is_404(api: Api) -> None:
    response = api.patch("/v1/quotas/nobody/Cluster", json={"hard_limit": 3})
    assert response.status_code == 404
    assert error(response)["detail"] == "Quota could not be found: project_id nobody resource Cluster."


def test_patch_validates_body(api: Api) -> None:
    create(api, "p1", 9)
    response = api.patch("/v1/quotas/p1/Cluster", json={"hard_limit": "many"})
    assert response.status_code == 400
    assert error(response)["detail"].startswith("Invalid input for field/attribute hard_limit. Value: 'many'.")
    unknown = api.patch("/v1/quotas/p1/Cluster", json={"limit": 3})
    assert unknown.status_code == 400
    assert error(unknown)["detail"] == "Unknown attribute for argument quotapatch: limit"
    assert api.get("/v1/quotas/p1/Cluster").json()["hard_limit"] == 9


def test_list_is_own_project_unless_all_tenants(api: Api) -> None:
    create(api, "admin-project", 4)
    create(api, "alpha", 2)
    create(api, "beta", 3)
    own = api.get("/v1/quotas")
    assert own.status_code == 200
    assert [q["project_id"] for q in own.json()["quotas"]] == ["admin-project"]
    everyone = api.get("/v1/quotas?all_tenants=True")
    assert [q["project_id"] for q in everyone.json()["quotas"]] == ["admin-project", "alpha", "beta"]
    assert api.get("/v1/quotas?all_tenants=false").json() == own.json()


def test_list_pages_by_integer_id(api: Api) -> None:
    ids = [create(api, project)["id"] for project in ("admin-project", "alpha", "beta")]
    first = api.get("/v1/quotas?all_tenants=True&limit=2")
    assert first.status_code == 200
    body = first.json()
    assert [q["id"] for q in body["quotas"]] == ids[:2]
    assert body["next"] == (f"{api.url}/v1/quotas?sort_key=id&sort_dir=asc&limit=2&marker={ids[1]}&all_tenants=True")
    second = api.get(body["next"].removeprefix(api.url))
    assert [q["id"] for q in second.json()["quotas"]] == ids[2:]
    assert "next" not in second.json()
    descending = api.get("/v1/quotas?all_tenants=True&sort_dir=desc&sort_key=project_id")
    assert [q["project_id"] for q in descending.json()["quotas"]] == ["beta", "alpha", "admin-project"]
    own_page = api.get("/v1/quotas?limit=1")
    assert own_page.json()["next"] == f"{api.url}/v1/quotas?sort_key=id&sort_dir=asc&limit=1&marker={ids[0]}"


@pytest.mark.parametrize(
    ("query", "status", "detail"),
    [
        ("marker=abc", 400, "Invalid input for field/attribute marker. Value: 'abc'. unable to convert to int"),
        ("marker=999999", 404, "Quota could not be found: quota id 999999."),
        ("limit=0", 400, "Limit must be positive"),
        ("sort_key=bogus", 400, 'The sort_key value "bogus" is an invalid field for sorting'),
        ("sort_dir=up", 400, "Invalid sort direction: up. Acceptable values are 'asc' or 'desc'"),
        ("all_tenants=maybe", 400, None),
        ("project_id=alpha", 400, 'Unknown argument: "project_id"'),
    ],
)
def test_list_query_errors(api: Api, query: str, status: int, detail: str | None) -> None:
    response = api.get(f"/v1/quotas?{query}")
    assert response.status_code == status
    if detail is not None:
        assert error(response)["detail"] == detail


def test_marker_of_another_project_is_not_visible_without_all_tenants(api: Api) -> None:
    other = create(api, "beta")
    response = api.get(f"/v1/quotas?marker={other['id']}")
    assert response.status_code == 404


def test_unknown_query_argument_on_one_quota(api: Api) -> None:
    response = api.get("/v1/quotas/alpha/Cluster?verbose=1")
    assert response.status_code == 400
    assert error(response)["detail"] == 'Unknown argument: "verbose"'


def test_effective_limit_follows_the_quota_row(api: Api, server: RunningServer) -> None:
    quotas = server.services.quotas
    assert quotas.effective_limit(None, "gamma") == 20
    create(api, "gamma", 3)
    assert quotas.effective_limit(None, "gamma") == 3
    with server.services.db.transaction() as session:
        assert quotas.effective_limit(session, "gamma") == 3
        assert quotas.effective_limit(session, "delta") == 20


def test_beta_member_can_read_own_quota_only(api: Api) -> None:
    create(api, "beta", 6)
    beta = api.as_(BETA_MEMBER)
    assert beta.get("/v1/quotas/beta/Cluster").json()["hard_limit"] == 6
    assert beta.get("/v1/quotas/alpha/Cluster").status_code == 403
    assert api.as_(ADMIN).get("/v1/quotas/beta/Cluster").json()["hard_limit"] == 6
