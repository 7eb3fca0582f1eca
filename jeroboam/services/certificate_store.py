"""The store of cluster certificates (``cluster_certificates``, private keys encrypted with
``pki.secrets``), shared by the API's certificate service and the conductor's pki phase."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from jeroboam.db.repositories import certificates as repo
from jeroboam.domain.specs import canonical_coe
from jeroboam.pki import x509
from jeroboam.pki.secrets import Keyring

MAIN_CA = "ca"
ETCD_CA = "etcd_ca"
FRONT_PROXY_CA = "front_proxy_ca"
SERVER = "server"
CLIENT = "client"
AUTHORITIES = (MAIN_CA, ETCD_CA, FRONT_PROXY_CA)
# ``ca_cert_type`` values (Magnum's); anything else, or none, is the main CA.
CA_CERT_TYPES = {"etcd": ETCD_CA, "front_proxy": FRONT_PROXY_CA, "front-proxy": FRONT_PROXY_CA}


def authority_kind(coe: str | None, ca_cert_type: str | None) -> str:
    """Which CA ``ca_cert_type`` names. Only kubernetes clusters have etcd and front-proxy CAs;
    every other cluster answers any type with its one CA."""
    if canonical_coe(coe or "") != "kubernetes":
        return MAIN_CA
    return CA_CERT_TYPES.get(ca_cert_type or "", MAIN_CA)


def authority_name(cluster_name: str, kind: str) -> str:
    suffix = {ETCD_CA: " etcd", FRONT_PROXY_CA: " front-proxy"}.get(kind, "")
    return x509.common_name(cluster_name[: 64 - len(suffix)] + suffix)


class CertificateRow(Protocol):
    """A ``cluster_certificates`` row: the ORM object or a plain row of its columns."""

    @property
    def kind(self) -> str: ...
    @property
    def certificate(self) -> str: ...
    @property
    def encrypted_private_key(self) -> str: ...
    @property
    def key_id(self) -> str: ...
    @property
    def fingerprint(self) -> str: ...
    @property
    def not_after(self) -> datetime: ...
    @property
    def operation_id(self) -> str | None: ...


@dataclass(frozen=True)
class Stored:
    """A certificate row as read (no ORM object outlives its session)."""

    kind: str
    certificate_pem: str
    encrypted_private_key: str = field(repr=False)
    key_id: str
    fingerprint: str
    not_after: datetime
    operation_id: str | None

    @classmethod
    def of(cls, row: CertificateRow) -> Stored:
        """From an ORM row or a plain row of the same columns."""
        return cls(
            row.kind,
            row.certificate,
            row.encrypted_private_key,
            row.key_id,
            row.fingerprint,
            row.not_after,
            row.operation_id,
        )


def snapshot(session: Session, cluster_id: str) -> dict[str, Stored]:
    return {kind: Stored.of(row) for kind, row in repo.for_cluster(session, cluster_id).items()}


def store(
    session: Session, keyring: Keyring, cluster_id: str, kind: str, issued: x509.Issued, operation_id: str | None
) -> Stored:
    token, key_id = keyring.encrypt(issued.private_key_pem)
    row = repo.put(
        session,
        cluster_id,
        kind,
        certificate=issued.certificate_pem,
        encrypted_private_key=token,
        key_id=key_id,
        fingerprint=issued.fingerprint,
        not_after=issued.not_after,
        operation_id=operation_id,
    )
    return Stored.of(row)
