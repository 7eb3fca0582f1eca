"""The ``docker`` provider: swarm-mode clusters of Docker-in-Docker nodes (embedded default).

Until the provider's lifecycle lands it answers template checks from the
``[docker]`` settings: node images, flavors and external networks.
"""

from __future__ import annotations

from jeroboam.config import Settings
from jeroboam.domain.specs import Provides
from jeroboam.drivers.base import CatalogDriver


class DockerDriver(CatalogDriver):
    name = "docker"
    provides = (Provides("vm", "swarm-mode"), Provides("vm", "swarm"))
    volume_drivers = ("local",)

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.docker.images, settings.docker.flavors, settings.docker.external_networks)
