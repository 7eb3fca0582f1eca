"""Certificates and credentials of clusters (reference §3.4, §3.5, §8.1), kept encrypted at rest.

Three users of one store (``cluster_certificates``, private keys encrypted with
``pki.secrets``):

* ``CertificateService`` — the API: show a cluster's CA, sign a user's CSR with
  it, and accept a CA or credential rotation (an operation the conductor runs).
  Only the cluster's creator (or an admin of its project) may read the CA or
  have a CSR signed; cluster lookups never cross projects.
* ``ClusterPki`` — the conductor's ``pki`` phase: make sure the cluster has its
  CA, the endpoint's server certificate and the conductor's own client
  certificate; on an open ``rotate_ca`` operation make a new CA (and re-issue
  both certificates), on ``rotate_credentials`` re-issue the client certificate.
  Idempotent: a row remembers the operation that issued it, so re-running the
  phase after a crash does not rotate twice.
* ``check_stored_secrets`` / ``reencrypt_all`` — start-up check and key rotation.

A CA that does not exist yet when a user asks for it is made on the spot (under
the cluster's row lock), so ``openstack coe ca show`` works as soon as the
cluster is accepted. Kubernetes clusters get their etcd and front-proxy CAs the
first time one is asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from jeroboam.config import Settings
from jeroboam.context import RequestContext
from jeroboam.db.models import Cluster, ClusterCertificate
from jeroboam.db.repositories import certificates as repo
from jeroboam.db.repositories import clusters as clusters_repo
from jeroboam.db.repositories import leases as leases_repo
from jeroboam.db.repositories.leases import Claim
from jeroboam.db.session import Database
from jeroboam.domain.specs import ClusterSpec, TlsMaterial, canonical_coe
from jeroboam.domain.states import Action
from jeroboam.drivers.base import PermanentError, RetryableError
from jeroboam.errors import InvalidInputError, NotFoundError
from jeroboam.pki import x509
from jeroboam.pki.secrets import Keyring, SecretsError, load_keyring
from jeroboam.policy import Policy
from jeroboam.rpc.notifications import Notifier
from jeroboam.rpc.wakeup import Waker
from jeroboam.services.clusters import Announcer, target
from jeroboam.services.operations import accept

log = logging.getLogger(__name__)

MAIN_CA = "ca"
ETCD_CA = "etcd_ca"
FRONT_PROXY_CA = "front_proxy_ca"
SERVER = "server"
CLIENT = "client"
AUTHORITIES = (MAIN_CA, ETCD_CA, FRONT_PROXY_CA)
# ``ca_cert_type`` values (Magnum's); anything else, or none, is the main CA.
CA_CERT_TYPES = {"etcd": ETCD_CA, "front_proxy": FRONT_PROXY_CA, "front-proxy": FRONT_PROXY_CA}
# Names every endpoint certificate carries: the conductor and local users reach it on loopback.
LOOPBACK_NAMES = ("localhost", "127.0.0.1")
# Certificates are re-issued when this little of their life is left (at most a third of the term).
RENEW_BEFORE = timedelta(days=30)
CONCURRENT_ATTEMPTS = 3
NON_TLS_ROTATE_CA = "Rotating the CA certificate on a non-TLS cluster is not supported."
NON_TLS_CREDENTIALS = (
    "Rotating the credentials of a non-TLS cluster is not supported: Jeroboam holds no credential for it."
)


def authority_kind(coe: str | None, ca_cert_type: str | None) -> str:
    """Which CA ``ca_cert_type`` names. Only kubernetes clusters have etcd and front-proxy CAs;
    every other cluster answers any type with its one CA."""
    if canonical_coe(coe or "") != "kubernetes":
        return MAIN_CA
    return CA_CERT_TYPES.get(ca_cert_type or "", MAIN_CA)


def authority_name(cluster_name: str, kind: str) -> str:
    suffix = {ETCD_CA: " etcd", FRONT_PROXY_CA: " front-proxy"}.get(kind, "")
    return x509.common_name(cluster_name[: 64 - len(suffix)] + suffix)


def endpoint_names(api_address: str | None, extra: Iterable[str] = ()) -> list[str]:
    """What the endpoint certificate must name: loopback, the API address's host, the driver's names."""
    names = list(LOOPBACK_NAMES)
    if api_address:
        host = urlsplit(api_address if "://" in api_address else f"//{api_address}").hostname
        if host:
            names.append(host)
    names += [str(name) for name in extra]
    dns, ips = x509.split_names(names)
    return dns + [str(ip) for ip in ips]


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
    def of(cls, row: ClusterCertificate | Any) -> Stored:
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


@dataclass(frozen=True)
class CertificateView:
    cluster_uuid: str
    pem: str


# -- the API -----------------------------------------------------------------------------------------
class CertificateService:
    def __init__(
        self,
        db: Database,
        policy: Policy,
        settings: Settings,
        keyring: Keyring,
        waker: Waker,
        notifier: Notifier,
    ) -> None:
        self.db = db
        self.policy = policy
        self.settings = settings
        self.keyring = keyring
        self.x509 = x509.X509Policy.from_settings(settings.x509)
        self.announcer = Announcer(waker, notifier)

    def _cluster(self, session: Session, context: RequestContext, ident: str, *, for_update: bool = False) -> Cluster:
        # Never across projects, admin or not (Magnum's certificate controller does the same).
        return clusters_repo.get_visible(session, context, ident, all_projects=False, for_update=for_update)

    def _authority_row(
        self, context: RequestContext, ident: str, rule: str, ca_cert_type: str | None, *, missing_is_invalid: bool
    ) -> tuple[str, Stored]:
        with self.db.transaction() as session:
            try:
                cluster = self._cluster(session, context, ident)
            except NotFoundError as exc:
                if missing_is_invalid:  # Magnum answers 400 to a CSR for an unknown cluster
                    raise InvalidInputError(exc.message) from None
                raise
            self.policy.authorize(rule, context, target(cluster))
            template = clusters_repo.template(session, cluster.cluster_template_id)
            kind = authority_kind(template.coe if template else None, ca_cert_type)
            row = repo.get(session, cluster.uuid, kind)
            if row is not None:
                return cluster.uuid, Stored.of(row)
            uuid, name = cluster.uuid, cluster.name or cluster.uuid
        return uuid, self._create_authority(uuid, kind, name)

    def _create_authority(self, cluster_id: str, kind: str, name: str) -> Stored:
        """Make the CA outside any transaction (key generation takes a while), then store it unless
        someone (the conductor) stored one meanwhile."""
        issued = x509.create_authority(authority_name(name, kind), self.x509)
        with self.db.transaction() as session:
            clusters_repo.lock(session, cluster_id)
            row = repo.get(session, cluster_id, kind)
            if row is not None:
                return Stored.of(row)
            log.info("cluster %s: created its %s certificate authority", cluster_id, kind)
            return store(session, self.keyring, cluster_id, kind, issued, None)

    def get_ca(self, context: RequestContext, ident: str, ca_cert_type: str | None = None) -> CertificateView:
        uuid, row = self._authority_row(context, ident, "certificate:get", ca_cert_type, missing_is_invalid=False)
        return CertificateView(uuid, x509.wire_pem(row.certificate_pem))

    def sign(self, context: RequestContext, ident: str, csr: str, ca_cert_type: str | None = None) -> CertificateView:
        uuid, row = self._authority_row(context, ident, "certificate:create", ca_cert_type, missing_is_invalid=True)
        authority = x509.Authority(row.certificate_pem, self.keyring.decrypt(row.encrypted_private_key, row.key_id))
        return CertificateView(uuid, x509.wire_pem(x509.sign_csr(authority, csr, self.x509)))

    def rotate_ca(self, context: RequestContext, ident: str) -> Cluster:
        """A new CA, endpoint and client certificates (the conductor makes them): certificates
        signed by the old CA stop working."""
        with self.db.transaction() as session:
            cluster = self._cluster(session, context, ident, for_update=True)
            self.policy.authorize("certificate:rotate_ca", context, target(cluster))
            template = clusters_repo.template(session, cluster.cluster_template_id)
            if template is None or template.tls_disabled:
                raise InvalidInputError(NON_TLS_ROTATE_CA)
            operation = accept(session, self.settings, context, cluster, Action.ROTATE_CA, {"uuid": cluster.uuid})
        self.announcer.accepted(cluster, Action.ROTATE_CA, operation)
        return cluster

    def rotate_credentials(self, context: RequestContext, ident: str) -> Cluster:
        """A new client certificate for the conductor (the credential Jeroboam itself holds)."""
        self.policy.authorize("credential:rotate", context)
        with self.db.transaction() as session:
            cluster = self._cluster(session, context, ident, for_update=True)
            template = clusters_repo.template(session, cluster.cluster_template_id)
            if template is None or template.tls_disabled:
                raise InvalidInputError(NON_TLS_CREDENTIALS)
            operation = accept(
                session, self.settings, context, cluster, Action.ROTATE_CREDENTIALS, {"uuid": cluster.uuid}
            )
        self.announcer.accepted(cluster, Action.ROTATE_CREDENTIALS, operation)
        return cluster


# -- the conductor's pki phase ------------------------------------------------------------------------
@dataclass
class Plan:
    """What a pass must (re)issue, each with the operation that asked for it (None: none did)."""

    authorities: dict[str, str | None] = field(default_factory=dict)
    server: bool = False
    server_operation: str | None = None
    client: bool = False
    client_operation: str | None = None

    def __bool__(self) -> bool:
        return bool(self.authorities) or self.server or self.client


class ClusterPki:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        keyring: Keyring | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.keyring = keyring or load_keyring(settings)
        self.x509 = x509.X509Policy.from_settings(settings.x509)
        self.clock = clock or (lambda: datetime.now(UTC))

    def ensure(self, claim: Claim, spec: ClusterSpec, driver: object) -> TlsMaterial | None:
        """Converge the cluster's certificates; the endpoint's TLS material (None without TLS).

        The names of the endpoint come from loopback, the cluster's api_address and, when the
        driver has it, ``driver.tls_server_names(spec)``. Keys are generated with no transaction
        open; the result is written fenced by the claim, and only if nobody changed the rows
        meanwhile (else the pass starts over).
        """
        names_of = getattr(driver, "tls_server_names", None)
        extra: Sequence[str] = tuple(names_of(spec)) if callable(names_of) else ()
        tls = not spec.tls_disabled
        try:
            for _ in range(CONCURRENT_ATTEMPTS):
                with self.db.transaction() as session:
                    cluster = leases_repo.fenced_cluster(session, claim)
                    operations = [(op.uuid, op.action) for op in leases_repo.open_operations(session, cluster)]
                    stored = snapshot(session, cluster.uuid)
                    names = endpoint_names(cluster.api_address, extra)
                    name = cluster.name or cluster.uuid
                plan = self.plan(stored, operations, tls=tls, names=names)
                if not plan:
                    return self.material(stored) if tls else None
                issued = self.issue(plan, stored, name, names)
                with self.db.transaction() as session:
                    leases_repo.fenced_cluster(session, claim)
                    now_stored = snapshot(session, claim.cluster_id)
                    if {k: s.fingerprint for k, s in now_stored.items()} != {
                        k: s.fingerprint for k, s in stored.items()
                    }:
                        continue  # the API made a CA meanwhile: plan again
                    for kind, (certificate, operation_id) in issued.items():
                        stored[kind] = store(session, self.keyring, claim.cluster_id, kind, certificate, operation_id)
                log.info("cluster %s: issued %s", claim.cluster_id, ", ".join(sorted(issued)))
                plaintext = {kind: certificate.private_key_pem for kind, (certificate, _) in issued.items()}
                return self.material(stored, plaintext) if tls else None
        except SecretsError as exc:
            raise PermanentError(exc.message) from None
        raise RetryableError("the cluster's certificates kept changing while new ones were made", 0.5)

    def plan(
        self, stored: Mapping[str, Stored], operations: Sequence[tuple[str, str]], *, tls: bool, names: Sequence[str]
    ) -> Plan:
        rotate_ca = next((uuid for uuid, action in reversed(operations) if action == Action.ROTATE_CA), None)
        rotate_client = next(
            (uuid for uuid, action in reversed(operations) if action == Action.ROTATE_CREDENTIALS), None
        )
        plan = Plan()
        ca = stored.get(MAIN_CA)
        rotating = rotate_ca is not None and ca is not None and ca.operation_id != rotate_ca
        if ca is None or rotating:
            plan.authorities[MAIN_CA] = rotate_ca
        if rotating:  # every CA the cluster has is replaced
            plan.authorities.update({kind: rotate_ca for kind in (ETCD_CA, FRONT_PROXY_CA) if kind in stored})
        if not tls:
            return plan
        new_ca = MAIN_CA in plan.authorities
        ca_pem = ca.certificate_pem if ca is not None else ""
        server = stored.get(SERVER)
        if (
            new_ca
            or server is None
            or self._stale(server, ca_pem)
            or not set(names) <= x509.subject_alt_names(server.certificate_pem)
        ):
            plan.server, plan.server_operation = True, rotate_ca if new_ca else None
        client = stored.get(CLIENT)
        rotating_client = rotate_client is not None and client is not None and client.operation_id != rotate_client
        if new_ca or client is None or rotating_client or self._stale(client, ca_pem):
            plan.client = True
            plan.client_operation = rotate_client or (rotate_ca if new_ca else None)
        return plan

    def _stale(self, certificate: Stored, ca_pem: str) -> bool:
        """Not signed by the current CA, or close to its end."""
        term = timedelta(days=self.x509.validity_days)
        return certificate.not_after - self.clock() < min(RENEW_BEFORE, term / 3) or not x509.issued_by(
            certificate.certificate_pem, ca_pem
        )

    def issue(
        self, plan: Plan, stored: Mapping[str, Stored], name: str, names: Sequence[str]
    ) -> dict[str, tuple[x509.Issued, str | None]]:
        count = len(plan.authorities) + plan.server + plan.client
        keys = x509.new_private_keys(self.x509, count)
        now = self.clock()
        issued: dict[str, tuple[x509.Issued, str | None]] = {}
        for kind, operation_id in plan.authorities.items():
            ca = x509.create_authority(authority_name(name, kind), self.x509, key=keys.pop(), now=now)
            issued[kind] = (ca, operation_id)
        if not plan.server and not plan.client:
            return issued
        if MAIN_CA in issued:
            main = issued[MAIN_CA][0]
            authority = x509.Authority(main.certificate_pem, main.private_key_pem)
        else:
            row = stored[MAIN_CA]
            authority = x509.Authority(row.certificate_pem, self.keyring.decrypt(row.encrypted_private_key, row.key_id))
        if plan.server:
            server = x509.issue_server(authority, name, names, self.x509, key=keys.pop(), now=now)
            issued[SERVER] = (server, plan.server_operation)
        if plan.client:
            issued[CLIENT] = (x509.issue_client(authority, self.x509, key=keys.pop(), now=now), plan.client_operation)
        return issued

    def material(self, stored: Mapping[str, Stored], plaintext: Mapping[str, str] | None = None) -> TlsMaterial:
        """The endpoint's TLS material; keys just issued are taken from ``plaintext``."""
        plaintext = plaintext or {}

        def key(kind: str) -> str:
            if kind in plaintext:
                return plaintext[kind]
            row = stored[kind]
            return self.keyring.decrypt(row.encrypted_private_key, row.key_id)

        return TlsMaterial(
            ca_cert_pem=stored[MAIN_CA].certificate_pem,
            server_cert_pem=stored[SERVER].certificate_pem,
            server_key_pem=key(SERVER),
            client_cert_pem=stored[CLIENT].certificate_pem,
            client_key_pem=key(CLIENT),
        )

    def stored_material(self, session: Session, cluster_id: str, *, tls_disabled: bool) -> TlsMaterial | None:
        """What the pki phase last produced, for calls outside it (health checks, deletes); None
        without TLS, before the first pki phase, or when the keys cannot decrypt it (logged)."""
        if tls_disabled:
            return None
        return self._material_of(cluster_id, snapshot(session, cluster_id))

    def stored_materials(self, session: Session, tls_disabled: Mapping[str, bool]) -> dict[str, TlsMaterial | None]:
        """``stored_material`` of many clusters (cluster uuid -> its template's ``tls_disabled``),
        in one query."""
        wanted = [uuid for uuid, disabled in tls_disabled.items() if not disabled]
        found: dict[str, TlsMaterial | None] = dict.fromkeys(tls_disabled)
        for uuid, rows in repo.rows_for_clusters(session, wanted, (MAIN_CA, SERVER, CLIENT)).items():
            found[uuid] = self._material_of(uuid, {kind: Stored.of(row) for kind, row in rows.items()})
        return found

    def _material_of(self, cluster_id: str, stored: Mapping[str, Stored]) -> TlsMaterial | None:
        if not all(kind in stored for kind in (MAIN_CA, SERVER, CLIENT)):
            return None
        try:
            return self.material(stored)
        except SecretsError as exc:
            log.error("cluster %s: %s", cluster_id, exc.message)
            return None


# -- operators: start-up check and key rotation ------------------------------------------------------
def check_stored_secrets(db: Database, keyring: Keyring) -> int:
    """Decrypt one stored secret per encryption key in use; SecretsError when one does not decrypt.
    Returns how many keys are in use."""
    with db.transaction() as session:
        used = repo.key_ids(session)
        for key_id in used:
            row = repo.one_with_key(session, key_id)
            if row is not None:
                keyring.decrypt(row.encrypted_private_key, row.key_id)
    return len(used)


@dataclass(frozen=True)
class Reencryption:
    current_key: str
    reencrypted: int
    remaining: int


def reencrypt_all(
    db: Database, keyring: Keyring, *, batch_size: int = 100, progress: Callable[[int], None] | None = None
) -> Reencryption:
    """Re-encrypt every stored secret that another key than the current one encrypted, a batch per
    transaction (each row locked only while its batch runs: conductors and the API keep working;
    every configured key still decrypts meanwhile). A secret that does not decrypt stops the run
    with SecretsError; what was done stays done and nothing is half-written."""
    current = keyring.current_id
    done, after = 0, 0
    while True:
        with db.transaction() as session:
            rows = repo.batch_not_under(session, current, after, batch_size)
            for row in rows:
                row.encrypted_private_key, row.key_id = keyring.reencrypt(row.encrypted_private_key, row.key_id)
                after = row.id
        if not rows:
            break
        done += len(rows)
        if progress is not None:
            progress(done)
    with db.transaction() as session:
        remaining = repo.count_not_under(session, current)
    return Reencryption(current, done, remaining)
