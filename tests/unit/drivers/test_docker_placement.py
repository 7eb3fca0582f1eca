"""Placement of clusters on several Docker engines, against FAKE engines (in-memory network lists):
the real-engine behaviour is in tests/docker; this covers what one machine cannot show."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from jeroboam.config import DockerDriverSettings, DockerEngineSettings
from jeroboam.domain.specs import ClusterSpec
from jeroboam.drivers.docker import labels
from jeroboam.drivers.docker.placement import Placement
from jeroboam.errors import RetryableError


class FakeNetwork:
    def __init__(self, owner: FakeNetworks, name: str, subnet: str, tags: dict[str, str]) -> None:
        self.owner, self.name = owner, name
        self.attrs: dict[str, Any] = {"Labels": tags, "IPAM": {"Config": [{"Subnet": subnet}]}}

    def reload(self) -> None:
        pass

    def remove(self) -> None:
        self.owner.items.remove(self)


class FakeNetworks:
    def __init__(self) -> None:
        self.items: list[FakeNetwork] = []

    def list(self, filters: dict[str, Any]) -> list[FakeNetwork]:
        wanted = filters.get("label", [])
        found = []
        for network in self.items:
            tags = network.attrs["Labels"]
            if all(
                (key in tags) if "=" not in key else tags.get(key.split("=")[0]) == key.split("=")[1] for key in wanted
            ):
                found.append(network)
        return found

    def create(self, name: str, *, ipam: dict[str, Any], labels: dict[str, str], **_: Any) -> FakeNetwork:
        network = FakeNetwork(self, name, ipam["Config"][0]["Subnet"], labels)
        self.items.append(network)
        return network


class FakeDockerClient:
    def __init__(self) -> None:
        self.networks = FakeNetworks()


def placement(*engines: DockerEngineSettings, mixing: bool = False) -> Placement:
    made = Placement(DockerDriverSettings(engines=list(engines), allow_project_mixing=mixing))
    for engine in made.engines:
        engine._client = engine._quick = FakeDockerClient()  # type: ignore[assignment]
    return made


class SilentNetworks(FakeNetworks):
    """An engine that stopped answering (a stopped or frozen host): every call fails."""

    def list(self, filters: dict[str, Any]) -> list[FakeNetwork]:
        raise requests.ConnectionError("connection refused")


def silence(engine: Any) -> list[FakeNetwork]:
    """Make the engine silent; its networks, kept for when it answers again."""
    kept: list[FakeNetwork] = engine.client.networks.items
    engine.client.networks = SilentNetworks()
    engine.client.networks.items = kept
    return kept


def revive(engine: Any) -> None:
    kept = engine.client.networks.items
    engine.client.networks = FakeNetworks()
    engine.client.networks.items = kept


def spec(project: str) -> ClusterSpec:
    return ClusterSpec(str(uuid.uuid4()), "c", project, "swarm-mode", "t", {}, (), 1)


def test_clusters_spread_over_free_engines_one_project_each() -> None:
    places = placement(DockerEngineSettings(name="one"), DockerEngineSettings(name="two"))
    a, b, a2 = spec("a"), spec("b"), spec("a")
    assert places.place(a).engine.name == "one"
    assert places.place(b).engine.name == "two"
    assert places.place(a2).engine.name == "one"  # the project's own engine, never b's
    with pytest.raises(RetryableError, match="serving another project"):
        places.place(spec("c"))


def test_an_engine_reserved_for_a_project_serves_only_it() -> None:
    places = placement(DockerEngineSettings(name="shared"), DockerEngineSettings(name="vip", projects=["gold"]))
    assert places.place(spec("gold")).engine.name == "vip"
    assert places.place(spec("other")).engine.name == "shared"
    with pytest.raises(RetryableError):
        places.place(spec("third"))  # vip is never offered to others


def test_each_cluster_gets_its_own_subnet_of_the_pool_and_is_found_again() -> None:
    places = placement(DockerEngineSettings(), mixing=True)
    homes = [places.place(spec(project)) for project in ("a", "b", "c")]
    assert [str(h.subnet) for h in homes] == ["172.28.0.0/24", "172.28.1.0/24", "172.28.2.0/24"]
    assert homes[0].manager_address(0) == "172.28.0.2"
    cluster = homes[1].network.attrs["Labels"][labels.CLUSTER]
    found = places.find(cluster)
    assert found is not None
    assert str(found.subnet) == "172.28.1.0/24"


def test_a_race_between_two_projects_makes_both_back_off() -> None:
    places = placement(DockerEngineSettings())
    engine = places.engines[0]
    rival = FakeNetwork(engine.client.networks, "jb-rival", "172.28.9.0/24", {labels.CLUSTER: "r", labels.PROJECT: "b"})  # type: ignore[arg-type]
    original = places._create_network

    def create_while_rival_arrives(target: Any, wanted: ClusterSpec) -> Any:
        network = original(target, wanted)
        engine.client.networks.items.append(rival)  # type: ignore[attr-defined]
        return network

    places._create_network = create_while_rival_arrives  # type: ignore[method-assign]
    loser = spec("a")
    with pytest.raises(RetryableError, match="just taken by another project"):
        places.place(loser)
    assert places.find(loser.uuid) is None  # it removed its network again


def test_a_silent_engine_is_never_chosen_even_with_the_fewest_clusters() -> None:
    places = placement(DockerEngineSettings(name="busy"), DockerEngineSettings(name="idle"))
    places.place(spec("a"))  # busy now hosts one cluster of a
    silence(places.engines[1])
    assert places.place(spec("a")).engine.name == "busy"
    with pytest.raises(RetryableError, match=r"serving another project.*or does not answer \(idle\)"):
        places.place(spec("b"))


def test_a_cluster_on_a_silent_engine_is_reported_with_that_engine_and_not_placed_again() -> None:
    places = placement(DockerEngineSettings(name="one"), DockerEngineSettings(name="two"), mixing=True)
    lost, elsewhere = spec("a"), spec("b")
    assert places.place(lost).engine.name == "one"
    assert places.place(elsewhere).engine.name == "two"
    silence(places.engines[0])
    with pytest.raises(RetryableError, match=r"\(engine one\)"):
        places.find(lost.uuid)
    with pytest.raises(RetryableError, match=r"\(engine one\)"):
        places.place(lost)  # waits for its engine rather than starting over on another
    found = places.find(elsewhere.uuid)
    assert found is not None
    assert found.engine.name == "two"
    home, silent = places.locate(elsewhere.uuid, everywhere=True)
    assert home is not None
    assert [e.name for e, _ in silent] == ["one"]
    revive(places.engines[0])
    back = places.find(lost.uuid)
    assert back is not None
    assert back.engine.name == "one"


def test_a_new_conductor_finds_a_cluster_without_waiting_for_a_silent_engine() -> None:
    places = placement(DockerEngineSettings(name="one"), DockerEngineSettings(name="two"), mixing=True)
    cluster = spec("a")
    places.place(spec("x"))
    assert places.place(cluster).engine.name == "two"
    places.forget(cluster.uuid)  # as a conductor that never saw it
    silence(places.engines[0])
    found = places.find(cluster.uuid)
    assert found is not None
    assert found.engine.name == "two"
    with pytest.raises(RetryableError, match=r"\(engine one\)"):
        places.find(str(uuid.uuid4()))  # found nowhere that answers: it may live on the silent engine
