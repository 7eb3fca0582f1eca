"""/v1/stats (reference §3.7)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from jeroboam.api.deps import check_query, context_of
from jeroboam.services.stats import StatsService

router = APIRouter(tags=["stats"])


@router.get("/v1/stats", summary="Count clusters and nodes")
def show(request: Request) -> dict[str, Any]:
    """A project's clusters and the nodes of all their nodegroups (masters included)."""
    check_query(request, ("project_id", "type"))
    params = request.query_params
    service: StatsService = request.app.state.services.stats
    stats = service.get(context_of(request), params.get("project_id") or None, params.get("type", "cluster"))
    return {"clusters": stats.clusters, "nodes": stats.nodes}
