"""CatalogLookup's choice of endpoint and its answers, over an in-memory HTTP transport (the real
services are exercised through stand-ins in tests/integration/test_resource_lookup_keystone.py)."""

from __future__ import annotations

import httpx
import pytest

from jeroboam.config import OpenStackServicesSettings
from jeroboam.context import CatalogEndpoint, RequestContext
from jeroboam.errors import AmbiguousNameError, PermissionDeniedError, ServiceUnavailableError
from jeroboam.services.catalog_lookup import CatalogLookup
from jeroboam.services.resource_lookup import FoundResource

CATALOG = (
    CatalogEndpoint("image", "internal", "RegionOne", "http://glance-internal:9292"),
    CatalogEndpoint("image", "public", "RegionTwo", "http://glance-two:9292/"),
    CatalogEndpoint("image", "public", "RegionOne", "http://glance:9292"),
    CatalogEndpoint("network", "public", "RegionOne", "http://neutron:9696/v2.0"),
)


def context(catalog: tuple[CatalogEndpoint, ...] = CATALOG) -> RequestContext:
    return RequestContext(project_id="p", user_id="u", auth_token="tok", service_catalog=catalog)


def lookup(handler: httpx.MockTransport, **settings: object) -> CatalogLookup:
    return CatalogLookup(OpenStackServicesSettings(**settings), transport=handler)


def test_endpoint_by_interface_and_region_with_the_api_version_added() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        assert request.headers["X-Auth-Token"] == "tok"
        return httpx.Response(200, json={"images": [{"id": "i-1", "name": "img"}], "networks": []})

    transport = httpx.MockTransport(answer)
    assert lookup(transport, region_name="RegionOne").find(context(), "image", "img") == FoundResource("i-1", "img")
    assert lookup(transport, region_name="RegionTwo").find(context(), "image", "img") is not None
    lookup(transport).find(context(), "network", "net")
    assert seen == [
        "http://glance:9292/v2/images?name=img",
        "http://glance-two:9292/v2/images?name=img",
        "http://neutron:9696/v2.0/networks?name=net",
    ]


def test_nothing_to_ask_without_a_catalog_entry_or_a_token() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(500))
    assert not lookup(transport).offers(context(), "flavor")  # no compute endpoint
    assert not lookup(transport, interface="admin").offers(context(), "image")
    no_token = RequestContext(project_id="p", user_id="u", service_catalog=CATALOG)
    assert not lookup(transport).offers(no_token, "image")
    assert lookup(transport).offers(context(), "subnet")


def test_two_resources_of_one_name_are_ambiguous() -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, json={"images": [{"id": "a", "name": "x"}, {"id": "b", "name": "x"}]})
    )
    with pytest.raises(AmbiguousNameError, match="Multiple images exist with same name x"):
        lookup(transport).find(context(), "image", "x")


@pytest.mark.parametrize(
    ("status", "error", "text"),
    [
        (403, PermissionDeniedError, "The image service (Glance) refused the request's token (HTTP 403)."),
        (500, ServiceUnavailableError, "The image service (Glance) is unavailable (HTTP 500)."),
        (300, ServiceUnavailableError, "The image service (Glance) is unavailable (HTTP 300)."),
    ],
)
def test_service_errors_name_the_service(status: int, error: type[Exception], text: str) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json={}))
    with pytest.raises(error) as raised:
        lookup(transport).find(context(), "image", "x")
    assert str(raised.value) == text


def test_timeouts_and_unreadable_answers_are_503() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ServiceUnavailableError, match=r"did not answer within 2 s"):
        lookup(httpx.MockTransport(slow), timeout=2).find(context(), "image", "x")
    garbage = httpx.MockTransport(lambda request: httpx.Response(200, content=b"<html>"))
    with pytest.raises(ServiceUnavailableError, match="answered unreadably"):
        lookup(garbage).find(context(), "image", "x")


def test_found_answers_are_cached_per_project_until_the_ttl_missing_ones_never() -> None:
    now = [0.0]
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.params["name"])
        found = [{"id": "i-1", "name": "img"}] if request.url.params["name"] == "img" else []
        return httpx.Response(200, json={"images": found})

    cached = CatalogLookup(
        OpenStackServicesSettings(cache_ttl=60), transport=httpx.MockTransport(answer), clock=lambda: now[0]
    )
    for _ in range(2):
        assert cached.find(context(), "image", "img") is not None
        assert cached.find(context(), "image", "gone") is None
    other_project = RequestContext(project_id="q", user_id="u", auth_token="tok", service_catalog=CATALOG)
    cached.find(other_project, "image", "img")
    now[0] = 61.0
    cached.find(context(), "image", "img")
    assert calls == ["img", "gone", "gone", "img", "img"]
