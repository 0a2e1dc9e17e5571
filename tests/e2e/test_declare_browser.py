"""An enterprise's day in a real browser (Debian's Chromium, headless, driven by Playwright),
in Vietnamese, on a platform full of demo data: a declaration with four goods lines (the
fourth added in the page), a slot booked for its truck, the booking moved to another slot, then
the declaration cancelled, which gives the place back. Screenshots of the form and the slots
page at desktop and phone sizes under ``test-artifacts/screenshots/enterprise-*.png``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD, Database
from tests.demo_data import Demo, demo_site
from tests.web.test_portal import GOOD

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}


from playwright.sync_api import Browser, Page, expect  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site(database_template: Database, tmp_path_factory: pytest.TempPathFactory,
         run_folder: Path) -> Iterator[tuple[Demo, httpx.Client]]:
    with demo_site(database_template, tmp_path_factory.mktemp("declare"),
                   shared=run_folder) as found:
        yield found


def _page(browser: Browser, demo: Demo, width: int = 1280, height: int = 900) -> Page:
    context = browser.new_context(base_url=demo.base_url, locale="vi",
                                  viewport={"width": width, "height": height})
    context.add_cookies([{"name": "lang", "value": "vi", "url": demo.base_url}])
    page = context.new_page()
    page.goto("/login")
    page.fill("#username", "enterprise")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    return page


def _shot(page: Page, name: str) -> None:
    page.evaluate("""async () => { await document.fonts.ready; }""")
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = min(3000, int(page.evaluate("document.documentElement.scrollHeight")))
    width = int(page.evaluate("document.documentElement.scrollWidth"))
    page.screenshot(path=str(SHOTS / f"enterprise-{name}.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": width, "height": height})


def _fill(page: Page, values: dict[str, str]) -> None:
    for name, value in values.items():
        selector = f'[name="{name}"]'
        if page.locator(selector).evaluate("e => e.tagName") == "SELECT":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)


def _line(i: int) -> dict[str, str]:
    return {f"goods[{i}].hs_code": "0810.90", f"goods[{i}].description": f"Thanh long loai {i}",
            f"goods[{i}].quantity": "300", f"goods[{i}].unit": "carton",
            f"goods[{i}].net_weight_kg": "3.750", f"goods[{i}].value_usd": "5.250,50"}


def _declare(page: Page, day: str) -> str:
    """Four goods lines typed the Vietnamese way, the fourth added in the page; the
    reference of the declaration sent."""
    page.goto("/portal/declarations/new")
    first = {k: v for k, v in GOOD.items() if not k.startswith("goods[")}
    _fill(page, {**first, "requested_date": day, "vehicles[0].plate": "29C-899.41",
                 **_line(0), **_line(1), **_line(2)})
    page.get_by_role("button", name="Thêm dòng hàng").click()  # in the page: no round trip
    expect(page.locator('[name="goods[3].hs_code"]')).to_be_focused()
    _fill(page, _line(3))
    _shot(page, "declaration-form-desktop")
    page.click("form.declaration button[type=submit]")
    page.wait_for_load_state()
    if page.locator("#figures_checked").count():  # implausible figures: confirmed
        page.check("#figures_checked")
        page.click("form.declaration button[type=submit]")
    page.wait_for_url(lambda url: "created=" in url)
    return page.url.split("created=")[1]


def test_declare_four_lines_book_move_and_cancel_in_vietnamese(
    browser: Browser, site: tuple[Demo, httpx.Client]
) -> None:
    demo, client = site
    page = _page(browser, demo)
    today = date.fromisoformat(demo.clock.now().date().isoformat())
    day = (today + timedelta(days=(2 - today.weekday()) % 7 or 7)).isoformat()  # a Wednesday
    reference = _declare(page, day)
    decl = client.get(f"/api/v1/declarations/{reference}", headers=demo.token("enterprise"))
    assert [g["net_weight_kg"] for g in decl.json()["goods"]] == [3750] * 4

    page.get_by_role("link", name="Khung giờ", exact=True).click()  # the menu
    page.fill("#slot-q", "29c 899 41")  # among the demo's many trips
    page.locator(".slot-search button").click()
    page.locator(f'[id="trip-{reference}-1"] a.button').click()
    expect(page.locator("#slots-title")).to_contain_text("29C-899.41")
    page.locator("#slot-0800 button").click()
    expect(page.locator("#booking-done")).to_contain_text("Đã đặt khung giờ")
    expect(page.locator("#slot-0800")).to_contain_text("Khung giờ của bạn")
    _shot(page, "slots-desktop")
    phone = browser.new_context(base_url=demo.base_url, locale="vi", viewport=PHONE,
                                storage_state=page.context.storage_state()).new_page()
    phone.goto(f"/portal/bookings?trip={reference}-1&day={day}")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _shot(phone, "slots-phone")
    phone.goto("/portal/declarations/new")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _shot(phone, "declaration-form-phone")

    chinese = browser.new_context(base_url=demo.base_url, locale="zh", viewport=PHONE,
                                  storage_state=page.context.storage_state()).new_page()
    chinese.goto(f"/portal/bookings?trip={reference}-1&day={day}&lang=zh")
    expect(chinese.locator("#slot-0800")).to_contain_text("您的时段")
    _shot(chinese, "slots-phone-zh")
    chinese.goto(f"/portal/declarations/{reference}/cancel?lang=zh")
    _shot(chinese, "declaration-cancel-phone-zh")

    page.locator("#slot-0930 button").click()  # move: one click
    expect(page.locator("#booking-done")).to_contain_text("Đã chuyển")
    expect(page.locator("#slot-0930")).to_contain_text("Khung giờ của bạn")
    expect(page.locator("#slot-0800 button")).to_be_visible()  # the old place is free again

    page.locator("#cancel-declaration").click()
    expect(page.locator("main")).to_contain_text("được trả lại")  # the slot is released
    page.fill("#reason", "Khách hàng hủy đơn")
    page.get_by_role("button", name="Hủy tờ khai này").click()
    expect(page.locator("#cancel-done")).to_be_visible()
    booking = client.get(f"/api/v1/trips/{reference}-1/booking",
                         headers=demo.token("enterprise"))
    assert booking.status_code == 404  # the place went back
