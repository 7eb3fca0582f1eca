"""The conductor's ``pki`` phase: make sure the cluster has its CA, the endpoint's server
certificate and the conductor's own client certificate; on an open ``rotate_ca`` operation make a
new CA (and re-issue both certificates), on ``rotate_credentials`` re-issue the client
certificate. Idempotent: a row remembers the operation that issued it, so re-running the phase
after a crash does not rotate twice."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from jeroboam.config import Settings
from jeroboam.db.repositories import certificates as repo
from jeroboam.db.repositories import leases as leases_repo
from jeroboam.db.repositories import operations as operations_repo
from jeroboam.db.repositories.leases import Claim
from jeroboam.db.session import Database
from jeroboam.domain.specs import ClusterSpec, TlsMaterial
from jeroboam.domain.states import Action
from jeroboam.drivers.base import ClusterDriver
from jeroboam.errors import PermanentError, RetryableError
from jeroboam.pki import x509
from jeroboam.pki.secrets import Keyring, SecretsError, load_keyring
from jeroboam.services.certificate_store import (
    CLIENT,
    ETCD_CA,
    FRONT_PROXY_CA,
    MAIN_CA,
    SERVER,
    Stored,
    authority_name,
    snapshot,
    store,
)

log = logging.getLogger(__name__)

# Names every endpoint certificate carries: the conductor and local users reach it on loopback.
LOOPBACK_NAMES = ("localhost", "127.0.0.1")
# Certificates are re-issued when this little of their life is left (at most a third of the term).
RENEW_BEFORE = timedelta(days=30)
CONCURRENT_ATTEMPTS = 3


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

    def ensure(self, claim: Claim, spec: ClusterSpec, driver: ClusterDriver) -> TlsMaterial | None:
        """Converge the cluster's certificates; the endpoint's TLS material (None without TLS).

        The names of the endpoint come from loopback, the cluster's api_address and
        ``driver.tls_server_names(spec)``. Keys are generated with no transaction
        open; the result is written fenced by the claim, and only if nobody changed the rows
        meanwhile (else the pass starts over).
        """
        extra: Sequence[str] = tuple(driver.tls_server_names(spec))
        tls = not spec.tls_disabled
        try:
            for _ in range(CONCURRENT_ATTEMPTS):
                with self.db.transaction() as session:
                    cluster = leases_repo.fenced_cluster(session, claim)
                    operations = [
                        (op.uuid, op.action) for op in operations_repo.open_for_cluster(session, cluster.uuid)
                    ]
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
