"""Check what a template, cluster or nodegroup names: the driver's own resources first (by name or
stable ID), then the caller's Glance, Nova and Neutron for anything else, as Magnum does.

A value the driver knows is kept as sent. A value only a service knows (its own ID of an image,
flavor or external network) is replaced by the name of the driver's resource it stands for, since
the conductor has no token to ask the service again. Fixed networks, subnets and key pairs are
not the driver's: they are only checked to exist when a service that knows them can be asked.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from jeroboam.context import RequestContext
from jeroboam.domain.resources import ResourceKind
from jeroboam.domain.specs import ImageInfo, TemplateResources
from jeroboam.errors import InvalidInputError, NotFoundError
from jeroboam.services.resource_lookup import SERVICE_LABEL, SERVICE_TYPE, LookupKind, ResourceLookup

# Field, the driver's kind of resource, the kind to look up, Magnum's not-found wording, a noun.
DRIVER_FIELDS: tuple[tuple[str, ResourceKind, LookupKind, str, str], ...] = (
    ("image_id", "image", "image", "Image {} could not be found.", "Image"),
    ("flavor_id", "flavor", "flavor", "Unable to find flavor {}.", "Flavor"),
    ("master_flavor_id", "flavor", "flavor", "Unable to find flavor {}.", "Flavor"),
    ("external_network_id", "network", "external_network", "External network {} could not be found.", "Network"),
)
SERVICE_FIELDS: tuple[tuple[str, LookupKind, str], ...] = (
    ("fixed_network", "network", "Fixed network {} could not be found."),
    ("fixed_subnet", "subnet", "Fixed subnet {} could not be found."),
)


def _looked_up(message: str, field: str, kind: LookupKind) -> str:
    return f"{message} ({field} was looked up in the {SERVICE_LABEL[SERVICE_TYPE[kind]]} of your catalog.)"


class ResourceDriver(Protocol):
    """What the check needs of a driver (the driver port's ``Driver`` has it)."""

    name: str

    def find_resource(self, kind: ResourceKind, value: str) -> str | None: ...

    def check_template(self, resources: TemplateResources) -> ImageInfo: ...


class TemplateResourceChecker:
    def __init__(self, lookup: ResourceLookup) -> None:
        self.lookup = lookup

    def check(
        self,
        context: RequestContext,
        driver: ResourceDriver,
        resources: TemplateResources,
        *,
        check_keypair: bool = False,
    ) -> tuple[ImageInfo, TemplateResources]:
        """The image's facts and ``resources`` with service IDs replaced by the driver's names.

        Raises InvalidInputError (400) for what does not exist, NotFoundError (404, Magnum's code)
        for a missing key pair, and the lookup's errors (409 ambiguous, 403, 503).
        """
        changes: dict[str, Any] = {}
        for field, resource_kind, kind, missing, noun in DRIVER_FIELDS:
            value = getattr(resources, field)
            if value is None or driver.find_resource(resource_kind, value) is not None:
                continue
            if not self.lookup.offers(context, kind):
                continue  # the driver's check below says what it offers instead
            found = self.lookup.find(context, kind, value)
            if found is None:
                raise InvalidInputError(_looked_up(missing.format(value), field, kind))
            name = driver.find_resource(resource_kind, found.id) or (
                driver.find_resource(resource_kind, found.name) if found.name else None
            )
            if name is None:
                raise InvalidInputError(
                    f"{noun} {value} is {found.name or found.id} in the {SERVICE_LABEL[SERVICE_TYPE[kind]]}, "
                    f"which the {driver.name} driver does not offer ({field})."
                )
            changes[field] = name
        for field, kind, missing in SERVICE_FIELDS:
            value = getattr(resources, field)
            if (
                value is not None
                and self.lookup.offers(context, kind)
                and self.lookup.find(context, kind, value) is None
            ):
                raise InvalidInputError(_looked_up(missing.format(value), field, kind))
        keypair = resources.keypair_id
        if (
            check_keypair
            and keypair is not None
            and self.lookup.offers(context, "keypair")
            and self.lookup.find(context, "keypair", keypair) is None
        ):
            raise NotFoundError(_looked_up(f"Unable to find keypair {keypair}.", "keypair", "keypair"))
        resolved = replace(resources, **changes) if changes else resources
        return driver.check_template(resolved), resolved
