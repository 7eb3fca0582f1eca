"""API read/write throughput and latency against any Magnum-API-compatible server.

    .venv/bin/python -m bench.api http://127.0.0.1:9511 --concurrency 1 4 16 --seconds 10
    .venv/bin/python -m bench.api URL --token "$OS_TOKEN"        # keystone mode

Prints one JSON line per (endpoint, concurrency, connection mode): requests/s, p50/p95/p99 in ms,
errors. ``--fresh`` opens a new connection per request; the default keeps connections alive.
Every run is bounded by ``--seconds`` per figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

VERSION = {"OpenStack-API-Version": "container-infra latest"}
TEMPLATE = {"coe": "kubernetes", "image_id": "fedora-coreos", "driver": "sim", "external_network_id": "public"}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def run(
    name: str,
    call: Callable[[httpx.Client], httpx.Response],
    *,
    url: str,
    headers: dict[str, str],
    concurrency: int,
    seconds: float,
    fresh: bool,
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        client = httpx.Client(base_url=url, headers=headers, timeout=30)
        while time.monotonic() < end:
            if fresh:
                client.close()
                client = httpx.Client(base_url=url, headers=headers, timeout=30)
            start = time.perf_counter()
            try:
                ok = call(client).status_code < 400
            except httpx.HTTPError:
                ok = False
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                errors += not ok
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    duration = time.monotonic() - started
    return {
        "benchmark": "api",
        "endpoint": name,
        "concurrency": concurrency,
        "connection": "fresh" if fresh else "keep-alive",
        "requests": len(latencies),
        "req_per_s": round(len(latencies) / duration, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else 0.0,
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="API base URL, e.g. http://127.0.0.1:9511")
    parser.add_argument("--token", help="Keystone token (X-Auth-Token); default: noauth headers")
    parser.add_argument("--project", default="bench", help="noauth project id")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each figure")
    parser.add_argument("--fresh", action="store_true", help="a new connection per request")
    args = parser.parse_args(argv)
    headers = dict(VERSION)
    if args.token:
        headers["X-Auth-Token"] = args.token
    else:
        headers.update({"X-Project-Id": args.project, "X-User-Id": "bench", "X-Roles": "member,reader"})
    with httpx.Client(base_url=args.url, headers=headers, timeout=30) as client:
        created = client.post("/v1/clustertemplates", json={**TEMPLATE, "name": "bench-template"})
        created.raise_for_status()
        template = created.json()["uuid"]

    def template_pair(client: httpx.Client) -> httpx.Response:
        made = client.post("/v1/clustertemplates", json={**TEMPLATE, "name": "bench-pair"})
        if made.status_code != 201:
            return made
        return client.delete(f"/v1/clustertemplates/{made.json()['uuid']}")

    calls: dict[str, Callable[[httpx.Client], httpx.Response]] = {
        "GET /v1/clustertemplates": lambda c: c.get("/v1/clustertemplates"),
        "GET /v1/clustertemplates/<uuid>": lambda c: c.get(f"/v1/clustertemplates/{template}"),
        "GET /v1/clusters": lambda c: c.get("/v1/clusters"),
        "GET /v1/clusters/detail": lambda c: c.get("/v1/clusters/detail"),
        "POST+DELETE /v1/clustertemplates": template_pair,
    }
    try:
        for name, call in calls.items():
            for concurrency in args.concurrency:
                figure = run(
                    name, call, url=args.url, headers=headers, concurrency=concurrency,
                    seconds=args.seconds, fresh=args.fresh,
                )  # fmt: skip
                print(json.dumps(figure), flush=True)
    finally:
        with httpx.Client(base_url=args.url, headers=headers, timeout=30) as client:
            client.delete(f"/v1/clustertemplates/{template}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
