"""Every installed driver, each built as the registry builds it: the driver contract suite runs
against all of them. ``sim`` always; ``docker`` against the host's engine (without one its cases
skip, saying how to get one, as ``tests/docker`` does)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
import requests

from jeroboam.config import DockerDriverSettings, Settings
from jeroboam.drivers.base import ClusterDriver
from jeroboam.drivers.docker.driver import DockerDriver
from jeroboam.drivers.sim import SimDriver

ENGINE = "unix:///var/run/docker.sock"


def _engine_answers() -> str | None:
    """None when the Docker engine answers, else why not."""
    client = docker.DockerClient(base_url=ENGINE, version="1.41", timeout=10)
    client.api.trust_env = False
    try:
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        return f"no Docker engine answers at {ENGINE} ({type(exc).__name__}); scripts/ensure-docker starts one"
    finally:
        client.close()
    return None


@pytest.fixture(params=["sim", pytest.param("docker", marks=pytest.mark.docker)])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ClusterDriver]:
    if request.param == "sim":
        sim = SimDriver(Settings(data_dir=tmp_path))
        yield sim
        sim.close()
        return
    missing = _engine_answers()
    if missing:
        pytest.skip(missing)
    # The engine is shared with other test runs: these clusters may sit next to other projects'.
    yield DockerDriver(Settings(data_dir=tmp_path, docker=DockerDriverSettings(allow_project_mixing=True)))
