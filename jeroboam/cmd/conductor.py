"""``jeroboam-conductor``: reconcile clusters; run any number of them against one database."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from jeroboam.cmd.common import (
    add_config_argument,
    broker_notifier,
    check_schema,
    check_secrets,
    secrets_keyring,
    settings_from,
    setup_logging,
    warn_about_drivers,
)
from jeroboam.conductor.worker import Conductor, WakeSource
from jeroboam.db.session import Database
from jeroboam.drivers.registry import DriverRegistry
from jeroboam.rpc.amqp import AmqpWakeSource
from jeroboam.rpc.wakeup import InProcessWaker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jeroboam-conductor", description="Jeroboam conductor")
    parser.add_argument("--host", help="name reported in mservices (default: [service] host)")
    add_config_argument(parser)
    args = parser.parse_args(argv)
    settings = settings_from(args.config)
    if args.host:
        settings.service.host = args.host
    setup_logging(settings)
    db = Database.from_url(settings.database_url, pool_size=settings.database.pool_size)
    check_schema(db)
    keyring = secrets_keyring(settings)
    check_secrets(db, keyring)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    wakeups: WakeSource
    if settings.transport_url:
        source = AmqpWakeSource(settings.transport_url, settings.service.host)
        source.start()
        wakeups = source
    else:
        wakeups = InProcessWaker()  # nobody wakes it: it polls every conductor.poll_interval
    notifier = broker_notifier(settings, f"jeroboam-conductor.{settings.service.host}")
    drivers = DriverRegistry.from_entry_points(settings)
    warn_about_drivers(drivers)
    conductor = Conductor(db, drivers, settings, notifier=notifier, wakeups=wakeups, keyring=keyring)
    conductor.start()
    stop.wait()
    conductor.stop()
    if isinstance(wakeups, AmqpWakeSource):
        wakeups.stop()
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
