"""``scripts/ensure-docker`` checks the node image's packages even when an engine already answers: a
host that runs Docker but lacks busybox-static once failed its first cluster in phase infrastructure.

The host's programs are stood in for by a directory of empty executables (``JEROBOAM_HOST_BIN_DIRS``)
that lacks busybox, and ``apt-get`` by a script that records its arguments (``JEROBOAM_APT_GET``).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import docker

from jeroboam.drivers.docker.image import HOST_PROGRAMS

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-docker"


def script_programs() -> list[tuple[str, str]]:
    block = re.search(r"PROGRAMS=\((.*?)\)", SCRIPT.read_text(), re.S)
    assert block is not None
    return [tuple(item.split(":", 1)) for item in block.group(1).split()]  # type: ignore[misc]


def test_the_script_checks_every_program_of_the_images() -> None:
    assert script_programs() == [(p.name, p.package) for p in HOST_PROGRAMS]


def run(tmp_path: Path, absent: set[str]) -> tuple[str, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, _ in script_programs():
        if name not in absent:
            (bin_dir / name).write_text("")
            (bin_dir / name).chmod(0o755)
    calls = tmp_path / "apt-calls"
    apt = tmp_path / "apt-get"
    apt.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    apt.chmod(0o755)
    env = {**os.environ, "JEROBOAM_HOST_BIN_DIRS": str(bin_dir), "JEROBOAM_APT_GET": str(apt)}
    done = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=True)
    recorded = calls.read_text().splitlines() if calls.exists() else []
    return done.stdout + done.stderr, recorded


def test_missing_packages_are_found_while_an_engine_answers(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    output, apt_calls = run(tmp_path, {"busybox", "ip"})
    if os.geteuid() == 0:
        assert apt_calls == ["update -qq", "install -y -qq iproute2 busybox-static"]
        assert (
            output == "ensure-docker: installed iproute2 busybox-static with apt-get: the images are built from them\n"
        )
    else:
        assert apt_calls == []
        assert output.startswith("ensure-docker: the images need iproute2 busybox-static: install them")
    assert len(output.splitlines()) == 1


def test_nothing_missing_is_said_in_one_line(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    output, apt_calls = run(tmp_path, set())
    assert apt_calls == []
    assert output == (
        "ensure-docker: a Docker engine answers at /var/run/docker.sock; the images' packages are installed\n"
    )
