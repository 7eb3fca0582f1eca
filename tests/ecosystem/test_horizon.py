"""Horizon's Container Infra panels (magnum-ui), in headless Chromium, against Jeroboam.

A member of project alpha logs in to a real Horizon (tests/support/horizon.py), creates a
cluster template through the form, creates a cluster from it through the form, sees it reach
CREATE_COMPLETE, resizes it through the form, downloads its config, and deletes the cluster and
the template; then the cloud admin opens Admin > Container Infra > Quotas. Any error toast fails
the test (magnum-ui shows only "Unable to ..." there; the reason is in Horizon's log, which the
failure message quotes). Chromium is Debian's, driven by Playwright (no browser is downloaded);
a screenshot of each step, Horizon's log and the browser's console go to
``.artifacts/ecosystem/horizon``.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.conftest import JeroboamProcess
from tests.support.horizon import HorizonServer, ensure_chromium, start_horizon
from tests.support.keystone import KeystoneServer
from tests.support.standins import Inventory

pytestmark = [pytest.mark.ecosystem, pytest.mark.keystone, pytest.mark.timeout(1500)]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
KEYPAIR = "horizon-key"
STEP_TIMEOUT_MS = 180_000  # one page or action on a busy 2-core machine (Horizon compiles its SCSS once)
STATUS_DEADLINE = 300.0  # seconds for a cluster to reach a status the table shows


class Dashboard:
    """One browser page on Horizon, with the steps of the test and a screenshot after each."""

    def __init__(self, page: Any, url: str, shots: Path) -> None:
        self.page = page
        self.url = url
        self.shots = shots
        self.step = 0

    def shot(self, name: str) -> None:
        self.step += 1
        self.page.screenshot(path=str(self.shots / f"{self.step:02d}-{name}.png"), full_page=True)
        self.assert_no_error_toast(name)

    def assert_no_error_toast(self, step: str) -> None:
        errors = [text.strip() for text in self.page.locator(".alert-danger").all_inner_texts() if text.strip()]
        assert not errors, f"error toast at step {step!r}: {errors}"

    def login(self, username: str, password: str) -> None:
        self.page.context.clear_cookies()  # a new session: the previous user is logged out
        self.page.goto(f"{self.url}/auth/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("#loginBtn", no_wait_after=True)
        self.page.wait_for_url("**/project/**")
        self.page.wait_for_load_state("networkidle")

    def open_panel(self, path: str) -> None:
        self.page.goto(f"{self.url}{path}")
        self.page.wait_for_load_state("networkidle")

    def row(self, name: str) -> Any:
        return self.page.locator("tbody tr", has_text=name)

    def row_action(self, name: str, action: str) -> None:
        """Run a table row's action: its own button, or an item of its drop-down menu."""
        row = self.row(name).first
        button = row.get_by_role("button", name=action, exact=True)
        if button.count():
            button.first.click()
            return
        row.locator(".dropdown-toggle").first.click()
        row.get_by_text(action, exact=True).first.click()

    def modal(self) -> Any:
        modal = self.page.locator(".modal-dialog").last
        modal.wait_for()
        self.page.wait_for_load_state("networkidle")
        return modal

    def submit(self, modal: Any, button: str = "Submit") -> None:
        modal.get_by_role("button", name=button).click()
        modal.wait_for(state="detached")
        self.page.wait_for_load_state("networkidle")

    def confirm_delete(self) -> None:
        modal = self.modal()
        modal.locator(".modal-footer .btn-danger, .modal-footer .btn-primary").last.click()
        modal.wait_for(state="detached")
        self.page.wait_for_load_state("networkidle")

    def wait_for_row(self, path: str, name: str, text: str | None, *, gone: bool = False) -> str:
        """Reload ``path`` until the row of ``name`` shows ``text`` (or is gone); the tables do not refresh."""
        deadline = time.monotonic() + STATUS_DEADLINE
        last = "(no row)"
        while True:
            self.open_panel(path)
            rows = self.row(name)
            if gone and rows.count() == 0:
                return ""
            if rows.count():
                last = rows.first.inner_text()
                if not gone and text is not None and text in last:
                    return last
            assert time.monotonic() < deadline, (
                f"row {name!r} of {path}: not {'gone' if gone else text} in time: {last}"
            )
            time.sleep(2)


@pytest.fixture(scope="module")
def horizon(eco_keystone: KeystoneServer, eco_jeroboam: JeroboamProcess, artifacts: Path) -> Iterator[HorizonServer]:
    workdir = artifacts / "horizon"
    shutil.rmtree(workdir, ignore_errors=True)
    server = start_horizon(eco_keystone, workdir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def cluster_api(jeroboam: JeroboamProcess, token: str, cluster_id: str) -> dict[str, Any]:
    response = httpx.get(f"{jeroboam.endpoint}/clusters/{cluster_id}", headers={"X-Auth-Token": token}, timeout=30)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_horizon_container_infra_panels(
    horizon: HorizonServer,
    browser: Any,
    eco_keystone: KeystoneServer,
    eco_jeroboam: JeroboamProcess,
    standins: Inventory,
    artifacts: Path,
) -> None:
    standins.add_keypair(KEYPAIR)
    shots = horizon.workdir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    events = (horizon.workdir / "browser.log").open("w")
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.on("console", lambda message: events.write(f"console {message.type}: {message.text}\n"))
    page.on(
        "request",
        lambda request: (
            events.write(f"{request.method} {request.url} {request.post_data or ''}\n")
            if "/api/" in request.url
            else None
        ),
    )
    page.on(
        "response",
        lambda response: events.write(f"  -> {response.status} {response.url}\n") if "/api/" in response.url else None,
    )
    ui = Dashboard(page, horizon.url, shots)
    suffix = uuid.uuid4().hex[:6]
    template_name, cluster_name = f"ui-template-{suffix}", f"ui-cluster-{suffix}"
    member = eco_keystone.users["alpha-member"]
    try:
        ui.login(member.name, member.password)
        ui.shot("logged-in")

        # a cluster template through the form (4 tabs; Horizon sends the network's Neutron ID)
        ui.open_panel("/project/cluster_templates/")
        page.get_by_role("button", name="Create Cluster Template").click()
        modal = ui.modal()
        page.fill("#name", template_name)
        modal.locator("select[name=coe]").select_option(label="Kubernetes")
        modal.get_by_role("link", name="Node Spec").click()
        modal.locator("select[name=image_id]").select_option(label="fedora-coreos")
        modal.locator("select[name=keypair_id]").select_option(label=KEYPAIR)
        modal.locator("select[name=flavor_id]").select_option(label="m1.small")
        modal.locator("select[name=master_flavor_id]").select_option(label="m1.small")
        modal.get_by_role("link", name="Network").click()
        modal.locator("select[name=network_driver]").select_option(label="Flannel")
        modal.locator("select[name=external_network_id]").select_option(label="public")
        ui.shot("template-form")
        ui.submit(modal)
        ui.assert_no_error_toast("create template")
        ui.wait_for_row("/project/cluster_templates/", template_name, template_name)
        ui.shot("template-created")

        # a cluster through the form, up to CREATE_COMPLETE
        ui.open_panel("/project/clusters/")
        page.get_by_role("button", name="Create Cluster").click()
        modal = ui.modal()
        page.fill("#name", cluster_name)
        modal.locator("select[name=cluster_template_id]").select_option(label=template_name)
        modal.locator("select[name=keypair]").select_option(label=KEYPAIR)
        modal.get_by_role("link", name="Size").click()
        assert page.input_value("#master_count") == "1"  # one master without a load balancer: not editable
        page.fill("#node_count", "1")
        # magnum-ui offers only flavors above its kubernetes minimum (2 vCPUs, 2 GiB) here
        modal.locator("select[name=master_flavor_id]").select_option(label="m1.medium")
        modal.locator("select[name=flavor_id]").select_option(label="m1.medium")
        ui.shot("cluster-form")
        ui.submit(modal)
        ui.assert_no_error_toast("create cluster")
        ui.wait_for_row("/project/clusters/", cluster_name, "CREATE_COMPLETE")
        ui.shot("cluster-create-complete")
        cluster_id = _cluster_id(eco_jeroboam, eco_keystone, cluster_name)

        # resize through the form: 1 -> 2 workers
        ui.row_action(cluster_name, "Resize Cluster")
        modal = ui.modal()
        page.fill("#node_count", "2")
        ui.shot("resize-form")
        ui.submit(modal)
        ui.assert_no_error_toast("resize")
        ui.wait_for_row("/project/clusters/", cluster_name, "UPDATE_COMPLETE")
        ui.shot("cluster-resized")
        resized = cluster_api(eco_jeroboam, eco_keystone.token_for(member.name), cluster_id)
        assert resized["node_count"] == 2

        # the cluster's config, as the browser downloads it
        with page.expect_download() as download_info:
            ui.row_action(cluster_name, "Get Cluster Config")
        config_path = horizon.workdir / "cluster-config.yaml"
        download_info.value.save_as(str(config_path))
        config = config_path.read_text()
        assert "clusters:" in config, config[:500]
        assert "certificate-authority-data" in config, config[:500]
        assert resized["api_address"] in config, config[:500]
        ui.open_panel("/project/clusters/")
        ui.shot("config-downloaded")

        # delete the cluster, then the template
        ui.row_action(cluster_name, "Delete Cluster")
        ui.confirm_delete()
        ui.assert_no_error_toast("delete cluster")
        ui.wait_for_row("/project/clusters/", cluster_name, None, gone=True)
        ui.shot("cluster-deleted")
        ui.open_panel("/project/cluster_templates/")
        ui.row_action(template_name, "Delete Cluster Template")
        ui.confirm_delete()
        ui.assert_no_error_toast("delete template")
        ui.wait_for_row("/project/cluster_templates/", template_name, None, gone=True)
        ui.shot("template-deleted")

        # the cloud admin's Quotas panel
        admin = eco_keystone.users["cloud-admin"]
        ui.login(admin.name, admin.password)
        ui.open_panel("/admin/container_infra/quotas/")
        page.get_by_role("heading", name="Quotas").first.wait_for()
        ui.shot("admin-quotas")
    except BaseException:
        page.screenshot(path=str(shots / "failure.png"), full_page=True)
        events.flush()
        print(f"Horizon log tail:\n{horizon.log_tail(80)}\nbrowser log: {horizon.workdir / 'browser.log'}")
        raise
    finally:
        events.close()
        context.close()
    assert not standins.unknown, f"requests the stand-ins do not serve: {standins.unknown}"


def _cluster_id(jeroboam: JeroboamProcess, keystone: KeystoneServer, name: str) -> str:
    token = keystone.token_for("alpha-member")
    response = httpx.get(f"{jeroboam.endpoint}/clusters", headers={"X-Auth-Token": token}, timeout=30)
    assert response.status_code == 200, response.text
    found = [cluster["uuid"] for cluster in response.json()["clusters"] if cluster["name"] == name]
    assert len(found) == 1, json.dumps(response.json())[:1000]
    return found[0]
