"""/v1/federations (reference §3.9): stored records, no backend action."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from jeroboam.api.deps import PAGE_ARGUMENTS, base_url, check_query, collection, context_of, page_request, read_json
from jeroboam.api.patch import apply_patch, parse_patch
from jeroboam.api.schemas.federations import FIELDS, INTERNAL, NON_REMOVABLE, PATCHABLE, check_body, check_field, render
from jeroboam.api.schemas.fields import PATCH_SCHEMA, body_schema, openapi_body, parse_bool, validate_body
from jeroboam.services.federations import ComputeChanges, FederationService
from jeroboam.services.records import FederationFields

router = APIRouter(tags=["federations"])

BODY = openapi_body(body_schema(FIELDS))
PATCH_BODY = openapi_body(PATCH_SCHEMA)


def service(request: Request) -> FederationService:
    result: FederationService = request.app.state.services.federations
    return result


def compute_changes(base: str) -> ComputeChanges:
    def changes(federation: FederationFields, operations: list[dict[str, Any]]) -> dict[str, Any]:
        current = render(federation, base)
        patched = apply_patch(current, operations, internal=INTERNAL, mandatory=NON_REMOVABLE)
        result: dict[str, Any] = {}
        for name in PATCHABLE:
            new = patched.get(name)
            if new == current.get(name):
                continue
            if new is None:
                result[name] = [] if name == "member_ids" else None
            else:
                result[name] = check_field(name, new)
        return result

    return changes


def list_federations(request: Request, *, detail: bool) -> dict[str, Any]:
    check_query(request, PAGE_ARGUMENTS)
    page = page_request(request, request.app.state.settings.api.max_limit)
    federations = service(request).list(context_of(request), page, detail=detail)
    base = base_url(request)
    items = [render(f, base, detail=detail) for f in federations]
    path = "federations/detail" if detail else "federations"
    return collection("federations", items, page, base, path, federations[-1].uuid if federations else None)


@router.get("/v1/federations", summary="List federations")
def list_all(request: Request) -> dict[str, Any]:
    return list_federations(request, detail=False)


@router.get("/v1/federations/detail", summary="List federations with details")
def list_detail(request: Request) -> dict[str, Any]:
    return list_federations(request, detail=True)


@router.get("/v1/federations/{ident}", summary="Show a federation")
def show(request: Request, ident: str) -> dict[str, Any]:
    check_query(request)
    return render(service(request).get(context_of(request), ident), base_url(request))


@router.post("/v1/federations", status_code=202, openapi_extra=BODY, summary="Create a federation")
async def create(request: Request) -> Response:
    check_query(request)
    values = check_body(validate_body(await read_json(request) or {}, FIELDS, "federation"))
    federation = await run_in_threadpool(service(request).create, context_of(request), values)
    return JSONResponse({"uuid": federation.uuid}, status_code=202)


@router.patch("/v1/federations/{ident}", status_code=202, openapi_extra=PATCH_BODY, summary="Update a federation")
async def update(request: Request, ident: str) -> Response:
    """JSON-patch; ``add``/``remove`` of one cluster on ``/member_ids`` joins or unjoins it."""
    check_query(request, ("rollback",))
    rollback = request.query_params.get("rollback")
    if rollback is not None:
        parse_bool("rollback", rollback)  # accepted for compatibility; nothing to roll back
    operations = parse_patch(await read_json(request))
    federation = await run_in_threadpool(
        service(request).update, context_of(request), ident, operations, compute_changes(base_url(request))
    )
    return JSONResponse({"uuid": federation.uuid}, status_code=202)


@router.delete("/v1/federations/{ident}", status_code=204, summary="Delete a federation")
def delete(request: Request, ident: str) -> Response:
    check_query(request)
    service(request).delete(context_of(request), ident)
    return Response(status_code=204)
