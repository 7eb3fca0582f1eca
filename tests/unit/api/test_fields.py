"""Declarative request fields: Magnum-worded validation (reference §2.1) and their JSON Schema."""

from __future__ import annotations

from typing import Any

import pytest

from jeroboam.api.schemas import cluster_templates as ct
from jeroboam.api.schemas.fields import (
    Field,
    body_schema,
    check_value,
    coerce_labels,
    parse_bool,
    validate_body,
)
from jeroboam.errors import InvalidFieldError, InvalidInputError, UnknownAttributeError

FIELDS: dict[str, Field] = {
    "name": Field("string", min_length=1, max_length=255),
    "coe": Field("string", mandatory=True, enum=("kubernetes", "swarm")),
    "port": Field("integer", minimum=1024, maximum=65535),
    "size": Field("integer", minimum=1),
    "flag": Field("boolean"),
    "labels": Field("labels"),
    "uuid": Field("uuid"),
    "keyname": Field("string", pattern="^[a-zA-Z][a-zA-Z0-9_.-]*$"),
    "links": Field("any", readonly=True),
}

ACCEPTED = "'0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"


def message_of(body: object, fields: dict[str, Field] = FIELDS) -> str:
    with pytest.raises(InvalidInputError) as caught:
        validate_body(body, fields, "thing")
    return caught.value.message


# -- booleans (oslo bool_from_string, strict) --------------------------------------------------


@pytest.mark.parametrize("text", ["1", "t", "true", "on", "y", "yes", "TRUE", "Yes", " true "])
def test_true_strings(text: str) -> None:
    assert parse_bool("flag", text) is True


@pytest.mark.parametrize("text", ["0", "f", "false", "off", "n", "no", "False", "NO"])
def test_false_strings(text: str) -> None:
    assert parse_bool("flag", text) is False


@pytest.mark.parametrize("value", [True, False])
def test_json_booleans(value: bool) -> None:
    assert parse_bool("flag", value) is value


@pytest.mark.parametrize(("value", "expected"), [(1, True), (0, False)])
def test_integers_one_and_zero(value: int, expected: bool) -> None:
    assert parse_bool("flag", value) is expected


@pytest.mark.parametrize("value", ["maybe", "", "2", 2, -1])
def test_unrecognized_boolean(value: object) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        parse_bool("flag", value)
    assert caught.value.message == (
        f"Invalid input for field/attribute flag. Value: '{value}'. "
        f"Unrecognized value '{value}', acceptable values are: {ACCEPTED}"
    )


@pytest.mark.parametrize("value", [[True], {"a": 1}, 1.0])
def test_other_types_are_not_booleans(value: object) -> None:
    with pytest.raises(InvalidFieldError, match="Invalid input for field/attribute flag"):
        parse_bool("flag", value)


# -- labels ------------------------------------------------------------------------------------


def test_label_values_are_stringified_like_python() -> None:
    assert coerce_labels("labels", {"s": "x", "i": 4, "t": True, "f": False, "r": 1.5}) == {
        "s": "x",
        "i": "4",
        "t": "True",
        "f": "False",
        "r": "1.5",
    }


@pytest.mark.parametrize("value", [{"a": None}, {"a": [1]}, {"a": {"b": "c"}}])
def test_label_values_must_be_scalars(value: dict[str, Any]) -> None:
    with pytest.raises(InvalidFieldError, match="Invalid input for field/attribute labels"):
        coerce_labels("labels", value)


@pytest.mark.parametrize("value", ["a=b", ["a"], 3])
def test_labels_must_be_an_object(value: object) -> None:
    with pytest.raises(InvalidFieldError, match="Invalid input for field/attribute labels"):
        coerce_labels("labels", value)


# -- check_value -------------------------------------------------------------------------------


def test_enum_message() -> None:
    with pytest.raises(InvalidFieldError) as caught:
        check_value("server_type", Field("string", enum=("vm", "bm")), "xx")
    assert caught.value.message == (
        "Invalid input for field/attribute server_type. Value: 'xx'. Value should be one of: vm, bm"
    )


def test_minimum_and_maximum_messages() -> None:
    spec = Field("integer", minimum=1024, maximum=65535)
    with pytest.raises(InvalidFieldError) as low:
        check_value("apiserver_port", spec, 80)
    assert low.value.message == (
        "Invalid input for field/attribute apiserver_port. Value: '80'. Value should be greater or equal to 1024"
    )
    with pytest.raises(InvalidFieldError) as high:
        check_value("apiserver_port", spec, 70000)
    assert high.value.message == (
        "Invalid input for field/attribute apiserver_port. Value: '70000'. Value should be lower or equal to 65535"
    )


def test_bounds_are_inclusive() -> None:
    spec = Field("integer", minimum=1024, maximum=65535)
    assert check_value("p", spec, 1024) == 1024
    assert check_value("p", spec, 65535) == 65535


def test_length_messages() -> None:
    spec = Field("string", min_length=1, max_length=3)
    with pytest.raises(InvalidFieldError) as short:
        check_value("name", spec, "")
    assert short.value.message == (
        "Invalid input for field/attribute name. Value: ''. Value should have a minimum character requirement of 1"
    )
    with pytest.raises(InvalidFieldError) as long:
        check_value("name", spec, "abcd")
    assert long.value.message.endswith("Value should have a maximum character requirement of 3")


def test_pattern_message() -> None:
    with pytest.raises(InvalidFieldError) as caught:
        check_value("keyname", FIELDS["keyname"], "1abc")
    assert caught.value.message == (
        "Invalid input for field/attribute keyname. Value: '1abc'. "
        "Value should match the pattern ^[a-zA-Z][a-zA-Z0-9_.-]*$"
    )


def test_integers_without_a_bound_stay_within_a_sql_integer() -> None:
    with pytest.raises(InvalidFieldError) as caught:
        check_value("size", FIELDS["size"], 2**31)
    assert caught.value.message == (
        f"Invalid input for field/attribute size. Value: '{2**31}'. Value should be lower or equal to {2**31 - 1}"
    )
    assert check_value("size", FIELDS["size"], 2**31 - 1) == 2**31 - 1


def test_integer_strings_are_converted() -> None:
    assert check_value("size", FIELDS["size"], "20") == 20


@pytest.mark.parametrize("value", ["abc", 1.5, [1], {"a": 1}])
def test_integer_wrong_type(value: object) -> None:
    with pytest.raises(InvalidFieldError, match=r"Invalid input for field/attribute size.*Wrong type"):
        check_value("size", FIELDS["size"], value)


@pytest.mark.parametrize("value", [5, True, ["x"], {"a": "b"}])
def test_string_wrong_type(value: object) -> None:
    with pytest.raises(InvalidFieldError, match=r"Invalid input for field/attribute name.*Wrong type"):
        check_value("name", FIELDS["name"], value)


def test_uuid_fields() -> None:
    assert check_value("uuid", FIELDS["uuid"], "6a4c8b9e-0000-4000-8000-000000000001")
    with pytest.raises(InvalidFieldError) as caught:
        check_value("uuid", FIELDS["uuid"], "nope")
    assert (
        caught.value.message
        == "Invalid input for field/attribute uuid. Value: 'nope'. Expected a uuid but received nope."
    )


# -- validate_body -----------------------------------------------------------------------------


def test_a_valid_body_is_normalised_and_nulls_are_dropped() -> None:
    values = validate_body(
        {"coe": "kubernetes", "port": "8080", "flag": "yes", "labels": {"n": 1}, "name": None},
        FIELDS,
        "thing",
    )
    assert values == {"coe": "kubernetes", "port": 8080, "flag": True, "labels": {"n": "1"}}


def test_unknown_attributes_are_named_sorted() -> None:
    assert message_of({"coe": "kubernetes", "zz": 1, "foo": 2}) == "Unknown attribute for argument thing: foo, zz"


def test_unknown_attributes_come_before_other_problems() -> None:
    with pytest.raises(UnknownAttributeError):
        validate_body({"foo": 1}, FIELDS, "thing")


def test_missing_mandatory() -> None:
    assert message_of({}) == "Invalid input for field/attribute coe. Value: 'None'. Mandatory field missing."
    assert message_of({"coe": None}) == "Invalid input for field/attribute coe. Value: 'None'. Mandatory field missing."


def test_read_only_attribute_even_when_null() -> None:
    assert message_of({"coe": "kubernetes", "links": "x"}) == (
        "Invalid input for field/attribute links. Value: 'x'. Cannot set read only field."
    )
    assert message_of({"coe": "kubernetes", "links": None}) == (
        "Invalid input for field/attribute links. Value: 'None'. Cannot set read only field."
    )


def test_read_only_check_can_be_disabled() -> None:
    assert validate_body({"coe": "swarm", "links": []}, FIELDS, "thing", check_readonly=False)["links"] == []


@pytest.mark.parametrize("body", [[1], "x", 3])
def test_the_body_must_be_an_object(body: object) -> None:
    assert message_of(body) == (
        f"Invalid input for field/attribute thing. Value: '{body}'. Value not a valid dict: {body}"
    )


# -- JSON Schema -------------------------------------------------------------------------------


def test_schema_of_fields() -> None:
    assert Field("integer", minimum=1, maximum=9, mandatory=True).json_schema() == {
        "type": "integer",
        "minimum": 1,
        "maximum": 9,
    }
    assert Field("string", max_length=5).json_schema() == {
        "anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]
    }
    assert Field("string", enum=("vm", "bm"), mandatory=True).json_schema() == {"type": "string", "enum": ["vm", "bm"]}
    assert Field("uuid", mandatory=True).json_schema() == {"type": "string", "format": "uuid"}
    assert Field("boolean", readonly=True, mandatory=True).json_schema() == {"type": "boolean", "readOnly": True}


def test_body_schema_leaves_out_read_only_fields() -> None:
    schema = body_schema(FIELDS)
    assert schema["required"] == ["coe"]
    assert "links" not in schema["properties"]
    assert schema["additionalProperties"] is False


# -- the cluster template fields (reference §3.1) ----------------------------------------------

TEMPLATE_KEYS = {
    "uuid", "name", "coe", "image_id", "flavor_id", "master_flavor_id", "dns_nameserver", "keypair_id",
    "external_network_id", "fixed_network", "fixed_subnet", "network_driver", "volume_driver",
    "apiserver_port", "docker_volume_size", "docker_storage_driver", "cluster_distro", "http_proxy",
    "https_proxy", "no_proxy", "registry_enabled", "labels", "tls_disabled", "public", "server_type",
    "insecure_registry", "master_lb_enabled", "floating_ip_enabled", "hidden", "tags", "driver",
    "project_id", "user_id", "created_at", "updated_at", "links",
}  # fmt: skip


def test_template_fields_are_the_36_wire_keys() -> None:
    assert len(TEMPLATE_KEYS) == 36
    assert set(ct.FIELDS) == TEMPLATE_KEYS


def test_template_read_only_and_mandatory_fields() -> None:
    assert {n for n, f in ct.FIELDS.items() if f.readonly} == {
        "links",
        "project_id",
        "user_id",
        "created_at",
        "updated_at",
    }
    assert {n for n, f in ct.FIELDS.items() if f.mandatory} == {"coe", "image_id"}


def test_template_create_defaults() -> None:
    assert ct.CREATE_DEFAULTS == {
        "labels": {},
        "registry_enabled": False,
        "tls_disabled": False,
        "public": False,
        "hidden": False,
        "server_type": "vm",
        "master_lb_enabled": False,
        "floating_ip_enabled": True,
    }


def test_template_field_constraints() -> None:
    body = {"coe": "kubernetes", "image_id": "img"}
    cases = {
        "apiserver_port": (80, "Value should be greater or equal to 1024"),
        "docker_volume_size": (0, "Value should be greater or equal to 1"),
        "server_type": ("xx", "Value should be one of: vm, bm"),
        "image_id": ("", "Value should have a minimum character requirement of 1"),
        "name": ("", "Value should have a minimum character requirement of 1"),
        "flavor_id": ("x" * 256, "Value should have a maximum character requirement of 255"),
        "tags": ("x" * 256, "Value should have a maximum character requirement of 255"),
    }
    for name, (value, reason) in cases.items():
        assert message_of({**body, name: value}, ct.FIELDS) == (
            f"Invalid input for field/attribute {name}. Value: '{value}'. {reason}"
        )


def test_template_tags_is_a_string_that_may_be_empty() -> None:
    assert validate_body({"coe": "kubernetes", "image_id": "i", "tags": ""}, ct.FIELDS, "clustertemplate")["tags"] == ""
