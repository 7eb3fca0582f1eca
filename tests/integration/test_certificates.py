"""/v1/certificates and /v1/credentials over real HTTP on every backend (reference §3.4, §3.5, §6),
CA and credential rotation end to end with a conductor and the ``sim`` driver, and private keys
that are never stored in plaintext.

The ``api`` fixture runs no conductor: a cluster's CA is made on first use by the API itself, and
a cluster is put in CREATE_COMPLETE directly where a test needs a settled one.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine, inspect, select, text

from jeroboam.api.app import create_app
from jeroboam.cmd import manage
from jeroboam.cmd.jeroboam import check_secrets
from jeroboam.conductor.worker import Conductor
from jeroboam.db import migrate
from jeroboam.db.models import Cluster, ClusterCertificate, Operation
from jeroboam.drivers.sim import SimDriver
from jeroboam.pki import x509 as pki
from jeroboam.pki.secrets import Keyring, SecretsError, key_id
from jeroboam.rpc.notifications import NullNotifier
from jeroboam.rpc.wakeup import InProcessWaker
from jeroboam.services.stored_secrets import check_stored_secrets, reencrypt_all
from jeroboam.services.wiring import Services
from tests.conftest import Api, RunningServer, make_settings
from tests.support.databases import database_or_skip
from tests.support.errors import first_sentence
from tests.support.identities import ALPHA_MEMBER, ALPHA_MEMBER2, ALPHA_READER, BETA_MEMBER, Identity
from tests.support.server import serve

ALPHA_ADMIN = Identity("alpha-admin", "alpha", "ada", ("admin", "member", "reader"))
ADMIN_ELSEWHERE = Identity("admin", "admin-project", "root", ("admin", "member", "reader"))
ROTATE_HEADERS = {"Content-Type": "application/octet-stream"}  # what magnumclient sends, with no body
WAIT = 60.0

SIMULATED = "Simulated by the sim driver: nothing real was built."


# -- helpers ---------------------------------------------------------------------------------------
def detail(response: httpx.Response) -> str:
    error = response.json()["errors"][0]
    assert error["title"] == first_sentence(error["detail"])
    message: str = error["detail"]
    return message


def make_template(api: Api, name: str, **overrides: Any) -> str:
    body = {
        "name": name,
        "coe": "swarm-mode",
        "image_id": "jeroboam-node",
        "external_network_id": "public",
        "flavor_id": "m1.small",
        "master_flavor_id": "m1.small",
        "driver": "sim",
        **overrides,
    }
    response = api.post("/v1/clustertemplates", json=body)
    assert response.status_code == 201, response.text
    uuid: str = response.json()["uuid"]
    return uuid


def make_cluster(api: Api, template: str, **body: Any) -> str:
    response = api.post("/v1/clusters", json={"cluster_template_id": template, **body})
    assert response.status_code == 202, response.text
    uuid: str = response.json()["uuid"]
    return uuid


def settle(services: Services, uuid: str, status: str = "CREATE_COMPLETE") -> None:
    """As a conductor would leave it (none runs with the ``api`` fixture)."""
    with services.db.transaction() as session:
        cluster = session.scalars(select(Cluster).where(Cluster.uuid == uuid)).one()
        cluster.status = status


def new_csr(
    key: Any = None, *, name: x509.Name = pki.ADMIN_SUBJECT, extensions: list[tuple[Any, bool]] | None = None
) -> str:
    """A CSR as magnumclient and Terraform make them (RSA 2048, CN=admin, O=system:masters)."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    builder = x509.CertificateSigningRequestBuilder().subject_name(name)
    for value, critical in extensions or []:
        builder = builder.add_extension(value, critical=critical)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def ca_of(api: Api, cluster: str, ca_cert_type: str | None = None) -> str:
    params = {"ca_cert_type": ca_cert_type} if ca_cert_type else None
    response = api.get(f"/v1/certificates/{cluster}", params=params)
    assert response.status_code == 200, response.text
    pem: str = response.json()["pem"]
    return pem


def sign(api: Api, cluster: str, csr: str | None = None) -> str:
    response = api.post("/v1/certificates", json={"cluster_uuid": cluster, "csr": csr or new_csr()})
    assert response.status_code == 201, response.text
    pem: str = response.json()["pem"]
    return pem


def certificate_rows(services: Services, uuid: str) -> dict[str, ClusterCertificate]:
    with services.db.transaction() as session:
        rows = session.scalars(select(ClusterCertificate).where(ClusterCertificate.cluster_id == uuid))
        return {row.kind: row for row in rows}


def assert_no_plaintext_private_key(engine: Engine) -> int:
    """Read every column of every row of every table, as stored; returns how many values were read."""
    tables = inspect(engine).get_table_names()
    assert "cluster_certificates" in tables
    seen = 0
    with engine.connect() as connection:
        for table in tables:
            quoted = engine.dialect.identifier_preparer.quote(table)
            for row in connection.execute(text(f"SELECT * FROM {quoted}")):
                for value in row:
                    seen += 1
                    raw = value.decode("latin-1") if isinstance(value, bytes | bytearray) else str(value)
                    assert "PRIVATE KEY" not in raw, f"plaintext private key in table {table}"
    return seen


@pytest.fixture
def alpha(api: Api) -> Api:
    return api.as_(ALPHA_MEMBER)


@pytest.fixture
def swarm(alpha: Api) -> str:
    return make_template(alpha, "swarm")


@pytest.fixture
def cluster(alpha: Api, swarm: str) -> str:
    return make_cluster(alpha, swarm, name="c1")


# -- GET: the cluster's CA ---------------------------------------------------------------------------
def test_show_ca_answers_magnums_shape_and_the_same_ca_every_time(alpha: Api, cluster: str) -> None:
    response = alpha.get(f"/v1/certificates/{cluster}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"cluster_uuid", "pem", "links"}
    assert body["cluster_uuid"] == cluster
    base = alpha.url
    assert body["links"] == [
        {"href": f"{base}/v1/certificates/{cluster}", "rel": "self"},
        {"href": f"{base}/certificates/{cluster}", "rel": "bookmark"},
    ]
    pem = body["pem"]
    assert pem.startswith("-----BEGIN CERTIFICATE-----\n")
    assert pem.endswith("-----END CERTIFICATE-----")
    ca = pki.load_certificate(pem)
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "c1"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca_of(alpha, "c1") == pem  # by name, and not made again
    assert alpha.get(f"/v1/certificates/{cluster}/").json()["pem"] == pem  # trailing slash


def test_ca_cert_types_swarm_has_one_ca_kubernetes_three(alpha: Api, cluster: str) -> None:
    main = ca_of(alpha, cluster)
    for kind in ("etcd", "front_proxy", "front-proxy", "kubelet", "kubernetes"):
        assert ca_of(alpha, cluster, kind) == main
    kubernetes = make_template(alpha, "k8s", coe="kubernetes", image_id="fedora-coreos")
    k8s = make_cluster(alpha, kubernetes, name="k1")
    main = ca_of(alpha, k8s)
    etcd, front_proxy = ca_of(alpha, k8s, "etcd"), ca_of(alpha, k8s, "front_proxy")
    assert len({main, etcd, front_proxy}) == 3
    assert ca_of(alpha, k8s, "front-proxy") == front_proxy
    assert ca_of(alpha, k8s, "kubelet") == main
    cn = pki.load_certificate(etcd).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "k1 etcd"


def test_show_ca_refuses_unknown_query_arguments_and_clusters(alpha: Api, cluster: str) -> None:
    response = alpha.get(f"/v1/certificates/{cluster}", params={"bogus": "1"})
    assert response.status_code == 400
    assert detail(response) == 'Unknown argument: "bogus"'
    missing = "3f16d8ce-589b-4a98-ae81-3c7c65c55a0f"
    response = alpha.get(f"/v1/certificates/{missing}")
    assert response.status_code == 404
    assert detail(response) == f"Cluster {missing} could not be found."


# -- POST: signing -------------------------------------------------------------------------------------
def test_sign_answers_201_with_a_certificate_of_the_cluster_ca(alpha: Api, cluster: str) -> None:
    csr = new_csr()
    response = alpha.post("/v1/certificates", json={"cluster_uuid": "c1", "csr": csr})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"cluster_uuid", "csr", "pem", "links"}
    assert (body["cluster_uuid"], body["csr"]) == (cluster, csr)
    assert body["links"][0] == {"href": f"{alpha.url}/v1/certificates/{cluster}", "rel": "self"}
    pem = body["pem"]
    assert pem.endswith("-----END CERTIFICATE-----")
    assert pki.issued_by(pem, ca_of(alpha, cluster))
    assert pki.load_certificate(pem).subject == pki.ADMIN_SUBJECT
    typed = alpha.post("/v1/certificates", json={"cluster_uuid": cluster, "csr": csr, "ca_cert_type": "etcd"})
    assert typed.status_code == 201
    assert typed.json()["ca_cert_type"] == "etcd"


def test_sign_refusals_in_magnums_words(alpha: Api, cluster: str) -> None:
    missing = "3f16d8ce-589b-4a98-ae81-3c7c65c55a0f"
    response = alpha.post("/v1/certificates", json={"cluster_uuid": missing, "csr": new_csr()})
    assert response.status_code == 400
    assert detail(response) == f"Cluster {missing} could not be found."
    response = alpha.post("/v1/certificates", json={"cluster_uuid": cluster, "csr": "garbage"})
    assert response.status_code == 400
    assert detail(response) == "Received invalid csr garbage."
    response = alpha.post("/v1/certificates", json={"cluster_uuid": cluster})
    assert response.status_code == 400
    assert "csr" in detail(response)
    assert "Mandatory field missing" in detail(response)
    response = alpha.post("/v1/certificates", json={"cluster_uuid": cluster, "csr": ""})
    assert response.status_code == 400
    assert "minimum character requirement of 1" in detail(response)
    response = alpha.post("/v1/certificates", json={"bay_uuid": cluster, "csr": new_csr()})
    assert response.status_code == 400
    assert detail(response).startswith("Unknown attribute for argument certificate")
    weak = new_csr(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    response = alpha.post("/v1/certificates", json={"cluster_uuid": cluster, "csr": weak})
    assert response.status_code == 400
    assert "1024 bits" in detail(response)
    constraints = x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.com")], excluded_subtrees=None)
    critical = new_csr(ec.generate_private_key(ec.SECP256R1()), extensions=[(constraints, True)])
    response = alpha.post("/v1/certificates", json={"cluster_uuid": cluster, "csr": critical})
    assert response.status_code == 400
    assert detail(response) == "Extension 'nameConstraints' not allowed"


# -- policies ------------------------------------------------------------------------------------------
def test_only_the_creator_or_an_admin_of_the_project_reads_the_ca_and_signs(api: Api, cluster: str) -> None:
    csr = new_csr()
    for identity in (ALPHA_MEMBER2, ALPHA_READER):
        other = api.as_(identity)
        response = other.get(f"/v1/certificates/{cluster}")
        assert response.status_code == 403
        assert detail(response) == "Policy doesn't allow certificate:get to be performed."
        response = other.post("/v1/certificates", json={"cluster_uuid": cluster, "csr": csr})
        assert response.status_code == 403
        assert detail(response) == "Policy doesn't allow certificate:create to be performed."
    assert ca_of(api.as_(ALPHA_ADMIN), cluster) == ca_of(api.as_(ALPHA_MEMBER), cluster)
    sign(api.as_(ALPHA_ADMIN), cluster, csr)


@pytest.mark.parametrize("identity", [BETA_MEMBER, ADMIN_ELSEWHERE], ids=["other-project", "admin-other-project"])
def test_other_projects_do_not_see_the_cluster_admin_or_not(api: Api, cluster: str, identity: Identity) -> None:
    other = api.as_(identity)
    response = other.get(f"/v1/certificates/{cluster}")
    assert response.status_code == 404
    assert detail(response) == f"Cluster {cluster} could not be found."
    response = other.post("/v1/certificates", json={"cluster_uuid": cluster, "csr": new_csr()})
    assert response.status_code == 400
    assert detail(response) == f"Cluster {cluster} could not be found."
    assert other.patch(f"/v1/certificates/{cluster}", headers=ROTATE_HEADERS).status_code == 404
    assert other.patch(f"/v1/credentials/{cluster}").status_code == 404


# -- PATCH: CA rotation (accepting it; the conductor's part is below) -------------------------------
def test_rotate_ca_accepts_magnumclients_empty_octet_stream_body(
    api: Api, alpha: Api, cluster: str, server: RunningServer
) -> None:
    settle(server.services, cluster)
    response = alpha.request("PATCH", f"/v1/certificates/{cluster}", headers=ROTATE_HEADERS, content=b"")
    assert response.status_code == 202, response.text
    assert response.json() == {"uuid": cluster}
    shown = alpha.get(f"/v1/clusters/{cluster}").json()
    assert shown["status"] == "UPDATE_IN_PROGRESS"
    with server.services.db.transaction() as session:
        actions = session.scalars(select(Operation.action).where(Operation.cluster_id == cluster)).all()
    assert actions == ["create", "rotate_ca"]
    # A second rotation while the first runs is refused with the reason (Magnum: 400).
    response = api.as_(ALPHA_MEMBER2).patch(f"/v1/certificates/{cluster}", headers=ROTATE_HEADERS)
    assert response.status_code == 409
    assert "while it is UPDATE_IN_PROGRESS" in detail(response)


def test_rotate_ca_refusals(api: Api, alpha: Api, cluster: str, server: RunningServer) -> None:
    response = alpha.patch(f"/v1/certificates/{cluster}", headers=ROTATE_HEADERS)
    assert response.status_code == 409  # still CREATE_IN_PROGRESS here
    settle(server.services, cluster)
    response = api.as_(ALPHA_READER).patch(f"/v1/certificates/{cluster}", headers=ROTATE_HEADERS)
    assert response.status_code == 403
    assert detail(response) == "Policy doesn't allow certificate:rotate_ca to be performed."
    plain = make_template(alpha, "plain", tls_disabled=True)
    insecure = make_cluster(alpha, plain, name="insecure")
    settle(server.services, insecure)
    response = alpha.patch(f"/v1/certificates/{insecure}", headers=ROTATE_HEADERS)
    assert response.status_code == 400
    assert response.json()["errors"][0]["title"] == (
        "Rotating the CA certificate on a non-TLS cluster is not supported"
    )
    assert alpha.patch(f"/v1/certificates/{cluster}", headers=ROTATE_HEADERS).status_code == 202  # at 1.1 too
    old = alpha.as_(ALPHA_MEMBER, "1.1")
    settle(server.services, cluster)
    assert old.patch(f"/v1/certificates/{cluster}", headers=ROTATE_HEADERS).status_code == 202


# -- PATCH: credentials ----------------------------------------------------------------------------------
def test_rotate_credentials_needs_1_12_and_a_member(api: Api, alpha: Api, cluster: str, server: RunningServer) -> None:
    settle(server.services, cluster)
    response = alpha.as_(ALPHA_MEMBER, "1.11").patch(f"/v1/credentials/{cluster}")
    assert response.status_code == 406
    response = api.as_(ALPHA_READER).patch(f"/v1/credentials/{cluster}")
    assert response.status_code == 403
    assert detail(response) == "Policy doesn't allow credential:rotate to be performed."
    response = alpha.patch(f"/v1/credentials/{cluster}", headers={"Content-Type": "application/json"})
    assert response.status_code == 202
    assert response.json() == {"uuid": cluster}
    with server.services.db.transaction() as session:
        last = session.scalars(
            select(Operation).where(Operation.cluster_id == cluster).order_by(Operation.id.desc())
        ).first()
    assert last is not None
    assert (last.action, last.state) == ("rotate_credentials", "pending")
    plain = make_template(alpha, "plain", tls_disabled=True)
    insecure = make_cluster(alpha, plain, name="insecure")
    settle(server.services, insecure)
    response = alpha.patch(f"/v1/credentials/{insecure}")
    assert response.status_code == 400
    assert "non-TLS cluster" in detail(response)


# -- at rest -----------------------------------------------------------------------------------------------
def test_private_keys_are_encrypted_at_rest(alpha: Api, cluster: str, server: RunningServer) -> None:
    sign(alpha, cluster)
    rows = certificate_rows(server.services, cluster)
    assert set(rows) == {"ca"}
    row = rows["ca"]
    assert row.key_id == server.services.keyring.current_id
    assert "PRIVATE KEY" in server.services.keyring.decrypt(row.encrypted_private_key, row.key_id)
    assert assert_no_plaintext_private_key(server.services.db.engine) > 0


# ======================================================================================================
# With a conductor and the sim driver
# ======================================================================================================
class Conducted:
    def __init__(self, url: str, services: Services) -> None:
        self.api = Api(url, ALPHA_MEMBER)
        self.services = services
        driver = services.drivers.get("sim")
        assert isinstance(driver, SimDriver)
        self.sim = driver

    def wait_status(self, uuid: str, *wanted: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while True:
            body: dict[str, Any] = self.api.get(f"/v1/clusters/{uuid}").json()
            if body["status"] in wanted:
                return body
            assert body["status"].endswith("_IN_PROGRESS"), (body["status"], body["status_reason"])
            assert time.monotonic() < deadline, f"cluster {uuid} did not reach {wanted}: {body['status']}"
            time.sleep(0.05)

    def wait_gone(self, uuid: str) -> None:
        deadline = time.monotonic() + WAIT
        while self.api.get(f"/v1/clusters/{uuid}").status_code != 404:
            assert time.monotonic() < deadline, f"cluster {uuid} was not deleted"
            time.sleep(0.05)

    def sim_ca(self, uuid: str) -> str | None:
        state = self.sim.read_state(uuid)
        assert state is not None
        return state.ca_fingerprint


@pytest.fixture(scope="module")
def engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Conducted]:
    workdir: Path = tmp_path_factory.mktemp(f"certificates-{backend}")
    with database_or_skip(backend, workdir) as url:
        settings = make_settings(
            workdir,
            url,
            conductor={"lease_seconds": 5, "poll_interval": 0.2, "health_polling_interval": 3600},
            sim={"state_dir": workdir / "sim", "latency_seconds": 0.0},
        )
        services = Services.build(settings)
        migrate.upgrade(services.db.engine)
        assert isinstance(services.waker, InProcessWaker)
        conductor = Conductor(
            services.db, services.drivers, settings, notifier=NullNotifier(), wakeups=services.waker, host="pki"
        )
        conductor.start()
        try:
            with serve(create_app(settings, services)) as base:
                conducted = Conducted(base, services)
                try:
                    yield conducted
                finally:
                    conducted.api.client.close()
        finally:
            conductor.stop(timeout=10)
            services.db.dispose()


@pytest.fixture(scope="module")
def complete(engine: Conducted) -> Callable[..., str]:
    templates: dict[str, str] = {}

    def make(coe: str = "swarm-mode", *, tls_disabled: bool = False) -> str:
        key = f"{coe}-{tls_disabled}"
        if key not in templates:
            image = "fedora-coreos" if coe == "kubernetes" else "jeroboam-node"
            templates[key] = make_template(engine.api, key, coe=coe, image_id=image, tls_disabled=tls_disabled)
        uuid = make_cluster(engine.api, templates[key])
        engine.wait_status(uuid, "CREATE_COMPLETE")
        return uuid

    return make


def test_the_conductor_gives_a_new_cluster_its_ca_endpoint_and_client_certificates(
    engine: Conducted, complete: Callable[..., str]
) -> None:
    uuid = complete()
    rows = certificate_rows(engine.services, uuid)
    assert set(rows) == {"ca", "server", "client"}
    ca = ca_of(engine.api, uuid)
    assert pki.fingerprint(ca) == rows["ca"].fingerprint == engine.sim_ca(uuid)
    assert pki.issued_by(rows["server"].certificate, ca)
    assert pki.issued_by(rows["client"].certificate, ca)
    assert {"localhost", "127.0.0.1"} <= pki.subject_alt_names(rows["server"].certificate)
    assert pki.load_certificate(rows["client"].certificate).subject == pki.ADMIN_SUBJECT
    body = engine.api.get(f"/v1/clusters/{uuid}").json()
    assert body["api_address"].startswith("tcp://")


def test_ca_rotation_end_to_end(engine: Conducted, complete: Callable[..., str]) -> None:
    uuid = complete()
    old_ca = ca_of(engine.api, uuid)
    old_rows = certificate_rows(engine.services, uuid)
    user_cert = sign(engine.api, uuid)
    assert pki.issued_by(user_cert, old_ca)

    response = engine.api.request("PATCH", f"/v1/certificates/{uuid}", headers=ROTATE_HEADERS, content=b"")
    assert response.status_code == 202, response.text
    body = engine.wait_status(uuid, "UPDATE_COMPLETE")
    assert body["status_reason"] == SIMULATED  # no failure left, only what every sim cluster says

    new_ca = ca_of(engine.api, uuid)
    assert new_ca != old_ca
    rows = certificate_rows(engine.services, uuid)
    assert all(rows[kind].fingerprint != old_rows[kind].fingerprint for kind in ("ca", "server", "client"))
    assert engine.sim_ca(uuid) == pki.fingerprint(new_ca)  # the endpoint got the new CA
    assert pki.issued_by(rows["server"].certificate, new_ca)
    assert not pki.issued_by(rows["server"].certificate, old_ca)
    assert not pki.issued_by(user_cert, new_ca)  # certificates of the old CA stop working
    assert pki.issued_by(sign(engine.api, uuid), new_ca)
    with engine.services.db.transaction() as session:
        operation = session.scalars(
            select(Operation).where(Operation.cluster_id == uuid, Operation.action == "rotate_ca")
        ).one()
    assert operation.state == "succeeded"
    assert rows["ca"].operation_id == operation.uuid


def test_credential_rotation_reissues_the_conductors_client_certificate(
    engine: Conducted, complete: Callable[..., str]
) -> None:
    uuid = complete()
    before = certificate_rows(engine.services, uuid)
    response = engine.api.patch(f"/v1/credentials/{uuid}")
    assert response.status_code == 202, response.text
    engine.wait_status(uuid, "UPDATE_COMPLETE")
    after = certificate_rows(engine.services, uuid)
    assert after["client"].fingerprint != before["client"].fingerprint
    assert (after["ca"].fingerprint, after["server"].fingerprint) == (
        before["ca"].fingerprint,
        before["server"].fingerprint,
    )
    assert pki.issued_by(after["client"].certificate, after["ca"].certificate)


def test_kubernetes_and_tls_disabled_clusters(engine: Conducted, complete: Callable[..., str]) -> None:
    k8s = complete("kubernetes")
    assert engine.api.get(f"/v1/clusters/{k8s}").json()["api_address"].startswith("https://")
    assert pki.fingerprint(ca_of(engine.api, k8s)) == engine.sim_ca(k8s)
    plain = complete("kubernetes", tls_disabled=True)
    assert set(certificate_rows(engine.services, plain)) == {"ca"}  # ca show/sign still work, as upstream
    assert engine.sim_ca(plain) is None  # no TLS material handed to the driver
    sign(engine.api, plain)


def test_deleting_a_cluster_deletes_its_secrets(engine: Conducted, complete: Callable[..., str]) -> None:
    uuid = complete()
    assert certificate_rows(engine.services, uuid)
    assert engine.api.delete(f"/v1/clusters/{uuid}").status_code == 204
    engine.wait_gone(uuid)
    assert certificate_rows(engine.services, uuid) == {}


def test_no_plaintext_private_key_in_any_column_of_any_table(engine: Conducted, complete: Callable[..., str]) -> None:
    uuid = complete()
    sign(engine.api, uuid)
    assert engine.api.patch(f"/v1/credentials/{uuid}").status_code == 202
    engine.wait_status(uuid, "UPDATE_COMPLETE")
    rows = certificate_rows(engine.services, uuid)
    keyring = engine.services.keyring
    for row in rows.values():  # the keys are there, encrypted
        assert "PRIVATE KEY" in keyring.decrypt(row.encrypted_private_key, row.key_id)
    seen = assert_no_plaintext_private_key(engine.services.db.engine)
    print(f"at-rest check: {seen} stored values read, none holds a plaintext private key")


# ======================================================================================================
# Operators: the start-up check and key rotation
# ======================================================================================================
def test_a_wrong_key_is_refused_at_start_and_rotate_key_reencrypts_everything(
    alpha: Api, swarm: str, server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("r1", "r2", "r3"):
        ca_of(alpha, make_cluster(alpha, swarm, name=name))
    db, current = server.services.db, server.services.keyring
    assert check_stored_secrets(db, current) == 1

    wrong = Keyring([Fernet.generate_key()], source="[secrets] encryption_keys")
    with pytest.raises(SecretsError) as caught:
        check_stored_secrets(db, wrong)
    assert caught.value.message.startswith(
        "the configured encryption keys cannot decrypt stored secrets: a secret encrypted with key "
        f"{current.current_id} (which is not configured"
    )
    with pytest.raises(SystemExit) as stopped:  # what `jeroboam up` does with it
        check_secrets(db, wrong)
    assert stopped.value.code == 2
    assert "error: the configured encryption keys cannot decrypt stored secrets" in capsys.readouterr().err
    for key in (*current.keys, *wrong.keys):
        assert key.decode() not in caught.value.message

    new = Fernet.generate_key()
    rotating = Keyring([new, *current.keys], source="test")  # the new key first, the old one still decrypts
    done: list[int] = []
    result = reencrypt_all(db, rotating, batch_size=2, progress=done.append)
    assert (result.reencrypted, result.remaining, result.current_key) == (3, 0, key_id(new))
    assert done == [2, 3]
    retired = Keyring([new], source="test")  # the old key can go now
    assert check_stored_secrets(db, retired) == 1
    assert reencrypt_all(db, rotating).reencrypted == 0  # nothing left to do
    with pytest.raises(SecretsError):
        check_stored_secrets(db, current)


def test_jeroboam_manage_secrets_rotate_key_with_the_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "jeroboam.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n[database]\nconnection = "sqlite:///{tmp_path}/j.sqlite"\n')
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path}/j.sqlite")
    services = Services.build(settings)  # creates <data_dir>/secret.key
    try:
        migrate.upgrade(services.db.engine)
        api_free = services.certificates
        with services.db.transaction() as session:
            session.add(Cluster(uuid="0f6c6f3e-4a1e-4c55-9d0e-1d5a3f1b2c3d", project_id="p", user_id="u",
                                cluster_template_id="t", name="c", labels={}, node_addresses=[],
                                master_addresses=[], health_status_reason={}, conditions=[]))  # fmt: skip
        api_free._create_authority("0f6c6f3e-4a1e-4c55-9d0e-1d5a3f1b2c3d", "ca", "c")
        old = services.keyring.current_id

        assert manage.main(["secrets", "check", "--config", str(config)]) == 0
        assert manage.main(["secrets", "rotate-key", "--generate", "--batch-size", "1", "--config", str(config)]) == 0
        out = capsys.readouterr().out
        assert "1 secret(s) re-encrypted with key" in out
        assert "0 remain under other keys" in out
        keys = [line for line in (tmp_path / "secret.key").read_text().splitlines() if not line.startswith("#")]
        assert len(keys) == 2
        assert key_id(keys[1].encode()) == old
        assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600
        assert services.keyring.current_id == key_id(keys[0].encode())  # the running process re-read the file
        rows = certificate_rows(services, "0f6c6f3e-4a1e-4c55-9d0e-1d5a3f1b2c3d")
        assert rows["ca"].key_id == key_id(keys[0].encode())
        assert "PRIVATE KEY" in services.keyring.decrypt(rows["ca"].encrypted_private_key, rows["ca"].key_id)
        assert manage.main(["secrets", "generate-key"]) == 0
        Fernet(capsys.readouterr().out.strip().encode())
    finally:
        services.db.dispose()
