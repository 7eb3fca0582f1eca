"""Container on the wire (the bay-era /v1/containers of Magnum 1.x): request fields and the
summary and full representations."""

from __future__ import annotations

from typing import Any

from jeroboam.api.deps import isoformat, links
from jeroboam.api.schemas.fields import Field, check_value
from jeroboam.domain.containers import STATUSES, memory_bytes
from jeroboam.errors import InvalidFieldError
from jeroboam.services.containers import ContainerView

MEMORY_PATTERN = "^[0-9]+[bkmgBKMG]?$"

FIELDS: dict[str, Field] = {
    "uuid": Field("uuid", description="Ignored: the server assigns the uuid."),
    "name": Field("string", min_length=1, max_length=255),
    "image": Field("string", mandatory=True, min_length=1, max_length=255, description="The image to run."),
    "bay_uuid": Field("string", mandatory=True, description="Uuid (or name) of a swarm bay of the project."),
    "command": Field("string", max_length=255, description="Run instead of the image's command (shell words)."),
    "memory": Field("string", max_length=255, pattern=MEMORY_PATTERN, description="Memory limit, e.g. 512m."),
    "environment": Field("dict", description="Environment variables (string to string)."),
    "status": Field("string", enum=STATUSES, description="Ignored: set by the server."),
    "links": Field("any", readonly=True),
    "created_at": Field("string", readonly=True),
    "updated_at": Field("string", readonly=True),
}

# Stored fields a PATCH may change. The others describe the real container, which was made from
# them: changing the record would not change it (create a new container instead).
PATCHABLE = ("name",)
FIXED = ("image", "command", "memory", "environment", "bay_uuid")
INTERNAL = ("/status", "/status_reason", "/host")
NON_REMOVABLE = ("/bay_uuid", "/image")

SUMMARY = ("uuid", "name", "bay_uuid", "image", "command", "status", "memory", "environment", "links")


def check_field(name: str, value: Any) -> Any:
    value = check_value(name, FIELDS[name], value)
    if name == "environment":
        for key, item in value.items():
            if not isinstance(item, str):
                raise InvalidFieldError(
                    name, value, f"Wrong type. Expected '<class 'str'>', got '<class '{type(item).__name__}'>'"
                )
            if not key or "=" in key:
                raise InvalidFieldError(name, value, f"'{key}' is not a valid environment variable name.")
    if name == "memory" and memory_bytes(value) == 0:
        raise InvalidFieldError(name, value, "Memory must be more than zero.")
    return value


def check_body(values: dict[str, Any]) -> dict[str, Any]:
    for name in ("environment", "memory"):
        if name in values:
            values[name] = check_field(name, values[name])
    return values


def render(view: ContainerView, base: str, *, detail: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": view.uuid,
        "name": view.name,
        "bay_uuid": view.bay_uuid,
        "image": view.image,
        "command": view.command,
        "status": view.status,
        "memory": view.memory,
        "environment": dict(view.environment),
        "links": links(base, "containers", view.uuid),
        "status_reason": view.status_reason or None,
        "host": view.host,
        "created_at": isoformat(view.created_at),
        "updated_at": isoformat(view.updated_at),
    }
    if not detail:
        return {key: body[key] for key in SUMMARY}
    return body
