"""Virtual environments of heavy OpenStack tools the suite drives (tempest, Heat, Horizon).

Each lives in ``<repo>/.cache/<name>-venv``, is built once with ``uv`` from PyPI (its pins never
touch the project's lock), byte-compiled, and reused while its marker (requirements, upload-date
bound, Python version) matches. A file lock beside it serialises concurrent builders (pytest
processes of several worktrees share ``.cache``). Unpinned transitive dependencies are resolved as
PyPI stood on ``EXCLUDE_NEWER``, so a venv built later is the one tested.

``python -m tests.support.venvs NAME...`` builds them ahead of a run and prints how long each took.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support.file_lock import held

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache"
EXCLUDE_NEWER = "2026-11-21T00:00:00Z"
INSTALL_TIMEOUT = 1200.0

_MARKER_NAME = "jeroboam-venv.json"  # written once the install succeeded
_OWNER_NAME = "jeroboam-venv.owner"  # written first: this module may delete the directory


class VenvError(RuntimeError):
    """A tool's virtualenv could not be built."""


@dataclass(frozen=True)
class VenvSpec:
    """What one tool's virtualenv holds; ``check`` names distributions whose version must match."""

    name: str
    requirements: tuple[str, ...]
    check: Mapping[str, str]
    post_install: Callable[[Path], None] | None = None  # runs in the new venv before it is marked built

    @property
    def path(self) -> Path:
        override = os.environ.get(f"JEROBOAM_{self.name.upper()}_VENV")
        return Path(override) if override else CACHE_DIR / f"{self.name}-venv"

    def marker(self) -> dict[str, object]:
        return {
            "requirements": list(self.requirements),
            "exclude_newer": EXCLUDE_NEWER,
            "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        }


TEMPEST = VenvSpec(
    "tempest",
    ("tempest==47.0.0", "magnum-tempest-plugin==2.12.0"),
    {"tempest": "47.0.0", "magnum-tempest-plugin": "2.12.0"},
)
# PyMySQL: Heat's database is MariaDB. On SQLite (no foreign keys enforced) Heat's clean-up after
# a stack update deletes property data its resources still point at, and the next show is a 404.
HEAT = VenvSpec(
    "heat",
    ("openstack-heat==27.0.1", "python-heatclient==5.3.0", "python-openstackclient==10.5.0", "PyMySQL==1.2.4"),
    {"openstack-heat": "27.0.1", "python-heatclient": "5.3.0"},
)


def _site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def _enable_magnum_ui(venv: Path) -> None:
    """Install magnum-ui's panels into Horizon, as its install guide says (copy the 'enabled' files)."""
    site = _site_packages(venv)
    for source in sorted((site / "magnum_ui" / "enabled").glob("_*.py")):
        shutil.copy(source, site / "openstack_dashboard" / "local" / "enabled" / source.name)


# magnum-ui 19 passes an argument python-magnumclient 5.0 no longer takes: 4.11 it is. Horizon 27
# lists availability zones through openstacksdk, whose records have no "zoneName", so magnum-ui
# 19's required zone field of the cluster form stays empty: Horizon 26 (novaclient) it is.
HORIZON = VenvSpec(
    "horizon",
    ("horizon==26.0.0", "magnum-ui==19.0.0", "python-magnumclient==4.11.0"),
    {"horizon": "26.0.0", "magnum-ui": "19.0.0", "python-magnumclient": "4.11.0"},
    _enable_magnum_ui,
)
SPECS = {spec.name: spec for spec in (TEMPEST, HEAT, HORIZON)}


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a tool's processes: no trace of the project's venv."""
    dropped = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"}
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith(("OS_", "JEROBOAM_"))}
    env["PYTHONWARNINGS"] = "ignore"
    env.update(extra or {})
    return env


def _healthy(spec: VenvSpec, venv: Path) -> bool:
    try:
        if json.loads((venv / _MARKER_NAME).read_text()) != spec.marker():
            return False
    except (OSError, ValueError):
        return False
    probe = "import importlib.metadata as m, json, sys; print(json.dumps({d: m.version(d) for d in sys.argv[1:]}))"
    try:
        found = subprocess.run(
            [str(venv / "bin" / "python"), "-c", probe, *spec.check],
            capture_output=True,
            text=True,
            timeout=60,
            env=child_env(),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return found.returncode == 0 and json.loads(found.stdout) == dict(spec.check)


def _run(command: list[str], log_path: Path, timeout: float) -> None:
    with log_path.open("a") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        try:
            result = subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, env=child_env(), check=False
            )
        except subprocess.TimeoutExpired:
            raise VenvError(f"{command[:3]} did not finish within {timeout:.0f} s; see {log_path}") from None
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise VenvError(f"{' '.join(command[:4])} failed (exit {result.returncode}); last lines of {log_path}:\n{tail}")


def _uv() -> str:
    # scripts/bootstrap installs uv into the project's venv, which is not on PATH under scripts/test.
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    if found is None:
        raise VenvError(f"'uv' is neither beside {sys.executable} nor on PATH; it builds the tools' venvs")
    return found


def ensure_venv(spec: VenvSpec, *, timeout: float = INSTALL_TIMEOUT) -> Path:
    """Return the virtualenv of ``spec``, building it when missing or stale."""
    venv = spec.path.absolute()
    if _healthy(spec, venv):
        return venv
    uv = _uv()
    with held(venv.with_name(venv.name + ".lock"), timeout, VenvError):
        if _healthy(spec, venv):  # built by whoever held the lock
            return venv
        log_path = venv.with_name(venv.name + ".install.log")
        log_path.write_text("")
        if venv.exists():
            if any(venv.iterdir()) and not (venv / _OWNER_NAME).exists():
                raise VenvError(f"{venv} exists but was not made by tests/support/venvs.py; remove it")
            shutil.rmtree(venv)
        deadline = time.monotonic() + timeout
        base_python = getattr(sys, "_base_executable", None) or sys.executable
        _run([uv, "venv", "--quiet", "--python", base_python, str(venv)], log_path, timeout)
        (venv / _OWNER_NAME).write_text("made by tests/support/venvs.py; safe to delete\n")
        install = [uv, "pip", "install", "--python", str(venv / "bin" / "python"), "--compile-bytecode"]
        install += ["--exclude-newer", EXCLUDE_NEWER, *spec.requirements]
        _run(install, log_path, max(1.0, deadline - time.monotonic()))
        if spec.post_install is not None:
            spec.post_install(venv)
        (venv / _MARKER_NAME).write_text(json.dumps(spec.marker(), indent=2) + "\n")
        if not _healthy(spec, venv):
            raise VenvError(f"{spec.requirements} were installed in {venv} but the versions differ; see {log_path}")
    return venv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.venvs", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"one of {', '.join(SPECS)} (default: all)")
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(SPECS)
    if unknown:
        parser.error(f"unknown venv(s): {', '.join(sorted(unknown))}")
    for name in args.names or list(SPECS):
        started = time.monotonic()
        path = ensure_venv(SPECS[name])
        print(json.dumps({"venv": name, "path": str(path), "seconds": round(time.monotonic() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
