"""A cashier at the desk in a real browser (Debian's Chromium, headless, driven by Playwright),
in Vietnamese: finds a trip by its plate, takes the fee in cash (the amount typed the
Vietnamese way), opens the receipt in its 80 mm thermal layout and sees the amount, then
closes the till with the cash counted. Screenshots of the desk on a desktop and a phone under
``test-artifacts/screenshots/cashier-desk-{desktop,phone}.png``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from borderflow.clock import FixedClock
from tests.conftest import NOW, PASSWORD, Database
from tests.demo_data import demo_settings, fresh_database, serving
from tests.web.test_portal import make_trips

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


from playwright.sync_api import Browser, Page, expect  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site(database_template: Database, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    """A served platform with a few declared trips at the cashier's gate."""
    folder = tmp_path_factory.mktemp("cashier-desk")
    database = fresh_database(database_template, folder)
    made = make_trips(database.url, 3, first=900)
    with serving(demo_settings(database, folder), FixedClock(NOW)) as (_app, client):
        assert isinstance(client, httpx.Client)
        yield str(client.base_url), made


def _cashier(browser: Browser, base: str, width: int = 1280, height: int = 900) -> Page:
    context = browser.new_context(base_url=base, locale="vi",
                                  viewport={"width": width, "height": height})
    context.add_cookies([{"name": "lang", "value": "vi", "url": base}])
    page = context.new_page()
    page.goto("/login?next=/cashier")
    page.fill("#username", "cashier")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: url.endswith("/cashier"))
    return page


def _shot(page: Page, name: str) -> None:
    page.evaluate("async () => { await document.fonts.ready; }")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"cashier-desk-{name}.png"), full_page=True)


def test_a_cashier_takes_cash_prints_the_receipt_and_closes_the_till(
    browser: Browser, site: tuple[str, list[tuple[str, str, str]]]
) -> None:
    base, made = site
    reference, plate, _day = made[0]
    page = _cashier(browser, base)
    page.fill("#q", plate.lower().replace("-", " ").replace(".", " "))
    page.get_by_role("button", name="Tìm", exact=True).click()
    page.wait_for_url(f"**/cashier/trips/{reference}")
    expect(page.locator("#amount")).to_have_value("1.500.000")
    expect(page.locator(".lines")).to_contain_text("1.500.000 ₫")
    _shot(page, "desktop")

    phone = _cashier(browser, base, width=390, height=844)
    phone.goto(f"/cashier/trips/{reference}")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    _shot(phone, "phone")
    phone.context.close()

    page.get_by_role("button", name="Thu tiền").click()
    expect(page.locator(".notice")).to_contain_text("Đã ghi nhận khoản thu: biên lai BL-")
    expect(page.locator(".lines .due")).to_contain_text("0 ₫")
    thermal_link = page.locator(".payment a[data-layout=thermal]").first
    href = thermal_link.get_attribute("href")
    assert href
    receipt = page.context.new_page()
    receipt.goto(href)
    expect(receipt.locator("body.thermal article.receipt")).to_be_visible()
    expect(receipt.locator("[data-amount]")).to_have_text("1.500.000 ₫")
    expect(receipt.get_by_role("button", name="In biên lai")).to_be_visible()
    expect(receipt.locator("nav.tools a[data-layout=a4]")).to_be_visible()
    assert receipt.evaluate("document.querySelector('article.receipt').offsetWidth") <= 310
    receipt.evaluate("async () => { await document.fonts.ready; }")
    receipt.screenshot(path=str(SHOTS / "cashier-receipt-thermal.png"), full_page=True)
    receipt.close()

    page.fill("#counted_cash", "1.500.000")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Chốt quỹ").click()
    page.wait_for_url("**/cashier?done=closed")
    expect(page.locator("aside.till")).to_have_attribute("data-closed", "true")
    expect(page.locator(".till .count")).to_contain_text("1.500.000 ₫")
    expect(page.locator(".till [data-difference]")).to_have_attribute("data-difference", "0")

    chinese = page.context.new_page()
    chinese.goto(f"/cashier/trips/{reference}?lang=zh")
    expect(chinese.locator("h1")).to_have_text("收费台")
    expect(chinese.locator(".till .closed")).to_contain_text("已结账")
    chinese.evaluate("async () => { await document.fonts.ready; }")
    chinese.screenshot(path=str(SHOTS / "cashier-desk-zh.png"), full_page=True)
