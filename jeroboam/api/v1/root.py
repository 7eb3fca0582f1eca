"""Version documents and the health check (no authentication)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from jeroboam.api.deps import JSON_OBJECT, base_url, json_response
from jeroboam.api.errors import status_of
from jeroboam.domain.versions import MAX_VERSION, MIN_VERSION
from jeroboam.errors import ServiceUnavailableError
from jeroboam.services.wiring import Services

router = APIRouter(tags=["versions"])

COLLECTIONS = (
    "clustertemplates",
    "clusters",
    "quotas",
    "certificates",
    "mservices",
    "stats",
    "federations",
    "credentials",
)


def _link(href: str, rel: str) -> dict[str, str]:
    return {"href": href, "rel": rel}


@router.get("/", summary="API versions", response_model=JSON_OBJECT)
async def versions(request: Request) -> Response:
    base = base_url(request)
    return json_response(
        {
            "name": "OpenStack Magnum API",
            "description": "Magnum is an OpenStack project which aims to provide container cluster management.",
            "versions": [
                {
                    "id": "v1",
                    "links": [_link(f"{base}/v1/", "self")],
                    "status": "CURRENT",
                    "max_version": str(MAX_VERSION),
                    "min_version": str(MIN_VERSION),
                }
            ],
        }
    )


@router.get("/v1", summary="Version 1 document", response_model=JSON_OBJECT)
async def v1(request: Request) -> Response:
    base = base_url(request)
    body: dict[str, Any] = {
        "id": "v1",
        "media_types": [{"base": "application/json", "type": "application/vnd.openstack.magnum.v1+json"}],
        "links": [
            _link(f"{base}/v1/", "self"),
            {
                "href": "http://docs.openstack.org/developer/magnum/dev/api-spec-v1.html",
                "rel": "describedby",
                "type": "text/html",
            },
        ],
    }
    for name in COLLECTIONS:
        body[name] = [_link(f"{base}/v1/{name}/", "self"), _link(f"{base}/{name}/", "bookmark")]
    body["nodegroups"] = [
        _link(f"{base}/v1/clusters/{{cluster_id}}/nodegroups", "self"),
        _link(f"{base}/clusters/{{cluster_id}}/nodegroups", "bookmark"),
    ]
    return json_response(body)


# In the thread pool: a database that hangs must not hold up the event loop.
@router.get("/healthcheck", summary="Health check", response_class=PlainTextResponse)
def healthcheck(request: Request) -> Response:
    services: Services = request.app.state.services
    if not services.database_reachable():
        return PlainTextResponse("database unavailable", status_code=status_of(ServiceUnavailableError))
    return PlainTextResponse("OK")
