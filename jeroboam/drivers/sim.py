"""The ``sim`` driver: SIMULATED infrastructure for tests and scale runs; nothing real is built."""

from __future__ import annotations

from jeroboam.config import Settings
from jeroboam.domain.specs import Provides
from jeroboam.drivers.base import CatalogDriver


class SimDriver(CatalogDriver):
    name = "sim"
    provides = (
        Provides("vm", "kubernetes"),
        Provides("bm", "kubernetes"),
        Provides("vm", "swarm-mode"),
        Provides("vm", "swarm"),
    )
    volume_drivers = ("cinder", "local")

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.sim.images, settings.sim.flavors, settings.sim.external_networks)
