"""/v1/clustertemplates, and the legacy /v1/baymodels over the same templates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from jeroboam.api.deps import (
    JSON_OBJECT,
    PAGE_ARGUMENTS,
    base_url,
    check_query,
    collection,
    context_of,
    json_response,
    page_request,
    read_call,
    read_json,
)
from jeroboam.api.patch import apply_patch, parse_patch
from jeroboam.api.schemas.cluster_templates import CREATE_DEFAULTS, FIELDS, PATCHABLE, render
from jeroboam.api.schemas.fields import PATCH_SCHEMA, body_schema, check_value, openapi_body, validate_body
from jeroboam.domain.templates import NON_REMOVABLE
from jeroboam.errors import InvalidFieldError
from jeroboam.services.cluster_templates import ClusterTemplateService
from jeroboam.services.records import TemplateFields

BODY = openapi_body(body_schema(FIELDS))
PATCH_BODY = openapi_body(PATCH_SCHEMA)


def compute_changes(operations: list[dict[str, Any]], base: str) -> Any:
    def changes(template: TemplateFields) -> dict[str, Any]:
        current = render(template, base)
        patched = apply_patch(current, operations, internal=(), mandatory=NON_REMOVABLE)
        result: dict[str, Any] = {}
        for name in PATCHABLE:
            new = patched.get(name)
            if new == current.get(name):
                continue
            spec = FIELDS[name]
            if new is None:
                if spec.mandatory:
                    raise InvalidFieldError(name, None, "Mandatory field missing.")
                result[name] = {} if spec.kind == "labels" else None
            else:
                result[name] = check_value(name, spec, new)
        return result

    return changes


def make_router(service_of: Any, path: str, key: str, tag: str) -> APIRouter:
    """``path`` is the collection path under /v1 and ``key`` the collection key."""
    router = APIRouter(tags=[tag])

    def service(request: Request) -> ClusterTemplateService:
        result: ClusterTemplateService = service_of(request)
        return result

    def list_templates(request: Request, detail: bool) -> Response:
        check_query(request, PAGE_ARGUMENTS)
        page = page_request(request, request.app.state.settings.api.max_limit)
        templates = service(request).list(context_of(request), page, detail=detail)
        base = base_url(request)
        items = [render(t, base, path) for t in templates]
        suffix = f"{path}/detail" if detail else path
        return json_response(collection(key, items, page, base, suffix, templates[-1].uuid if templates else None))

    @router.get(f"/v1/{path}", summary=f"List {tag}", response_model=JSON_OBJECT)
    async def list_all(request: Request) -> Response:
        return await read_call(request, list_templates, request, False)

    @router.get(f"/v1/{path}/detail", summary=f"List {tag} with details", response_model=JSON_OBJECT)
    async def list_detail(request: Request) -> Response:
        return await read_call(request, list_templates, request, True)

    def show_template(request: Request, ident: str) -> Response:
        check_query(request)
        return json_response(render(service(request).get(context_of(request), ident), base_url(request), path))

    @router.get(f"/v1/{path}/{{ident}}", summary=f"Show one of the {tag}", response_model=JSON_OBJECT)
    async def show(request: Request, ident: str) -> Response:
        return await read_call(request, show_template, request, ident)

    @router.post(f"/v1/{path}", status_code=201, openapi_extra=BODY, summary=f"Create one of the {tag}")
    async def create(request: Request) -> Response:
        check_query(request)
        values = {**CREATE_DEFAULTS, **validate_body(await read_json(request) or {}, FIELDS, "cluster_template")}
        values.pop("cluster_distro", None)
        context = context_of(request)
        template = await run_in_threadpool(service(request).create, context, values)
        base = base_url(request)
        return JSONResponse(
            render(template, base, path), status_code=201, headers={"Location": f"{base}/v1/{path}/{template.uuid}"}
        )

    @router.patch(f"/v1/{path}/{{ident}}", openapi_extra=PATCH_BODY, summary=f"Update one of the {tag}")
    async def update(request: Request, ident: str) -> dict[str, Any]:
        check_query(request)
        operations = parse_patch(await read_json(request))
        base = base_url(request)
        template = await run_in_threadpool(
            service(request).update, context_of(request), ident, compute_changes(operations, base)
        )
        return render(template, base, path)

    @router.delete(f"/v1/{path}/{{ident}}", status_code=204, summary=f"Delete one of the {tag}")
    def delete(request: Request, ident: str) -> Response:
        check_query(request)
        service(request).delete(context_of(request), ident)
        return Response(status_code=204)

    return router
