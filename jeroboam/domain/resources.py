"""Stable IDs of the images, flavors and networks a driver offers from its settings.

A client that picked a resource in Glance, Nova or Neutron sends its ID, not its name. Each
configured resource therefore has an ID derived from its kind and name alone
(``uuid5(RESOURCE_NAMESPACE, "<kind>:<name>")``), the same on every machine and across restarts,
so operators can register the same IDs in a real catalog and test stand-ins can compute them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Literal

ResourceKind = Literal["image", "flavor", "network"]

RESOURCE_NAMESPACE = uuid.UUID("5d1c2a4e-2f5b-4c9e-9a57-6a1e0b7c3f10")


def resource_id(kind: ResourceKind, name: str) -> str:
    """The ID of the configured ``kind`` named ``name``."""
    return str(uuid.uuid5(RESOURCE_NAMESPACE, f"{kind}:{name}"))


class ResourceNames:
    """Configured resources of one kind, found by name or by ID."""

    def __init__(self, kind: ResourceKind, names: Iterable[str]) -> None:
        self.kind = kind
        self.names = list(names)
        self._by_id = {resource_id(kind, name): name for name in self.names}

    def find(self, value: str) -> str | None:
        """The configured name ``value`` names (as a name, or as an ID in any case), else None."""
        if value in self.names:
            return value
        return self._by_id.get(value.strip().lower())

    def ids(self) -> dict[str, str]:
        """Each name's ID."""
        return {name: resource_id(self.kind, name) for name in self.names}
