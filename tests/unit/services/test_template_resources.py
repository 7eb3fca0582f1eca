"""The resource check of templates, clusters and nodegroups: the driver's names and IDs first,
then a lookup in the caller's services (a fake lookup here; the real one is tested against
stand-in services and a real Keystone in tests/integration/test_resource_lookup_keystone.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from jeroboam.config import FlavorSettings
from jeroboam.context import RequestContext
from jeroboam.domain.resources import resource_id
from jeroboam.domain.specs import TemplateResources
from jeroboam.drivers.base import CatalogDriver
from jeroboam.errors import InvalidInputError, NotFoundError
from jeroboam.services.resource_lookup import FoundResource, LookupKind, NullLookup
from jeroboam.services.template_resources import TemplateResourceChecker

CONTEXT = RequestContext(project_id="p", user_id="u")


@dataclass
class FakeLookup:
    """Knows the resources in ``known`` (kind -> value -> found); records each question."""

    known: dict[str, dict[str, FoundResource]]
    asked: list[tuple[str, str]] = field(default_factory=list)

    def offers(self, context: RequestContext, kind: LookupKind) -> bool:
        return True

    def find(self, context: RequestContext, kind: LookupKind, value: str) -> FoundResource | None:
        self.asked.append((kind, value))
        return self.known.get(kind, {}).get(value)

    def close(self) -> None:
        return None


def driver() -> CatalogDriver:
    return CatalogDriver(
        images={"fedora-coreos-latest": "fedora-coreos"},
        flavors={"ds2G": FlavorSettings(vcpus=1, ram=2048)},
        external_networks=["public"],
    )


def resources(**values: str | None) -> TemplateResources:
    base: dict[str, str | None] = {"image_id": "fedora-coreos-latest"}
    return TemplateResources(coe="kubernetes", server_type="vm", **{**base, **values})  # type: ignore[arg-type]


def test_configured_names_and_ids_are_kept_as_sent_without_asking() -> None:
    lookup = FakeLookup({})
    sent = resources(
        image_id=resource_id("image", "fedora-coreos-latest"),
        flavor_id=resource_id("flavor", "ds2G"),
        master_flavor_id="ds2G",
        external_network_id=resource_id("network", "public"),
    )
    image, checked = TemplateResourceChecker(lookup).check(CONTEXT, driver(), sent)
    assert checked == sent
    assert (image.name, image.os_distro) == ("fedora-coreos-latest", "fedora-coreos")
    assert lookup.asked == []


def test_a_service_id_becomes_the_drivers_name() -> None:
    lookup = FakeLookup(
        {
            "image": {"g-1": FoundResource("g-1", "fedora-coreos-latest")},
            "flavor": {"101": FoundResource("101", "ds2G")},
            "external_network": {"n-1": FoundResource("n-1", "public")},
        }
    )
    _, checked = TemplateResourceChecker(lookup).check(
        CONTEXT, driver(), resources(image_id="g-1", flavor_id="101", external_network_id="n-1")
    )
    assert (checked.image_id, checked.flavor_id, checked.external_network_id) == (
        "fedora-coreos-latest",
        "ds2G",
        "public",
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"image_id": "nope"}, "Image nope could not be found. (image_id was looked up in the image service"),
        ({"flavor_id": "nope"}, "Unable to find flavor nope. (flavor_id was looked up in the compute service"),
        ({"external_network_id": "nope"}, "External network nope could not be found. (external_network_id"),
        ({"fixed_network": "nope"}, "Fixed network nope could not be found. (fixed_network was looked up"),
        ({"fixed_subnet": "nope"}, "Fixed subnet nope could not be found. (fixed_subnet was looked up"),
    ],
)
def test_what_the_service_does_not_know_is_400_naming_field_and_value(values: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        TemplateResourceChecker(FakeLookup({})).check(CONTEXT, driver(), resources(**values))
    assert raised.value.message.startswith(message)


def test_a_service_resource_the_driver_does_not_offer_is_400() -> None:
    lookup = FakeLookup({"image": {"windows": FoundResource("g-2", "windows")}})
    with pytest.raises(InvalidInputError) as raised:
        TemplateResourceChecker(lookup).check(CONTEXT, driver(), resources(image_id="windows"))
    assert raised.value.message == (
        "Image windows is windows in the image service (Glance), which the catalog driver does not offer (image_id)."
    )


def test_keypairs_are_checked_only_when_asked_and_missing_ones_are_404() -> None:
    lookup = FakeLookup({"keypair": {"mine": FoundResource("mine", "mine")}})
    checker = TemplateResourceChecker(lookup)
    checker.check(CONTEXT, driver(), resources(keypair_id="other"))  # templates: not checked
    checker.check(CONTEXT, driver(), resources(keypair_id="mine"), check_keypair=True)
    with pytest.raises(NotFoundError) as raised:
        checker.check(CONTEXT, driver(), resources(keypair_id="other"), check_keypair=True)
    assert raised.value.message.startswith("Unable to find keypair other.")


def test_without_a_service_the_drivers_own_check_answers() -> None:
    checker = TemplateResourceChecker(NullLookup())
    with pytest.raises(InvalidInputError) as raised:
        checker.check(CONTEXT, driver(), resources(image_id="nope"))
    assert raised.value.message == "Image nope could not be found; images of the catalog driver: fedora-coreos-latest."
    # Fixed networks, subnets and key pairs are nobody's to check.
    checker.check(CONTEXT, driver(), resources(fixed_network="any", fixed_subnet="any", keypair_id="any"))
