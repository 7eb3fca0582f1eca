"""A small real deployment for outage and log tests: one ``jeroboam-api`` and one
``jeroboam-conductor`` process (the ``sim`` driver), JSON logs in files, on a database (and broker)
that the test may reach through forwarders of its own (``tests/support/forwarder.py``)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from jeroboam.db import migrate
from jeroboam.db.session import make_engine
from tests.reliability.crash import BIN, Process
from tests.support.server import free_port, wait_until_up

HEADERS = {
    "X-Project-Id": "outages",
    "X-User-Id": "operator",
    "X-Roles": "member,reader",
    "OpenStack-API-Version": "container-infra latest",
}
TEMPLATE = {
    "name": "outage-sim",
    "coe": "kubernetes",
    "image_id": "fedora-coreos",
    "external_network_id": "public",
    "flavor_id": "m1.tiny",
    "master_flavor_id": "m1.small",
    "driver": "sim",
}
# A client that gives up after a few seconds: an answer that does not come fails the test.
CLIENT_TIMEOUT = 5.0


def through(url: str, address: str) -> str:
    """``url`` (a database URL) with its host and port replaced by ``address`` (a forwarder's)."""
    host, port = address.rsplit(":", 1)
    return make_url(url).set(host=host, port=int(port)).render_as_string(hide_password=False)


@dataclass
class Deployment:
    url: str
    api: Process
    conductor: Process
    client: httpx.Client

    def lines(self, process: Process) -> list[dict[str, Any]]:
        """The JSON log lines the process wrote so far (other output, e.g. uvicorn's, skipped)."""
        parsed = []
        for raw in process.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                line = json.loads(raw)
                if isinstance(line, dict):
                    parsed.append(line)
        return parsed

    def working_on(self, uuid: str) -> bool:
        """Whether the conductor has logged a phase of cluster ``uuid``."""
        return any(
            line.get("cluster_uuid") == uuid and ": phase " in line["message"] for line in self.lines(self.conductor)
        )

    def template(self) -> str:
        response = self.client.post("/v1/clustertemplates", json=TEMPLATE)
        assert response.status_code == 201, response.text
        uuid: str = response.json()["uuid"]
        return uuid

    def create(self, template: str, name: str) -> str:
        response = self.client.post(
            "/v1/clusters", json={"name": name, "cluster_template_id": template, "node_count": 1}
        )
        assert response.status_code == 202, response.text
        uuid: str = response.json()["uuid"]
        return uuid

    def status(self, uuid: str) -> str:
        response = self.client.get(f"/v1/clusters/{uuid}")
        if response.status_code == 404:
            return "gone"
        assert response.status_code == 200, response.text
        status: str = response.json()["status"]
        return status

    def wait_status(self, uuid: str, wanted: str, deadline: float = 60.0) -> None:
        last = wait_for(lambda: self.status(uuid), lambda s: s == wanted or s.endswith("_FAILED"), deadline)
        assert last == wanted, f"cluster {uuid} is {last}, not {wanted}"


def wait_for(probe: Callable[[], Any], done: Callable[[Any], bool], deadline: float) -> Any:
    """Poll ``probe`` until ``done`` says so or ``deadline`` seconds pass; return what it last saw."""
    end = time.monotonic() + deadline
    while True:
        seen = probe()
        if done(seen) or time.monotonic() > end:
            return seen
        time.sleep(0.1)


@contextlib.contextmanager
def deployment(
    workdir: Path,
    database_url: str,
    *,
    api_database: str | None = None,
    conductor_database: str | None = None,
    settings: dict[str, str] | None = None,
    api_settings: dict[str, str] | None = None,
    conductor_settings: dict[str, str] | None = None,
) -> Iterator[Deployment]:
    """Migrate ``database_url`` (directly), then run the API and a conductor on it, each through
    its own URL when given (a forwarder's), with JSON logs; ``settings`` are ``JEROBOAM_*``
    variables for both (without the prefix), the others for one process."""
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    base = {k: v for k, v in os.environ.items() if not k.startswith("JEROBOAM_")}
    common = {
        "DATA_DIR": str(workdir / "data"),
        "SIM__STATE_DIR": str(workdir / "sim"),
        "SIM__LATENCY_SECONDS": "0.2",
        "LOG_FORMAT": "json",
        "CONDUCTOR__POLL_INTERVAL": "0.5",
        "CONDUCTOR__LEASE_SECONDS": "3",
        "CONDUCTOR__HEALTH_POLLING_INTERVAL": "-1",
        **(settings or {}),
    }

    def env(database: str, extra: dict[str, str] | None) -> dict[str, str]:
        values = {**common, "DATABASE__CONNECTION": database, **(extra or {})}
        return {**base, **{f"JEROBOAM_{k}": v for k, v in values.items()}}

    port = free_port()
    api = Process(
        "api",
        [str(BIN / "jeroboam-api"), "--host", "127.0.0.1", "--port", str(port)],
        env(api_database or database_url, api_settings),
        logs,
    )
    conductor = Process(
        "conductor",
        [str(BIN / "jeroboam-conductor"), "--host", "outage-conductor"],
        env(conductor_database or database_url, conductor_settings),
        logs,
    )
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, headers=HEADERS, timeout=CLIENT_TIMEOUT) as client:
        try:
            api.start()
            conductor.start()
            wait_until_up(url, deadline=60)
            yield Deployment(url, api, conductor, client)
        finally:
            conductor.stop()
            api.stop()
