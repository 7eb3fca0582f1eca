"""Helpers of the compat suite: ``jeroboam up`` as a real subprocess, and the real ``openstack`` CLI.

Every CLI invocation is printed (command, exit status, stdout, stderr), so the captured output of
a test is a transcript of what a user would have typed and seen.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.support.server import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
# The tools of the interpreter running the tests (the project venv), else the repo venv.
_HERE_BIN = Path(sys.executable).parent
VENV_BIN = _HERE_BIN if (_HERE_BIN / "jeroboam").exists() else REPO_ROOT / ".venv" / "bin"
JEROBOAM = VENV_BIN / "jeroboam"
OPENSTACK = VENV_BIN / "openstack"

START_DEADLINE = 60.0  # seconds for `jeroboam up` to answer GET /
STOP_DEADLINE = 20.0  # seconds for `jeroboam up` to exit after SIGTERM
CLI_TIMEOUT = 120.0  # seconds for one `openstack` command (it takes ~3-5 s to import itself)

# Commands that are cliff Lister/ShowOne and so take `-f json`; the others print tables themselves.
_FORMATTABLE = (
    ("cluster", "template", "create"),
    ("cluster", "template", "list"),
    ("cluster", "template", "show"),
    ("cluster", "template", "update"),
    ("service", "list"),
)


# Byte-code of the child processes, kept between runs: this environment sets
# PYTHONDONTWRITEBYTECODE, and `openstack` would otherwise compile its ~1000 modules every time.
PYCACHE = REPO_ROOT / ".cache" / "compat-pycache"


def _clean_env(extra: Mapping[str, str] | None = None, *, drop_prefixes: Sequence[str] = ()) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not any(k.startswith(p) for p in drop_prefixes) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env.update(extra or {})
    return env


T = TypeVar("T")


def poll(what: str, probe: Callable[[], T | None], deadline: float, interval: float) -> T:
    """Call ``probe`` until it returns something other than None, for at most ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while True:
        found = probe()
        if found is not None:
            return found
        assert time.monotonic() < end, f"{what}: not within {deadline} s"
        time.sleep(interval)


# --------------------------------------------------------------------------- the server process


@dataclass
class JeroboamProcess:
    """A running ``jeroboam up``; ``stop()`` sends SIGTERM and returns the exit status."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    returncode: int | None = None

    @property
    def endpoint(self) -> str:
        return f"{self.url}/v1"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, deadline: float = STOP_DEADLINE) -> int:
        """SIGTERM, then wait up to ``deadline``; SIGKILL (and raise) if it does not exit in time."""
        if self.returncode is not None:
            return self.returncode
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.process.wait(deadline)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            self.returncode = self.process.returncode
            raise RuntimeError(
                f"jeroboam up did not exit within {deadline} s of SIGTERM; log:\n{self.log_tail()}"
            ) from None
        return self.returncode


def _wait_until_answering(server: JeroboamProcess, deadline: float) -> None:
    end = time.monotonic() + deadline
    last = "no answer yet"
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"jeroboam up exited with status {server.process.returncode} while starting; log:\n{server.log_tail()}"
            )
        try:
            response = httpx.get(f"{server.url}/", timeout=2)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        if time.monotonic() > end:
            server.process.kill()
            raise RuntimeError(f"jeroboam up did not answer within {deadline} s ({last}); log:\n{server.log_tail()}")
        time.sleep(0.2)


@contextlib.contextmanager
def running_jeroboam(
    data_dir: Path, *, env: Mapping[str, str] | None = None, args: Sequence[str] = ()
) -> Iterator[JeroboamProcess]:
    """``jeroboam up`` on a free loopback port with its data in ``data_dir``.

    On exit the process gets SIGTERM; a process still running after the deadline is killed.
    The exit status is left in ``returncode`` for the caller to check.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = data_dir / "jeroboam-up.log"
    command = [str(JEROBOAM), "up", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir), *args]
    print(f"$ {shlex.join(command)}", flush=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_clean_env(env, drop_prefixes=("JEROBOAM_", "OS_")),
            cwd=data_dir,
        )
    server = JeroboamProcess(process, f"http://127.0.0.1:{port}", log_path)
    try:
        _wait_until_answering(server, START_DEADLINE)
        yield server
    finally:
        if server.returncode is None:
            try:
                server.stop()
            finally:
                print(f"jeroboam up exited with status {server.returncode}", flush=True)


# --------------------------------------------------------------------------- the CLI


@dataclass
class Transcript:
    """Every command a Cli ran, for the summary at the end of a module."""

    commands: list[tuple[str, int]] = field(default_factory=list)

    def summary(self) -> str:
        ok = sum(1 for _, rc in self.commands if rc == 0)
        return f"{len(self.commands)} openstack commands run: {ok} exited 0, {len(self.commands) - ok} exited non-zero"


class Cli:
    """Runs ``openstack <global options> coe ...`` and prints the exchange."""

    def __init__(self, global_args: Sequence[str], *, transcript: Transcript | None = None) -> None:
        self.global_args = list(global_args)
        self.transcript = transcript or Transcript()

    def with_args(self, global_args: Sequence[str]) -> Cli:
        return Cli(global_args, transcript=self.transcript)

    def __call__(
        self, *args: str, debug: bool = False, timeout: float = CLI_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """``openstack ... coe <args>`` (plus ``-f json`` for the commands that take it)."""
        command = [str(OPENSTACK), *self.global_args]
        if debug:
            command.append("--debug")
        command += ["coe", *args]
        if any(tuple(args[: len(prefix)]) == prefix for prefix in _FORMATTABLE) and "-f" not in args:
            command += ["-f", "json"]
        shown = shlex.join(["openstack", *_redact(command[1:])])
        print(f"$ {shown}", flush=True)
        started = time.monotonic()
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=_clean_env({"PYTHONWARNINGS": "ignore"}, drop_prefixes=("OS_",)),
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            print(f"  (timed out after {timeout} s)", flush=True)
            self.transcript.commands.append((shown, -1))
            raise
        elapsed = time.monotonic() - started
        print(f"  exit {result.returncode} in {elapsed:.1f} s", flush=True)
        if result.stdout.strip():
            print(_indent(result.stdout), flush=True)
        stderr = (
            result.stderr
            if not debug
            else "\n".join(line for line in result.stderr.splitlines() if line.startswith(("REQ:", "RESP")))
        )
        if stderr.strip():
            print("  stderr:\n" + _indent(stderr), flush=True)
        self.transcript.commands.append((shown, result.returncode))
        return result


def _redact(args: Sequence[str]) -> list[str]:
    shown = list(args)
    for index, arg in enumerate(shown[:-1]):
        if arg == "--os-password":
            shown[index + 1] = "***"
    return shown


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.rstrip().splitlines())


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def failed(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode != 0, f"expected a failure, got exit 0\nstdout:\n{result.stdout}"
    return result


def json_of(result: subprocess.CompletedProcess[str]) -> Any:
    """The JSON document in stdout (magnumclient prints "Request to ... accepted" before it)."""
    ok(result)
    match = re.search(r"^[\[{]", result.stdout, re.MULTILINE)
    assert match is not None, f"no JSON in stdout:\n{result.stdout}"
    return json.loads(result.stdout[match.start() :])


_ROW = re.compile(r"^\|\s*(?P<key>[^|]*?)\s*\|\s*(?P<value>[^|]*?)\s*\|$")


def table_of(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """The rows of a two-column ``Property | Value`` table (magnumclient's print_dict)."""
    ok(result)
    rows: dict[str, str] = {}
    for line in result.stdout.splitlines():
        match = _ROW.match(line.strip())
        if match and match["key"] not in ("Property", ""):
            rows[match["key"]] = match["value"]
    return rows


def rows_of(result: subprocess.CompletedProcess[str]) -> list[dict[str, str]]:
    """The rows of a multi-column table (magnumclient's print_list), as dicts by header."""
    ok(result)
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("|")]
    if not lines:
        return []
    headers = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [
        dict(zip(headers, (cell.strip() for cell in line.strip("|").split("|")), strict=True)) for line in lines[1:]
    ]


_REQ = re.compile(r"^REQ: curl -g -i -X (?P<method>\S+) (?P<url>\S+)(?P<rest>.*)$")


def sent_requests(result: subprocess.CompletedProcess[str]) -> list[tuple[str, str, Any]]:
    """(method, url, JSON body or None) of each request logged by ``--debug``."""
    sent: list[tuple[str, str, Any]] = []
    for line in result.stderr.splitlines():
        match = _REQ.match(line)
        if not match:
            continue
        body_match = re.search(r" -d '(?P<body>.*)'$", match["rest"])
        body = json.loads(body_match["body"]) if body_match else None
        sent.append((match["method"], match["url"], body))
    return sent


@pytest.fixture(scope="module")
def transcript() -> Iterator[Transcript]:
    record = Transcript()
    yield record
    print(record.summary(), flush=True)
