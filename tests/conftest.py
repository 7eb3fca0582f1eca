"""Fixtures shared by the whole suite: settings, a real server per database backend, clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete

from jeroboam.api.app import create_app
from jeroboam.config import Settings, load_settings
from jeroboam.db import migrate
from jeroboam.db.models import Base
from jeroboam.services.wiring import Services
from tests.support.databases import BACKENDS, BackendUnavailableError, fresh_database
from tests.support.identities import ADMIN, Identity
from tests.support.keystone import KeystoneServer, keystone_session
from tests.support.server import serve

MICROVERSION = "OpenStack-API-Version"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec else None
        if backend in ("postgresql", "mariadb"):
            item.add_marker(getattr(pytest.mark, backend))


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jeroboam")


def make_settings(workdir: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings of a test server. A template that names no driver and that no real driver builds
    (kubernetes) gets the simulation, as the operator of a test bed configures it."""
    overrides.setdefault("drivers", {"fallback_driver": "sim"})
    return load_settings(data_dir=workdir, database={"connection": database_url}, **overrides)


# The HTTP clients that Api made, strongly held so that none is left to the garbage collector with an
# open loopback connection (its ResourceWarning would surface in whichever later test collects it).
_clients_opened: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_the_clients_a_test_opened() -> Iterator[None]:
    already = len(_clients_opened)
    yield
    while len(_clients_opened) > already:
        _clients_opened.pop().close()


class Api:
    """An HTTP client of a running server that speaks as one identity and microversion."""

    def __init__(
        self,
        url: str,
        identity: Identity | None = ADMIN,
        version: str | None = "latest",
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url
        self.identity = identity
        self.version = version
        # Identity and microversion are headers of each request: views of one server share a client
        # (and its connections). A client made here is closed at the end of the test that made it.
        if client is None:
            client = httpx.Client(base_url=url, timeout=30)
            _clients_opened.append(client)
        self.client = client

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.identity is not None:
            headers.update(self.identity.headers)
        if self.version is not None:
            headers[MICROVERSION] = f"container-infra {self.version}"
        headers.update(extra or {})
        return headers

    def as_(self, identity: Identity | None, version: str | None = None) -> Api:
        return Api(self.url, identity, version or self.version, client=self.client)

    def without_microversion(self, identity: Identity | None) -> Api:
        """The same server as ``identity`` sending no microversion header (Magnum's 1.1)."""
        return Api(self.url, identity, None, client=self.client)

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        return self.client.request(method, path, headers=self.headers(headers), **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.request("POST", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)


class RunningServer:
    def __init__(self, url: str, services: Services, backend: str) -> None:
        self.url = url
        self.services = services
        self.backend = backend

    def wipe(self) -> None:
        with self.services.db.transaction() as session:
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(delete(table))


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def server_on(workdir: Path) -> Iterator[Callable[[str], RunningServer]]:
    """Start (once per backend) a migrated server; skip a backend that cannot be reached."""
    running: dict[str, RunningServer] = {}
    stack: list[Any] = []

    def start(backend: str) -> RunningServer:
        if backend in running:
            return running[backend]
        database = fresh_database(backend, workdir)
        try:
            url = database.__enter__()
        except BackendUnavailableError as exc:
            pytest.skip(f"{backend} backend skipped: {exc}")
        stack.append(database)
        settings = make_settings(workdir, url)
        services = Services.build(settings)
        migrate.upgrade(services.db.engine)
        server = serve(create_app(settings, services))
        base = server.__enter__()
        stack.append(server)
        running[backend] = RunningServer(base, services, backend)
        return running[backend]

    yield start
    for manager in reversed(stack):
        manager.__exit__(None, None, None)
    for server in running.values():
        server.services.close()


@pytest.fixture
def server(server_on: Callable[[str], RunningServer], backend: str) -> RunningServer:
    """A running server on each reachable backend, emptied before the test."""
    running = server_on(backend)
    running.wipe()
    return running


@pytest.fixture
def api(server: RunningServer) -> Iterator[Api]:
    client = Api(server.url)
    yield client
    client.client.close()


@pytest.fixture(scope="session")
def keystone_server() -> Iterator[KeystoneServer]:
    """A real Keystone (installed into .cache/keystone-venv on first use), shared by the session."""
    yield from keystone_session()
