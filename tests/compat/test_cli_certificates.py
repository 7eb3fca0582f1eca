"""The real ``openstack coe ca show/sign/rotate``, ``coe credential rotate`` and ``coe cluster config``
against ``jeroboam up`` (noauth: the default admin), with clusters of the ``sim`` driver.

python-magnumclient writes different things per COE: for swarm / swarm-mode it prints
``DOCKER_HOST`` (the cluster's ``api_address``, ``tcp://host:port``), ``DOCKER_CERT_PATH`` and
``DOCKER_TLS_VERIFY`` and, with ``--output-certs``, writes ``ca.pem``, ``cert.pem`` and ``key.pem``
there; for kubernetes it writes a kubeconfig whose ``server`` is ``api_address``
(``https://host:port``) with the CA and a client certificate it had signed. Both work unchanged.

Run with ``-s`` to see the transcript.
"""

from __future__ import annotations

import base64
import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from jeroboam.pki import x509 as pki
from tests.compat.conftest import Cli, JeroboamProcess, Transcript, json_of, ok, running_jeroboam

pytestmark = pytest.mark.compat

WAIT = 60.0
SIM_SWARM = ("--coe", "swarm-mode", "--image", "jeroboam-node", "--driver", "sim")
SIM_KUBERNETES = ("--coe", "kubernetes", "--image", "fedora-coreos", "--driver", "sim")
COMMON = ("--external-network", "public", "--flavor", "m1.small", "--master-flavor", "m1.small")


@pytest.fixture(scope="module")
def jeroboam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JeroboamProcess]:
    with running_jeroboam(tmp_path_factory.mktemp("jeroboam-pki")) as server:
        yield server
    assert server.returncode == 0, f"jeroboam up exited {server.returncode}; log:\n{server.log_tail()}"


@pytest.fixture(scope="module")
def run_cli(jeroboam: JeroboamProcess, transcript: Transcript) -> Iterator[Cli]:
    shell = os.environ.get("SHELL")
    os.environ["SHELL"] = shell or "/bin/bash"  # `coe cluster config` reads $SHELL (csh or not)
    yield Cli(["--os-auth-type", "none", "--os-endpoint", jeroboam.endpoint], transcript=transcript)
    if shell is None:
        del os.environ["SHELL"]


def show(server: JeroboamProcess, uuid: str) -> dict[str, Any]:
    response = httpx.get(
        f"{server.endpoint}/clusters/{uuid}", headers={"OpenStack-API-Version": "container-infra latest"}, timeout=10
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_status(server: JeroboamProcess, uuid: str, wanted: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while True:
        body = show(server, uuid)
        if body["status"] == wanted:
            print(f"  (cluster {uuid} is {wanted}; api_address {body['api_address']})", flush=True)
            return body
        assert body["status"].endswith("_IN_PROGRESS"), (body["status"], body["status_reason"])
        assert time.monotonic() < deadline, f"cluster {uuid} did not reach {wanted}"
        time.sleep(0.2)


def create_cluster(run_cli: Cli, server: JeroboamProcess, name: str, *template: str) -> str:
    json_of(run_cli("cluster", "template", "create", *template, *COMMON, f"{name}-template"))
    result = ok(run_cli("cluster", "create", "--cluster-template", f"{name}-template", "--node-count", "1", name))
    match = re.search(r"Request to create cluster (\S+) accepted", result.stdout)
    assert match, result.stdout
    uuid = match[1]
    wait_status(server, uuid, "CREATE_COMPLETE")
    return uuid


def pem_in(text: str) -> str:
    match = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.DOTALL)
    assert match, text
    return match[0]


def write_csr(path: Path) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = x509.CertificateSigningRequestBuilder().subject_name(pki.ADMIN_SUBJECT).sign(key, hashes.SHA256())
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return key


def test_ca_show_sign_rotate_and_cluster_config_of_a_swarm_cluster(
    run_cli: Cli, jeroboam: JeroboamProcess, tmp_path: Path
) -> None:
    uuid = create_cluster(run_cli, jeroboam, "swarm-pki", *SIM_SWARM)

    ca = pem_in(ok(run_cli("ca", "show", "swarm-pki")).stdout)
    assert pki.load_certificate(ca + "\n").extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    csr = tmp_path / "user.csr"
    key = write_csr(csr)
    signed = pem_in(ok(run_cli("ca", "sign", "swarm-pki", str(csr))).stdout)
    assert pki.issued_by(signed + "\n", ca + "\n")
    assert pki.load_certificate(signed + "\n").public_key() == key.public_key()

    certs = tmp_path / "swarm"
    certs.mkdir()
    result = ok(run_cli("cluster", "config", "swarm-pki", "--dir", str(certs), "--output-certs"))
    address = show(jeroboam, uuid)["api_address"]
    assert address.startswith("tcp://")
    assert address.endswith(":2376")
    assert f"export DOCKER_HOST={address}\n" in result.stdout
    assert f"export DOCKER_CERT_PATH={certs}\n" in result.stdout
    assert "export DOCKER_TLS_VERIFY=True\n" in result.stdout
    assert sorted(p.name for p in certs.iterdir()) == ["ca.pem", "cert.pem", "key.pem"]
    assert pem_in((certs / "ca.pem").read_text()) == ca
    client = (certs / "cert.pem").read_text() + "\n"
    assert pki.issued_by(client, ca + "\n")
    assert pki.load_certificate(client).subject == pki.ADMIN_SUBJECT
    client_key = serialization.load_pem_private_key((certs / "key.pem").read_bytes(), password=None)
    assert client_key.public_key() == pki.load_certificate(client).public_key()

    result = ok(run_cli("ca", "rotate", "swarm-pki"))
    assert f"Request to rotate the CA certificate for cluster {uuid} has been accepted." in result.stdout
    wait_status(jeroboam, uuid, "UPDATE_COMPLETE")
    rotated = pem_in(ok(run_cli("ca", "show", "swarm-pki")).stdout)
    assert rotated != ca
    assert not pki.issued_by(client, rotated + "\n")  # the old client certificate no longer works
    assert not pki.issued_by(signed + "\n", rotated + "\n")

    result = ok(run_cli("credential", "rotate", "swarm-pki"))
    assert f"Request to rotate credentials for cluster {uuid} accepted." in result.stdout
    wait_status(jeroboam, uuid, "UPDATE_COMPLETE")


def test_cluster_config_of_a_kubernetes_cluster_writes_a_working_kubeconfig(
    run_cli: Cli, jeroboam: JeroboamProcess, tmp_path: Path
) -> None:
    uuid = create_cluster(run_cli, jeroboam, "k8s-pki", *SIM_KUBERNETES)
    ca = pem_in(ok(run_cli("ca", "show", "k8s-pki")).stdout)
    config_dir = tmp_path / "k8s"
    config_dir.mkdir()
    result = ok(run_cli("cluster", "config", "k8s-pki", "--dir", str(config_dir)))
    assert result.stdout.strip() == f"export KUBECONFIG={config_dir}/config"
    kubeconfig = yaml.safe_load((config_dir / "config").read_text())
    [entry] = kubeconfig["clusters"]
    address = show(jeroboam, uuid)["api_address"]
    assert address.startswith("https://")
    assert address.endswith(":6443")
    assert entry["cluster"]["server"] == address
    assert entry["name"] == "k8s-pki"
    assert pem_in(base64.b64decode(entry["cluster"]["certificate-authority-data"]).decode()) == ca
    [user] = kubeconfig["users"]
    client = base64.b64decode(user["user"]["client-certificate-data"]).decode()
    assert pki.issued_by(client, ca + "\n")
    assert pki.load_certificate(client).subject == pki.ADMIN_SUBJECT
    assert kubeconfig["current-context"] == "default"


def test_the_all_in_one_made_its_key_and_stores_no_plaintext_private_key(jeroboam: JeroboamProcess) -> None:
    data_dir = jeroboam.log_path.parent
    key_file = data_dir / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    stored = b"".join(path.read_bytes() for path in data_dir.glob("jeroboam.sqlite*"))
    assert stored
    assert b"PRIVATE KEY" not in stored
    assert b"-----BEGIN CERTIFICATE-----" in stored  # the certificates are there, the keys encrypted
    log = jeroboam.log_path.read_text()
    assert "generated a new encryption key" in log
    assert key_file.read_text().strip().splitlines()[-1] not in log
    print(f"at rest: {len(stored)} bytes of {data_dir}/jeroboam.sqlite* hold no 'PRIVATE KEY'", flush=True)
