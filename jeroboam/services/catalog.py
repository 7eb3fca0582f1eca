"""What a template may name, per installed driver (images, flavors, external networks): Jeroboam's
own extension, so a form can offer choices instead of letting the create fail."""

from __future__ import annotations

from dataclasses import dataclass

from jeroboam.context import RequestContext
from jeroboam.drivers.base import CatalogDriver
from jeroboam.drivers.registry import DriverRegistry
from jeroboam.policy import Policy


@dataclass(frozen=True)
class FlavorView:
    name: str
    vcpus: float
    ram_mib: int


@dataclass(frozen=True)
class DriverCatalog:
    name: str
    provides: list[tuple[str, str]]  # (server_type, coe)
    images: dict[str, str]  # name -> os_distro
    flavors: list[FlavorView]
    external_networks: list[str]
    volume_drivers: list[str]


class CatalogService:
    def __init__(self, policy: Policy, drivers: DriverRegistry) -> None:
        self.policy = policy
        self.drivers = drivers

    def list(self, context: RequestContext) -> list[DriverCatalog]:
        """Whoever may list templates may see what a template can name (the same lists the
        template checks quote in their error messages)."""
        self.policy.authorize("clustertemplate:get_all", context)
        found: list[DriverCatalog] = []
        for name in self.drivers.names():
            driver = self.drivers.get(name)
            if not isinstance(driver, CatalogDriver):
                continue
            found.append(
                DriverCatalog(
                    name=name,
                    provides=[(p.server_type, p.coe) for p in driver.provides],
                    images=dict(sorted(driver.images.items())),
                    flavors=[
                        FlavorView(f, driver.flavors[f].vcpus, driver.flavors[f].ram) for f in sorted(driver.flavors)
                    ],
                    external_networks=list(driver.external_networks),
                    volume_drivers=list(driver.volume_drivers),
                )
            )
        return found
