"""/v1/mservices (reference §3.8): the conductors and whether they are alive."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from jeroboam.api.deps import check_query, context_of, isoformat
from jeroboam.services.mservices import MService, MServiceService

router = APIRouter(tags=["mservices"])


def render(service: MService) -> dict[str, Any]:
    row = service.row
    return {
        "id": row.id,
        "host": row.host,
        "binary": row.binary,
        "state": service.state,
        "report_count": row.report_count,
        "disabled": row.disabled,
        "disabled_reason": row.disabled_reason,
        "created_at": isoformat(row.created_at),
        "updated_at": isoformat(row.updated_at),
    }


@router.get("/v1/mservices", summary="List conductor services (admin)")
def list_mservices(request: Request) -> dict[str, Any]:
    """Every conductor; takes no query arguments and never pages."""
    check_query(request)
    mservices: MServiceService = request.app.state.services.mservices
    return {"mservices": [render(s) for s in mservices.list(context_of(request))]}
