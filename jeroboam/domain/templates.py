"""Rules of cluster templates that need no I/O."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Mapping, Sequence
from typing import Any

from jeroboam.domain.specs import canonical_coe
from jeroboam.errors import InvalidInputError

SUPPORTED_NETWORK_DRIVERS: Mapping[str, tuple[str, ...]] = {
    "kubernetes": ("flannel", "calico", "cilium"),
    "swarm-mode": ("docker", "flannel"),
}

# Attributes a PATCH may not remove, besides the mandatory coe and image_id.
NON_REMOVABLE = (
    "/image_id",
    "/coe",
    "/network_driver",
    "/external_network_id",
    "/tls_disabled",
    "/public",
    "/server_type",
    "/registry_enabled",
    "/cluster_distro",
    "/hidden",
)

GREEK = (
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
)


def generate_name(suffix: str = "template") -> str:
    """Magnum-style generated name, e.g. ``kappa-7-template``."""
    return f"{random.choice(GREEK)}-{random.randint(1, 24)}-{suffix}"  # noqa: S311 - not a secret


def check_network_driver(coe: str, driver: str | None, *, allowed: Sequence[str], default: str) -> str | None:
    """The network driver to store, or InvalidInputError in Magnum's words."""
    supported = SUPPORTED_NETWORK_DRIVERS.get(canonical_coe(coe), ())
    if driver is None:
        return default if supported else None
    if driver not in supported:
        raise InvalidInputError(
            f"Network driver type {driver} is not supported, expecting a "
            f"{'/'.join(supported)}/unspecified network driver."
        )
    permitted = supported if "all" in allowed else tuple(d for d in supported if d in allowed)
    if driver not in permitted:
        raise InvalidInputError(
            f"Network driver type {driver} is not allowed, expecting a "
            f"{'/'.join(permitted)}/unspecified network driver."
        )
    return driver


def check_dns_nameserver(value: str | None) -> None:
    if value is None:
        return
    try:
        for item in value.split(","):
            ipaddress.IPv4Address(item.strip())
    except ValueError:
        raise InvalidInputError(
            f"Expected a single dns address or comma separated dns list, but received {value}."
        ) from None


def check_docker_volume(size: int | None, storage_driver: str | None) -> None:
    if storage_driver == "devicemapper" and size is not None and size < 3:
        raise InvalidInputError(
            f"docker volume size {size} GB is not valid, expecting minimum value 3GB for devicemapper storage driver."
        )


def allowed_while_in_use(changes: Mapping[str, Any]) -> bool:
    """A template that clusters use may only be renamed, published, (un)hidden or re-tagged."""
    keys = set(changes)
    if keys == {"name"} or keys == {"hidden"}:
        return True
    if keys == {"public"}:
        return changes["public"] is True
    if keys == {"tags"}:
        return changes["tags"] is not None
    return False
