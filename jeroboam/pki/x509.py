"""X.509 for clusters with ``cryptography``: CAs, endpoint and client certificates, CSR signing.

What Magnum does (reference §8.1), written anew: a self-signed CA per cluster
(basicConstraints CA pathlen 0 and keyUsage keyCertSign + cRLSign, both
critical), a server certificate for the cluster endpoint naming its DNS names
and IP addresses, a client certificate (``CN=admin, O=system:masters``) for the
conductor itself, and signing of users' CSRs: the subject is copied, the key
must be RSA of 2048 bits or more or ECDSA on P-256/P-384, and only allowed
extensions are kept (a critical one that is not allowed refuses the CSR).

Everything here is pure computation on PEM strings; nothing is stored or logged.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from jeroboam.config import X509Settings
from jeroboam.errors import InvalidInputError

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

# A certificate is valid from a little before it is made, so a peer whose clock is behind accepts it.
BACKDATE = timedelta(days=1)
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 16384
ACCEPTED_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384"}
# The client certificate the conductor uses, and the convention kubeconfigs and Terraform rely on.
ADMIN_SUBJECT = x509.Name(
    [x509.NameAttribute(NameOID.COMMON_NAME, "admin"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters")]
)

# Key usages by the names Magnum's [x509] allowed_key_usage uses (OpenSSL's), with the
# attribute of cryptography's KeyUsage each one is.
KEY_USAGES: dict[str, str] = {
    "Digital Signature": "digital_signature",
    "Non Repudiation": "content_commitment",
    "Key Encipherment": "key_encipherment",
    "Data Encipherment": "data_encipherment",
    "Key Agreement": "key_agreement",
    "Certificate Sign": "key_cert_sign",
    "CRL Sign": "crl_sign",
    "Encipher Only": "encipher_only",
    "Decipher Only": "decipher_only",
}
EXTENSION_NAMES: dict[x509.ObjectIdentifier, str] = {
    ExtensionOID.KEY_USAGE: "keyUsage",
    ExtensionOID.EXTENDED_KEY_USAGE: "extendedKeyUsage",
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME: "subjectAltName",
    ExtensionOID.BASIC_CONSTRAINTS: "basicConstraints",
    ExtensionOID.SUBJECT_KEY_IDENTIFIER: "subjectKeyIdentifier",
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER: "authorityKeyIdentifier",
    ExtensionOID.ISSUER_ALTERNATIVE_NAME: "issuerAltName",
    ExtensionOID.NAME_CONSTRAINTS: "nameConstraints",
    ExtensionOID.POLICY_CONSTRAINTS: "policyConstraints",
    ExtensionOID.CERTIFICATE_POLICIES: "certificatePolicies",
    ExtensionOID.CRL_DISTRIBUTION_POINTS: "cRLDistributionPoints",
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS: "authorityInfoAccess",
    ExtensionOID.TLS_FEATURE: "TLSFeature",
}
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_*]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_-]{1,63})*\.?$")


class InvalidCsrError(InvalidInputError):
    """A CSR that cannot be read, or whose signature does not verify (Magnum's wording)."""

    code = "invalid_csr"

    def __init__(self, csr: str) -> None:
        super().__init__(f"Received invalid csr {csr}.")


class CsrRefusedError(InvalidInputError):
    """A readable CSR that asks for something this service does not sign."""

    code = "csr_refused"


class ExtensionNotAllowedError(CsrRefusedError):
    code = "extension_not_allowed"

    def __init__(self, name: str, detail: str = "") -> None:
        super().__init__(f"Extension '{name}' not allowed" + (f" ({detail})" if detail else ""))
        self.extension = name


@dataclass(frozen=True)
class X509Policy:
    """How keys are made and what a signed certificate may say (``[x509]``)."""

    key_algorithm: str = "rsa"
    rsa_key_size: int = 2048
    validity_days: int = 1825
    allow_ca: bool = False
    allowed_extensions: frozenset[str] = frozenset(
        {"keyUsage", "extendedKeyUsage", "subjectAltName", "basicConstraints", "subjectKeyIdentifier"}
    )
    allowed_key_usage: frozenset[str] = frozenset({"Digital Signature", "Key Encipherment", "Non Repudiation"})

    @classmethod
    def from_settings(cls, settings: X509Settings) -> X509Policy:
        return cls(
            key_algorithm=settings.key_algorithm,
            rsa_key_size=settings.rsa_key_size,
            validity_days=settings.term_of_validity,
            allow_ca=settings.allow_ca,
            allowed_extensions=frozenset(settings.allowed_extensions),
            allowed_key_usage=frozenset(settings.allowed_key_usage),
        )


@dataclass(frozen=True)
class Issued:
    """A new certificate and its private key (PKCS#8 PEM, unencrypted: encrypt before storing)."""

    certificate_pem: str
    private_key_pem: str = field(repr=False)
    fingerprint: str
    not_after: datetime


# -- keys -------------------------------------------------------------------------------------------


def new_private_key(policy: X509Policy) -> PrivateKey:
    if policy.key_algorithm == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=policy.rsa_key_size)


def new_private_keys(policy: X509Policy, count: int) -> list[PrivateKey]:
    """``count`` keys; RSA ones in parallel (OpenSSL releases the GIL while it searches primes)."""
    if count <= 1 or policy.key_algorithm == "ec":
        return [new_private_key(policy) for _ in range(count)]
    with ThreadPoolExecutor(max_workers=min(count, 3), thread_name_prefix="pki-keygen") as pool:
        return list(pool.map(lambda _: new_private_key(policy), range(count)))


def _key_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def load_private_key(pem: str) -> PrivateKey:
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"unsupported private key type {type(key).__name__}")
    return key


# -- reading certificates ---------------------------------------------------------------------------


def load_certificate(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode("ascii"))


def fingerprint(pem: str) -> str:
    """SHA-256 of the certificate's DER, lower-case hex."""
    return hashlib.sha256(load_certificate(pem).public_bytes(serialization.Encoding.DER)).hexdigest()


def not_after(pem: str) -> datetime:
    return load_certificate(pem).not_valid_after_utc


def issued_by(pem: str, ca_pem: str) -> bool:
    """Whether ``ca_pem`` signed ``pem`` (its issuer name and signature both match)."""
    try:
        load_certificate(pem).verify_directly_issued_by(load_certificate(ca_pem))
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def subject_alt_names(pem: str) -> set[str]:
    try:
        names = load_certificate(pem).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in names.get_values_for_type(x509.DNSName)} | {
        str(v) for v in names.get_values_for_type(x509.IPAddress)
    }


def wire_pem(pem: str) -> str:
    """A PEM as Magnum's API returns it: without the trailing newline."""
    return pem.rstrip("\r\n")


def common_name(value: str) -> str:
    """A value usable as a CN (1 to 64 characters)."""
    return value.strip()[:64] or "cluster"


def split_names(names: Iterable[str]) -> tuple[list[str], list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    """DNS names and IP addresses of ``names``, de-duplicated in order; unusable names are left out."""
    dns: list[str] = []
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for raw in names:
        name = raw.strip().strip("[]")
        if not name:
            continue
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            if name.isascii() and _HOSTNAME.match(name) and name.lower() not in dns:
                dns.append(name.lower())
            continue
        if address not in ips:
            ips.append(address)
    return dns, ips


# -- issuing ----------------------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _issue(
    builder: x509.CertificateBuilder, signing_key: PrivateKey, key: PrivateKey, issuer_key: PrivateKey | None = None
) -> Issued:
    public = key.public_key()
    builder = builder.public_key(public).add_extension(
        x509.SubjectKeyIdentifier.from_public_key(public), critical=False
    )
    if issuer_key is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    certificate = builder.sign(signing_key, hashes.SHA256())
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return Issued(
        certificate_pem=pem,
        private_key_pem=_key_pem(key),
        fingerprint=hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest(),
        not_after=certificate.not_valid_after_utc,
    )


def create_authority(
    name: str, policy: X509Policy, *, key: PrivateKey | None = None, now: datetime | None = None
) -> Issued:
    """A self-signed CA named ``name``: CA pathlen 0, keyCertSign + cRLSign, both critical."""
    key = key or new_private_key(policy)
    start = _now(now)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name(name))])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - BACKDATE)
        .not_valid_after(start + timedelta(days=policy.validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
    )
    return _issue(builder, key, key)


@dataclass(frozen=True)
class Authority:
    """A CA able to sign: its certificate and (decrypted) key."""

    certificate_pem: str
    private_key_pem: str = field(repr=False)

    @property
    def certificate(self) -> x509.Certificate:
        return load_certificate(self.certificate_pem)

    @property
    def key(self) -> PrivateKey:
        return load_private_key(self.private_key_pem)


def _leaf(
    authority: Authority, subject: x509.Name, policy: X509Policy, now: datetime | None
) -> x509.CertificateBuilder:
    """A builder for a certificate ``authority`` signs, valid for the term but never past the CA."""
    ca = authority.certificate
    start = _now(now)
    end = min(start + timedelta(days=policy.validity_days), ca.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .serial_number(x509.random_serial_number())
        .not_valid_before(max(start - BACKDATE, ca.not_valid_before_utc))
        .not_valid_after(end)
    )


def _key_usage(**usages: bool) -> x509.KeyUsage:
    values = {attribute: False for attribute in KEY_USAGES.values()}
    values.update(usages)
    return x509.KeyUsage(**values)


def issue_server(
    authority: Authority,
    name: str,
    names: Sequence[str],
    policy: X509Policy,
    *,
    key: PrivateKey | None = None,
    now: datetime | None = None,
) -> Issued:
    """The endpoint's certificate: ``names`` (DNS names and IP addresses) as subjectAltName."""
    key = key or new_private_key(policy)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name(name))])
    builder = _leaf(authority, subject, policy, now)
    dns, ips = split_names(names)
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in dns] + [x509.IPAddress(ip) for ip in ips]
    builder = (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage(digital_signature=True, key_encipherment=isinstance(key, rsa.RSAPrivateKey)), critical=True
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    )
    if alt:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    signer = authority.key
    return _issue(builder, signer, key, signer)


def issue_client(
    authority: Authority,
    policy: X509Policy,
    *,
    key: PrivateKey | None = None,
    now: datetime | None = None,
) -> Issued:
    """The conductor's own client certificate, ``CN=admin, O=system:masters`` (as Magnum's)."""
    key = key or new_private_key(policy)
    builder = _leaf(authority, ADMIN_SUBJECT, policy, now)
    builder = (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage(digital_signature=True, key_encipherment=isinstance(key, rsa.RSAPrivateKey)), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    signer = authority.key
    return _issue(builder, signer, key, signer)


# -- signing users' CSRs ------------------------------------------------------------------------------


def extension_name(oid: x509.ObjectIdentifier) -> str:
    return EXTENSION_NAMES.get(oid, oid.dotted_string)


def _key_kind(key: object) -> str:
    kinds: tuple[tuple[type, str], ...] = (
        (dsa.DSAPublicKey, "DSA"),
        (ed25519.Ed25519PublicKey, "Ed25519"),
        (ed448.Ed448PublicKey, "Ed448"),
    )
    for cls, kind in kinds:
        if isinstance(key, cls):
            return kind
    return type(key).__name__


def check_public_key(key: object) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """RSA of 2048 to 16384 bits, or ECDSA on P-256 or P-384; anything else is refused."""
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CsrRefusedError(
                f"The CSR's RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} bits are required."
            )
        if key.key_size > MAX_RSA_BITS:
            raise CsrRefusedError(f"The CSR's RSA key has {key.key_size} bits; at most {MAX_RSA_BITS} are accepted.")
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ACCEPTED_CURVES:
            raise CsrRefusedError(
                f"The CSR's elliptic-curve key is on curve {key.curve.name}; "
                f"only {' and '.join(ACCEPTED_CURVES.values())} are accepted."
            )
        return key
    raise CsrRefusedError(
        f"The CSR's {_key_kind(key)} key is not accepted; use RSA (at least {MIN_RSA_BITS} bits) "
        f"or ECDSA ({' or '.join(ACCEPTED_CURVES.values())})."
    )


def _filter_key_usage(extension: x509.Extension[x509.KeyUsage], policy: X509Policy) -> x509.KeyUsage | None:
    usage = extension.value
    kept: dict[str, bool] = {}
    for name, attribute in KEY_USAGES.items():
        if attribute in ("encipher_only", "decipher_only") and not usage.key_agreement:
            continue  # only meaningful (and readable) with keyAgreement
        if not getattr(usage, attribute):
            continue
        if name in policy.allowed_key_usage:
            kept[attribute] = True
        elif extension.critical:
            raise ExtensionNotAllowedError("keyUsage", f"key usage '{name}' is not allowed")
    if not kept:
        return None
    if not kept.get("key_agreement"):
        kept.pop("encipher_only", None)
        kept.pop("decipher_only", None)
    return _key_usage(**kept)


def allowed_extensions(
    csr: x509.CertificateSigningRequest, policy: X509Policy
) -> list[tuple[x509.ExtensionType, bool]]:
    """The CSR's extensions a signed certificate keeps: allowed ones, filtered; a critical one that
    is not allowed refuses the CSR. The key identifiers are always computed, never copied."""
    kept: list[tuple[x509.ExtensionType, bool]] = []
    for extension in csr.extensions:
        name = extension_name(extension.oid)
        if name not in policy.allowed_extensions:
            if extension.critical:
                raise ExtensionNotAllowedError(name)
            continue
        value = extension.value
        if extension.oid in (ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER):
            continue
        if isinstance(value, x509.KeyUsage):
            filtered = _filter_key_usage(extension, policy)
            if filtered is None:
                continue
            value = filtered
        elif isinstance(value, x509.BasicConstraints) and value.ca and not policy.allow_ca:
            value = x509.BasicConstraints(ca=False, path_length=None)
        kept.append((value, extension.critical))
    return kept


def sign_csr(authority: Authority, csr_pem: str, policy: X509Policy, *, now: datetime | None = None) -> str:
    """A certificate for the CSR, signed by ``authority`` (PEM, with its trailing newline)."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode("utf-8"))
        signature_valid = csr.is_signature_valid
        public = csr.public_key()
        extensions = list(csr.extensions)
    except (ValueError, TypeError, UnicodeError, UnsupportedAlgorithm, x509.DuplicateExtension):
        raise InvalidCsrError(csr_pem) from None
    if not signature_valid:
        raise InvalidCsrError(csr_pem)
    key = check_public_key(public)
    ca = authority.certificate
    if csr.subject == ca.subject:
        raise CsrRefusedError("The CSR's subject is the cluster CA's own name; choose another subject.")
    kept = allowed_extensions(csr, policy) if extensions else []
    builder = _leaf(authority, csr.subject, policy, now)
    builder = builder.public_key(key)
    for value, critical in kept:
        builder = builder.add_extension(value, critical=critical)
    signer = authority.key
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
    )
    return builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode("ascii")
