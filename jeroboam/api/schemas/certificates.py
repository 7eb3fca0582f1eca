"""Certificates on the wire (reference §3.4): the sign request and the two representations."""

from __future__ import annotations

from typing import Any

from jeroboam.api.deps import links
from jeroboam.api.schemas.fields import Field

# A CSR is a few kilobytes; anything far larger is not one.
MAX_CSR_LENGTH = 65536

SIGN_FIELDS: dict[str, Field] = {
    "cluster_uuid": Field("string", mandatory=True, min_length=1, max_length=255, description="Cluster uuid or name."),
    "csr": Field(
        "string",
        mandatory=True,
        min_length=1,
        max_length=MAX_CSR_LENGTH,
        description="PEM certificate signing request.",
    ),
    "ca_cert_type": Field(
        "string", max_length=255, description="etcd, front_proxy (front-proxy) or the cluster CA (default)."
    ),
    "pem": Field("any", description="Accepted and ignored (the answer carries the certificate)."),
    "links": Field("any", description="Accepted and ignored."),
}
IGNORED = ("pem", "links")


def render_ca(cluster_uuid: str, pem: str, base: str) -> dict[str, Any]:
    return {"cluster_uuid": cluster_uuid, "pem": pem, "links": links(base, "certificates", cluster_uuid)}


def render_signed(cluster_uuid: str, csr: str, pem: str, base: str, ca_cert_type: str | None) -> dict[str, Any]:
    body = {**render_ca(cluster_uuid, pem, base), "csr": csr}
    if ca_cert_type is not None:
        body["ca_cert_type"] = ca_cert_type
    return body
