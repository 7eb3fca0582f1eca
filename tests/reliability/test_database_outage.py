"""The database goes away for a while under a real API and conductor (issue 16, item 4).

Each process reaches PostgreSQL (or MariaDB) through a forwarder of its own that the test turns
off — the shared server is never stopped. While it is off the API answers 503 in Magnum's error
body (at once: a client that waits more than a few seconds fails the test), the conductor stays
up, and each process logs the outage once however often it retries; afterwards the work accepted
before the outage and a request made after it both complete.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.support.databases import SERVERS, database_or_skip
from tests.support.deployment import Deployment, deployment, through, wait_for
from tests.support.forwarder import Forwarder

pytestmark = pytest.mark.timeout(150)

DOWN = "the database is unavailable"
BACK = "the database is available again"


def outage_lines(deployed: Deployment, which: str) -> tuple[list[str], list[str], list[str]]:
    process = deployed.api if which == "api" else deployed.conductor
    lines = deployed.lines(process)
    down = [line["message"] for line in lines if line["message"].startswith(DOWN)]
    back = [line["message"] for line in lines if line["message"].startswith(BACK)]
    tracebacks = [line["message"] for line in lines if "exception" in line]
    return down, back, tracebacks


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_a_database_outage_is_a_503_and_no_work_is_lost(backend: str, tmp_path: Path) -> None:
    server = make_url(SERVERS[backend])
    target = (server.host or "127.0.0.1", server.port or (5432 if backend == "postgresql" else 3306))
    with (
        database_or_skip(backend, tmp_path) as url,
        Forwarder(target) as to_api,
        Forwarder(target) as to_conductor,
        deployment(
            tmp_path,
            url,
            api_database=through(url, to_api.address),
            conductor_database=through(url, to_conductor.address),
            # Slow enough that the first cluster is still being built when the database goes.
            settings={"SIM__LATENCY_SECONDS": "0.5"},
        ) as deployed,
    ):
        template = deployed.template()
        before = deployed.create(template, "before")
        # The conductor is building it (its first phase is logged) when the database goes.
        assert wait_for(lambda: deployed.working_on(before), bool, 30), "the conductor never took the cluster"

        to_api.refuse()
        to_conductor.refuse()
        listed = deployed.client.get("/v1/clusters")
        created = deployed.client.post("/v1/clusters", json={"name": "during", "cluster_template_id": template})
        for answer in (listed, created):
            assert answer.status_code == 503, answer.text
            (error,) = answer.json()["errors"]
            assert error["status"] == 503
            assert error["code"] == "server"
            assert error["title"] == "The database is not available (OperationalError)"
            assert answer.headers["x-openstack-request-id"].startswith("req-")
        # Metrics still answer, saying the database is down (operators alert on it).
        scraped = deployed.client.get("/metrics")
        assert scraped.status_code == 200
        assert "jeroboam_database_up 0.0" in scraped.text
        served = [ln for ln in scraped.text.splitlines() if ln.startswith("jeroboam_http_requests_total{")]
        assert any('route="/v1/clusters"' in ln and 'status="503"' in ln for ln in served), served
        # The conductor retries (each attempt is a connection the forwarder resets) and lives on.
        assert wait_for(lambda: to_conductor.refused, lambda n: n >= 6, 30) >= 6
        assert deployed.conductor.alive, "the conductor died during the database outage"
        down, back, tracebacks = outage_lines(deployed, "conductor")
        assert len(down) == 1, down
        assert back == []
        assert tracebacks == []

        to_api.accept()
        to_conductor.accept()
        after = deployed.create(template, "after")
        deployed.wait_status(before, "CREATE_COMPLETE")
        deployed.wait_status(after, "CREATE_COMPLETE")
        assert deployed.conductor.alive

        for which in ("api", "conductor"):
            down, back, tracebacks = outage_lines(deployed, which)
            assert len(down) == 1, (which, down)
            assert len(back) == 1, (which, back)
            assert tracebacks == [], (which, tracebacks)
        # The 503s are in the API's request log, with their request ids.
        failed = [line for line in deployed.lines(deployed.api) if line.get("status") == 503]
        assert {line["request_id"] for line in failed} == {
            listed.headers["x-openstack-request-id"],
            created.headers["x-openstack-request-id"],
        }
