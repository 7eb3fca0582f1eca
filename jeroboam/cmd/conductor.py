"""``jeroboam-conductor``: reconcile clusters; run any number of them against one database."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from jeroboam.cmd.arguments import add_config_argument
from jeroboam.cmd.configuration import fail, settings_from, setup_logging
from jeroboam.cmd.preflight import check_schema, check_secrets, secrets_keyring, warn_about_drivers
from jeroboam.conductor.worker import Conductor, WakeSource
from jeroboam.db.session import Database
from jeroboam.drivers.registry import DriverRegistry
from jeroboam.observability.metrics import serve as metrics_listener
from jeroboam.rpc.amqp import AmqpWakeSource, broker_notifier
from jeroboam.rpc.wakeup import InProcessWaker
from jeroboam.services.metrics import database_snapshot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jeroboam-conductor", description="Jeroboam conductor")
    parser.add_argument("--host", help="name reported in mservices (default: [service] host)")
    add_config_argument(parser)
    args = parser.parse_args(argv)
    settings = settings_from(args.config, service={"host": args.host} if args.host else None)
    setup_logging(settings)
    db = Database.from_url(settings.database_url, pool_size=settings.database.pool_size, limits=settings.database)
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
    metrics = settings.metrics
    if metrics.conductor_port:
        try:
            metrics_listener(metrics.conductor_address, metrics.conductor_port, lambda: database_snapshot(db))
        except OSError as exc:
            fail(f"cannot serve metrics on {metrics.conductor_address}:{metrics.conductor_port}: {exc.strerror}")
    conductor.start()
    stop.wait()
    conductor.stop()
    if isinstance(wakeups, AmqpWakeSource):
        wakeups.stop()
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
