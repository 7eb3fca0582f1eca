"""The other requests Horizon's magnum-ui and Heat send, beyond creates (issue 11, item 4): each
answered as upstream answers it (never a 4xx upstream does not give, never a 5xx)."""

from __future__ import annotations

import pytest

from tests.conftest import Api, RunningServer
from tests.integration.test_clusters import arrange, make_cluster, make_template
from tests.support.identities import ALPHA_MEMBER


@pytest.fixture
def alpha(api: Api) -> Api:
    return api.as_(ALPHA_MEMBER, "1.13")  # magnum-ui 19's microversion


@pytest.fixture
def cluster(alpha: Api, server: RunningServer) -> str:
    uuid = make_cluster(alpha, make_template(alpha), node_count=1)
    arrange(server, uuid, "CREATE_COMPLETE", api_address="tcp://10.0.0.2:2376")
    return uuid


def test_horizon_update_with_rollback_and_a_string_count(alpha: Api, cluster: str) -> None:
    patch = [{"op": "replace", "path": "/node_count", "value": "2"}]
    response = alpha.patch(f"/v1/clusters/{cluster}/?rollback=True", json=patch)
    assert response.status_code == 202, response.text
    assert alpha.get(f"/v1/clusters/{cluster}").json()["node_count"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"node_count": 2, "nodegroup": "default-worker"},
        {"node_count": "2", "nodes_to_remove": [], "nodegroup": "default-worker"},
        {"node_count": 2, "nodes_to_remove": None},  # openstacksdk
    ],
)
def test_horizon_resize(alpha: Api, cluster: str, body: dict[str, object]) -> None:
    response = alpha.post(f"/v1/clusters/{cluster}/actions/resize", json=body)
    assert response.status_code == 202, response.text
    assert response.json() == {"uuid": cluster}


def test_horizon_upgrade(alpha: Api, cluster: str) -> None:
    newer = make_template(alpha, name="newer")
    body = {"cluster_template": newer, "max_batch_size": 1, "nodegroup": None}
    response = alpha.post(f"/v1/clusters/{cluster}/actions/upgrade", json=body)
    assert response.status_code == 202, response.text


def test_horizon_quota_create_and_update(api: Api) -> None:
    # Horizon's create sends every value through str(); its update sends the loaded quota back.
    created = api.post("/v1/quotas", json={"project_id": "beta", "resource": "Cluster", "hard_limit": "10"})
    assert created.status_code == 201, created.text
    quota = created.json()
    assert quota["hard_limit"] == 10
    updated = api.patch("/v1/quotas/beta/Cluster", json={"id": quota["id"], "hard_limit": 5})
    assert updated.status_code == 202, updated.text
    assert updated.json()["hard_limit"] == 5
    assert api.get("/v1/quotas?all_tenants=True").status_code == 200


def test_heat_template_update_of_public_and_delete(api: Api) -> None:
    heat = api.as_(ALPHA_MEMBER, None)  # no microversion header
    template = make_template(heat, name="heat-tpl")
    response = heat.patch(
        f"/v1/clustertemplates/{template}", json=[{"op": "replace", "path": "/public", "value": False}]
    )
    assert response.status_code == 200, response.text
    assert heat.delete(f"/v1/clustertemplates/{template}").status_code == 204


def test_heat_cluster_delete(alpha: Api, cluster: str) -> None:
    heat = Api(alpha.url, ALPHA_MEMBER, None)
    assert heat.delete(f"/v1/clusters/{cluster}").status_code == 204
    assert heat.get(f"/v1/clusters/{cluster}").json()["status"] == "DELETE_IN_PROGRESS"
