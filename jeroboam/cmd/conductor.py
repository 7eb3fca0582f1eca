"""``jeroboam-conductor``: the conductor process (heartbeat now; reconciliation with the engine)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from jeroboam.cmd.common import add_config_argument, settings_from, setup_logging
from jeroboam.conductor.heartbeat import Heartbeat
from jeroboam.db.session import Database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jeroboam-conductor", description="Jeroboam conductor")
    add_config_argument(parser)
    args = parser.parse_args(argv)
    settings = settings_from(args.config)
    setup_logging(settings)
    db = Database.from_url(settings.database_url, pool_size=settings.database.pool_size)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    heartbeat = Heartbeat(db, settings.service.host, settings.service.periodic_interval_max)
    heartbeat.start()
    stop.wait()
    heartbeat.stop()
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
