"""API microversions: the supported range and what each one gates."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Version:
    major: int  # field order is the ordering: (major, minor)
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @classmethod
    def parse(cls, text: str) -> Version:
        major, _, minor = text.partition(".")
        return cls(int(major), int(minor))


MIN_VERSION = Version(1, 1)
MAX_VERSION = Version(1, 14)

# The service names a client may put in OpenStack-API-Version; responses use the first.
SERVICE_TYPE = "container-infrastructure-management"
SERVICE_ALIASES = frozenset({SERVICE_TYPE, "container-infrastructure", "container-infra"})

ROLLBACK = Version(1, 3)
RESIZE = Version(1, 7)
UPGRADE = Version(1, 8)
NODEGROUPS = Version(1, 9)
ZERO_NODE_COUNT = Version(1, 10)
CREDENTIALS = Version(1, 12)
CLUSTER_ID_FIELD = Version(1, 13)
