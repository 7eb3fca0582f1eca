"""``jeroboam-api``: the HTTP API alone (scale out behind a load balancer)."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from jeroboam.cmd.common import add_config_argument, settings_from, setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jeroboam-api", description="Jeroboam API server")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--workers", type=int, help="worker processes")
    add_config_argument(parser)
    args = parser.parse_args(argv)
    settings = settings_from(args.config)
    settings.api.host = args.host or settings.api.host
    settings.api.port = args.port or settings.api.port
    settings.api.workers = args.workers or settings.api.workers
    setup_logging(settings)
    if args.config:
        # Worker processes rebuild the settings from the same file and environment.
        import os

        os.environ["JEROBOAM_CONFIG_FILE"] = str(args.config)
    uvicorn.run(
        "jeroboam.cmd.api:app_factory",
        factory=True,
        host=settings.api.host,
        port=settings.api.port,
        workers=settings.api.workers,
        log_level="warning",
        access_log=False,
    )
    return 0


def app_factory() -> object:
    import os
    from pathlib import Path

    from jeroboam.api.app import create_app

    config = os.environ.get("JEROBOAM_CONFIG_FILE")
    return create_app(settings_from(Path(config) if config else None))


if __name__ == "__main__":
    sys.exit(main())
