"""An enterprise with 200 trips finds its own in a real browser (Debian's Chromium, headless,
driven by Playwright), in Vietnamese: it searches by plate, opens the trip, sees the goods, the
vehicle, the driver and the QR code to show at the gate, and the receipt of the fee paid at the
counter; the back button returns to the same search. On a phone the list and the trip page fit
the screen's width. Screenshots under ``test-artifacts/screenshots/enterprise-*.png``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from borderflow.clock import FixedClock
from borderflow.domain.access import Principal, Role
from borderflow.fees import payments
from borderflow.fees import queries as fee_views
from borderflow.store.models import Trip
from borderflow.store.session import make_engine, make_session_factory
from tests.conftest import NOW, PASSWORD, Database
from tests.demo_data import demo_settings, fresh_database, serving
from tests.web.test_portal import make_trips

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CASHIER = Principal(id=None, username="cashier", kind="user", roles=frozenset({Role.CASHIER}))
WANTED = 123
"""The trip the enterprise looks for, among 200."""


from playwright.sync_api import Browser, Page, expect  # noqa: E402

pytestmark = pytest.mark.e2e


def _pay(url: str, reference: str) -> str:
    """The trip's fee paid in cash at the counter, through the fees service; the receipt."""
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        trip = s.scalars(select(Trip).where(Trip.reference == reference)).one()
        bill = fee_views.current_view(s, trip.id)
        assert bill is not None
        paid = payments.record_counter(s, bill.invoice, method="cash", amount=bill.due,
                                       reference=None, paid_at=None, actor=CASHIER, now=NOW)
        receipt = paid.receipt_number
        s.commit()
    engine.dispose()
    return receipt


@pytest.fixture(scope="module")
def site(database_template: Database, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[str, tuple[str, str, str], str]]:
    """A served platform where the enterprise has 200 trips (and the other enterprise a
    few, with the same plates), the wanted one paid; (base URL, wanted trip, receipt)."""
    folder = tmp_path_factory.mktemp("enterprise-trips")
    database = fresh_database(database_template, folder)
    made = make_trips(database.url, 200)
    make_trips(database.url, 5, tax="0101245486", first=WANTED - 2)
    receipt = _pay(database.url, made[WANTED][0])
    with serving(demo_settings(database, folder), FixedClock(NOW)) as (_app, client):
        assert isinstance(client, httpx.Client)
        yield str(client.base_url), made[WANTED], receipt


def _page(browser: Browser, base: str, width: int = 1280, height: int = 900,
          lang: str = "vi") -> Page:
    context = browser.new_context(base_url=base, locale=lang,
                                  viewport={"width": width, "height": height})
    context.add_cookies([{"name": "lang", "value": lang, "url": base}])
    page = context.new_page()
    page.goto("/login")
    page.fill("#username", "enterprise")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    return page


def _shot(page: Page, name: str) -> None:
    page.evaluate("""async () => { await document.fonts.load('16px "Noto Sans SC"', '口');
                                   await document.fonts.ready; }""")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _fits(page: Page) -> None:
    """Nothing wider than the screen: no sideways scrolling."""
    wide = page.evaluate("""() => [...document.querySelectorAll('main *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 5).map(e => e.tagName + '.' + e.className)""")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], wide


def test_the_enterprise_finds_its_trip_among_200_by_plate_and_sees_everything(
    browser: Browser, site: tuple[str, tuple[str, str, str], str]
) -> None:
    base, (reference, plate, _day), receipt = site
    page = _page(browser, base)
    page.goto("/portal")
    expect(page.locator("#trip-count")).to_have_text("Chuyến 1–25 trong tổng số 200 chuyến")
    assert page.locator("tr[id^=trip-]").count() == 25
    _shot(page, "enterprise-trips-desktop")
    page.fill("#f-q", plate)
    page.click("form.trip-search button[type=submit]")
    page.wait_for_url("**/portal?q=*")
    expect(page.locator("tr[id^=trip-]")).to_have_count(1)
    page.click(f"#trip-{reference} a[href='/portal/trips/{reference}']")
    page.wait_for_url(f"**/portal/trips/{reference}")
    main = page.locator("main")
    expect(main.locator("h1")).to_have_text(f"{reference} · {plate}")
    expect(main.locator("table.goods")).to_contain_text("Laptop computers")
    expect(main.locator("table.goods")).to_contain_text("8471")
    vehicle = main.locator("tr.this-trip")
    expect(vehicle).to_contain_text(plate)
    expect(vehicle).to_contain_text("Nguyen Van Tai")
    expect(vehicle).to_contain_text("Xe chở container")
    expect(vehicle).to_contain_text("Container 40 feet")
    qr = main.locator(f".qr[data-qr='{reference}'] svg")
    expect(qr).to_be_visible()
    assert (qr.bounding_box() or {}).get("width", 0) >= 150  # big enough to scan
    link = main.locator(f"a[href='/api/v1/payments/{receipt}/receipt.pdf']")
    expect(link).to_be_visible()
    expect(main.locator(f"a[href='/api/v1/payments/{receipt}/receipt.html']")).to_be_visible()
    _shot(page, "enterprise-trip-desktop")
    page.go_back()  # the same search, from the address
    expect(page.locator("#f-q")).to_have_value(plate)
    expect(page.locator("tr[id^=trip-]")).to_have_count(1)


def test_on_a_phone_trips_are_cards_and_nothing_overflows(
    browser: Browser, site: tuple[str, tuple[str, str, str], str]
) -> None:
    base, (reference, _plate, _day), _receipt = site
    page = _page(browser, base, width=390, height=844)
    page.goto("/portal?page=2")
    expect(page.locator("#trip-count")).to_have_text("Chuyến 26–50 trong tổng số 200 chuyến")
    row = page.locator("tr[id^=trip-]").first
    assert row.evaluate("r => getComputedStyle(r).display") == "block"  # a card
    _fits(page)
    _shot(page, "enterprise-trips-phone")
    page.goto(f"/portal/trips/{reference}")
    expect(page.locator(".qr svg")).to_be_visible()
    _fits(page)
    _shot(page, "enterprise-trip-phone")
    chinese = _page(browser, base, width=390, height=844, lang="zh")
    chinese.goto("/portal?status=declared&from=2026/12/1")
    expect(chinese.locator("h1")).to_have_text("我的申报")
    _fits(chinese)
    _shot(chinese, "enterprise-trips-zh-phone")
    chinese.goto(f"/portal/trips/{reference}")
    _fits(chinese)
    _shot(chinese, "enterprise-trip-zh-phone")
