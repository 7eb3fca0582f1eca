"""/v1/containers: the bay-era container API of Magnum 1.x (swarm bays), run on the bay's nodes."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
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
    read_json,
)
from jeroboam.api.patch import apply_patch, parse_patch
from jeroboam.api.schemas import containers as schema
from jeroboam.api.schemas.fields import PATCH_SCHEMA, body_schema, openapi_body, validate_body
from jeroboam.domain.containers import ACTIONS
from jeroboam.errors import InvalidInputError
from jeroboam.services.containers import ComputeChanges, ContainerService, ContainerView, Operations

router = APIRouter(tags=["containers (bay-era)"])

BODY = openapi_body(body_schema(schema.FIELDS))
PATCH_BODY = openapi_body(PATCH_SCHEMA)
PATH = "containers"


def service(request: Request) -> ContainerService:
    result: ContainerService = request.app.state.services.containers
    return result


def compute_changes(base: str) -> ComputeChanges:
    def changes(view: ContainerView, operations: Operations) -> dict[str, Any]:
        current = schema.render(view, base)
        patched = apply_patch(current, operations, internal=schema.INTERNAL, mandatory=schema.NON_REMOVABLE)
        result: dict[str, Any] = {}
        for name in schema.FIXED:
            if patched.get(name) != current.get(name):
                raise InvalidInputError(
                    f"The attribute /{name} of a container cannot be changed: the container was created "
                    "with it. Create a new container instead."
                )
        for name in schema.PATCHABLE:
            new = patched.get(name)
            if new != current.get(name):
                result[name] = None if new is None else schema.check_field(name, new)
        return result

    return changes


def _list(request: Request, *, detail: bool) -> Response:
    check_query(request, (*PAGE_ARGUMENTS, "bay_ident"))
    page = page_request(request, request.app.state.settings.api.max_limit)
    bay_ident = request.query_params.get("bay_ident")
    views = service(request).list(context_of(request), page, bay_ident=bay_ident, detail=detail)
    base = base_url(request)
    items = [schema.render(v, base, detail=detail) for v in views]
    path = f"{PATH}/detail" if detail else PATH
    body = collection(PATH, items, page, base, path, views[-1].uuid if views else None)
    if "next" in body and bay_ident is not None:  # the next page is of the same bay
        body["next"] += f"&bay_ident={quote(bay_ident, safe='')}"
    return json_response(body)


@router.get("/v1/containers", response_model=JSON_OBJECT, summary="List containers (status read live)")
def list_all(request: Request) -> Response:
    return _list(request, detail=False)


@router.get("/v1/containers/detail", response_model=JSON_OBJECT, summary="List containers with details")
def list_detail(request: Request) -> Response:
    return _list(request, detail=True)


@router.get("/v1/containers/{ident}", response_model=JSON_OBJECT, summary="Show a container")
def show(request: Request, ident: str) -> Response:
    check_query(request)
    return json_response(schema.render(service(request).get(context_of(request), ident), base_url(request)))


@router.post("/v1/containers", status_code=201, openapi_extra=BODY, summary="Create a container (Stopped)")
async def create(request: Request) -> Response:
    check_query(request)
    values = schema.check_body(validate_body(await read_json(request) or {}, schema.FIELDS, "container"))
    view = await run_in_threadpool(service(request).create, context_of(request), values)
    base = base_url(request)
    return json_response(
        schema.render(view, base), status_code=201, headers={"Location": f"{base}/v1/{PATH}/{view.uuid}"}
    )


@router.patch("/v1/containers/{ident}", openapi_extra=PATCH_BODY, summary="Update a container's name")
async def update(request: Request, ident: str) -> Response:
    check_query(request)
    operations = parse_patch(await read_json(request))
    base = base_url(request)
    view = await run_in_threadpool(
        service(request).update, context_of(request), ident, operations, compute_changes(base)
    )
    return json_response(schema.render(view, base))


@router.delete("/v1/containers/{ident}", status_code=204, summary="Delete a container")
def delete(request: Request, ident: str) -> Response:
    check_query(request)
    service(request).delete(context_of(request), ident)
    return Response(status_code=204)


def _action_route(action: str) -> None:
    def act(request: Request, ident: str) -> Response:
        check_query(request)
        view = service(request).act(context_of(request), ident, action)
        return json_response(schema.render(view, base_url(request)))

    router.add_api_route(
        f"/v1/containers/{{ident}}/{action}",
        act,
        methods=["PUT"],
        response_model=JSON_OBJECT,
        summary=f"{action.capitalize()} a container",
        name=f"container_{action}",
    )


for _action in ACTIONS:
    _action_route(_action)


@router.get("/v1/containers/{ident}/logs", response_model=JSON_OBJECT, summary="A container's logs")
def logs(request: Request, ident: str) -> Response:
    check_query(request)
    return json_response({"output": service(request).logs(context_of(request), ident)})


@router.put("/v1/containers/{ident}/execute", response_model=JSON_OBJECT, summary="Run a command in a container")
def execute(request: Request, ident: str) -> Response:
    """The command is the query argument ``command`` (as upstream); the answer adds its exit code."""
    check_query(request, ("command",))
    command = request.query_params.get("command")
    if not command:
        raise InvalidInputError("Invalid input for field/attribute command. Value: 'None'. Mandatory field missing.")
    result = service(request).execute(context_of(request), ident, command)
    return json_response({"output": result.output, "exit_code": result.exit_code})
