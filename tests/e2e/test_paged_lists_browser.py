"""In a real browser, in Vietnamese and Chinese: the partner liaison reads the kept bulletin
versions a page at a time, with the page links and every heading in the page's language, and
goes to the next page and back. Screenshots under test-artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.store.models import Bulletin
from tests.conftest import NOW, PASSWORD, Peek, served

SHOTS = Path("test-artifacts/screenshots")
WORDS = {"vi": {"heading": "Các phiên bản đã lưu", "next": "Trang sau", "prev": "Trang trước",
                "side": "Phía bạn"},
         "zh": {"heading": "已保存的版本", "next": "下一页", "prev": "上一页", "side": "对方"}}


@pytest.fixture
def site(settings: Settings, clock: FixedClock) -> Iterator[httpx.Client]:
    with Peek(settings.database_url).sessions() as s:
        for i in range(25):
            s.add(Bulletin(side="CN" if i % 2 else "VN", day=date(2026, 10, 1)
                           + timedelta(days=i), version=1, sha256=f"{i}".ljust(64, "0"),
                           body={}, signature={"key_id": "k"},
                           origin="received" if i % 2 else "published", source="api", fed=[],
                           created_by="liaison", created_at=NOW - timedelta(days=40 - i)))
        s.commit()
    with served(settings, clock) as client:
        yield client


@pytest.mark.e2e
@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_kept_bulletins_page_in_the_pages_language(browser: Browser, site: httpx.Client,
                                                   lang: str) -> None:
    words = WORDS[lang]
    page = browser.new_context(base_url=str(site.base_url), locale=lang,
                               viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"/login?lang={lang}")
    page.fill("#username", "liaison")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/board")  # the liaison lands on the board
    page.goto("/exchange")
    kept = page.locator("#kept-bulletins")
    expect(kept.locator("h2")).to_have_text(words["heading"])
    expect(kept.locator("tbody tr")).to_have_count(20)
    expect(kept.locator("a[rel=prev]")).to_have_count(0)
    text = kept.inner_text()
    for code in ("received", "published", "VN", "CN", "Next page", "Previous page"):
        assert code not in text, code
    assert words["side"] in text
    SHOTS.mkdir(parents=True, exist_ok=True)
    kept.screenshot(path=str(SHOTS / f"kept-bulletins-{lang}-page-1.png"))
    kept.locator("a[rel=next]").click()
    page.wait_for_url("**/exchange?cursor=*")
    expect(kept.locator("tbody tr")).to_have_count(5)
    expect(kept.locator("a[rel=prev]")).to_have_text(f"← {words['prev']}")
    expect(kept.locator("a[rel=next]")).to_have_count(0)
    kept.screenshot(path=str(SHOTS / f"kept-bulletins-{lang}-page-2.png"))
    kept.locator("a[rel=prev]").click()
    page.wait_for_url("**/exchange?before=*")
    expect(kept.locator("tbody tr")).to_have_count(20)
    expect(kept.locator("a[rel=next]")).to_have_text(f"{words['next']} →")
