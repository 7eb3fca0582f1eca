"""What a template may name, per installed driver (images, flavors, external networks): Jeroboam's
own extension, so a form can offer choices instead of letting the create fail."""

from __future__ import annotations

from jeroboam.context import RequestContext
from jeroboam.drivers.registry import DriverCatalog, DriverRegistry
from jeroboam.policy import Policy

__all__ = ["CatalogService", "DriverCatalog"]  # the API renders DriverCatalog; it names no driver module


class CatalogService:
    def __init__(self, policy: Policy, drivers: DriverRegistry) -> None:
        self.policy = policy
        self.drivers = drivers

    def list(self, context: RequestContext) -> list[DriverCatalog]:
        """Whoever may list templates may see what a template can name (the same lists the
        template checks quote in their error messages)."""
        self.policy.authorize("clustertemplate:get_all", context)
        return self.drivers.catalogs()
