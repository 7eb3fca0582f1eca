"""The HTTP edge as one pure-ASGI middleware (cheaper than stacked BaseHTTPMiddleware).

In order: request id → path normalisation → authentication (not for the
public routes) → microversion negotiation → the app, with a last-resort
guard that turns any escaped exception into Magnum's 500 body.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jeroboam import errors
from jeroboam.api.errors import (
    UNEXPECTED,
    error_body,
    keystone_unauthorized_body,
    response_for,
    status_for,
    status_of,
    unsupported_version_body,
)
from jeroboam.api.versions import LEGACY_HEADER, VersionHeaderError, parse_legacy_version_header, parse_version_header
from jeroboam.context import RequestContext
from jeroboam.domain.versions import MAX_VERSION, MIN_VERSION, SERVICE_TYPE
from jeroboam.observability import logs

log = logging.getLogger(__name__)
# One line per request served (``[api] request_log``): method, path, status, time, and the
# request id and cluster uuid as every line of the request has them.
request_log = logging.getLogger("jeroboam.api.requests")

PUBLIC_PATHS = frozenset({"/", "/v1", "/healthcheck", "/v1/openapi.json"})
TOP_LEVEL = frozenset({"v1", "healthcheck"})
# The dashboard's static files, configuration and sign-in are public; what it shows comes from /v1.
DASHBOARD = "/dashboard"


def is_dashboard(path: str) -> bool:
    return path == DASHBOARD or path.startswith(DASHBOARD + "/")


class Authenticator(Protocol):
    def authenticate(self, headers: dict[str, str], request_id: str) -> RequestContext: ...


Headers = list[tuple[bytes, bytes]]


def normalise_path(path: str) -> str:
    """Trailing slashes and a '.json' suffix on the version documents are tolerated; paths
    outside /v1 are served as if under /v1 (as Magnum does); the dashboard's are left as they are."""
    if is_dashboard(path):
        return path
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    if path in ("/.json", "/v1.json"):
        path = path[: -len(".json")] or "/"
    first = path.split("/", 2)[1] if path != "/" else ""
    if first and first not in TOP_LEVEL:
        path = "/v1" + path
    return path


async def _send_simple(send: Send, status: int, body: bytes, headers: Headers) -> None:
    headers = [*headers, (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _version_headers(requested: str, *, legacy: bool = False) -> Headers:
    if legacy:  # answered in the spelling asked (Magnum 1.x)
        return [
            (b"x-openstack-magnum-api-minimum-version", str(MIN_VERSION).encode()),
            (b"x-openstack-magnum-api-maximum-version", str(MAX_VERSION).encode()),
            (b"x-openstack-magnum-api-version", requested.encode()),
            (b"vary", b"X-OpenStack-Magnum-API-Version"),
        ]
    return [
        (b"openstack-api-minimum-version", f"{SERVICE_TYPE} {MIN_VERSION}".encode()),
        (b"openstack-api-maximum-version", f"{SERVICE_TYPE} {MAX_VERSION}".encode()),
        (b"openstack-api-version", f"{SERVICE_TYPE} {requested}".encode()),
        (b"vary", b"OpenStack-API-Version"),
    ]


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator,
        admin_check: Callable[[RequestContext], bool],
        www_authenticate: str | None = None,
        blocking_auth: bool = False,
        log_requests: bool = True,
    ) -> None:
        self.app = app
        self.log_requests = log_requests
        self.authenticator = authenticator
        self.admin_check = admin_check
        self.www_authenticate = www_authenticate
        # A Keystone authenticator may do network I/O: run it off the event loop, unless it can
        # answer from its cache (a token seen before), which is most requests.
        self.blocking_auth = blocking_auth
        self.authenticate_cached: Callable[[dict[str, str], str], RequestContext | None] | None = getattr(
            authenticator, "authenticate_cached", None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = f"req-{uuid.uuid4()}"
        extra: Headers = [(b"x-openstack-request-id", request_id.encode())]
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        logs.begin_request(request_id)  # this request's task (and the threads it starts) only
        answered = [0]

        async def send_noting_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered[0] = message["status"]
            await send(message)

        try:
            await self._handle(scope, receive, send_noting_status, state, extra, request_id)
        except Exception:
            log.exception("unexpected error serving %s %s", scope.get("method"), scope.get("path"))
            # If the response had already started there is nothing more we can send.
            if not state.get("response_started"):
                body = error_body(UNEXPECTED, "An unexpected error prevented the server from fulfilling your request.")
                await _send_simple(send_noting_status, UNEXPECTED, body, extra)
        if self.log_requests:
            self._log_request(scope, answered[0], started)

    @staticmethod
    def _log_request(scope: Scope, status: int, started: float) -> None:
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        method, path = scope.get("method", ""), scope.get("path", "")
        request_log.log(
            logging.WARNING if status >= 500 else logging.INFO,
            "%s %s %d %.1f ms",
            method,
            path,
            status,
            elapsed_ms,
            extra={"method": method, "path": path, "status": status, "duration_ms": elapsed_ms},
        )

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, state: dict[str, Any], extra: Headers, request_id: str
    ) -> None:
        path = normalise_path(scope["path"])
        scope["path"] = path
        scope["raw_path"] = path.encode()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        accept_json = "application/json" in headers.get("accept", "application/json") or headers.get("accept", "") in (
            "",
            "*/*",
        )

        if path not in PUBLIC_PATHS and not is_dashboard(path):
            try:
                if not self.blocking_auth:
                    context = self.authenticator.authenticate(headers, request_id)
                elif self.authenticate_cached is not None and (cached := self.authenticate_cached(headers, request_id)):
                    context = cached
                else:
                    context = await anyio.to_thread.run_sync(self.authenticator.authenticate, headers, request_id)
            except errors.UnauthenticatedError as exc:
                auth_headers = list(extra)
                if self.www_authenticate:
                    auth_headers.append((b"www-authenticate", f'Keystone uri="{self.www_authenticate}"'.encode()))
                await _send_simple(send, status_for(exc), keystone_unauthorized_body(), auth_headers)
                return
            except errors.ServiceUnavailableError as exc:
                await _send_simple(send, *response_for(exc), extra)
                return
            context = _with_admin(context, self.admin_check(context))
            state["context"] = context

        if path == "/v1" or path.startswith("/v1/"):
            # Today's header wins; the 2015 one is served when it is the only one sent.
            legacy = "openstack-api-version" not in headers and LEGACY_HEADER in headers
            try:
                if legacy:
                    version = parse_legacy_version_header(headers[LEGACY_HEADER])
                else:
                    version = parse_version_header(headers.get("openstack-api-version"))
            except VersionHeaderError as exc:
                if exc.requested is None:
                    refused = errors.NotAcceptableError(exc.detail)
                    await _send_simple(send, *response_for(refused, accept_json=accept_json), extra)
                else:
                    body = unsupported_version_body(exc.requested, accept_json=accept_json)
                    status = status_of(errors.NotAcceptableError)
                    headers_406 = _version_headers(str(exc.requested), legacy=legacy)
                    await _send_simple(send, status, body, extra + headers_406)
                return
            state["api_version"] = version
            extra = extra + _version_headers(str(version), legacy=legacy)
        state["accept_json"] = accept_json

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["response_started"] = True
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _with_admin(context: RequestContext, is_admin: bool) -> RequestContext:
    if context.is_admin == is_admin:
        return context
    return replace(context, is_admin=is_admin)
