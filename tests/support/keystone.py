"""A real Keystone for tests: installed once in its own virtualenv, started per session.

From Python::

    server = start_keystone()          # ~10 s on an idle machine, more under load
    try:
        token = server.token_for("alpha-member")
        settings = server.authtoken_settings()   # KeystoneAuthtokenSettings of the service user
    finally:
        server.stop()

From pytest, wire the plain generator ``keystone_session`` into a conftest::

    @pytest.fixture(scope="session")
    def keystone_server() -> Iterator[KeystoneServer]:
        yield from keystone_session()

Standalone: ``python -m tests.support.keystone [--workdir DIR]`` prints the endpoint and
credentials as JSON on stdout and serves until Ctrl-C or SIGTERM.

What it does:

1. ``ensure_keystone_venv()``: a virtualenv at ``$JEROBOAM_KEYSTONE_VENV`` (default
   ``<repo>/.cache/keystone-venv``) with ``keystone==30.0.0`` from PyPI, built with ``uv``,
   byte-compiled (this environment sets PYTHONDONTWRITEBYTECODE, and Keystone's imports take
   twice as long from source), reused when its marker and ``keystone`` version match. A file lock
   serialises concurrent builders. Keystone's dependencies are unpinned upstream, so they are
   resolved as PyPI stood on ``EXCLUDE_NEWER``: the venv built later is the one tested.
2. A fresh work directory with ``keystone.conf``: SQLite, fernet tokens, key repositories in the
   work directory, Keystone's cache in process memory (no memcache), bcrypt at its cheapest cost.
3. One process in the Keystone venv (``_SERVER_SCRIPT``) imports Keystone once and runs
   ``keystone-manage`` ``db_sync``, ``fernet_setup`` and ``credential_setup`` (in parallel) and
   then ``bootstrap`` (admin user and project, region, identity endpoint) in forked children,
   then serves Keystone's public WSGI app with the stdlib ``wsgiref`` server in ONE process with
   ONE thread (several threads on SQLite give "database is locked"). The harness binds
   ``127.0.0.1:0`` first and hands the socket down: no free-port race, and ``GET /v3`` polled
   during the boot waits in the backlog. The server dies with the process that started it
   (Linux ``PR_SET_PDEATHSIG``) when started from the main thread.
4. Through Keystone's HTTP API (as the bootstrap admin, system-scoped): projects ``alpha``,
   ``beta``, ``service`` and the users of ``USER_SPECS``. Implied roles (admin => manager =>
   member => reader) come from bootstrap.

``KeystoneServer.url`` is the base URL WITHOUT ``/v3`` (``http://127.0.0.1:PORT``), the form
``[keystone_authtoken] auth_url`` takes; ``identity_url`` adds ``/v3`` (the catalog endpoint).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import httpx

from tests.support.file_lock import held

if TYPE_CHECKING:
    from jeroboam.config import KeystoneAuthtokenSettings

KEYSTONE_VERSION = "30.0.0"
KEYSTONE_REQUIREMENTS: tuple[str, ...] = (f"keystone=={KEYSTONE_VERSION}",)
# Upper bound on upload dates when resolving Keystone's unpinned dependencies (uv --exclude-newer).
EXCLUDE_NEWER = "2026-11-21T00:00:00Z"

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_ENV_VAR = "JEROBOAM_KEYSTONE_VENV"
DEFAULT_VENV = REPO_ROOT / ".cache" / "keystone-venv"

DOMAIN_ID = "default"
REGION_ID = "RegionOne"
ADMIN_USER = "admin"
ADMIN_PROJECT = "admin"
SERVICE_PROJECT = "service"
SERVICE_USER = "jeroboam"

INSTALL_TIMEOUT = 900.0
BOOT_TIMEOUT = 180.0  # keystone-manage + boot; ~10 s idle, several times that under load
HTTP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

_MARKER_NAME = "jeroboam-keystone.json"  # written once the install succeeded
_OWNER_NAME = "jeroboam-keystone.owner"  # written first: this harness may delete the directory
_LOG_TAIL_LINES = 40
_PROJECTS: tuple[str, ...] = ("alpha", "beta", SERVICE_PROJECT)


@dataclass(frozen=True)
class UserSpec:
    name: str
    project_name: str
    roles: tuple[str, ...]


# Role assignments are on the project. The service user gets "service" (what Keystone's
# identity:validate_token policy asks for) plus "admin", as devstack and kolla give service users.
USER_SPECS: tuple[UserSpec, ...] = (
    UserSpec("alpha-member", "alpha", ("member",)),
    UserSpec("beta-member", "beta", ("member",)),
    UserSpec("alpha-reader", "alpha", ("reader",)),
    UserSpec("cloud-admin", ADMIN_PROJECT, ("admin",)),
    UserSpec(SERVICE_USER, SERVICE_PROJECT, ("admin", "service")),
)


class KeystoneHarnessError(RuntimeError):
    """Keystone could not be installed, set up, started or driven."""


@dataclass(frozen=True)
class KeystoneUser:
    """A user of the test Keystone, with the project its roles are on (all in domain 'default')."""

    name: str
    password: str
    user_id: str
    project_name: str
    project_id: str
    roles: tuple[str, ...]
    domain_id: str = DOMAIN_ID


# --------------------------------------------------------------------------- subprocesses


def _log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of Keystone's processes: no trace of the project's venv."""
    dropped = {
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "OS_KEYSTONE_CONFIG_DIR",
        "OS_KEYSTONE_CONFIG_FILES",
    }
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["PYTHONWARNINGS"] = "ignore"  # eventlet/oslo deprecation noise on every command
    env.update(extra or {})
    return env


def _kill_group(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """Stop a process started with start_new_session=True, and anything it started."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            continue
        return


def _spawn(
    cmd: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str],
    pass_fds: Sequence[int] = (),
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            pass_fds=tuple(pass_fds),
            cwd=cwd,
            start_new_session=True,
        )


def _run(cmd: Sequence[str], what: str, log_path: Path, *, timeout: float, env: Mapping[str, str]) -> None:
    """Run a command to completion, output appended to ``log_path``; raise with its tail on failure."""
    proc = _spawn(cmd, log_path, env=env)
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise KeystoneHarnessError(
            f"{what} did not finish within {timeout:.0f} s; last lines of {log_path}:\n{_log_tail(log_path)}"
        ) from None
    finally:
        _kill_group(proc)
    if rc != 0:
        raise KeystoneHarnessError(
            f"{what} failed (exit status {rc}); last lines of {log_path}:\n{_log_tail(log_path)}"
        )


# --------------------------------------------------------------------------- the virtualenv


def keystone_venv_path() -> Path:
    return Path(os.environ.get(VENV_ENV_VAR) or DEFAULT_VENV)


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _marker() -> dict[str, Any]:
    return {
        "requirements": list(KEYSTONE_REQUIREMENTS),
        "exclude_newer": EXCLUDE_NEWER,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }


def _venv_is_healthy(venv: Path) -> bool:
    python = _venv_python(venv)
    try:
        marker = json.loads((venv / _MARKER_NAME).read_text())
    except (OSError, ValueError):
        return False
    if marker != _marker() or not python.exists() or not (venv / "bin" / "keystone-manage").exists():
        return False
    try:
        found = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('keystone'))"],
            capture_output=True,
            text=True,
            timeout=60,
            env=_child_env(),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return found.returncode == 0 and found.stdout.strip() == KEYSTONE_VERSION


def ensure_keystone_venv(venv: Path | None = None, *, timeout: float = INSTALL_TIMEOUT) -> Path:
    """Return a virtualenv with Keystone installed, building it when missing or unhealthy."""
    venv = (venv or keystone_venv_path()).absolute()
    if _venv_is_healthy(venv):
        return venv
    # scripts/bootstrap installs uv into the project's venv, which is not on PATH under scripts/test.
    beside = Path(sys.executable).parent / "uv"
    uv = str(beside) if beside.exists() else shutil.which("uv")
    if uv is None:
        raise KeystoneHarnessError(f"'uv' is neither beside {sys.executable} nor on PATH; it builds the Keystone venv")
    with held(venv.with_name(venv.name + ".lock"), timeout, KeystoneHarnessError):
        if _venv_is_healthy(venv):  # built by whoever held the lock
            return venv
        log_path = venv.with_name(venv.name + ".install.log")
        log_path.write_text("")
        if venv.exists():
            if any(venv.iterdir()) and not (venv / _OWNER_NAME).exists():
                raise KeystoneHarnessError(
                    f"{venv} exists but was not made by this harness; remove it or point {VENV_ENV_VAR} at another path"
                )
            shutil.rmtree(venv)
        deadline = time.monotonic() + timeout
        env = _child_env()
        base_python = getattr(sys, "_base_executable", None) or sys.executable
        _run(
            [uv, "venv", "--quiet", "--python", base_python, str(venv)],
            "uv venv (Keystone virtualenv)",
            log_path,
            timeout=timeout,
            env=env,
        )
        (venv / _OWNER_NAME).write_text("made by tests/support/keystone.py; safe to delete\n")
        _run(
            [
                uv,
                "pip",
                "install",
                "--python",
                str(_venv_python(venv)),
                "--compile-bytecode",
                "--exclude-newer",
                EXCLUDE_NEWER,
                *KEYSTONE_REQUIREMENTS,
            ],
            f"uv pip install {' '.join(KEYSTONE_REQUIREMENTS)}",
            log_path,
            timeout=max(1.0, deadline - time.monotonic()),
            env=env,
        )
        (venv / _MARKER_NAME).write_text(json.dumps(_marker(), indent=2) + "\n")
        if not _venv_is_healthy(venv):
            raise KeystoneHarnessError(
                f"Keystone was installed in {venv} but 'keystone' {KEYSTONE_VERSION} cannot be "
                f"found there; see {log_path}"
            )
    return venv


# --------------------------------------------------------------------------- configuration

_CONF_TEMPLATE = """\
[DEFAULT]
debug = false
use_stderr = true

[database]
connection = sqlite:///{workdir}/keystone.db
sqlite_synchronous = false

[token]
provider = fernet
expiration = {token_expiration}

[fernet_tokens]
key_repository = {workdir}/fernet-keys
max_active_keys = 3

[fernet_receipts]
key_repository = {workdir}/fernet-keys

[credential]
key_repository = {workdir}/credential-keys

[cache]
# In-process only (one server process, so invalidation stays exact); no memcache. Without it a
# token validation runs ~650 SQL queries (~2 s on a busy 2-core machine) instead of ~20 ms.
enabled = true
backend = dogpile.cache.memory

[identity]
# bcrypt's cheapest cost: every password authentication pays it.
password_hash_rounds = 4
"""

# Runs in the Keystone venv, started with the listening socket inherited. argv: socket fd, parent
# pid, "1" to die with the parent, admin user, admin project, region. OS_BOOTSTRAP_PASSWORD and
# OS_KEYSTONE_CONFIG_DIR come in the environment.
_SERVER_SCRIPT = '''\
"""Set Keystone up with keystone-manage, then serve its public WSGI app: one process, one thread.

Keystone's imports cost seconds, so this interpreter imports them once and runs each
keystone-manage command (keystone.cmd.cli.main, what the keystone-manage script calls) in a
forked child: db_sync, fernet_setup and credential_setup in parallel, then bootstrap. Then this
process loads the app and serves it with wsgiref on the inherited socket.
"""
import ctypes
import os
import signal
import socket
import sys
import time


def log(message):
    print(f"jeroboam-keystone: {message}", file=sys.stderr, flush=True)


def fork_manage(cli, conf, args):
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        cli.main(argv=["keystone-manage", "--config-file", conf, *args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def manage(cli, conf, *commands):
    """Run keystone-manage commands in parallel children; exit if one fails."""
    children = {fork_manage(cli, conf, args): args[0] for args in commands}
    failed = []
    for pid, name in children.items():
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        if code != 0:
            failed.append(f"keystone-manage {name} (exit status {code})")
    if failed:
        log("failed: " + ", ".join(failed))
        sys.exit(3)


def main():
    fd, parent_pid, die_with_parent = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
    admin_user, admin_project, region = sys.argv[4:7]
    del sys.argv[1:]  # Keystone parses the command line as oslo.config options
    if die_with_parent:
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent_pid:
            sys.exit("the process that started Keystone is gone")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    listener = socket.socket(fileno=fd)
    host, port = listener.getsockname()[:2]
    conf = os.path.join(os.environ["OS_KEYSTONE_CONFIG_DIR"], "keystone.conf")

    started = time.monotonic()
    from keystone.cmd import cli

    log(f"imported keystone-manage in {time.monotonic() - started:.1f} s")
    phase = time.monotonic()
    owner = ["--keystone-user", str(os.getuid()), "--keystone-group", str(os.getgid())]
    manage(cli, conf, ["db_sync"], ["fernet_setup", *owner], ["credential_setup", *owner])
    endpoint = f"http://{host}:{port}/v3"
    bootstrap = ["bootstrap", "--bootstrap-username", admin_user, "--bootstrap-project-name", admin_project]
    bootstrap += ["--bootstrap-role-name", "admin", "--bootstrap-service-name", "keystone"]
    bootstrap += ["--bootstrap-region-id", region]
    for interface in ("admin", "internal", "public"):
        bootstrap += [f"--bootstrap-{interface}-url", endpoint]
    manage(cli, conf, bootstrap)  # the password is OS_BOOTSTRAP_PASSWORD
    log(f"setup done in {time.monotonic() - phase:.1f} s")

    phase = time.monotonic()
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

    from keystone.server import wsgi as keystone_wsgi

    app = keystone_wsgi.initialize_public_application()

    class Handler(WSGIRequestHandler):
        def address_string(self):
            return self.client_address[0]  # no reverse DNS per request

    server = WSGIServer((host, port), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = listener
    server.server_address = (host, port)
    server.server_name = host
    server.server_port = port
    server.setup_environ()
    server.set_app(app)
    log(f"app loaded in {time.monotonic() - phase:.1f} s; serving http://{host}:{port}")
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()


main()
'''


def _password() -> str:
    return "pw-" + secrets.token_urlsafe(18)  # never starts with "-": safe as a CLI argument


def _password_auth(
    name: str, password: str, scope: Mapping[str, Any] | None, domain_id: str = DOMAIN_ID
) -> dict[str, Any]:
    auth: dict[str, Any] = {
        "identity": {
            "methods": ["password"],
            "password": {"user": {"name": name, "domain": {"id": domain_id}, "password": password}},
        }
    }
    if scope is not None:
        auth["scope"] = dict(scope)
    return {"auth": auth}


# --------------------------------------------------------------------------- the server


class KeystoneServer:
    """A running Keystone and its users. ``stop()`` (or ``with``) ends it and removes its files."""

    def __init__(
        self,
        *,
        port: int,
        workdir: Path,
        owns_workdir: bool,
        process: subprocess.Popen[bytes],
        log_path: Path,
        admin: KeystoneUser,
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.workdir = workdir
        self.log_path = log_path
        self.process = process
        self.admin = admin  # the bootstrap admin (admin on the 'admin' project and on the system)
        self.users: dict[str, KeystoneUser] = {}
        self.projects: dict[str, str] = {}  # name -> id
        self.roles: dict[str, str] = {}  # name -> id
        self.timings: dict[str, float] = {}  # seconds: "venv", "setup", "boot", "provision"
        self._owns_workdir = owns_workdir
        self._http = httpx.Client(base_url=self.url, timeout=HTTP_TIMEOUT)
        self._admin_token: str | None = None
        self._lock = threading.Lock()
        self._stopped = False

    # ---- public API

    @property
    def identity_url(self) -> str:
        """The v3 endpoint, as registered in the catalog: ``http://127.0.0.1:PORT/v3``."""
        return f"{self.url}/v3"

    @property
    def service_user(self) -> KeystoneUser:
        return self.users[SERVICE_USER]

    def token_for(self, username: str) -> str:
        """A fresh token of ``username`` (password auth), scoped to the user's project."""
        user = self.users.get(username) or (self.admin if username == self.admin.name else None)
        if user is None:
            raise KeystoneHarnessError(f"unknown test user {username!r}; known: {sorted(self.users)}")
        scope = {"project": {"id": user.project_id}}
        response = self._request(
            "POST",
            "/v3/auth/tokens",
            json=_password_auth(user.name, user.password, scope),
            admin=False,
        )
        if response.status_code != 201:
            raise KeystoneHarnessError(
                f"Keystone refused a token to {username!r}: HTTP {response.status_code} {response.text[:300]}"
            )
        return response.headers["X-Subject-Token"]

    def create_user(self, name: str, project_name: str, roles: Sequence[str]) -> KeystoneUser:
        """Create a user with ``roles`` on ``project_name`` (created too when missing)."""
        project_id = self._ensure_project(project_name)
        password = _password()
        body = {
            "user": {
                "name": name,
                "password": password,
                "domain_id": DOMAIN_ID,
                "default_project_id": project_id,
            }
        }
        user_id = self._admin_json("POST", "/v3/users", body, expected=201)["user"]["id"]
        for role in roles:
            role_id = self.roles.get(role)
            if role_id is None:
                raise KeystoneHarnessError(f"unknown role {role!r}; known: {sorted(self.roles)}")
            self._admin_call("PUT", f"/v3/projects/{project_id}/users/{user_id}/roles/{role_id}", expected=204)
        user = KeystoneUser(name, password, user_id, project_name, project_id, tuple(roles))
        self.users[name] = user
        return user

    def delete_user(self, name: str) -> KeystoneUser:
        """Delete a user in Keystone (which revokes its tokens) and forget it."""
        user = self.users.get(name)
        if user is None:
            raise KeystoneHarnessError(f"unknown test user {name!r}; known: {sorted(self.users)}")
        self._admin_call("DELETE", f"/v3/users/{user.user_id}", expected=204)
        del self.users[name]
        return user

    def register_service(self, service_type: str, url: str, name: str | None = None) -> str:
        """Add a service of ``service_type`` with a public endpoint at ``url`` (region
        ``RegionOne``) to the catalog of every token issued from now on; returns its id."""
        body = {"service": {"type": service_type, "name": name or service_type, "enabled": True}}
        service_id: str = self._admin_json("POST", "/v3/services", body, expected=201)["service"]["id"]
        endpoint = {"service_id": service_id, "interface": "public", "region_id": REGION_ID, "url": url}
        self._admin_call("POST", "/v3/endpoints", {"endpoint": endpoint}, expected=201)
        return service_id

    def remove_service(self, service_id: str) -> None:
        """Remove a service added by ``register_service`` and its endpoints from the catalog."""
        endpoints = self._admin_json("GET", f"/v3/endpoints?service_id={service_id}", expected=200)["endpoints"]
        for endpoint in endpoints:
            self._admin_call("DELETE", f"/v3/endpoints/{endpoint['id']}", expected=204)
        self._admin_call("DELETE", f"/v3/services/{service_id}", expected=204)

    def authtoken_settings(self, **overrides: Any) -> KeystoneAuthtokenSettings:
        """``[keystone_authtoken]`` settings for Jeroboam, as the service user."""
        from jeroboam.config import KeystoneAuthtokenSettings

        user = self.service_user
        values: dict[str, Any] = {
            "auth_url": self.url,
            "www_authenticate_uri": self.url,
            "username": user.name,
            "password": user.password,
            "project_name": user.project_name,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
            **overrides,
        }
        return KeystoneAuthtokenSettings(**values)

    def jeroboam_env(self) -> dict[str, str]:
        """Environment variables that point a Jeroboam process at this Keystone."""
        user = self.service_user
        prefix = "JEROBOAM_KEYSTONE_AUTHTOKEN__"
        return {
            "JEROBOAM_AUTH_STRATEGY": "keystone",
            f"{prefix}AUTH_URL": self.url,
            f"{prefix}WWW_AUTHENTICATE_URI": self.url,
            f"{prefix}USERNAME": user.name,
            f"{prefix}PASSWORD": user.password,
            f"{prefix}PROJECT_NAME": user.project_name,
        }

    def describe(self) -> dict[str, Any]:
        """Endpoint and credentials as JSON-ready data (what ``python -m`` prints)."""
        return {
            "url": self.url,
            "identity_url": self.identity_url,
            "region": REGION_ID,
            "pid": self.process.pid,
            "workdir": str(self.workdir),
            "log": str(self.log_path),
            "admin": asdict(self.admin),
            "service_user": SERVICE_USER,
            "users": {name: asdict(user) for name, user in self.users.items()},
            "jeroboam_env": self.jeroboam_env(),
        }

    def stop(self) -> None:
        """Kill Keystone, close connections and remove the work directory it created. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        atexit.unregister(self.stop)
        self._http.close()
        _kill_group(self.process)
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> KeystoneServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- HTTP plumbing

    def _request(self, method: str, path: str, *, json: Any = None, admin: bool = True) -> httpx.Response:
        if self._stopped:
            raise KeystoneHarnessError("this Keystone has been stopped")
        response = self._send(method, path, json, admin=admin, refresh=False)
        if admin and response.status_code == 401:  # the admin token expired: get another, once
            response = self._send(method, path, json, admin=admin, refresh=True)
        return response

    def _send(self, method: str, path: str, json: Any, *, admin: bool, refresh: bool) -> httpx.Response:
        headers = {"X-Auth-Token": self._get_admin_token(refresh=refresh)} if admin else {}
        try:
            return self._http.request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise KeystoneHarnessError(
                f"{method} {path} to Keystone at {self.url} failed: {exc!r}; last lines of "
                f"{self.log_path}:\n{_log_tail(self.log_path)}"
            ) from exc

    def _get_admin_token(self, *, refresh: bool = False) -> str:
        with self._lock:
            if self._admin_token is None or refresh:
                body = _password_auth(self.admin.name, self.admin.password, {"system": {"all": True}})
                response = self._request("POST", "/v3/auth/tokens", json=body, admin=False)
                if response.status_code != 201:
                    raise KeystoneHarnessError(
                        f"the bootstrap admin cannot get a system token: HTTP {response.status_code} "
                        f"{response.text[:300]}"
                    )
                self._admin_token = response.headers["X-Subject-Token"]
            return self._admin_token

    def _admin_call(self, method: str, path: str, body: Any = None, *, expected: int) -> httpx.Response:
        response = self._request(method, path, json=body)
        if response.status_code != expected:
            raise KeystoneHarnessError(
                f"{method} {path}: Keystone answered HTTP {response.status_code} (expected {expected}): "
                f"{response.text[:300]}"
            )
        return response

    def _admin_json(self, method: str, path: str, body: Any = None, *, expected: int) -> Any:
        return self._admin_call(method, path, body, expected=expected).json()

    def _ensure_project(self, name: str) -> str:
        if name not in self.projects:
            body = {"project": {"name": name, "domain_id": DOMAIN_ID, "description": "jeroboam tests"}}
            self.projects[name] = self._admin_json("POST", "/v3/projects", body, expected=201)["project"]["id"]
        return self.projects[name]

    def _provision(self) -> None:
        """Look up bootstrap's roles and admin project; create the test projects and users."""
        self.roles = {role["name"]: role["id"] for role in self._admin_json("GET", "/v3/roles", expected=200)["roles"]}
        for project in self._admin_json("GET", "/v3/projects", expected=200)["projects"]:
            self.projects[project["name"]] = project["id"]
        for name in _PROJECTS:
            self._ensure_project(name)
        found = self._admin_json("GET", f"/v3/users?name={self.admin.name}", expected=200)["users"]
        self.admin = KeystoneUser(
            self.admin.name,
            self.admin.password,
            found[0]["id"],
            ADMIN_PROJECT,
            self.projects[ADMIN_PROJECT],
            self.admin.roles,
        )
        for spec in USER_SPECS:
            self.create_user(spec.name, spec.project_name, spec.roles)


def _wait_until_up(server: KeystoneServer, deadline: float, timeout: float) -> None:
    """Poll ``GET /v3`` until Keystone answers 200, it exits, or the deadline passes."""
    last_error = "no answer yet"
    with httpx.Client(base_url=server.url) as client:
        while True:
            if server.process.poll() is not None:
                raise KeystoneHarnessError(
                    f"Keystone exited with status {server.process.returncode} while booting; last "
                    f"lines of {server.log_path}:\n{_log_tail(server.log_path)}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KeystoneHarnessError(
                    f"Keystone did not answer GET /v3 within {timeout:.0f} s ({last_error}); last "
                    f"lines of {server.log_path}:\n{_log_tail(server.log_path)}"
                )
            # The socket is listening from the start: a request waits in the backlog until the
            # app is loaded, so one long attempt is better than many short ones.
            try:
                response = client.get("/v3", timeout=httpx.Timeout(min(remaining, 60.0)))
            except httpx.HTTPError as exc:
                last_error = repr(exc)
                time.sleep(0.2)
                continue
            if response.status_code == 200:
                return
            last_error = f"HTTP {response.status_code}"
            time.sleep(0.2)


def start_keystone(
    workdir: Path | None = None,
    *,
    venv: Path | None = None,
    boot_timeout: float = BOOT_TIMEOUT,
    token_expiration: int = 3600,
) -> KeystoneServer:
    """Install (once), set up and start a Keystone on 127.0.0.1, with the test users.

    ``workdir`` must be missing or empty; when ``None`` a temporary directory is used and
    removed by ``stop()``. ``boot_timeout`` bounds keystone-manage and the boot together.
    ``token_expiration`` is Keystone's ``[token] expiration`` in seconds.
    """
    timings: dict[str, float] = {}
    started = time.monotonic()
    venv_path = ensure_keystone_venv(venv)
    timings["venv"] = time.monotonic() - started
    owns_workdir = workdir is None
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="jeroboam-keystone-"))
    else:
        workdir = workdir.absolute()
        workdir.mkdir(parents=True, exist_ok=True)
        if any(workdir.iterdir()):
            raise KeystoneHarnessError(f"Keystone work directory {workdir} is not empty")

    # Bound before Keystone starts and handed down: no other process can take the port, and a
    # request made while Keystone boots waits in the backlog instead of being refused.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server: KeystoneServer | None = None
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        port: int = listener.getsockname()[1]
        for sub in ("fernet-keys", "credential-keys"):
            (workdir / sub).mkdir(mode=0o700)
        (workdir / "keystone.conf").write_text(
            _CONF_TEMPLATE.format(workdir=workdir, token_expiration=token_expiration)
        )
        script = workdir / "serve_keystone.py"
        script.write_text(_SERVER_SCRIPT)
        log_path = workdir / "keystone.log"
        admin_password = _password()
        die_with_parent = threading.current_thread() is threading.main_thread()
        started = time.monotonic()
        process = _spawn(
            [
                str(_venv_python(venv_path)),
                str(script),
                str(listener.fileno()),
                str(os.getpid()),
                "1" if die_with_parent else "0",
                ADMIN_USER,
                ADMIN_PROJECT,
                REGION_ID,
            ],
            log_path,
            env=_child_env({"OS_KEYSTONE_CONFIG_DIR": str(workdir), "OS_BOOTSTRAP_PASSWORD": admin_password}),
            pass_fds=[listener.fileno()],
            cwd=workdir,
        )
        listener.close()  # Keystone holds it now; if Keystone dies, connections are refused
        admin = KeystoneUser(ADMIN_USER, admin_password, "", ADMIN_PROJECT, "", ("admin",))
        server = KeystoneServer(
            port=port, workdir=workdir, owns_workdir=owns_workdir, process=process, log_path=log_path, admin=admin
        )
        atexit.register(server.stop)
        _wait_until_up(server, started + boot_timeout, boot_timeout)
        timings["start"] = time.monotonic() - started
        timings.update(_phase_timings(log_path))
        server._provision()
        timings["provision"] = time.monotonic() - started - timings["start"]
        server.timings.update(timings)
    except BaseException:
        listener.close()
        if server is not None:
            server.stop()
        elif owns_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        raise
    return server


_PHASES = {"import": "imported keystone-manage in", "setup": "setup done in", "app": "app loaded in"}


def _phase_timings(log_path: Path) -> dict[str, float]:
    """The durations the server script logged: import, setup (keystone-manage), app (load)."""
    text = log_path.read_text(errors="replace")
    found: dict[str, float] = {}
    for name, words in _PHASES.items():
        match = re.search(rf"jeroboam-keystone: {words} ([0-9.]+) s", text)
        if match:
            found[name] = float(match.group(1))
    return found


# --------------------------------------------------------------------------- pytest and CLI


def keystone_session() -> Iterator[KeystoneServer]:
    """Generator for a session-scoped pytest fixture: ``yield from keystone_session()``."""
    server = start_keystone()
    try:
        yield server
    finally:
        server.stop()


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.keystone",
        description="Start a test Keystone; print its endpoint and users as JSON; stop on Ctrl-C/SIGTERM.",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="missing or empty directory to use")
    parser.add_argument("--boot-timeout", type=float, default=BOOT_TIMEOUT)
    parser.add_argument("--token-expiration", type=int, default=3600, help="seconds")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        server = start_keystone(args.workdir, boot_timeout=args.boot_timeout, token_expiration=args.token_expiration)
    except KeystoneHarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    try:
        print(json.dumps(server.describe(), indent=2), flush=True)
        while server.process.poll() is None:
            time.sleep(0.5)
        print(
            f"error: Keystone exited with status {server.process.returncode}; last lines of "
            f"{server.log_path}:\n{_log_tail(server.log_path)}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
