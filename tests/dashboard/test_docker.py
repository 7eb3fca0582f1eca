"""The dashboard with the docker provider: a real swarm-mode cluster of Docker-in-Docker nodes,
built while the progress bar is watched, reached with the configuration the dashboard gives
(the ordinary ``docker`` CLI over the cluster's TLS endpoint), then deleted with nothing left."""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from playwright.sync_api import Browser, expect

from tests.compat.conftest import JeroboamProcess, poll, running_jeroboam
from tests.dashboard.conftest import SERVER_ENV, Dashboard, check_config_bundle
from tests.dashboard.test_flows import create_cluster, create_template
from tests.docker.conftest import docker_client

pytestmark = pytest.mark.docker
__all__ = ["docker_client"]  # the engine fixture (skips, saying why, without an engine)

BUILD_TIMEOUT_MS = 240_000
DOCKER_CLI = "/usr/bin/docker"
LABEL = "org.jeroboam.cluster"


@pytest.fixture(scope="module")
def docker_up(
    docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JeroboamProcess]:
    env = {**SERVER_ENV, "JEROBOAM_CONDUCTOR__POLL_INTERVAL": "0.2", "JEROBOAM_CONDUCTOR__HEALTH_POLLING_INTERVAL": "1"}
    with running_jeroboam(tmp_path_factory.mktemp("dashboard-docker"), env=env) as up:
        yield up


def test_docker_cluster_built_reached_and_deleted_from_the_dashboard(
    browser: Browser, docker_up: JeroboamProcess, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    tab = Dashboard(context.new_page(), docker_up.url, "docker")
    page = tab.page
    uuid = ""
    try:
        tab.sign_in_noauth("dash-docker")
        create_template(tab, "docker-swarm", driver="docker")
        create_cluster(tab, "docker-swarm", "dind", "", nodes=1)
        uuid = page.url.rsplit("/", 1)[-1]
        progress = page.get_by_role("region", name="Progress")
        expect(progress.locator("li.phase")).to_have_count(6)
        tab.shot("docker-progress")
        expect(page.locator(".badges")).to_contain_text("CREATE_COMPLETE", timeout=BUILD_TIMEOUT_MS)
        expect(progress).to_have_attribute("data-state", "succeeded")
        tab.shot("docker-complete")

        with page.expect_download() as download_info:
            page.get_by_role("button", name="Download configuration").click()
        bundle = tmp_path / "dind-config.tar"
        download_info.value.save_as(bundle)
        check_config_bundle(bundle, "dind")
        with tarfile.open(bundle) as archive:
            archive.extractall(tmp_path, filter="data")
        certs = tmp_path / "dind"
        env_sh = (certs / "env.sh").read_text()
        host = next(line.split("=", 1)[1] for line in env_sh.splitlines() if line.startswith("export DOCKER_HOST="))
        # The same environment a user gets with `. ./env.sh`, without the host's variables.
        listed = subprocess.run(
            ["bash", "-c", f". {certs}/env.sh && {DOCKER_CLI} node ls --format '{{{{.Hostname}}}} {{{{.Status}}}}'"],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        )
        assert listed.returncode == 0, listed.stderr
        assert sorted(listed.stdout.split("\n")[:-1]) == ["dind-default-master-0 Ready", "dind-default-worker-0 Ready"]
        assert host.startswith("tcp://127.0.0.1:")
        tab.shot("docker-config-works")

        page.get_by_role("button", name="Delete cluster…").click()
        page.get_by_role("dialog").get_by_label("Type dind to confirm").fill("dind")
        page.get_by_role("dialog").get_by_role("button", name="Delete cluster").click()
        expect(page.get_by_role("heading", name="Cluster dind is gone")).to_be_visible(timeout=BUILD_TIMEOUT_MS)
        tab.shot("docker-deleted")
        left = poll(
            "the cluster's containers removed",
            lambda: True if not docker_client.containers.list(all=True, filters={"label": f"{LABEL}={uuid}"}) else None,
            60.0,
            0.5,
        )
        assert left
    finally:
        context.close()
        if uuid:  # whatever the outcome, leave none of this test's containers on the shared engine
            owned = {"label": f"{LABEL}={uuid}"}
            for container in docker_client.containers.list(all=True, filters=owned):
                container.remove(force=True, v=True)
            for volume in docker_client.volumes.list(filters=owned):
                volume.remove(force=True)
            for network in docker_client.networks.list(filters=owned):
                network.remove()
    assert not tab.console_errors, tab.console_errors
