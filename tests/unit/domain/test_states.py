"""The transition table: what users can do from each status."""

from __future__ import annotations

import itertools

import pytest

from jeroboam.domain import states
from jeroboam.domain.states import Action, Status
from jeroboam.errors import ConflictError


@pytest.mark.parametrize("status", sorted(Status))
def test_delete_is_accepted_from_every_state(status: Status) -> None:
    assert states.start(status, Action.DELETE) == Status.DELETE_IN_PROGRESS


@pytest.mark.parametrize("failed", sorted(states.FAILED - {Status.DELETE_FAILED}))
@pytest.mark.parametrize("action", [Action.UPDATE, Action.RESIZE])
def test_every_failed_state_accepts_a_retry(failed: Status, action: Action) -> None:
    running = states.start(failed, action)
    assert running in states.IN_PROGRESS


def test_a_change_to_a_cluster_whose_creation_failed_retries_the_creation() -> None:
    assert states.start(Status.CREATE_FAILED, Action.RESIZE) == Status.CREATE_IN_PROGRESS
    assert states.start(Status.CREATE_FAILED, Action.UPDATE) == Status.CREATE_IN_PROGRESS


def test_a_failed_delete_can_be_deleted_again() -> None:
    assert states.start(Status.DELETE_FAILED, Action.DELETE) == Status.DELETE_IN_PROGRESS


@pytest.mark.parametrize("action", [Action.UPGRADE, Action.UPDATE, Action.ROTATE_CA, Action.NODEGROUP_CREATE])
def test_a_second_change_while_one_runs_is_a_conflict_with_a_reason(action: Action) -> None:
    with pytest.raises(ConflictError, match="UPDATE_IN_PROGRESS; wait for the running operation"):
        states.start(Status.UPDATE_IN_PROGRESS, action)


def test_resize_during_delete_is_a_conflict() -> None:
    with pytest.raises(ConflictError, match="while it is DELETE_IN_PROGRESS"):
        states.start(Status.DELETE_IN_PROGRESS, Action.RESIZE)


def test_autoscalers_may_resize_while_an_update_runs() -> None:
    assert states.start(Status.UPDATE_IN_PROGRESS, Action.RESIZE) == Status.UPDATE_IN_PROGRESS


def test_only_a_new_cluster_can_be_created() -> None:
    assert states.start(None, Action.CREATE) == Status.CREATE_IN_PROGRESS
    with pytest.raises(ConflictError):
        states.start(Status.CREATE_COMPLETE, Action.CREATE)


def test_every_action_ends_in_complete_or_failed_of_its_kind() -> None:
    for status, action in itertools.product([None, *Status], Action):
        if not states.allowed(status, action):
            continue
        running = states.start(status, action)
        assert running in states.IN_PROGRESS
        done, failed = states.finish(running, succeeded=True), states.finish(running, succeeded=False)
        assert done in states.COMPLETE or done == Status.DELETE_COMPLETE
        assert failed in states.FAILED
        assert done.value.split("_")[0] == failed.value.split("_")[0] == running.value.split("_")[0]


def test_no_sequence_of_actions_reaches_a_dead_end() -> None:
    """From every reachable state, some action is accepted (at least delete)."""
    reachable = {states.start(None, Action.CREATE)}
    frontier = list(reachable)
    while frontier:
        status = frontier.pop()
        for outcome in (True, False):
            after = states.finish(status, succeeded=outcome) if status in states.IN_PROGRESS else status
            for action in Action:
                if states.allowed(after, action):
                    nxt = states.start(after, action)
                    if nxt not in reachable:
                        reachable.add(nxt)
                        frontier.append(nxt)
    for status in reachable:
        assert states.allowed(status, Action.DELETE)
