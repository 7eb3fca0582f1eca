"""What an observation means for ``health_status`` and its reason: the endpoint users are given,
each manager's state, a moved ``api_address`` said as such, and the cluster registry's entry."""

from __future__ import annotations

from jeroboam.domain.health import health_of, moved
from jeroboam.domain.specs import (
    ClusterObservation,
    ManagerObservation,
    NodeGroupObservation,
    NodeObservation,
    RegistryObservation,
)
from jeroboam.domain.states import Health

FRONT = "tcp://127.0.0.1:23764"


def observation(*managers: ManagerObservation, api_ok: bool = True, api_reason: str = "") -> ClusterObservation:
    nodes = tuple(NodeObservation(m.name, None, m.ok, "" if m.ok else "node container is exited") for m in managers)
    return ClusterObservation(
        FRONT,
        api_ok,
        (NodeGroupObservation("default-master", nodes),),
        api_reason=api_reason,
        endpoint="the API front of 3 managers",
        managers=managers,
    )


def test_a_dead_manager_behind_a_front_that_answers_is_unhealthy_and_named() -> None:
    health, reason = health_of(
        observation(
            ManagerObservation("c-master-0", False, "its container is exited"),
            ManagerObservation("c-master-1", True),
            ManagerObservation("c-master-2", True),
        )
    )
    assert health == Health.UNHEALTHY
    assert reason["api"] == "ok"
    assert reason["api_address"] == f"{FRONT}: the API front of 3 managers"
    assert reason["managers"] == (
        "2 of 3 managers answer: c-master-0 DOWN (its container is exited), c-master-1 ok, c-master-2 ok"
    )
    assert reason["c-master-0.Ready"] == "False"


def test_an_endpoint_that_does_not_answer_is_unhealthy_whatever_the_managers_say() -> None:
    health, reason = health_of(
        observation(ManagerObservation("c-master-0", True), api_ok=False, api_reason=f"{FRONT} does not answer")
    )
    assert health == Health.UNHEALTHY
    assert reason["api"] == f"{FRONT} does not answer"
    assert reason["managers"] == "1 of 1 manager answer: c-master-0 ok"


def test_every_manager_answering_behind_an_answering_endpoint_is_healthy() -> None:
    health, reason = health_of(observation(ManagerObservation("c-master-0", True)))
    assert health == Health.HEALTHY
    assert "c-master-0.Reason" not in reason


def test_a_ready_node_with_a_note_keeps_it_in_the_reason() -> None:
    note = "raft member reachable; swarm node is down heartbeat failure: no task is placed on it"
    seen = ClusterObservation(
        FRONT, True, (NodeGroupObservation("m", (NodeObservation("c-master-0", None, True, note),)),)
    )
    health, reason = health_of(seen)
    assert health == Health.HEALTHY
    assert reason["c-master-0.Reason"] == note


def test_a_moved_address_is_said_with_where_it_was() -> None:
    reason = {"api": "ok", "api_address": "tcp://127.0.0.1:23761: manager c-master-1, the first that answers"}
    assert moved(reason, "tcp://127.0.0.1:23760", "tcp://127.0.0.1:23761")["api_address"] == (
        "tcp://127.0.0.1:23761: manager c-master-1, the first that answers "
        "(moved from tcp://127.0.0.1:23760, which no longer answers)"
    )
    assert moved(reason, "tcp://127.0.0.1:23761", "tcp://127.0.0.1:23761") == reason
    assert moved(reason, None, "tcp://127.0.0.1:23761") == reason


# -- the cluster registry --------------------------------------------------------------------------
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
