"""The server answers over real HTTP on every reachable backend."""

from __future__ import annotations

from tests.conftest import Api


def test_template_round_trip(api: Api) -> None:
    body = {"name": "t1", "coe": "swarm-mode", "image_id": "jeroboam-node", "external_network_id": "public"}
    created = api.post("/v1/clustertemplates", json=body)
    assert created.status_code == 201, created.text
    uuid = created.json()["uuid"]
    assert created.headers["Location"].endswith(f"/v1/clustertemplates/{uuid}")
    assert api.get("/v1/clustertemplates/t1").json()["uuid"] == uuid
    assert api.delete(f"/v1/clustertemplates/{uuid}").status_code == 204
    assert api.get(f"/v1/clustertemplates/{uuid}").status_code == 404
