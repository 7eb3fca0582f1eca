"""A user's flows through the dashboard with the sim driver: sign in, create a template, build a
cluster while watching its progress, resize it, see a failure's phase and retry it, download its
configuration, delete it; another project sees none of it; an API error lands next to its field."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.compat.conftest import JeroboamProcess
from tests.dashboard.conftest import Dashboard, check_config_bundle

BUILD_TIMEOUT_MS = 120_000


def create_template(tab: Dashboard, name: str, driver: str = "sim") -> None:
    page = tab.page
    page.get_by_role("link", name="Cluster templates").click()
    page.get_by_role("link", name="Create template").click()
    expect(page.get_by_role("heading", name="Create a cluster template")).to_be_visible()
    page.get_by_label("Name *").fill(name)
    page.get_by_label("COE").select_option("swarm-mode")
    page.get_by_label("Driver").select_option(driver)
    page.get_by_label("Image *").select_option("jeroboam-node")
    page.get_by_label("Flavor", exact=True).select_option("m1.small")
    tab.shot("template-form")
    page.get_by_role("button", name="Create template").click()
    expect(page.get_by_role("heading", name=f"Template {name}")).to_be_visible()
    tab.shot("template-created")


def create_cluster(tab: Dashboard, template: str, name: str, labels: str, nodes: int = 1) -> None:
    page = tab.page
    page.get_by_role("link", name="Clusters", exact=True).click()
    page.get_by_role("link", name="Create cluster").click()
    expect(page.get_by_role("heading", name="Create a cluster")).to_be_visible()
    page.get_by_label("Name *").fill(name)
    select = page.get_by_label("Cluster template *")
    choice = select.locator("option", has_text=re.compile(f"^{re.escape(template)} ")).first.get_attribute("value")
    select.select_option(choice)
    page.get_by_label("Worker nodes").fill(str(nodes))
    page.get_by_label("Labels").fill(labels)
    tab.shot("cluster-form")
    page.get_by_role("button", name="Create cluster").click()
    expect(page.get_by_role("heading", name=f"Cluster {name}")).to_be_visible()


def test_build_watch_resize_download_delete(dashboard: Dashboard, server: JeroboamProcess) -> None:
    tab, page = dashboard, dashboard.page
    tab.sign_in_noauth("dash-alpha")
    create_template(tab, "sim-swarm")
    create_cluster(tab, "sim-swarm", "watched", "sim_latency=0.7")

    progress = page.get_by_role("region", name="Progress")
    expect(progress.locator("li.phase.running")).to_have_count(1)
    running = progress.locator("li.phase.running").get_attribute("data-phase")
    tab.shot(f"progress-running-{running}")
    expect(progress).to_contain_text("Elapsed")
    expect(progress).to_contain_text("deadline")
    expect(progress.locator("li.phase.done").first).to_be_visible(timeout=BUILD_TIMEOUT_MS)
    tab.shot("progress-some-done")
    expect(page.locator(".badges")).to_contain_text("CREATE_COMPLETE", timeout=BUILD_TIMEOUT_MS)
    expect(progress).to_have_attribute("data-state", "succeeded")
    expect(progress.locator("li.phase.done")).to_have_count(6)
    tab.shot("create-complete")

    # Node health arrives with the first health check.
    nodes = page.get_by_role("region", name="Nodes")
    expect(nodes.get_by_role("cell", name="watched-default-worker-0")).to_be_visible(timeout=BUILD_TIMEOUT_MS)
    expect(page.get_by_role("region", name="History")).to_contain_text("Create")

    # Resize to 2 workers, then back to 1 removing the first worker by name.
    resize = page.get_by_role("region", name="Resize")
    resize.get_by_label("Worker nodes").fill("2")
    resize.get_by_role("button", name="Resize").click()
    expect(page.locator(".badges")).to_contain_text("UPDATE_COMPLETE", timeout=BUILD_TIMEOUT_MS)
    expect(nodes.get_by_role("cell", name="watched-default-worker-1")).to_be_visible(timeout=BUILD_TIMEOUT_MS)
    tab.shot("resized-to-2")
    resize.get_by_label("Worker nodes").fill("1")
    resize.get_by_label("watched-default-worker-0").check()
    tab.shot("resize-remove-worker-0")
    resize.get_by_role("button", name="Resize").click()
    expect(page.get_by_role("region", name="Progress")).to_contain_text("Resize", timeout=BUILD_TIMEOUT_MS)
    expect(page.locator(".badges")).to_contain_text("UPDATE_COMPLETE", timeout=BUILD_TIMEOUT_MS)
    expect(nodes.get_by_role("cell", name="watched-default-worker-0")).to_have_count(0, timeout=BUILD_TIMEOUT_MS)
    expect(nodes.get_by_role("cell", name="watched-default-worker-1")).to_be_visible()
    tab.shot("resized-to-1")
    expect(page.get_by_role("region", name="History").locator("tbody tr")).to_have_count(3)

    # The configuration: a tar of ca.pem, cert.pem, key.pem and env.sh, like `coe cluster config`.
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download configuration").click()
    download = download_info.value
    assert download.suggested_filename == "watched-config.tar"
    files = check_config_bundle(Path(download.path()), "watched")
    shown = httpx.get(
        f"{server.url}/v1/clusters/watched", headers={"X-Project-Id": "dash-alpha", "X-Roles": "reader"}
    ).json()
    assert f"export DOCKER_HOST={shown['api_address']}" in files["watched/env.sh"].decode()
    tab.shot("config-downloaded")

    # Delete, confirmed by typing the name.
    page.get_by_role("button", name="Delete cluster…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="Delete cluster")).to_be_disabled()
    dialog.get_by_label("Type watched to confirm").fill("watched")
    tab.shot("delete-confirm")
    dialog.get_by_role("button", name="Delete cluster").click()
    expect(page.get_by_role("heading", name="Cluster watched is gone")).to_be_visible(timeout=BUILD_TIMEOUT_MS)
    tab.shot("deleted")


def test_failure_names_its_phase_and_retry_completes(dashboard: Dashboard) -> None:
    tab, page = dashboard, dashboard.page
    tab.sign_in_noauth("dash-beta")
    create_template(tab, "sim-failing")
    create_cluster(tab, "sim-failing", "faulty", "sim_fail_phase=workers\nsim_latency=0.2")
    progress = page.get_by_role("region", name="Progress")
    expect(progress).to_have_attribute("data-state", "failed", timeout=BUILD_TIMEOUT_MS)
    expect(progress.get_by_role("heading")).to_have_text("Create failed in phase Workers")
    expect(progress.locator("li.phase.failed")).to_have_attribute("data-phase", "workers")
    expect(progress.locator("li.phase.done")).to_have_count(3)
    expect(progress).to_contain_text("simulated failure in phase workers")
    options = page.get_by_role("group", name="What you can do")
    expect(options.get_by_role("button", name="Retry")).to_be_visible()
    expect(options.get_by_role("button", name="Delete…")).to_be_visible()
    expect(page.locator(".badges")).to_contain_text("CREATE_FAILED")
    tab.shot("failed-in-workers")
    options.get_by_role("button", name="Retry").click()
    # A retry of a failed create completes the create (docs/reliability.md).
    expect(page.locator(".badges")).to_contain_text("CREATE_COMPLETE", timeout=BUILD_TIMEOUT_MS)
    expect(progress).to_have_attribute("data-state", "succeeded")
    tab.shot("retried-complete")


def test_another_project_sees_nothing(dashboard: Dashboard, server: JeroboamProcess) -> None:
    owner = {"X-Project-Id": "dash-owner", "X-User-Id": "owner", "X-Roles": "member,reader"}
    template = httpx.post(
        f"{server.url}/v1/clustertemplates",
        headers=owner,
        json={"name": "owners-template", "coe": "swarm-mode", "image_id": "jeroboam-node", "driver": "sim"},
    ).json()
    created = httpx.post(
        f"{server.url}/v1/clusters",
        headers=owner,
        json={"name": "owners-cluster", "cluster_template_id": template["uuid"]},
    ).json()
    tab, page = dashboard, dashboard.page
    tab.sign_in_noauth("dash-stranger")
    expect(page.get_by_text("No clusters in this project yet.")).to_be_visible()
    tab.shot("stranger-clusters")
    page.get_by_role("link", name="Cluster templates").click()
    expect(page.get_by_text("No cluster templates yet.")).to_be_visible()
    tab.open(f"#/clusters/{created['uuid']}")
    expect(page.get_by_role("status")).to_contain_text("could not be found")
    expect(page.get_by_text("owners-cluster")).to_have_count(0)
    tab.shot("stranger-cluster-404")


def test_api_error_is_shown_next_to_its_field(dashboard: Dashboard) -> None:
    tab, page = dashboard, dashboard.page
    tab.sign_in_noauth("dash-errors")
    page.get_by_role("link", name="Cluster templates").click()
    page.get_by_role("link", name="Create template").click()
    page.get_by_label("Name *").fill("bad-volume")
    page.get_by_label("Driver").select_option("sim")
    volume = page.get_by_label("Docker volume size (GB)")
    volume.fill("0")
    page.get_by_role("button", name="Create template").click()
    expect(volume).to_have_attribute("aria-invalid", "true")
    error = page.locator(f"#{volume.get_attribute('id')}-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("docker_volume_size")
    expect(page.get_by_label("Name *")).not_to_have_attribute("aria-invalid", "true")
    tab.shot("error-next-to-field")


def test_nodegroups_upgrade_and_rotations(dashboard: Dashboard) -> None:
    tab, page = dashboard, dashboard.page
    tab.sign_in_noauth("dash-gamma")
    create_template(tab, "gamma-v1")
    create_template(tab, "gamma-v2")
    create_cluster(tab, "gamma-v1", "gamma", "sim_latency=0.1")
    expect(page.locator(".badges")).to_contain_text("CREATE_COMPLETE", timeout=BUILD_TIMEOUT_MS)
    progress = page.get_by_role("region", name="Progress")

    groups = page.get_by_role("region", name="Nodegroups")
    groups.get_by_text("Add a nodegroup").click()
    adding = groups.get_by_role("form", name="Create a nodegroup")
    adding.get_by_label("Name *").fill("extra")
    adding.get_by_label("Nodes").fill("2")
    adding.get_by_role("button", name="Create nodegroup").click()
    expect(groups.get_by_role("cell", name="extra", exact=True)).to_be_visible(timeout=BUILD_TIMEOUT_MS)
    expect(page.locator(".badges")).to_contain_text("UPDATE_COMPLETE", timeout=BUILD_TIMEOUT_MS)
    extra = groups.locator("tr", has=page.get_by_role("cell", name="extra", exact=True))
    expect(extra.get_by_role("cell", name="2", exact=True)).to_be_visible()
    tab.shot("nodegroup-added")
    extra.get_by_text("Change").click()
    extra.get_by_label("Nodes").fill("1")
    extra.get_by_role("button", name="Update").click()
    expect(progress.get_by_role("heading")).to_have_text("Resize complete", timeout=BUILD_TIMEOUT_MS)
    expect(extra.get_by_role("cell", name="1", exact=True)).to_be_visible(timeout=BUILD_TIMEOUT_MS)
    extra.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete nodegroup").click()
    expect(groups.get_by_role("cell", name="extra", exact=True)).to_have_count(0, timeout=BUILD_TIMEOUT_MS)
    tab.shot("nodegroup-deleted")

    upgrade = page.get_by_role("region", name="Upgrade")
    upgrade.get_by_label("New template").select_option(label="gamma-v2")
    upgrade.get_by_role("button", name="Upgrade").click()
    expect(progress.get_by_role("heading")).to_have_text("Upgrade complete", timeout=BUILD_TIMEOUT_MS)
    expect(page.get_by_role("region", name="Overview").get_by_role("link", name="gamma-v2")).to_be_visible()
    tab.shot("upgraded")

    access = page.get_by_role("region", name="Access and certificates")
    access.get_by_role("button", name="Show CA").click()
    expect(access.get_by_label("CA certificate")).to_contain_text("-----BEGIN CERTIFICATE-----")
    first_ca = access.get_by_label("CA certificate").inner_text()
    access.get_by_role("button", name="Rotate CA").click()
    page.get_by_role("dialog").get_by_role("button", name="Rotate CA").click()
    expect(progress.get_by_role("heading")).to_have_text("CA rotation complete", timeout=BUILD_TIMEOUT_MS)
    access.get_by_role("button", name="Show CA").click()
    expect(access.get_by_label("CA certificate")).not_to_have_text(first_ca)
    access.get_by_role("button", name="Rotate credentials").click()
    expect(progress.get_by_role("heading")).to_have_text("Credential rotation complete", timeout=BUILD_TIMEOUT_MS)
    tab.shot("rotated")
    history = page.get_by_role("region", name="History")
    for kind in ("Create", "Nodegroup create", "Upgrade", "CA rotation", "Credential rotation"):
        expect(history.get_by_role("cell", name=kind, exact=True).first).to_be_visible()
