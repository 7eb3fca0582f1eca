"""/v1/mservices over HTTP (reference §3.8), compared with upstream's wire samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jeroboam.conductor.heartbeat import Heartbeat
from jeroboam.db.models import Service
from tests.conftest import Api, RunningServer
from tests.support.identities import ALPHA_MEMBER, ALPHA_READER

KEYS = {"id", "host", "binary", "state", "report_count", "disabled", "disabled_reason", "created_at", "updated_at"}


def error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["errors"][0]
    return body


def add_row(server: RunningServer, host: str, **values: Any) -> None:
    with server.services.db.transaction() as session:
        session.add(Service(host=host, binary="magnum-conductor", **values))


def by_host(api: Api) -> dict[str, dict[str, Any]]:
    response = api.get("/v1/mservices")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"mservices"}  # never a "next"
    return {item["host"]: item for item in body["mservices"]}


def test_empty(api: Api) -> None:
    response = api.get("/v1/mservices")
    assert response.status_code == 200
    assert response.json() == {"mservices": []}


def test_heartbeating_conductor_is_up(api: Api, server: RunningServer) -> None:
    heartbeat = Heartbeat(server.services.db, "h1", interval=60)
    heartbeat.beat()
    heartbeat.beat()
    item = by_host(api)["h1"]
    assert set(item) == KEYS
    assert item["binary"] == "magnum-conductor"
    assert item["state"] == "up"
    assert item["report_count"] == 2
    assert item["disabled"] is False
    assert item["disabled_reason"] is None
    assert item["created_at"].endswith("+00:00")
    assert isinstance(item["id"], int)


def test_conductor_row_of_the_former_name_is_renamed(api: Api, server: RunningServer) -> None:
    # magnum-tempest-plugin asserts "magnum-conductor"; rows from before the rename must not linger.
    with server.services.db.transaction() as session:
        session.add(Service(host="h1", binary="jeroboam-conductor", report_count=7))
    Heartbeat(server.services.db, "h1", interval=60).beat()
    items = api.get("/v1/mservices").json()["mservices"]
    assert [(item["host"], item["binary"], item["report_count"]) for item in items] == [("h1", "magnum-conductor", 8)]


def test_state_follows_last_sign_of_life(api: Api, server: RunningServer) -> None:
    now = datetime.now(UTC)
    long_ago = now - timedelta(seconds=600)
    add_row(server, "fresh", last_seen_up=now - timedelta(seconds=30))
    add_row(server, "stale", last_seen_up=long_ago, created_at=long_ago)
    add_row(server, "forced", last_seen_up=now, forced_down=True)
    # Without a heartbeat: updated_at, then created_at, decide.
    add_row(server, "never-beat-new", created_at=now - timedelta(seconds=10))
    add_row(server, "never-beat-old", created_at=long_ago)
    add_row(server, "updated-recently", created_at=long_ago, updated_at=now - timedelta(seconds=5))
    add_row(server, "beat-stale-but-updated", created_at=long_ago, updated_at=now, last_seen_up=long_ago)
    states = {host: item["state"] for host, item in by_host(api).items()}
    assert states == {
        "fresh": "up",
        "stale": "down",
        "forced": "down",
        "never-beat-new": "up",
        "never-beat-old": "down",
        "updated-recently": "up",
        "beat-stale-but-updated": "down",
    }


def test_items_are_in_id_order(api: Api, server: RunningServer) -> None:
    for host in ("c", "a", "b"):
        add_row(server, host)
    response = api.get("/v1/mservices")
    items = response.json()["mservices"]
    assert [item["host"] for item in items] == ["c", "a", "b"]
    assert [item["id"] for item in items] == sorted(item["id"] for item in items)


def test_disabled_row_is_shown_as_such(api: Api, server: RunningServer) -> None:
    add_row(server, "off", disabled=True, disabled_reason="maintenance")
    item = by_host(api)["off"]
    assert item["disabled"] is True
    assert item["disabled_reason"] == "maintenance"


def test_admin_only(api: Api) -> None:
    for identity in (ALPHA_READER, ALPHA_MEMBER):
        response = api.as_(identity).get("/v1/mservices")
        # Sample "GET mservices reader".
        assert response.status_code == 403
        assert error(response) == {
            "request_id": "",
            "code": "client",
            "status": 403,
            "title": "Policy doesn't allow magnum-service:get_all to be performed",
            "detail": "Policy doesn't allow magnum-service:get_all to be performed.",
            "links": [],
        }


def test_no_query_arguments(api: Api) -> None:
    response = api.get("/v1/mservices?limit=1")
    # Sample "mservices limit".
    assert response.status_code == 400
    assert error(response) == {
        "request_id": "",
        "code": "client",
        "status": 400,
        "title": 'Unknown argument: "limit"',
        "detail": 'Unknown argument: "limit"',
        "links": [],
    }
