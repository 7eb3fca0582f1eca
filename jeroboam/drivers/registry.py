"""Drivers found by entry point (group ``jeroboam.drivers``) and chosen for a template."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import entry_points

from jeroboam.config import Settings
from jeroboam.domain.specs import canonical_coe
from jeroboam.drivers.base import CatalogDriver, ContainerDriver, Driver, container_driver
from jeroboam.errors import InvalidInputError

log = logging.getLogger(__name__)
GROUP = "jeroboam.drivers"
__all__ = ["GROUP", "ContainerDriver", "DriverRegistry"]


@dataclass(frozen=True)
class FlavorView:
    name: str
    vcpus: float
    ram_mib: int


@dataclass(frozen=True)
class DriverCatalog:
    """What a template may name for one driver: the lists its template checks accept."""

    name: str
    provides: list[tuple[str, str]]  # (server_type, coe)
    images: dict[str, str]  # name -> os_distro
    flavors: list[FlavorView]
    external_networks: list[str]
    volume_drivers: list[str]


class DriverRegistry:
    def __init__(
        self, drivers: dict[str, Driver], default_driver: str | None = None, fallback_driver: str | None = None
    ) -> None:
        self._drivers = drivers
        self._default = default_driver
        self._fallback = fallback_driver

    @classmethod
    def from_entry_points(cls, settings: Settings) -> DriverRegistry:
        drivers: dict[str, Driver] = {}
        for entry in entry_points(group=GROUP):
            if entry.name in settings.drivers.disabled_drivers:
                continue
            try:
                drivers[entry.name] = entry.load()(settings)
            except Exception:  # a broken plugin must not take the service down
                log.exception("driver %s could not be loaded; it is not offered", entry.name)
        return cls(drivers, settings.drivers.default_driver, settings.drivers.fallback_driver)

    def names(self) -> list[str]:
        return sorted(self._drivers)

    def catalogs(self) -> list[DriverCatalog]:
        """The catalog of every driver that checks templates against lists (CatalogDriver), by name."""
        found: list[DriverCatalog] = []
        for name in self.names():
            driver = self._drivers[name]
            if not isinstance(driver, CatalogDriver):
                continue
            flavors = [FlavorView(f, driver.flavors[f].vcpus, driver.flavors[f].ram) for f in sorted(driver.flavors)]
            found.append(
                DriverCatalog(
                    name=name,
                    provides=[(p.server_type, p.coe) for p in driver.provides],
                    images=dict(sorted(driver.images.items())),
                    flavors=flavors,
                    external_networks=list(driver.external_networks),
                    volume_drivers=list(driver.volume_drivers),
                )
            )
        return found

    def get(self, name: str) -> Driver:
        try:
            return self._drivers[name]
        except KeyError:
            raise InvalidInputError(f"Cluster driver ({name}) not supported.") from None

    def serving(self, driver: str | None, coe: str, server_type: str) -> Driver:
        """The driver of a stored template: the one it names, else the one chosen for its coe on
        its server type (``select``)."""
        if driver:
            return self.get(driver)
        return self.select(canonical_coe(coe), server_type, None)

    def containers(self, driver: str | None, coe: str, server_type: str) -> ContainerDriver:
        """The driver of a stored template as a ContainerDriver (a 400 when it runs no containers)."""
        return container_driver(self.serving(driver, coe, server_type))

    def supporting(self, coe: str, server_type: str) -> list[str]:
        return [
            name
            for name, driver in sorted(self._drivers.items())
            if any(p.coe == coe and p.server_type == server_type for p in driver.provides)
        ]

    def select(self, coe: str, server_type: str, explicit: str | None) -> Driver:
        """The driver for a template: the one it names, else the configured default, else the
        first installed driver (by name) that really builds its coe on its server type, else the
        configured fallback. A simulation is never chosen unless named or configured: a user who
        asked for a cluster must not get a simulated one without knowing it."""
        if explicit:
            driver = self.get(explicit)
            if not any(p.coe == coe and p.server_type == server_type for p in driver.provides):
                raise InvalidInputError(
                    f"Cluster driver ({explicit}) does not support coe {coe} on server type {server_type}."
                )
            return driver
        candidates = self.supporting(coe, server_type)
        if not candidates:
            if not any(p.coe == coe for d in self._drivers.values() for p in d.provides):
                raise InvalidInputError(f"No installed driver supports coe {coe}.")
            raise InvalidInputError(f"Cluster type ({server_type}, {coe}) not supported.")
        if self._default in candidates:
            return self._drivers[self._default]
        real = [name for name in candidates if not self._drivers[name].simulated]
        if real:
            return self._drivers[real[0]]
        if self._fallback in candidates:
            return self._drivers[self._fallback]
        simulated = " or ".join(f"--driver {name}" for name in candidates)
        raise InvalidInputError(
            f"No driver here builds real {coe} clusters on server type {server_type}, and simulated ones are "
            f"made only on request: create the template with {simulated} for a simulation, in which nothing "
            "real is built, or use a coe a real driver builds."
        )
