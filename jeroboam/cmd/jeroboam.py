"""``jeroboam up``: the all-in-one server (API + conductor, SQLite, local defaults)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable

import uvicorn

from jeroboam.api.app import create_app
from jeroboam.cmd.arguments import add_config_argument, add_workers_argument, api_flags, check_workers_argument
from jeroboam.cmd.conductor_process import ConductorProcess
from jeroboam.cmd.configuration import settings_from, setup_logging
from jeroboam.cmd.preflight import check_secrets, secrets_keyring, warn_about_drivers
from jeroboam.cmd.workers import serve_workers, worker_settings
from jeroboam.conductor.worker import Conductor
from jeroboam.config import DockerDriverSettings, Settings
from jeroboam.db import migrate
from jeroboam.observability.metrics import use_multiprocess
from jeroboam.rpc.amqp import broker_notifier
from jeroboam.rpc.wakeup import MAX_SOCKET_PATH, DatagramWaker, DatagramWakeSource, InProcessWaker
from jeroboam.services.wiring import Services

log = logging.getLogger("jeroboam")

# With API worker processes: the data directory each worker rebuilds its settings with, and the
# conductor's wake-up socket in it.
WORKER_DATA_DIR_ENV = "JEROBOAM_UP_DATA_DIR"
WAKEUP_SOCKET = "wakeup.sock"


def usage_banner(host: str, port: int, data_dir: str, auth: str) -> str:
    endpoint = f"http://{host}:{port}/v1"
    lines = [
        f"Jeroboam is listening on http://{host}:{port} (data in {data_dir}, auth {auth}).",
        f"Open the dashboard at http://{host}:{port}/dashboard/",
        "Try it with the OpenStack client:",
        f"  openstack --os-auth-type none --os-endpoint {endpoint} coe cluster template list",
        f"  openstack --os-auth-type none --os-endpoint {endpoint} coe cluster template create \\",
        "      --coe swarm-mode --image jeroboam-node --external-network public --flavor m1.small demo",
        "Stop it with Ctrl-C (or SIGTERM).",
    ]
    return "\n".join(lines)


def share_single_engine(settings: Settings) -> tuple[Settings, str | None]:
    """The all-in-one lets every project use its one local Docker engine (unless the operator said
    otherwise): the settings validated again with that default, and a message saying so, since nodes
    of different projects then share a kernel. The loaded settings are never changed in place."""
    docker = settings.docker
    if "allow_project_mixing" in docker.model_fields_set or len(docker.engines) != 1:
        return settings, None
    shared = docker.model_copy(update={"allow_project_mixing": True})
    settings = Settings.model_validate({**dict(settings), "docker": DockerDriverSettings.model_validate(dict(shared))})
    engine = docker.engines[0]
    return settings, (
        f"Docker clusters of every project share the engine {engine.name} ({engine.url}), so their nodes share "
        "one kernel: fine for one user, no boundary between tenants. Set [docker] allow_project_mixing = false "
        "to give each project an engine of its own (docs/security.md)."
    )


def conductor_settings(settings: Settings) -> Settings:
    """The conductor process's settings from the loaded ones, as ``up`` changes them."""
    return share_single_engine(settings)[0]


def up(args: argparse.Namespace) -> int:
    settings = settings_from(args.config, data_dir=args.data_dir, api=api_flags(args))
    setup_logging(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    wake_path = settings.data_dir / WAKEUP_SOCKET
    socket_fits = len(os.fsencode(wake_path)) <= MAX_SOCKET_PATH
    if settings.api.workers > 1 and not socket_fits:
        log.error(
            "the wake-up socket path %s is too long: choose a shorter --data-dir, or run one API worker", wake_path
        )
        return 2
    # The conductor beside one API process: in a process of its own unless configured otherwise.
    child = settings.api.workers == 1 and settings.conductor.own_process
    if child and not socket_fits:
        log.warning("the wake-up socket path %s is too long: the conductor runs in the API's process", wake_path)
        child = False
    if settings.api.workers > 1 or child:
        # Every process writes samples there; the API's /metrics sums them.
        use_multiprocess(settings.metrics_dir, clear=True)
    settings, mixing = share_single_engine(settings)
    notifier = broker_notifier(settings, f"jeroboam.{settings.service.host}")
    keyring = secrets_keyring(settings)  # creates the key file before any other process reads it
    # One process: wake-ups go straight from the API to the conductor; else over the socket.
    waker: InProcessWaker | DatagramWaker = DatagramWaker(wake_path) if child else InProcessWaker()
    services = Services.build(settings, waker=waker, notifier=notifier, keyring=keyring)
    migrate.upgrade(services.db.engine)
    check_secrets(services.db, keyring)
    conductor: Conductor | None = None
    process: ConductorProcess | None = None
    wakeups = DatagramWakeSource(wake_path) if settings.api.workers > 1 or child else None
    if child:
        assert wakeups is not None
        process = ConductorProcess(settings, args.config, wakeups, conductor_settings)
    else:
        source = wakeups or waker
        assert isinstance(source, InProcessWaker | DatagramWakeSource)
        conductor = Conductor(
            services.db, services.drivers, settings, notifier=notifier, wakeups=source, keyring=keyring
        )
        conductor.start()
    print(
        usage_banner(settings.api.host, settings.api.port, str(settings.data_dir), settings.auth_strategy), flush=True
    )
    if settings.api.workers > 1:
        print(f"{settings.api.workers} API worker processes; the conductor runs in this one.", flush=True)
    if mixing:
        print(mixing, flush=True)
    warn_about_drivers(services.drivers)
    failed = False
    try:
        if settings.api.workers > 1:
            # SQLite in WAL mode serves every worker process.
            os.environ[WORKER_DATA_DIR_ENV] = str(settings.data_dir)
            serve_workers("jeroboam.cmd.jeroboam:worker_app", settings, args.config)
        else:
            server = ApiServer(api_config(settings, services))
            if process is not None:

                def conductor_died(code: int | None) -> None:
                    nonlocal failed
                    failed = True
                    log.error("the conductor process exited (code %s): stopping, so that a supervisor restarts", code)
                    server.should_exit = True

                def start_conductor() -> None:
                    assert process is not None
                    process.start()
                    process.watch(conductor_died)

                # Once the API listens: on a loaded machine the child's start-up would slow the API's.
                server.on_listening = start_conductor
                server.on_stopping = process.request_stop
            serve(server)
    finally:
        if conductor is not None:
            conductor.stop()
        if process is not None and (code := process.stop()) not in (0, None):
            log.error("the conductor process exited with code %s", code)
            failed = True
        if wakeups is not None:
            wakeups.close()
        if isinstance(waker, DatagramWaker):
            waker.close()
        services.close()
    log.info("stopped")
    return 1 if failed else 0


class ApiServer(uvicorn.Server):
    """uvicorn's server, calling ``on_listening`` once it listens (before it handles a request)
    and ``on_stopping`` when its shutdown begins (the conductor process stops meanwhile)."""

    on_listening: Callable[[], object] | None = None
    on_stopping: Callable[[], object] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.on_listening is not None and not self.should_exit:
            self.on_listening()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.on_stopping is not None:
            self.on_stopping()
        await super().shutdown(sockets)


def api_config(settings: Settings, services: Services) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings, services), host=settings.api.host, port=settings.api.port, log_level="warning",
        access_log=False,
    )  # fmt: skip


def serve(server: uvicorn.Server) -> None:
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again for the previous
    # handler; with Python's defaults that would kill the process before the conductor stops.
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    server.run()


def worker_app() -> object:
    """An API worker process of ``jeroboam up --workers N``: the supervisor's settings, its own
    database pool, and wake-ups sent to the supervisor's conductor."""
    settings = worker_settings(data_dir=os.environ[WORKER_DATA_DIR_ENV])
    setup_logging(settings)
    settings, _ = share_single_engine(settings)
    waker = DatagramWaker(settings.data_dir / WAKEUP_SOCKET)
    notifier = broker_notifier(settings, f"jeroboam.{settings.service.host}")
    services = Services.build(settings, waker=waker, notifier=notifier, keyring=secrets_keyring(settings))
    return create_app(settings, services)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jeroboam", description="Jeroboam container infrastructure service")
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="run the all-in-one server (API + conductor)")
    up_parser.add_argument("--host", help="listen address (default 127.0.0.1)")
    up_parser.add_argument("--port", type=int, help="listen port (default 9511)")
    up_parser.add_argument("--data-dir", help="where the SQLite database and generated files live")
    add_workers_argument(
        up_parser, help="API worker processes (default [api] workers, 1); the conductor runs beside them"
    )
    add_config_argument(up_parser)
    args = parser.parse_args(argv)
    if args.command == "up":
        check_workers_argument(up_parser, args)
        return up(args)
    return 1


if __name__ == "__main__":
    sys.exit(main())
