"""The private image registry of a cluster whose template has ``registry_enabled``.

One container per cluster on the cluster's engine (``jb-<uuid8>-registry``, role ``registry``, not a
node), of the locally built registry image (``image.registry_image``), with its data on a named
volume of its own: it outlives every node, so replacing the managers (an upgrade) keeps the images;
the cluster's delete removes both, as everything labelled with the cluster.

It serves TLS with the cluster endpoint's server certificate (signed by the cluster's CA; its names
include the registry's addresses, ``DockerDriver.tls_server_names``) in two places:

* on the cluster network at a fixed address (``Home.registry_ip``, port 5000): nodes pull
  ``<ip>:5000/<name>``, trusting the cluster's CA through their engine's
  ``/etc/docker/certs.d/<ip>:5000/ca.crt`` (``nodes.trust_registry``);
* on the engine host's ``publish_address`` (127.0.0.1 by default) at a port of ``[docker]
  api_ports``: users push ``127.0.0.1:<port>/<name>`` from the host (Docker treats 127.0.0.0/8 as
  an insecure registry, so a host engine pushes without configuration; other clients verify the
  certificate with the ``ca.pem`` of ``coe cluster config``).

There is no authentication: whoever reaches those addresses may pull and push (an engine serves one
project at a time by default, docs/security.md).
"""

from __future__ import annotations

import http.client
import logging
import ssl
import time
from collections.abc import Callable

from docker.errors import APIError, NotFound
from docker.models.containers import Container

from jeroboam.domain.specs import ClusterSpec, RegistryObservation, TlsMaterial
from jeroboam.drivers.docker import labels
from jeroboam.drivers.docker.client import ENGINE_ERRORS
from jeroboam.drivers.docker.image import (
    REGISTRY_CERT,
    REGISTRY_DATA,
    REGISTRY_KEY,
    REGISTRY_PORT,
    ImageBuildError,
    registry_image,
)
from jeroboam.drivers.docker.nodes import (
    CERT_DIR,
    PortTakenError,
    fingerprint,
    installed_fingerprint,
    tar_of,
)
from jeroboam.drivers.docker.nodes import registry_address as address
from jeroboam.drivers.docker.placement import Home, unreachable
from jeroboam.errors import PermanentError, RetryableError

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 3.0  # seconds for one HTTPS request to the registry
READY_TIMEOUT = 20.0  # seconds a new or restarted registry has to answer
FINGERPRINT_FILE = f"{CERT_DIR}/fingerprint"  # read back by nodes.installed_fingerprint


def container_name(cluster_uuid: str) -> str:
    return labels.container_name(cluster_uuid, labels.REGISTRY)


def volume_name(cluster_uuid: str) -> str:
    return f"{container_name(cluster_uuid)}-data"


class ClusterRegistry:
    def __init__(self, publish_address: Callable[[Home], str]) -> None:
        self._publish_address = publish_address
        self._images: dict[str, str] = {}

    # -- converging ------------------------------------------------------------------------------
    def ensure(self, home: Home, spec: ClusterSpec, ports: Callable[[], int]) -> RegistryObservation:
        """The registry runs the current image with the current certificate and answers."""
        tls = spec.tls
        if tls is None:
            raise RetryableError("the cluster's certificates are not issued yet", 1)
        image = self._image(home)
        container = self._find(home, spec.uuid)
        kept: list[int] = []  # a re-created registry keeps its port while it is free
        if container is not None and container.attrs.get("Config", {}).get("Image") != image:
            log.info("cluster %s: registry moves to image %s (its data volume stays)", spec.uuid, image)
            kept = [int(port) for port in [container.labels.get(labels.REGISTRY_PORT)] if port]
            container.remove(force=True, v=False)
            container = None
        if container is None:
            while container is None:
                try:
                    container = self._create(home, spec, image, tls, lambda: kept.pop() if kept else ports())
                except PortTakenError:
                    log.info("cluster %s: the registry's port is taken; trying the next", spec.uuid)
        elif installed_fingerprint(container) != fingerprint(tls):
            log.info("cluster %s: new TLS material for the registry; restarting it", spec.uuid)
            self._install_certs(container, tls)
            container.restart(timeout=5)
        elif container.status != "running":
            container.start()
        container.reload()
        seen = self._observe(home, container, tls)
        deadline = time.monotonic() + READY_TIMEOUT
        while not seen.ok and time.monotonic() < deadline:
            time.sleep(0.2)
            container.reload()
            seen = self._observe(home, container, tls)
        if not seen.ok:
            raise RetryableError(f"the cluster's registry does not answer yet ({seen.reason})", 2)
        return seen

    def remove(self, home: Home, cluster_uuid: str) -> None:
        """No registry (the template no longer asks for one): the container goes, its data volume
        stays until the cluster is deleted (a template that asks again finds the images)."""
        container = self._find(home, cluster_uuid)
        if container is not None:
            log.info("cluster %s: removing the registry container (its template has no registry_enabled)", cluster_uuid)
            container.remove(force=True, v=False)

    def observe(self, home: Home, spec: ClusterSpec) -> RegistryObservation:
        container = self._find(home, spec.uuid)
        if container is None:
            return RegistryObservation(address(home), "", False, "the registry container does not exist")
        return self._observe(home, container, spec.tls)

    # -- internals -------------------------------------------------------------------------------
    def _observe(self, home: Home, container: Container, tls: TlsMaterial | None) -> RegistryObservation:
        port = container.labels.get(labels.REGISTRY_PORT, "")
        push = f"{self._publish_address(home)}:{port}"
        if container.status != "running":
            return RegistryObservation(address(home), push, False, f"the registry container is {container.status}")
        if tls is None:
            return RegistryObservation(address(home), push, True)
        return RegistryObservation(address(home), push, *_probe(self._publish_address(home), int(port), tls))

    def _find(self, home: Home, cluster_uuid: str) -> Container | None:
        try:
            return home.engine.client.containers.get(container_name(cluster_uuid))
        except NotFound:
            return None
        except ENGINE_ERRORS as exc:
            raise unreachable(home.engine.settings, exc) from exc

    def _image(self, home: Home) -> str:
        tag = self._images.get(home.engine.name)
        if tag is None:
            try:
                tag = registry_image(
                    home.engine.client, progress=lambda line: log.info("engine %s: %s", home.engine.name, line)
                )
            except ImageBuildError as exc:
                raise PermanentError(str(exc)) from exc
            except ENGINE_ERRORS as exc:
                raise unreachable(home.engine.settings, exc) from exc
            self._images[home.engine.name] = tag
        return tag

    def _create(
        self, home: Home, spec: ClusterSpec, image: str, tls: TlsMaterial, ports: Callable[[], int]
    ) -> Container:
        port = ports()
        name = container_name(spec.uuid)
        tags = {
            labels.CLUSTER: spec.uuid,
            labels.PROJECT: spec.project_id,
            labels.ROLE: labels.REGISTRY,
            labels.REGISTRY_PORT: str(port),
        }
        client = home.engine.client
        api = client.api
        volume = volume_name(spec.uuid)
        try:
            client.volumes.get(volume)
        except NotFound:
            kept = {key: value for key, value in tags.items() if key != labels.REGISTRY_PORT}
            client.volumes.create(volume, driver="local", labels=kept)
        host_config = api.create_host_config(
            binds={volume: {"bind": REGISTRY_DATA, "mode": "rw"}},
            port_bindings={REGISTRY_PORT: (self._publish_address(home), port)},
            restart_policy={"Name": "unless-stopped"},
        )
        endpoint = api.create_endpoint_config(ipv4_address=home.registry_ip)
        try:
            created = api.create_container(
                image,
                name=name,
                labels=tags,
                host_config=host_config,
                networking_config=api.create_networking_config({str(home.network.name): endpoint}),  # type: ignore[arg-type]
                ports=[REGISTRY_PORT],
            )
        except APIError as exc:
            if exc.status_code == 409:  # made by an earlier, interrupted pass: the next pass converges it
                raise RetryableError("the cluster's registry container is being created", 1) from exc
            raise RetryableError(f"could not create the cluster's registry on {home.engine.name}: {exc}", 5) from exc
        container = client.containers.get(created["Id"])
        self._install_certs(container, tls)
        try:
            container.start()
        except APIError as exc:
            text = str(exc).lower()
            if "port is already allocated" in text or "address already in use" in text:
                container.remove(force=True, v=False)
                raise PortTakenError(str(exc)) from exc
            raise RetryableError(f"could not start the cluster's registry: {exc}", 5) from exc
        log.info("cluster %s: registry at %s, published on port %s", spec.uuid, address(home), port)
        return container

    @staticmethod
    def _install_certs(container: Container, tls: TlsMaterial) -> None:
        container.put_archive(
            "/",
            tar_of(
                {
                    REGISTRY_CERT[1:]: (tls.server_cert_pem.encode(), 0o644),
                    REGISTRY_KEY[1:]: (tls.server_key_pem.encode(), 0o600),
                    FINGERPRINT_FILE[1:]: (fingerprint(tls).encode(), 0o644),
                }
            ),
        )


def _probe(host: str, port: int, tls: TlsMaterial) -> tuple[bool, str]:
    """``GET /v2/`` over TLS, verified against the cluster's CA (one bounded request)."""
    context = ssl.create_default_context(cadata=tls.ca_cert_pem)
    connection = http.client.HTTPSConnection(host, port, timeout=PROBE_TIMEOUT, context=context)
    try:
        connection.request("GET", "/v2/")
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return False, f"the registry does not answer on {host}:{port}: {exc}"
    finally:
        connection.close()
    if status != 200:
        return False, f"the registry answers HTTP {status} on {host}:{port}"
    return True, ""
