"""The API's metrics edge (pure ASGI, outermost): times every request under its route template,
and serves ``/metrics`` to the clients ``[metrics]`` allows."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jeroboam import errors
from jeroboam.api.errors import error_body, status_of
from jeroboam.config import MetricsSettings
from jeroboam.observability.metrics import CONTENT_TYPE, Snapshot, exposition, metrics

METRICS_PATHS = frozenset({"/metrics", "/metrics/"})
UNROUTED = "<unrouted>"  # refused before routing (401, 406) or no route matched: one label, not the raw path
FORBIDDEN = status_of(errors.PermissionDeniedError)

# Whether the request's credentials are an admin's (authenticates; may do network I/O).
AdminCheck = Callable[[dict[str, str]], Awaitable[bool]]


class MetricsEdge:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: MetricsSettings,
        snapshot: Callable[[], Snapshot],
        is_admin: AdminCheck,
    ) -> None:
        self.app = app
        self.settings = settings
        self.snapshot = snapshot
        self.is_admin = is_admin
        self.allowed = [ipaddress.ip_network(net, strict=False) for net in settings.allowed_networks]
        self.metrics = metrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in METRICS_PATHS:
            await self._serve_metrics(scope, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", UNROUTED) if route is not None else UNROUTED
            method = scope["method"]
            self.metrics.http_requests.labels(template, method, str(status)).inc()
            self.metrics.http_duration.labels(template, method).observe(time.perf_counter() - started)

    async def _serve_metrics(self, scope: Scope, send: Send) -> None:
        if not await self._may_read(scope):
            body = error_body(FORBIDDEN, "Metrics are served only to allowed networks (see [metrics]).")
            await _respond(send, FORBIDDEN, body, b"application/json")
            return
        # The database counts run in a thread: a scrape must not hold up the event loop.
        body = await anyio.to_thread.run_sync(exposition, self.snapshot)
        await _respond(send, 200, body, CONTENT_TYPE.encode())

    async def _may_read(self, scope: Scope) -> bool:
        client = scope.get("client")
        if client and self._local(client[0]):
            return True
        if self.settings.remote_access == "any":
            return True
        if self.settings.remote_access == "admin":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            return await self.is_admin(headers)
        return False

    def _local(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False  # a unix socket or an unknown peer is not trusted
        return any(address in network for network in self.allowed)


async def _respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
