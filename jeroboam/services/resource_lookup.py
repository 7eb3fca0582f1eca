"""Finding images, flavors, key pairs, networks and subnets in the caller's OpenStack services.

Magnum checks what a template or cluster names against Glance, Nova and Neutron, by name or ID,
with the caller's token. ``ResourceLookup`` is that question; ``CatalogLookup``
(``jeroboam.services.catalog_lookup``) asks the services of the caller's Keystone catalog, and
``NullLookup`` is used when there is no catalog (noauth, or lookups turned off).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from jeroboam.context import RequestContext

LookupKind = Literal["image", "flavor", "keypair", "network", "external_network", "subnet"]

# The catalog service type that answers each kind, and how users know that service.
SERVICE_TYPE: dict[LookupKind, str] = {
    "image": "image",
    "flavor": "compute",
    "keypair": "compute",
    "network": "network",
    "external_network": "network",
    "subnet": "network",
}
SERVICE_LABEL = {
    "image": "image service (Glance)",
    "compute": "compute service (Nova)",
    "network": "network service (Neutron)",
}


@dataclass(frozen=True)
class FoundResource:
    """A resource as its service knows it."""

    id: str
    name: str | None


class ResourceLookup(Protocol):
    def offers(self, context: RequestContext, kind: LookupKind) -> bool:
        """Whether a service that knows ``kind`` can be asked for this caller."""
        ...

    def find(self, context: RequestContext, kind: LookupKind, value: str) -> FoundResource | None:
        """The resource ``value`` names (its ID or its name), or None when there is none.

        Raises ``AmbiguousNameError`` when several resources have that name,
        ``PermissionDeniedError`` when the service refuses the caller's token and
        ``ServiceUnavailableError`` (naming the service) when it cannot be asked or fails.
        """
        ...

    def close(self) -> None:
        """Release its connections (the process, or a test's server, is stopping)."""
        ...


class NullLookup:
    """No service to ask: the drivers' own lists decide alone."""

    def offers(self, context: RequestContext, kind: LookupKind) -> bool:
        return False

    def find(self, context: RequestContext, kind: LookupKind, value: str) -> FoundResource | None:
        return None

    def close(self) -> None:
        return None
