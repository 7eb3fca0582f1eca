"""Jeroboam's own read-only extensions under ``/v1/jeroboam/`` (no Magnum client calls these paths;
documented in docs/dashboard.md): a cluster's operations, and what a template may name."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from jeroboam.api.deps import JSON_OBJECT, check_query, context_of, isoformat, json_response, read_call
from jeroboam.services.catalog import CatalogService, DriverCatalog
from jeroboam.services.history import OperationHistoryService, OperationView

router = APIRouter(tags=["jeroboam extensions"])


def render_operation(op: OperationView) -> dict[str, Any]:
    return {
        "uuid": op.uuid,
        "kind": op.action,
        "state": op.state,
        "outcome": {"succeeded": "succeeded", "failed": "failed", "superseded": "superseded"}.get(op.state),
        "project_id": op.project_id,
        "user_id": op.user_id,
        "request_id": op.request_id,
        "request": op.request,
        "nodegroup_id": op.nodegroup_id,
        "phase": op.phase,
        "phases": list(op.phases),
        "phase_times": op.phase_times,
        "attempts": op.attempts,
        "reason": op.reason,
        "created_at": isoformat(op.created_at),
        "started_at": isoformat(op.started_at),
        "finished_at": isoformat(op.finished_at),
        "deadline": isoformat(op.deadline),
    }


def render_catalog(driver: DriverCatalog) -> dict[str, Any]:
    return {
        "name": driver.name,
        "provides": [{"server_type": server_type, "coe": coe} for server_type, coe in driver.provides],
        "images": [{"name": name, "os_distro": distro} for name, distro in driver.images.items()],
        "flavors": [{"name": f.name, "vcpus": f.vcpus, "ram": f.ram_mib} for f in driver.flavors],
        "external_networks": driver.external_networks,
        "volume_drivers": driver.volume_drivers,
    }


@router.get(
    "/v1/jeroboam/clusters/{ident}/operations",
    summary="A cluster's operations, newest first (Jeroboam extension)",
    response_model=JSON_OBJECT,
)
async def list_operations(request: Request, ident: str) -> Response:
    """Each accepted action on the cluster: kind, requester, times, deadline, the phase running (or
    where it failed), when each phase was first entered, and the outcome. Visible as the cluster
    is (``cluster:get``): another project's cluster is a 404."""
    check_query(request)
    history: OperationHistoryService = request.app.state.services.history
    cluster_uuid, operations = await read_call(request, history.list, context_of(request), ident)
    return json_response({"cluster_uuid": cluster_uuid, "operations": [render_operation(op) for op in operations]})


@router.get("/v1/jeroboam/catalog", summary="What templates may name, per driver (Jeroboam extension)")
def catalog(request: Request) -> dict[str, Any]:
    """Images (with their os_distro), flavors, external networks and volume drivers of each
    installed driver: the values a cluster template's checks accept."""
    check_query(request)
    service: CatalogService = request.app.state.services.catalog
    return {"drivers": [render_catalog(d) for d in service.list(context_of(request))]}
