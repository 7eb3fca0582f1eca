"""/v1/clusters/{cluster}/nodegroups over real HTTP (reference §3.3), compared with Magnum's wire
captures: status codes, messages and representation keys."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from jeroboam.db.models import Cluster, NodeGroup
from tests.conftest import Api, RunningServer
from tests.integration.test_clusters import arrange, detail, make_cluster, make_template, nodegroups, operations
from tests.support.identities import ALPHA_MEMBER, ALPHA_READER, BETA_MEMBER

SUMMARY_KEYS = [
    "uuid", "name", "flavor_id", "image_id", "node_count", "role", "min_node_count", "max_node_count",
    "is_default", "stack_id", "status", "merge_labels",
]  # fmt: skip
DETAIL_KEYS = [
    "id", "uuid", "name", "cluster_id", "project_id", "docker_volume_size", "labels", "links", "flavor_id",
    "image_id", "node_addresses", "node_count", "role", "min_node_count", "max_node_count", "is_default",
    "stack_id", "status", "status_reason", "version", "merge_labels", "labels_overridden", "labels_added",
    "labels_skipped", "node_labels", "node_taints", "created_at", "updated_at",
]  # fmt: skip
ACCEPTED_KEYS = [
    "uuid", "name", "cluster_id", "project_id", "labels", "links", "flavor_id", "image_id", "node_count", "role",
    "min_node_count", "max_node_count", "merge_labels", "labels_overridden", "labels_added", "labels_skipped",
    "node_labels", "node_taints",
]  # fmt: skip


@pytest.fixture
def alpha(api: Api) -> Api:
    return api.as_(ALPHA_MEMBER)


@pytest.fixture
def cluster(alpha: Api, server: RunningServer) -> str:
    """A created cluster (its API address is known) with labels and a worker minimum of 1."""
    make_template(alpha)
    uuid = make_cluster(alpha, "tpl", name="cluster1", node_count=3, labels={"a": "2", "x": "y", "min_node_count": "1"})
    arrange(server, uuid, "CREATE_COMPLETE", api_address="tcp://10.0.0.2:2376", stack_id="ref-1")
    return uuid


def url(cluster: str, rest: str = "") -> str:
    return f"/v1/clusters/{cluster}/nodegroups{rest}"


def make_nodegroup(alpha: Api, cluster: str, **body: Any) -> dict[str, Any]:
    response = alpha.post(url(cluster, "/"), json={"name": "ng1", **body})
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    return created


def complete(server: RunningServer, cluster: str) -> None:
    arrange(server, cluster, "UPDATE_COMPLETE")


# -- reads -----------------------------------------------------------------------------------------
def test_nodegroups_need_1_9(alpha: Api, cluster: str) -> None:
    old = alpha.as_(ALPHA_MEMBER, "1.8")
    for response in (
        old.get(url(cluster)),
        old.get(url(cluster, "/default-worker")),
        old.post(url(cluster), json={"name": "x"}),
        old.patch(url(cluster, "/default-worker"), json=[]),
        old.delete(url(cluster, "/default-worker")),
    ):
        assert response.status_code == 406
        assert response.json()["errors"][0]["detail"].startswith("Version 1.8 was requested but the requested API")
    assert alpha.as_(ALPHA_MEMBER, "1.9").get(url(cluster)).status_code == 200


def test_list_shows_summaries_with_magnums_bogus_bounds(alpha: Api, cluster: str) -> None:
    response = alpha.get(url(cluster, "/"))
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["nodegroups"]
    by_name = {ng["name"]: ng for ng in body["nodegroups"]}
    assert set(by_name) == {"default-master", "default-worker"}
    worker = by_name["default-worker"]
    assert list(worker) == SUMMARY_KEYS
    assert (worker["role"], worker["node_count"], worker["is_default"]) == ("worker", 3, True)
    # Magnum always renders these defaults in lists; the real minimum is 1.
    assert (worker["min_node_count"], worker["max_node_count"], worker["merge_labels"]) == (0, None, False)
    assert by_name["default-master"]["role"] == "master"
    assert by_name["default-master"]["flavor_id"] == "m1.medium"


def test_list_by_role_and_pages(alpha: Api, cluster: str) -> None:
    masters = alpha.get(url(cluster, "?role=master")).json()["nodegroups"]
    assert [ng["name"] for ng in masters] == ["default-master"]
    page = alpha.get(url(cluster, "?limit=1&role=worker")).json()
    assert [ng["name"] for ng in page["nodegroups"]] == ["default-worker"]
    marker = page["nodegroups"][0]["uuid"]
    assert page["next"] == (
        f"{alpha.url}/v1/clusters/{cluster}/nodegroups?sort_key=id&sort_dir=asc&limit=1&marker={marker}&role=worker"
    )
    # Markers may be names too.
    rest = alpha.get(url(cluster, "?marker=default-master")).json()["nodegroups"]
    assert [ng["name"] for ng in rest] == ["default-worker"]
    missing = alpha.get(url(cluster, "?marker=nope"))
    assert missing.status_code == 404
    assert detail(missing) == "Nodegroup nope could not be found."


def test_show_has_the_real_values(alpha: Api, cluster: str, server: RunningServer) -> None:
    worker = nodegroups(server, cluster)["default-worker"]
    for ident in ("default-worker", worker.uuid, str(worker.id)):
        response = alpha.get(url(cluster, f"/{ident}"))
        assert response.status_code == 200
        body = response.json()
        assert list(body) == DETAIL_KEYS
    assert body["id"] == worker.id
    assert body["cluster_id"] == cluster
    assert (body["min_node_count"], body["max_node_count"]) == (1, None)
    assert body["labels"] == {"a": "2", "x": "y", "min_node_count": "1"}
    assert (body["labels_overridden"], body["labels_added"], body["labels_skipped"]) == ({}, {}, {})
    assert (body["node_labels"], body["node_taints"], body["status"]) == ({}, [], "CREATE_COMPLETE")
    assert body["links"] == [
        {"href": f"{alpha.url}/v1/clusters/{cluster}/nodegroups/{worker.uuid}", "rel": "self"},
        {"href": f"{alpha.url}/clusters/{cluster}/nodegroups/{worker.uuid}", "rel": "bookmark"},
    ]


def test_detail_is_a_nodegroup_name_not_a_collection(alpha: Api, cluster: str) -> None:
    response = alpha.get(url(cluster, "/detail"))
    assert response.status_code == 404
    assert detail(response) == "Nodegroup detail could not be found."


def test_reads_across_projects(api: Api, cluster: str) -> None:
    beta = api.as_(BETA_MEMBER)
    response = beta.get(url(cluster))
    assert response.status_code == 404
    assert detail(response) == f"Cluster {cluster} could not be found."
    assert beta.get(url(cluster, "/default-worker")).status_code == 404
    # Admins read other projects' nodegroups...
    assert len(api.get(url(cluster)).json()["nodegroups"]) == 2
    assert api.get(url(cluster, "/default-worker")).status_code == 200
    # ...but do not write them.
    assert api.post(url(cluster), json={"name": "x"}).status_code == 404
    assert api.delete(url(cluster, "/default-worker")).status_code == 404
    patch = [{"op": "replace", "path": "/max_node_count", "value": 5}]
    assert api.patch(url(cluster, "/default-worker"), json=patch).status_code == 404


# -- create ----------------------------------------------------------------------------------------
def test_create_answers_202_with_the_requested_nodegroup(alpha: Api, cluster: str, server: RunningServer) -> None:
    body = make_nodegroup(
        alpha,
        cluster,
        node_count=2,
        node_labels={"a": "b"},
        node_taints=[{"key": "k", "effect": "NoSchedule"}],
    )
    assert list(body) == ACCEPTED_KEYS
    assert (body["name"], body["cluster_id"], body["project_id"]) == ("ng1", cluster, "alpha")
    assert (body["node_count"], body["role"], body["min_node_count"], body["max_node_count"]) == (2, "worker", 0, None)
    assert body["labels"] == {"a": "2", "x": "y", "min_node_count": "1"}
    assert (body["labels_overridden"], body["labels_added"], body["labels_skipped"]) == ({}, {}, {})
    assert body["node_labels"] == {"a": "b"}
    assert body["node_taints"] == [{"key": "k", "effect": "NoSchedule"}]
    assert (body["flavor_id"], body["image_id"]) == ("m1.small", "jeroboam-node")

    shown = alpha.get(url(cluster, "/ng1")).json()
    assert (shown["uuid"], shown["status"], shown["is_default"]) == (body["uuid"], "CREATE_IN_PROGRESS", False)
    assert alpha.get(f"/v1/clusters/{cluster}").json()["status"] == "UPDATE_IN_PROGRESS"
    operation = operations(server, cluster)[-1]
    assert (operation.action, operation.nodegroup_id, operation.state) == ("nodegroup_create", body["uuid"], "pending")
    assert alpha.get(f"/v1/clusters/{cluster}").json()["node_count"] == 5


def test_create_with_own_labels_and_options(alpha: Api, cluster: str) -> None:
    body = make_nodegroup(
        alpha,
        cluster,
        labels={"x": "z", "new": 1},
        merge_labels=True,
        flavor_id="m1.tiny",
        min_node_count=1,
        max_node_count=3,
    )
    assert body["labels"] == {"a": "2", "x": "z", "min_node_count": "1", "new": "1"}
    assert (body["labels_overridden"], body["labels_added"]) == ({"x": "y"}, {"new": "1"})
    assert body["flavor_id"] == "m1.tiny"
    assert (body["min_node_count"], body["max_node_count"]) == (1, 3)
    assert list(body) == ACCEPTED_KEYS


def test_docker_volume_size_is_refused_by_the_docker_driver_with_unsized_storage(alpha: Api, cluster: str) -> None:
    response = alpha.post(url(cluster, "/"), json={"name": "ng1", "docker_volume_size": 5})
    assert response.status_code == 400
    assert "docker_volume_size is not supported by the docker driver" in detail(response)


def test_create_needs_the_cluster_api_address(alpha: Api, server: RunningServer) -> None:
    make_template(alpha)
    uuid = make_cluster(alpha, "tpl")
    response = alpha.post(url(uuid), json={"name": "ng1"})
    assert response.status_code == 409
    assert detail(response) == "Cluster API address is not available yet"


def test_create_while_the_cluster_is_busy_is_a_conflict(alpha: Api, cluster: str) -> None:
    make_nodegroup(alpha, cluster)
    response = alpha.post(url(cluster), json={"name": "ng2"})
    assert response.status_code == 409
    assert "UPDATE_IN_PROGRESS" in detail(response)


LABEL_MESSAGE = (
    "node_labels for n is invalid (node label 'kubernetes.io/x' is in a restricted Kubernetes namespace; the "
    "kubelet will refuse to start. Labels in the kubernetes.io/ and k8s.io/ namespaces must use one of the allowed "
    "prefixes (kubelet.kubernetes.io, node.kubernetes.io) or be one of the allowed labels (beta.kubernetes.io/arch, "
    "beta.kubernetes.io/instance-type, beta.kubernetes.io/os, failure-domain.beta.kubernetes.io/region, "
    "failure-domain.beta.kubernetes.io/zone, kubernetes.io/arch, kubernetes.io/hostname, kubernetes.io/os, "
    "node.kubernetes.io/instance-type, node.kubernetes.io/windows-build, topology.kubernetes.io/region, "
    "topology.kubernetes.io/zone).)."
)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"name": "n", "role": "master"}, 400, "Creating master nodegroups is currently not supported."),
        (
            {"name": "default-worker"},
            409,
            "A node group with name default-worker already exists in the cluster cluster1.",
        ),
        (
            {"name": "ng2", "node_count": 2, "min_node_count": 3},
            409,
            "min_node_count for ng2 is invalid (min_node_count (3) should be less or equal to node_count (2)).",
        ),
        (
            {"name": "ng2", "node_count": 4, "max_node_count": 3},
            409,
            "max_node_count for ng2 is invalid (node_count (4) should be less or equal to max_node_count (3)).",
        ),
        (
            {"name": "ng2", "node_count": 1, "min_node_count": 1, "max_node_count": 0},
            409,
            "max_node_count for ng2 is invalid (min_node_count (1) should be less or equal to max_node_count (0)).",
        ),
        (
            {"name": "n", "node_taints": [{"key": "k", "effect": "Bogus"}]},
            409,
            "node_taints for n is invalid (node_taints[0].effect must be one of NoSchedule, PreferNoSchedule, "
            "NoExecute).",
        ),
        (
            {"name": "n", "node_taints": [{"effect": "NoSchedule"}]},
            409,
            "node_taints for n is invalid (node_taints[0].key must be a non-empty string).",
        ),
        (
            {"name": "n", "node_taints": [{"key": "k", "effect": "NoSchedule", "x": 1}]},
            409,
            "node_taints for n is invalid (node_taints[0] has unknown attributes: x).",
        ),
        ({"name": "n", "node_labels": {"kubernetes.io/x": "1"}}, 409, LABEL_MESSAGE),
        ({"name": "n", "foo": 1}, 400, "Unknown attribute for argument nodegroup: foo"),
        ({}, 400, "Invalid input for field/attribute name. Value: 'None'. Mandatory field missing."),
        (
            {"name": "n", "node_count": -1},
            400,
            "Invalid input for field/attribute node_count. Value: '-1'. Value should be greater or equal to 0",
        ),
    ],
)
def test_create_refusals(alpha: Api, cluster: str, body: dict[str, Any], status: int, message: str) -> None:
    response = alpha.post(url(cluster), json=body)
    assert response.status_code == status, response.text
    assert detail(response) == message


@pytest.mark.parametrize(
    "label",
    ["node.kubernetes.io/pool", "kubelet.kubernetes.io/x", "kubernetes.io/arch", "example.com/x", "plain"],
)
def test_allowed_node_labels(alpha: Api, cluster: str, label: str) -> None:
    make_nodegroup(alpha, cluster, node_labels={label: "v"})


def test_create_checks_the_flavor_with_the_driver(alpha: Api, cluster: str) -> None:
    response = alpha.post(url(cluster), json={"name": "n", "flavor_id": "m9.huge"})
    assert response.status_code == 400
    assert detail(response).startswith("Unable to find flavor m9.huge; flavors of")


def test_reader_may_not_create(api: Api, cluster: str) -> None:
    response = api.as_(ALPHA_READER).post(url(cluster), json={"name": "n"})
    assert response.status_code == 403
    assert detail(response) == "Policy doesn't allow nodegroup:create to be performed."


def test_zero_nodes_are_fine_at_1_9(alpha: Api, cluster: str) -> None:
    body = make_nodegroup(alpha.as_(ALPHA_MEMBER, "1.9"), cluster, node_count=0)
    assert body["node_count"] == 0


# -- update ----------------------------------------------------------------------------------------
def test_patch_bounds_labels_and_taints(alpha: Api, cluster: str, server: RunningServer) -> None:
    patch = [
        {"op": "replace", "path": "/max_node_count", "value": 5},
        {"op": "replace", "path": "/min_node_count", "value": 2},
        {"op": "replace", "path": "/node_labels", "value": "{'role': 'db'}"},
        {"op": "replace", "path": "/node_taints", "value": "[{'key': 'k', 'value': 'v', 'effect': 'NoExecute'}]"},
    ]
    response = alpha.patch(url(cluster, "/default-worker"), json=patch)
    assert response.status_code == 202, response.text
    body = response.json()
    assert list(body) == DETAIL_KEYS
    assert (body["min_node_count"], body["max_node_count"]) == (2, 5)
    assert body["node_labels"] == {"role": "db"}
    assert body["node_taints"] == [{"key": "k", "value": "v", "effect": "NoExecute"}]
    assert body["status"] == "UPDATE_IN_PROGRESS"
    operation = operations(server, cluster)[-1]
    assert (operation.action, operation.nodegroup_id) == ("nodegroup_update", body["uuid"])
    assert operation.request["node_labels"] == {"role": "db"}

    complete(server, cluster)
    removed = alpha.patch(
        url(cluster, "/default-worker"),
        json=[{"op": "remove", "path": "/max_node_count"}, {"op": "add", "path": "/node_labels/tier", "value": "1"}],
    )
    assert removed.status_code == 202
    assert removed.json()["max_node_count"] is None
    assert removed.json()["node_labels"] == {"role": "db", "tier": "1"}


@pytest.mark.parametrize(
    ("patch", "status", "message"),
    [
        (
            [{"op": "replace", "path": "/node_count", "value": 5}],
            400,
            "'/node_count' is an internal attribute and can not be updated",
        ),
        (
            [{"op": "replace", "path": "/name", "value": "x"}],
            400,
            "'/name' is an internal attribute and can not be updated",
        ),
        (
            [{"op": "add", "path": "/labels/x", "value": "1"}],
            400,
            "'/labels/x' is an internal attribute and can not be updated",
        ),
        (
            [{"op": "replace", "path": "/min_node_count", "value": 4}],
            409,
            "min_node_count for default-worker is invalid (min_node_count (4) should be less or equal to "
            "node_count (3)).",
        ),
        (
            [{"op": "replace", "path": "/max_node_count", "value": 2}],
            409,
            "max_node_count for default-worker is invalid (node_count (3) should be less or equal to "
            "max_node_count (2)).",
        ),
        (
            [{"op": "replace", "path": "/node_taints", "value": "[{'key': 'k', 'effect': 'Nope'}]"}],
            409,
            "node_taints for default-worker is invalid (node_taints[0].effect must be one of NoSchedule, "
            "PreferNoSchedule, NoExecute).",
        ),
        (
            [{"op": "replace", "path": "/node_labels", "value": "{'a':"}],
            400,
            None,
        ),
    ],
)
def test_patch_refusals(
    alpha: Api, cluster: str, patch: list[dict[str, Any]], status: int, message: str | None
) -> None:
    response = alpha.patch(url(cluster, "/default-worker"), json=patch)
    assert response.status_code == status, response.text
    if message is None:
        assert detail(response).startswith("Couldn't apply patch")
    else:
        assert detail(response) == message


def test_node_labels_are_refused_on_masters(alpha: Api, cluster: str) -> None:
    patch = [{"op": "replace", "path": "/node_labels", "value": "{'a': 'b'}"}]
    response = alpha.patch(url(cluster, "/default-master"), json=patch)
    assert response.status_code == 409
    assert detail(response) == "node_labels for default-master is invalid (not supported on master nodegroups)."


def test_patch_missing_nodegroup(alpha: Api, cluster: str) -> None:
    response = alpha.patch(url(cluster, "/nope"), json=[{"op": "replace", "path": "/max_node_count", "value": 5}])
    assert response.status_code == 404
    assert detail(response) == "Nodegroup nope could not be found."


# -- delete ----------------------------------------------------------------------------------------
def test_default_nodegroups_cannot_be_deleted(alpha: Api, cluster: str) -> None:
    response = alpha.delete(url(cluster, "/default-worker"))
    assert response.status_code == 400
    assert detail(response) == "Deleting a default nodegroup is not supported."


def test_delete_marks_the_nodegroup(alpha: Api, cluster: str, server: RunningServer) -> None:
    created = make_nodegroup(alpha, cluster)
    complete(server, cluster)
    response = alpha.delete(url(cluster, "/ng1"))
    assert response.status_code == 204
    assert response.content == b""
    shown = alpha.get(url(cluster, f"/{created['uuid']}")).json()
    assert shown["status"] == "DELETE_IN_PROGRESS"
    operation = operations(server, cluster)[-1]
    assert (operation.action, operation.nodegroup_id) == ("nodegroup_delete", created["uuid"])
    with server.services.db.transaction() as session:
        row = session.scalars(select(Cluster).where(Cluster.uuid == cluster)).one()
        assert row.status == "UPDATE_IN_PROGRESS"
        assert session.scalars(select(NodeGroup).where(NodeGroup.uuid == created["uuid"])).one().generation == 2


def test_a_nodegroup_being_deleted_takes_no_resize(alpha: Api, cluster: str, server: RunningServer) -> None:
    make_nodegroup(alpha, cluster)
    complete(server, cluster)
    assert alpha.delete(url(cluster, "/ng1")).status_code == 204
    # The cluster is updating: a resize would be accepted, but not of the nodegroup going away.
    response = alpha.post(f"/v1/clusters/{cluster}/actions/resize", json={"node_count": 2, "nodegroup": "ng1"})
    assert response.status_code == 409
    assert detail(response) == "Nodegroup ng1 is being deleted."
    assert alpha.post(f"/v1/clusters/{cluster}/actions/resize", json={"node_count": 2}).status_code == 202
