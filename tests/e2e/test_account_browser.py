"""In a real browser (Debian's Chromium, headless, driven by Playwright), in Vietnamese and
Chinese: an official sets up the second factor from the account page (QR code drawn by the
app, first code, recovery codes shown once), logs out, and logs in again with the password
then the code; a second browser's session is ended from the list and opens nothing more."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from borderflow.clock import FixedClock
from borderflow.config import Settings
from tests.conftest import PASSWORD, served

SECOND_FACTOR = {"vi": "Yếu tố xác thực thứ hai", "zh": "第二重验证"}
SET_UP = {"vi": "Đã thiết lập", "zh": "已设置"}


@pytest.fixture
def site(settings: Settings, clock: FixedClock) -> Iterator[httpx.Client]:
    with served(settings, clock) as client:
        yield client


def _context(browser: Browser, site: httpx.Client, lang: str) -> BrowserContext:
    return browser.new_context(base_url=str(site.base_url), locale=lang,
                               viewport={"width": 1280, "height": 900})


def _password(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")


@pytest.mark.e2e
@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_an_official_sets_up_the_second_factor_and_logs_in_with_the_code(
    browser: Browser, site: httpx.Client, clock: FixedClock, lang: str
) -> None:
    other = _context(browser, site, lang).new_page()
    _password(other, "customs")
    other.wait_for_url("**/officer")
    page = _context(browser, site, lang).new_page()
    _password(page, "customs")
    page.wait_for_url("**/officer")
    page.click("header a.account")
    page.wait_for_url("**/account")
    expect(page.locator("h2#second-factor-title")).to_have_text(SECOND_FACTOR[lang])
    # the other browser's session is listed and ended from here
    expect(page.locator("tr[id^=session-]")).to_have_count(2)
    page.locator("tr[id^=session-]").last.locator("button").click()
    page.wait_for_url("**/account?done=ended")
    expect(page.locator("tr[id^=session-]")).to_have_count(1)
    other.goto("/officer")
    assert "/login" in other.url
    # set up: the QR code is an inline drawing, the key is shown beside it
    page.click("#second-factor form button")
    expect(page.locator("figure.qr svg")).to_be_visible()
    secret = page.locator("code.secret").inner_text()
    page.fill("#code", pyotp.TOTP(secret).at(clock.now()))
    page.click("#second-factor form button")
    expect(page.locator("ol.recovery-codes li")).to_have_count(10)
    expect(page.locator("#second-factor")).to_contain_text(SET_UP[lang])
    # log out; the password alone leads to the code
    page.click("header form.logout button")
    page.wait_for_url("**/board")
    clock.set(clock.now() + timedelta(seconds=30))
    _password(page, "customs")
    expect(page.locator("#code")).to_be_focused()
    page.fill("#code", pyotp.TOTP(secret).at(clock.now()))
    page.click("main button[type=submit]")
    page.wait_for_url("**/officer")
    assert re.search(r"/officer$", page.url)
