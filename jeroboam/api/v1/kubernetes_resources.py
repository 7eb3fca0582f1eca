"""/v1/pods, /v1/services, /v1/rcs: Magnum 1.x's Kubernetes objects of a bay. They need a
Kubernetes bay, which no driver here can build; a request naming a bay is answered as upstream
answered one of the wrong type (400 naming the expected coe). See docs/compatibility.md."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from jeroboam.api.deps import context_of, read_json
from jeroboam.services.containers import ContainerService

router = APIRouter(tags=["pods, services, replication controllers (bay-era, refused)"])
KINDS = {"pods": "Pods", "services": "Services", "rcs": "Replication controllers"}


def service(request: Request) -> ContainerService:
    result: ContainerService = request.app.state.services.containers
    return result


async def _refuse(request: Request, kind: str, bay_ident: str | None) -> Response:
    if bay_ident is None and request.method == "POST":
        body = await read_json(request)
        if isinstance(body, dict) and body.get("bay_uuid") is not None:
            bay_ident = str(body["bay_uuid"])
    if bay_ident is None:
        bay_ident = request.query_params.get("bay_ident")
    await run_in_threadpool(service(request).refuse_kubernetes_objects, context_of(request), KINDS[kind], bay_ident)
    raise AssertionError("refuse_kubernetes_objects always raises")  # pragma: no cover


def _routes(kind: str) -> None:
    async def collection(request: Request) -> Response:
        return await _refuse(request, kind, None)

    async def item(request: Request, ident: str) -> Response:
        return await _refuse(request, kind, None)

    async def item_in_bay(request: Request, ident: str, bay_ident: str) -> Response:
        return await _refuse(request, kind, bay_ident)

    summary = f"{KINDS[kind]} of a Kubernetes bay (refused: no Kubernetes bay can exist here)"
    routes = (
        (f"/v1/{kind}", collection, ("GET", "POST"), "collection"),
        (f"/v1/{kind}/detail", collection, ("GET",), "detail"),
        (f"/v1/{kind}/{{ident}}", item, ("GET", "PATCH", "DELETE"), "item"),
        (f"/v1/{kind}/{{ident}}/{{bay_ident}}", item_in_bay, ("GET", "PATCH", "DELETE"), "item_in_bay"),
    )
    for path, endpoint, methods, what in routes:
        for method in methods:  # one route per method: each gets its own OpenAPI operation id
            name = f"{kind}_{what}_{method.lower()}"
            router.add_api_route(path, endpoint, methods=[method], summary=summary, name=name, operation_id=name)


for _kind in KINDS:
    _routes(_kind)
