"""The enterprise portal's declaration form in a real browser (Debian's Chromium, headless,
driven by Playwright), in Vietnamese and Chinese: numbers typed as people write them there are
stored exactly, an implausible weight is confirmed before the declaration is sent, every error
is shown in one round, and the page's script offers only the gates that can take the
declaration. Screenshots under ``test-artifacts/screenshots/portal-*.png``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from borderflow.clock import FixedClock
from borderflow.config import Settings
from tests.conftest import PASSWORD, served
from tests.web.test_portal import GOOD

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


from playwright.sync_api import Browser, Page, expect  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture
def site(settings: Settings, clock: FixedClock) -> Iterator[httpx.Client]:
    with served(settings, clock) as client:
        yield client


def _page(browser: Browser, site: httpx.Client, lang: str) -> Page:
    context = browser.new_context(base_url=str(site.base_url), locale=lang,
                                  viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "lang", "value": lang, "url": str(site.base_url)}])
    return context.new_page()


def _login(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def _shot(page: Page, name: str) -> None:
    page.evaluate("""async () => { await document.fonts.load('16px "Noto Sans SC"', '口');
                                   await document.fonts.ready; }""")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _fill(page: Page, values: dict[str, str]) -> None:
    for name, value in values.items():
        selector = f'[name="{name}"]'
        if page.locator(selector).evaluate("e => e.tagName") == "SELECT":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)


def _send(page: Page) -> None:
    page.click("form.declaration button[type=submit]")
    page.wait_for_load_state()


def _declarations(site: httpx.Client, auth: Any) -> list[dict[str, Any]]:
    return list(site.get("/api/v1/declarations", headers=auth("enterprise")).json()["items"])


def test_vietnamese_numbers_are_stored_exactly(
    browser: Browser, site: httpx.Client, auth: Any
) -> None:
    """`1.200` thùng and `15.000` kg typed on the Vietnamese form are 1,200 cartons and
    15,000 kg (not 1.2 and 15); the confirmation says so in Vietnamese."""
    page = _page(browser, site, "vi")
    _login(page, "enterprise")
    page.goto("/portal/declarations/new")
    expect(page.locator("#direction")).to_be_focused()  # the first field
    _fill(page, {**GOOD, "goods[0].quantity": "1.200", "goods[0].net_weight_kg": "15.000",
                 "goods[0].value_usd": "21.000,50", "vehicles[0].payload_tonnes": "18",
                 "vehicles[0].plate": "29C-812.01"})
    _shot(page, "portal-vi-form")
    _send(page)
    page.wait_for_url(re.compile(r"/portal\?created="))
    reference = page.url.split("created=")[1]
    stored = site.get(f"/api/v1/declarations/{reference}", headers=auth("enterprise")).json()
    line = stored["goods"][0]
    assert (line["quantity"], line["net_weight_kg"], line["value_usd"]) == (
        "1200", 15000, "21000.50")
    confirmation = page.locator("p.ok[role=status]").inner_text()
    assert confirmation.startswith(f"Đã gửi tờ khai {reference}: 1 dòng hàng, khối lượng tịnh "
                                   "15.000 kg")
    row = page.locator(f"#trip-{reference}-1").inner_text()
    assert "Cửa khẩu quốc tế Hữu Nghị" in row
    assert "Đã khai báo" in row
    assert "huu-nghi" not in row
    _shot(page, "portal-vi-created")
    # the amend form shows them back the Vietnamese way
    page.goto(f"/portal/declarations/{reference}/amend")
    expect(page.locator('[name="goods[0].quantity"]')).to_have_value("1.200")
    expect(page.locator('[name="goods[0].net_weight_kg"]')).to_have_value("15.000")


def test_an_implausible_weight_is_confirmed_before_it_is_sent(
    browser: Browser, site: httpx.Client, auth: Any
) -> None:
    """15 kg of dragon fruit on an 18-tonne refrigerated truck: the Chinese form says to check
    the figures and sends nothing until the box is ticked."""
    page = _page(browser, site, "zh")
    _login(page, "enterprise")
    page.goto("/portal/declarations/new")
    _fill(page, {**GOOD, "goods[0].quantity": "1,200", "goods[0].net_weight_kg": "15",
                 "goods[0].value_usd": "21.50", "vehicles[0].plate": "29C-812.02"})
    _send(page)
    warning = page.locator('[id="goods[0].net_weight_kg-warning"]')
    expect(warning).to_be_visible()
    assert "总净重 15 千克不足车辆载重（18,000 千克）的 5%" in warning.inner_text()
    expect(page.locator('[name="goods[0].net_weight_kg"]')).to_be_focused()
    expect(page.locator("#figures-warning")).to_be_visible()
    assert _declarations(site, auth) == []
    _shot(page, "portal-zh-warning")
    page.check("#figures_checked")
    _send(page)
    page.wait_for_url(re.compile(r"/portal\?created="))
    [stored] = _declarations(site, auth)
    assert stored["total_net_weight_kg"] == 15
    assert page.locator("p.ok[role=status]").inner_text().startswith(
        f"申报 {stored['reference']} 已提交")
    _shot(page, "portal-zh-created")


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_every_error_is_shown_in_one_round(
    browser: Browser, site: httpx.Client, auth: Any, lang: str
) -> None:
    """A bad plate (a field error) together with a date in the past and a missing quarantine
    certificate (network rules), each next to its field, in the page's language."""
    page = _page(browser, site, lang)
    _login(page, "enterprise")
    page.goto("/portal/declarations/new")
    _fill(page, {**GOOD, "requested_date": "2026-11-20", "vehicles[0].plate": "not a plate",
                 "quarantine[0].certificate_number": ""})
    _send(page)
    plate = page.locator('[id="vehicles[0].plate-error"]')
    day = page.locator('[id="requested_date-error"]')
    quarantine = page.locator('[id="quarantine-error"]')
    for shown in (plate, day, quarantine):
        expect(shown).to_be_visible()
    expected = {"vi": ("Biển số không hợp lệ", "Phải là hôm nay", "Kiểm dịch thực vật"),
                "zh": ("车牌", "必须是今天", "植物检疫")}[lang]
    assert expected[0] in plate.inner_text()
    assert expected[1] in day.inner_text()
    assert expected[2] in quarantine.inner_text()
    expect(page.locator("#requested_date")).to_be_focused()  # the first field with a problem
    expect(page.locator('[name="goods[0].description"]')).to_have_value("Fresh dragon fruit")
    assert _declarations(site, auth) == []
    _shot(page, f"portal-{lang}-errors")


def test_only_gates_that_can_take_the_declaration_are_offered(
    browser: Browser, site: httpx.Client
) -> None:
    page = _page(browser, site, "vi")
    _login(page, "enterprise")
    page.goto("/portal/declarations/new")
    binh_nghi = page.locator('#requested_gate option[value="binh-nghi"]')
    tan_thanh = page.locator('#requested_gate option[value="tan-thanh-dedicated"]')
    expect(binh_nghi).to_be_enabled()
    page.select_option("#direction", "import")  # Bình Nghi takes exports only
    expect(binh_nghi).to_be_disabled()
    page.select_option("#direction", "export")
    page.fill('[name="goods[0].hs_code"]', "0102.29")  # live cattle pass Hữu Nghị only
    expect(tan_thanh).to_be_disabled()
    expect(page.locator('#requested_gate option[value="huu-nghi"]')).to_be_enabled()
    page.fill('[name="goods[0].hs_code"]', "0810.90")
    expect(tan_thanh).to_be_enabled()
    # the chosen gate's closed days next to the date
    page.select_option("#requested_gate", "binh-nghi")
    closed = page.locator('[data-closed-days="binh-nghi"]')
    expect(closed).to_be_visible()
    assert closed.inner_text().startswith("Ngày đóng cửa trong 60 ngày tới: 24 thg 11, 2026")
    expect(page.locator('[data-closed-days="huu-nghi"]')).to_be_hidden()
    assert page.locator("#requested_date").get_attribute("min") == "2026-11-23"
    _shot(page, "portal-vi-gates")
