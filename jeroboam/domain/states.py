"""Cluster and nodegroup status, and THE table of allowed transitions.

The vocabulary is Magnum's, because users and clients read it. Every accepted
action moves a cluster into an ``*_IN_PROGRESS`` status; the conductor then
finishes it with the matching ``*_COMPLETE`` or ``*_FAILED``. Nothing else
changes a status.
"""

from __future__ import annotations

from enum import StrEnum

from jeroboam.errors import ConflictError


class Status(StrEnum):
    CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
    CREATE_FAILED = "CREATE_FAILED"
    CREATE_COMPLETE = "CREATE_COMPLETE"
    UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
    UPDATE_FAILED = "UPDATE_FAILED"
    UPDATE_COMPLETE = "UPDATE_COMPLETE"
    DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
    DELETE_FAILED = "DELETE_FAILED"
    DELETE_COMPLETE = "DELETE_COMPLETE"
    RESUME_COMPLETE = "RESUME_COMPLETE"
    RESUME_FAILED = "RESUME_FAILED"
    RESTORE_COMPLETE = "RESTORE_COMPLETE"
    ROLLBACK_IN_PROGRESS = "ROLLBACK_IN_PROGRESS"
    ROLLBACK_FAILED = "ROLLBACK_FAILED"
    ROLLBACK_COMPLETE = "ROLLBACK_COMPLETE"
    SNAPSHOT_COMPLETE = "SNAPSHOT_COMPLETE"
    CHECK_COMPLETE = "CHECK_COMPLETE"
    ADOPT_COMPLETE = "ADOPT_COMPLETE"


class Health(StrEnum):
    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"
    UNKNOWN = "UNKNOWN"


class OperationState(StrEnum):
    """An operation row's life: accepted, taken by a conductor, then one of three ends."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SUPERSEDED = "superseded"  # by a delete accepted before it finished


OPEN_OPERATIONS = (OperationState.PENDING, OperationState.RUNNING)


class Action(StrEnum):
    """What a user asked for; each accepted one is an operation row."""

    CREATE = "create"
    UPDATE = "update"
    RESIZE = "resize"
    UPGRADE = "upgrade"
    DELETE = "delete"
    ROTATE_CA = "rotate_ca"
    ROTATE_CREDENTIALS = "rotate_credentials"
    NODEGROUP_CREATE = "nodegroup_create"
    NODEGROUP_UPDATE = "nodegroup_update"
    NODEGROUP_DELETE = "nodegroup_delete"


S = Status
COMPLETE = frozenset(
    {
        S.CREATE_COMPLETE, S.UPDATE_COMPLETE, S.RESUME_COMPLETE, S.RESTORE_COMPLETE,
        S.ROLLBACK_COMPLETE, S.SNAPSHOT_COMPLETE, S.CHECK_COMPLETE, S.ADOPT_COMPLETE,
    }
)  # fmt: skip
FAILED = frozenset({S.CREATE_FAILED, S.UPDATE_FAILED, S.DELETE_FAILED, S.ROLLBACK_FAILED, S.RESUME_FAILED})
IN_PROGRESS = frozenset({S.CREATE_IN_PROGRESS, S.UPDATE_IN_PROGRESS, S.DELETE_IN_PROGRESS, S.ROLLBACK_IN_PROGRESS})

# Where a running operation ends: in-progress status -> (on success, on failure).
FINISH: dict[Status, tuple[Status, Status]] = {
    S.CREATE_IN_PROGRESS: (S.CREATE_COMPLETE, S.CREATE_FAILED),
    S.UPDATE_IN_PROGRESS: (S.UPDATE_COMPLETE, S.UPDATE_FAILED),
    S.DELETE_IN_PROGRESS: (S.DELETE_COMPLETE, S.DELETE_FAILED),
    S.ROLLBACK_IN_PROGRESS: (S.ROLLBACK_COMPLETE, S.ROLLBACK_FAILED),
}

# THE transition table: (current status, action) -> status while the action runs.
# A pair that is absent is refused with 409. Rules it encodes:
# * every *_FAILED state accepts a retry, a new request, or a delete;
# * a change to a cluster whose creation failed retries the creation;
# * delete is accepted from any state and supersedes what was running;
# * while a change runs, only a resize (autoscalers retry) or a delete is accepted.
_CHANGES = (Action.UPDATE, Action.RESIZE, Action.UPGRADE, Action.ROTATE_CA, Action.ROTATE_CREDENTIALS,
            Action.NODEGROUP_CREATE, Action.NODEGROUP_UPDATE, Action.NODEGROUP_DELETE)  # fmt: skip
TRANSITIONS: dict[tuple[Status | None, Action], Status] = {
    (None, Action.CREATE): S.CREATE_IN_PROGRESS,
    **{(state, action): S.UPDATE_IN_PROGRESS for state in COMPLETE for action in _CHANGES},
    **{(state, action): S.UPDATE_IN_PROGRESS for state in (S.UPDATE_FAILED, S.ROLLBACK_FAILED, S.RESUME_FAILED)
       for action in _CHANGES},
    **{(S.CREATE_FAILED, action): S.CREATE_IN_PROGRESS for action in (Action.UPDATE, Action.RESIZE)},
    (S.CREATE_FAILED, Action.CREATE): S.CREATE_IN_PROGRESS,
    (S.UPDATE_IN_PROGRESS, Action.RESIZE): S.UPDATE_IN_PROGRESS,
    (S.CREATE_IN_PROGRESS, Action.RESIZE): S.CREATE_IN_PROGRESS,
    **{(state, Action.DELETE): S.DELETE_IN_PROGRESS for state in Status},
}  # fmt: skip


def start(current: Status | None, action: Action) -> Status:
    """The status while ``action`` runs on a cluster in ``current``, or ConflictError."""
    try:
        return TRANSITIONS[(current, action)]
    except KeyError:
        raise ConflictError(_refusal(current, action)) from None


def allowed(current: Status | None, action: Action) -> bool:
    return (current, action) in TRANSITIONS


def finish(in_progress: Status, *, succeeded: bool) -> Status:
    complete, failed = FINISH[in_progress]
    return complete if succeeded else failed


def _refusal(current: Status | None, action: Action) -> str:
    verb = action.value.replace("_", " ")
    if current in IN_PROGRESS:
        return (
            f"Cannot {verb} the cluster while it is {current}; wait for the running operation to end "
            "or delete the cluster."
        )
    return f"Cannot {verb} a cluster whose status is {current}."
