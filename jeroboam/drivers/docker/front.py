"""The API front of a cluster with ``master_lb_enabled``: one endpoint that survives the loss of any manager.

Magnum puts a load balancer in front of the masters when a cluster asks for ``master_lb_enabled``.
Here it is one small container per cluster on the cluster's engine (``jeroboam/front``: Debian's
haproxy, ``image.py``), on the cluster's network at a fixed address, its port published on the
engine host's ``publish_address`` only, and labelled with the cluster like every node (a delete
removes it with them). It passes TCP through: TLS runs end to end between the client and a
manager, so the front holds no key, and the managers' certificate names the address clients
dial (``publish_address``) and the front's own.

Its backends are the managers' fixed slot addresses, which a replaced manager keeps: a manager's
loss or replacement changes nothing in its configuration; a control-plane resize re-renders it
(the container is recreated on the same port). Each backend is checked every second with a TCP
connect; a connection to a manager that died between two checks is retried on another one
(``option redispatch``). ``balance first``: every connection goes to the first manager that
answers, the leader after a create, so requests take no extra hop while it lives.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from docker.errors import APIError, NotFound
from docker.models.containers import Container

from jeroboam.domain.specs import ClusterSpec
from jeroboam.drivers.docker import labels
from jeroboam.drivers.docker.client import ENGINE_ERRORS
from jeroboam.drivers.docker.image import FRONT_CONFIG_PATH
from jeroboam.drivers.docker.nodes import TLS_PORT, PortTakenError, tar_of
from jeroboam.drivers.docker.placement import Home, unreachable
from jeroboam.errors import RetryableError

log = logging.getLogger(__name__)

CHECK_INTERVAL_MS = 1000


@dataclass(frozen=True)
class Front:
    container: Container
    port: int

    @property
    def running(self) -> bool:
        return bool(self.container.attrs.get("State", {}).get("Running"))


def render(cluster_uuid: str, backends: Sequence[tuple[str, str]]) -> str:
    """haproxy's configuration: TCP on the TLS port, to the first of ``backends`` (name, address) that answers."""
    servers = "\n".join(f"    server {name} {address}:{TLS_PORT}" for name, address in backends)
    return f"""# API front of cluster {cluster_uuid} (Jeroboam): TCP passthrough, TLS ends at the managers.
global
    maxconn 1000

defaults
    mode tcp
    timeout connect 1s
    timeout check 1s
    timeout client 1h
    timeout server 1h
    retries 2
    option redispatch 1

frontend api
    bind :{TLS_PORT}
    default_backend managers

backend managers
    balance first
    default-server check inter {CHECK_INTERVAL_MS} fall 1 rise 1
{servers}
"""


def backends(home: Home, spec: ClusterSpec) -> list[tuple[str, str]]:
    """The managers a front of ``spec`` leads to: each master slot's node name and fixed address."""
    return [
        (labels.node_name(spec.name, group.name, slot), home.manager_address(slot))
        for group in spec.masters
        for slot in range(group.node_count)
    ]


def digest(config: str, image: str) -> str:
    return hashlib.sha256(f"{image}\n{config}".encode()).hexdigest()[:16]


class Fronts:
    def find(self, home: Home, cluster_uuid: str) -> Front | None:
        try:
            container = home.engine.client.containers.get(labels.front_name(cluster_uuid))
        except NotFound:
            return None
        except ENGINE_ERRORS as exc:
            raise unreachable(home.engine.settings, exc) from exc
        port = container.labels.get(labels.API_PORT)
        return Front(container, int(port)) if port else None

    def ensure(self, home: Home, spec: ClusterSpec, image: str, ports: Callable[[], int]) -> Front:
        """The cluster's front, running with the configuration of the current managers: made (on a
        free port of ``ports``), recreated on its port when the managers or the image changed, or
        started again."""
        config = render(spec.uuid, backends(home, spec))
        wanted = digest(config, image)
        front = self.find(home, spec.uuid)
        port = front.port if front is not None else None
        if front is not None and front.container.labels.get(labels.CONFIG) != wanted:
            log.info("cluster %s: the managers changed; recreating the API front", spec.uuid)
            front.container.remove(force=True)
            front = None
        if front is not None:
            if not front.running:
                front.container.start()
                front.container.reload()
            return front
        while True:
            try:
                return self._create(home, spec, image, config, wanted, port or ports())
            except PortTakenError:
                port = None

    def _create(self, home: Home, spec: ClusterSpec, image: str, config: str, wanted: str, port: int) -> Front:
        api = home.engine.client.api
        name = labels.front_name(spec.uuid)
        tags = {
            labels.CLUSTER: spec.uuid,
            labels.PROJECT: spec.project_id,
            labels.ROLE: labels.FRONT,
            labels.API_PORT: str(port),
            labels.CONFIG: wanted,
        }
        host_config = api.create_host_config(
            port_bindings={TLS_PORT: (home.engine.settings.publish_address, port)},
            restart_policy={"Name": "unless-stopped"},
        )
        endpoint = api.create_endpoint_config(ipv4_address=home.front_address())
        try:
            created = api.create_container(
                image,
                name=name,
                hostname=name,
                labels=tags,
                host_config=host_config,
                networking_config=api.create_networking_config({str(home.network.name): endpoint}),  # type: ignore[arg-type]
                ports=[TLS_PORT],
            )
        except APIError as exc:
            if exc.status_code == 409:  # made by an interrupted pass: the next pass checks it
                raise RetryableError(f"the API front of cluster {spec.uuid} is being made", 1) from exc
            raise RetryableError(f"could not create the API front on engine {home.engine.name}: {exc}", 5) from exc
        container = home.engine.client.containers.get(created["Id"])
        container.put_archive("/", tar_of({FRONT_CONFIG_PATH[1:]: (config.encode(), 0o644)}))
        try:
            container.start()
        except APIError as exc:
            text = str(exc).lower()
            with contextlib.suppress(NotFound):
                container.remove(force=True)
            if "port is already allocated" in text or "address already in use" in text:
                raise PortTakenError(str(exc)) from exc
            raise RetryableError(f"could not start the API front of cluster {spec.uuid}: {exc}", 5) from exc
        container.reload()
        log.info("cluster %s: API front on port %s", spec.uuid, port)
        return Front(container, port)
