"""The dashboard in a real browser: Debian's ``chromium`` driven headless by Playwright (from PyPI;
no browser download), against ``jeroboam up`` run as a subprocess. Every step's screenshot goes to
``.artifacts/dashboard/`` (git-ignored), named after the test."""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, expect, sync_playwright

from tests.compat.conftest import JeroboamProcess, running_jeroboam

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / ".artifacts" / "dashboard"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
STEP_TIMEOUT_MS = 30_000  # a single UI expectation; a whole cluster build waits longer, explicitly
SERVER_ENV = {
    # Health checks every 2 s, so a complete cluster shows its nodes' health soon after.
    "JEROBOAM_CONDUCTOR__HEALTH_POLLING_INTERVAL": "2",
}


expect.set_options(timeout=STEP_TIMEOUT_MS)


def launch_chromium(playwright: Playwright) -> Browser:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS))


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JeroboamProcess]:
    with running_jeroboam(tmp_path_factory.mktemp("dashboard"), env=SERVER_ENV) as process:
        yield process


class Dashboard:
    """One browser tab on the dashboard, with a screenshot per step."""

    def __init__(self, page: Page, url: str, name: str) -> None:
        self.page = page
        self.url = url
        self.name = name
        self.step = 0
        self.console_errors: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.console_errors.append(str(exc)))
        page.set_default_timeout(STEP_TIMEOUT_MS)

    def _on_console(self, message: ConsoleMessage) -> None:
        # The browser reports every 4xx answer as "Failed to load resource"; the API's refusals are
        # expected in some flows, and the page shows them. Anything else is a bug of the page.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.console_errors.append(message.text)

    def shot(self, what: str) -> Path:
        self.step += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{self.step:02d}-{re.sub(r'[^a-z0-9]+', '-', what.lower())}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def open(self, route: str = "") -> None:
        self.page.goto(f"{self.url}/dashboard/{route}")

    def sign_in_noauth(self, project: str, user: str = "alice", roles: tuple[str, ...] = ("member", "reader")) -> None:
        self.open("#/signin")
        page = self.page
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.get_by_label("Project *").fill(project)
        page.get_by_label("User", exact=True).fill(user)
        for role in ("admin", "member", "reader"):
            page.get_by_label(re.compile(f"^{role} ")).set_checked(role in roles)
        self.shot("sign-in")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Clusters")).to_be_visible()


@pytest.fixture
def dashboard(browser: Browser, server: JeroboamProcess, request: pytest.FixtureRequest) -> Iterator[Dashboard]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    for old in ARTIFACTS.glob(f"{name}-*.png") if ARTIFACTS.exists() else ():
        old.unlink()
    tab = Dashboard(context.new_page(), server.url, name)
    try:
        yield tab
    finally:
        context.close()
    assert not tab.console_errors, f"errors in the browser console: {tab.console_errors}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def check_config_bundle(path: Path, cluster_name: str) -> dict[str, bytes]:
    """The files of a downloaded configuration, after checking what makes it usable: the four files
    of `openstack coe cluster config`, a key that matches its certificate, and a certificate signed
    by the CA for CN=admin, O=system:masters."""
    with tarfile.open(path) as bundle:
        files = {}
        for member in bundle.getmembers():
            if member.isfile():
                extracted = bundle.extractfile(member)
                assert extracted is not None
                files[member.name] = extracted.read()
    names = ("ca.pem", "cert.pem", "env.sh", "key.pem")
    assert sorted(files) == [f"{cluster_name}/{name}" for name in names]
    ca = x509.load_pem_x509_certificate(files[f"{cluster_name}/ca.pem"])
    cert = x509.load_pem_x509_certificate(files[f"{cluster_name}/cert.pem"])
    key = serialization.load_pem_private_key(files[f"{cluster_name}/key.pem"], password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    cert_key = cert.public_key()
    assert isinstance(cert_key, rsa.RSAPublicKey)
    assert cert_key.public_numbers() == key.public_key().public_numbers()
    cert.verify_directly_issued_by(ca)  # raises unless the CA signed it
    assert {a.oid.dotted_string: a.value for a in cert.subject} == {"2.5.4.3": "admin", "2.5.4.10": "system:masters"}
    return files
