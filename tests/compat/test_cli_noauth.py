"""The real ``openstack coe`` client against ``jeroboam up`` (noauth: the default admin).

One ``jeroboam up`` subprocess serves the whole module; each test uses its own names, so the
tests do not depend on each other's data. Run with ``-s`` to see the transcript.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.compat.conftest import (
    Cli,
    JeroboamProcess,
    Transcript,
    failed,
    json_of,
    ok,
    rows_of,
    running_jeroboam,
    sent_requests,
    table_of,
)

pytestmark = pytest.mark.compat

SWARM = (
    "--coe",
    "swarm-mode",
    "--image",
    "jeroboam-node",
    "--external-network",
    "public",
    "--flavor",
    "m1.small",
    "--master-flavor",
    "m1.small",
)


@pytest.fixture(scope="module")
def jeroboam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JeroboamProcess]:
    with running_jeroboam(tmp_path_factory.mktemp("jeroboam-up")) as server:
        yield server
    # Leaving the block sent SIGTERM: a clean shutdown exits 0 within the deadline.
    assert server.returncode == 0, f"jeroboam up exited {server.returncode}; log:\n{server.log_tail()}"


@pytest.fixture(scope="module")
def run_cli(jeroboam: JeroboamProcess, transcript: Transcript) -> Cli:
    return Cli(["--os-auth-type", "none", "--os-endpoint", jeroboam.endpoint], transcript=transcript)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def create_template(run_cli: Cli, name: str, *extra: str) -> dict[str, object]:
    created: dict[str, object] = json_of(run_cli("cluster", "template", "create", *SWARM, *extra, name))
    return created


# --------------------------------------------------------------------------- cluster templates


def test_template_create_swarm_mode(run_cli: Cli) -> None:
    name = unique("swarm")
    result = run_cli("cluster", "template", "create", *SWARM, "--labels", "a=b", "--tags", "x,y", name)
    assert f"Request to create cluster template {name} accepted" in result.stdout
    template = json_of(result)
    assert template["name"] == name
    assert template["coe"] == "swarm-mode"
    assert template["image_id"] == "jeroboam-node"
    assert template["external_network_id"] == "public"
    assert template["flavor_id"] == "m1.small"
    assert template["master_flavor_id"] == "m1.small"
    assert template["labels"] == {"a": "b"}
    assert set(str(template["tags"]).split(",")) == {"x", "y"}
    assert template["driver"] == "docker"
    assert template["public"] is False
    assert template["hidden"] is False
    assert template["server_type"] == "vm"
    uuid.UUID(str(template["uuid"]))


def test_template_create_kubernetes_on_sim(run_cli: Cli) -> None:
    name = unique("k8s")
    result = run_cli(
        "cluster",
        "template",
        "create",
        "--coe",
        "kubernetes",
        "--driver",
        "sim",
        "--image",
        "fedora-coreos",
        "--external-network",
        "public",
        "--flavor",
        "m1.small",
        name,
    )
    template = json_of(result)
    assert template["coe"] == "kubernetes"
    assert template["driver"] == "sim"
    assert template["cluster_distro"] == "fedora-coreos"
    assert template["network_driver"] == "flannel"


def test_template_create_kubernetes_without_a_driver_is_refused(run_cli: Cli) -> None:
    name = unique("k8s")
    args = ("--coe", "kubernetes", "--image", "fedora-coreos", "--external-network", "public", "--flavor", "m1.small")
    # It once became a simulated template without a word, and its clusters CREATE_COMPLETE and HEALTHY.
    refused = failed(run_cli("cluster", "template", "create", *args, name))
    assert "No driver here builds real kubernetes clusters on server type vm" in refused.stderr
    assert "create the template with --driver sim for a simulation" in refused.stderr
    assert "(HTTP 400)" in refused.stderr
    assert name not in run_cli("cluster", "template", "list").stdout


def test_template_list(run_cli: Cli) -> None:
    first, second = unique("list"), unique("list")
    created = {create_template(run_cli, first, "--tags", "blue")["uuid"], create_template(run_cli, second)["uuid"]}
    listed = json_of(run_cli("cluster", "template", "list"))
    by_name = {item["name"]: item for item in listed}
    assert {first, second} <= by_name.keys()
    assert {by_name[first]["uuid"], by_name[second]["uuid"]} == created
    assert set(by_name[first]) == {"uuid", "name", "tags"}
    assert by_name[first]["tags"] == "blue"
    # --limit makes the client follow `next` links: every template still comes back once.
    paged = json_of(run_cli("cluster", "template", "list", "--limit", "1"))
    assert len(paged) == 1


def test_template_show_by_name_and_uuid(run_cli: Cli) -> None:
    name = unique("show")
    created = create_template(run_cli, name, "--labels", "k=v")
    by_name = json_of(run_cli("cluster", "template", "show", name))
    by_uuid = json_of(run_cli("cluster", "template", "show", str(created["uuid"])))
    assert by_name == by_uuid
    assert by_name["uuid"] == created["uuid"]
    assert by_name["labels"] == {"k": "v"}


def test_template_update_name_and_labels(run_cli: Cli) -> None:
    name = unique("upd")
    created = create_template(run_cli, name, "--labels", "a=b,c=d")
    new_name = unique("renamed")
    result = run_cli(
        "cluster", "template", "update", name, "--name", new_name, "--label", "x=y", "--no-label", "a", debug=True
    )
    # What the client puts on the wire: replace /name, add /labels/<k>, remove /labels/<k>.
    patches = [(method, body) for method, url, body in sent_requests(result) if method == "PATCH"]
    assert patches == [
        (
            "PATCH",
            [
                {"op": "replace", "path": "/name", "value": new_name},
                {"op": "add", "path": "/labels/x", "value": "y"},
                {"op": "remove", "path": "/labels/a"},
            ],
        )
    ]
    updated = json_of(result)
    assert updated["uuid"] == created["uuid"]
    assert updated["name"] == new_name
    assert updated["labels"] == {"c": "d", "x": "y"}
    assert updated["updated_at"] not in (None, "-")
    shown = json_of(run_cli("cluster", "template", "show", str(created["uuid"])))
    assert shown["name"] == new_name
    assert shown["labels"] == {"c": "d", "x": "y"}


def test_template_update_tags_and_flags(run_cli: Cli) -> None:
    name = unique("flags")
    create_template(run_cli, name)
    updated = json_of(
        run_cli("cluster", "template", "update", name, "--tag", "t1", "--tag", "t2", "--tls-disabled", "--public")
    )
    assert updated["tags"] == "t1,t2"
    assert updated["tls_disabled"] is True
    assert updated["public"] is True  # the default noauth identity is an admin: it may publish


def test_template_delete_one_and_several(run_cli: Cli) -> None:
    names = [unique("del") for _ in range(3)]
    uuids = [str(create_template(run_cli, name)["uuid"]) for name in names]
    result = ok(run_cli("cluster", "template", "delete", names[0]))
    assert f"Request to delete cluster template {names[0]} has been accepted." in result.stdout
    # Several at once, by name and by uuid.
    result = ok(run_cli("cluster", "template", "delete", names[1], uuids[2]))
    assert f"Request to delete cluster template {names[1]} has been accepted." in result.stdout
    assert f"Request to delete cluster template {uuids[2]} has been accepted." in result.stdout
    remaining = {item["uuid"] for item in json_of(run_cli("cluster", "template", "list"))}
    assert remaining.isdisjoint(uuids)


# --------------------------------------------------------------------------- errors a user sees


def test_create_with_unknown_image_fails_with_our_message(run_cli: Cli) -> None:
    name = unique("badimage")
    result = failed(run_cli("cluster", "template", "create", *SWARM[:2], "--image", "no-such-image", *SWARM[4:6], name))
    assert "Image no-such-image could not be found" in result.stderr
    assert "HTTP 400" in result.stderr
    assert name not in run_cli("cluster", "template", "list").stdout


def test_unknown_flavor_and_image_are_named_whole_with_the_valid_choices(run_cli: Cli) -> None:
    flavor = failed(run_cli("cluster", "template", "create", *SWARM[:6], "--flavor", "m1.huge", unique("f")))
    # The CLI prints the error's title: it once read "Unable to find flavor m1 (HTTP 400)".
    assert (
        "Unable to find flavor m1.huge; flavors of the docker driver: m1.medium, m1.small, m1.tiny (HTTP 400)"
        in flavor.stderr
    )
    image = failed(
        run_cli("cluster", "template", "create", *SWARM[:2], "--image", "ubuntu-22.04", *SWARM[4:6], unique("i"))
    )
    assert (
        "Image ubuntu-22.04 could not be found; images of the docker driver: jeroboam-node (HTTP 400)" in image.stderr
    )


def test_create_with_unknown_coe_fails(run_cli: Cli) -> None:
    result = failed(run_cli("cluster", "template", "create", "--coe", "mesos", *SWARM[2:6], unique("m")))
    assert "HTTP 400" in result.stderr


def test_show_missing_template_fails(run_cli: Cli) -> None:
    result = failed(run_cli("cluster", "template", "show", "no-such-template"))
    assert "ClusterTemplate no-such-template could not be found" in result.stderr
    assert "HTTP 404" in result.stderr


def test_show_ambiguous_name_fails(run_cli: Cli) -> None:
    name = unique("twin")
    create_template(run_cli, name)
    create_template(run_cli, name)
    result = failed(run_cli("cluster", "template", "show", name))
    assert "Multiple ClusterTemplates exist with same name" in result.stderr
    assert "HTTP 409" in result.stderr


def test_delete_missing_template_is_reported(run_cli: Cli) -> None:
    # magnumclient reports a failed delete on stdout and still exits 0.
    result = run_cli("cluster", "template", "delete", "no-such-template")
    assert "Delete for cluster template no-such-template failed" in result.stdout
    assert "could not be found" in result.stdout


# --------------------------------------------------------------------------- quotas, stats, services


def quota_args(project: str, *extra: str) -> tuple[str, ...]:
    return ("--project-id", project, "--resource", "Cluster", *extra)


def test_quotas_lifecycle(run_cli: Cli) -> None:
    project = unique("proj")
    created = table_of(run_cli("quotas", "create", *quota_args(project, "--hard-limit", "5")))
    assert created["project_id"] == project
    assert created["resource"] == "Cluster"
    assert created["hard_limit"] == "5"

    shown = table_of(run_cli("quotas", "show", *quota_args(project)))
    assert shown["hard_limit"] == "5"
    assert shown["project_id"] == project

    # The admin's own project only, unless --all-tenants.
    assert project not in {row["project_id"] for row in rows_of(run_cli("quotas", "list"))}
    listed = {row["project_id"]: row for row in rows_of(run_cli("quotas", "list", "--all-tenants"))}
    assert listed[project]["hard_limit"] == "5"
    assert listed[project]["resource"] == "Cluster"

    updated = table_of(run_cli("quotas", "update", *quota_args(project, "--hard-limit", "10")))
    assert updated["hard_limit"] == "10"
    assert table_of(run_cli("quotas", "show", *quota_args(project)))["hard_limit"] == "10"

    # A second quota for the same (project, resource) is refused; the client prints it, exit 0.
    duplicate = run_cli("quotas", "create", *quota_args(project, "--hard-limit", "3"))
    assert "failed" in duplicate.stdout
    assert "already exists" in duplicate.stdout

    deleted = ok(run_cli("quotas", "delete", *quota_args(project)))
    assert f"Request to delete quota for project id {project} and resource Cluster has been accepted" in deleted.stdout
    # Without a row the default limit is shown.
    default = table_of(run_cli("quotas", "show", *quota_args(project)))
    assert default["project_id"] == project
    assert default["resource"] == "Cluster"
    assert int(default["hard_limit"]) >= 0
    gone = run_cli("quotas", "delete", *quota_args(project))
    assert "Quota delete failed" in gone.stdout


def test_quotas_list_pages(run_cli: Cli) -> None:
    projects = [unique("page") for _ in range(3)]
    for project in projects:
        ok(run_cli("quotas", "create", *quota_args(project)))
    listed = rows_of(run_cli("quotas", "list", "--all-tenants", "--limit", "2"))
    assert len(listed) == 2
    for project in projects:
        ok(run_cli("quotas", "delete", *quota_args(project)))


def test_stats_list(run_cli: Cli) -> None:
    stats = table_of(run_cli("stats", "list", "default"))
    assert stats == {"clusters": "0", "nodes": "0"}
    other = table_of(run_cli("stats", "list", unique("empty")))
    assert other == {"clusters": "0", "nodes": "0"}


def test_service_list(run_cli: Cli) -> None:
    services = json_of(run_cli("service", "list"))
    assert len(services) == 1, services
    service = services[0]
    assert set(service) == {"id", "host", "binary", "state", "disabled", "disabled_reason", "created_at", "updated_at"}
    assert service["binary"].endswith("-conductor")
    assert service["state"] == "up"
    assert service["disabled"] is False


def test_version_negotiation_with_old_microversion(run_cli: Cli) -> None:
    """An explicit older microversion is accepted (the client sends `container-infra 1.1`)."""
    cli = run_cli.with_args([*run_cli.global_args, "--os-container-infra-api-version", "1.1"])
    assert isinstance(json_of(cli("cluster", "template", "list")), list)


def test_unsupported_microversion_is_refused(run_cli: Cli) -> None:
    cli = run_cli.with_args([*run_cli.global_args, "--os-container-infra-api-version", "1.99"])
    result: subprocess.CompletedProcess[str] = failed(cli("cluster", "template", "list"))
    assert "Requested microversion is unsupported (HTTP 406)" in result.stderr
