"""``keystone``: identity from a Keystone token (X-Auth-Token), validated and cached."""

from __future__ import annotations

from collections.abc import Mapping

from jeroboam.api.auth.keystone import KeystoneTokenValidator, TokenInfo
from jeroboam.config import KeystoneAuthtokenSettings
from jeroboam.context import RequestContext
from jeroboam.errors import UnauthenticatedError


class KeystoneAuthenticator:
    def __init__(self, settings: KeystoneAuthtokenSettings) -> None:
        self.validator = KeystoneTokenValidator(settings)

    def authenticate(self, headers: Mapping[str, str], request_id: str) -> RequestContext:
        token = headers.get("x-auth-token")
        if not token:
            raise UnauthenticatedError("The request you have made requires authentication.")
        return self._context(token, self.validator.validate(token), request_id)

    def authenticate_cached(self, headers: Mapping[str, str], request_id: str) -> RequestContext | None:
        """The context of a token validated before and cached (no I/O), else None: the caller then
        runs ``authenticate``, which may ask Keystone, off the event loop."""
        token = headers.get("x-auth-token")
        info = self.validator.validate_cached(token) if token else None
        return None if info is None else self._context(token or "", info, request_id)

    @staticmethod
    def _context(token: str, info: TokenInfo, request_id: str) -> RequestContext:
        return RequestContext(
            project_id=info.project_id,
            user_id=info.user_id,
            roles=info.roles,
            request_id=request_id,
            user_name=info.user_name,
            project_name=info.project_name,
            user_domain_id=info.user_domain_id,
            auth_token=token,
            service_catalog=info.catalog,
        )
