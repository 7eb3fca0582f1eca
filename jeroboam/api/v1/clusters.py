"""/v1/clusters (reference §3.2) and the legacy /v1/bays over the same clusters (§3.10)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
    require_version,
    version_of,
)
from jeroboam.api.patch import apply_patch, parse_patch
from jeroboam.api.schemas import clusters as schema
from jeroboam.api.schemas.fields import (
    PATCH_SCHEMA,
    Field,
    body_schema,
    check_value,
    openapi_body,
    parse_bool,
    validate_body,
)
from jeroboam.domain.versions import MIN_VERSION, RESIZE, ROLLBACK, UPGRADE, ZERO_NODE_COUNT, Version
from jeroboam.errors import InvalidFieldError, InvalidInputError
from jeroboam.services.cluster_views import ClusterPatch, ClusterView
from jeroboam.services.clusters import ClusterService

ZERO_NOT_SUPPORTED = "Resizing a nodegroup to zero is not supported in the provided microversion."
UPGRADE_NOT_SUPPORTED = "Cluster upgrade is not supported in the provided microversion."

PATCH_BODY = openapi_body(PATCH_SCHEMA)
UUID_RESPONSE: dict[int | str, dict[str, Any]] = {
    "202": {
        "description": "Accepted: the operation is recorded and runs in a conductor.",
        "content": {"application/json": {"schema": {"type": "object", "properties": {"uuid": {"type": "string"}}}}},
    }
}


def _body(fields: Mapping[str, Field]) -> dict[str, Any]:
    return openapi_body(body_schema(fields))


def service(request: Request) -> ClusterService:
    result: ClusterService = request.app.state.services.clusters
    return result


def check_zero(version: Version, node_count: int | None) -> None:
    if node_count == 0 and version < ZERO_NODE_COUNT:
        raise InvalidInputError(ZERO_NOT_SUPPORTED)


def check_string_map(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidFieldError(name, value, "Value should be a map of strings to strings")
    return value


@dataclass(frozen=True)
class Spelling:
    """How one family of routes names the same clusters: /v1/clusters, or the legacy /v1/bays."""

    path: str
    key: str
    argument: str
    fields: Mapping[str, Field]
    patch_fields: Mapping[str, Field]
    mandatory: tuple[str, ...]
    legacy: bool = False

    def version(self, request: Request) -> Version:
        """Bays always speak 1.1 (``stack_id``)."""
        return MIN_VERSION if self.legacy else version_of(request)

    def out(self, body: dict[str, Any]) -> dict[str, Any]:
        return schema.as_bay(body) if self.legacy else body

    def into(self, values: dict[str, Any]) -> dict[str, Any]:
        return schema.from_bay(values) if self.legacy else values

    def detail(self, view: ClusterView, request: Request, *, with_faults: bool = False) -> dict[str, Any]:
        body = schema.render_detail(
            view, base_url(request), self.version(request), with_faults=with_faults, collection_path=self.path
        )
        return self.out(body)


CLUSTERS = Spelling("clusters", "clusters", "cluster", schema.FIELDS, schema.PATCH_FIELDS, schema.MANDATORY)
BAYS = Spelling("bays", "bays", "bay", schema.BAY_FIELDS, schema.BAY_PATCH_FIELDS, ("/baymodel_id",), legacy=True)


def compute_patch(
    operations: list[dict[str, Any]], request: Request, spelling: Spelling
) -> Callable[[ClusterView], ClusterPatch]:
    """Apply the JSON-patch to the cluster's representation; report what changed."""
    version = version_of(request)

    def compute(view: ClusterView) -> ClusterPatch:
        current = spelling.detail(view, request)
        patched = apply_patch(current, operations, internal=schema.INTERNAL, mandatory=spelling.mandatory)
        changes: dict[str, Any] = {}
        for name, new in patched.items():
            if new == current.get(name):
                continue
            spec = spelling.patch_fields.get(name)
            if spec is not None and new is not None:
                new = check_value(name, spec, new)
                if name == "health_status_reason":
                    new = check_string_map(name, new)
            changes[name] = new
        if "node_count" in changes:
            check_zero(version, changes["node_count"])
        addressed = frozenset(str(op["path"]).strip("/").split("/")[0] for op in operations)
        return ClusterPatch(changes, addressed)

    return compute


def create_values(body: Any, spelling: Spelling, version: Version) -> dict[str, Any]:
    values = validate_body(body or {}, spelling.fields, spelling.argument)
    for name in schema.IGNORED | {"bay_faults"}:
        values.pop(name, None)
    check_zero(version, values.get("node_count"))
    return spelling.into(values)


def make_router(spelling: Spelling) -> APIRouter:
    path = spelling.path
    tag = "bays (legacy)" if spelling.legacy else "clusters"
    router = APIRouter(tags=[tag])

    def list_clusters(request: Request, detail: bool) -> Response:
        check_query(request, PAGE_ARGUMENTS)
        page = page_request(request, request.app.state.settings.api.max_limit)
        found = service(request).list(context_of(request), page, detail=detail)
        base, version = base_url(request), spelling.version(request)
        if detail:
            items = [spelling.out(schema.render_detail(view, base, version, collection_path=path)) for view in found]
        else:
            items = [spelling.out(schema.render_summary(view, base, version, path)) for view in found]
        suffix = f"{path}/detail" if detail else path
        return json_response(
            collection(spelling.key, items, page, base, suffix, found[-1].cluster.uuid if found else None)
        )

    @router.get(f"/v1/{path}", summary=f"List {tag}", response_model=JSON_OBJECT)
    async def list_all(request: Request) -> Response:
        return await read_call(request, list_clusters, request, False)

    @router.get(f"/v1/{path}/detail", summary=f"List {tag} with details", response_model=JSON_OBJECT)
    async def list_detail(request: Request) -> Response:
        return await read_call(request, list_clusters, request, True)

    def show_cluster(request: Request, ident: str) -> Response:
        check_query(request)
        view = service(request).get(context_of(request), ident)
        return json_response(spelling.detail(view, request, with_faults=True))

    @router.get(f"/v1/{path}/{{ident}}", summary=f"Show one of the {tag}", response_model=JSON_OBJECT)
    async def show(request: Request, ident: str) -> Response:
        """``faults`` appears when the cluster's status is a *_FAILED one."""
        return await read_call(request, show_cluster, request, ident)

    @router.post(
        f"/v1/{path}", status_code=202, openapi_extra=_body(spelling.fields), responses=UUID_RESPONSE,
        summary=f"Create one of the {tag}",
    )  # fmt: skip
    async def create(request: Request) -> Response:
        """The cluster row, its default nodegroups and the create operation are committed
        before the answer, so a GET right after shows CREATE_IN_PROGRESS."""
        check_query(request)
        version = version_of(request)
        values = create_values(await read_json(request), spelling, version)
        context = context_of(request)
        cluster = await run_in_threadpool(
            service(request).create, context, values, template_missing_is_invalid=version < ZERO_NODE_COUNT
        )
        if spelling.legacy and version == MIN_VERSION:  # bays at 1.1 answered synchronously
            view = await run_in_threadpool(service(request).get, context, cluster.uuid)
            return JSONResponse(
                spelling.detail(view, request),
                status_code=201,
                headers={"Location": f"{base_url(request)}/v1/{path}/{cluster.uuid}"},
            )
        return JSONResponse({"uuid": cluster.uuid}, status_code=202)

    @router.patch(
        f"/v1/{path}/{{ident}}", status_code=202, openapi_extra=PATCH_BODY, responses=UUID_RESPONSE,
        summary=f"Update one of the {tag} (node_count and health)",
    )  # fmt: skip
    async def update(request: Request, ident: str) -> Response:
        version = version_of(request)
        check_query(request, ("rollback",) if version >= ROLLBACK else ())
        raw = request.query_params.get("rollback")
        rollback = parse_bool("rollback", raw) if raw is not None else False
        operations = parse_patch(await read_json(request))
        context = context_of(request)
        cluster = await run_in_threadpool(
            service(request).update, context, ident, compute_patch(operations, request, spelling), rollback=rollback
        )
        if spelling.legacy and version == MIN_VERSION:
            view = await run_in_threadpool(service(request).get, context, cluster.uuid)
            return JSONResponse(spelling.detail(view, request), status_code=200)
        return JSONResponse({"uuid": cluster.uuid}, status_code=202)

    @router.delete(f"/v1/{path}/{{ident}}", status_code=204, summary=f"Delete one of the {tag}")
    def delete(request: Request, ident: str) -> Response:
        """From any status; answered again with 204 while the deletion runs. ``?force=true`` (a
        Jeroboam extension) forgets the cluster even if its infrastructure cannot be reached."""
        check_query(request, ("force",) if not spelling.legacy else ())
        force = request.query_params.get("force", "false").lower()
        if force not in ("true", "false"):
            raise InvalidFieldError("force", force, "Value should be true or false")
        service(request).delete(context_of(request), ident, force=force == "true")
        return Response(status_code=204)

    if spelling.legacy:
        return router

    @router.post(
        f"/v1/{path}/{{ident}}/actions/resize", status_code=202, openapi_extra=_body(schema.RESIZE_FIELDS),
        responses=UUID_RESPONSE, summary="Resize a nodegroup of a cluster (1.7)",
    )  # fmt: skip
    async def resize(request: Request, ident: str) -> Response:
        version = require_version(request, RESIZE, "resize")
        check_query(request)
        values = validate_body(await read_json(request) or {}, schema.RESIZE_FIELDS, "cluster_resize_req")
        nodes_to_remove = values.get("nodes_to_remove") or []
        if not all(isinstance(item, str) for item in nodes_to_remove):
            raise InvalidFieldError("nodes_to_remove", nodes_to_remove, "Value should be a list of strings")
        check_zero(version, values["node_count"])
        cluster = await run_in_threadpool(
            service(request).resize,
            context_of(request),
            ident,
            values["node_count"],
            nodes_to_remove,
            values.get("nodegroup"),
        )
        return JSONResponse({"uuid": cluster.uuid}, status_code=202)

    @router.post(
        f"/v1/{path}/{{ident}}/actions/upgrade", status_code=202, openapi_extra=_body(schema.UPGRADE_FIELDS),
        responses=UUID_RESPONSE, summary="Upgrade a cluster or a nodegroup to a template (1.8)",
    )  # fmt: skip
    async def upgrade(request: Request, ident: str) -> Response:
        version = version_of(request)
        if version < RESIZE:
            require_version(request, UPGRADE, "upgrade")
        check_query(request)
        values = validate_body(await read_json(request) or {}, schema.UPGRADE_FIELDS, "cluster_upgrade_req")
        if version < UPGRADE:
            raise InvalidInputError(UPGRADE_NOT_SUPPORTED)
        cluster = await run_in_threadpool(
            service(request).upgrade,
            context_of(request),
            ident,
            values["cluster_template"],
            values.get("max_batch_size", 1),
            values.get("nodegroup"),
        )
        return JSONResponse({"uuid": cluster.uuid}, status_code=202)

    return router


router = make_router(CLUSTERS)
bays_router = make_router(BAYS)
