"""One request must not take the service down: a create or resize that cannot fit is refused before
anything is written, with the limit in the message (the cluster subnet, the engine's capacity by
flavor and what is already placed), and the project's node quota holds.

The API runs in process over real HTTP against the host's Docker engine (read only: ``info`` and a
container listing); no conductor runs, so nothing is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from jeroboam.api.app import create_app
from jeroboam.db import migrate
from jeroboam.services.wiring import Services
from tests.conftest import make_settings
from tests.support.server import serve

HEADERS = {
    "X-Project-Id": "capacity",
    "X-User-Id": "someone",
    "X-Roles": "member,reader",
    "OpenStack-API-Version": "container-infra latest",
}
TEMPLATE = {
    "name": "swarm",
    "coe": "swarm-mode",
    "image_id": "jeroboam-node",
    "external_network_id": "public",
    "flavor_id": "m1.small",
    "master_flavor_id": "m1.small",
}
NODE_QUOTA = 4


def api_with(tmp_path: Path, **overrides: Any) -> Iterator[httpx.Client]:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", **overrides)
    services = Services.build(settings)
    migrate.upgrade(services.db.engine)
    try:
        with serve(create_app(settings, services)) as base, httpx.Client(base_url=base, headers=HEADERS) as client:
            assert client.post("/v1/clustertemplates", json=TEMPLATE).status_code == 201
            yield client
    finally:
        services.db.dispose()


@pytest.fixture
def api(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[httpx.Client]:
    yield from api_with(tmp_path, quotas={"max_nodes_per_project": NODE_QUOTA, "max_clusters_per_project": 50})


@pytest.fixture
def small_engine(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[httpx.Client]:
    # 0.25 vCPU per CPU: an engine of N CPUs hosts N/4 vCPUs of flavors.
    yield from api_with(tmp_path, docker={"cpu_allocation_ratio": 0.25})


def detail(response: httpx.Response) -> str:
    text: str = response.json()["errors"][0]["detail"]
    return text


def create(api: httpx.Client, node_count: int, name: str = "c") -> httpx.Response:
    return api.post("/v1/clusters", json={"cluster_template_id": "swarm", "node_count": node_count, "name": name})


def test_more_workers_than_a_cluster_subnet_holds_are_refused(api: httpx.Client) -> None:
    for count in (500, 5000):
        refused = create(api, count)
        assert refused.status_code == 400, refused.text
        assert detail(refused) == (
            "A cluster holds at most 127 worker nodes (its /24 subnet, [docker] subnet_prefix); "
            f"{count} were asked for."
        )
    assert api.get("/v1/clusters").json()["clusters"] == []


def test_more_than_the_engine_hosts_is_refused_with_its_capacity(
    small_engine: httpx.Client, docker_client: docker.DockerClient
) -> None:
    cpus = docker_client.info()["NCPU"]
    refused = create(small_engine, cpus)  # 1 + cpus nodes of 1 vCPU, on cpus / 4 vCPUs
    assert refused.status_code == 400, refused.text
    message = detail(refused)
    assert message.startswith(f"Not enough room for {cpus + 1} more nodes ({cpus + 1:g} vCPUs, ")
    assert f"it hosts {cpus * 0.25:g} vCPUs ({cpus:g} CPUs x [docker] cpu_allocation_ratio 0.25)" in message
    assert message.endswith("are placed; ask for fewer or smaller nodes.")
    assert small_engine.get("/v1/clusters").json()["clusters"] == []


def test_the_node_quota_of_a_project(api: httpx.Client) -> None:
    first = create(api, NODE_QUOTA - 1, "first")  # a master and NODE_QUOTA - 1 workers: the quota
    assert first.status_code == 202, first.text
    quota = (
        f"Quota exceeded: project capacity has {NODE_QUOTA} nodes and asked for 2 more, above its limit of "
        f"{NODE_QUOTA} nodes ([quotas] max_nodes_per_project)."
    )
    second = create(api, 1, "second")
    assert second.status_code == 403
    assert detail(second) == quota
    grow = api.post(f"/v1/clusters/{first.json()['uuid']}/actions/resize", json={"node_count": NODE_QUOTA + 1})
    assert grow.status_code == 403
    assert detail(grow) == quota
    shrink = api.post(f"/v1/clusters/{first.json()['uuid']}/actions/resize", json={"node_count": 1})
    assert shrink.status_code != 403, shrink.text  # shrinking is never a quota refusal
