"""A real Heat (heat-api + heat-engine) for tests, against the suite's Keystone.

``start_heat(keystone, workdir, database_url)`` builds (once) the Heat venv
(tests/support/venvs.py), creates the service user ``heat`` and a RabbitMQ vhost of its own
(``rabbitmqctl``, so two runs on one broker never share Heat's fixed topic names), writes
``heat.conf`` (the given MariaDB database, trusts for deferred auth), runs ``heat-manage
db_sync``, starts ``heat-engine`` and heat-api (its WSGI app under wsgiref), registers the
``orchestration`` service in the catalog and waits until the API answers. ``stop()`` ends both
processes and removes the vhost.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.keystone import KeystoneServer
from tests.support.rabbitmq import RABBIT_URL, rabbitmqctl
from tests.support.server import free_port
from tests.support.venvs import HEAT, child_env, ensure_venv

SERVICE_USER = "heat"
BOOT_TIMEOUT = 180.0
STOP_TIMEOUT = 15.0

_CONF = """\
[DEFAULT]
debug = true
log_dir = {workdir}
transport_url = {transport_url}
host = {host}
num_engine_workers = 1
deferred_auth_method = trusts
region_name_for_services = {region}
# Heat asks Magnum every second while a cluster changes, instead of backing off up to a minute.
periodic_interval = 5
max_stacks_per_tenant = 50
# keystoneauth at DEBUG: the log shows every request Heat sends to Magnum and what it got back.
default_log_levels = keystoneauth=DEBUG,amqp=WARN,oslo.messaging=INFO,sqlalchemy=WARN,stevedore=INFO,oslo_policy=INFO
{extra}
[database]
connection = {database}

[paste_deploy]
api_paste_config = {paste}

[keystone_authtoken]
auth_type = password
auth_url = {keystone}
www_authenticate_uri = {keystone}
username = {user}
password = {password}
project_name = service
user_domain_name = Default
project_domain_name = Default
service_token_roles_required = true

[trustee]
auth_type = password
auth_url = {keystone}
username = {user}
password = {password}
user_domain_name = Default

[clients_keystone]
auth_uri = {keystone}

[ec2authtoken]
auth_uri = {keystone}/v3

[oslo_messaging_notifications]
driver = noop
"""


class HeatHarnessError(RuntimeError):
    """Heat could not be set up or started."""


@dataclass
class HeatServer:
    url: str
    workdir: Path
    venv: Path
    vhost: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.workdir / f"{name}.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return f"(no {path})"

    def stop(self) -> None:
        for process in self.processes.values():
            _stop(process)
        self.processes.clear()
        rabbitmqctl("delete_vhost", self.vhost, check=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


def _spawn(command: list[str], log_path: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=child_env()
        )


def start_heat(keystone: KeystoneServer, workdir: Path, database_url: str, *, extra_conf: str = "") -> HeatServer:
    venv = ensure_venv(HEAT)
    workdir.mkdir(parents=True, exist_ok=True)
    user = keystone.users.get(SERVICE_USER) or keystone.create_user(SERVICE_USER, "service", ("admin", "service"))
    vhost = f"jeroboam-heat-{secrets.token_hex(4)}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    port = free_port()
    server = HeatServer(f"http://127.0.0.1:{port}", workdir, venv, vhost)
    try:
        paste = workdir / "api-paste.ini"
        shutil.copy(venv / "etc" / "heat" / "api-paste.ini", paste)
        conf = workdir / "heat.conf"
        conf.write_text(
            _CONF.format(
                workdir=workdir,
                transport_url=f"{RABBIT_URL}/{vhost}",
                host=vhost,
                region="RegionOne",
                paste=paste,
                keystone=keystone.url,
                user=SERVICE_USER,
                password=user.password,
                extra=extra_conf,
                database=database_url,
            )
        )
        setup = subprocess.run(
            [str(venv / "bin" / "heat-manage"), "--config-file", str(conf), "db_sync"],
            capture_output=True,
            text=True,
            timeout=300,
            env=child_env(),
            check=False,
        )
        if setup.returncode != 0:
            raise HeatHarnessError(f"heat-manage db_sync failed:\n{setup.stdout[-3000:]}{setup.stderr[-3000:]}")
        server.processes["heat-engine"] = _spawn(
            [str(venv / "bin" / "heat-engine"), "--config-file", str(conf)], workdir / "heat-engine.out", workdir
        )
        api = [str(venv / "bin" / "heat-wsgi-api"), "--host", "127.0.0.1", "--port", str(port)]
        server.processes["heat-api"] = _spawn(
            [*api, "--", "--config-file", str(conf)], workdir / "heat-api.out", workdir
        )
        keystone.register_service("orchestration", f"{server.url}/v1/$(project_id)s", "heat")
        _wait_until_up(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_up(server: HeatServer) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        for name, process in server.processes.items():
            if process.poll() is not None:
                raise HeatHarnessError(f"{name} exited with {process.returncode}:\n{server.log_tail(name)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/", timeout=5).status_code in (200, 300):
                return
        if time.monotonic() > deadline:
            raise HeatHarnessError(
                f"heat-api did not answer within {BOOT_TIMEOUT:.0f} s:\n{server.log_tail('heat-api')}"
            )
        time.sleep(0.5)
