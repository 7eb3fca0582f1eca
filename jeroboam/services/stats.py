"""``/v1/stats`` (reference §3.7): how many clusters and nodes a project (or the cloud) has."""

from __future__ import annotations

from dataclasses import dataclass

from jeroboam.context import RequestContext
from jeroboam.db.repositories import stats as repo
from jeroboam.db.session import Database
from jeroboam.errors import InvalidInputError, PermissionDeniedError
from jeroboam.policy import Policy

ALLOWED_TYPES = ("cluster",)


@dataclass(frozen=True)
class Stats:
    clusters: int
    nodes: int


class StatsService:
    def __init__(self, db: Database, policy: Policy) -> None:
        self.db = db
        self.policy = policy

    def get(self, context: RequestContext, project_id: str | None = None, stats_type: str = "cluster") -> Stats:
        """A non-admin sees their own project only; an admin without ``project_id`` sees every project."""
        self.policy.authorize("stats:get_all", context)
        if stats_type.lower() not in ALLOWED_TYPES:
            raise InvalidInputError(f"Invalid stats type. Allowed values are '{','.join(ALLOWED_TYPES)}'")
        if not context.is_admin:
            project_id = project_id or context.project_id
            if project_id != context.project_id:
                raise PermissionDeniedError("Not authorized.")
        all_projects = context.is_admin and not project_id
        with self.db.transaction() as session:
            clusters, nodes = repo.cluster_stats(session, project_id, all_projects=all_projects)
        return Stats(clusters=clusters, nodes=nodes)
