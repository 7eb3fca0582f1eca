"""The HTTP edge as a client sees it (reference §1, §2, §5): version documents, microversions,
request ids, routing and body errors, path handling, health check and the OpenAPI document."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.conftest import Api
from tests.support.identities import ALPHA_MEMBER
from tests.support.wire_samples import sample

REQUEST_ID = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
JSON = {"Accept": "application/json"}
NOT_JSON = {"Accept": "text/html"}
MINIMUM = "container-infrastructure-management 1.1"
MAXIMUM = "container-infrastructure-management 1.14"
TEMPLATE = {"coe": "swarm-mode", "image_id": "jeroboam-node"}


def raw(api: Api, method: str, path: str, **kw: Any) -> httpx.Response:
    """A request with exactly the given headers (no identity, no microversion)."""
    return api.client.request(method, path, **kw)


def microversion(value: str) -> dict[str, str]:
    return {"OpenStack-API-Version": value}


def assert_version_headers(response: httpx.Response, version: str) -> None:
    assert response.headers["OpenStack-API-Minimum-Version"] == MINIMUM
    assert response.headers["OpenStack-API-Maximum-Version"] == MAXIMUM
    assert response.headers["OpenStack-API-Version"] == f"container-infrastructure-management {version}"
    assert response.headers["Vary"] == "OpenStack-API-Version"


def assert_no_version_headers(response: httpx.Response) -> None:
    for name in ("OpenStack-API-Minimum-Version", "OpenStack-API-Maximum-Version", "OpenStack-API-Version"):
        assert name not in response.headers


# -- version documents -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/.json"])
def test_root_document(api: Api, path: str) -> None:
    response = raw(api, "GET", path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == sample("GET /", api.url)["body"]
    assert_no_version_headers(response)


def test_root_document_ignores_a_microversion(api: Api) -> None:
    response = raw(api, "GET", "/", headers=microversion("container-infra 1.99"))
    assert response.status_code == 200
    assert_no_version_headers(response)


@pytest.mark.parametrize("path", ["/v1", "/v1/", "/v1.json"])
def test_v1_document(api: Api, path: str) -> None:
    response = raw(api, "GET", path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == sample("GET /v1/", api.url)["body"]
    assert_version_headers(response, "1.1")


def test_version_documents_need_no_identity(api: Api) -> None:
    anonymous = Api(api.url, identity=None, version=None)
    try:
        assert anonymous.get("/").status_code == 200
        assert anonymous.get("/v1").status_code == 200
        assert anonymous.get("/healthcheck").status_code == 200
    finally:
        anonymous.client.close()


# -- microversion negotiation ------------------------------------------------------------------


def test_absent_microversion_is_1_1(api: Api) -> None:
    response = raw(api, "GET", "/v1/clustertemplates")
    assert response.status_code == 200
    assert_version_headers(response, "1.1")


@pytest.mark.parametrize("latest", ["latest", "LATEST"])
def test_latest_is_1_14(api: Api, latest: str) -> None:
    response = raw(api, "GET", "/v1/clustertemplates", headers=microversion(f"container-infra {latest}"))
    assert response.status_code == 200
    assert_version_headers(response, "1.14")


@pytest.mark.parametrize(
    "service", ["container-infrastructure-management", "container-infrastructure", "container-infra"]
)
@pytest.mark.parametrize("version", ["1.1", "1.9", "1.14"])
def test_each_service_alias(api: Api, service: str, version: str) -> None:
    response = raw(api, "GET", "/v1/clustertemplates", headers=microversion(f"{service} {version}"))
    assert response.status_code == 200
    assert_version_headers(response, version)


def test_bad_service_without_accept_json(api: Api) -> None:
    response = raw(api, "GET", "/v1/clustertemplates", headers={**microversion("compute 1.2"), **NOT_JSON})
    expected = sample("GET /v1/clusters bad service", api.url)
    assert response.status_code == 406
    assert response.json() == expected["body"]
    assert response.headers["Content-Type"] == "application/json"
    assert_no_version_headers(response)


def test_bad_service_with_accept_json(api: Api) -> None:
    response = raw(api, "GET", "/v1/clustertemplates", headers={**microversion("compute 1.2"), **JSON})
    assert response.status_code == 406
    assert response.json() == {
        "errors": [
            {
                "request_id": "",
                "code": "",
                "status": 406,
                "title": "Not Acceptable",
                "detail": "Invalid service type for OpenStack-API-Version header",
                "links": [],
            }
        ]
    }
    assert_no_version_headers(response)


@pytest.mark.parametrize("value", ["container-infra", "1.2", "container-infra 1.2 1.3"])
def test_wrong_number_of_tokens_is_a_bad_service(api: Api, value: str) -> None:
    response = raw(api, "GET", "/v1/clustertemplates", headers={**microversion(value), **JSON})
    assert response.status_code == 406
    assert response.json()["errors"][0]["detail"] == "Invalid service type for OpenStack-API-Version header"


@pytest.mark.parametrize("value", ["1.x", "1", "one.two", "1.2.3"])
def test_malformed_version(api: Api, value: str) -> None:
    response = raw(api, "GET", "/v1/clustertemplates", headers={**microversion(f"container-infra {value}"), **JSON})
    assert response.status_code == 406
    assert response.json() == sample("406 malformed version", api.url)["body"]
    assert_no_version_headers(response)


def test_unsupported_version_with_accept_json(api: Api) -> None:
    response = raw(api, "GET", "/v1/clustertemplates", headers={**microversion("container-infra 1.99"), **JSON})
    expected = sample("406 unsupported version (Accept json)", api.url)
    assert response.status_code == 406
    assert response.json() == expected["body"]
    assert_version_headers(response, "1.99")


def test_unsupported_version_without_accept_json(api: Api) -> None:
    response = raw(api, "GET", "/v1/clustertemplates", headers={**microversion("container-infra 1.99"), **NOT_JSON})
    expected = sample("GET /v1/clusters bad microversion 1.99", api.url)
    assert response.status_code == 406
    assert response.json() == expected["body"]
    assert "description" not in response.json()["errors"][0]
    assert_version_headers(response, "1.99")


@pytest.mark.parametrize("version", ["1.0", "1.15", "2.1", "0.9"])
def test_other_versions_out_of_range(api: Api, version: str) -> None:
    response = raw(api, "GET", "/v1/clustertemplates", headers={**microversion(f"container-infra {version}"), **JSON})
    assert response.status_code == 406
    error = response.json()["errors"][0]
    assert error["code"] == "magnum.microversion-unsupported"
    assert error["description"].startswith(f"Version {version} was requested but")
    assert_version_headers(response, version)


def test_microversion_is_checked_on_the_v1_document_too(api: Api) -> None:
    assert raw(api, "GET", "/v1", headers=microversion("container-infra 1.99")).status_code == 406
    response = raw(api, "GET", "/v1/", headers=microversion("container-infra latest"))
    assert response.status_code == 200
    assert_version_headers(response, "1.14")


def test_version_headers_on_errors_of_the_resource(api: Api) -> None:
    response = api.as_(ALPHA_MEMBER, "1.4").get("/v1/clustertemplates/missing")
    assert response.status_code == 404
    assert_version_headers(response, "1.4")


# -- request ids -------------------------------------------------------------------------------


def test_request_id_on_every_response(api: Api) -> None:
    created = api.post("/v1/clustertemplates", json=TEMPLATE)
    uuid = created.json()["uuid"]
    responses = [
        created,
        raw(api, "GET", "/"),
        raw(api, "GET", "/v1"),
        raw(api, "GET", "/healthcheck"),
        raw(api, "GET", "/v1/openapi.json"),
        api.get("/v1/clustertemplates"),
        api.get("/v1/nothing-here"),
        api.request("PUT", "/v1/clustertemplates"),
        raw(api, "GET", "/v1/clustertemplates", headers=microversion("bogus 1.1")),
        raw(api, "GET", "/v1/clustertemplates", headers=microversion("container-infra 1.99")),
        api.get("/v1/clustertemplates?bogus=1"),
        api.post("/v1/clustertemplates", content=b"{", headers={"Content-Type": "application/json"}),
        api.post("/v1/clustertemplates", content=b"x", headers={"Content-Type": "text/plain"}),
        api.as_(ALPHA_MEMBER).get(f"/v1/clustertemplates/{uuid}"),
        api.delete(f"/v1/clustertemplates/{uuid}"),
    ]
    ids = []
    for response in responses:
        assert REQUEST_ID.fullmatch(response.headers.get("X-OpenStack-Request-Id", "")), (
            response.request.method,
            response.request.url,
            response.status_code,
        )
        ids.append(response.headers["X-OpenStack-Request-Id"])
    assert len(set(ids)) == len(ids)


# -- routing errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/bogus", "/v1/clustertemplates/x/y", "/bogus/deeper"])
def test_unknown_route_with_accept_json(api: Api, path: str) -> None:
    response = api.get(path, headers=JSON)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == sample("404 bogus route", api.url)["body"]


def test_unknown_route_without_accept_json(api: Api) -> None:
    response = api.get("/v1/bogus", headers=NOT_JSON)
    assert response.status_code == 404
    assert response.json() == sample("GET bays", api.url)["body"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/clustertemplates"),
        ("DELETE", "/v1/clustertemplates"),
        ("PATCH", "/v1/clustertemplates"),
        ("PUT", "/v1/clustertemplates/6a4c8b9e-0000-4000-8000-000000000001"),
        ("POST", "/v1/clustertemplates/6a4c8b9e-0000-4000-8000-000000000001"),
        ("POST", "/v1"),
        ("DELETE", "/"),
    ],
)
def test_wrong_method(api: Api, method: str, path: str) -> None:
    response = api.request(method, path, headers=JSON)
    assert response.status_code == 405
    assert response.json() == sample("PUT cluster (405?)", api.url)["body"]


# -- bodies and query strings ------------------------------------------------------------------


def test_a_body_in_another_media_type(api: Api) -> None:
    response = api.post("/v1/clustertemplates", content=b"coe=swarm", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json() == sample("resize text/plain body", api.url)["body"]


def test_json_media_type_with_parameters(api: Api) -> None:
    response = api.post(
        "/v1/clustertemplates",
        content=json.dumps(TEMPLATE).encode(),
        headers={"Content-Type": "application/json; charset=UTF-8"},
    )
    assert response.status_code == 201, response.text


def test_a_body_with_no_content_type_is_read_as_json(api: Api) -> None:
    response = api.client.post("/v1/clustertemplates", content=json.dumps(TEMPLATE).encode(), headers=api.headers())
    assert response.status_code == 201, response.text


def test_an_empty_body_is_fine_whatever_its_type(api: Api) -> None:
    uuid = api.post("/v1/clustertemplates", json=TEMPLATE).json()["uuid"]
    headers = {"Content-Type": "application/octet-stream"}
    response = api.request("DELETE", f"/v1/clustertemplates/{uuid}", headers=headers, content=b"")
    assert response.status_code == 204


@pytest.mark.parametrize("body", [b"{", b"{'coe': 'swarm'}", b"not json", b"\xff\xfe"])
def test_malformed_json(api: Api, body: bytes) -> None:
    response = api.post("/v1/clustertemplates", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == sample("bad json", api.url)["body"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/clustertemplates?foo=1"),
        ("GET", "/v1/clustertemplates/detail?foo=1"),
        ("GET", "/v1/clustertemplates/any?foo=1"),
        ("DELETE", "/v1/clustertemplates/any?foo=1"),
        ("GET", "/v1/clustertemplates?limit=1&foo=1"),
    ],
)
def test_unknown_query_arguments(api: Api, method: str, path: str) -> None:
    response = api.request(method, path)
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "request_id": "",
                "code": "client",
                "status": 400,
                "title": 'Unknown argument: "foo"',
                "detail": 'Unknown argument: "foo"',
                "links": [],
            }
        ]
    }


# -- paths -------------------------------------------------------------------------------------


def test_paths_outside_v1_are_served_as_v1(api: Api) -> None:
    created = api.post("/clustertemplates", json={**TEMPLATE, "name": "outside"})
    assert created.status_code == 201, created.text
    uuid = created.json()["uuid"]
    assert created.headers["Location"] == f"{api.url}/v1/clustertemplates/{uuid}"
    assert_version_headers(created, "1.14")
    assert [t["uuid"] for t in api.get("/clustertemplates").json()["clustertemplates"]] == [uuid]
    assert [t["uuid"] for t in api.get("/clustertemplates/detail").json()["clustertemplates"]] == [uuid]
    assert api.get(f"/clustertemplates/{uuid}").json()["name"] == "outside"
    assert api.get("/clustertemplates/outside").json()["uuid"] == uuid
    assert api.delete(f"/clustertemplates/{uuid}").status_code == 204


def test_trailing_slashes_route(api: Api) -> None:
    uuid = api.post("/v1/clustertemplates/", json=TEMPLATE).json()["uuid"]
    assert [t["uuid"] for t in api.get("/v1/clustertemplates/").json()["clustertemplates"]] == [uuid]
    assert api.get(f"/v1/clustertemplates/{uuid}/").json()["uuid"] == uuid
    patched = api.patch(f"/v1/clustertemplates/{uuid}/", json=[{"op": "replace", "path": "/name", "value": "n"}])
    assert patched.status_code == 200, patched.text
    assert api.delete(f"/v1/clustertemplates/{uuid}/").status_code == 204


# -- health check and OpenAPI ------------------------------------------------------------------


def test_healthcheck(api: Api) -> None:
    response = raw(api, "GET", "/healthcheck", headers=microversion("container-infra 1.99"))
    assert response.status_code == 200
    assert response.text == "OK"
    assert_no_version_headers(response)


def test_openapi_document(api: Api) -> None:
    response = raw(api, "GET", "/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in (
        "/",
        "/v1",
        "/healthcheck",
        "/v1/clustertemplates",
        "/v1/clustertemplates/detail",
        "/v1/clustertemplates/{ident}",
        "/v1/baymodels",
    ):
        assert path in paths, path
    assert set(paths["/v1/clustertemplates"]) >= {"get", "post"}
    assert set(paths["/v1/clustertemplates/{ident}"]) >= {"get", "patch", "delete"}
    schema = paths["/v1/clustertemplates"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["coe", "image_id"]
    assert "links" not in schema["properties"]


# -- responses ---------------------------------------------------------------------------------


def test_json_responses_and_an_empty_204(api: Api) -> None:
    created = api.post("/v1/clustertemplates", json=TEMPLATE)
    assert created.headers["Content-Type"] == "application/json"
    deleted = api.delete(f"/v1/clustertemplates/{created.json()['uuid']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert "Content-Type" not in deleted.headers
