"""``create_app``: the FastAPI application, built from settings and services."""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from jeroboam.api.auth.noauth import NoAuth
from jeroboam.api.errors import response_for, routing_error_body
from jeroboam.api.metrics import AdminCheck, MetricsEdge
from jeroboam.api.middleware import Authenticator, EdgeMiddleware
from jeroboam.api.v1 import certificates as certificates_api
from jeroboam.api.v1 import (
    cluster_templates,
    extensions,
    federations,
    kubernetes_resources,
    mservices,
    quotas,
    root,
    stats,
)
from jeroboam.api.v1 import clusters as clusters_api
from jeroboam.api.v1 import containers as containers_api
from jeroboam.api.v1 import credentials as credentials_api
from jeroboam.api.v1 import nodegroups as nodegroups_api
from jeroboam.config import Settings
from jeroboam.context import RequestContext
from jeroboam.dashboard.app import mount_dashboard
from jeroboam.errors import InvalidInputError, JeroboamError
from jeroboam.services.wiring import Services

log = logging.getLogger(__name__)


def _json(status: int, body: bytes) -> Response:
    return Response(content=body, status_code=status, media_type="application/json")


def make_authenticator(settings: Settings) -> tuple[Authenticator, str | None, bool]:
    """The authenticator, the WWW-Authenticate URI for 401s, and whether it blocks on I/O."""
    if settings.auth_strategy == "keystone":
        from jeroboam.api.auth.token import KeystoneAuthenticator  # imported only in keystone mode

        keystone = settings.keystone_authtoken
        return KeystoneAuthenticator(keystone), keystone.www_authenticate_uri or keystone.auth_url, True
    return NoAuth(settings.noauth), None, False


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    services = services or Services.build(settings)
    app = FastAPI(
        title="Jeroboam (OpenStack Magnum API v1)",
        version="1.14",
        openapi_url="/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.services = services

    @app.exception_handler(JeroboamError)
    async def on_error(request: Request, exc: JeroboamError) -> Response:
        return _json(*response_for(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        accept_json = getattr(request.state, "accept_json", True)
        detail = "" if exc.detail in ("Not Found", "Method Not Allowed") else str(exc.detail)
        return _json(exc.status_code, routing_error_body(exc.status_code, detail, accept_json=accept_json))

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(str(e.get("msg")) for e in exc.errors())
        return _json(*response_for(InvalidInputError("Invalid input: " + problems)))

    # Routes are matched in this order: the most requested collections first.
    app.include_router(root.router)
    app.include_router(clusters_api.router)
    app.include_router(
        cluster_templates.make_router(
            lambda r: r.app.state.services.cluster_templates, "clustertemplates", "clustertemplates", "clustertemplates"
        )
    )
    app.include_router(nodegroups_api.router)
    app.include_router(certificates_api.router)
    app.include_router(credentials_api.router)
    app.include_router(quotas.router)
    app.include_router(stats.router)
    app.include_router(mservices.router)
    app.include_router(federations.router)
    app.include_router(extensions.router)
    app.include_router(clusters_api.bays_router)
    app.include_router(containers_api.router)
    app.include_router(kubernetes_resources.router)
    app.include_router(
        cluster_templates.make_router(
            lambda r: r.app.state.services.cluster_templates, "baymodels", "baymodels", "baymodels (legacy)"
        )
    )

    mount_dashboard(app, settings)

    authenticator, www_authenticate, blocking = make_authenticator(settings)
    app.add_middleware(
        EdgeMiddleware,
        authenticator=authenticator,
        admin_check=services.policy.is_admin,
        www_authenticate=www_authenticate,
        blocking_auth=blocking,
        log_requests=settings.api.request_log,
    )
    if settings.metrics.enabled:
        app.add_middleware(
            MetricsEdge,
            settings=settings.metrics,
            snapshot=services.metrics_snapshot,
            is_admin=admin_check(authenticator, services.policy.is_admin),
        )
    return app


def admin_check(authenticator: Authenticator, is_admin: Callable[[RequestContext], bool]) -> AdminCheck:
    """Whether a request's credentials authenticate an admin (off the event loop: Keystone may be asked)."""

    def check(headers: dict[str, str]) -> bool:
        try:
            return is_admin(authenticator.authenticate(headers, "req-metrics"))
        except JeroboamError:
            return False

    async def run(headers: dict[str, str]) -> bool:
        return await anyio.to_thread.run_sync(check, headers)

    return run
