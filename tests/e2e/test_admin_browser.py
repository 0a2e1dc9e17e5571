"""In a real browser (Debian's Chromium, headless), in Vietnamese: an admin previews a new
fee schedule (the changed rate shown old → new in đồng), publishes it after confirming, and
changes an account's role. Screenshots of the admin's home and of the preview, at desktop
and phone sizes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from borderflow.clock import FixedClock
from borderflow.config import Settings
from tests.conftest import PASSWORD, served

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}

pytestmark = pytest.mark.e2e


@pytest.fixture
def site(settings: Settings, clock: FixedClock) -> Iterator[httpx.Client]:
    with served(settings, clock) as client:
        yield client


def _page(browser: Browser, site: httpx.Client, size: str, username: str = "admin") -> Page:
    width, height = SIZES[size]
    context = browser.new_context(base_url=str(site.base_url), locale="vi",
                                  viewport={"width": width, "height": height})
    context.add_cookies([{"name": "lang", "value": "vi", "url": str(site.base_url)}])
    page = context.new_page()
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    return page


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    width = int(page.evaluate("document.documentElement.scrollWidth"))
    assert width <= int(page.evaluate("window.innerWidth")) + 1, name  # no sideways scroll


def _preview(page: Page) -> None:
    page.goto("/admin/fees")
    expect(page.locator("h1")).to_have_text("Biểu phí")
    page.fill("#f-version", "lang-son-2027")
    page.fill("#rate-general-4t-10t", "450.000")
    page.click("#preview-button")
    expect(page.locator("#preview h2")).to_have_text("Những gì sẽ thay đổi khi công bố")


def test_an_admin_previews_and_publishes_a_fee_change_and_changes_a_role(
    browser: Browser, site: httpx.Client
) -> None:
    page = _page(browser, site, "desktop")
    page.click("header nav.menu >> text=Quản trị")
    page.wait_for_url("**/admin")
    _shot(page, "admin-home-desktop")
    _preview(page)
    row = page.locator("#rate-changes tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td.old")).to_have_text("400.000 ₫")
    expect(row.locator("td.new")).to_have_text("450.000 ₫")
    _shot(page, "admin-publish-preview-desktop")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#publish-button")
    page.wait_for_url("**/admin/fees?done=published")
    expect(page.locator("#publish-notice")).to_contain_text("Đã công bố")
    # an account's role: the customs officer also becomes a quarantine officer
    page.goto("/admin/accounts?q=customs")
    page.locator("tr", has_text="customs").get_by_role("link").first.click()
    page.check("#account-edit input[name=roles][value=quarantine]")
    page.click("#account-edit button[type=submit]")
    page.wait_for_url("**done=saved")
    expect(page.locator("#account-notice")).to_have_text("Đã lưu thay đổi.")
    expect(page.locator("#account-roles")).to_contain_text("Kiểm dịch")
    phone = _page(browser, site, "phone")
    phone.goto("/admin")
    _shot(phone, "admin-home-phone")
    _preview(phone)
    _shot(phone, "admin-publish-preview-phone")
    for size in SIZES:
        liaison = _page(browser, site, size, "liaison")
        liaison.goto("/exchange")
        expect(liaison.locator("h1")).to_have_text("Bản tin với phía bạn")
        _shot(liaison, f"partner_liaison-exchange-{size}")
