"""Stable IDs of configured images, flavors and networks (jeroboam.domain.resources)."""

from __future__ import annotations

import uuid

from jeroboam.domain.resources import RESOURCE_NAMESPACE, ResourceNames, resource_id


def test_ids_are_the_documented_uuid5_and_never_change() -> None:
    # docs/configuration.md quotes this value; operators and test stand-ins compute the same.
    assert resource_id("network", "public") == "d7df9bc7-6c9f-535e-9fb5-2baf4d1e9287"
    assert resource_id("image", "jeroboam-node") == str(uuid.uuid5(RESOURCE_NAMESPACE, "image:jeroboam-node"))


def test_each_kind_has_its_own_ids() -> None:
    assert resource_id("image", "x") != resource_id("flavor", "x") != resource_id("network", "x")


def test_names_are_found_by_name_or_by_id_in_any_spelling() -> None:
    flavors = ResourceNames("flavor", ["m1.small", "ds2G"])
    ds2g = resource_id("flavor", "ds2G")
    assert flavors.find("ds2G") == "ds2G"
    assert flavors.find(ds2g) == "ds2G"
    assert flavors.find(ds2g.upper()) == "ds2G"
    assert flavors.find("DS2G") is None  # names are exact
    assert flavors.find(resource_id("image", "ds2G")) is None  # an image's ID is no flavor's
    assert flavors.ids() == {"m1.small": resource_id("flavor", "m1.small"), "ds2G": ds2g}
