"""Which driver serves a template that names none: never the simulation unless asked for."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from jeroboam.domain.specs import ImageInfo, Provides, TemplateResources
from jeroboam.drivers.base import Driver
from jeroboam.drivers.registry import DriverRegistry
from jeroboam.errors import InvalidInputError


class StandIn:
    """A stand-in driver: only what the registry reads."""

    volume_drivers: Sequence[str] = ()

    def __init__(self, name: str, coes: Sequence[str], *, simulated: bool = False) -> None:
        self.name = name
        self.provides = tuple(Provides("vm", coe) for coe in coes)
        self.simulated = simulated

    def check_template(self, resources: TemplateResources) -> ImageInfo:
        return ImageInfo(resources.image_id, "debian")


def registry(default: str | None = None, fallback: str | None = None) -> DriverRegistry:
    drivers: dict[str, Driver] = {
        "docker": StandIn("docker", ["swarm-mode"]),
        "sim": StandIn("sim", ["kubernetes", "swarm-mode"], simulated=True),
    }
    return DriverRegistry(drivers, default, fallback)


def test_a_coe_only_the_simulation_builds_is_refused_with_how_to_ask_for_it() -> None:
    with pytest.raises(InvalidInputError) as refused:
        registry().select("kubernetes", "vm", None)
    assert refused.value.message == (
        "No driver here builds real kubernetes clusters on server type vm, and simulated ones are made only on "
        "request: create the template with --driver sim for a simulation, in which nothing real is built, or use "
        "a coe a real driver builds."
    )


def test_the_simulation_when_named_or_configured() -> None:
    assert registry().select("kubernetes", "vm", "sim").name == "sim"
    assert registry(default="sim").select("kubernetes", "vm", None).name == "sim"
    assert registry(default="sim").select("swarm-mode", "vm", None).name == "sim"
    assert registry(fallback="sim").select("kubernetes", "vm", None).name == "sim"


def test_a_real_driver_before_the_fallback() -> None:
    assert registry().select("swarm-mode", "vm", None).name == "docker"
    assert registry(fallback="sim").select("swarm-mode", "vm", None).name == "docker"
