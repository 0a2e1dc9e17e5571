"""The main pages in a real browser (Debian's Chromium, headless, driven by Playwright) on a
platform full of demo data (tests.demo_data: the demo traffic's morning, held, rejected and
urgent trips, a closed gate, the partner side's counts, weeks of history): each is saved as a
full-page screenshot under ``test-artifacts/screenshots/readme-*.png``, in Vietnamese (the
default) and a few in Chinese, once it shows its data.

``BORDERFLOW_UPDATE_SCREENSHOTS=1`` also copies the README's ones to ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD, Database
from tests.demo_data import Demo, demo_site

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"
UPDATE = os.environ.get("BORDERFLOW_UPDATE_SCREENSHOTS") == "1"
TALLEST = 3000
"""Pixels of a page kept at most (the portal lists every declaration of the morning)."""


from playwright.sync_api import Browser, Page  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site(database_template: Database, tmp_path_factory: pytest.TempPathFactory,
         run_folder: Path) -> Iterator[tuple[Demo, httpx.Client]]:
    with demo_site(database_template, tmp_path_factory.mktemp("shots"),
                   shared=run_folder) as found:
        yield found


def _page(browser: Browser, site: tuple[Demo, httpx.Client], lang: str = "vi",
          width: int = 1280, height: int = 900) -> Page:
    context = browser.new_context(base_url=site[0].base_url, locale=lang,
                                  viewport={"width": width, "height": height})
    context.add_cookies([{"name": "lang", "value": lang, "url": site[0].base_url}])
    return context.new_page()


def _login(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def _shot(page: Page, name: str, readme: str | None = None) -> Path:
    """The whole page (at most :data:`TALLEST` pixels) saved once its fonts are there; with
    ``readme``, also copied to docs/screenshots under that name when asked to."""
    page.evaluate("""async () => { await document.fonts.load('16px "Noto Sans SC"', '口');
                                   await document.fonts.ready; }""")
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"readme-{name}.png"
    height = min(TALLEST, int(page.evaluate("document.documentElement.scrollHeight")))
    width = int(page.evaluate("document.documentElement.scrollWidth"))
    page.screenshot(path=str(path), full_page=True,
                    clip={"x": 0, "y": 0, "width": width, "height": height})
    if UPDATE and readme:
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / f"{readme}.png")
    return path


def _figure(page: Page, selector: str) -> int:
    return sum(int(re.sub(r"\D", "", t) or 0) for t in page.locator(selector).all_inner_texts())


def test_the_board_full_of_trucks(browser: Browser, site: tuple[Demo, httpx.Client]) -> None:
    page = _page(browser, site)
    page.goto("/board")
    assert _figure(page, '[data-figure^="queue-"]') > 0  # trucks waiting in the park
    assert _figure(page, '[data-figure^="crossed-"]') > 0  # and crossed this morning
    _shot(page, "board-vi", readme="board")
    chinese = _page(browser, site, "zh")
    chinese.goto("/board")
    assert chinese.locator("h1").inner_text() == "口岸实时情况"
    _shot(chinese, "board-zh", readme="board-zh")


def test_the_display_board_fits_one_screen_and_turns_through_every_gate(
        browser: Browser, site: tuple[Demo, httpx.Client]) -> None:
    _demo, client = site
    gates = set(re.findall(r'id="gate-([a-z-]+)"', client.get("/board").text))
    large = _page(browser, site, width=1920, height=1080)
    large.goto("/board?screen=large&every=1")
    assert large.locator("header.top").count() == 0  # no header on the wall
    seen: set[str] = set()
    for _ in range(40):  # one screen a second: every gate comes round within seconds
        assert large.evaluate("document.documentElement.scrollHeight") <= 1080
        assert large.evaluate("document.documentElement.scrollWidth") <= 1920
        seen |= set(large.locator("article.gate").evaluate_all("els => els.map(e => e.id)"))
        if {f"gate-{g}" for g in gates} <= seen:
            break
        large.wait_for_timeout(250)
    assert seen == {f"gate-{g}" for g in gates}
    assert large.locator(".stale-warning").is_hidden()
    _shot(large, "board-large-vi", readme="board-large")
    for lang in ("vi", "zh"):  # the platform stops answering: the board says so
        wall = _page(browser, site, lang, width=1920, height=1080)
        wall.clock.install()
        wall.goto("/board?screen=large")
        wall.route("**/board/panel**", lambda route: route.abort())
        wall.clock.fast_forward(59_000)
        assert wall.locator(".stale-warning").is_hidden()
        wall.clock.fast_forward(3_000)
        wall.locator(".stale-warning").wait_for(state="visible")
        said = wall.locator(".stale-warning").inner_text()
        assert {"vi": "hơn một phút", "zh": "超过一分钟"}[lang] in said
        _shot(wall, f"board-large-stale-{lang}")


def test_the_portal_and_the_declaration_form(browser: Browser,
                                             site: tuple[Demo, httpx.Client]) -> None:
    demo, _ = site
    page = _page(browser, site)
    _login(page, "enterprise")
    page.goto("/portal")
    for ref in (demo.trips["held"], demo.trips["rejected"], demo.trips["completed"]):
        assert page.locator(f"#trip-{ref}").count() == 1
    assert page.locator("[id^=trip-]").count() >= 20
    _shot(page, "portal-vi", readme="portal")
    page.goto("/portal/declarations/new")
    assert page.locator("form.declaration").is_visible()
    _shot(page, "declaration-form-vi", readme="declaration-form")


def test_an_officers_trip_page(browser: Browser, site: tuple[Demo, httpx.Client]) -> None:
    demo, _ = site
    page = _page(browser, site)
    _login(page, "quarantine")
    page.goto(f"/officer/trips/{demo.trips['held']}")
    assert page.locator('[data-step="quarantine"]').inner_text().strip() != ""
    assert "Lấy mẫu kiểm dịch thanh long" in page.locator("main").inner_text()  # the note
    _shot(page, "officer-trip-vi", readme="officer-trip")
    chinese = _page(browser, site, "zh")
    _login(chinese, "borderguard")
    chinese.goto(f"/officer/trips/{demo.trips['held_documents']}")
    _shot(chinese, "officer-trip-zh", readme="officer-trip-zh")


def test_the_control_room(browser: Browser, site: tuple[Demo, httpx.Client]) -> None:
    page = _page(browser, site)
    _login(page, "regulator")
    page.goto("/console")
    text = page.locator("main").inner_text()
    assert "Sạt lở đường vào cửa khẩu" in text  # the closure in force, with its reason
    assert "Sửa chữa một làn xe" in text  # the capacity control
    _shot(page, "console-vi", readme="console")
    chinese = _page(browser, site, "zh")
    _login(chinese, "regulator")
    chinese.goto("/console")
    _shot(chinese, "console-zh", readme="console-zh")


def test_the_drivers_page(browser: Browser, site: tuple[Demo, httpx.Client]) -> None:
    demo, _ = site
    page = _page(browser, site, width=412, height=900)  # a phone
    _login(page, "driver")
    page.goto("/driver")
    assert page.locator(f"#trip-{demo.trips['called']}").is_visible()
    assert page.locator(f"#trip-{demo.trips['booked']}").is_visible()
    _shot(page, "driver-vi", readme="driver")


def test_the_reports_and_the_lab(browser: Browser, site: tuple[Demo, httpx.Client]) -> None:
    page = _page(browser, site)
    _login(page, "regulator")
    page.goto("/reports")
    page.wait_for_selector("#traffic-h")
    assert page.locator("svg.chart rect").count() > 0
    _shot(page, "reports-vi", readme="reports")
    lab = _page(browser, site)
    _login(lab, "admin")
    lab.goto("/sim")
    lab.check("input[value='lang-son-baseline.yaml']")
    lab.check("input[value='priority-off.yaml']")
    lab.fill("#s-days", "2")
    lab.fill("#s-reps", "1")
    lab.click("form.sim button[type=submit]")
    lab.wait_for_selector("#cmp-h")
    _shot(lab, "sim-vi", readme="sim")


ROLE_PAGES = (
    ("enterprise", "enterprise", "/portal"),
    ("driver", "driver", "/driver"),
    ("officer", "customs", "/officer/trips/{called}"),
    ("cashier", "cashier", "/cashier"),
    ("yard-operator", "yard", "/yard"),
    ("regulator", "regulator", "/console"),
    ("partner-liaison", "liaison", "/exchange"),
    ("admin", "admin", "/admin"),
    ("public-board", None, "/board"),
)
"""Each role's main page: (name of the screenshots, demo account, address)."""
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


def test_every_roles_main_page_at_desktop_and_phone_size(
        browser: Browser, site: tuple[Demo, httpx.Client]) -> None:
    """The pictures of docs/web.md: each role's main page on a desktop and on a phone, in
    Vietnamese, none wider than the screen."""
    demo, _ = site
    for name, username, address in ROLE_PAGES:
        for size, (width, height) in SIZES.items():
            page = _page(browser, site, width=width, height=height)
            if username:
                _login(page, username)
            response = page.goto(address.format(**demo.trips))
            assert response is not None
            assert response.status == 200, (address, response.status)
            assert page.locator("main h1").count() >= 1
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width + 1, (name, size, wide)  # nothing runs off a phone's screen
            _shot(page, f"role-{name}-{size}", readme=f"role-{name}-{size}")
            page.context.close()
