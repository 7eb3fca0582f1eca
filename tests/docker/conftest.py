"""The Docker engine these tests use: the host's, on its unix socket. Without one they skip, saying how
to get one (``scripts/ensure-docker`` installs and starts it as root)."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import docker.errors
import pytest
import requests

ENGINE = "unix:///var/run/docker.sock"
API_VERSION = "1.41"  # Debian 12's docker.io 20.10; fixed, so the constructor makes no request


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=ENGINE, version=API_VERSION, timeout=120)
    client.api.trust_env = False  # the machine's REQUESTS_CA_BUNDLE and proxies are not for the engine
    try:
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        client.close()
        pytest.skip(
            f"no Docker engine answers at {ENGINE} ({type(exc).__name__}); "
            "scripts/ensure-docker installs and starts one as root"
        )
    yield client
    client.close()
