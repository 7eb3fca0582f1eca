"""Typed data that crosses the driver contract (pure Python)."""

from __future__ import annotations

from dataclasses import dataclass

# coe values a template may carry; 'swarm' is accepted as an alias of 'swarm-mode'.
KNOWN_COES = ("kubernetes", "swarm", "swarm-mode", "mesos")
COE_ALIASES = {"swarm": "swarm-mode"}


def canonical_coe(coe: str) -> str:
    return COE_ALIASES.get(coe, coe)


@dataclass(frozen=True)
class Provides:
    """One (server_type, os, coe) combination a driver can build."""

    server_type: str
    coe: str
    os: str | None = None


@dataclass(frozen=True)
class TemplateResources:
    """What a template names on the infrastructure, for the driver to check."""

    coe: str
    server_type: str
    image_id: str
    flavor_id: str | None = None
    master_flavor_id: str | None = None
    external_network_id: str | None = None
    fixed_network: str | None = None
    fixed_subnet: str | None = None
    keypair_id: str | None = None
    volume_driver: str | None = None
    docker_volume_size: int | None = None
    docker_storage_driver: str | None = None


@dataclass(frozen=True)
class ImageInfo:
    name: str
    os_distro: str
