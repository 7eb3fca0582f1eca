"""/v1/clusters/{cluster}/nodegroups (reference §3.3), from microversion 1.9."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from jeroboam.api.deps import (
    PAGE_ARGUMENTS,
    base_url,
    check_query,
    collection,
    context_of,
    page_request,
    read_json,
    require_version,
)
from jeroboam.api.patch import apply_patch, parse_patch
from jeroboam.api.schemas import nodegroups as schema
from jeroboam.api.schemas.fields import PATCH_SCHEMA, body_schema, check_value, openapi_body, validate_body
from jeroboam.domain.versions import NODEGROUPS
from jeroboam.errors import InvalidInputError
from jeroboam.services.nodegroups import PATCHABLE, NodeGroupService, NodeGroupView

router = APIRouter(tags=["nodegroups"])
COLLECTION = "/v1/clusters/{cluster_ident}/nodegroups"
ONE = COLLECTION + "/{ident}"
BODY = openapi_body(body_schema(schema.FIELDS))
PATCH_BODY = openapi_body(PATCH_SCHEMA)


def service(request: Request) -> NodeGroupService:
    result: NodeGroupService = request.app.state.services.nodegroups
    return result


def compute_patch(operations: list[dict[str, Any]], base: str) -> Callable[[NodeGroupView], dict[str, Any]]:
    """Only the bounds, node labels and node taints are patchable; every other attribute of
    the representation is internal (also when addressed below its top level)."""

    def compute(view: NodeGroupView) -> dict[str, Any]:
        current = schema.render_detail(view, base)
        internal = {f"/{name}" for name in current if name not in PATCHABLE}
        for operation in operations:
            path = str(operation["path"])
            if "/" + path.strip("/").split("/")[0] in internal:
                raise InvalidInputError(f"'{path}' is an internal attribute and can not be updated")
        patched = apply_patch(current, operations, internal=internal)
        result: dict[str, Any] = {}
        for name in PATCHABLE:
            new = patched.get(name)
            if new == current.get(name):
                continue
            result[name] = None if new is None else check_value(name, schema.PATCH_FIELDS[name], new)
        return result

    return compute


@router.get(COLLECTION, summary="List a cluster's nodegroups (1.9)")
def list_nodegroups(request: Request, cluster_ident: str) -> dict[str, Any]:
    """Summary items without links; ``min_node_count``/``max_node_count`` show Magnum's
    always-rendered defaults, the real values are in the GET of one nodegroup."""
    require_version(request, NODEGROUPS, "get_all")
    check_query(request, (*PAGE_ARGUMENTS, "role"))
    page = page_request(request, request.app.state.settings.api.max_limit)
    role = request.query_params.get("role")
    cluster, found = service(request).list(context_of(request), cluster_ident, page, role=role)
    body = collection(
        "nodegroups",
        [schema.render_summary(ng) for ng in found],
        page,
        base_url(request),
        schema.collection_path(cluster.uuid),
        found[-1].uuid if found else None,
    )
    if role is not None and "next" in body:  # keep the filter on the next page (Magnum drops it)
        body["next"] += f"&role={quote(role, safe='')}"
    return body


@router.get(ONE, summary="Show a nodegroup (1.9)")
def show(request: Request, cluster_ident: str, ident: str) -> dict[str, Any]:
    require_version(request, NODEGROUPS, "get_one")
    check_query(request)
    return schema.render_detail(service(request).get(context_of(request), cluster_ident, ident), base_url(request))


@router.post(COLLECTION, status_code=202, openapi_extra=BODY, summary="Create a nodegroup (1.9)")
async def create(request: Request, cluster_ident: str) -> Response:
    """Needs the cluster's API address (a created cluster); the answer is the nodegroup as
    requested, in Magnum's shape."""
    require_version(request, NODEGROUPS, "post")
    check_query(request)
    values = validate_body(await read_json(request) or {}, schema.FIELDS, "nodegroup")
    for name in schema.IGNORED:
        values.pop(name, None)
    view = await run_in_threadpool(service(request).create, context_of(request), cluster_ident, values)
    return JSONResponse(schema.render_accepted(view, base_url(request)), status_code=202)


@router.patch(
    ONE, status_code=202, openapi_extra=PATCH_BODY, summary="Update a nodegroup's bounds, labels, taints (1.9)"
)
async def update(request: Request, cluster_ident: str, ident: str) -> Response:
    require_version(request, NODEGROUPS, "patch")
    check_query(request)
    operations = parse_patch(await read_json(request))
    base = base_url(request)
    view = await run_in_threadpool(
        service(request).update, context_of(request), cluster_ident, ident, compute_patch(operations, base)
    )
    return JSONResponse(schema.render_detail(view, base), status_code=202)


@router.delete(ONE, status_code=204, summary="Delete a nodegroup (1.9)")
def delete(request: Request, cluster_ident: str, ident: str) -> Response:
    require_version(request, NODEGROUPS, "delete")
    check_query(request)
    service(request).delete(context_of(request), cluster_ident, ident)
    return Response(status_code=204)
