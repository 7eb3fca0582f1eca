"""``noauth``: identity from X-Project-Id / X-User-Id / X-Roles, as a trusted proxy would set them."""

from __future__ import annotations

from collections.abc import Mapping

from jeroboam.config import NoauthSettings
from jeroboam.context import RequestContext

IDENTITY_HEADERS = ("x-project-id", "x-user-id", "x-roles")


def split_roles(value: str) -> frozenset[str]:
    return frozenset(role.strip().lower() for role in value.split(",") if role.strip())


class NoAuth:
    """A request with no identity header at all acts as the configured default (an admin);
    once any identity header is present, the others are taken as given (absent roles = none)."""

    def __init__(self, settings: NoauthSettings) -> None:
        self._settings = settings

    def authenticate(self, headers: Mapping[str, str], request_id: str) -> RequestContext:
        if not any(name in headers for name in IDENTITY_HEADERS):
            return RequestContext(
                project_id=self._settings.default_project_id,
                user_id=self._settings.default_user_id,
                roles=frozenset(self._settings.default_roles),
                request_id=request_id,
            )
        return RequestContext(
            project_id=headers.get("x-project-id") or None,
            user_id=headers.get("x-user-id") or None,
            roles=split_roles(headers.get("x-roles", "")),
            request_id=request_id,
            user_name=headers.get("x-user-name"),
            project_name=headers.get("x-project-name"),
            user_domain_id=headers.get("x-user-domain-id"),
        )
