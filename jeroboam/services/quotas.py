"""Quota use cases (reference §3.6), and the cluster limit the cluster service enforces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from jeroboam.config import Settings
from jeroboam.context import RequestContext
from jeroboam.db.models import Quota
from jeroboam.db.repositories import quotas as repo
from jeroboam.db.session import Database
from jeroboam.domain.paging import PageRequest
from jeroboam.errors import InvalidInputError, PermissionDeniedError
from jeroboam.policy import Policy

CLUSTER = "Cluster"
RESOURCES = (CLUSTER,)
DEFAULT_HARD_LIMIT = 1  # of a quota created or updated without one (Magnum's default)


@dataclass(frozen=True)
class DefaultQuota:
    """What a project without a quota row gets: the configured default, never stored."""

    project_id: str
    hard_limit: int
    resource: str = CLUSTER


class QuotaService:
    def __init__(self, db: Database, policy: Policy, settings: Settings) -> None:
        self.db = db
        self.policy = policy
        self.settings = settings

    @property
    def default_limit(self) -> int:
        return self.settings.quotas.max_clusters_per_project

    # -- reads -----------------------------------------------------------------------------
    def list(self, context: RequestContext, page: PageRequest, *, all_tenants: bool = False) -> Sequence[Quota]:
        """The caller's own project's quotas; every project's with ``all_tenants`` (admins only)."""
        self.policy.authorize("quota:get_all", context)
        all_projects = all_tenants and context.is_admin
        with self.db.transaction() as session:
            return repo.list_page(session, page, context.project_id, all_projects=all_projects)

    def get(self, context: RequestContext, project_id: str, resource: str) -> Quota | DefaultQuota:
        self.policy.authorize("quota:get", context)
        if not context.is_admin and project_id != context.project_id:
            raise PermissionDeniedError("Not authorized.")
        with self.db.transaction() as session:
            quota = repo.find(session, project_id, resource)
        return quota if quota is not None else DefaultQuota(project_id, self.default_limit)

    def effective_limit(self, session: Session | None, project_id: str, resource: str = CLUSTER) -> int:
        """The project's limit: its quota row's ``hard_limit``, else ``max_clusters_per_project``.

        Pass the session of the transaction that creates the resource, so the check and the write
        see the same rows; with None the limit is read in a transaction of its own.
        """
        if session is None:
            with self.db.transaction() as own:
                return self.effective_limit(own, project_id, resource)
        limit = repo.hard_limit(session, project_id, resource)
        return self.default_limit if limit is None else limit

    # -- writes ----------------------------------------------------------------------------
    def create(self, context: RequestContext, values: dict[str, Any]) -> Quota:
        """``values`` are the validated body. The project is not checked against Keystone."""
        self.policy.authorize("quota:create", context)
        project_id = values.get("project_id")
        if not project_id:
            raise InvalidInputError("Must provide a valid project ID.")
        resource = values.get("resource") or CLUSTER
        hard_limit = values.get("hard_limit", DEFAULT_HARD_LIMIT)
        with self.db.transaction() as session:
            return repo.add(session, project_id, resource, hard_limit)

    def update(self, context: RequestContext, project_id: str, resource: str, values: dict[str, Any]) -> Quota:
        """The path's project and resource win over the body's; no ``hard_limit`` means 1."""
        self.policy.authorize("quota:update", context)
        with self.db.transaction() as session:
            quota = repo.get_for_update(session, project_id, resource)
            return repo.set_hard_limit(session, quota, values.get("hard_limit", DEFAULT_HARD_LIMIT))

    def delete(self, context: RequestContext, project_id: str, resource: str) -> None:
        self.policy.authorize("quota:delete", context)
        with self.db.transaction() as session:
            repo.delete(session, repo.get(session, project_id, resource))
