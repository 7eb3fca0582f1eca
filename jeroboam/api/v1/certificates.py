"""/v1/certificates (reference §3.4): a cluster's CA, CSR signing, CA rotation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from jeroboam.api.deps import base_url, check_query, context_of, read_json
from jeroboam.api.schemas import certificates as schema
from jeroboam.api.schemas.fields import body_schema, validate_body
from jeroboam.services.certificates import CertificateService

router = APIRouter(tags=["certificates"])

UUID_RESPONSE: dict[int | str, dict[str, Any]] = {
    "202": {
        "description": "Accepted: the rotation is recorded and runs in a conductor.",
        "content": {"application/json": {"schema": {"type": "object", "properties": {"uuid": {"type": "string"}}}}},
    }
}
SIGN_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": body_schema(schema.SIGN_FIELDS)}}}
}


def service(request: Request) -> CertificateService:
    result: CertificateService = request.app.state.services.certificates
    return result


@router.get("/v1/certificates/{ident}", summary="Show the CA certificate of a cluster")
def show(request: Request, ident: str) -> dict[str, Any]:
    """``ca_cert_type`` = etcd or front_proxy (front-proxy) names a kubernetes cluster's other CAs;
    any other value, or none, the cluster CA. Only the cluster's creator or an admin of its project."""
    check_query(request, ("ca_cert_type",))
    found = service(request).get_ca(context_of(request), ident, request.query_params.get("ca_cert_type"))
    return schema.render_ca(found.cluster_uuid, found.pem, base_url(request))


@router.post("/v1/certificates", status_code=201, openapi_extra=SIGN_BODY, summary="Sign a CSR with a cluster's CA")
async def sign(request: Request) -> Response:
    """The certificate (PEM, no trailing newline), valid for ``[x509] term_of_validity`` days at most."""
    check_query(request)
    values = validate_body(await read_json(request) or {}, schema.SIGN_FIELDS, "certificate")
    ca_cert_type = values.get("ca_cert_type")
    signed = await run_in_threadpool(
        service(request).sign, context_of(request), values["cluster_uuid"], values["csr"], ca_cert_type
    )
    body = schema.render_signed(signed.cluster_uuid, values["csr"], signed.pem, base_url(request), ca_cert_type)
    return JSONResponse(body, status_code=201)


@router.patch(
    "/v1/certificates/{ident}", status_code=202, responses=UUID_RESPONSE, summary="Rotate the CA of a cluster"
)
def rotate_ca(request: Request, ident: str) -> Response:
    """No body (magnumclient sends an empty one as application/octet-stream); any body is ignored."""
    check_query(request)
    cluster = service(request).rotate_ca(context_of(request), ident)
    return JSONResponse({"uuid": cluster.uuid}, status_code=202)
