"""End-to-end tests in a real browser (Debian's Chromium, headless, driven by Playwright) against
the platform served on a real port: the portal, the board, the console, the driver's page and
the checkpoint screen, in several languages. Each main page is saved as a screenshot under
``test-artifacts/screenshots``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from borderflow.clock import FixedClock
from borderflow.config import Settings
from tests import factories
from tests.conftest import PASSWORD, served
from tests.e2e.conftest import ARGS, CHROMIUM
from tests.web.test_portal import GOOD

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


from playwright.sync_api import Browser, Page, expect  # noqa: E402


@pytest.fixture
def site(settings: Settings, clock: FixedClock) -> Iterator[httpx.Client]:
    with served(settings, clock) as client:
        yield client


def _page(browser: Browser, site: httpx.Client, lang: str = "en") -> Page:
    context = browser.new_context(base_url=str(site.base_url), locale=lang,
                                  viewport={"width": 1280, "height": 900})
    return context.new_page()


def _login(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _overlapping(page: Page, selector: str) -> list[tuple[str, str]]:
    """Pairs of the elements' drawn boxes that overlap (by more than a pixel each way)."""
    boxes: list[dict[str, Any]] = page.eval_on_selector_all(selector, """els => els.map(e => {
        const r = e.getBoundingClientRect(); const g = e.closest('g');
        return {id: (g ? g.id : '') + ' ' + e.tagName + ' ' + e.textContent,
                x: r.left, y: r.top, w: r.width, h: r.height}; })""")
    assert boxes
    out = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            dx = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
            dy = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
            inside = dx >= min(a["w"], b["w"]) - 0.5 and dy >= min(a["h"], b["h"]) - 0.5
            same = a["id"].split(" ")[0] == b["id"].split(" ")[0]
            if dx > 1 and dy > 1 and not (same and inside):  # a count sits in its marker
                out.append((a["id"], b["id"]))
    return out


def _declare(page: Page, plate: str) -> str:
    page.goto("/portal/declarations/new")
    for name, value in {**GOOD, "vehicles[0].plate": plate}.items():
        selector = f'[name="{name}"]'
        if page.locator(selector).evaluate("e => e.tagName") == "SELECT":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)
    page.click("form.declaration button[type=submit]")
    page.wait_for_url(re.compile(r"/portal\?created="))
    return page.url.split("created=")[1]


def test_a_declaration_from_the_portal_shows_on_the_board_and_in_the_console(
    browser: Browser, site: httpx.Client, auth: Any
) -> None:
    page = _page(browser, site)
    _login(page, "enterprise")
    page.wait_for_url(re.compile("/portal"))
    reference = _declare(page, "29C-811.01")
    assert page.locator(f"#trip-{reference}-1").is_visible()
    _shot(page, "portal")
    page.goto("/portal/declarations/new")
    _shot(page, "declaration-form")
    site.post(f"/api/v1/trips/{reference}-1/movements", headers=auth("yard"),
              json={"action": "enter", "area": "staging:viettel-logistics-park"})
    board = _page(browser, site)
    board.goto("/board?lang=en")
    assert board.locator('#gate-huu-nghi [data-figure="queue-export"]').inner_text() == "1"
    _shot(board, "board")
    board.goto("/board?screen=large&lang=en")
    _shot(board, "board-large")
    console = _page(browser, site)
    _login(console, "regulator")
    console.wait_for_url(re.compile("/console"))
    assert console.locator(f"text={reference}-1").count() >= 1
    # the map: no gate's label drawn over another, even where gates are close together
    assert _overlapping(console, "svg.geo .label .box") == []
    legend = console.locator("#legend-viettel-logistics-park")
    assert legend.is_visible()
    assert legend.locator('[data-figure="vehicles"]').inner_text() == "1"
    _shot(console, "console")


def test_a_closure_from_the_console_changes_the_drivers_order(
    browser: Browser, site: httpx.Client, auth: Any
) -> None:
    page = _page(browser, site)
    _login(page, "enterprise")
    reference = _declare(page, "29C-811.02")
    site.post(f"/api/v1/trips/{reference}-1/movements", headers=auth("yard"),
              json={"action": "enter", "area": "staging:viettel-logistics-park"})
    site.post("/api/v1/dispatch/run", headers=auth("regulator"))
    driver = _page(browser, site)
    _login(driver, "driver")
    driver.wait_for_url(re.compile("/driver"))
    before = driver.locator(f"#trip-{reference}-1").inner_text()
    assert "Go to the gate now" in before
    console = _page(browser, site)
    _login(console, "regulator")
    console.select_option("#c-gate", "huu-nghi")
    console.select_option("#c-kind", "closure")
    console.fill("#c-hours", "3")
    console.fill("#c-reason", "landslide on the approach road")
    console.once("dialog", lambda d: d.accept())  # the confirmation
    console.click("form[action='/console/controls'] button[type=submit]")
    console.wait_for_url(re.compile(r"/console\?done=control"))
    assert console.locator("text=landslide on the approach road").count() >= 1
    driver.reload()
    after = driver.locator(f"#trip-{reference}-1").inner_text()
    assert after != before  # re-routed and called elsewhere, or waiting again
    assert "Huu Nghi" not in after or "Go to the gate now" not in after
    _shot(driver, "driver")


def test_an_officer_holds_and_releases_a_step(
    browser: Browser, site: httpx.Client, auth: Any
) -> None:
    page = _page(browser, site)
    _login(page, "enterprise")
    reference = _declare(page, "29C-811.03")
    ref = f"{reference}-1"
    site.post(f"/api/v1/trips/{ref}/movements", headers=auth("yard"),
              json={"action": "enter", "area": "staging:viettel-logistics-park"})
    site.post("/api/v1/dispatch/run", headers=auth("regulator"))
    site.post(f"/api/v1/trips/{ref}/movements", headers=auth("borderguard"),
              json={"action": "enter", "area": "gate_area:huu-nghi"})
    officer = _page(browser, site)
    _login(officer, "borderguard")
    officer.fill("#q", "29C 811 03")  # as a USB scanner or a hand types it
    officer.press("#q", "Enter")
    officer.wait_for_url(re.compile(f"/officer/trips/{ref}"))
    officer.on("dialog", lambda dialog: dialog.accept())  # a hold asks to be confirmed
    officer.select_option("#hold-border_guard", "documents-missing")
    officer.click("#step-border_guard form:has(#hold-border_guard) button")
    assert officer.locator('[data-step="border_guard"]').get_attribute("data-status") == "held"
    _shot(officer, "officer-held")
    officer.click("#held-border_guard button")
    assert officer.locator('[data-step="border_guard"]').get_attribute("data-status") == "pending"
    timeline = site.get(f"/api/v1/trips/{ref}/timeline", headers=auth("regulator")).json()
    assert [e["type"] for e in timeline["entries"]][-2:] == ["step.held", "step.released"]


def test_the_language_switch_and_another_enterprises_trip(
    browser: Browser, site: httpx.Client
) -> None:
    page = _page(browser, site, lang="vi")
    page.goto("/board")
    assert page.locator("h1").inner_text() == "Tình hình cửa khẩu"
    page.click("a[hreflang=zh]")
    assert page.locator("h1").inner_text() == "口岸实时情况"
    page.click("a[hreflang=en]")
    assert page.locator("h1").inner_text() == "Border gates now"
    owner = _page(browser, site)
    _login(owner, "enterprise")
    reference = _declare(owner, "29C-811.04")
    other = _page(browser, site)
    _login(other, "enterprise2")
    other.wait_for_url(re.compile("/portal"))
    assert other.locator(f"#trip-{reference}-1").count() == 0
    response = other.goto(f"/api/v1/trips/{reference}-1")
    assert response is not None
    assert response.status in (401, 404)  # the API wants its own token; never the trip


def _qr_video(text: str, path: Path, width: int = 640, height: int = 480) -> Path:
    """A Y4M video (one grey frame) showing the QR code of ``text`` on white paper, for
    Chromium's fake camera."""
    import segno

    rows = [list(r) for r in segno.make(text, error="m").matrix_iter(scale=6, border=4)]
    size = len(rows)
    top, left = (height - size) // 2, (width - size) // 2
    luma = bytearray(b"\xeb" * (width * height))
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                luma[(top + y) * width + left + x] = 0x10
    chroma = b"\x80" * (width // 2 * height // 2)
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + b"FRAME\n" + bytes(luma) + chroma + chroma)
    return path


def test_an_officer_scans_a_declarations_qr_code_with_the_camera(
    browser: Browser, site: httpx.Client, auth: Any, settings: Settings, tmp_path: Path
) -> None:
    body = factories.declaration()
    body["vehicles"][0]["plate"] = "29C-811.05"
    r = site.post("/api/v1/declarations", headers=auth("enterprise"), json=body)
    assert r.status_code == 201, r.text
    reference = r.json()["reference"]
    # what the declaration's QR code holds (declaration.service.qr_payload)
    video = _qr_video(f"{settings.public_base_url.rstrip('/')}/d/{reference}",
                      tmp_path / "qr.y4m")
    camera = browser.browser_type.launch(executable_path=CHROMIUM, args=[
        *ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}"])
    try:
        context = camera.new_context(base_url=str(site.base_url), locale="en",
                                     permissions=["camera"],
                                     viewport={"width": 412, "height": 900})
        page = context.new_page()
        _login(page, "borderguard")
        page.wait_for_url(re.compile("/officer"))
        page.click("#scan-start")
        page.wait_for_url(re.compile(f"/officer/trips/{reference}-1"), timeout=20_000)
        assert page.locator(f"text={reference}-1").count() >= 1
        _shot(page, "officer-scanned")
    finally:
        camera.close()


def test_an_enterprise_adds_a_vehicle_to_a_declaration(
    browser: Browser, site: httpx.Client
) -> None:
    page = _page(browser, site)
    _login(page, "enterprise")
    reference = _declare(page, "29C-811.06")
    page.goto(f"/portal/declarations/{reference}/amend")
    page.click("button[name=add][value=vehicles]")
    # the new row's first field has the focus: typing goes straight into it (the page is
    # sent again by the button, so wait for the new one)
    expect(page.locator('input[name="vehicles[1].plate"]')).to_be_focused()
    page.keyboard.type("29C-811.07")
    page.select_option('[name="vehicles[1].vehicle_type"]', "container_truck")
    page.fill('[name="vehicles[1].payload_tonnes"]', "25")
    page.select_option('[name="vehicles[1].container"]', "40ft")
    page.fill('[name="vehicles[1].driver.name"]', "Tran Van Lai")
    page.select_option('[name="vehicles[1].driver.document_type"]', "vn_citizen_id")
    page.fill('[name="vehicles[1].driver.document_number"]', "12345")
    page.fill('[name="vehicles[1].driver.phone"]', "0912000111")
    page.press('[name="vehicles[1].driver.phone"]', "Enter")  # Enter saves
    error = page.locator('[id="vehicles[1].driver.document_number-error"]')
    assert error.is_visible()
    _shot(page, "declaration-amend")
    page.fill('[name="vehicles[1].driver.document_number"]', "001089012399")
    page.click("form.amend button[type=submit]:not([name])")
    page.wait_for_url(re.compile(r"/portal\?created="))
    assert page.locator(f"#trip-{reference}-2").is_visible()


def _tab_to(page: Page, selector: str, limit: int = 150) -> bool:
    """Press Tab until the element matching ``selector`` has the focus (False if never)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)",
                         selector):
            return True
    return False


def test_the_main_actions_are_reached_and_used_with_the_keyboard(
    browser: Browser, site: httpx.Client
) -> None:
    page = _page(browser, site)
    _login(page, "enterprise")
    reference = _declare(page, "29C-811.08")
    assert _tab_to(page, f"a[href='/portal/declarations/{reference}/amend']")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile("/amend$"))
    assert _tab_to(page, "button[name=add][value=goods]")
    page.keyboard.press("Enter")
    expect(page.locator('[name="goods[1].hs_code"]')).to_be_focused()
    assert _tab_to(page, "form.amend button[type=submit]:not([name])")
    officer = _page(browser, site)
    _login(officer, "customs")
    officer.wait_for_url(re.compile("/officer"))
    assert _tab_to(officer, "#scan-start")
    officer.keyboard.press("Enter")  # no camera in this browser: the page says so
    expect_text = officer.locator("[data-scan-status]")
    expect_text.wait_for(state="visible")
    assert "camera" in expect_text.inner_text().lower()
    console = _page(browser, site)
    _login(console, "regulator")
    console.wait_for_url(re.compile("/console"))
    for action in ("form[action='/console/controls'] button[type=submit]",
                   "form[action='/console/priority'] button[type=submit]"):
        console.goto("/console")
        assert _tab_to(console, action), action
