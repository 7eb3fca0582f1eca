"""/v1/quotas (reference §3.6)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from jeroboam.api.deps import PAGE_ARGUMENTS, base_url, check_query, collection, context_of, page_request, read_json
from jeroboam.api.schemas.fields import body_schema, openapi_body, parse_bool, validate_body
from jeroboam.api.schemas.quotas import FIELDS, render
from jeroboam.services.quotas import QuotaService

router = APIRouter(tags=["quotas"])

BODY = openapi_body(body_schema(FIELDS))
ONE = "/v1/quotas/{project_id}/{resource}"


def service(request: Request) -> QuotaService:
    result: QuotaService = request.app.state.services.quotas
    return result


@router.get("/v1/quotas", summary="List quotas (admin)")
def list_quotas(request: Request) -> dict[str, Any]:
    """The caller's project's quotas; every project's with ``all_tenants=true``."""
    check_query(request, (*PAGE_ARGUMENTS, "all_tenants"))
    raw = request.query_params.get("all_tenants")
    all_tenants = parse_bool("all_tenants", raw) if raw is not None else False
    page = page_request(request, request.app.state.settings.api.max_limit)
    quotas = service(request).list(context_of(request), page, all_tenants=all_tenants)
    body = collection(
        "quotas", [render(q) for q in quotas], page, base_url(request), "quotas", str(quotas[-1].id) if quotas else None
    )
    if all_tenants and "next" in body:
        # Keep the scope on the next page (Magnum drops it; see docs/compatibility.md).
        body["next"] += "&all_tenants=True"
    return body


@router.get(ONE, summary="Show a project's quota for a resource")
def show(request: Request, project_id: str, resource: str) -> dict[str, Any]:
    check_query(request)
    return render(service(request).get(context_of(request), project_id, resource))


@router.post("/v1/quotas", status_code=201, openapi_extra=BODY, summary="Create a quota (admin)")
async def create(request: Request) -> Response:
    check_query(request)
    values = validate_body(await read_json(request) or {}, FIELDS, "quota")
    quota = await run_in_threadpool(service(request).create, context_of(request), values)
    return JSONResponse(render(quota), status_code=201)


@router.patch(ONE, status_code=202, openapi_extra=BODY, summary="Update a quota (admin)")
async def update(request: Request, project_id: str, resource: str) -> Response:
    """The body is a plain quota object, not a JSON-patch; a missing ``hard_limit`` sets 1."""
    check_query(request)
    values = validate_body(await read_json(request) or {}, FIELDS, "quotapatch")
    quota = await run_in_threadpool(service(request).update, context_of(request), project_id, resource, values)
    return JSONResponse(render(quota), status_code=202)


@router.delete(ONE, status_code=204, summary="Delete a quota (admin)")
def delete(request: Request, project_id: str, resource: str) -> Response:
    check_query(request)
    service(request).delete(context_of(request), project_id, resource)
    return Response(status_code=204)
