"""Cluster PKI: CAs, endpoint and client certificates verify as a chain; CSRs are signed only
when their key and extensions are acceptable (reference §8.1)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store, VerificationError

from jeroboam.pki import x509 as pki
from jeroboam.pki.x509 import (
    Authority,
    CsrRefusedError,
    ExtensionNotAllowedError,
    InvalidCsrError,
    X509Policy,
)

POLICY = X509Policy()
EC_POLICY = X509Policy(key_algorithm="ec")
SHA256 = hashes.SHA256()
NAMES = ["localhost", "127.0.0.1", "sim-1234abcd.invalid", "::1"]


@pytest.fixture(scope="module")
def authority() -> Authority:
    ca = pki.create_authority("demo-cluster", EC_POLICY)
    return Authority(ca.certificate_pem, ca.private_key_pem)


def csr_of(
    key: object,
    *,
    subject: x509.Name | None = None,
    extensions: list[tuple[x509.ExtensionType, bool]] = (),  # type: ignore[assignment]
    algorithm: hashes.HashAlgorithm | None = SHA256,
) -> str:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        subject or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "admin")])
    )
    for value, critical in extensions:
        builder = builder.add_extension(value, critical=critical)
    csr = builder.sign(key, algorithm)  # type: ignore[arg-type]
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def verify_server(ca_pem: str, leaf_pem: str, name: str) -> None:
    """Full path validation (RFC 5280 profile of cryptography's verifier) for a TLS server."""
    store = Store([pki.load_certificate(ca_pem)])
    verifier = PolicyBuilder().store(store).build_server_verifier(x509.DNSName(name))
    verifier.verify(pki.load_certificate(leaf_pem), [])


def verify_client(ca_pem: str, leaf_pem: str) -> None:
    """Path validation for a TLS client. Client certificates name no subjectAltName (Magnum's do
    not either), which the web-PKI profile would require; everything else is checked."""
    store = Store([pki.load_certificate(ca_pem)])
    builder = PolicyBuilder().store(store)
    builder = builder.extension_policies(
        ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all()
    )
    builder.build_client_verifier().verify(pki.load_certificate(leaf_pem), [])


# -- the CA -----------------------------------------------------------------------------------------
def test_the_ca_is_a_critical_pathlen_zero_ca_named_after_the_cluster() -> None:
    issued = pki.create_authority("demo-cluster", POLICY)
    ca = pki.load_certificate(issued.certificate_pem)
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "demo-cluster"
    assert ca.issuer == ca.subject
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    assert not usage.value.digital_signature
    assert isinstance(ca.public_key(), rsa.RSAPublicKey)
    assert ca.public_key().key_size == 2048
    lifetime = ca.not_valid_after_utc - datetime.now(UTC)
    assert timedelta(days=1824) < lifetime <= timedelta(days=1825)
    assert issued.fingerprint == pki.fingerprint(issued.certificate_pem)
    assert len(issued.fingerprint) == 64
    assert "PRIVATE KEY" in issued.private_key_pem
    assert "PRIVATE KEY" not in repr(issued)


def test_ec_keys_by_setting_and_validity_from_settings() -> None:
    issued = pki.create_authority("c", X509Policy(key_algorithm="ec", validity_days=10))
    ca = pki.load_certificate(issued.certificate_pem)
    key = ca.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    assert ca.not_valid_after_utc - datetime.now(UTC) <= timedelta(days=10)


def test_a_long_cluster_name_is_cut_to_a_valid_common_name() -> None:
    issued = pki.create_authority("x" * 200, EC_POLICY)
    cn = pki.load_certificate(issued.certificate_pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0]
    assert cn.value == "x" * 64


# -- endpoint and client certificates ---------------------------------------------------------------
def test_the_server_certificate_names_the_endpoint_and_verifies_against_the_cluster_ca(authority: Authority) -> None:
    issued = pki.issue_server(authority, "demo-cluster", NAMES, EC_POLICY)
    assert pki.issued_by(issued.certificate_pem, authority.certificate_pem)
    cert = pki.load_certificate(issued.certificate_pem)
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alt.get_values_for_type(x509.DNSName) == ["localhost", "sim-1234abcd.invalid"]
    assert alt.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    assert ExtendedKeyUsageOID.SERVER_AUTH in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_after_utc <= authority.certificate.not_valid_after_utc
    verify_server(authority.certificate_pem, issued.certificate_pem, "localhost")
    verify_server(authority.certificate_pem, issued.certificate_pem, "sim-1234abcd.invalid")
    with pytest.raises(VerificationError):
        verify_server(authority.certificate_pem, issued.certificate_pem, "elsewhere.example")


def test_the_client_certificate_is_admin_of_system_masters(authority: Authority) -> None:
    issued = pki.issue_client(authority, EC_POLICY)
    cert = pki.load_certificate(issued.certificate_pem)
    assert cert.subject == pki.ADMIN_SUBJECT
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    verify_client(authority.certificate_pem, issued.certificate_pem)


def test_names_that_cannot_be_in_a_certificate_are_left_out() -> None:
    dns, ips = pki.split_names(["LocalHost", "localhost", "", "[::1]", "bad name", "ünïcode.example", "10.0.0.1"])
    assert dns == ["localhost"]
    assert [str(ip) for ip in ips] == ["::1", "10.0.0.1"]


def test_after_rotation_the_old_ca_no_longer_verifies_new_certificates(authority: Authority) -> None:
    rotated = pki.create_authority("demo-cluster", EC_POLICY)
    new = Authority(rotated.certificate_pem, rotated.private_key_pem)
    assert rotated.fingerprint != pki.fingerprint(authority.certificate_pem)
    server = pki.issue_server(new, "demo-cluster", NAMES, EC_POLICY)
    client = pki.issue_client(new, EC_POLICY)
    verify_server(new.certificate_pem, server.certificate_pem, "localhost")
    assert not pki.issued_by(server.certificate_pem, authority.certificate_pem)
    with pytest.raises(VerificationError):
        verify_server(authority.certificate_pem, server.certificate_pem, "localhost")
    with pytest.raises(VerificationError):
        verify_client(authority.certificate_pem, client.certificate_pem)
    # ...and certificates of the old CA do not verify against the new one (old clients are locked out).
    old_client = pki.issue_client(authority, EC_POLICY)
    with pytest.raises(VerificationError):
        verify_client(new.certificate_pem, old_client.certificate_pem)


def test_keys_are_generated_in_parallel_and_distinct() -> None:
    keys = pki.new_private_keys(POLICY, 3)
    assert len({key.public_key().public_numbers() for key in keys}) == 3  # type: ignore[union-attr]


# -- signing CSRs -----------------------------------------------------------------------------------
def test_the_magnumclient_csr_is_signed_with_its_subject(authority: Authority) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = csr_of(key, subject=pki.ADMIN_SUBJECT)
    pem = pki.sign_csr(authority, csr, EC_POLICY)
    cert = pki.load_certificate(pem)
    assert cert.subject == pki.ADMIN_SUBJECT
    assert cert.issuer == authority.certificate.subject
    assert cert.public_key() == key.public_key()
    verify_client(authority.certificate_pem, pem)
    assert pem.endswith("-----END CERTIFICATE-----\n")
    assert pki.wire_pem(pem).endswith("-----END CERTIFICATE-----")


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1()])
def test_ecdsa_csrs_on_p256_and_p384_are_signed(authority: Authority, curve: ec.EllipticCurve) -> None:
    pem = pki.sign_csr(authority, csr_of(ec.generate_private_key(curve)), EC_POLICY)
    assert pki.issued_by(pem, authority.certificate_pem)


def test_a_small_rsa_key_is_refused(authority: Authority) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(CsrRefusedError, match="1024 bits; at least 2048 bits are required"):
        pki.sign_csr(authority, csr_of(key), EC_POLICY)


def test_a_dsa_key_is_refused(authority: Authority) -> None:
    key = dsa.generate_private_key(key_size=2048)
    with pytest.raises(CsrRefusedError, match="DSA key is not accepted"):
        pki.sign_csr(authority, csr_of(key), EC_POLICY)


def test_unsupported_key_types_and_curves_are_refused(authority: Authority) -> None:
    with pytest.raises(CsrRefusedError, match="Ed25519 key is not accepted"):
        pki.sign_csr(authority, csr_of(ed25519.Ed25519PrivateKey.generate(), algorithm=None), EC_POLICY)
    with pytest.raises(CsrRefusedError, match="curve secp521r1"):
        pki.sign_csr(authority, csr_of(ec.generate_private_key(ec.SECP521R1())), EC_POLICY)


@pytest.mark.parametrize(
    "garbage", ["garbage", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"]
)
def test_an_unreadable_csr_is_invalid_in_magnums_words(authority: Authority, garbage: str) -> None:
    with pytest.raises(InvalidCsrError) as caught:
        pki.sign_csr(authority, garbage, EC_POLICY)
    assert caught.value.message == f"Received invalid csr {garbage}."


def test_a_csr_whose_signature_does_not_verify_is_invalid(authority: Authority) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.load_pem_x509_csr(csr_of(key).encode())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0xFF  # inside the signature
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(InvalidCsrError):
        pki.sign_csr(authority, tampered, EC_POLICY)


def test_a_critical_disallowed_extension_is_refused(authority: Authority) -> None:
    constraints = x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.com")], excluded_subtrees=None)
    csr = csr_of(ec.generate_private_key(ec.SECP256R1()), extensions=[(constraints, True)])
    with pytest.raises(ExtensionNotAllowedError) as caught:
        pki.sign_csr(authority, csr, EC_POLICY)
    assert caught.value.message == "Extension 'nameConstraints' not allowed"
    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    csr = csr_of(ec.generate_private_key(ec.SECP256R1()), extensions=[(unknown, True)])
    with pytest.raises(ExtensionNotAllowedError, match=r"Extension '1\.3\.6\.1\.4\.1\.99999\.1' not allowed"):
        pki.sign_csr(authority, csr, EC_POLICY)


def test_allowed_extensions_are_kept_and_others_dropped(authority: Authority) -> None:
    alt = x509.SubjectAlternativeName([x509.DNSName("client.example")])
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    constraints = x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.com")], excluded_subtrees=None)
    csr = csr_of(ec.generate_private_key(ec.SECP256R1()), extensions=[(alt, False), (eku, True), (constraints, False)])
    cert = pki.load_certificate(pki.sign_csr(authority, csr, EC_POLICY))
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value == alt
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).critical
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)


def test_the_ca_flag_of_a_csr_is_stripped(authority: Authority) -> None:
    csr = csr_of(
        ec.generate_private_key(ec.SECP256R1()), extensions=[(x509.BasicConstraints(ca=True, path_length=None), True)]
    )
    cert = pki.load_certificate(pki.sign_csr(authority, csr, EC_POLICY))
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca is False
    allowed = pki.load_certificate(pki.sign_csr(authority, csr, X509Policy(key_algorithm="ec", allow_ca=True)))
    assert allowed.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True


def usage(**values: bool) -> x509.KeyUsage:
    return pki._key_usage(**values)


def test_key_usages_are_limited_to_the_allowed_ones(authority: Authority) -> None:
    wanted = usage(digital_signature=True, key_encipherment=True, key_cert_sign=True)
    csr = csr_of(ec.generate_private_key(ec.SECP256R1()), extensions=[(wanted, False)])
    kept = pki.load_certificate(pki.sign_csr(authority, csr, EC_POLICY)).extensions
    value = kept.get_extension_for_class(x509.KeyUsage).value
    assert value.digital_signature
    assert value.key_encipherment
    assert not value.key_cert_sign
    csr = csr_of(ec.generate_private_key(ec.SECP256R1()), extensions=[(wanted, True)])
    with pytest.raises(ExtensionNotAllowedError, match="key usage 'Certificate Sign' is not allowed"):
        pki.sign_csr(authority, csr, EC_POLICY)


def test_a_csr_posing_as_the_ca_is_refused(authority: Authority) -> None:
    csr = csr_of(ec.generate_private_key(ec.SECP256R1()), subject=authority.certificate.subject)
    with pytest.raises(CsrRefusedError, match="CA's own name"):
        pki.sign_csr(authority, csr, EC_POLICY)


def test_a_signed_certificate_never_outlives_its_ca() -> None:
    short = pki.create_authority("c", X509Policy(key_algorithm="ec", validity_days=2))
    authority = Authority(short.certificate_pem, short.private_key_pem)
    pem = pki.sign_csr(authority, csr_of(ec.generate_private_key(ec.SECP256R1())), EC_POLICY)
    assert pki.not_after(pem) == pki.not_after(short.certificate_pem)
