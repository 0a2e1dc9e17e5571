"""The regulator's console in a real browser, in Vietnamese, on the demo platform: the map's
labels never overlap, a closure is confirmed with what it did and drawn on the map, undone in
one click; the panels refresh themselves; at phone width nothing but the drawings scrolls.
Screenshots: ``test-artifacts/screenshots/regulator-console-{desktop,phone}.png``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import Database
from tests.demo_data import Demo, demo_site
from tests.e2e.test_screenshots import SHOTS, _login, _page

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site(database_template: Database, tmp_path_factory: pytest.TempPathFactory,
         run_folder: Path) -> Iterator[tuple[Demo, httpx.Client]]:
    with demo_site(database_template, tmp_path_factory.mktemp("console"),
                   shared=run_folder) as found:
        yield found


def _shot(page: Page, name: str) -> None:
    page.evaluate("""async () => { await document.fonts.load('16px "Noto Sans SC"', '口');
                                   await document.fonts.ready; }""")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _label_overlaps(page: Page) -> list[tuple[str, str]]:
    boxes: list[dict[str, Any]] = page.eval_on_selector_all(
        "svg.geo .label .box", """els => els.map(e => { const r = e.getBoundingClientRect();
            return {id: e.closest('g').id, x: r.left, y: r.top, w: r.width, h: r.height}; })""")
    assert len(boxes) >= 5
    return [(a["id"], b["id"]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]) > 0.5
            and min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]) > 0.5]


def test_a_regulator_closes_a_gate_sees_it_on_the_map_and_undoes_it(
    browser: Browser, site: tuple[Demo, httpx.Client]
) -> None:
    page = _page(browser, site)
    _login(page, "regulator")
    page.wait_for_url(re.compile("/console"))
    assert page.locator("#line-vn-cn-border").count() == 1
    assert page.locator("#line-ql1a").count() == 1
    assert _label_overlaps(page) == []
    assert page.locator("#node-tan-thanh-dedicated").get_attribute("data-state") == "open"
    _shot(page, "regulator-console-desktop")

    page.select_option("#c-gate", "tan-thanh-dedicated")
    page.select_option("#c-kind", "closure")
    page.fill("#c-hours", "2")
    page.fill("#c-reason", "Kiểm tra đột xuất cầu cân số 42")
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()
    page.once("dialog", accept)
    page.click("#control-form button[type=submit]")
    page.wait_for_url(re.compile(r"/console\?done=control"))
    kind = page.locator("#c-kind option[value=closure]").inner_text()
    assert f"{kind} tại Đường chuyên dụng" in asked[0]  # what is about to happen
    assert "trong 2 giờ" in asked[0]
    notice = page.locator("#console-notice")
    assert "Đã áp dụng: Đường chuyên dụng" in notice.inner_text()
    node = page.locator("#node-tan-thanh-dedicated")
    assert node.get_attribute("data-state") == "closure"
    assert node.locator(".marker").get_attribute("fill") == "url(#hatch-closure)"
    label = page.locator("#label-tan-thanh-dedicated").text_content() or ""
    assert "Đóng cửa khẩu đến" in label
    listed = page.locator("#console-controls .control.closure").filter(has_text="cầu cân số 42")
    assert re.search(r"từ \d\d:\d\d đến \d\d:\d\d", listed.inner_text())
    assert _label_overlaps(page) == []

    page.click("#undo-control")  # one click, no question
    page.wait_for_url(re.compile(r"/console\?done=lifted"))
    assert "Đã dỡ bỏ biện pháp điều hành" in page.locator("#console-notice").inner_text()
    assert page.locator("#node-tan-thanh-dedicated").get_attribute("data-state") == "open"
    assert page.locator("#console-controls").filter(has_text="cầu cân số 42").count() == 0

    # the figures refresh themselves: a minute later the panels say so, the form keeps text
    page.fill("#c-reason", "đang gõ dở")
    before = page.locator("#console-map .updated").inner_text()
    site[0].clock.set(site[0].clock.now() + timedelta(minutes=1))
    page.wait_for_function(
        "t => document.querySelector('#console-map .updated').innerText !== t", arg=before,
        timeout=15000)
    assert page.input_value("#c-reason") == "đang gõ dở"


def test_the_console_on_a_phone(browser: Browser, site: tuple[Demo, httpx.Client]) -> None:
    page = _page(browser, site, width=390, height=844)
    _login(page, "regulator")
    page.wait_for_url(re.compile("/console"))
    # only the drawings scroll sideways; the page itself fits
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')].filter(e =>
        e.getBoundingClientRect().right > 391 && !e.closest('.map-scroll, .chart-scroll'))
        .map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' +
             Math.round(e.getBoundingClientRect().right)).slice(0, 15)""")
    assert wide == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    row = page.locator("#console-queue table.queue tbody tr").first
    assert row.locator("a[href^='/console/trips/']").is_visible()
    assert row.bounding_box()["width"] <= 390  # type: ignore[index]
    _shot(page, "regulator-console-phone")
    zh = _page(browser, site, lang="zh")
    _login(zh, "regulator")
    zh.wait_for_url(re.compile("/console"))
    assert _label_overlaps(zh) == []
    _shot(zh, "regulator-console-zh-desktop")
