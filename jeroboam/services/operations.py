"""Accepting an action on a cluster: the API side of the transition table.

``accept`` runs inside the caller's transaction, so the status change, the new
``generation`` and the operation row commit together with the request's other
writes — before the 202 is sent. Conductors are woken after the commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from jeroboam.config import Settings
from jeroboam.context import RequestContext
from jeroboam.db.models import Cluster, Operation
from jeroboam.db.repositories import operations as repo
from jeroboam.domain import states
from jeroboam.domain.identifiers import new_uuid
from jeroboam.domain.operations import OperationRequest
from jeroboam.domain.states import Action, OperationState, Status


def timeout_minutes(settings: Settings, action: Action, cluster: Cluster) -> int:
    if action == Action.CREATE:
        return cluster.create_timeout or settings.cluster.create_timeout
    if action == Action.DELETE:
        return settings.cluster.delete_timeout
    return settings.cluster.update_timeout


def accept(
    session: Session,
    settings: Settings,
    context: RequestContext,
    cluster: Cluster,
    action: Action,
    request: OperationRequest | Mapping[str, Any],
    *,
    nodegroup_id: str | None = None,
    new: bool = False,
) -> Operation:
    """Move ``cluster`` into the status ``action`` runs in and record the operation.

    Raises ConflictError (409) when the transition table refuses the action.
    ``new`` is for a cluster row created in this same transaction.
    """
    current = None if new else Status(cluster.status) if cluster.status else None
    running = states.start(current, action)
    now = datetime.now(UTC)
    if action == Action.DELETE:
        repo.supersede_open(session, cluster.uuid, now, "superseded by a delete request")
    cluster.generation = 1 if new else cluster.generation + 1
    cluster.status = running
    cluster.status_reason = f"{action.value.replace('_', ' ').capitalize()} accepted; waiting for a conductor."
    cluster.next_check_at = now
    operation = Operation(
        uuid=new_uuid(),
        cluster_id=cluster.uuid,
        nodegroup_id=nodegroup_id,
        action=action.value,
        state=OperationState.PENDING,
        request=dict(request) if isinstance(request, Mapping) else request.to_json(),
        project_id=cluster.project_id,
        user_id=context.user_id,
        request_id=context.request_id,
        generation=cluster.generation,
        deadline=now
        + timedelta(seconds=timeout_minutes(settings, action, cluster) * settings.cluster.seconds_per_minute),
        attempts=0,
        created_at=now,
    )
    return repo.add(session, operation)


def force_running_delete(session: Session, cluster: Cluster) -> None:
    """Turn the delete in progress into a forced one (``DELETE ...?force=true``), due at once."""
    for operation in repo.open_for_cluster(session, cluster.uuid):
        if operation.action == Action.DELETE:
            operation.request = {**(operation.request or {}), "force": True}
    cluster.next_check_at = datetime.now(UTC)
