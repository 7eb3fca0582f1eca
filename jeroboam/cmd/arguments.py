"""Command-line arguments the commands share."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML configuration file")


def add_workers_argument(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--workers", type=int, help=help)


def check_workers_argument(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")


def api_flags(args: argparse.Namespace) -> dict[str, Any] | None:
    """``--host``, ``--port`` and ``--workers`` as ``[api]`` overrides: flags win over the file and
    the environment, and are validated with them when the settings are built (never set after)."""
    given = {name: getattr(args, name) for name in ("host", "port", "workers") if getattr(args, name, None)}
    return given or None
