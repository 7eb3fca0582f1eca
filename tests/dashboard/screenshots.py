"""The README's screenshots, made from a running server (``scripts/dashboard-screenshots`` starts
one and calls this):

    .venv/bin/python -m tests.dashboard.screenshots http://127.0.0.1:9511 docs/images

It creates, through the API, a sim template and a few clusters of project ``demo`` (complete,
failing, being built), then saves ``dashboard-clusters.png`` (the clusters page) and
``dashboard-progress.png`` (a cluster while its workers are being built) at 1280x800.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

from tests.compat.conftest import poll
from tests.dashboard.conftest import launch_chromium

WHO = {
    "X-Project-Id": "demo",
    "X-User-Id": "demo",
    "X-Roles": "member,reader",
    "OpenStack-API-Version": "container-infra latest",
}
SESSION = {"kind": "noauth", "project": "demo", "user": "demo", "roles": ["member", "reader"]}


def status(api: httpx.Client, name: str) -> str:
    body: dict[str, Any] = api.get(f"/v1/clusters/{name}").json()
    return str(body["status"])


def populate(api: httpx.Client) -> str:
    template = api.post(
        "/v1/clustertemplates",
        json={"name": "swarm-small", "coe": "swarm-mode", "image_id": "jeroboam-node", "driver": "sim",
              "flavor_id": "m1.small", "external_network_id": "public"},
    ).json()["uuid"]  # fmt: skip
    clusters = {
        "web": {"node_count": 3},
        "batch": {"node_count": 2},
        "ci-runners": {"node_count": 1, "labels": {"sim_fail_phase": "endpoint"}},
        "analytics": {"node_count": 2, "master_count": 1},
    }
    for name, extra in clusters.items():
        api.post("/v1/clusters", json={"name": name, "cluster_template_id": template, **extra}).raise_for_status()
    for name in clusters:
        poll(f"{name} settled", lambda n=name: None if status(api, n).endswith("IN_PROGRESS") else True, 60, 0.3)  # type: ignore[misc]
    return template


def build_staging(api: httpx.Client, template: str) -> str:
    """A cluster slow enough (5 s a phase) to be photographed while its workers are built."""
    made = api.post(
        "/v1/clusters",
        json={"name": "staging", "cluster_template_id": template, "node_count": 4, "labels": {"sim_latency": "5"}},
    )
    made.raise_for_status()
    return str(made.json()["uuid"])


def main(url: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with httpx.Client(base_url=url, headers=WHO, timeout=30) as api:
        template = populate(api)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.add_init_script(f"sessionStorage.setItem('jeroboam.session', {json.dumps(json.dumps(SESSION))});")
            page = context.new_page()
            page.goto(f"{url}/dashboard/#/clusters")
            page.wait_for_selector("table.clusters tbody tr >> nth=3")
            staging = build_staging(api, template)
            page.wait_for_selector(f"tr[data-uuid='{staging}']")
            page.screenshot(path=str(out / "dashboard-clusters.png"))
            page.goto(f"{url}/dashboard/#/clusters/{staging}")
            page.wait_for_selector("li.phase.running[data-phase=workers]", timeout=60_000)
            page.wait_for_timeout(300)  # the pulse animation's bright half, for a readable picture
            page.screenshot(path=str(out / "dashboard-progress.png"))
            browser.close()
    print(f"saved {out / 'dashboard-clusters.png'} and {out / 'dashboard-progress.png'}")


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"), Path(sys.argv[2]))
