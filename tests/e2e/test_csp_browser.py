"""The pages under their Content-Security-Policy in a real browser (Debian's Chromium): no
script, style, font or image of the board, login, portal, console, checkpoint, reports,
scenario lab and receipt pages is blocked, the console's confirmations are still asked (by a
static script), and no other site can frame a page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from borderflow.clock import FixedClock
from borderflow.config import Settings
from tests.conftest import PASSWORD, served

pytestmark = pytest.mark.e2e


@pytest.fixture
def site(settings: Settings, clock: FixedClock) -> Iterator[httpx.Client]:
    with served(settings, clock) as client:
        yield client


def _watched(browser: Browser, site: httpx.Client) -> tuple[Page, list[str]]:
    """A page that records every policy violation the browser reports."""
    page = browser.new_context(base_url=str(site.base_url)).new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text)
            if "Content Security Policy" in m.text else None)
    page.add_init_script("""document.addEventListener('securitypolicyviolation', e =>
        console.error('Content Security Policy: ' + e.violatedDirective + ' ' + e.blockedURI));
    """)
    return page, blocked


def _login(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_no_page_has_anything_blocked_by_the_policy(browser: Browser, site: httpx.Client
                                                    ) -> None:
    page, blocked = _watched(browser, site)
    for path in ("/board", "/board?screen=large", "/login", "/board?lang=zh"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    for username, paths in (("enterprise", ("/portal", "/portal/declarations/new", "/reports")),
                            ("regulator", ("/console", "/sim")),
                            ("customs", ("/officer",))):
        page.context.clear_cookies()
        _login(page, username)
        for path in paths:
            page.goto(path)
            page.wait_for_load_state("networkidle")
    assert blocked == []


def test_the_consoles_confirmation_is_asked_and_cancelling_sends_nothing(
    browser: Browser, site: httpx.Client
) -> None:
    page, blocked = _watched(browser, site)
    _login(page, "regulator")
    page.goto("/console")
    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.select_option("#c-gate", "huu-nghi")
    page.select_option("#c-kind", "closure")
    page.fill("#c-hours", "3")
    page.fill("#c-reason", "landslide on the approach road")
    page.click("form[action='/console/controls'] button[type=submit]")
    page.wait_for_timeout(500)
    assert asked
    assert "apply it now?" in asked[0]  # the question names the gate and the hours
    assert "3" in asked[0]
    assert page.url.endswith("/console")  # cancelled: still here, nothing sent
    assert blocked == []


def test_no_site_can_frame_a_page(browser: Browser, site: httpx.Client) -> None:
    response = site.get("/console")
    assert response.headers["x-frame-options"] == "DENY"
    page, _ = _watched(browser, site)
    framed: list[str] = []
    page.on("console", lambda m: framed.append(m.text))
    page.set_content(f'<iframe src="{site.base_url}/board"></iframe>')
    page.wait_for_timeout(1000)
    frame = page.frames[-1]
    assert frame.url in ("about:blank", "chrome-error://chromewebdata/") or \
        any("frame" in t.lower() for t in framed)
