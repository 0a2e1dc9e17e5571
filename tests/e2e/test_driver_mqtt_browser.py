"""OwnTracks' MQTT set-up on the driver's page in a real browser: a driver links a phone, on a
platform that offers its broker to phones, in Vietnamese and in Chinese, on a phone 390 pixels
wide and a desktop 1280 wide. The three set-up codes show whole, side by side or one under
the other, without sideways scrolling, every word in the page's language and the password in
no text; screenshots for a person to look at."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from borderflow.clock import FixedClock
from borderflow.config import Settings
from tests.conftest import served
from tests.e2e.test_driver_browser import _login, _page, _shot

ENGLISH = re.compile(r"\b(MQTT mode|It sets|Server|encrypted|Use this code|scan this code|"
                     r"open OwnTracks|Device)\b")


@pytest.fixture
def site(settings: Settings, clock: FixedClock) -> Iterator[httpx.Client]:
    with served(settings, clock, mqtt_public_url="mqtts://gps.gate.example:8883") as client:
        yield client


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_a_driver_links_a_phone_and_sees_the_mqtt_set_up(
        browser: Browser, site: httpx.Client, lang: str) -> None:
    for width, height, device in ((390, 844, "29C12345/phone"), (1280, 900, "48241179")):
        page = _page(browser, site, width, height, lang)
        _login(page, "driver")
        page.goto("/driver")
        page.fill("#device_id", device)
        page.click("#gps button[type=submit]")
        code = page.locator("#setup-owntracks-mqtt")
        expect(code).to_be_visible()
        expect(code.locator("svg")).to_be_visible()
        box = code.locator("svg").bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width
        assert box["width"] >= 150  # big enough to scan from the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        words = code.inner_text()
        assert "gps.gate.example:8883" in words
        assert not ENGLISH.search(words), words
        setup = page.locator("#setup-codes").inner_text()
        assert not ENGLISH.search(setup), setup
        page.locator("#setup-codes").scroll_into_view_if_needed()
        _shot(page, f"driver-mqtt-setup-{lang}-{width}")
        page.context.close()
