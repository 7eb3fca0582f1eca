"""JSON logs name the request and the cluster on every line that concerns them (issue 16, item 6).

A real ``jeroboam-api`` and ``jeroboam-conductor`` (SQLite, the ``sim`` driver) with
``log_format = "json"``: a cluster is created, read by name, and deleted; then every line of
either process that concerns the cluster carries its uuid, every API request line its request
id, and the conductor's lines carry the id of the request that asked for the work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.deployment import deployment

pytestmark = pytest.mark.timeout(120)


def concerns(line: dict[str, Any], uuid: str, name: str) -> bool:
    text = line["message"] + " " + str(line.get("path", ""))
    return uuid in text or f"/{name}" in text


def test_every_line_about_a_cluster_names_it_and_its_request(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'jeroboam.sqlite'}"
    with deployment(tmp_path, database) as deployed:
        template = deployed.template()
        created = deployed.client.post("/v1/clusters", json={"name": "logged", "cluster_template_id": template})
        assert created.status_code == 202, created.text
        uuid = created.json()["uuid"]
        deployed.wait_status(uuid, "CREATE_COMPLETE")
        by_name = deployed.client.get("/v1/clusters/logged")
        assert by_name.status_code == 200
        deleted = deployed.client.delete("/v1/clusters/logged")
        assert deleted.status_code == 204
        deployed.wait_status(uuid, "gone")
        api_lines = deployed.lines(deployed.api)
        conductor_lines = deployed.lines(deployed.conductor)

    request_ids = {
        "create": created.headers["x-openstack-request-id"],
        "get": by_name.headers["x-openstack-request-id"],
        "delete": deleted.headers["x-openstack-request-id"],
    }
    requests = [line for line in api_lines if line["logger"] == "jeroboam.api.requests"]
    assert requests, "the API logged no request lines"
    assert all(str(line.get("request_id", "")).startswith("req-") for line in requests), requests
    # The requests that named the cluster (by uuid, by name, or by creating it) carry its uuid.
    by_id = {line["request_id"]: line for line in requests}
    for kind, request_id in request_ids.items():
        line = by_id[request_id]
        assert line.get("cluster_uuid") == uuid, (kind, line)
    assert (by_id[request_ids["create"]]["method"], by_id[request_ids["create"]]["status"]) == ("POST", 202)
    assert by_id[request_ids["get"]]["path"] == "/v1/clusters/logged"
    # Every line of either process that mentions the cluster names it in its field.
    about = [line for line in api_lines + conductor_lines if concerns(line, uuid, "logged")]
    assert [line for line in about if line.get("cluster_uuid") != uuid] == []
    # The conductor's lines for the work: one per phase and the outcome, each with the uuid and the
    # id of the request that asked for it.
    work = [line for line in conductor_lines if line.get("cluster_uuid") == uuid]
    phases = [line["message"].rsplit(" ", 1)[-1] for line in work if ": phase " in line["message"]]
    assert phases[:6] == ["infrastructure", "pki", "control_plane", "workers", "endpoint", "status"], phases
    assert "delete" in phases
    finished = {line["message"].split(": ", 1)[1]: line["request_id"] for line in work if "finished" in line["message"]}
    assert finished == {"create finished": request_ids["create"], "delete finished": request_ids["delete"]}
    for line in work:
        assert line.get("request_id") in (request_ids["create"], request_ids["delete"]), line
