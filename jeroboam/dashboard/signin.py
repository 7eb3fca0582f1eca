"""Keystone sign-in for the browser: the dashboard posts a user name and password to its own
origin and this asks Keystone for a project-scoped token (``POST /v3/auth/tokens``), so Keystone
needs no CORS configuration. The password is passed on and forgotten; neither it nor the token
is logged. The token goes back to the page, which keeps it in ``sessionStorage`` only."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from jeroboam.config import KeystoneAuthtokenSettings

log = logging.getLogger(__name__)

FIELDS = ("username", "password", "project_name", "user_domain_name", "project_domain_name")


class SignInError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def keystone_base(settings: KeystoneAuthtokenSettings) -> str:
    url = (settings.auth_url or "").rstrip("/")
    return url[: -len("/v3")] if url.endswith("/v3") else url


def password_request(values: dict[str, str]) -> dict[str, Any]:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": values["username"],
                        "domain": {"name": values["user_domain_name"]},
                        "password": values["password"],
                    }
                },
            },
            "scope": {"project": {"name": values["project_name"], "domain": {"name": values["project_domain_name"]}}},
        }
    }


def check_fields(body: Any) -> dict[str, str]:
    if not isinstance(body, dict):
        raise SignInError(400, "The sign-in request must be a JSON object.")
    values: dict[str, str] = {}
    for name in FIELDS:
        value = body.get(name)
        if name.endswith("domain_name") and not value:
            value = "Default"
        if not isinstance(value, str) or not value.strip():
            raise SignInError(400, "This field is required.", name)
        values[name] = value if name == "password" else value.strip()
    return values


async def sign_in(settings: KeystoneAuthtokenSettings, body: Any) -> dict[str, Any]:
    """The token and what the page shows about it, or SignInError with a message for a person."""
    values = check_fields(body)
    base = keystone_base(settings)
    if not base:
        raise SignInError(503, "This server has no Keystone configured ([keystone_authtoken] auth_url).")
    try:
        async with httpx.AsyncClient(timeout=settings.http_connect_timeout) as client:
            response = await client.post(f"{base}/v3/auth/tokens", json=password_request(values))
    except httpx.HTTPError as exc:
        log.warning("dashboard sign-in: Keystone at %s did not answer: %s", base, type(exc).__name__)
        raise SignInError(503, "Keystone does not answer; try again later.") from None
    if response.status_code == 401:
        raise SignInError(
            401, "Keystone refused these credentials: wrong user name or password, or no role on that project."
        )
    if response.status_code == 404:
        raise SignInError(401, "Keystone does not know this user, project or domain.")
    token = response.headers.get("x-subject-token")
    if response.status_code != 201 or not token:
        raise SignInError(502, f"Keystone answered HTTP {response.status_code}.")
    info = response.json().get("token", {})
    return {
        "token": token,
        "expires_at": info.get("expires_at"),
        "user": {"id": info.get("user", {}).get("id"), "name": info.get("user", {}).get("name")},
        "project": {"id": info.get("project", {}).get("id"), "name": info.get("project", {}).get("name")},
        "roles": sorted(role.get("name") for role in info.get("roles", []) if role.get("name")),
    }
