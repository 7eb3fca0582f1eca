"""/v1/credentials (reference §3.5, microversion 1.12): rotate the credentials of a cluster."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from jeroboam.api.deps import check_query, context_of, require_version
from jeroboam.domain.versions import CREDENTIALS
from jeroboam.services.certificates import CertificateService

router = APIRouter(tags=["credentials"])

UUID_RESPONSE: dict[int | str, dict[str, Any]] = {
    "202": {
        "description": "Accepted: the rotation is recorded and runs in a conductor.",
        "content": {"application/json": {"schema": {"type": "object", "properties": {"uuid": {"type": "string"}}}}},
    }
}


def service(request: Request) -> CertificateService:
    result: CertificateService = request.app.state.services.certificates
    return result


@router.patch(
    "/v1/credentials/{ident}", status_code=202, responses=UUID_RESPONSE,
    summary="Rotate the credentials Jeroboam holds for a cluster (1.12)",
)  # fmt: skip
def rotate(request: Request, ident: str) -> Response:
    """Re-issues the client certificate the conductor uses to reach the cluster's endpoint. No body."""
    require_version(request, CREDENTIALS, "credentials")
    check_query(request)
    cluster = service(request).rotate_credentials(context_of(request), ident)
    return JSONResponse({"uuid": cluster.uuid}, status_code=202)
