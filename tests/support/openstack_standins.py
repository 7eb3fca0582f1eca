"""TEST STAND-INS for Glance, Nova and Neutron: a small read-only HTTP server answering the lookups
Magnum (and Jeroboam) make, from fixed data. These services cannot run here; the stand-in only
serves what a lookup asks for, under one port with a path prefix per service:

* ``/image``   (Glance):  ``GET /v2/images/<id>``, ``GET /v2/images?name=``, ``GET /v2/schemas/image``
* ``/compute`` (Nova):    ``GET /v2.1/flavors/<id>``, ``GET /v2.1/flavors/detail``,
  ``GET /v2.1/os-keypairs/<name>``
* ``/network`` (Neutron): ``GET /v2.0/networks[/<id>]``, ``GET /v2.0/subnets[/<id>]`` with
  ``name`` and ``router:external`` filters

Every request must carry ``X-Auth-Token`` (401 otherwise); the tokens and paths seen are recorded.
``failure[service] = 500`` makes a service answer that status, ``= 0`` drops the connection.
Register the three endpoints in a Keystone catalog with ``catalog_urls()``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

IMAGE_SCHEMA = {"name": "image", "properties": {"id": {"type": "string"}, "name": {"type": ["null", "string"]}}}


@dataclass
class StandinData:
    images: list[dict[str, Any]] = field(default_factory=list)  # {"id", "name", ...}
    flavors: list[dict[str, Any]] = field(default_factory=list)  # {"id", "name", "vcpus", "ram", "disk"}
    keypairs: list[dict[str, Any]] = field(default_factory=list)  # {"name", "public_key", ...}
    networks: list[dict[str, Any]] = field(default_factory=list)  # {"id", "name", "router:external"}
    subnets: list[dict[str, Any]] = field(default_factory=list)  # {"id", "name", "network_id"}


class OpenStackStandins:
    """The running stand-in server. ``requests`` holds (service, path, token) of each request."""

    def __init__(self, data: StandinData) -> None:
        self.data = data
        self.requests: list[tuple[str, str, str]] = []
        self.failure: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="openstack-standins", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def catalog_urls(self) -> dict[str, str]:
        """Catalog endpoint URL of each service type, as a real deployment registers them."""
        return {"image": f"{self.url}/image", "compute": f"{self.url}/compute/v2.1", "network": f"{self.url}/network"}

    def seen(self, service: str) -> list[tuple[str, str]]:
        with self._lock:
            return [(path, token) for name, path, token in self.requests if name == service]

    def record(self, service: str, path: str, token: str) -> None:
        with self._lock:
            self.requests.append((service, path, token))

    # -- answers ------------------------------------------------------------------------------------
    def answer(self, service: str, path: str, query: dict[str, str]) -> tuple[int, Any]:
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if service == "image" and parts[:1] == ["v2"]:
            return self._glance(parts[1:], query)
        if service == "compute" and parts[:1] == ["v2.1"]:
            return self._nova(parts[1:])
        if service == "network" and parts[:1] == ["v2.0"]:
            return self._neutron(parts[1:], query)
        return 404, {"error": "not found"}

    def _glance(self, parts: list[str], query: dict[str, str]) -> tuple[int, Any]:
        if parts == ["schemas", "image"]:
            return 200, IMAGE_SCHEMA
        if parts == ["images"]:
            return 200, {"images": _filtered(self.data.images, query)}
        if len(parts) == 2 and parts[0] == "images":
            return _one(self.data.images, "id", parts[1], None)
        return 404, {"error": "not found"}

    def _nova(self, parts: list[str]) -> tuple[int, Any]:
        if parts == ["flavors", "detail"]:
            return 200, {"flavors": self.data.flavors}
        if len(parts) == 2 and parts[0] == "flavors":
            return _one(self.data.flavors, "id", parts[1], "flavor")
        if len(parts) == 2 and parts[0] == "os-keypairs":
            return _one(self.data.keypairs, "name", parts[1], "keypair")
        return 404, {"itemNotFound": {"code": 404}}

    def _neutron(self, parts: list[str], query: dict[str, str]) -> tuple[int, Any]:
        collections = {"networks": self.data.networks, "subnets": self.data.subnets}
        if len(parts) == 1 and parts[0] in collections:
            return 200, {parts[0]: _filtered(collections[parts[0]], query)}
        if len(parts) == 2 and parts[0] in collections:
            return _one(collections[parts[0]], "id", parts[1], parts[0][:-1])
        return 404, {"NeutronError": {"type": "NotFound"}}


def _filtered(items: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    def matches(item: dict[str, Any]) -> bool:
        for key, value in query.items():
            if key == "router:external":
                if bool(item.get(key)) != (value.lower() == "true"):
                    return False
            elif key in ("name", "id") and item.get(key) != value:
                return False
        return True

    return [item for item in items if matches(item)]


def _one(items: list[dict[str, Any]], key: str, value: str, wrapper: str | None) -> tuple[int, Any]:
    for item in items:
        if str(item.get(key)) == value:
            return 200, item if wrapper is None else {wrapper: item}
    return 404, {"error": "not found"}


def _handler(standins: OpenStackStandins) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            service, _, rest = url.path.lstrip("/").partition("/")
            token = self.headers.get("X-Auth-Token") or ""
            standins.record(service, "/" + rest + (f"?{url.query}" if url.query else ""), token)
            failure = standins.failure.get(service)
            if failure == 0:
                self.close_connection = True
                self.connection.close()
                return
            if failure is not None:
                self._send(failure, {"error": "stand-in failure"})
                return
            if not token:
                self._send(401, {"error": "no token"})
                return
            query = {key: values[-1] for key, values in parse_qs(url.query).items()}
            self._send(*standins.answer(service, "/" + rest, query))

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    return Handler


@contextmanager
def running_standins(data: StandinData) -> Iterator[OpenStackStandins]:
    standins = OpenStackStandins(data)
    standins.start()
    try:
        yield standins
    finally:
        standins.stop()
