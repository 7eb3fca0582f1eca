"""/v1/stats over HTTP (reference §3.7), compared with upstream's wire samples."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from jeroboam.db.models import Cluster, NodeGroup
from tests.conftest import Api, RunningServer
from tests.support.identities import ALPHA_MEMBER, ALPHA_READER, BETA_MEMBER, Identity


def error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["errors"][0]
    return body


def add_cluster(server: RunningServer, project_id: str, node_counts: tuple[int, ...]) -> str:
    """A cluster row with one nodegroup per count (the first one the masters)."""
    cluster_uuid = str(uuid.uuid4())
    with server.services.db.transaction() as session:
        session.add(
            Cluster(
                uuid=cluster_uuid,
                name=f"c-{cluster_uuid[:8]}",
                project_id=project_id,
                user_id="someone",
                cluster_template_id=str(uuid.uuid4()),
                status="CREATE_COMPLETE",
            )
        )
        session.flush()
        for index, count in enumerate(node_counts):
            session.add(
                NodeGroup(
                    uuid=str(uuid.uuid4()),
                    name="default-master" if index == 0 else f"worker-{index}",
                    cluster_id=cluster_uuid,
                    project_id=project_id,
                    node_count=count,
                    role="master" if index == 0 else "worker",
                    is_default=index < 2,
                )
            )
    return cluster_uuid


@pytest.fixture
def clusters(server: RunningServer) -> None:
    # alpha: 2 clusters, 1+3 and 3+2+4 nodes; beta: 1 cluster of 1+1; gamma: one without nodegroups.
    add_cluster(server, "alpha", (1, 3))
    add_cluster(server, "alpha", (3, 2, 4))
    add_cluster(server, "beta", (1, 1))
    add_cluster(server, "gamma", ())


def test_empty_cloud(api: Api) -> None:
    response = api.get("/v1/stats")
    assert response.status_code == 200
    assert response.json() == {"clusters": 0, "nodes": 0}


@pytest.mark.usefixtures("clusters")
def test_member_sees_own_project_and_nodes_include_masters(api: Api) -> None:
    for identity in (ALPHA_MEMBER, ALPHA_READER):
        response = api.as_(identity).get("/v1/stats")
        assert response.status_code == 200
        assert response.json() == {"clusters": 2, "nodes": 13}
    assert api.as_(ALPHA_MEMBER).get("/v1/stats?project_id=alpha").json() == {"clusters": 2, "nodes": 13}
    assert api.as_(BETA_MEMBER).get("/v1/stats?type=cluster").json() == {"clusters": 1, "nodes": 2}
    # Stats are not gated by microversion (sample "stats 1.1").
    assert api.as_(BETA_MEMBER, "1.1").get("/v1/stats").json() == {"clusters": 1, "nodes": 2}


@pytest.mark.usefixtures("clusters")
def test_member_asking_for_another_project_is_refused(api: Api) -> None:
    response = api.as_(ALPHA_MEMBER).get("/v1/stats?project_id=beta")
    # Sample "GET stats other project".
    assert response.status_code == 403
    assert error(response) == {
        "request_id": "",
        "code": "client",
        "status": 403,
        "title": "Not authorized",
        "detail": "Not authorized.",
        "links": [],
    }


@pytest.mark.usefixtures("clusters")
def test_admin_sees_every_project_or_one(api: Api) -> None:
    assert api.get("/v1/stats").json() == {"clusters": 4, "nodes": 15}
    assert api.get("/v1/stats?project_id=beta").json() == {"clusters": 1, "nodes": 2}
    assert api.get("/v1/stats?project_id=gamma").json() == {"clusters": 1, "nodes": 0}
    assert api.get("/v1/stats?project_id=nobody").json() == {"clusters": 0, "nodes": 0}


def test_type_must_be_cluster(api: Api) -> None:
    response = api.get("/v1/stats?type=node")
    # Sample "stats bad type".
    assert response.status_code == 400
    assert error(response)["title"] == "Invalid stats type"
    assert error(response)["detail"] == "Invalid stats type. Allowed values are 'cluster'"
    assert api.get("/v1/stats?type=Cluster").status_code == 200


def test_unknown_argument(api: Api) -> None:
    response = api.get("/v1/stats?limit=1")
    assert response.status_code == 400
    assert error(response)["detail"] == 'Unknown argument: "limit"'


def test_role_is_needed(api: Api) -> None:
    nobody = Identity("no-role", "alpha", "nora", ())
    response = api.as_(nobody).get("/v1/stats")
    assert response.status_code == 403
    assert error(response)["detail"] == "Policy doesn't allow stats:get_all to be performed."
