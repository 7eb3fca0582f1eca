"""Keystone sign-in in the browser, against the suite's real Keystone: the token lives in the tab's
sessionStorage only, a wrong password is refused next to the password field, an expired or revoked
token signs the user out with a message, and sign-out forgets the token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.compat.conftest import JeroboamProcess, running_jeroboam
from tests.dashboard.conftest import Dashboard
from tests.support.keystone import KeystoneServer

pytestmark = pytest.mark.keystone


@pytest.fixture(scope="module")
def keystone_up(keystone_server: KeystoneServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JeroboamProcess]:
    with running_jeroboam(tmp_path_factory.mktemp("dashboard-keystone"), env=keystone_server.jeroboam_env()) as up:
        yield up


@pytest.fixture
def tab(browser: Browser, keystone_up: JeroboamProcess) -> Iterator[Dashboard]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    dashboard = Dashboard(context.new_page(), keystone_up.url, "keystone")
    yield dashboard
    context.close()
    assert not dashboard.console_errors, dashboard.console_errors


def sign_in(tab: Dashboard, user: str, password: str, project: str) -> None:
    page = tab.page
    tab.open("#/signin")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("User name *").fill(user)
    page.get_by_label("Password *").fill(password)
    page.get_by_label("Project *").fill(project)
    page.get_by_role("button", name="Sign in").click()


def test_keystone_sign_in_token_in_session_only_and_sign_out(tab: Dashboard, keystone_server: KeystoneServer) -> None:
    page = tab.page
    member = keystone_server.users["alpha-member"]
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    sign_in(tab, member.name, "not-the-password", member.project_name)
    password = page.get_by_label("Password *")
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(page.locator(f"#{password.get_attribute('id')}-error")).to_contain_text("Keystone refused")
    tab.shot("keystone-wrong-password")

    sign_in(tab, member.name, member.password, member.project_name)
    expect(page.get_by_role("heading", name="Clusters")).to_be_visible()
    expect(page.locator("#who")).to_contain_text(f"{member.name} @ {member.project_name}")
    tab.shot("keystone-signed-in")
    token = page.evaluate("JSON.parse(sessionStorage.getItem('jeroboam.session')).token")
    assert token
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("JSON.stringify(localStorage)").find(token) < 0
    assert not any(token in url for url in requests)

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('jeroboam.session')") is None


def test_expired_or_revoked_token_signs_out_with_a_message(tab: Dashboard, keystone_server: KeystoneServer) -> None:
    page = tab.page
    member = keystone_server.users["alpha-member"]
    sign_in(tab, member.name, member.password, member.project_name)
    expect(page.get_by_role("heading", name="Clusters")).to_be_visible()

    # A token Keystone no longer accepts: the next API call is a 401, and the user is told.
    page.evaluate(
        "(() => { const s = JSON.parse(sessionStorage.getItem('jeroboam.session'));"
        " s.token = 'gAAAAA-revoked'; sessionStorage.setItem('jeroboam.session', JSON.stringify(s)); })()"
    )
    page.get_by_role("link", name="Cluster templates").click()
    expect(page.get_by_role("alert").first).to_contain_text("session has expired or is no longer valid")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    tab.shot("keystone-revoked")

    # A token past its expiry time is dropped before it is used.
    sign_in(tab, member.name, member.password, member.project_name)
    expect(page.get_by_role("heading", name="Clusters")).to_be_visible()
    page.evaluate(
        "(() => { const s = JSON.parse(sessionStorage.getItem('jeroboam.session'));"
        " s.expires_at = '2000-01-01T00:00:00Z'; sessionStorage.setItem('jeroboam.session', JSON.stringify(s)); })()"
    )
    page.get_by_role("link", name="Cluster templates").click()
    expect(page.get_by_role("alert").first).to_contain_text("Keystone token has expired")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    tab.shot("keystone-expired")
