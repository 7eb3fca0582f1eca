"""What every command does first: settings, logging, a clear message on bad configuration."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from jeroboam.config import ConfigFileError, Settings, load_settings


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def settings_from(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **{k: v for k, v in overrides.items() if v is not None})
    except ConfigFileError as exc:
        fail(str(exc))
    except ValidationError as exc:
        problems = "; ".join(
            (f"{'.'.join(str(p) for p in e['loc'])}: " if e["loc"] else "") + e["msg"] for e in exc.errors()
        )
        fail(f"invalid configuration: {problems}")


def setup_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
