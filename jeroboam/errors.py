"""Errors every layer raises; no HTTP here (``api/errors.py`` maps categories to status codes).

Each error carries a stable machine ``code`` and a message safe to show to
the user. Messages follow Magnum's wording where clients or users know it.
"""

from __future__ import annotations


class JeroboamError(Exception):
    """Base of every expected failure. ``message`` is shown to users as is."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(JeroboamError):
    """The request is malformed or asks for something that cannot be done (400)."""

    code = "invalid_input"


class InvalidFieldError(InvalidInputError):
    """One attribute of a request has a bad value, in Magnum's wording."""

    code = "invalid_field"

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(f"Invalid input for field/attribute {field}. Value: '{value}'. {reason}")
        self.field = field


class UnknownAttributeError(InvalidInputError):
    code = "unknown_attribute"

    def __init__(self, argument: str, names: list[str]) -> None:
        super().__init__(f"Unknown attribute for argument {argument}: {', '.join(sorted(names))}")


class UnknownArgumentError(InvalidInputError):
    code = "unknown_argument"

    def __init__(self, name: str) -> None:
        super().__init__(f'Unknown argument: "{name}"')


class MalformedBodyError(InvalidInputError):
    code = "malformed_body"

    def __init__(self) -> None:
        super().__init__("Request is not in valid JSON format")


class PatchError(InvalidInputError):
    code = "patch_error"


class InUseError(InvalidInputError):
    """A resource others depend on cannot change that way (Magnum answers 400, not 409)."""

    code = "in_use"


class PermissionDeniedError(JeroboamError):
    """The caller may see the resource but not do this to it (403)."""

    code = "permission_denied"


class PolicyDeniedError(PermissionDeniedError):
    code = "policy_denied"

    def __init__(self, rule: str) -> None:
        super().__init__(f"Policy doesn't allow {rule} to be performed.")
        self.rule = rule


class QuotaExceededError(PermissionDeniedError):
    code = "quota_exceeded"


class NotFoundError(JeroboamError):
    """The resource does not exist or belongs to a project the caller cannot see (404)."""

    code = "not_found"


class ConflictError(JeroboamError):
    """The request conflicts with the current state (409)."""

    code = "conflict"


class AmbiguousNameError(ConflictError):
    code = "ambiguous_name"


class NotAcceptableError(JeroboamError):
    """The requested microversion cannot serve this request (406)."""

    code = "not_acceptable"


class UnsupportedMediaTypeError(JeroboamError):
    code = "unsupported_media_type"

    def __init__(self, mimetype: str) -> None:
        super().__init__(f"Unknown mimetype: {mimetype}")


class UnauthenticatedError(JeroboamError):
    """No valid credentials (401)."""

    code = "unauthenticated"


class ServiceUnavailableError(JeroboamError):
    """A service Jeroboam depends on (Keystone, the database) cannot be reached (503)."""

    code = "service_unavailable"


class DatabaseUnavailableError(ServiceUnavailableError):
    """The database cannot be reached at all (refused, cut, or no answer in time): an outage,
    which the process logs once (``observability/outages.py``), not once per attempt."""

    code = "database_unavailable"


# -- driver outcomes (the conductor's, not HTTP's) -------------------------------------------------
# Not JeroboamErrors on purpose: they never reach a client as such. The conductor turns them into
# a retry after ``delay`` or an operation ``*_FAILED`` with the message (drivers/base.py says how).
class DriverError(Exception):
    """A driver could not do what it was asked."""


class RetryableError(DriverError):
    """Try again after ``delay`` seconds."""

    def __init__(self, message: str, delay: float = 5.0) -> None:
        super().__init__(message)
        self.delay = delay


class UnreachableError(RetryableError):
    """The infrastructure does not answer at all (an engine refuses connections, a host is gone):
    retried like any retryable error, but only for ``[conductor] unreachable_retry_window``."""


class PermanentError(DriverError):
    """Retrying will not help; the operation fails with this message."""
