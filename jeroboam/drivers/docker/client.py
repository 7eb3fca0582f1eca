"""Docker API clients: the host engines, and a cluster's managers over mutual TLS.

The managers' client key comes decrypted from the conductor and must never touch
a disk: it is handed to OpenSSL through an anonymous memory file (``memfd``).
The machine-wide ``REQUESTS_CA_BUNDLE``/proxy variables are ignored
(``trust_env = False``); otherwise requests would swap our CA for the system's.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import docker
import requests
from requests.adapters import HTTPAdapter

from jeroboam.config import DockerEngineSettings

# What a call to an engine raises when the engine is missing, down or refuses: docker-py's own
# errors, and requests' when the socket or host cannot be reached at all.
ENGINE_ERRORS: tuple[type[Exception], ...] = (docker.errors.DockerException, requests.exceptions.RequestException)
API_VERSION = "1.41"  # Debian's docker.io 20.10; fixed, so building a client makes no request
TIMEOUT = 30


def engine_client(engine: DockerEngineSettings, timeout: int = TIMEOUT) -> docker.DockerClient:
    tls: docker.tls.TLSConfig | bool = False
    if engine.tls_cert and engine.tls_key:
        tls = docker.tls.TLSConfig(
            client_cert=(str(engine.tls_cert), str(engine.tls_key)),
            ca_cert=str(engine.tls_ca) if engine.tls_ca else None,
            verify=bool(engine.tls_ca),
        )
    client = docker.DockerClient(base_url=engine.url, version=API_VERSION, tls=tls, timeout=timeout, max_pool_size=16)
    client.api.trust_env = False
    return client


@contextmanager
def _memory_file(data: str) -> Iterator[str]:
    """A path OpenSSL can read ``data`` from, backed by memory only where the OS allows."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("jeroboam-tls", 0)
        try:
            os.write(fd, data.encode())
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.NamedTemporaryFile("w", dir=os.environ.get("XDG_RUNTIME_DIR")) as handle:  # pragma: no cover
        handle.write(data)
        handle.flush()
        yield handle.name


def client_context(ca_pem: str, cert_pem: str, key_pem: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca_pem)
    with _memory_file(cert_pem) as cert, _memory_file(key_pem) as key:
        context.load_cert_chain(cert, key)
    return context


class _ContextAdapter(HTTPAdapter):
    """Every connection uses one prepared SSLContext (CA and client key already in memory)."""

    def __init__(self, context: ssl.SSLContext, **kwargs: Any) -> None:
        self._context = context
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        conn.cert_reqs = "CERT_REQUIRED"  # verification comes from the context's CA, not a bundle path
        conn.ca_certs = None
        conn.ca_cert_dir = None


def manager_client(
    host: str, port: int, ca_pem: str, cert_pem: str, key_pem: str, *, timeout: int = 10
) -> docker.DockerClient:
    """A client of a cluster manager's published TLS API, authenticated with the cluster CA."""
    client = docker.DockerClient(base_url=f"tcp://{host}:{port}", version=API_VERSION, tls=True, timeout=timeout)
    client.api.trust_env = False
    client.api.verify = True
    client.api.mount("https://", _ContextAdapter(client_context(ca_pem, cert_pem, key_pem)))
    return client
