"""The configuration reference as a commented TOML file, generated from the settings model."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from jeroboam.config import Settings


def _toml_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return '""'
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def _option(name: str, field: FieldInfo, value: Any) -> list[str]:
    lines = [f"# {field.description or name}"]
    if value is None:
        lines.append(f"# {name} =")
    else:
        lines.append(f"# {name} = {_toml_value(value)}")
    return lines


def config_sample() -> str:
    defaults = Settings.model_construct()
    lines = [
        "# Jeroboam configuration. Every option with its default; uncomment to change.",
        "# Each option can also be set by environment: JEROBOAM_<GROUP>__<OPTION> (e.g. JEROBOAM_API__PORT).",
        "",
    ]
    groups: list[tuple[str, type[BaseModel], BaseModel]] = []
    for name, field in Settings.model_fields.items():
        value = getattr(defaults, name, None)
        if value is None and field.default_factory is not None:
            value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            groups.append((name, type(value), value))
        else:
            if name == "data_dir":
                value = str(value)
            lines += [*_option(name, field, value), ""]
    for group, model, value in groups:
        lines.append(f"[{group}]")
        for name, field in model.model_fields.items():
            lines += _option(name, field, getattr(value, name))
        lines.append("")
    return "\n".join(lines)
