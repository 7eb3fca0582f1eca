"""Quota on the wire (reference §3.6): request fields and the representations."""

from __future__ import annotations

from typing import Any

from jeroboam.api.deps import isoformat
from jeroboam.api.schemas.fields import Field
from jeroboam.services.quotas import RESOURCES, DefaultQuota
from jeroboam.services.records import QuotaFields

FIELDS: dict[str, Field] = {
    "id": Field("integer", minimum=1, description="Ignored: assigned by the server."),
    "project_id": Field(
        "string",
        min_length=1,
        max_length=255,
        description="Project the quota applies to (required on create; the path's wins on update).",
    ),
    "resource": Field("string", enum=RESOURCES, description="Only 'Cluster'. Default: Cluster."),
    "hard_limit": Field("integer", minimum=0, description="Most resources the project may own. Default: 1."),
    "created_at": Field("string", readonly=True),
    "updated_at": Field("string", readonly=True),
}


def render(quota: QuotaFields | DefaultQuota) -> dict[str, Any]:
    """A stored quota in full; a project's default limit as just project, limit and resource."""
    if isinstance(quota, DefaultQuota):
        return {"project_id": quota.project_id, "hard_limit": quota.hard_limit, "resource": quota.resource}
    return {
        "id": quota.id,
        "hard_limit": quota.hard_limit,
        "project_id": quota.project_id,
        "resource": quota.resource,
        "created_at": isoformat(quota.created_at),
        "updated_at": isoformat(quota.updated_at),
    }
