"""Usable by keyboard alone, every control labelled, and readable on a narrow window."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.compat.conftest import JeroboamProcess
from tests.dashboard.conftest import Dashboard
from tests.dashboard.test_flows import create_cluster, create_template

UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden' && el.labels.length === 0 && !el.getAttribute('aria-label'))
    .map((el) => el.name || el.id)"""
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture
def narrow(browser: Browser, server: JeroboamProcess) -> Iterator[Dashboard]:
    context = browser.new_context(viewport={"width": 390, "height": 800}, accept_downloads=True)
    tab = Dashboard(context.new_page(), server.url, "narrow")
    yield tab
    context.close()
    assert not tab.console_errors, tab.console_errors


def tab_to(page: Page, name: str, limit: int = 40) -> None:
    """Press Tab until the focused element's accessible text is ``name``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent.trim() || document.activeElement.value || ''")
        if focused == name:
            return
    raise AssertionError(f"{name!r} not reached with Tab")


def test_keyboard_only_sign_in_and_navigation_on_a_narrow_window(narrow: Dashboard) -> None:
    page = narrow.page
    narrow.open("#/signin")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate(UNLABELLED) == []
    page.get_by_label("Project *").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("dash-keys")
    page.keyboard.press("Enter")  # submits the form
    expect(page.get_by_role("heading", name="Clusters")).to_be_visible()
    tab_to(page, "Create cluster")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Create a cluster")).to_be_visible()
    narrow.shot("narrow-keyboard")
    assert page.evaluate(OVERFLOW) <= 0


def test_every_control_labelled_and_no_sideways_scroll_when_narrow(narrow: Dashboard) -> None:
    page = narrow.page
    narrow.sign_in_noauth("dash-narrow")
    create_template(narrow, "narrow-t")
    page.get_by_role("link", name="Create a cluster from it").click()
    expect(page.get_by_role("heading", name="Create a cluster")).to_be_visible()
    assert page.evaluate(UNLABELLED) == []
    narrow.page.goto(f"{narrow.url}/dashboard/#/templates/new")
    expect(page.get_by_label("Image *")).to_be_visible()
    assert page.evaluate(UNLABELLED) == []
    create_cluster(narrow, "narrow-t", "slim", "sim_latency=0.3")
    expect(page.locator(".badges")).to_contain_text("CREATE_COMPLETE", timeout=120_000)
    assert page.evaluate(UNLABELLED) == []
    assert page.evaluate(OVERFLOW) <= 0  # wide tables scroll inside their own box
    narrow.shot("narrow-cluster")
    page.get_by_role("link", name="Clusters", exact=True).click()
    expect(page.get_by_role("cell", name="slim")).to_be_visible()
    assert page.evaluate(OVERFLOW) <= 0
    narrow.shot("narrow-clusters")
