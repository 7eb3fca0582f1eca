"""The dashboard in Chromium (Debian's, driven by Playwright over CDP), against a running server:

    .venv/bin/python -m bench.dashboard http://127.0.0.1:9511 [--clusters 1000] [--idle-seconds 60]

Prints one JSON line per figure:

1. ``clusters_page_bytes`` cold and warm: every byte the browser received (headers included: CDP's
   ``Network.loadingFinished.encodedDataLength``, summed over all requests) to load
   ``/dashboard/#/clusters`` until the list is shown, for a project with ``--small`` clusters;
   cold in a new browser profile, warm in the same tab after navigating away and back (the static
   files are revalidated with their ETags: 304s);
2. ``time_to_show_clusters``: from navigation start to the list holding ``--clusters`` rows
   (``performance.now()`` in the page when the last row is there), median of ``--repeat`` cold loads;
3. ``idle_requests_per_minute``: API requests an open, idle dashboard makes (counted with
   CDP ``Network.requestWillBeSent``) over ``--idle-seconds``, on the clusters page and on a
   cluster's page, every cluster settled.

Setup (not timed): the projects get a sim template and their clusters (the quota raised as admin,
noauth), then the benchmark waits until none is in progress. The clusters are left in place.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from bench.common import Api, Credentials, Target, all_clusters, emit, ensure_template, set_cluster_quota, wait_settled

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def fill_project(target: Target, project: str, count: int) -> None:
    admin = Api(target, Credentials(None, project, "bench-admin", "admin,member,reader"))
    set_cluster_quota(admin, project, count + 10)
    member = Api(target, Credentials(None, project, "bench", "member,reader"))
    template = ensure_template(member, "dashboard-bench")
    missing = count - len(all_clusters(member))

    def create(index: int) -> None:
        api = Api(target, member.credentials)
        body = {"name": f"c{index:05d}-{int(time.time() * 1000) % 100000}", "cluster_template_id": template}
        api.call("POST", "/v1/clusters", body, expect=(202,))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(max(0, missing))))
    wait_settled(member)


def session_script(project: str) -> str:
    """Signed in before the page's own scripts run (what the sign-in form stores)."""
    session = {"kind": "noauth", "project": project, "user": "bench", "roles": ["member", "reader"]}
    return f"sessionStorage.setItem('jeroboam.session', {json.dumps(json.dumps(session))});"


@contextmanager
def tab(browser: Browser, project: str) -> Iterator[tuple[BrowserContext, Page, dict[str, Any]]]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(session_script(project))
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    counters: dict[str, Any] = {"bytes": 0, "requests": [], "api": 0}

    def finished(event: dict[str, Any]) -> None:
        counters["bytes"] += event["encodedDataLength"]

    def sent(event: dict[str, Any]) -> None:
        url = event["request"]["url"]
        counters["requests"].append(url)
        if "/v1/" in url:
            counters["api"] += 1

    cdp.on("Network.loadingFinished", finished)
    cdp.on("Network.requestWillBeSent", sent)
    try:
        yield context, page, counters
    finally:
        context.close()


def wait_rows(page: Page, rows: int) -> float:
    """Milliseconds from navigation start until the list with ``rows`` rows was on screen (the page's
    ``jeroboam:clusters-shown`` mark, set in the animation frame after the first list is built).
    The page's CSP forbids evaluating strings, so the wait is a selector, not a JS predicate."""
    page.wait_for_selector(f"table.clusters tbody tr:nth-child({rows})", state="attached", timeout=120_000)
    mark = "() => (performance.getEntriesByName('jeroboam:clusters-shown')[0] || {}).startTime ?? null"
    end = time.monotonic() + 30
    while (shown := page.evaluate(mark)) is None:
        if time.monotonic() > end:
            raise RuntimeError("the page never marked jeroboam:clusters-shown")
        page.wait_for_timeout(20)
    return float(shown)


def page_weight(browser: Browser, url: str, project: str, rows: int, label: str) -> None:
    with tab(browser, project) as (_, page, counters):
        page.goto(f"{url}/dashboard/#/clusters")
        wait_rows(page, rows)
        page.wait_for_load_state("networkidle")
        cold, cold_requests = counters["bytes"], len(counters["requests"])
        page.goto("about:blank")
        counters["bytes"], counters["requests"] = 0, []
        page.goto(f"{url}/dashboard/#/clusters")
        wait_rows(page, rows)
        page.wait_for_load_state("networkidle")
        warm, warm_requests = counters["bytes"], len(counters["requests"])
    for state, size, requests in (("cold", cold, cold_requests), ("warm", warm, warm_requests)):
        emit(
            {
                "figure": "clusters_page_bytes",
                "cache": state,
                "bytes": size,
                "requests": requests,
                "clusters": rows,
                "label": label,
            }
        )


def time_to_show(browser: Browser, url: str, project: str, rows: int, repeat: int, label: str) -> None:
    times = []
    for _ in range(repeat):
        with tab(browser, project) as (_, page, _counters):
            page.goto(f"{url}/dashboard/#/clusters")
            times.append(wait_rows(page, rows))
    emit(
        {
            "figure": "time_to_show_clusters",
            "clusters": rows,
            "median_ms": round(statistics.median(times), 1),
            "runs_ms": [round(t, 1) for t in times],
            "label": label,
        }
    )


def idle_requests(browser: Browser, url: str, project: str, seconds: float, label: str) -> None:
    member = Api(Target.parse(url), Credentials(None, project, "bench", "member,reader"))
    one = all_clusters(member)[0]["uuid"]
    for page_name, route, ready in (
        ("clusters", "#/clusters", "table.clusters tbody tr"),
        ("cluster", f"#/clusters/{one}", "section[aria-label=History] tbody tr"),
    ):
        with tab(browser, project) as (_, page, counters):
            page.goto(f"{url}/dashboard/{route}")
            page.wait_for_selector(ready, timeout=60_000)
            page.wait_for_load_state("networkidle")
            counters["api"] = 0
            page.wait_for_timeout(seconds * 1000)  # the measurement itself: an idle tab left open
            made = counters["api"]
        emit(
            {
                "figure": "idle_requests_per_minute",
                "page": page_name,
                "requests_per_minute": round(made * 60 / seconds, 2),
                "seconds": seconds,
                "label": label,
            }
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="server base URL, e.g. http://127.0.0.1:9511")
    parser.add_argument("--clusters", type=int, default=1000, help="clusters in the list that is timed")
    parser.add_argument("--small", type=int, default=10, help="clusters of the project whose page is weighed")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    url = args.url.rstrip("/")
    target = Target.parse(url)
    small, large = "dash-bench-small", "dash-bench-large"
    fill_project(target, small, args.small)
    fill_project(target, large, args.clusters)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page_weight(browser, url, small, args.small, args.label)
            page_weight(browser, url, large, args.clusters, args.label)
            time_to_show(browser, url, large, args.clusters, args.repeat, args.label)
            idle_requests(browser, url, small, args.idle_seconds, args.label)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
