"""The conductor's pki phase decides what to (re)issue from what is stored and which operations are
open; applying its plan once makes the next plan empty (the phase is idempotent)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from jeroboam.conductor.pki import ClusterPki, endpoint_names
from jeroboam.config import load_settings
from jeroboam.pki import x509
from jeroboam.pki.secrets import Keyring
from jeroboam.services.certificate_store import CLIENT, ETCD_CA, MAIN_CA, SERVER, Stored

NAMES = endpoint_names("tcp://sim-1234abcd.invalid:2376")
ROTATE_CA = ("op-rotate-ca", "rotate_ca")
ROTATE_CREDENTIALS = ("op-rotate-credentials", "rotate_credentials")


@pytest.fixture
def pki(tmp_path: Path) -> ClusterPki:
    settings = load_settings(data_dir=tmp_path, x509={"key_algorithm": "ec"})
    keyring = Keyring([Fernet.generate_key()], source="test")
    return ClusterPki(None, settings, keyring)  # type: ignore[arg-type]  # plan/issue use no database


def apply(
    pki: ClusterPki, stored: dict[str, Stored], operations: Sequence[tuple[str, str]] = (), *, tls: bool = True
) -> set[str]:
    """Plan, issue and 'store' like the phase does; the kinds it issued."""
    plan = pki.plan(stored, operations, tls=tls, names=NAMES)
    issued = pki.issue(plan, stored, "demo", NAMES) if plan else {}
    for kind, (certificate, operation_id) in issued.items():
        token, key_id = pki.keyring.encrypt(certificate.private_key_pem)
        stored[kind] = Stored(
            kind,
            certificate.certificate_pem,
            token,
            key_id,
            certificate.fingerprint,
            certificate.not_after,
            operation_id,
        )
    return set(issued)


def test_a_new_cluster_gets_its_ca_server_and_client_certificates_once(pki: ClusterPki) -> None:
    stored: dict[str, Stored] = {}
    assert apply(pki, stored) == {MAIN_CA, SERVER, CLIENT}
    assert apply(pki, stored) == set()
    material = pki.material(stored)
    assert x509.issued_by(material.server_cert_pem, material.ca_cert_pem)
    assert x509.issued_by(material.client_cert_pem, material.ca_cert_pem)
    assert "PRIVATE KEY" in material.server_key_pem
    assert "PRIVATE KEY" in material.client_key_pem
    assert set(NAMES) <= x509.subject_alt_names(material.server_cert_pem)


def test_without_tls_only_the_ca_is_made(pki: ClusterPki) -> None:
    stored: dict[str, Stored] = {}
    assert apply(pki, stored, tls=False) == {MAIN_CA}
    assert apply(pki, stored, tls=False) == set()


def test_a_ca_rotation_replaces_every_ca_and_both_certificates_exactly_once(pki: ClusterPki) -> None:
    stored: dict[str, Stored] = {}
    apply(pki, stored)
    etcd = x509.create_authority("demo etcd", pki.x509)
    stored[ETCD_CA] = Stored(ETCD_CA, etcd.certificate_pem, "t", "k", etcd.fingerprint, etcd.not_after, None)
    before = {kind: row.fingerprint for kind, row in stored.items()}
    assert apply(pki, stored, [ROTATE_CA]) == {MAIN_CA, ETCD_CA, SERVER, CLIENT}
    assert all(stored[kind].fingerprint != before[kind] for kind in before)
    assert {stored[kind].operation_id for kind in (MAIN_CA, SERVER, CLIENT)} == {"op-rotate-ca"}
    # The phase runs again (a retry, another conductor after a crash): nothing is rotated twice.
    assert apply(pki, stored, [ROTATE_CA]) == set()
    assert not x509.issued_by(stored[SERVER].certificate_pem, etcd.certificate_pem)


def test_a_credential_rotation_reissues_only_the_client_certificate(pki: ClusterPki) -> None:
    stored: dict[str, Stored] = {}
    apply(pki, stored)
    ca, server, client = (stored[kind].fingerprint for kind in (MAIN_CA, SERVER, CLIENT))
    assert apply(pki, stored, [ROTATE_CREDENTIALS]) == {CLIENT}
    assert (stored[MAIN_CA].fingerprint, stored[SERVER].fingerprint) == (ca, server)
    assert stored[CLIENT].fingerprint != client
    assert stored[CLIENT].operation_id == "op-rotate-credentials"
    assert apply(pki, stored, [ROTATE_CREDENTIALS]) == set()


def test_a_new_endpoint_name_reissues_the_server_certificate(pki: ClusterPki) -> None:
    stored: dict[str, Stored] = {}
    apply(pki, stored)
    plan = pki.plan(stored, (), tls=True, names=[*NAMES, "10.1.2.3"])
    assert (plan.server, plan.client, plan.authorities) == (True, False, {})


def test_certificates_near_their_end_are_renewed(pki: ClusterPki) -> None:
    stored: dict[str, Stored] = {}
    apply(pki, stored)
    row = stored[CLIENT]
    stored[CLIENT] = Stored(
        CLIENT, row.certificate_pem, row.encrypted_private_key, row.key_id, row.fingerprint,
        datetime.now(UTC) + timedelta(days=3), None,
    )  # fmt: skip
    assert apply(pki, stored) == {CLIENT}


def test_endpoint_names_are_loopback_the_api_host_and_the_drivers() -> None:
    assert endpoint_names(None) == ["localhost", "127.0.0.1"]
    assert endpoint_names("https://10.0.0.5:6443", ["m0.cluster"]) == [
        "localhost",
        "m0.cluster",
        "127.0.0.1",
        "10.0.0.5",
    ]
