"""Federation rules that need no database: properties and the wire checks of list/map attributes."""

from __future__ import annotations

from typing import Any

import pytest

from jeroboam.api.schemas.federations import check_field
from jeroboam.errors import InvalidInputError
from jeroboam.services.federations import STATUSES, check_properties


def test_statuses_are_magnums() -> None:
    assert STATUSES == (
        "CREATE_IN_PROGRESS",
        "CREATE_FAILED",
        "CREATE_COMPLETE",
        "UPDATE_IN_PROGRESS",
        "UPDATE_FAILED",
        "UPDATE_COMPLETE",
        "DELETE_IN_PROGRESS",
        "DELETE_FAILED",
        "DELETE_COMPLETE",
    )


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        (None, "Please specify a `properties` dict for the federation."),
        ({}, "No DNS zone specified. Please specify a `dns-zone`."),
        ({"dns-zone": None}, "No DNS zone specified. Please specify a `dns-zone`."),
    ],
)
def test_properties_need_a_dns_zone(properties: dict[str, Any] | None, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_properties(properties)
    assert caught.value.message == message


def test_properties_with_a_dns_zone_pass() -> None:
    check_properties({"dns-zone": "example.com."})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("member_ids", "not-a-list"),
        ("member_ids", [1]),
        ("properties", ["dns-zone"]),
        ("properties", {"dns-zone": ["a"]}),
    ],
)
def test_wrong_element_types(name: str, value: Any) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_field(name, value)
    assert caught.value.message.startswith(f"Invalid input for field/attribute {name}.")


def test_good_values_pass_through() -> None:
    assert check_field("member_ids", ["a", "b"]) == ["a", "b"]
    assert check_field("properties", {"dns-zone": "x."}) == {"dns-zone": "x."}
