"""The 2015 client, python-magnumclient 1.1.0, in a virtualenv of its own, and a runner for it.

``ensure_venv()`` builds ``<repo>/.cache/magnumclient-1.1.0-venv`` with ``uv`` (its unpinned
dependencies resolved as PyPI stood on ``EXCLUDE_NEWER``), once; a file lock serialises builders
and a marker file says the build finished. ``Magnum2015`` runs its shell through the small
wrapper ``magnum2015_shell.py`` (test code, run inside that venv), which works around the two
Python 3 quirks of the client's age (see that file).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.file_lock import held

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ("python-magnumclient==1.1.0", "six")
EXCLUDE_NEWER = "2026-11-21T00:00:00Z"
VENV = REPO_ROOT / ".cache" / "magnumclient-1.1.0-venv"
WRAPPER = Path(__file__).with_name("magnum2015_shell.py")
MARKER = "jeroboam-magnumclient.json"
INSTALL_TIMEOUT = 600.0
COMMAND_TIMEOUT = 120.0


def _marker() -> dict[str, object]:
    return {"requirements": list(REQUIREMENTS), "exclude_newer": EXCLUDE_NEWER, "python": sys.version[:4]}


def _healthy(venv: Path) -> bool:
    try:
        return bool(json.loads((venv / MARKER).read_text()) == _marker() and (venv / "bin" / "python").exists())
    except (OSError, ValueError):
        return False


def ensure_venv(venv: Path = VENV) -> Path:
    if _healthy(venv):
        return venv
    beside = Path(sys.executable).parent / "uv"
    uv = str(beside) if beside.exists() else shutil.which("uv")
    if uv is None:
        raise RuntimeError(f"'uv' is neither beside {sys.executable} nor on PATH; it builds {venv}")
    with held(venv.with_name(venv.name + ".lock"), INSTALL_TIMEOUT, RuntimeError):
        if _healthy(venv):
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True, env=env, timeout=120)
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
             "--exclude-newer", EXCLUDE_NEWER, *REQUIREMENTS],
            check=True, env=env, timeout=INSTALL_TIMEOUT,
        )  # fmt: skip
        (venv / MARKER).write_text(json.dumps(_marker()))
    return venv


@dataclass
class Run:
    command: str
    code: int
    output: str


@dataclass
class Magnum2015:
    """``magnum <args>`` of python-magnumclient 1.1.0 as one Keystone user; every run is recorded."""

    venv: Path
    auth: Sequence[str]
    runs: list[Run] = field(default_factory=list)

    def __call__(self, *args: str) -> Run:
        command = [str(self.venv / "bin" / "python"), str(WRAPPER), *self.auth, *args]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "VIRTUAL_ENV"))}
        result = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, env=env)
        run = Run(f"magnum {shlex.join(args)}", result.returncode, (result.stdout + result.stderr).rstrip())
        self.runs.append(run)
        print(f"$ {run.command}\n  exit {run.code}\n    " + run.output.replace("\n", "\n    "), flush=True)
        return run

    def transcript(self) -> str:
        return "\n".join(f"$ {r.command}\n(exit {r.code})\n{r.output}\n" for r in self.runs)
