"""The driver's page sets the phone up in one step: right after linking, with the token shown
that once, a QR code and a link for Traccar Client (its server URL and the token as its
device identifier) and for OwnTracks (mode HTTP, the address, and HTTP Basic credentials whose
password is the token), in the page's language. What the codes hold is what the endpoints
take."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from borderflow.config import Settings
from borderflow.telemetry import setup_codes
from tests.conftest import NOW
from tests.web.test_driver import _csrf, _login

# What these pages show and refuse does not depend on the database: the services they
# call run on PostgreSQL in the API tests, so the PostgreSQL pass leaves this module out.
pytestmark = pytest.mark.any_database

CAPTIONS = {
    "en": ("in the app, open Settings and scan this code, or",
           "open OwnTracks with these settings"),
    "vi": ("trong ứng dụng, mở Cài đặt và quét mã này, hoặc",
           "mở OwnTracks với các cài đặt này"),
    "zh": ("在应用中打开“设置”并扫描此码，或", "用这些设置打开 OwnTracks"),
}


def _link(client: TestClient, device: str, lang: str) -> str:
    assert _login(client, "driver").status_code == 303
    linked = client.post(f"/driver/device?lang={lang}", data={
        "device_id": device, "csrf": _csrf(client, "/driver")}, follow_redirects=False)
    assert linked.status_code == 201, linked.text
    page: str = linked.text
    return page


def _token(page: str) -> str:
    found = re.search(r'id="device-token">.*?class="secret">([^<]+)</code>', page, re.S)
    assert found
    return found.group(1)


def _href(page: str, scheme: str) -> str:
    found = re.search(rf'href="({re.escape(scheme)}[^"]+)"', page)
    assert found, scheme
    return found.group(1).replace("&amp;", "&")


@pytest.mark.parametrize("lang", ["vi", "en", "zh"])
def test_linking_shows_the_set_up_codes_once_in_the_pages_language(
        client: TestClient, settings: Settings, lang: str) -> None:
    page = _link(client, "29C12345/phone", lang)
    token = _token(page)
    base = settings.public_base_url.rstrip("/")
    for caption in CAPTIONS[lang]:
        assert caption in page
    codes = setup_codes.codes(settings.public_base_url, "29C12345/phone", token)
    # the QR codes are drawn on the server, inline, and hold exactly what the links hold
    traccar = page[page.index('id="setup-traccar"'):page.index('id="setup-owntracks"')]
    assert _svg(traccar) == _svg(setup_codes.qr_svg(codes.traccar_url, "t"))
    owntracks = page[page.index('id="setup-owntracks"'):]
    assert _svg(owntracks) == _svg(setup_codes.qr_svg(codes.owntracks_link, "o"))
    assert 'role="img"' in traccar
    assert "<img" not in page[page.index('id="setup-codes"'):]  # nothing fetched
    # Traccar Client: the server URL and the token as its identifier
    scanned = urlsplit(codes.traccar_url)
    assert f"{scanned.scheme}://{scanned.netloc}{scanned.path}" == \
        f"{base}/api/v1/telemetry/osmand"
    assert parse_qs(scanned.query)["id"] == [token]
    opened = urlsplit(_href(page, "org.traccar.client://"))
    assert parse_qs(opened.query)["url"] == [f"{base}/api/v1/telemetry/osmand"]
    assert parse_qs(opened.query)["id"] == [token]
    # OwnTracks: its configuration, inline
    config = json.loads(base64.b64decode(
        _href(page, "owntracks:///config?inline=").split("inline=", 1)[1]))
    assert config == {"_type": "configuration", "mode": 3,
                      "url": f"{base}/api/v1/telemetry/owntracks", "auth": True,
                      "username": "29C12345", "password": token, "deviceId": "phone",
                      "tid": "45", "monitoring": 2}
    # shown once: the page read again has neither the token nor the codes
    again = client.get("/driver", params={"lang": lang}).text
    assert token not in again
    assert 'id="setup-codes"' not in again


def _svg(html: str) -> str:
    """The QR code's drawing (its path), whatever its title."""
    found = re.search(r'<path[^>]* d="([^"]+)"', html)
    assert found
    return found.group(1)


def test_what_the_codes_hold_is_what_the_endpoints_take(
        client: TestClient, settings: Settings, auth: Any) -> None:
    """Set up as the codes say, each app's positions are the device's."""
    token = _token(_link(client, "48241179", "en"))
    codes = setup_codes.codes(settings.public_base_url, "48241179", token)
    sent = parse_qs(urlsplit(codes.traccar_url).query)
    at = str(int(NOW.timestamp()) - 60)
    r = client.get("/api/v1/telemetry/osmand", params={
        "id": sent["id"][0], "lat": "21.9", "lon": "106.7", "timestamp": at})
    assert r.status_code == 200, r.text
    assert r.json()["processed"]["stored"] == 1
    config = json.loads(base64.b64decode(codes.owntracks_link.split("inline=", 1)[1]))
    assert (config["username"], config["deviceId"]) == ("48241179", "phone")
    pair = base64.b64encode(f"{config['username']}:{config['password']}".encode()).decode()
    r = client.post("/api/v1/telemetry/owntracks", json={
        "_type": "location", "lat": 21.9, "lon": 106.7, "tst": int(at) + 1, "tid": "79"},
        headers={"Authorization": f"Basic {pair}", "X-Limit-U": config["username"],
                 "X-Limit-D": config["deviceId"]})
    assert (r.status_code, r.json()) == (200, [])
    devices = client.get("/api/v1/devices", headers=auth("regulator")).json()
    assert [(d["id"], d["positions"]) for d in devices] == [("48241179", 2)]


def test_the_codes_fit_a_phone() -> None:
    """The QR codes have no size of their own: the page's styles make them fill their box
    (at most 18rem, less on a phone 390 pixels wide)."""
    svg = setup_codes.qr_svg(setup_codes.codes(
        "https://gate.example", "29C12345/phone", "x" * 32).owntracks_link, "OwnTracks")
    head = svg[:svg.index(">")]
    assert "width=" not in head
    assert "height=" not in head
    assert "viewBox" in head
