"""``mount_dashboard``: the dashboard's routes under ``/dashboard/`` on the API application.

Every response carries the security headers (a strict Content-Security-Policy: scripts, styles
and requests from this origin only, no inline code, no framing). Static files are sent with an
ETag and ``Cache-Control: no-cache``, so a warm page load costs revalidations (304) only.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route, Router

from jeroboam.config import Settings
from jeroboam.dashboard.assets import Asset, load_assets
from jeroboam.dashboard.signin import SignInError, sign_in

PREFIX = "/dashboard"
MAX_SIGNIN_BODY = 8192

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


def _json(body: Any, status: int = 200) -> Response:
    headers = {**SECURITY_HEADERS, "cache-control": "no-store"}
    return Response(json.dumps(body), status_code=status, media_type="application/json", headers=headers)


def client_config(settings: Settings) -> dict[str, Any]:
    """What the page needs to know before anyone signs in."""
    noauth = settings.noauth
    return {
        "auth_strategy": settings.auth_strategy,
        "api": "/v1",
        "noauth": (
            {
                "default_project_id": noauth.default_project_id,
                "default_user_id": noauth.default_user_id,
                "default_roles": list(noauth.default_roles),
            }
            if settings.auth_strategy == "noauth"
            else None
        ),
        # Keystone is reached through this server (POST /dashboard/auth/tokens), never directly.
        "keystone": {"sign_in": f"{PREFIX}/auth/tokens"} if settings.auth_strategy == "keystone" else None,
    }


def build_router(settings: Settings, assets: dict[str, Asset] | None = None) -> Router:
    files = assets if assets is not None else load_assets()
    config = client_config(settings)

    async def static(request: Request) -> Response:
        name = request.path_params.get("path") or "index.html"
        asset = files.get(name)
        if asset is None:
            return Response("Not found", status_code=404, media_type="text/plain", headers=SECURITY_HEADERS)
        headers = {**SECURITY_HEADERS, "etag": asset.etag, "cache-control": "no-cache"}
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.content_type, headers=headers)

    async def config_json(request: Request) -> Response:
        return _json(config)

    async def tokens(request: Request) -> Response:
        if settings.auth_strategy != "keystone":
            return _json({"message": "This server does not use Keystone (auth_strategy is noauth)."}, 404)
        raw = await request.body()
        if len(raw) > MAX_SIGNIN_BODY:
            return _json({"message": "The sign-in request is too large."}, 413)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return _json({"message": "The sign-in request is not JSON."}, 400)
        try:
            return _json(await sign_in(settings.keystone_authtoken, body), 201)
        except SignInError as exc:
            return _json({"message": exc.message, "field": exc.field}, exc.status)

    return Router(
        routes=[
            Route("/config.json", config_json, methods=["GET"]),
            Route("/auth/tokens", tokens, methods=["POST"]),
            Route("/", static, methods=["GET", "HEAD"]),
            Route("/{path:path}", static, methods=["GET", "HEAD"]),
        ]
    )


def mount_dashboard(app: FastAPI, settings: Settings) -> None:
    """Serve the dashboard under /dashboard/ (and send /dashboard there)."""

    async def to_index(request: Request) -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=308, headers=SECURITY_HEADERS)

    app.router.routes.append(Route(PREFIX, to_index, methods=["GET", "HEAD"], include_in_schema=False))
    app.router.routes.append(Mount(PREFIX, app=build_router(settings)))
