"""After an accepted action is committed: wake a conductor and emit the notification."""

from __future__ import annotations

import logging
from typing import Any

from jeroboam.db.models import Cluster, NodeGroup, Operation
from jeroboam.domain.states import Action
from jeroboam.rpc.notifications import Notifier
from jeroboam.rpc.wakeup import Waker

log = logging.getLogger(__name__)

# Notification event of each action: nodegroup changes, resizes and upgrades update the cluster.
EVENTS = {Action.CREATE: "create", Action.DELETE: "delete"}


class Announcer:
    """Wakes a conductor and emits the notification of an accepted action, after the commit.

    Both are hints: the operation row is already durable, so a failure here is logged and the
    request still succeeds (a conductor finds the work on its next poll).
    """

    def __init__(self, waker: Waker, notifier: Notifier) -> None:
        self.waker = waker
        self.notifier = notifier

    def accepted(
        self, cluster: Cluster, action: Action, operation: Operation | None, nodegroup: NodeGroup | None = None
    ) -> None:
        try:
            self.waker.wake(cluster.uuid)
        except Exception:
            log.exception("could not wake a conductor for cluster %s", cluster.uuid)
        if operation is None:
            return
        payload: dict[str, Any] = {
            "uuid": cluster.uuid,
            "name": cluster.name,
            "project_id": cluster.project_id,
            "user_id": operation.user_id,
            "status": cluster.status,
            "action": action.value,
            "operation_id": operation.uuid,
        }
        if nodegroup is not None:
            payload["nodegroup"] = {"uuid": nodegroup.uuid, "name": nodegroup.name, "status": nodegroup.status}
        event = f"magnum.cluster.{EVENTS.get(action, 'update')}.start"
        try:
            self.notifier.emit(event, payload)
        except Exception:
            log.exception("could not emit %s for cluster %s", event, cluster.uuid)
