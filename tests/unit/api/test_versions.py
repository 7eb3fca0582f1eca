"""Microversion negotiation, the version-error bodies and path normalisation (reference §1.2, §1.3)."""

from __future__ import annotations

import json

import pytest

from jeroboam.api.errors import error_body, routing_error_body, unsupported_version_body
from jeroboam.api.middleware import normalise_path
from jeroboam.api.versions import VersionHeaderError, parse_version_header
from jeroboam.domain.versions import MAX_VERSION, MIN_VERSION, SERVICE_ALIASES, SERVICE_TYPE, Version
from tests.support.wire_samples import sample

# -- the supported range -----------------------------------------------------------------------


def test_range_is_1_1_to_1_14() -> None:
    assert str(MIN_VERSION) == "1.1"
    assert str(MAX_VERSION) == "1.14"
    assert SERVICE_TYPE == "container-infrastructure-management"
    assert {"container-infrastructure-management", "container-infrastructure", "container-infra"} == SERVICE_ALIASES


def test_versions_compare_numerically_not_as_text() -> None:
    assert Version.parse("1.9") < Version.parse("1.10") < Version.parse("1.14")
    assert Version.parse("1.14") == Version(1, 14)
    assert str(Version.parse("1.10")) == "1.10"


# -- parse_version_header ----------------------------------------------------------------------


def test_absent_header_is_1_1() -> None:
    assert parse_version_header(None) == Version(1, 1)


@pytest.mark.parametrize("service", sorted(SERVICE_ALIASES))
def test_every_service_alias_is_accepted(service: str) -> None:
    assert parse_version_header(f"{service} 1.7") == Version(1, 7)


@pytest.mark.parametrize("latest", ["latest", "LATEST", "Latest"])
def test_latest_is_the_maximum_in_any_case(latest: str) -> None:
    assert parse_version_header(f"container-infra {latest}") == MAX_VERSION


@pytest.mark.parametrize("text", ["1.1", "1.2", "1.9", "1.10", "1.13", "1.14"])
def test_each_supported_version(text: str) -> None:
    assert str(parse_version_header(f"container-infra {text}")) == text


def test_surrounding_whitespace_is_tolerated() -> None:
    assert parse_version_header("  container-infra   1.5 ") == Version(1, 5)


@pytest.mark.parametrize(
    "value",
    ["bogus 1.2", "1.2", "container-infra", "container-infra 1.2 extra", "", "compute 1.2"],
)
def test_bad_service_or_token_count(value: str) -> None:
    with pytest.raises(VersionHeaderError) as caught:
        parse_version_header(value)
    assert caught.value.detail == "Invalid service type for OpenStack-API-Version header"
    assert caught.value.requested is None


@pytest.mark.parametrize("text", ["1", "1.x", "x.1", "1.2.3", "v1.2", "1.", ".1", "1,2", "-1.2"])
def test_malformed_version(text: str) -> None:
    with pytest.raises(VersionHeaderError) as caught:
        parse_version_header(f"container-infra {text}")
    assert caught.value.detail == "Invalid value for OpenStack-API-Version header"
    assert caught.value.requested is None


@pytest.mark.parametrize("text", ["1.99", "1.15", "1.0", "2.0", "2.1", "0.9"])
def test_out_of_range_versions_carry_what_was_requested(text: str) -> None:
    with pytest.raises(VersionHeaderError) as caught:
        parse_version_header(f"container-infrastructure-management {text}")
    assert caught.value.requested == Version.parse(text)


# -- error bodies of the edge ------------------------------------------------------------------


def test_unsupported_version_body_without_accept_json_matches_sample() -> None:
    expected = sample("GET /v1/clusters bad microversion 1.99")["body"]
    assert json.loads(unsupported_version_body(Version(1, 99), accept_json=False)) == expected


def test_unsupported_version_body_with_accept_json_matches_sample() -> None:
    expected = sample("406 unsupported version (Accept json)")["body"]
    assert json.loads(unsupported_version_body(Version(1, 99), accept_json=True)) == expected


def test_unsupported_version_body_names_the_requested_version() -> None:
    body = json.loads(unsupported_version_body(Version(2, 0), accept_json=True))
    assert body["errors"][0]["description"].startswith("Version 2.0 was requested but")


def test_routing_error_bodies_match_samples() -> None:
    assert json.loads(routing_error_body(404)) == sample("404 bogus route")["body"]
    assert json.loads(routing_error_body(405)) == sample("PUT cluster (405?)")["body"]
    malformed = routing_error_body(406, "Invalid value for OpenStack-API-Version header")
    assert json.loads(malformed) == sample("406 malformed version")["body"]


def test_routing_error_body_without_accept_json_is_blank() -> None:
    body = routing_error_body(406, "Invalid service type for OpenStack-API-Version header", accept_json=False)
    assert json.loads(body) == sample("GET /v1/clusters bad service")["body"]
    assert json.loads(routing_error_body(404, accept_json=False)) == sample("GET bays")["body"]


def test_version_gated_406_body_matches_sample() -> None:
    detail = "Version 1.6 was requested but the requested API resize is not supported for this version."
    assert json.loads(routing_error_body(406, detail)) == sample("resize @1.6 accept json")["body"]


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("POST clustertemplate public non-admin", 403),
        ("POST clustertemplate bad network driver", 400),
        ("PATCH referenced clustertemplate image", 400),
        ("GET other private CT", 404),
        ("GET /v1/clusters?sort_dir=up", 400),
        ("resize text/plain body", 415),
        ("bad json", 400),
    ],
)
def test_client_error_bodies_match_samples(case: str, status: int) -> None:
    expected = sample(case)["body"]
    message = expected["errors"][0]["detail"]
    assert json.loads(error_body(status, message)) == expected


def test_server_errors_say_server() -> None:
    body = json.loads(error_body(500, "Boom. Details follow."))
    assert body["errors"][0] == {
        "request_id": "",
        "code": "server",
        "status": 500,
        "title": "Boom",
        "detail": "Boom. Details follow.",
        "links": [],
    }


# -- path normalisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("/", "/"),
        ("/.json", "/"),
        ("/v1", "/v1"),
        ("/v1/", "/v1"),
        ("/v1.json", "/v1"),
        ("/v1/clustertemplates/", "/v1/clustertemplates"),
        ("/clustertemplates", "/v1/clustertemplates"),
        ("/clustertemplates/abc/", "/v1/clustertemplates/abc"),
        ("/clusters/x/nodegroups/", "/v1/clusters/x/nodegroups"),
        ("/healthcheck", "/healthcheck"),
        ("/v1/openapi.json", "/v1/openapi.json"),
    ],
)
def test_normalise_path(raw: str, normalised: str) -> None:
    assert normalise_path(raw) == normalised
