"""Federation on the wire (reference §3.9): request fields and the summary and full representations."""

from __future__ import annotations

from typing import Any

from jeroboam.api.deps import isoformat, links
from jeroboam.api.schemas.fields import Field, check_value
from jeroboam.errors import InvalidFieldError
from jeroboam.services.federations import STATUSES
from jeroboam.services.records import FederationFields

NAME_PATTERN = "^[a-zA-Z][a-zA-Z0-9_.-]*$"

FIELDS: dict[str, Field] = {
    "uuid": Field("uuid", description="Ignored: the server assigns the uuid."),
    "name": Field("string", min_length=1, max_length=242, pattern=NAME_PATTERN, description="Generated when absent."),
    "hostcluster_id": Field("string", description="Required: uuid or name of a cluster of the project."),
    "member_ids": Field("list", description="Uuids or names of the member clusters."),
    "status": Field("string", enum=STATUSES, description="Ignored: set by the server."),
    "status_reason": Field("string", description="Ignored: set by the server."),
    "properties": Field("dict", description="Required; must contain 'dns-zone'. String values."),
    "links": Field("any", readonly=True),
    "project_id": Field("string", readonly=True),
    "created_at": Field("string", readonly=True),
    "updated_at": Field("string", readonly=True),
}

# Attributes a PATCH may change; status and status_reason belong to the server.
PATCHABLE = ("name", "hostcluster_id", "member_ids", "properties")
INTERNAL = ("/status", "/status_reason")
NON_REMOVABLE = ("/hostcluster_id",)

SUMMARY = ("uuid", "name", "hostcluster_id", "member_ids", "status", "properties", "links")


def _wrong_item_type(name: str, value: object, item: object) -> InvalidFieldError:
    return InvalidFieldError(
        name, value, f"Wrong type. Expected '<class 'str'>', got '<class '{type(item).__name__}'>'"
    )


def check_field(name: str, value: Any) -> Any:
    """One non-null attribute, checked as the body's and the patched document's are."""
    value = check_value(name, FIELDS[name], value)
    if name == "member_ids":
        for item in value:
            if not isinstance(item, str):
                raise _wrong_item_type(name, value, item)
    elif name == "properties":
        for key, item in value.items():
            if not isinstance(item, str):
                raise _wrong_item_type(name, value, item)
            if not isinstance(key, str):  # pragma: no cover - JSON keys are always strings
                raise _wrong_item_type(name, value, key)
    return value


def check_body(values: dict[str, Any]) -> dict[str, Any]:
    """Element types of the list and map attributes of a validated body."""
    for name in ("member_ids", "properties"):
        if name in values:
            values[name] = check_field(name, values[name])
    return values


def render(federation: FederationFields, base: str, *, detail: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": federation.uuid,
        "name": federation.name,
        "hostcluster_id": federation.hostcluster_id,
        "member_ids": list(federation.member_ids or []),
        "status": federation.status,
        "status_reason": federation.status_reason,
        "properties": dict(federation.properties or {}),
        "links": links(base, "federations", federation.uuid),
        "project_id": federation.project_id,
        "created_at": isoformat(federation.created_at),
        "updated_at": isoformat(federation.updated_at),
    }
    if not detail:
        return {key: body[key] for key in SUMMARY}
    return body
