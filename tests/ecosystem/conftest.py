"""Fixtures of the ecosystem tests: real OpenStack clients (tempest, Heat, Horizon) against Jeroboam.

One Keystone, one set of Glance/Nova/Neutron stand-ins and one ``jeroboam up`` (Keystone mode,
RBAC defaults, the sim driver as default driver) serve every module of this package; all are in
the Keystone catalog, where the clients find them. Each client's own environment is built once
under ``.cache`` (tests/support/venvs.py). Logs and screenshots go to ``.artifacts/ecosystem``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.conftest import JeroboamProcess, running_jeroboam
from tests.support.keystone import KeystoneServer, start_keystone
from tests.support.server import serve
from tests.support.standins import Inventory, default_inventory, endpoints, standins_app

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / ".artifacts" / "ecosystem"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def eco_keystone() -> Iterator[KeystoneServer]:
    server = start_keystone()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def standins(eco_keystone: KeystoneServer) -> Iterator[Inventory]:
    inventory = default_inventory()
    with serve(standins_app(inventory)) as url:
        for service_type, name, endpoint in endpoints(url):
            eco_keystone.register_service(service_type, endpoint, name)
        yield inventory


@pytest.fixture(scope="session")
def eco_jeroboam(
    eco_keystone: KeystoneServer, standins: Inventory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JeroboamProcess]:
    env = {**eco_keystone.jeroboam_env(), "JEROBOAM_DRIVERS__DEFAULT_DRIVER": "sim"}
    with running_jeroboam(tmp_path_factory.mktemp("jeroboam-ecosystem"), env=env) as server:
        eco_keystone.register_service("container-infra", server.endpoint, "magnum")
        yield server
    assert server.returncode == 0, f"jeroboam up exited {server.returncode}; log:\n{server.log_tail()}"
