"""What an observation means for health_status and its reason: the cluster registry's entry."""

from __future__ import annotations

from jeroboam.domain.health import health_of
from jeroboam.domain.specs import ClusterObservation, NodeGroupObservation, NodeObservation, RegistryObservation
from jeroboam.domain.states import Health

NODES = (NodeGroupObservation("default-worker", (NodeObservation("w0", "10.0.0.3", True),)),)


def observed(registry: RegistryObservation | None) -> ClusterObservation:
    return ClusterObservation("tcp://127.0.0.1:1", True, NODES, registry=registry)


def test_a_cluster_without_a_registry_has_no_registry_entry() -> None:
    assert health_of(observed(None)) == (Health.HEALTHY, {"api": "ok", "w0.Ready": "True"})


def test_a_registry_that_answers_is_ok_with_its_note() -> None:
    assert health_of(observed(RegistryObservation("a:5000", "b:1", True)))[1]["registry"] == "ok"
    noted = health_of(observed(RegistryObservation("a:5000", "b:1", True, "simulated")))
    assert noted == (
        Health.HEALTHY,
        {
            "api": "ok",
            "w0.Ready": "True",
            "registry.address": "a:5000",
            "registry.push_address": "b:1",
            "registry": "ok (simulated)",
        },
    )


def test_a_registry_that_does_not_answer_makes_the_cluster_unhealthy_saying_why() -> None:
    status, reason = health_of(
        observed(RegistryObservation("a:5000", "b:1", False, "the registry container is exited"))
    )
    assert status == Health.UNHEALTHY
    assert reason["registry"] == "the registry container is exited"
