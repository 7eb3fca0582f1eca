"""Per-request helpers: who is asking, which microversion, the body, query arguments, pages."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from typing import Any, ParamSpec, TypeVar

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from jeroboam.context import RequestContext
from jeroboam.domain.paging import PageRequest
from jeroboam.domain.versions import MIN_VERSION, Version
from jeroboam.errors import (
    InvalidInputError,
    MalformedBodyError,
    NotAcceptableError,
    UnknownArgumentError,
    UnsupportedMediaTypeError,
)

JSON_TYPES = ("application/json",)
P = ParamSpec("P")
R = TypeVar("R")
# A response body: an object for FastAPI's OpenAPI document (the routes that answer with
# ``json_response`` declare it as their response_model, so the document is unchanged).
JSON_OBJECT = dict[str, Any]


def json_response(body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """``body`` serialised once, by orjson (compact UTF-8, as FastAPI's JSONResponse writes it),
    without FastAPI's per-field ``jsonable_encoder`` walk and response-model validation (which
    cost more than building the body for a page of clusters). ``body`` holds JSON types only."""
    content = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
    return Response(content, status_code=status_code, headers=headers, media_type="application/json")


async def read_call(request: Request, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a read-only use case. A read is a few indexed queries that wait for no lock (SQLite
    WAL readers and PostgreSQL/MariaDB MVCC readers are never blocked by writers), so by default
    it runs on the event loop: a hop to the thread pool costs more CPU than the read itself.
    ``[api] reads_in_event_loop = false`` sends reads to the thread pool (a database far away)."""
    if request.app.state.settings.api.reads_in_event_loop:
        return func(*args, **kwargs)
    return await run_in_threadpool(func, *args, **kwargs)


def context_of(request: Request) -> RequestContext:
    context: RequestContext = request.state.context
    return context


def version_of(request: Request) -> Version:
    version: Version = getattr(request.state, "api_version", MIN_VERSION)
    return version


def require_version(request: Request, minimum: Version, feature: str) -> Version:
    version = version_of(request)
    if version < minimum:
        raise NotAcceptableError(
            f"Version {version} was requested but the requested API {feature} is not supported for this version."
        )
    return version


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def check_query(request: Request, allowed: Collection[str] = ()) -> None:
    for name in request.query_params:
        if name not in allowed:
            raise UnknownArgumentError(name)


async def read_json(request: Request) -> Any:
    """The JSON body, or None when there is none. A body in another media type is 415."""
    raw = await request.body()
    if not raw.strip():
        return None
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type and content_type not in JSON_TYPES and not content_type.endswith("+json"):
        raise UnsupportedMediaTypeError(content_type)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MalformedBodyError() from None


def parse_limit(value: str | None, max_limit: int) -> int:
    if value is None:
        return max_limit
    try:
        limit = int(value)
    except ValueError:
        raise InvalidInputError(
            f"Invalid input for field/attribute limit. Value: '{value}'. unable to convert to int"
        ) from None
    if limit <= 0:
        raise InvalidInputError("Limit must be positive")
    return min(limit, max_limit)


PAGE_ARGUMENTS = ("marker", "limit", "sort_key", "sort_dir")


def page_request(request: Request, max_limit: int) -> PageRequest:
    params = request.query_params
    sort_dir = params.get("sort_dir", "asc")
    if sort_dir not in ("asc", "desc"):
        raise InvalidInputError(f"Invalid sort direction: {sort_dir}. Acceptable values are 'asc' or 'desc'")
    return PageRequest(
        limit=parse_limit(params.get("limit"), max_limit),
        marker=params.get("marker"),
        sort_key=params.get("sort_key", "id"),
        sort_dir="asc" if sort_dir == "asc" else "desc",
    )


def collection(
    key: str, items: list[dict[str, Any]], page: PageRequest, base: str, path: str, last_marker: str | None
) -> dict[str, Any]:
    """Magnum's envelope: ``next`` only when the page is full, parameters in a fixed order."""
    body: dict[str, Any] = {key: items}
    if items and len(items) == page.limit and last_marker is not None:
        body["next"] = (
            f"{base}/v1/{path}?sort_key={page.sort_key}&sort_dir={page.sort_dir}"
            f"&limit={page.limit}&marker={last_marker}"
        )
    return body


def links(base: str, collection_path: str, ident: str) -> list[dict[str, str]]:
    return [
        {"href": f"{base}/v1/{collection_path}/{ident}", "rel": "self"},
        {"href": f"{base}/{collection_path}/{ident}", "rel": "bookmark"},
    ]


def isoformat(value: Any) -> str | None:
    return None if value is None else value.isoformat()
