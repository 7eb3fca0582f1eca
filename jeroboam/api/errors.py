"""THE mapping from errors to HTTP, and Magnum's error bodies."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from jeroboam import errors
from jeroboam.domain.versions import MAX_VERSION, MIN_VERSION, SERVICE_TYPE, Version

log = logging.getLogger(__name__)

# Most specific first: the first category an error is an instance of decides its status.
STATUS_BY_CATEGORY: tuple[tuple[type[errors.JeroboamError], int], ...] = (
    (errors.InvalidInputError, 400),
    (errors.UnauthenticatedError, 401),
    (errors.PermissionDeniedError, 403),
    (errors.NotFoundError, 404),
    (errors.NotAcceptableError, 406),
    (errors.ConflictError, 409),
    (errors.UnsupportedMediaTypeError, 415),
    (errors.ServiceUnavailableError, 503),
)

REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


UNEXPECTED = 500  # anything that is not a JeroboamError


def status_of(kind: type[errors.JeroboamError]) -> int:
    """The status of an error category (also for answers made without raising one)."""
    for category, status in STATUS_BY_CATEGORY:
        if issubclass(kind, category):
            return status
    return UNEXPECTED


def status_for(error: errors.JeroboamError) -> int:
    return status_of(type(error))


def response_for(error: errors.JeroboamError, *, accept_json: bool = True) -> tuple[int, bytes]:
    """An error's status and Magnum's body for it (a 406 has the routing errors' body)."""
    status = status_for(error)
    if status == status_of(errors.NotAcceptableError):
        return status, routing_error_body(status, error.message, accept_json=accept_json)
    return status, error_body(status, error.message)


# A sentence end: a full stop followed by the end of the message, or by white space and a capital
# (a full stop inside a name, a number, an address or a pattern is followed by neither).
SENTENCE_END = re.compile(r"\.(?=\Z|\s+[A-Z(\"'])")


def title_of(message: str) -> str:
    """The message's first sentence, without its full stop: the CLI shows only this. Magnum cuts at
    the first full stop wherever it is, which cut ``m1.huge`` to ``m1`` (docs/compatibility.md)."""
    end = SENTENCE_END.search(message)
    return message[: end.start()] if end else message


def error_body(status: int, message: str, *, code: str | None = None) -> bytes:
    """Magnum's body; ``code`` is 'client' for 4xx, 'server' for 5xx, '' for routing errors."""
    if code is None:
        code = "server" if status >= 500 else "client"
    payload = {
        "errors": [
            {
                "request_id": "",
                "code": code,
                "status": status,
                "title": title_of(message),
                "detail": message,
                "links": [],
            }
        ]
    }
    return json.dumps(payload).encode()


def routing_error_body(status: int, detail: str = "", *, accept_json: bool = True) -> bytes:
    """Body of errors raised below the resource code (unknown route, 405, 406)."""
    payload = {
        "errors": [
            {
                "request_id": "",
                "code": "",
                "status": status,
                "title": REASONS.get(status, "") if accept_json else "",
                "detail": detail if accept_json else "",
                "links": [],
            }
        ]
    }
    return json.dumps(payload).encode()


def unsupported_version_body(requested: Version, *, accept_json: bool) -> bytes:
    item: dict[str, Any] = {
        "code": "magnum.microversion-unsupported",
        "title": "Requested microversion is unsupported",
        "min_version": str(MIN_VERSION),
        "max_version": str(MAX_VERSION),
        "links": [{"rel": "help", "href": "http://docs.openstack.org/api-guide/compute/microversions.html"}],
    }
    if accept_json:
        item["description"] = (
            f"Version {requested} was requested but the minor version is not supported by this "
            f"service. The supported version range is: [{SERVICE_TYPE} {MIN_VERSION}, "
            f"{SERVICE_TYPE} {MAX_VERSION}]."
        )
    return json.dumps({"errors": [item]}).encode()


def keystone_unauthorized_body() -> bytes:
    """keystonemiddleware's 401 body (Magnum does not reformat it)."""
    payload = {
        "error": {
            "code": 401,
            "title": "Unauthorized",
            "message": "The request you have made requires authentication.",
        }
    }
    return json.dumps(payload).encode()
