"""Parse ``OpenStack-API-Version`` the way Magnum does."""

from __future__ import annotations

import re

from jeroboam.domain.versions import MAX_VERSION, MIN_VERSION, SERVICE_ALIASES, Version

_INT_DOT_INT = re.compile(r"^\d+\.\d+$")


class VersionHeaderError(Exception):
    """The header is unusable; ``requested`` is set when only the range is wrong."""

    def __init__(self, detail: str, requested: Version | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.requested = requested


def parse_version_header(value: str | None) -> Version:
    if value is None:
        return MIN_VERSION
    tokens = value.split()
    if len(tokens) != 2 or tokens[0].lower() not in SERVICE_ALIASES:
        raise VersionHeaderError("Invalid service type for OpenStack-API-Version header")
    text = tokens[1]
    if text.lower() == "latest":
        return MAX_VERSION
    if not _INT_DOT_INT.match(text):
        raise VersionHeaderError("Invalid value for OpenStack-API-Version header")
    version = Version.parse(text)
    if version.major != MAX_VERSION.major or not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionHeaderError("unsupported", requested=version)
    return version


# The 2015 spelling (Magnum 1.x): ``X-OpenStack-Magnum-API-Version: 1.1``, a bare version.
LEGACY_HEADER = "x-openstack-magnum-api-version"


def parse_legacy_version_header(value: str) -> Version:
    text = value.strip()
    if text.lower() == "latest":
        return MAX_VERSION
    if not _INT_DOT_INT.match(text):
        raise VersionHeaderError("Invalid value for X-OpenStack-Magnum-API-Version header")
    version = Version.parse(text)
    if version.major != MAX_VERSION.major or not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionHeaderError("unsupported", requested=version)
    return version
