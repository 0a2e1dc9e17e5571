"""The phone's set-up codes on the admin's devices page in a real browser: an admin binds a
driver's phone, on a platform that offers its broker to phones, in Vietnamese and in Chinese,
on a phone 390 pixels wide and a desktop 1280 wide. The token and the three set-up codes show
whole, side by side or one under the other, without sideways scrolling, every word in the
page's language and the MQTT password in no text; screenshots for a person to look at."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from borderflow.clock import FixedClock
from borderflow.config import Settings
from tests import factories
from tests.conftest import served
from tests.e2e.test_driver_browser import SHOTS, _login, _page, _shot

ENGLISH = re.compile(
    r"\b(Device bound|Its token|shown only|MQTT mode|It sets|Server|"
    r"encrypted|Use this code|scan|Or set|open OwnTracks|open Traccar|"
    r"Settings|User|Device|token|phone)\b"
)

WORDS_READ = """e => { const c = e.cloneNode(true);
  c.querySelectorAll('[translate=no], svg').forEach(n => n.remove());
  return c.textContent; }"""
"""The words a person reads in an element, without the names and codes marked not to
translate and the QR codes' titles."""


@pytest.fixture
def site(settings: Settings, clock: FixedClock) -> Iterator[httpx.Client]:
    with served(settings, clock, mqtt_public_url="mqtts://gps.gate.example:8883") as client:
        yield client


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_an_admin_binds_a_phone_and_sees_its_set_up_codes(
    browser: Browser, site: httpx.Client, lang: str
) -> None:
    for width, height, device in ((390, 844, "29C12345/phone"), (1280, 900, "48241179")):
        page = _page(browser, site, width, height, lang)
        _login(page, "admin")
        page.goto("/admin/devices")
        page.fill("#b-id", device)
        page.fill("#b-doc", factories.DRIVER_DOC)
        page.click("#bind-form button[type=submit]")
        box = page.locator("#device-token")
        expect(box).to_be_visible()
        expect(box.locator(".secret")).to_be_visible()
        codes = box.locator("#setup-codes")
        for part in ("#setup-traccar", "#setup-owntracks", "#setup-owntracks-mqtt"):
            svg = codes.locator(f"{part} svg")
            expect(svg).to_be_visible()
            drawn = svg.bounding_box()
            assert drawn is not None
            assert drawn["x"] >= 0
            assert drawn["x"] + drawn["width"] <= width
            assert drawn["width"] >= 150  # big enough to scan from the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        mqtt = codes.locator("#setup-owntracks-mqtt").inner_text()
        assert "gps.gate.example:8883" in mqtt
        # the apps' names and what the phone types (marked not to translate) stay as they
        # are; every other word is in the page's language
        words = box.evaluate(WORDS_READ)
        assert not ENGLISH.search(words.replace("Traccar Client", "").replace("OwnTracks", "")), (
            words
        )
        assert "Traccar Client" in words
        box.scroll_into_view_if_needed()
        _shot(page, f"admin-device-setup-{lang}-{width}")
        SHOTS.mkdir(parents=True, exist_ok=True)
        box.screenshot(path=str(SHOTS / f"admin-device-setup-{lang}-{width}-codes.png"))
        page.context.close()
