"""A real Horizon with magnum-ui's Container Infra panels, for tests, against the suite's Keystone.

``start_horizon(keystone, workdir)`` builds (once) the Horizon venv (tests/support/venvs.py, which
also copies magnum-ui's ``enabled`` files into Horizon as its install guide says), writes a
``local_settings.py`` in ``workdir/local`` (Horizon imports ``local.local_settings`` and
``workdir`` comes first on its path), and serves the dashboard with Django's ``runserver`` on
127.0.0.1 (DEBUG, so static files and SCSS are served and compiled on the fly). ``stop()`` ends it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.keystone import KeystoneServer
from tests.support.server import free_port
from tests.support.venvs import HORIZON, child_env, ensure_venv

CHROMIUM = Path("/usr/bin/chromium")
BOOT_TIMEOUT = 300.0
STOP_TIMEOUT = 15.0

_LOCAL_SETTINGS = """\
# Written by tests/support/horizon.py for one test run.
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
SECRET_KEY = {secret!r}
WEBROOT = "/"
OPENSTACK_HOST = "127.0.0.1"
OPENSTACK_KEYSTONE_URL = {keystone!r}
OPENSTACK_KEYSTONE_DEFAULT_ROLE = "member"
OPENSTACK_KEYSTONE_MULTIDOMAIN_SUPPORT = False
OPENSTACK_KEYSTONE_DEFAULT_DOMAIN = "Default"
OPENSTACK_ENDPOINT_TYPE = "publicURL"
STATIC_ROOT = {static!r}
COMPRESS_OFFLINE = False
TIME_ZONE = "UTC"
CACHES = {{"default": {{"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}}}
SESSION_ENGINE = "django.contrib.sessions.backends.file"
SESSION_FILE_PATH = {sessions!r}
# Straight to the Container Infra panels: the Overview asks Nova for usage the stand-in does not keep.
LOGIN_REDIRECT_URL = "/project/cluster_templates/"
LOGGING = {{
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {{"file": {{"class": "logging.FileHandler", "filename": {log!r}}}}},
    "root": {{"handlers": ["file"], "level": "INFO"}},
    "loggers": {{
        "horizon": {{"level": "DEBUG"}},
        "openstack_dashboard": {{"level": "DEBUG"}},
        "magnum_ui": {{"level": "DEBUG"}},
        "magnumclient": {{"level": "DEBUG"}},
        "keystoneauth": {{"level": "DEBUG"}},
    }},
}}
"""


class HorizonHarnessError(RuntimeError):
    """Horizon could not be started."""


def ensure_chromium() -> Path:
    """Debian's Chromium, installed with apt-get when missing and this process may (root)."""
    if not CHROMIUM.exists() and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600, check=False)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"], env=env, capture_output=True, timeout=900, check=False
        )
    if not CHROMIUM.exists():
        raise HorizonHarnessError(f"{CHROMIUM} is missing and could not be installed: apt-get install chromium")
    return CHROMIUM


@dataclass
class HorizonServer:
    url: str
    workdir: Path
    process: subprocess.Popen[bytes]

    @property
    def log_path(self) -> Path:
        return self.workdir / "horizon.log"

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)


def start_horizon(keystone: KeystoneServer, workdir: Path) -> HorizonServer:
    venv = ensure_venv(HORIZON)
    local = workdir / "local"
    local.mkdir(parents=True, exist_ok=True)
    (local / "__init__.py").write_text("")
    sessions = workdir / "sessions"
    sessions.mkdir(exist_ok=True)
    (local / "local_settings.py").write_text(
        _LOCAL_SETTINGS.format(
            secret=secrets.token_urlsafe(32),
            keystone=keystone.identity_url,
            static=str(workdir / "static"),
            log=str(workdir / "horizon.log"),
            sessions=str(sessions),
        )
    )
    port = free_port()
    env = child_env({"DJANGO_SETTINGS_MODULE": "openstack_dashboard.settings", "PYTHONPATH": str(workdir)})
    command = [str(venv / "bin" / "django-admin"), "runserver", f"127.0.0.1:{port}", "--noreload"]
    with (workdir / "runserver.out").open("ab") as out:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, env=env
        )
    server = HorizonServer(f"http://127.0.0.1:{port}", workdir, process)
    try:
        _wait_until_up(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_up(server: HorizonServer) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        if server.process.poll() is not None:
            out = (server.workdir / "runserver.out").read_text(errors="replace")[-3000:]
            raise HorizonHarnessError(f"Horizon exited with {server.process.returncode}:\n{out}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/auth/login/", timeout=60).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise HorizonHarnessError(f"Horizon did not answer within {BOOT_TIMEOUT:.0f} s:\n{server.log_tail()}")
        time.sleep(0.5)
