"""The scenario lab's comparison on a phone, in Vietnamese and Chinese: a scenario with booked
slots beside the baseline shows its booking figures in the page's language, and nothing (the
table, the charts) is wider than the screen."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser

from tests.e2e.test_browser import SHOTS, _login, site  # noqa: F401

BOOKED = {"vi": "Xe đã đặt trước khung giờ", "zh": "已预约时段的车辆"}


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_the_comparison_with_booked_slots_fits_a_phone(browser: Browser,
                                                       site: httpx.Client,  # noqa: F811
                                                       lang: str) -> None:
    context = browser.new_context(base_url=str(site.base_url), locale=lang,
                                  viewport={"width": 390, "height": 844})
    page = context.new_page()
    _login(page, "regulator")
    page.goto(f"/sim?lang={lang}")
    page.check("input[value='lang-son-baseline.yaml']")
    page.check("input[value='booked-slots.yaml']")
    page.fill("#s-days", "2")
    page.fill("#s-reps", "1")
    page.click("form.sim button[type=submit]")
    page.wait_for_selector("#cmp-h", timeout=120_000)
    table = page.locator("table.sim-table").inner_text()
    assert BOOKED[lang] in table
    assert "booked" not in table.lower()
    assert page.locator("main figure img").count() >= 2
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"sim-booked-{lang}-phone.png"), full_page=True)
