"""Magnum's JSON-patch dialect (reference §2.5) applied to a resource's wire representation."""

from __future__ import annotations

import ast
import copy
import json
import re
from collections.abc import Collection
from typing import Any

from jeroboam.errors import InvalidFieldError, InvalidInputError, PatchError

_PATH = re.compile(r"^(/[\w-]+)+$")
ALWAYS_INTERNAL = frozenset({"/created_at", "/id", "/links", "/updated_at", "/uuid", "/project_id", "/user_id"})
# Attributes whose replacement value arrives as a string holding a Python literal.
LITERAL_VALUED = frozenset({"labels", "health_status_reason", "node_labels", "node_taints"})


def parse_patch(body: object) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise InvalidFieldError("patch", body, f"Value not a valid list: {body}")
    operations: list[dict[str, Any]] = []
    for item in body:
        if not isinstance(item, dict):
            raise InvalidFieldError("patch", item, f"Value not a valid dict: {item}")
        unknown = set(item) - {"op", "path", "value"}
        if unknown:
            raise InvalidInputError(f"Unknown attribute for argument patch: {', '.join(sorted(unknown))}")
        op, path = item.get("op"), item.get("path")
        if op not in ("add", "replace", "remove"):
            raise InvalidFieldError("op", op, "Value should be one of: add, replace, remove")
        if not isinstance(path, str) or not _PATH.match(path):
            raise InvalidFieldError("path", path, "Value should match the pattern ^(/[\\w-]+)+$")
        if op in ("add", "replace"):
            if "value" not in item or item["value"] is None:
                raise InvalidInputError("'add' and 'replace' operations needs value")
            value = item["value"]
            if isinstance(value, (dict | list, float)):
                raise InvalidFieldError("value", value, "Value should be a string or an integer")
        operations.append(item)
    return operations


def apply_patch(
    document: dict[str, Any],
    operations: list[dict[str, Any]],
    *,
    internal: Collection[str] = (),
    mandatory: Collection[str] = (),
) -> dict[str, Any]:
    """The document after the operations; the input is not modified."""
    result = copy.deepcopy(document)
    for operation in operations:
        op, path = operation["op"], operation["path"]
        if path in ALWAYS_INTERNAL or path in internal:
            raise InvalidInputError(f"'{path}' is an internal attribute and can not be updated")
        if op == "remove" and path in mandatory:
            raise InvalidInputError(f"'{path}' is a mandatory attribute and can not be removed")
        parts = path.strip("/").split("/")
        try:
            _apply_one(result, op, parts, operation.get("value"))
        except PatchError:
            raise
        except (KeyError, IndexError, TypeError, ValueError, SyntaxError) as exc:
            raise PatchError(f"Couldn't apply patch '{json.dumps(operation)}'. Reason: {exc}") from exc
    return result


def _apply_one(doc: dict[str, Any], op: str, parts: list[str], value: Any) -> None:
    top = parts[0]
    if len(parts) == 1:
        if op == "add":
            if top not in doc:
                raise InvalidInputError(f"Adding a new attribute /{top} to the root of the resource is not allowed.")
            if doc[top] is not None:
                raise InvalidInputError(f"The attribute /{top} has existed, please use 'replace' operation instead.")
        if op in ("add", "replace"):
            if top not in doc:
                raise KeyError(f"can't replace a non-existent object '{top}'")
            if top in LITERAL_VALUED and isinstance(value, str):
                value = ast.literal_eval(value)
            doc[top] = value
        else:
            if top not in doc:
                raise KeyError(f"can't remove a non-existent object '{top}'")
            doc[top] = None
        return
    container: Any = doc
    for part in parts[:-1]:
        container = container[part] if isinstance(container, dict) else container[int(part)]
    leaf = parts[-1]
    if isinstance(container, dict):
        if op == "remove":
            del container[leaf]
        elif op == "replace" and leaf not in container:
            raise KeyError(f"can't replace a non-existent object '{leaf}'")
        else:
            container[leaf] = value
    elif isinstance(container, list):
        if op == "remove":
            del container[int(leaf)]
        elif op == "replace":
            container[int(leaf)] = value
        else:
            container.insert(len(container) if leaf == "-" else int(leaf), value)
    else:
        raise TypeError(f"cannot address '{leaf}' inside a {type(container).__name__}")
