"""A cluster's operations (who asked for what, when, its phases and outcome): Jeroboam's own
extension, read by the dashboard's progress bar and history (docs/dashboard.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from jeroboam.context import RequestContext
from jeroboam.db.repositories import operations as repo
from jeroboam.db.session import Database
from jeroboam.services.clusters import ClusterService

# The order a reconcile pass runs its phases in (conductor/reconciler.py); a delete has one phase.
PHASES: tuple[str, ...] = ("infrastructure", "pki", "control_plane", "workers", "endpoint", "status")
DELETE_PHASES: tuple[str, ...] = ("delete",)


@dataclass(frozen=True)
class OperationView:
    uuid: str
    action: str
    state: str
    project_id: str
    user_id: str | None
    request_id: str | None
    request: Mapping[str, object]
    nodegroup_id: str | None
    phase: str | None
    phases: tuple[str, ...]
    phase_times: Mapping[str, str]
    attempts: int
    reason: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    deadline: datetime


class OperationHistoryService:
    def __init__(self, db: Database, clusters: ClusterService) -> None:
        self.db = db
        self.clusters = clusters

    def list(self, context: RequestContext, ident: str) -> tuple[str, list[OperationView]]:
        """The cluster's uuid and its operations, newest first. The cluster is looked up (and
        authorized, ``cluster:get``) as a show would: another project's cluster is a 404."""
        cluster_uuid = self.clusters.get(context, ident).cluster.uuid
        with self.db.read() as session:
            rows = repo.history_of_cluster(session, cluster_uuid)
            views = [
                OperationView(
                    uuid=row.uuid,
                    action=row.action,
                    state=row.state,
                    project_id=row.project_id,
                    user_id=row.user_id,
                    request_id=row.request_id,
                    request=dict(row.request or {}),
                    nodegroup_id=row.nodegroup_id,
                    phase=row.phase,
                    phases=DELETE_PHASES if row.action == "delete" else PHASES,
                    phase_times=dict(row.phase_times or {}),
                    attempts=row.attempts,
                    reason=row.reason,
                    created_at=row.created_at,
                    started_at=row.started_at,
                    finished_at=row.finished_at,
                    deadline=row.deadline,
                )
                for row in rows
            ]
        return cluster_uuid, views
