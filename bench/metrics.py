"""CPU cost of the API's metrics per request, in process (no server, no network: the machine's
load hides a few microseconds in an HTTP benchmark).

    .venv/bin/python -m bench.metrics --requests 200000

Drives ``MetricsEdge`` around an ASGI app that answers at once, and the bare app, with the same
request; prints one JSON line per figure with the CPU microseconds per request of each and their
difference (the metrics' cost). For the cost over HTTP, run ``bench.api`` with ``--server-pid``
against ``jeroboam up`` with ``JEROBOAM_METRICS__ENABLED=true`` and ``false``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.common import emit
from jeroboam.api.metrics import MetricsEdge
from jeroboam.config import MetricsSettings
from jeroboam.observability.metrics import Snapshot


class _Route:
    path = "/v1/clusters/{ident}"


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    scope["route"] = _Route  # as FastAPI's router leaves it
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _send(message: dict[str, Any]) -> None:
    return None


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b""}


async def _allow(headers: dict[str, str]) -> bool:
    return True


def _cpu_per_request(app: Any, requests: int) -> float:
    async def drive() -> None:
        for _ in range(requests):
            scope = {"type": "http", "method": "GET", "path": "/v1/clusters/x", "headers": []}
            await app(scope, _receive, _send)

    started = time.process_time()
    asyncio.run(drive())
    return (time.process_time() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    edge = MetricsEdge(_app, settings=MetricsSettings(), snapshot=lambda: Snapshot(0), is_admin=_allow)  # type: ignore[arg-type]
    for round_ in range(args.rounds):
        bare = _cpu_per_request(_app, args.requests)
        wrapped = _cpu_per_request(edge, args.requests)
        emit(
            {
                "benchmark": "metrics",
                "figure": "CPU per request, in process",
                "round": round_,
                "requests": args.requests,
                "bare_us": round(bare, 2),
                "with_metrics_us": round(wrapped, 2),
                "metrics_cost_us": round(wrapped - bare, 2),
            }
        )


if __name__ == "__main__":
    main()
