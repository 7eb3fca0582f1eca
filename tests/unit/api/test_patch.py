"""Magnum's JSON-patch dialect (reference §2.5): parsing and applying, with Magnum's messages."""

from __future__ import annotations

from typing import Any

import pytest

from jeroboam.api.patch import ALWAYS_INTERNAL, apply_patch, parse_patch
from jeroboam.errors import InvalidFieldError, InvalidInputError, PatchError


def doc() -> dict[str, Any]:
    return {
        "uuid": "6a4c8b9e-0000-4000-8000-000000000001",
        "name": "t1",
        "coe": "kubernetes",
        "image_id": "fedora-coreos",
        "flavor_id": None,
        "labels": {"a": "1", "b": "2"},
        "tags": None,
        "public": False,
        "node_taints": [{"key": "k", "effect": "NoSchedule"}],
        "project_id": "alpha",
    }


def message(exc: pytest.ExceptionInfo[Exception]) -> str:
    assert isinstance(exc.value, InvalidInputError)
    return exc.value.message


# -- parse_patch -------------------------------------------------------------------------------


def test_a_list_of_operations_is_returned_as_given() -> None:
    ops = [
        {"op": "replace", "path": "/name", "value": "x"},
        {"op": "add", "path": "/labels/new", "value": 3},
        {"op": "remove", "path": "/labels/a"},
    ]
    assert parse_patch(ops) == ops


def test_a_bare_object_is_not_a_list() -> None:
    with pytest.raises(InvalidFieldError) as caught:
        parse_patch({"op": "replace"})
    assert message(caught) == (
        "Invalid input for field/attribute patch. Value: '{'op': 'replace'}'. Value not a valid list: {'op': 'replace'}"
    )


@pytest.mark.parametrize("body", [None, "replace", 3])
def test_other_non_lists_are_rejected(body: object) -> None:
    with pytest.raises(InvalidFieldError, match="Value not a valid list"):
        parse_patch(body)


@pytest.mark.parametrize("op", ["move", "copy", "test", "REPLACE", None])
def test_only_add_replace_remove(op: object) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        parse_patch([{"op": op, "path": "/name", "value": "x"}])
    assert message(caught) == (
        f"Invalid input for field/attribute op. Value: '{op}'. Value should be one of: add, replace, remove"
    )


@pytest.mark.parametrize("path", ["name", "/", "/labels/a.b", "/labels/a/", "/a b", "", None])
def test_path_must_match_the_pattern(path: object) -> None:
    with pytest.raises(InvalidFieldError, match=r"Value should match the pattern \^\(/\[\\w-\]\+\)\+\$"):
        parse_patch([{"op": "remove", "path": path}])


@pytest.mark.parametrize("path", ["/name", "/labels/some-key_1", "/node_taints/0"])
def test_paths_of_word_characters_and_dashes(path: str) -> None:
    assert parse_patch([{"op": "remove", "path": path}])


@pytest.mark.parametrize("op", ["add", "replace"])
def test_add_and_replace_need_a_value(op: str) -> None:
    for item in ({"op": op, "path": "/name"}, {"op": op, "path": "/name", "value": None}):
        with pytest.raises(InvalidInputError) as caught:
            parse_patch([item])
        assert message(caught) == "'add' and 'replace' operations needs value"


def test_remove_needs_no_value() -> None:
    assert parse_patch([{"op": "remove", "path": "/flavor_id"}]) == [{"op": "remove", "path": "/flavor_id"}]


@pytest.mark.parametrize("value", ["text", "", 0, 7, True, False])
def test_strings_integers_and_booleans_are_values(value: object) -> None:
    assert parse_patch([{"op": "replace", "path": "/name", "value": value}])[0]["value"] == value


@pytest.mark.parametrize("value", [{"a": "b"}, ["a"], 1.5])
def test_objects_arrays_and_floats_are_not_values(value: object) -> None:
    with pytest.raises(InvalidFieldError, match="Invalid input for field/attribute value"):
        parse_patch([{"op": "replace", "path": "/labels", "value": value}])


def test_unknown_keys_in_an_operation() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_patch([{"op": "replace", "path": "/name", "value": "x", "from": "/a"}])
    assert message(caught) == "Unknown attribute for argument patch: from"


def test_an_operation_must_be_an_object() -> None:
    with pytest.raises(InvalidFieldError, match="Value not a valid dict"):
        parse_patch(["/name"])


# -- apply_patch -------------------------------------------------------------------------------


def test_the_input_document_is_not_modified() -> None:
    original = doc()
    apply_patch(original, [{"op": "replace", "path": "/name", "value": "x"}, {"op": "remove", "path": "/labels/a"}])
    assert original == doc()


def test_replace_a_root_attribute() -> None:
    assert apply_patch(doc(), [{"op": "replace", "path": "/name", "value": "x"}])["name"] == "x"


def test_replace_an_attribute_that_is_null() -> None:
    assert apply_patch(doc(), [{"op": "replace", "path": "/flavor_id", "value": "m1.small"}])["flavor_id"] == "m1.small"


def test_add_at_the_root_fills_a_null_attribute() -> None:
    assert apply_patch(doc(), [{"op": "add", "path": "/tags", "value": "a,b"}])["tags"] == "a,b"


def test_add_at_the_root_of_an_attribute_that_has_a_value() -> None:
    with pytest.raises(InvalidInputError) as caught:
        apply_patch(doc(), [{"op": "add", "path": "/name", "value": "x"}])
    assert message(caught) == "The attribute /name has existed, please use 'replace' operation instead."


def test_add_a_new_root_attribute() -> None:
    with pytest.raises(InvalidInputError) as caught:
        apply_patch(doc(), [{"op": "add", "path": "/foo", "value": "x"}])
    assert message(caught) == "Adding a new attribute /foo to the root of the resource is not allowed."


def test_remove_a_root_attribute_makes_it_null() -> None:
    result = apply_patch(doc(), [{"op": "remove", "path": "/name"}])
    assert "name" in result
    assert result["name"] is None


def test_add_replace_and_remove_a_label() -> None:
    result = apply_patch(
        doc(),
        [
            {"op": "add", "path": "/labels/c", "value": "3"},
            {"op": "replace", "path": "/labels/a", "value": "10"},
            {"op": "remove", "path": "/labels/b"},
        ],
    )
    assert result["labels"] == {"a": "10", "c": "3"}


def test_add_overwrites_an_existing_label() -> None:
    assert apply_patch(doc(), [{"op": "add", "path": "/labels/a", "value": "9"}])["labels"]["a"] == "9"


@pytest.mark.parametrize("path", sorted(ALWAYS_INTERNAL))
@pytest.mark.parametrize("op", ["add", "replace", "remove"])
def test_always_internal_attributes(path: str, op: str) -> None:
    operation: dict[str, Any] = {"op": op, "path": path}
    if op != "remove":
        operation["value"] = "x"
    with pytest.raises(InvalidInputError) as caught:
        apply_patch(doc(), [operation])
    assert message(caught) == f"'{path}' is an internal attribute and can not be updated"


def test_internal_attributes_of_the_resource() -> None:
    with pytest.raises(InvalidInputError) as caught:
        apply_patch(doc(), [{"op": "replace", "path": "/public", "value": True}], internal=("/public",))
    assert message(caught) == "'/public' is an internal attribute and can not be updated"


def test_a_mandatory_attribute_cannot_be_removed() -> None:
    with pytest.raises(InvalidInputError) as caught:
        apply_patch(doc(), [{"op": "remove", "path": "/coe"}], mandatory=("/coe", "/image_id"))
    assert message(caught) == "'/coe' is a mandatory attribute and can not be removed"


def test_a_mandatory_attribute_can_be_replaced() -> None:
    result = apply_patch(doc(), [{"op": "replace", "path": "/coe", "value": "swarm"}], mandatory=("/coe",))
    assert result["coe"] == "swarm"


@pytest.mark.parametrize("path", ["/labels", "/node_taints"])
def test_replace_of_literal_valued_attributes_parses_a_python_literal(path: str) -> None:
    literal = "{'x': 'y', 'n': 1}" if path == "/labels" else "[{'key': 'k2', 'effect': 'NoExecute'}]"
    result = apply_patch(doc(), [{"op": "replace", "path": path, "value": literal}])
    assert result[path[1:]] == ({"x": "y", "n": 1} if path == "/labels" else [{"key": "k2", "effect": "NoExecute"}])


def test_replace_of_an_ordinary_attribute_keeps_the_string() -> None:
    assert apply_patch(doc(), [{"op": "replace", "path": "/name", "value": "{'a': 1}"}])["name"] == "{'a': 1}"


def test_a_literal_that_does_not_parse() -> None:
    operation = {"op": "replace", "path": "/labels", "value": "{'a': "}
    with pytest.raises(PatchError) as caught:
        apply_patch(doc(), [operation])
    assert message(caught).startswith(
        'Couldn\'t apply patch \'{"op": "replace", "path": "/labels", "value": "{\'a\': "}\'. Reason: '
    )


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "/labels/missing", "value": "x"},
        {"op": "remove", "path": "/labels/missing"},
        {"op": "remove", "path": "/missing"},
        {"op": "replace", "path": "/missing", "value": "x"},
        {"op": "replace", "path": "/name/deeper", "value": "x"},
        {"op": "remove", "path": "/node_taints/5"},
    ],
)
def test_pointer_failures_are_patch_errors(operation: dict[str, Any]) -> None:
    with pytest.raises(PatchError) as caught:
        apply_patch(doc(), [operation])
    assert message(caught).startswith("Couldn't apply patch '")
    assert ". Reason: " in message(caught)


def test_list_elements_by_index() -> None:
    result = apply_patch(
        doc(),
        [
            {"op": "add", "path": "/node_taints/0", "value": "first"},
            {"op": "replace", "path": "/node_taints/1", "value": "second"},
        ],
    )
    assert result["node_taints"] == ["first", "second"]
    assert apply_patch(doc(), [{"op": "remove", "path": "/node_taints/0"}])["node_taints"] == []


def test_operations_apply_in_order() -> None:
    result = apply_patch(
        doc(),
        [
            {"op": "replace", "path": "/name", "value": "one"},
            {"op": "replace", "path": "/name", "value": "two"},
            {"op": "remove", "path": "/tags"},
            {"op": "add", "path": "/tags", "value": "t"},
        ],
    )
    assert (result["name"], result["tags"]) == ("two", "t")


def test_the_first_failing_operation_stops_the_patch() -> None:
    with pytest.raises(InvalidInputError, match="'/uuid' is an internal attribute"):
        apply_patch(
            doc(),
            [{"op": "replace", "path": "/name", "value": "x"}, {"op": "replace", "path": "/uuid", "value": "y"}],
        )
