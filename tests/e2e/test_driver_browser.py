"""The driver's page in a real browser, in Vietnamese: a called driver has the page open on the
phone; the control room closes the gate; within one dispatcher cycle the open page says not to
go to the gate, why and until when, without a reload, and the SMS has gone out. Screenshots of
the page at phone and desktop sizes, and of the control room's page of the truck."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from borderflow.clock import FixedClock
from borderflow.config import Settings
from tests import factories
from tests.conftest import NOW, PASSWORD, served
from tests.trip.test_rerouting import CHEMICALS

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
STAGING = "staging:viettel-logistics-park"
CYCLE = 2
"""Seconds between dispatcher cycles (and notification sender passes) of the served site."""


from playwright.sync_api import Browser, Page, expect  # noqa: E402


@pytest.fixture
def site(settings: Settings, clock: FixedClock) -> Iterator[httpx.Client]:
    with served(settings, clock, dispatch_interval_seconds=CYCLE,
                notify_interval_seconds=1) as client:
        yield client


def _page(browser: Browser, site: httpx.Client, width: int, height: int,
          lang: str = "vi") -> Page:
    context = browser.new_context(base_url=str(site.base_url), locale=lang,
                                  viewport={"width": width, "height": height})
    context.add_cookies([{"name": "lang", "value": lang, "url": str(site.base_url)}])
    return context.new_page()


def _login(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _called_truck(site: httpx.Client, auth: Any) -> str:
    body = factories.declaration(goods=[dict(CHEMICALS)])  # passes Huu Nghi only: no re-route
    body["vehicles"][0]["plate"] = "29C-740.01"
    r = site.post("/api/v1/declarations", json=body, headers=auth("enterprise"))
    assert r.status_code == 201, r.text
    ref = f"{r.json()['reference']}-1"
    assert site.post(f"/api/v1/trips/{ref}/movements", headers=auth("yard"),
                     json={"action": "enter", "area": STAGING}).status_code == 200
    deadline = time.monotonic() + 10
    while site.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).json()["status"] != \
            "called":
        assert time.monotonic() < deadline, "not called by the dispatcher"
        site.post("/api/v1/dispatch/run", headers=auth("regulator"))
    return ref


def _sms_sent(site: httpx.Client, auth: Any, ref: str) -> list[dict[str, Any]]:
    items = site.get("/api/v1/notifications/deliveries", headers=auth("admin"),
                     params={"channel": "sms", "page_size": 100}).json()["items"]
    return [d for d in items if d["trip"] == ref and d["kind"] == "order_withdrawn"
            and d["status"] == "sent"]


def test_a_closure_reaches_the_called_drivers_open_page_and_phone(
    browser: Browser, site: httpx.Client, auth: Any
) -> None:
    ref = _called_truck(site, auth)
    phone = _page(browser, site, 390, 844)
    _login(phone, "driver")
    phone.goto("/driver")
    trip = phone.locator(f"#trip-{ref}")
    expect(trip.locator(".instruction")).to_contain_text("Hãy vào cửa khẩu ngay")
    expect(phone.locator("[data-driver-name]")).to_contain_text("Nguyen Van Tai")
    assert trip.locator(".qr svg").count() == 1

    closed = site.post("/api/v1/gates/huu-nghi/controls", headers=auth("regulator"), json={
        "kind": "closure", "ends_at": (NOW.replace(hour=4)).isoformat(),
        "reason": "sạt lở đường dẫn vào cửa khẩu"})
    assert closed.status_code == 201, closed.text
    started = time.monotonic()
    # no reload: the page's own polling brings the new instruction
    banner = trip.locator(".changed")
    expect(banner).to_be_visible(timeout=(CYCLE + 6) * 1000)
    expect(banner).to_contain_text("KHÔNG đi vào Cửa khẩu quốc tế Hữu Nghị")
    expect(banner).to_contain_text("đóng cửa đến 11:00 ngày 23/11")
    expect(banner).to_contain_text("sạt lở đường dẫn vào cửa khẩu")
    expect(trip.locator(".instruction")).not_to_contain_text("Hãy vào cửa khẩu ngay")
    expect(trip.locator(".stop")).to_contain_text("Cửa khẩu đóng cửa đến")
    while not _sms_sent(site, auth, ref):  # and the SMS went out within a cycle
        assert time.monotonic() - started < CYCLE + 6, "no SMS sent"
        time.sleep(0.3)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    _shot(phone, "driver-trips-phone")
    desktop = _page(browser, site, 1280, 900)
    _login(desktop, "driver")
    desktop.goto("/driver")
    expect(desktop.locator(f"#trip-{ref} .changed")).to_be_visible()
    _shot(desktop, "driver-trips-desktop")
    chinese = _page(browser, site, 390, 844, "zh")
    _login(chinese, "driver")
    chinese.goto("/driver")
    expect(chinese.locator(f"#trip-{ref} .changed")).to_contain_text("请勿前往")
    _shot(chinese, "driver-trips-phone-zh")

    # the control room's page of the truck: recalled, waiting again, may be re-routed
    regulator = _page(browser, site, 1280, 900)
    _login(regulator, "regulator")
    regulator.goto(f"/console/trips/{ref}")
    expect(regulator.locator("h1")).to_contain_text(ref)
    expect(regulator.locator("#reroute")).to_be_visible()
    _shot(regulator, "regulator-truck-desktop")
    small = _page(browser, site, 390, 844)
    _login(small, "regulator")
    small.goto(f"/console/trips/{ref}")
    assert small.evaluate("document.documentElement.scrollWidth") <= 390
    _shot(small, "regulator-truck-phone")
    assert re.search(r"Đang chờ ở bãi chờ", regulator.locator("main").inner_text())
