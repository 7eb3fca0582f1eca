"""The API's certificates and credentials of clusters (reference §3.4, §3.5, §8.1).

Show a cluster's CA, sign a user's CSR with it, and accept a CA or credential rotation (an
operation the conductor's pki phase, ``conductor/pki.py``, runs). Only the cluster's creator (or
an admin of its project) may read the CA or have a CSR signed; cluster lookups never cross
projects.

A CA that does not exist yet when a user asks for it is made on the spot (under
the cluster's row lock), so ``openstack coe ca show`` works as soon as the
cluster is accepted. Kubernetes clusters get their etcd and front-proxy CAs the
first time one is asked for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from jeroboam.config import Settings
from jeroboam.context import RequestContext
from jeroboam.db.models import Cluster
from jeroboam.db.repositories import certificates as repo
from jeroboam.db.repositories import clusters as clusters_repo
from jeroboam.db.session import Database
from jeroboam.domain.states import Action
from jeroboam.errors import InvalidInputError, NotFoundError
from jeroboam.pki import x509
from jeroboam.pki.secrets import Keyring
from jeroboam.policy import Policy
from jeroboam.rpc.notifications import Notifier
from jeroboam.rpc.wakeup import Waker
from jeroboam.services.announcer import Announcer
from jeroboam.services.certificate_store import Stored, authority_kind, authority_name, store
from jeroboam.services.cluster_rules import target
from jeroboam.services.operations import accept

log = logging.getLogger(__name__)

NON_TLS_ROTATE_CA = "Rotating the CA certificate on a non-TLS cluster is not supported."
NON_TLS_CREDENTIALS = (
    "Rotating the credentials of a non-TLS cluster is not supported: Jeroboam holds no credential for it."
)


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
