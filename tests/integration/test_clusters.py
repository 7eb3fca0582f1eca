"""/v1/clusters and /v1/bays over real HTTP (reference §3.2, §3.10), compared with Magnum's wire
captures: status codes, messages and representation keys."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from jeroboam.db.models import Cluster, ClusterTemplate, NodeGroup, Operation, Quota
from jeroboam.services.announcer import Announcer
from tests.conftest import Api, RunningServer
from tests.support.errors import first_sentence
from tests.support.identities import ALPHA_MEMBER, ALPHA_MEMBER2, ALPHA_READER, BETA_MEMBER, Identity

SUMMARY_KEYS = {
    "uuid", "name", "cluster_template_id", "keypair", "node_count", "master_count", "docker_volume_size",
    "labels", "master_flavor_id", "flavor_id", "create_timeout", "links", "status", "health_status",
    "merge_labels",
}  # fmt: skip
DETAIL_KEYS = SUMMARY_KEYS | {
    "status_reason", "health_status_reason", "discovery_url", "api_address", "coe_version",
    "container_version", "project_id", "user_id", "node_addresses", "master_addresses", "fixed_network",
    "fixed_subnet", "floating_ip_enabled", "master_lb_enabled", "labels_overridden", "labels_added",
    "labels_skipped", "created_at", "updated_at",
}  # fmt: skip


# -- helpers ---------------------------------------------------------------------------------------
def detail(response: httpx.Response) -> str:
    body = response.json()
    error = body["errors"][0]
    assert error["title"] == first_sentence(error["detail"])
    assert error["code"] == ("client" if response.status_code < 500 else "")
    detail_text: str = error["detail"]
    return detail_text


def make_template(api: Api, name: str = "tpl", **overrides: Any) -> str:
    body = {
        "name": name,
        "coe": "swarm-mode",
        "image_id": "jeroboam-node",
        "external_network_id": "public",
        "flavor_id": "m1.small",
        "master_flavor_id": "m1.medium",
        "labels": {"a": "1", "boot_volume_size": "10"},
        **overrides,
    }
    response = api.post("/v1/clustertemplates", json=body)
    assert response.status_code == 201, response.text
    uuid: str = response.json()["uuid"]
    return uuid


def make_cluster(api: Api, template: str, **overrides: Any) -> str:
    response = api.post("/v1/clusters", json={"cluster_template_id": template, **overrides})
    assert response.status_code == 202, response.text
    uuid: str = response.json()["uuid"]
    return uuid


def arrange(server: RunningServer, uuid: str, status: str, **columns: Any) -> None:
    """Put a cluster and its nodegroups in ``status`` as a conductor would (no conductor runs here)."""
    with server.services.db.transaction() as session:
        cluster = session.scalars(select(Cluster).where(Cluster.uuid == uuid)).one()
        cluster.status = status
        for name, value in columns.items():
            setattr(cluster, name, value)
        for nodegroup in session.scalars(select(NodeGroup).where(NodeGroup.cluster_id == uuid)):
            nodegroup.status = status


def operations(server: RunningServer, uuid: str) -> list[Operation]:
    with server.services.db.transaction() as session:
        return list(session.scalars(select(Operation).where(Operation.cluster_id == uuid).order_by(Operation.id)))


def nodegroups(server: RunningServer, uuid: str) -> dict[str, NodeGroup]:
    with server.services.db.transaction() as session:
        rows = session.scalars(select(NodeGroup).where(NodeGroup.cluster_id == uuid))
        return {ng.name: ng for ng in rows}


@pytest.fixture
def alpha(api: Api) -> Api:
    return api.as_(ALPHA_MEMBER)


@pytest.fixture
def template(alpha: Api) -> str:
    return make_template(alpha)


# -- create ----------------------------------------------------------------------------------------
def test_create_answers_202_with_only_the_uuid_and_the_cluster_is_there_at_once(
    alpha: Api, template: str, server: RunningServer
) -> None:
    response = alpha.post("/v1/clusters", json={"cluster_template_id": "tpl", "name": "c1", "node_count": 2})
    assert response.status_code == 202
    assert list(response.json()) == ["uuid"]
    uuid = response.json()["uuid"]

    shown = alpha.get(f"/v1/clusters/{uuid}")
    assert shown.status_code == 200
    body = shown.json()
    assert body["status"] == "CREATE_IN_PROGRESS"
    assert body["cluster_template_id"] == template
    assert (body["node_count"], body["master_count"]) == (2, 1)
    assert (body["project_id"], body["user_id"]) == ("alpha", "alice")
    assert body["flavor_id"] == "m1.small"
    assert body["master_flavor_id"] == "m1.medium"
    assert body["create_timeout"] == 60
    assert body["labels"] == {"a": "1", "boot_volume_size": "10"}
    assert "faults" not in body

    [operation] = operations(server, uuid)
    assert (operation.action, operation.state, operation.generation) == ("create", "pending", 1)
    assert operation.request["cluster_template_id"] == template
    assert (operation.project_id, operation.user_id) == ("alpha", "alice")

    groups = nodegroups(server, uuid)
    assert set(groups) == {"default-master", "default-worker"}
    master, worker = groups["default-master"], groups["default-worker"]
    assert (master.role, master.node_count, master.flavor_id, master.is_default) == ("master", 1, "m1.medium", True)
    assert (worker.role, worker.node_count, worker.flavor_id, worker.is_default) == ("worker", 2, "m1.small", True)
    assert master.image_id == worker.image_id == "jeroboam-node"
    assert master.status == worker.status == "CREATE_IN_PROGRESS"
    assert worker.labels == {"a": "1", "boot_volume_size": "10"}


def test_create_defaults_and_generated_name(alpha: Api, template: str) -> None:
    uuid = make_cluster(alpha, template, name=None, create_timeout=None, keypair=None, discovery_url=None)
    body = alpha.get(f"/v1/clusters/{uuid}").json()
    _, number, suffix = body["name"].split("-")
    assert suffix == "cluster"
    assert 1 <= int(number) <= 24
    assert (body["node_count"], body["master_count"], body["create_timeout"]) == (1, 1, 60)
    assert body["floating_ip_enabled"] is True
    assert body["master_lb_enabled"] is False


def test_labels_copy_merge_or_replace_the_templates(alpha: Api, template: str) -> None:
    merged = make_cluster(alpha, "tpl", labels={"a": 2, "x": "y"}, merge_labels=True)
    body = alpha.get(f"/v1/clusters/{merged}").json()
    assert body["labels"] == {"a": "2", "boot_volume_size": "10", "x": "y"}
    assert body["labels_overridden"] == {"a": "1"}
    assert body["labels_added"] == {"x": "y"}
    assert body["labels_skipped"] == {}
    assert body["merge_labels"] is False

    replaced = make_cluster(alpha, "tpl", labels={"a": "2", "x": "y"})
    body = alpha.get(f"/v1/clusters/{replaced}").json()
    assert body["labels"] == {"a": "2", "x": "y"}
    assert (body["labels_overridden"], body["labels_added"], body["labels_skipped"]) == (
        {"a": "1"},
        {"x": "y"},
        {"boot_volume_size": "10"},
    )


def test_min_node_count_label_sets_the_default_worker_minimum(alpha: Api, template: str, server: RunningServer) -> None:
    uuid = make_cluster(alpha, template, node_count=3, labels={"min_node_count": "2"})
    assert nodegroups(server, uuid)["default-worker"].min_node_count == 2
    bad = alpha.post("/v1/clusters", json={"cluster_template_id": template, "labels": {"min_node_count": "x"}})
    assert bad.status_code == 400
    assert "min_node_count must be a non-negative integer" in detail(bad)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"cluster_template_id": "tpl", "foo": 1}, 400, "Unknown attribute for argument cluster: foo"),
        ({}, 400, "Invalid input for field/attribute cluster_template_id. Value: 'None'. Mandatory field missing."),
        (
            {"cluster_template_id": "tpl", "name": "1bad"},
            400,
            "Invalid input for field/attribute name. Value: '1bad'. Value should match the pattern "
            "^[a-zA-Z][a-zA-Z0-9_.-]*$",
        ),
        (
            {"cluster_template_id": "tpl", "name": ""},
            400,
            "Invalid input for field/attribute name. Value: ''. Value should have a minimum character requirement of 1",
        ),
        (
            {"cluster_template_id": "tpl", "api_address": "x"},
            400,
            "Invalid input for field/attribute api_address. Value: 'x'. Cannot set read only field.",
        ),
        (
            {"cluster_template_id": "tpl", "master_count": 2},
            400,
            "master nodegroup size of 2 is invalid, size cannot be an even number.",
        ),
        (
            {"cluster_template_id": "tpl", "master_count": 3},
            400,
            "master_count must be 1 when master_lb_enabled is False",
        ),
        ({"cluster_template_id": "nope"}, 404, "ClusterTemplate nope could not be found."),
        (
            {"cluster_template_id": "tpl", "node_count": -1},
            400,
            "Invalid input for field/attribute node_count. Value: '-1'. Value should be greater or equal to 0",
        ),
    ],
)
def test_create_validation(alpha: Api, template: str, body: dict[str, Any], status: int, message: str) -> None:
    response = alpha.post("/v1/clusters", json=body)
    assert response.status_code == status, response.text
    assert detail(response) == message


def test_flavor_override_is_checked_by_the_driver(alpha: Api, template: str) -> None:
    response = alpha.post("/v1/clusters", json={"cluster_template_id": template, "flavor_id": "m9.huge"})
    assert response.status_code == 400
    assert detail(response).startswith("Unable to find flavor m9.huge; flavors of the docker driver:")


def test_master_count_three_with_a_load_balancer(alpha: Api, template: str) -> None:
    uuid = make_cluster(alpha, template, master_count=3, master_lb_enabled=True)
    assert alpha.get(f"/v1/clusters/{uuid}").json()["master_count"] == 3


def test_missing_template_is_400_up_to_1_9_and_404_from_1_10(alpha: Api, template: str) -> None:
    old = alpha.as_(ALPHA_MEMBER, "1.9").post("/v1/clusters", json={"cluster_template_id": "nope"})
    assert old.status_code == 400
    assert detail(old) == "ClusterTemplate nope could not be found."
    new = alpha.as_(ALPHA_MEMBER, "1.10").post("/v1/clusters", json={"cluster_template_id": "nope"})
    assert new.status_code == 404


def test_node_count_zero_needs_1_10(alpha: Api, template: str) -> None:
    old = alpha.as_(ALPHA_MEMBER, "1.9").post("/v1/clusters", json={"cluster_template_id": template, "node_count": 0})
    assert old.status_code == 400
    assert detail(old) == "Resizing a nodegroup to zero is not supported in the provided microversion."
    uuid = make_cluster(alpha.as_(ALPHA_MEMBER, "1.10"), template, node_count=0)
    assert alpha.get(f"/v1/clusters/{uuid}").json()["node_count"] == 0


def test_reader_may_not_create(api: Api, template: str) -> None:
    response = api.as_(ALPHA_READER).post("/v1/clusters", json={"cluster_template_id": template})
    assert response.status_code == 403
    assert detail(response) == "Policy doesn't allow cluster:create to be performed."


def test_hidden_templates(api: Api, alpha: Api, template: str, server: RunningServer) -> None:
    with server.services.db.transaction() as session:
        session.scalars(select(ClusterTemplate).where(ClusterTemplate.uuid == template)).one().hidden = True
    own = alpha.post("/v1/clusters", json={"cluster_template_id": template})
    assert own.status_code == 403
    assert detail(own) == "Not authorized."
    other = make_template(api, "admin-hidden", hidden=True, public=True)
    response = alpha.post("/v1/clusters", json={"cluster_template_id": other})
    assert response.status_code == 404
    assert detail(response) == f"ClusterTemplate {other} could not be found."
    assert api.post("/v1/clusters", json={"cluster_template_id": other}).status_code == 202


def test_quota_limits_clusters_per_project(alpha: Api, template: str, server: RunningServer) -> None:
    with server.services.db.transaction() as session:
        session.add(Quota(project_id="alpha", resource="Cluster", hard_limit=1))
    make_cluster(alpha, template)
    response = alpha.post("/v1/clusters", json={"cluster_template_id": template})
    assert response.status_code == 403
    assert detail(response) == (
        "Resource limit exceeded: You have reached the maximum clusters per project, 1. "
        "You may delete a cluster to make room for a new one."
    )
    # Another project is not affected.
    beta = alpha.as_(BETA_MEMBER)
    make_cluster(beta, make_template(beta))


def test_create_wakes_a_conductor_and_notifies(
    alpha: Api, template: str, server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    woken: list[str] = []
    events: list[tuple[str, dict[str, Any]]] = []

    class Waker:
        def wake(self, cluster_id: str) -> None:
            woken.append(cluster_id)

    class Notifier:
        def emit(self, event_type: str, payload: dict[str, Any]) -> None:
            events.append((event_type, payload))

    monkeypatch.setattr(server.services.clusters, "announcer", Announcer(Waker(), Notifier()))
    uuid = make_cluster(alpha, template, name="n1")
    assert woken == [uuid]
    [(event, payload)] = events
    assert event == "magnum.cluster.create.start"
    assert payload["uuid"] == uuid
    assert payload["name"] == "n1"
    assert payload["project_id"] == "alpha"
    assert payload["status"] == "CREATE_IN_PROGRESS"
    assert payload["action"] == "create"


# -- read ------------------------------------------------------------------------------------------
def test_list_detail_and_show_keys_follow_the_microversion(alpha: Api, template: str) -> None:
    uuid = make_cluster(alpha, template, name="c1")
    old, new = alpha.as_(ALPHA_MEMBER, "1.12"), alpha.as_(ALPHA_MEMBER, "1.13")

    [item] = old.get("/v1/clusters").json()["clusters"]
    assert set(item) == SUMMARY_KEYS | {"stack_id"}
    assert item["merge_labels"] is False
    assert item["links"] == [
        {"href": f"{alpha.url}/v1/clusters/{uuid}", "rel": "self"},
        {"href": f"{alpha.url}/clusters/{uuid}", "rel": "bookmark"},
    ]
    [item] = new.get("/v1/clusters").json()["clusters"]
    assert set(item) == SUMMARY_KEYS | {"cluster_id"}

    [item] = old.get("/v1/clusters/detail").json()["clusters"]
    assert set(item) == DETAIL_KEYS | {"stack_id"}
    [item] = new.get("/v1/clusters/detail").json()["clusters"]
    assert set(item) == DETAIL_KEYS | {"cluster_id"}
    assert set(old.get(f"/v1/clusters/{uuid}").json()) == DETAIL_KEYS | {"stack_id"}
    assert set(new.get("/v1/clusters/c1").json()) == DETAIL_KEYS | {"cluster_id"}
    # No header means 1.1; a trailing slash is fine.
    listed = alpha.without_microversion(ALPHA_MEMBER).get("/v1/clusters/")
    assert "stack_id" in listed.json()["clusters"][0]


def test_faults_only_on_a_failed_cluster(alpha: Api, template: str, server: RunningServer) -> None:
    uuid = make_cluster(alpha, template)
    arrange(server, uuid, "CREATE_COMPLETE", api_address="tcp://10.0.0.2:2376")
    assert "faults" not in alpha.get(f"/v1/clusters/{uuid}").json()

    arrange(server, uuid, "CREATE_FAILED", status_reason="default-master failed")
    with server.services.db.transaction() as session:
        master = session.scalars(
            select(NodeGroup).where(NodeGroup.cluster_id == uuid, NodeGroup.name == "default-master")
        ).one()
        master.status_reason = "boom"
        worker = session.scalars(
            select(NodeGroup).where(NodeGroup.cluster_id == uuid, NodeGroup.name == "default-worker")
        ).one()
        worker.status = "CREATE_COMPLETE"
    body = alpha.get(f"/v1/clusters/{uuid}").json()
    assert body["faults"] == {"default-master": "boom"}
    assert "faults" not in alpha.get("/v1/clusters/detail").json()["clusters"][0]

    # No nodegroup failed: the cluster's own reason is the fault.
    with server.services.db.transaction() as session:
        for ng in session.scalars(select(NodeGroup).where(NodeGroup.cluster_id == uuid)):
            ng.status = "CREATE_COMPLETE"
    assert alpha.get(f"/v1/clusters/{uuid}").json()["faults"] == {"cluster": "default-master failed"}


def test_derived_counts_and_addresses(alpha: Api, template: str, server: RunningServer) -> None:
    uuid = make_cluster(alpha, template, node_count=2)
    with server.services.db.transaction() as session:
        for ng in session.scalars(select(NodeGroup).where(NodeGroup.cluster_id == uuid)):
            ng.node_addresses = ["10.0.0.1"] if ng.role == "master" else ["10.0.0.2", "10.0.0.3"]
        session.add(
            NodeGroup(
                uuid="9b7d3c3e-5d5e-4d5e-9a5e-000000000001", name="extra", cluster_id=uuid, project_id="alpha",
                role="worker", node_count=3, node_addresses=["10.0.0.4"], labels={}, node_labels={}, node_taints=[],
            )
        )  # fmt: skip
    body = alpha.get(f"/v1/clusters/{uuid}").json()
    assert (body["node_count"], body["master_count"]) == (5, 1)
    assert body["master_addresses"] == ["10.0.0.1"]
    assert body["node_addresses"] == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]


def test_tenant_scoping(api: Api, alpha: Api, template: str) -> None:
    uuid = make_cluster(alpha, template, name="mine")
    beta = api.as_(BETA_MEMBER)
    for ident in (uuid, "mine"):
        response = beta.get(f"/v1/clusters/{ident}")
        assert response.status_code == 404
        assert detail(response) == f"Cluster {ident} could not be found."
    assert beta.get("/v1/clusters").json() == {"clusters": []}
    assert beta.patch(f"/v1/clusters/{uuid}", json=[]).status_code == 404
    assert beta.delete(f"/v1/clusters/{uuid}").status_code == 404
    # Another member of the project sees and may change it.
    assert api.as_(ALPHA_MEMBER2).get(f"/v1/clusters/{uuid}").status_code == 200
    # The admin sees every project's clusters.
    assert api.get(f"/v1/clusters/{uuid}").status_code == 200
    make_cluster(beta, make_template(beta))
    assert len(api.get("/v1/clusters").json()["clusters"]) == 2
    assert len(alpha.get("/v1/clusters").json()["clusters"]) == 1


def test_duplicate_names_need_the_uuid(alpha: Api, template: str) -> None:
    make_cluster(alpha, template, name="twin")
    make_cluster(alpha, template, name="twin")
    response = alpha.get("/v1/clusters/twin")
    assert response.status_code == 409
    assert detail(response) == "Multiple clusters exist with same name. Please use the cluster uuid instead."


def test_reads_need_the_reader_role(api: Api, alpha: Api, template: str) -> None:
    uuid = make_cluster(alpha, template)
    member_only = api.as_(Identity("member-only", "alpha", "alice", ("member",)))
    response = member_only.get(f"/v1/clusters/{uuid}")
    assert response.status_code == 403
    assert detail(response) == "Policy doesn't allow cluster:get to be performed."
    assert member_only.get("/v1/clusters").status_code == 403


def test_pagination(alpha: Api, template: str) -> None:
    uuids = [make_cluster(alpha, template, name=f"p{i}") for i in range(3)]
    page = alpha.get("/v1/clusters?limit=2").json()
    assert [c["uuid"] for c in page["clusters"]] == uuids[:2]
    assert page["next"] == f"{alpha.url}/v1/clusters?sort_key=id&sort_dir=asc&limit=2&marker={uuids[1]}"
    rest = alpha.get(f"/v1/clusters?limit=2&marker={uuids[1]}").json()
    assert [c["uuid"] for c in rest["clusters"]] == uuids[2:]
    assert "next" not in rest
    page = alpha.get("/v1/clusters/detail?limit=1&sort_key=name&sort_dir=desc").json()
    assert page["clusters"][0]["name"] == "p2"
    assert page["next"].startswith(f"{alpha.url}/v1/clusters/detail?sort_key=name&sort_dir=desc&limit=1&marker=")


def follow(api: Api, path: str) -> list[dict[str, Any]]:
    """Every item of a list, following ``next`` links page by page."""
    found: list[dict[str, Any]] = []
    while True:
        response = api.get(path)
        assert response.status_code == 200, response.text
        body = response.json()
        found += body["clusters"]
        if "next" not in body:
            return found
        path = body["next"].removeprefix(api.url)


@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
def test_sort_by_a_column_with_nulls_across_pages(alpha: Api, template: str, sort_dir: str) -> None:
    keypairs = ["k2", None, "k1", None, "k3", "k1"]
    made = [
        make_cluster(alpha, template, name=f"s{i}", **({"keypair": keypair} if keypair else {}))
        for i, keypair in enumerate(keypairs)
    ]
    everything = [c["uuid"] for c in follow(alpha, f"/v1/clusters?sort_key=keypair&sort_dir={sort_dir}")]
    assert sorted(everything) == sorted(made)
    ordered = [c["keypair"] for c in follow(alpha, f"/v1/clusters?sort_key=keypair&sort_dir={sort_dir}")]
    present = [k for k in ordered if k is not None]
    assert present == sorted(present, reverse=sort_dir == "desc")
    assert ordered.index(None) > ordered.index(present[-1]) if sort_dir == "asc" else ordered[0] is None
    for limit in (1, 2, 4):
        for path in ("/v1/clusters", "/v1/clusters/detail"):
            paged = follow(alpha, f"{path}?sort_key=keypair&sort_dir={sort_dir}&limit={limit}")
            assert [c["uuid"] for c in paged] == everything


def test_a_marker_of_another_project_is_not_found(alpha: Api, template: str) -> None:
    make_cluster(alpha, template)
    beta = alpha.as_(BETA_MEMBER)
    theirs = make_cluster(beta, make_template(beta))
    response = alpha.get(f"/v1/clusters?marker={theirs}")
    assert response.status_code == 404
    assert detail(response) == f"Cluster {theirs} could not be found."


def test_an_admin_pages_through_every_project(api: Api, alpha: Api, template: str) -> None:
    beta = alpha.as_(BETA_MEMBER)
    ours = [make_cluster(alpha, template) for _ in range(2)]
    theirs = [make_cluster(beta, make_template(beta)) for _ in range(2)]
    assert [c["uuid"] for c in follow(alpha, "/v1/clusters?limit=1")] == ours
    assert [c["uuid"] for c in follow(api, "/v1/clusters?limit=1")] == ours + theirs
    by_name = follow(api, "/v1/clusters/detail?limit=3&sort_key=project_id&sort_dir=desc")
    assert [c["project_id"] for c in by_name] == sorted((c["project_id"] for c in by_name), reverse=True)


def test_a_detailed_list_shows_what_show_shows(alpha: Api, template: str) -> None:
    make_cluster(alpha, template, name="one", labels={"a": "2", "b": "3"}, node_count=2)
    make_cluster(alpha, template, name="two", keypair="kp")
    listed = follow(alpha, "/v1/clusters/detail")
    assert len(listed) == 2
    for item in listed:
        shown = alpha.get(f"/v1/clusters/{item['uuid']}").json()
        assert shown == item
    summaries = {c["uuid"]: c for c in follow(alpha, "/v1/clusters")}
    for item in listed:
        summary = summaries[item["uuid"]]
        assert set(summary) == SUMMARY_KEYS | {"cluster_id"}
        assert summary == {k: item[k] for k in summary}


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("limit=0", 400, "Limit must be positive"),
        ("sort_dir=up", 400, "Invalid sort direction: up. Acceptable values are 'asc' or 'desc'"),
        ("sort_key=bogus", 400, 'The sort_key value "bogus" is an invalid field for sorting'),
        (
            "marker=9ef17c24-455a-415e-b391-5e53716d4244",
            404,
            "Cluster 9ef17c24-455a-415e-b391-5e53716d4244 could not be found.",
        ),
        (
            "marker=notauuid",
            400,
            "Invalid input for field/attribute marker. Value: 'notauuid'. unable to convert to uuid. "
            "Error: Expected a uuid but received notauuid.",
        ),
        ("bogus=1", 400, 'Unknown argument: "bogus"'),
    ],
)
def test_list_arguments(alpha: Api, query: str, status: int, message: str) -> None:
    response = alpha.get(f"/v1/clusters?{query}")
    assert response.status_code == status
    assert detail(response) == message


def test_wrong_method_is_405(alpha: Api, template: str) -> None:
    uuid = make_cluster(alpha, template)
    assert alpha.request("PUT", f"/v1/clusters/{uuid}", json={}).status_code == 405


# -- update (PATCH) --------------------------------------------------------------------------------
@pytest.fixture
def ready(alpha: Api, template: str, server: RunningServer) -> str:
    """A cluster the conductor finished creating."""
    uuid = make_cluster(alpha, template, name="ready", node_count=2)
    arrange(server, uuid, "CREATE_COMPLETE", api_address="tcp://10.0.0.2:2376", stack_id="ref-1")
    return uuid


def test_patch_node_count_resizes_the_default_worker(alpha: Api, ready: str, server: RunningServer) -> None:
    response = alpha.patch(f"/v1/clusters/{ready}", json=[{"op": "replace", "path": "/node_count", "value": 4}])
    assert response.status_code == 202
    assert response.json() == {"uuid": ready}
    body = alpha.get(f"/v1/clusters/{ready}").json()
    assert (body["status"], body["node_count"]) == ("UPDATE_IN_PROGRESS", 4)
    worker = nodegroups(server, ready)["default-worker"]
    assert (worker.node_count, worker.status, worker.generation) == (4, "UPDATE_IN_PROGRESS", 2)
    operation = operations(server, ready)[-1]
    assert (operation.action, operation.nodegroup_id, operation.generation) == ("update", worker.uuid, 2)
    assert operation.request == {
        "node_count": 4,
        "previous_node_count": 2,
        "nodegroup": worker.uuid,
        "rollback": False,
    }


def test_patch_of_the_autoscaler_labels_switches_it_at_once(alpha: Api, ready: str, server: RunningServer) -> None:
    on = [
        {"op": "add", "path": "/labels/auto_scaling_enabled", "value": "true"},
        {"op": "add", "path": "/labels/max_node_count", "value": "5"},
    ]
    assert alpha.patch(f"/v1/clusters/{ready}", json=on).status_code == 202
    body = alpha.get(f"/v1/clusters/{ready}").json()
    assert body["status"] == "CREATE_COMPLETE"  # no operation
    assert body["labels"]["auto_scaling_enabled"] == "true"
    assert nodegroups(server, ready)["default-worker"].max_node_count == 5
    with server.services.db.transaction() as session:
        assert session.scalar(select(Cluster.autoscale_at).where(Cluster.uuid == ready)) is not None
    off = [{"op": "replace", "path": "/labels/auto_scaling_enabled", "value": "false"}]
    assert alpha.patch(f"/v1/clusters/{ready}", json=off).status_code == 202
    with server.services.db.transaction() as session:
        assert session.scalar(select(Cluster.autoscale_at).where(Cluster.uuid == ready)) is None
    bad = [{"op": "replace", "path": "/labels/max_node_count", "value": "1"}]
    response = alpha.patch(f"/v1/clusters/{ready}", json=bad)
    assert response.status_code == 400
    assert "node_count (2) of default-worker should be at most max_node_count (1)" in detail(response)


def test_patch_rollback_needs_1_3(alpha: Api, ready: str, server: RunningServer) -> None:
    patch = [{"op": "replace", "path": "/node_count", "value": 3}]
    old = alpha.as_(ALPHA_MEMBER, "1.2").patch(f"/v1/clusters/{ready}/?rollback=True", json=patch)
    assert old.status_code == 400
    assert detail(old) == 'Unknown argument: "rollback"'
    response = alpha.as_(ALPHA_MEMBER, "1.3").patch(f"/v1/clusters/{ready}/?rollback=True", json=patch)
    assert response.status_code == 202
    assert operations(server, ready)[-1].request["rollback"] is True


def test_patch_remove_node_count_means_one(alpha: Api, ready: str, server: RunningServer) -> None:
    response = alpha.patch(f"/v1/clusters/{ready}", json=[{"op": "remove", "path": "/node_count"}])
    assert response.status_code == 202
    assert nodegroups(server, ready)["default-worker"].node_count == 1


def test_patch_node_count_zero_needs_1_10(alpha: Api, ready: str) -> None:
    patch = [{"op": "replace", "path": "/node_count", "value": 0}]
    old = alpha.as_(ALPHA_MEMBER, "1.9").patch(f"/v1/clusters/{ready}", json=patch)
    assert old.status_code == 400
    assert detail(old) == "Resizing a nodegroup to zero is not supported in the provided microversion."
    assert alpha.patch(f"/v1/clusters/{ready}", json=patch).status_code == 202


def test_patch_health_is_saved_without_an_operation(alpha: Api, ready: str, server: RunningServer) -> None:
    before = len(operations(server, ready))
    patch = [
        {"op": "replace", "path": "/health_status", "value": "UNHEALTHY"},
        {"op": "replace", "path": "/health_status_reason", "value": "{'api': 'ok', 'node-0.Ready': 'False'}"},
    ]
    response = alpha.patch(f"/v1/clusters/{ready}", json=patch)
    assert response.status_code == 202
    body = alpha.get(f"/v1/clusters/{ready}").json()
    assert body["status"] == "CREATE_COMPLETE"
    assert body["health_status"] == "UNHEALTHY"
    assert body["health_status_reason"] == {"api": "ok", "node-0.Ready": "False"}
    assert len(operations(server, ready)) == before
    bad = alpha.patch(f"/v1/clusters/{ready}", json=[{"op": "replace", "path": "/health_status", "value": "MEH"}])
    assert bad.status_code == 400
    assert detail(bad).endswith("Value should be one of: HEALTHY, UNHEALTHY, UNKNOWN")


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ([{"op": "replace", "path": "/name", "value": "new"}], "cannot change cluster property(ies) name."),
        ([{"op": "add", "path": "/labels/foo", "value": "bar"}], "cannot change cluster property(ies) labels."),
        (
            [{"op": "replace", "path": "/master_count", "value": 3}, {"op": "replace", "path": "/name", "value": "x"}],
            "cannot change cluster property(ies) name, master_count.",
        ),
        (
            [{"op": "replace", "path": "/api_address", "value": "x"}],
            "'/api_address' is an internal attribute and can not be updated",
        ),
        (
            [{"op": "replace", "path": "/stack_id", "value": "x"}],
            "'/stack_id' is an internal attribute and can not be updated",
        ),
        (
            [{"op": "add", "path": "/foo", "value": "x"}],
            "Adding a new attribute /foo to the root of the resource is not allowed.",
        ),
        (
            [{"op": "remove", "path": "/cluster_template_id"}],
            "'/cluster_template_id' is a mandatory attribute and can not be removed",
        ),
        (
            {"op": "replace"},
            "Invalid input for field/attribute patch. Value: '{'op': 'replace'}'. "
            "Value not a valid list: {'op': 'replace'}",
        ),
        (
            [{"op": "move", "path": "/name"}],
            "Invalid input for field/attribute op. Value: 'move'. Value should be one of: add, replace, remove",
        ),
        ([{"op": "replace", "path": "/name"}], "'add' and 'replace' operations needs value"),
    ],
)
def test_patch_refusals(alpha: Api, ready: str, patch: Any, message: str) -> None:
    response = alpha.patch(f"/v1/clusters/{ready}", json=patch)
    assert response.status_code == 400, response.text
    assert detail(response) == message


def test_patch_while_creating_is_a_conflict(alpha: Api, template: str, server: RunningServer) -> None:
    uuid = make_cluster(alpha, template)
    response = alpha.patch(f"/v1/clusters/{uuid}", json=[{"op": "replace", "path": "/node_count", "value": 3}])
    assert response.status_code == 409
    assert "CREATE_IN_PROGRESS" in detail(response)
    assert len(operations(server, uuid)) == 1


def test_patch_of_a_failed_creation_retries_it(alpha: Api, template: str, server: RunningServer) -> None:
    uuid = make_cluster(alpha, template)
    arrange(server, uuid, "CREATE_FAILED", status_reason="boom")
    response = alpha.patch(f"/v1/clusters/{uuid}", json=[{"op": "replace", "path": "/node_count", "value": 1}])
    assert response.status_code == 202
    assert alpha.get(f"/v1/clusters/{uuid}").json()["status"] == "CREATE_IN_PROGRESS"
    assert [op.action for op in operations(server, uuid)] == ["create", "update"]


def test_another_member_and_the_admin_may_patch(api: Api, ready: str) -> None:
    patch = [{"op": "replace", "path": "/node_count", "value": 3}]
    assert api.as_(ALPHA_MEMBER2).patch(f"/v1/clusters/{ready}", json=patch).status_code == 202


def test_admin_may_patch_another_projects_cluster(api: Api, ready: str) -> None:
    patch = [{"op": "replace", "path": "/health_status", "value": "HEALTHY"}]
    assert api.patch(f"/v1/clusters/{ready}", json=patch).status_code == 202


# -- delete ----------------------------------------------------------------------------------------
def test_delete_from_any_state_and_again(alpha: Api, template: str, server: RunningServer) -> None:
    uuid = make_cluster(alpha, template)
    response = alpha.delete(f"/v1/clusters/{uuid}")
    assert response.status_code == 204
    assert response.content == b""
    body = alpha.get(f"/v1/clusters/{uuid}").json()
    assert body["status"] == "DELETE_IN_PROGRESS"
    actions = [(op.action, op.state) for op in operations(server, uuid)]
    assert actions == [("create", "superseded"), ("delete", "pending")]
    assert {ng.status for ng in nodegroups(server, uuid).values()} == {"DELETE_IN_PROGRESS"}
    assert alpha.delete(f"/v1/clusters/{uuid}").status_code == 204
    assert len(operations(server, uuid)) == 2


def test_admin_deletes_another_projects_cluster(api: Api, ready: str) -> None:
    assert api.delete(f"/v1/clusters/{ready}").status_code == 204
    assert api.as_(BETA_MEMBER).delete(f"/v1/clusters/{ready}").status_code == 404


def test_changes_during_a_delete_are_conflicts(alpha: Api, ready: str) -> None:
    assert alpha.delete(f"/v1/clusters/{ready}").status_code == 204
    resize = alpha.post(f"/v1/clusters/{ready}/actions/resize", json={"node_count": 3})
    assert resize.status_code == 409
    assert "DELETE_IN_PROGRESS" in detail(resize)


# -- resize ----------------------------------------------------------------------------------------
def test_resize_is_gated_at_1_7(alpha: Api, ready: str) -> None:
    old = alpha.as_(ALPHA_MEMBER, "1.6").post(f"/v1/clusters/{ready}/actions/resize", json={"node_count": 3})
    assert old.status_code == 406
    assert old.json()["errors"][0]["detail"] == (
        "Version 1.6 was requested but the requested API resize is not supported for this version."
    )
    assert old.json()["errors"][0]["title"] == "Not Acceptable"
    new = alpha.as_(ALPHA_MEMBER, "1.7").post(f"/v1/clusters/{ready}/actions/resize", json={"node_count": 3})
    assert new.status_code == 202
    assert new.json() == {"uuid": ready}


def observe_nodes(server: RunningServer, uuid: str, nodegroup: str, nodes: list[dict[str, str]]) -> None:
    """Record a nodegroup's nodes as a conductor does after observing them."""
    with server.services.db.transaction() as session:
        session.scalars(
            select(NodeGroup).where(NodeGroup.cluster_id == uuid, NodeGroup.name == nodegroup)
        ).one().nodes = nodes


WORKER_NODES = [{"name": "node-0", "address": "10.0.0.2"}, {"name": "node-1", "address": "10.0.0.3"}]


def test_resize_records_nodes_to_remove(alpha: Api, ready: str, server: RunningServer) -> None:
    observe_nodes(server, ready, "default-worker", WORKER_NODES)
    response = alpha.post(
        f"/v1/clusters/{ready}/actions/resize",
        json={"node_count": 1, "nodes_to_remove": ["node-1"], "nodegroup": "default-worker"},
    )
    assert response.status_code == 202
    worker = nodegroups(server, ready)["default-worker"]
    assert (worker.node_count, worker.status) == (1, "UPDATE_IN_PROGRESS")
    operation = operations(server, ready)[-1]
    assert operation.action == "resize"
    assert operation.nodegroup_id == worker.uuid
    assert operation.request == {
        "node_count": 1,
        "previous_node_count": 2,
        "nodes_to_remove": ["node-1"],
        "nodegroup": worker.uuid,
    }
    # openstacksdk sends nodes_to_remove: null.
    again = alpha.post(f"/v1/clusters/{ready}/actions/resize", json={"node_count": 2, "nodes_to_remove": None})
    assert again.status_code == 202


def test_resize_names_nodes_by_address_too(alpha: Api, ready: str, server: RunningServer) -> None:
    observe_nodes(server, ready, "default-worker", WORKER_NODES)
    response = alpha.post(
        f"/v1/clusters/{ready}/actions/resize", json={"node_count": 1, "nodes_to_remove": ["10.0.0.2"]}
    )
    assert response.status_code == 202
    assert operations(server, ready)[-1].request["nodes_to_remove"] == ["node-0"]


def test_resize_naming_a_node_not_in_the_nodegroup_removes_nothing(
    alpha: Api, ready: str, server: RunningServer
) -> None:
    observe_nodes(server, ready, "default-worker", WORKER_NODES)
    before = [op.uuid for op in operations(server, ready)]
    url = f"/v1/clusters/{ready}/actions/resize"
    typo = alpha.post(url, json={"node_count": 1, "nodes_to_remove": ["node-O"]})
    assert typo.status_code == 400
    message = (
        "Node node-O not in nodegroup default-worker (its nodes: node-0 (10.0.0.2), node-1 (10.0.0.3)); "
        "nothing was removed."
    )
    assert typo.json()["errors"][0]["detail"] == message
    assert typo.json()["errors"][0]["title"] == message.removesuffix(".")
    two = alpha.post(url, json={"node_count": 0, "nodes_to_remove": ["node-1", "x", "y"]})
    assert two.status_code == 400
    assert two.json()["errors"][0]["detail"].startswith("Nodes x, y not in nodegroup default-worker")
    assert [op.uuid for op in operations(server, ready)] == before
    assert nodegroups(server, ready)["default-worker"].node_count == 2


def test_a_master_resize_follows_the_create_rules_and_the_drivers_answer(
    alpha: Api, template: str, server: RunningServer
) -> None:
    uuid = make_cluster(alpha, template, name="lb", master_lb_enabled=True)
    arrange(server, uuid, "CREATE_COMPLETE")
    url = f"/v1/clusters/{uuid}/actions/resize"
    even = alpha.post(url, json={"node_count": 2, "nodegroup": "default-master"})
    assert even.status_code == 400
    assert detail(even) == "master nodegroup size of 2 is invalid, size cannot be an even number."
    grown = alpha.post(url, json={"node_count": 3, "nodegroup": "default-master"})
    assert grown.status_code == 202, grown.text
    body = alpha.get(f"/v1/clusters/{uuid}").json()
    assert (body["status"], body["master_count"]) == ("UPDATE_IN_PROGRESS", 3)


def test_resize_refusals(alpha: Api, ready: str, server: RunningServer) -> None:
    with server.services.db.transaction() as session:
        session.scalars(
            select(NodeGroup).where(NodeGroup.cluster_id == ready, NodeGroup.name == "default-worker")
        ).one().min_node_count = 1
    url = f"/v1/clusters/{ready}/actions/resize"
    below = alpha.post(url, json={"node_count": 0})
    assert below.status_code == 400
    assert detail(below) == (
        "Resizing default-worker outside the allowed range: min_node_count = 1, max_node_count = None"
    )
    master = alpha.post(url, json={"node_count": 3, "nodegroup": "default-master"})
    assert master.status_code == 400
    assert detail(master) == "master_count must be 1 when master_lb_enabled is False"
    missing = alpha.post(url, json={})
    assert missing.status_code == 400
    assert detail(missing) == "Invalid input for field/attribute node_count. Value: 'None'. Mandatory field missing."
    unknown_ng = alpha.post(url, json={"node_count": 2, "nodegroup": "nope"})
    assert unknown_ng.status_code == 404
    assert detail(unknown_ng) == "Nodegroup nope could not be found."
    zero = alpha.as_(ALPHA_MEMBER, "1.9").post(url, json={"node_count": 0})
    assert zero.status_code == 400
    plain = alpha.post(url, content=b"node_count=3", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    assert detail(plain) == "Unknown mimetype: text/plain"


def test_admin_has_no_cross_project_resize(api: Api, ready: str) -> None:
    response = api.post(f"/v1/clusters/{ready}/actions/resize", json={"node_count": 3})
    assert response.status_code == 404
    assert detail(response) == f"Cluster {ready} could not be found."


def test_resize_during_an_update_is_accepted(alpha: Api, ready: str) -> None:
    patch = [{"op": "replace", "path": "/node_count", "value": 3}]
    assert alpha.patch(f"/v1/clusters/{ready}", json=patch).status_code == 202
    assert alpha.post(f"/v1/clusters/{ready}/actions/resize", json={"node_count": 4}).status_code == 202
    assert alpha.patch(f"/v1/clusters/{ready}", json=patch).status_code == 409


# -- upgrade ---------------------------------------------------------------------------------------
def test_upgrade_gates(alpha: Api, ready: str) -> None:
    body = {"cluster_template": "tpl", "max_batch_size": 1}
    old = alpha.as_(ALPHA_MEMBER, "1.6").post(f"/v1/clusters/{ready}/actions/upgrade", json=body)
    assert old.status_code == 406
    exactly = alpha.as_(ALPHA_MEMBER, "1.7").post(f"/v1/clusters/{ready}/actions/upgrade", json=body)
    assert exactly.status_code == 400
    assert detail(exactly) == "Cluster upgrade is not supported in the provided microversion."


def test_upgrade_moves_the_cluster_to_the_new_template(alpha: Api, ready: str, server: RunningServer) -> None:
    newer = make_template(alpha, "tpl2", image_id="jeroboam-node")
    response = alpha.as_(ALPHA_MEMBER, "1.8").post(
        f"/v1/clusters/{ready}/actions/upgrade", json={"cluster_template": "tpl2", "max_batch_size": 2}
    )
    assert response.status_code == 202
    assert response.json() == {"uuid": ready}
    body = alpha.get(f"/v1/clusters/{ready}").json()
    assert (body["status"], body["cluster_template_id"]) == ("UPDATE_IN_PROGRESS", newer)
    operation = operations(server, ready)[-1]
    assert operation.action == "upgrade"
    assert operation.request["max_batch_size"] == 2
    assert operation.request["cluster_template_id"] == newer
    assert {ng.status for ng in nodegroups(server, ready).values()} == {"UPDATE_IN_PROGRESS"}
    # Two upgrades at once: the second is refused with the reason.
    again = alpha.post(f"/v1/clusters/{ready}/actions/upgrade", json={"cluster_template": "tpl2"})
    assert again.status_code == 409
    assert "UPDATE_IN_PROGRESS" in detail(again)


def test_upgrade_refusals(alpha: Api, ready: str) -> None:
    url = f"/v1/clusters/{ready}/actions/upgrade"
    missing = alpha.post(url, json={"cluster_template": "nonexist"})
    assert missing.status_code == 404
    assert detail(missing) == "ClusterTemplate nonexist could not be found."
    absent = alpha.post(url, json={"max_batch_size": 1})
    assert absent.status_code == 400
    assert detail(absent) == (
        "Invalid input for field/attribute cluster_template. Value: 'None'. Mandatory field missing."
    )
    kubernetes = make_template(alpha, "k8s", coe="kubernetes", image_id="fedora-coreos")
    other_coe = alpha.post(url, json={"cluster_template": kubernetes})
    assert other_coe.status_code == 409
    assert detail(other_coe) == (
        "Cluster Template is not valid for upgrade: its coe kubernetes differs from the cluster's (swarm-mode)."
    )


def test_admin_may_upgrade_another_projects_cluster(api: Api, ready: str) -> None:
    response = api.post(f"/v1/clusters/{ready}/actions/upgrade", json={"cluster_template": "tpl"})
    # The template is alpha's private one: the admin sees it too.
    assert response.status_code == 202, response.text


# -- legacy bays -----------------------------------------------------------------------------------
def test_bays_speak_the_old_field_names(alpha: Api, template: str, server: RunningServer) -> None:
    old = alpha.without_microversion(ALPHA_MEMBER)
    created = old.post("/v1/bays", json={"baymodel_id": template, "name": "bay1", "bay_create_timeout": 30})
    assert created.status_code == 201, created.text
    bay = created.json()
    assert bay["baymodel_id"] == template
    assert bay["bay_create_timeout"] == 30
    assert "cluster_template_id" not in bay
    assert "stack_id" in bay
    assert "health_status" not in bay
    assert created.headers["Location"].endswith(f"/v1/bays/{bay['uuid']}")
    assert bay["status"] == "CREATE_IN_PROGRESS"

    listed = old.get("/v1/bays").json()
    assert list(listed) == ["bays"]
    assert listed["bays"][0]["uuid"] == bay["uuid"]
    assert listed["bays"][0]["links"][0]["href"] == f"{alpha.url}/v1/bays/{bay['uuid']}"
    # Bays and clusters are the same rows.
    assert alpha.get(f"/v1/clusters/{bay['uuid']}").json()["name"] == "bay1"

    latest = alpha.post("/v1/bays", json={"baymodel_id": template})
    assert latest.status_code == 202
    assert list(latest.json()) == ["uuid"]
    zero = alpha.post("/v1/bays", json={"baymodel_id": template, "node_count": 0})
    assert zero.status_code == 400
    arrange(server, bay["uuid"], "CREATE_COMPLETE")
    patched = old.patch(f"/v1/bays/{bay['uuid']}", json=[{"op": "replace", "path": "/node_count", "value": 2}])
    assert patched.status_code == 200
    assert patched.json()["node_count"] == 2
    assert patched.json()["status"] == "UPDATE_IN_PROGRESS"
    refused = alpha.patch(f"/v1/bays/{bay['uuid']}", json=[{"op": "replace", "path": "/name", "value": "x"}])
    assert refused.status_code == 400
    assert old.delete(f"/v1/bays/{bay['uuid']}").status_code == 204
    assert alpha.get("/v1/bays/detail").json()["bays"][0]["status"] == "DELETE_IN_PROGRESS"
