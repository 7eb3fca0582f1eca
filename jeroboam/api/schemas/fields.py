"""Declarative request fields: one description yields Magnum-worded validation and JSON Schema."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from jeroboam.domain.identifiers import SQL_INT_MAX, SQL_INT_MIN, is_uuid_like
from jeroboam.errors import InvalidFieldError, InvalidInputError, UnknownAttributeError

Kind = Literal["string", "integer", "boolean", "labels", "uuid", "list", "dict", "any"]

TRUE_STRINGS = frozenset({"1", "t", "true", "on", "y", "yes"})
FALSE_STRINGS = frozenset({"0", "f", "false", "off", "n", "no"})
_PY_TYPE = {"string": "str", "integer": "int", "boolean": "bool", "list": "list", "dict": "dict"}


@dataclass(frozen=True)
class Field:
    kind: Kind
    mandatory: bool = False
    readonly: bool = False
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    enum: tuple[str, ...] | None = None
    pattern: str | None = None
    description: str = ""

    @property
    def lowest(self) -> int | None:
        """The smallest accepted value of an integer field: the declared one, else the SQL column's
        (so an out-of-range value is refused as input instead of failing in the database)."""
        if self.minimum is not None or self.kind != "integer":
            return self.minimum
        return SQL_INT_MIN

    @property
    def highest(self) -> int | None:
        if self.maximum is not None or self.kind != "integer":
            return self.maximum
        return SQL_INT_MAX

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any]
        if self.kind == "labels":
            schema = {
                "type": "object",
                "additionalProperties": {"type": ["string", "integer", "boolean", "number"]},
            }
        elif self.kind == "uuid":
            schema = {"type": "string", "format": "uuid"}
        elif self.kind == "any":
            schema = {}
        else:
            schema = {"type": {"dict": "object", "list": "array"}.get(self.kind, self.kind)}
        for key, value in (
            ("minLength", self.min_length),
            ("maxLength", self.max_length),
            ("minimum", self.lowest),
            ("maximum", self.highest),
            ("pattern", self.pattern),
        ):
            if value is not None:
                schema[key] = value
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        if not self.mandatory and schema:
            schema = {"anyOf": [schema, {"type": "null"}]}
        if self.description:
            schema["description"] = self.description
        if self.readonly:
            schema["readOnly"] = True
        return schema


def _wrong_type(name: str, value: object, kind: str) -> InvalidFieldError:
    expected = _PY_TYPE.get(kind, kind)
    return InvalidFieldError(
        name, value, f"Wrong type. Expected '<class '{expected}'>', got '<class '{type(value).__name__}'>'"
    )


def parse_bool(name: str, value: object) -> bool:
    """oslo ``bool_from_string(strict=True)``: JSON booleans, the usual strings, and 1/0 (a JSON-patch
    value for a boolean arrives as an integer)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str | int):
        lowered = str(value).strip().lower()
        if lowered in TRUE_STRINGS:
            return True
        if lowered in FALSE_STRINGS:
            return False
        acceptable = ", ".join(f"'{text}'" for text in sorted(TRUE_STRINGS | FALSE_STRINGS))
        raise InvalidFieldError(name, value, f"Unrecognized value '{value}', acceptable values are: {acceptable}")
    raise _wrong_type(name, value, "boolean")


def coerce_labels(name: str, value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _wrong_type(name, value, "dict")
    labels: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str | int | float | bool) or item is None:
            raise InvalidFieldError(name, dict(value), "Labels must map strings to strings, numbers or booleans.")
        labels[key] = str(item)
    return labels


def check_value(name: str, spec: Field, value: Any) -> Any:
    """Validate and normalise one non-null value."""
    kind = spec.kind
    if kind in ("string", "uuid"):
        if not isinstance(value, str):
            raise _wrong_type(name, value, "string")
        if kind == "uuid" and not is_uuid_like(value):
            raise InvalidFieldError(name, value, f"Expected a uuid but received {value}.")
    elif kind == "integer":
        if isinstance(value, bool) or (isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip())):
            value = int(value)
        elif not isinstance(value, int):
            raise _wrong_type(name, value, "integer")
    elif kind == "boolean":
        value = parse_bool(name, value)
    elif kind == "labels":
        value = coerce_labels(name, value)
    elif kind == "list" and not isinstance(value, list):
        raise _wrong_type(name, value, "list")
    elif kind == "dict" and not isinstance(value, dict):
        raise _wrong_type(name, value, "dict")
    if isinstance(value, str):
        if spec.min_length is not None and len(value) < spec.min_length:
            raise InvalidFieldError(
                name, value, f"Value should have a minimum character requirement of {spec.min_length}"
            )
        if spec.max_length is not None and len(value) > spec.max_length:
            raise InvalidFieldError(
                name, value, f"Value should have a maximum character requirement of {spec.max_length}"
            )
        if spec.pattern is not None and not re.search(spec.pattern, value):
            raise InvalidFieldError(name, value, f"Value should match the pattern {spec.pattern}")
        if spec.enum is not None and value not in spec.enum:
            raise InvalidFieldError(name, value, f"Value should be one of: {', '.join(spec.enum)}")
    if isinstance(value, int) and not isinstance(value, bool):
        if spec.lowest is not None and value < spec.lowest:
            raise InvalidFieldError(name, value, f"Value should be greater or equal to {spec.lowest}")
        if spec.highest is not None and value > spec.highest:
            raise InvalidFieldError(name, value, f"Value should be lower or equal to {spec.highest}")
    return value


def validate_body(
    body: object, fields: Mapping[str, Field], argument: str, *, check_readonly: bool = True
) -> dict[str, Any]:
    """The accepted, normalised values of a request body; null counts as 'not given'."""
    if not isinstance(body, dict):
        raise InvalidInputError(
            f"Invalid input for field/attribute {argument}. Value: '{body}'. Value not a valid dict: {body}"
        )
    unknown = [key for key in body if key not in fields]
    if unknown:
        raise UnknownAttributeError(argument, unknown)
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        value = body.get(name)
        if check_readonly and spec.readonly and name in body:
            raise InvalidFieldError(name, value, "Cannot set read only field.")
        if value is None:
            if spec.mandatory:
                raise InvalidFieldError(name, None, "Mandatory field missing.")
            continue
        values[name] = check_value(name, spec, value)
    return values


def body_schema(fields: Mapping[str, Field]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: spec.json_schema() for name, spec in fields.items() if not spec.readonly},
        "required": [name for name, spec in fields.items() if spec.mandatory],
        "additionalProperties": False,
    }


def openapi_body(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` declaring a required JSON request body (bodies are parsed by hand)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


# A JSON-patch document in Magnum's dialect (see jeroboam/api/patch.py).
PATCH_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "op": {"type": "string", "enum": ["add", "replace", "remove"]},
            "path": {"type": "string", "pattern": "^(/[\\w-]+)+$"},
            "value": {"type": ["string", "integer", "boolean"]},
        },
        "required": ["op", "path"],
    },
}
