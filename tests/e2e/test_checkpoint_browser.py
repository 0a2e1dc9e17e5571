"""In a real browser (Debian's Chromium, headless, driven by Playwright), in Vietnamese and
Chinese: an officer's refused action shows the trip's page again with the message and nothing
typed lost; the language switch on a page shown after an error gives the same page in the
other language (never JSON); every role logs out from its own page's header. Screenshots of
the checkpoint's trip page, the control room, the driver's page and the board in both
languages are saved under ``test-artifacts/screenshots``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from borderflow.account.principals import to_principal
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.domain import labels
from borderflow.network import service as networks
from borderflow.store.models import Account
from borderflow.store.session import make_engine, make_session_factory
from borderflow.trip import service as trips
from tests import factories
from tests.conftest import PASSWORD, served

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


from playwright.sync_api import Browser, Page, expect  # noqa: E402

STAGING = "staging:viettel-logistics-park"
CHOOSE_A_REASON = {"vi": "Hãy chọn lý do ở ô “Tạm giữ vì”.", "zh": "请在“暂扣原因”中选择原因。"}
STALE_STEP = {"vi": "Nội dung bạn đã nhập", "zh": "您填写的内容"}
OTHER = {"vi": "zh", "zh": "vi"}


@pytest.fixture
def site(settings: Settings, clock: FixedClock) -> Iterator[httpx.Client]:
    with served(settings, clock) as client:
        yield client


def _page(browser: Browser, site: httpx.Client, lang: str) -> Page:
    context = browser.new_context(base_url=str(site.base_url), locale=lang,
                                  viewport={"width": 1280, "height": 900})
    return context.new_page()


def _login(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def _shot(page: Page, name: str) -> None:
    """The page saved once its Chinese font is there (it loads on first use; until then the
    browser draws empty boxes)."""
    page.evaluate("""async () => { await document.fonts.load('16px "Noto Sans SC"', '口');
                                   await document.fonts.ready; }""")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _trip_in_gate_area(site: httpx.Client, auth: Any, plate: str) -> str:
    """A declared truck, through the park and called, now in the Huu Nghi gate area."""
    body = factories.declaration()
    body["vehicles"][0]["plate"] = plate
    r = site.post("/api/v1/declarations", headers=auth("enterprise"), json=body)
    assert r.status_code == 201, r.text
    ref = f"{r.json()['reference']}-1"
    site.post(f"/api/v1/trips/{ref}/movements", headers=auth("yard"),
              json={"action": "enter", "area": STAGING})
    site.post("/api/v1/dispatch/run", headers=auth("regulator"))
    moved = site.post(f"/api/v1/trips/{ref}/movements", headers=auth("borderguard"),
                      json={"action": "enter", "area": "gate_area:huu-nghi"})
    assert moved.status_code == 200, moved.text
    return ref


def _not_json(page: Page) -> None:
    body = page.locator("body").inner_text().lstrip()
    assert not body.startswith(("{", "[")), body[:200]
    assert page.locator("header.top").count() == 1


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_an_officers_refused_action_comes_back_with_the_message_and_nothing_lost(
    browser: Browser, site: httpx.Client, auth: Any, lang: str
) -> None:
    ref = _trip_in_gate_area(site, auth, f"29C-611.0{'12'[lang == 'zh']}")
    officer = _page(browser, site, lang)
    officer.on("dialog", lambda d: d.accept())  # the officer confirms the hold
    _login(officer, "borderguard")
    officer.goto(f"/officer/trips/{ref}")
    # the reason is never chosen for the officer: the list starts empty and is required
    assert officer.input_value("#hold-border_guard") == ""
    note = "CMR thiếu trang 2 / CMR缺第2页"
    officer.fill("#hold-note-border_guard", note)
    # a browser that does not check required fields: the server refuses, the page stays
    officer.eval_on_selector("#hold-border_guard", "e => e.removeAttribute('required')")
    officer.click("#step-border_guard form:has(#hold-border_guard) button")
    expect(officer.locator("#hold-border_guard-error")).to_have_text(CHOOSE_A_REASON[lang])
    assert officer.input_value("#hold-note-border_guard") == note
    assert officer.locator("#hold-border_guard").get_attribute("aria-invalid") == "true"
    _shot(officer, f"officer-refused-{lang}")
    # the language switch there: the same trip's page in the other language, never JSON
    officer.click(f"a[hreflang={OTHER[lang]}]")
    officer.wait_for_url(re.compile(f"/officer/trips/{ref}$"))
    _not_json(officer)
    assert officer.locator("html").get_attribute("lang") == OTHER[lang]
    assert officer.locator("h1").inner_text().startswith(ref)
    officer.click(f"a[hreflang={lang}]")
    officer.wait_for_url(re.compile(f"/officer/trips/{ref}$"))
    # another officer passes the step while this one types a hold: refused, the note shown
    officer.select_option("#hold-border_guard", "documents-missing")
    officer.fill("#hold-note-border_guard", note)
    passed = site.post(f"/api/v1/trips/{ref}/steps/border_guard", headers=auth("borderguard"),
                       json={"outcome": "pass"})
    assert passed.status_code == 200, passed.text
    officer.click("#step-border_guard form:has(#hold-border_guard) button")
    expect(officer.locator("#form-error")).to_be_visible()
    assert STALE_STEP[lang] in officer.locator("main").inner_text()
    assert note in officer.locator(".typed").inner_text()
    step_status = officer.locator('[data-step="border_guard"]')
    assert step_status.get_attribute("data-status") == "passed"
    assert step_status.inner_text() == getattr(labels.TABLES["step_status"]["passed"], lang)
    # the refused form's address opened again (Enter in the address bar): the trip's page
    assert officer.url.endswith("/steps/border_guard")
    officer.goto(officer.url)
    officer.wait_for_url(re.compile(f"/officer/trips/{ref}$"))
    _not_json(officer)
    _shot(officer, f"officer-trip-{lang}")


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_the_control_rooms_refused_control_keeps_the_form_and_switches_language(
    browser: Browser, site: httpx.Client, auth: Any, lang: str
) -> None:
    ref = _trip_in_gate_area(site, auth, f"29C-612.0{'12'[lang == 'zh']}")
    site.post(f"/api/v1/trips/{ref}/steps/border_guard", headers=auth("borderguard"),
              json={"outcome": "hold", "reason_code": "documents-missing", "note": "no CMR"})
    console = _page(browser, site, lang)
    _login(console, "regulator")
    console.wait_for_url(re.compile("/console"))
    console.select_option("#c-gate", "chi-ma")
    console.select_option("#c-kind", "closure")
    console.fill("#c-hours", "3")
    console.fill("#c-reason", "lũ")
    console.eval_on_selector("#c-reason", "e => e.removeAttribute('minlength')")
    console.once("dialog", lambda d: d.accept())
    console.click("form[action='/console/controls'] button[type=submit]")
    expect(console.locator("#reason-error")).to_be_visible()
    assert console.input_value("#c-gate") == "chi-ma"
    assert console.input_value("#c-kind") == "closure"
    assert console.input_value("#c-hours") == "3"
    assert console.input_value("#c-reason") == "lũ"
    console.click(f"a[hreflang={OTHER[lang]}]")
    console.wait_for_url(re.compile("/console$"))
    _not_json(console)
    assert console.locator("html").get_attribute("lang") == OTHER[lang]
    console.click(f"a[hreflang={lang}]")
    console.wait_for_url(re.compile("/console$"))
    console.select_option("#c-gate", "chi-ma")
    console.select_option("#c-kind", "closure")
    console.fill("#c-hours", "3")
    console.fill("#c-reason", "lũ trên đường vào cửa khẩu")
    console.once("dialog", lambda d: d.accept())
    console.click("form[action='/console/controls'] button[type=submit]")
    console.wait_for_url(re.compile(r"/console\?done=control"))
    notice = console.locator("#controls .notice").inner_text()
    assert getattr(labels.TABLES["control_kind"]["closure"], lang) in notice
    assert "11:00" in notice  # until three hours from 08:00
    # the hold alert opens the trip for the control room, read-only
    console.click(f".alerts a[href='/officer/trips/{ref}']")
    console.wait_for_url(re.compile(f"/officer/trips/{ref}$"))
    assert console.locator("form[action*='/steps/']").count() == 0
    _shot(console, f"console-trip-{lang}")
    console.goto("/console")
    _shot(console, f"console-{lang}")


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_the_driver_and_the_board_in_the_pages_language(
    browser: Browser, site: httpx.Client, auth: Any, lang: str
) -> None:
    body = factories.declaration()
    body["vehicles"][0]["plate"] = f"29C-613.0{'12'[lang == 'zh']}"
    r = site.post("/api/v1/declarations", headers=auth("enterprise"), json=body)
    ref = f"{r.json()['reference']}-1"
    site.post(f"/api/v1/trips/{ref}/movements", headers=auth("yard"),
              json={"action": "enter", "area": STAGING})
    site.post("/api/v1/dispatch/run", headers=auth("regulator"))
    site.post("/api/v1/gates/chi-ma/controls", headers=auth("regulator"), json={
        "kind": "closure", "ends_at": "2026-11-23T20:00:00+07:00",
        "reason": "sạt lở đường vào cửa khẩu"})
    driver = _page(browser, site, lang)
    _login(driver, "driver")
    driver.wait_for_url(re.compile("/driver"))
    driver.click(f"#trip-{ref} button[type=submit]")  # I have seen the order
    driver.wait_for_url(re.compile(r"/driver\?done=acknowledged"))
    expect(driver.locator(".notice")).to_be_visible()
    driver.fill("#device_id", "phone-" + lang)
    driver.click("form[action='/driver/device'] button[type=submit]")
    token = driver.locator("#device-token code.secret")  # shown on this answer only, no redirect
    expect(token).to_be_visible()
    assert len(token.inner_text().strip()) >= 32  # at least 128 bits, url-safe
    assert "phone-" + lang in driver.locator("main").inner_text()
    text = driver.locator(f"#trip-{ref}").inner_text()
    assert getattr(labels.TABLES["status"]["called"], lang) in text
    assert "huu-nghi" not in text
    _shot(driver, f"driver-{lang}")
    board = _page(browser, site, lang)
    board.goto("/board")
    closed = board.locator("#gate-chi-ma .alert").inner_text()
    assert getattr(labels.TABLES["control_kind"]["closure"], lang) in closed
    assert "sạt lở đường vào cửa khẩu" in closed
    assert "20:00" in closed
    _shot(board, f"board-{lang}")


ROLE_PAGES = [("driver", "/driver"), ("enterprise", "/portal"), ("customs", "/officer"),
              ("borderguard", "/officer"), ("regulator", "/console"), ("police", "/reports"),
              ("customs", "/reports"), ("admin", "/sim"), ("regulator", "/sim")]


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_every_role_logs_out_from_its_own_pages_header(
    browser: Browser, site: httpx.Client, lang: str
) -> None:
    for username, path in ROLE_PAGES:
        page = _page(browser, site, lang)
        _login(page, username)
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, (username, path, response.status)
        button = page.locator("header.top form.logout button")
        expect(button).to_be_visible()
        assert page.locator("header.top [data-user]").get_attribute("data-user") == username
        button.click()
        page.wait_for_url(re.compile("/board$"))
        assert page.locator("header.top form.logout").count() == 0
        page.goto(path)
        page.wait_for_url(re.compile(r"/login\?next="))
        page.context.close()


CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
CJK_FAMILIES = ("SC", "CJK", "Han", "Hei", "PingFang")


def test_chinese_headings_are_drawn_with_a_chinese_font_not_empty_boxes(
    browser: Browser, site: httpx.Client
) -> None:
    """Every Chinese character of the header, headings and buttons is drawn by a font that
    has it (as the browser reports it), also on a machine without a CJK font of its own:
    text laid out before the font arrived once stayed empty boxes."""
    page = _page(browser, site, "zh")
    for path in ("/board", "/login"):
        page.goto(path)
        page.evaluate("""async () => { await document.fonts.load('16px "Noto Sans SC"', '口');
                                       await document.fonts.ready; }""")
        cdp = page.context.new_cdp_session(page)
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        nodes = cdp.send("DOM.querySelectorAll", {
            "nodeId": root, "selector": ".brand, header nav a, h1, h2, label, button"})["nodeIds"]
        checked = 0
        for node in nodes:
            text = cdp.send("DOM.getOuterHTML", {"nodeId": node})["outerHTML"]
            wanted = len(CJK.findall(re.sub(r"<[^>]+>", "", text)))
            if not wanted:
                continue
            fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
            drawn = sum(f["glyphCount"] for f in fonts
                        if any(k in f["familyName"] for k in CJK_FAMILIES))
            assert drawn >= wanted, (path, text, fonts)
            checked += 1
        assert checked >= 3, path
        cdp.detach()


# --- the checkpoint's facts, a stale action, the yard (Vietnamese) -------------------------------

PHONE = {"width": 390, "height": 844}
STALE_TRIP = "Một cán bộ khác đã thay đổi chuyến này sau khi bạn mở trang."


def _pass_through_the_service(settings: Settings, clock: FixedClock, ref: str,
                              username: str, step: str) -> None:
    """Another officer passes the step: the trip service itself, in a transaction of its
    own, as the API or another browser would."""
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as db:
            account = db.scalar(select(Account).where(Account.username == username))
            assert account is not None
            event, payload = trips.step_outcome(step, "pass", channel=None, reason_code=None,
                                                note=None)
            trips.record(db, ref, event, payload, actor=to_principal(account),
                         network=networks.in_force(db, clock.now()), now=clock.now(),
                         source="officer_screen")
            db.commit()
    finally:
        engine.dispose()


def _phone_shot(browser: Browser, site: httpx.Client, username: str, path: str,
                name: str) -> None:
    phone = browser.new_context(base_url=str(site.base_url), locale="vi", viewport=PHONE,
                                is_mobile=True, has_touch=True).new_page()
    _login(phone, username)
    phone.goto(path)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], (name, width)  # nothing wider than the phone
    _shot(phone, name)
    phone.context.close()


def test_an_officer_sees_the_goods_and_an_earlier_hold_and_a_stale_pass_is_refused(
    browser: Browser, site: httpx.Client, auth: Any, settings: Settings, clock: FixedClock
) -> None:
    ref = _trip_in_gate_area(site, auth, "29C-614.01")
    held = site.post(f"/api/v1/trips/{ref}/steps/border_guard", headers=auth("borderguard"),
                     json={"outcome": "hold", "reason_code": "documents-missing",
                           "note": "CMR thiếu chữ ký của tài xế"})
    assert held.status_code == 200, held.text
    released = site.post(f"/api/v1/trips/{ref}/steps/border_guard/release",
                         headers=auth("borderguard"), json={"note": "đã bổ sung"})
    assert released.status_code == 200, released.text
    officer = _page(browser, site, "vi")
    _login(officer, "borderguard")
    officer.goto(f"/officer/trips/{ref}")
    goods = officer.locator("table.goods tbody tr").first.inner_text()
    for shown in ("8471.30", "Laptop computers", "400", "6.000", "180.000,00"):
        assert shown in goods, (shown, goods)
    holds = officer.locator("ol.holds").inner_text()
    assert "CMR thiếu chữ ký của tài xế" in holds
    assert labels.TABLES["event"]["step.held"].vi in holds
    assert officer.locator("#reject-border_guard").input_value() == ""
    _shot(officer, "officer-trip-desktop")
    _phone_shot(browser, site, "borderguard", f"/officer/trips/{ref}", "officer-trip-phone")
    events = len(site.get(f"/api/v1/trips/{ref}/timeline",
                          headers=auth("regulator")).json()["entries"])
    # another officer passes the step between the page's loading and this officer's click
    _pass_through_the_service(settings, clock, ref, "borderguard", "border_guard")
    expect(officer.locator("#live [data-changed]")).to_be_visible(timeout=12_000)
    officer.click("#step-border_guard .btn-pass")
    expect(officer.locator("#form-error")).to_contain_text(STALE_TRIP)
    assert labels.TABLES["event"]["step.passed"].vi in officer.locator(
        "#form-error").inner_text()
    status = officer.locator('[data-step="border_guard"]')
    assert status.get_attribute("data-status") == "passed"  # the trip as it is now
    assert officer.locator("#step-border_guard").count() == 0  # no more to do here
    after = site.get(f"/api/v1/trips/{ref}/timeline", headers=auth("regulator")).json()
    assert len(after["entries"]) == events + 1  # only the other officer's pass


def test_a_yard_operator_records_a_truck_into_the_park_by_plate(
    browser: Browser, site: httpx.Client, auth: Any
) -> None:
    body = factories.declaration()
    body["vehicles"][0]["plate"] = "29C-615.01"
    r = site.post("/api/v1/declarations", headers=auth("enterprise"), json=body)
    assert r.status_code == 201, r.text
    ref = f"{r.json()['reference']}-1"
    yard = _page(browser, site, "vi")
    _login(yard, "yard")
    yard.goto("/yard")
    yard.fill("#q", "29c 615 01")
    yard.click("form[role=search] button[type=submit]")
    yard.wait_for_url(re.compile(r"/yard\?q="))
    yard.click(f"#found-{ref} .btn-enter")
    yard.wait_for_url(re.compile(r"/yard\?done=enter"))
    notice = yard.locator(".notice").inner_text()
    assert "29C-615.01" in notice
    assert "Công viên Logistics Viettel Lạng Sơn" in notice
    row = yard.locator(f"#inside-{ref}").inner_text()
    assert "Công viên Logistics Viettel Lạng Sơn" in row
    trip = site.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).json()
    assert (trip["status"], trip["location"]) == ("at_staging", STAGING)
    _shot(yard, "yard-operator-yard-desktop")
    _phone_shot(browser, site, "yard", "/yard", "yard-operator-yard-phone")
    yard.click("a[hreflang=zh]")  # the same page in Chinese, the park by its Chinese name
    yard.wait_for_url(re.compile(r"/yard"))
    assert yard.locator("html").get_attribute("lang") == "zh"
    assert "谅山" in yard.locator(f"#inside-{ref}").inner_text()
    _shot(yard, "yard-operator-yard-zh")
