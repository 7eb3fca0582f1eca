"""``keystone``: identity from a Keystone token (X-Auth-Token), validated and cached."""

from __future__ import annotations

from collections.abc import Mapping

from jeroboam.api.auth.keystone import KeystoneTokenValidator
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
        info = self.validator.validate(token)
        return RequestContext(
            project_id=info.project_id,
            user_id=info.user_id,
            roles=info.roles,
            request_id=request_id,
            user_name=info.user_name,
            project_name=info.project_name,
            user_domain_id=info.user_domain_id,
            auth_token=token,
        )
