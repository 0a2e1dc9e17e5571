"""OwnTracks in MQTT mode set up from the driver's page: with the broker's public address
configured (``BORDERFLOW_MQTT_PUBLIC_URL``), linking a phone shows, beside the other set-up
codes and only that once, a QR code and a link holding OwnTracks' MQTT configuration with
the device's own account (the one the broker's password file gets); without it, no MQTT
set-up is offered. Every word of it is in the page's language."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.telemetry import mqtt_accounts, service, setup_codes
from tests.web.test_driver import visible
from tests.web.test_driver_setup import _href, _link, _svg, _token

BROKER = "mqtts://gps.gate.example:8883"
WORDS = {
    "en": ("(MQTT mode)", "It sets mode MQTT, the server, and this phone's own user and "
           "password.", "(encrypted connection)"),
    "vi": ("(chế độ MQTT)", "Mã này đặt chế độ MQTT, máy chủ, tên người dùng và mật khẩu "
           "riêng của điện thoại này.", "(kết nối được mã hóa)"),
    "zh": ("（MQTT 模式）", "它会设置 MQTT 模式、服务器以及本手机专用的用户名和密码。",
           "（加密连接）"),
}


@pytest.fixture
def mqtt_client(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"mqtt_public_url": BROKER}), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.ctx.engine.dispose()


def _mqtt_config(page: str) -> dict[str, object]:
    part = page[page.index('id="setup-owntracks-mqtt"'):]
    link = _href(part, "owntracks:///config?inline=")
    config: dict[str, object] = json.loads(base64.b64decode(link.split("inline=", 1)[1]))
    return config


@pytest.mark.parametrize("lang", ["vi", "zh", "en"])
def test_linking_shows_owntracks_mqtt_set_up_with_the_devices_own_account(
        mqtt_client: TestClient, settings: Settings, session: Session, lang: str) -> None:
    page = _link(mqtt_client, "29C12345/phone", lang)
    token = _token(page)
    config = _mqtt_config(page)
    # the account the broker's password file and ACL get for this device
    (account,) = mqtt_accounts.accounts(session, settings.resolved_secret_key())
    assert account.username == service.token_hash(token)
    assert config == {
        "_type": "configuration", "mode": 0, "host": "gps.gate.example", "port": 8883,
        "tls": True, "auth": True, "username": account.username,
        "password": account.password, "deviceId": "phone", "tid": "45",
        "pubTopicBase": account.topic, "sub": False, "monitoring": 2}
    assert account.topic == f"owntracks/{account.username}/phone"
    # the QR code holds what the link holds, drawn on the server
    mqtt_part = page[page.index('id="setup-owntracks-mqtt"'):]
    link = _href(mqtt_part, "owntracks:///config?inline=")
    assert _svg(mqtt_part) == _svg(setup_codes.qr_svg(link, "m"))
    # beside the other codes, which are unchanged
    assert page.index('id="setup-owntracks"') < page.index('id="setup-owntracks-mqtt"')
    assert 'id="setup-traccar"' in page
    shown = visible(page)
    for words in WORDS[lang]:
        assert words in shown, words
    assert "gps.gate.example:8883" in shown
    if lang != "en":
        for words in WORDS["en"]:
            assert words not in shown, words
    # the password is in the code and the link only, never in the text
    assert account.password not in shown


def test_the_password_is_shown_once(
        mqtt_client: TestClient, settings: Settings, session: Session) -> None:
    _link(mqtt_client, "48241179", "vi")
    (account,) = mqtt_accounts.accounts(session, settings.resolved_secret_key())
    again = mqtt_client.get("/driver", params={"lang": "vi"}).text
    assert account.password not in again
    assert account.username not in again
    assert 'id="setup-owntracks-mqtt"' not in again
    assert "owntracks:///config" not in again
    # encoded too: no piece of the configuration is left in the page
    assert not re.search(r"inline=[A-Za-z0-9+/=]{40,}", again)


def test_no_mqtt_set_up_without_the_brokers_public_address(
        client: TestClient, settings: Settings) -> None:
    assert settings.mqtt_public_url is None  # the default: not offered
    page = _link(client, "29C12345/phone", "vi")
    assert 'id="setup-owntracks"' in page  # the HTTP set-up is there
    assert 'id="setup-owntracks-mqtt"' not in page
    links = re.findall(r'href="owntracks:///config\?inline=([^"]+)"', page)
    assert len(links) == 1
    assert json.loads(base64.b64decode(links[0]))["mode"] == 3  # HTTP only
    assert WORDS["vi"][0] not in visible(page)


@pytest.mark.parametrize(("url", "expected"), [
    ("mqtts://gps.gate.example", ("gps.gate.example", 8883, True)),
    ("mqtt://10.0.0.5", ("10.0.0.5", 1883, False)),
    ("mqtt://gps.gate.example:1884/", ("gps.gate.example", 1884, False)),
    ("", None),
])
def test_the_public_broker_setting(url: str, expected: object) -> None:
    assert Settings(_env_file=None, mqtt_public_url=url).mqtt_public_broker == expected


@pytest.mark.parametrize("url", ["http://gps.gate.example", "mqtt://user:pw@gps.gate.example",
                                 "mqtt://gps.gate.example:0", "mqtt://gps.gate.example/x",
                                 "mqtt://:1883"])
def test_a_public_broker_that_phones_cannot_use_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="mqtt"):
        Settings(_env_file=None, mqtt_public_url=url)
