"""In a real browser (Debian's Chromium, headless), in Vietnamese and Chinese: a regulator
opens the console and reads the forecast of the next seven days per gate and direction and
the advice for a day forecast over a gate's places (made by a forecast refresh and its
advice, on an imported history); the public board shows the week per gate without advice.
Nothing is wider than a phone's screen but the table, which scrolls sideways. Screenshots:
``test-artifacts/screenshots/console-forecast-{vi,zh}.png``, ``console-forecast-phone.png``
and ``board-forecast-vi.png`` (``BORDERFLOW_UPDATE_SCREENSHOTS=1`` copies the console's and
the board's to ``docs/screenshots/``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page

from borderflow.clock import FixedClock
from borderflow.config import Settings
from tests.conftest import served
from tests.e2e.test_driver_browser import _login
from tests.e2e.test_screenshots import DOCS, SHOTS, UPDATE
from tests.web.test_forecast_panels import forecast_with_advice

pytestmark = pytest.mark.e2e

ADVICE = {"vi": ("Khuyến nghị", "kéo dài giờ làm việc thêm", "Hữu Nghị"),
          "zh": ("建议", "延长通关时间", "友谊")}
TITLE = {"vi": "Dự báo 7 ngày tới", "zh": "未来7天预测"}


@pytest.fixture
def site(settings: Settings, clock: FixedClock) -> Iterator[httpx.Client]:
    forecast_with_advice(settings)
    with served(settings, clock) as client:
        yield client


def _page(browser: Browser, site: httpx.Client, lang: str, width: int = 1280,
          height: int = 900) -> Page:
    context = browser.new_context(base_url=str(site.base_url), locale=lang,
                                  viewport={"width": width, "height": height})
    context.add_cookies([{"name": "lang", "value": lang, "url": str(site.base_url)}])
    return context.new_page()


def _shot(page: Page, name: str, *, selector: str | None = None, docs: bool = False) -> None:
    page.evaluate("""async () => { await document.fonts.load('16px "Noto Sans SC"', '口');
                                   await document.fonts.ready; }""")
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    if selector is None:
        page.screenshot(path=str(path), full_page=True)
    else:
        page.locator(selector).screenshot(path=str(path))
    if UPDATE and docs:
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / f"{name}.png")


def test_a_regulator_reads_the_weeks_forecast_and_the_advice_for_an_over_capacity_day(
        browser: Browser, site: httpx.Client) -> None:
    for lang in ("vi", "zh"):
        page = _page(browser, site, lang)
        _login(page, "regulator")
        page.goto("/console")
        panel = page.locator("#forecast")
        assert TITLE[lang] in panel.locator("h2").inner_text()
        table = page.locator("#forecast-week")
        assert table.is_visible()
        assert table.locator("thead th[data-day]").count() == 7
        row = page.locator("#forecast-huu-nghi-export")
        assert row.is_visible()
        assert row.locator("td").count() == 7
        assert row.locator("td.over").count() >= 1  # the days over the gate's places
        first = row.locator("td.over").first
        assert first.locator("[data-figure=interval80]").is_visible()
        assert first.locator("[data-figure=capacity]").is_visible()
        assert (first.get_attribute("title") or "").startswith("95")
        heading, remedy, gate = ADVICE[lang]
        assert page.locator("#advice-h").inner_text() == heading
        lines = page.locator("#forecast-advice li")
        assert lines.count() >= 1
        assert lines.first.is_visible()
        text = lines.first.inner_text()
        assert remedy in text
        assert gate in text
        assert "huu-nghi" not in panel.inner_text()
        panel.scroll_into_view_if_needed()
        _shot(page, f"console-forecast-{lang}", selector="#forecast", docs=True)
        page.context.close()

    phone = _page(browser, site, "vi", 390, 844)
    _login(phone, "regulator")
    phone.goto("/console#forecast")
    assert phone.locator("#forecast-advice li").first.is_visible()
    # only the drawings and the forecast's table scroll sideways; the page itself fits
    wide = phone.evaluate("""() => [...document.querySelectorAll('body *')].filter(e =>
        e.getBoundingClientRect().right > 391
        && !e.closest('.map-scroll, .chart-scroll, .forecast-scroll'))
        .map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' +
             Math.round(e.getBoundingClientRect().right)).slice(0, 15)""")
    assert wide == []
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    _shot(phone, "console-forecast-phone", selector="#forecast")
    phone.context.close()


def test_the_public_board_shows_the_week_per_gate_without_advice(
        browser: Browser, site: httpx.Client) -> None:
    page = _page(browser, site, "vi")
    page.goto("/board")
    table = page.locator("#forecast-huu-nghi")
    assert table.is_visible()
    assert TITLE["vi"] in table.locator("caption").inner_text()
    assert table.locator("tbody tr").count() == 7
    assert page.locator("#forecast-advice").count() == 0
    _shot(page, "board-forecast-vi", selector="#gate-huu-nghi", docs=True)
    page.context.close()
