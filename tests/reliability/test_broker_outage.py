"""RabbitMQ goes away for a while under a real API and conductor (issue 16, item 4).

The API and the conductor reach the shared broker through forwarders of their own that the test
turns off (the broker itself keeps running for everyone else). While it is off, requests are
still accepted at once and the conductor finds the work by polling; notifications emitted
meanwhile are held and delivered once it is back, as are those emitted afterwards — read from a
queue of our own on the real broker. Each process logs the outage once, not per attempt.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import database_or_skip
from tests.support.deployment import Deployment, deployment, wait_for
from tests.support.forwarder import Forwarder
from tests.support.notifications import BROKER, Notifications

pytestmark = [pytest.mark.postgresql, pytest.mark.timeout(150)]

DOWN = "the message broker "  # ... is unavailable / is available again


def _reachable() -> bool:
    try:
        with socket.create_connection(BROKER, timeout=1):
            return True
    except OSError:
        return False


def broker_lines(deployed: Deployment, which: str) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    lines = deployed.lines(deployed.api if which == "api" else deployed.conductor)
    down = [ln["message"] for ln in lines if ln["message"].startswith(DOWN) and "is unavailable" in ln["message"]]
    back = [ln["message"] for ln in lines if ln["message"].startswith(DOWN) and "available again" in ln["message"]]
    return down, back, [ln for ln in lines if "exception" in ln]


@pytest.mark.skipif(not _reachable(), reason="RabbitMQ on 127.0.0.1:5672 is not reachable")
def test_a_broker_outage_delays_nothing_and_notifications_resume(tmp_path: Path) -> None:
    with (
        database_or_skip("postgresql", tmp_path) as url,
        Forwarder(BROKER) as to_api,
        Forwarder(BROKER) as to_conductor,
        Notifications().running() as notes,
        deployment(
            tmp_path,
            url,
            # A poll interval long enough that a wake-up is what starts work while the broker is up.
            settings={"CONDUCTOR__POLL_INTERVAL": "1"},
            api_settings={"TRANSPORT_URL": f"rabbit://guest:guest@{to_api.address}/"},
            conductor_settings={"TRANSPORT_URL": f"rabbit://guest:guest@{to_conductor.address}/"},
        ) as deployed,
    ):
        template = deployed.template()
        first = deployed.create(template, "first")
        deployed.wait_status(first, "CREATE_COMPLETE")
        assert wait_for(lambda: notes.of(first), lambda e: "magnum.cluster.create.end" in e, 15) == [
            "magnum.cluster.create.start",
            "magnum.cluster.create.end",
        ]

        to_api.refuse()
        to_conductor.refuse()
        # Accepted at once (the client gives up after a few seconds), built by polling alone.
        during = deployed.create(template, "during")
        assert deployed.client.delete(f"/v1/clusters/{first}").status_code == 204
        deployed.wait_status(during, "CREATE_COMPLETE")
        deployed.wait_status(first, "gone")
        # The conductor keeps trying to reach the broker (each try is a reset connection) and lives on.
        assert wait_for(lambda: to_conductor.refused, lambda n: n >= 3, 30) >= 3
        assert deployed.conductor.alive
        assert deployed.api.alive
        assert notes.of(during) == []  # nothing got through while the broker was away

        to_api.accept()
        to_conductor.accept()
        after = deployed.create(template, "after")
        deployed.wait_status(after, "CREATE_COMPLETE")
        # Sent after the broker came back, and held while it was away: all delivered.
        # The API's held start and the conductor's end come from two processes, each retrying on
        # its own schedule: wait for both of each cluster.
        create = ("magnum.cluster.create.start", "magnum.cluster.create.end")
        delete = ("magnum.cluster.delete.start", "magnum.cluster.delete.end")
        for uuid, events in ((after, create), (during, create), (first, delete)):
            seen = wait_for(lambda u=uuid: notes.of(u), lambda e, w=events: all(x in e for x in w), 20)  # type: ignore[misc]
            assert all(x in seen for x in events), (uuid, seen)
        # Each exactly once (API and conductor publish separately, so their order may differ).
        assert sorted(notes.of(during)) == ["magnum.cluster.create.end", "magnum.cluster.create.start"]
        assert sorted(notes.of(first)[2:]) == ["magnum.cluster.delete.end", "magnum.cluster.delete.start"]

        for which in ("api", "conductor"):
            down, back, tracebacks = broker_lines(deployed, which)
            assert len(down) == 1, (which, down)
            assert len(back) == 1, (which, back)
            assert tracebacks == [], (which, tracebacks)
