"""Command-line arguments the commands share."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML configuration file")


def add_workers_argument(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--workers", type=int, help=help)


def check_workers_argument(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
