"""The admin's devices page sets the phone up in one scan: right after an admin binds a device,
the answer shows, with the token and only that once, the same set-up codes as the driver's
page (Traccar Client, OwnTracks over HTTP, and OwnTracks in MQTT mode when the platform
offers its broker), QR codes and links holding exactly what the endpoints take, every word in
the page's language. Nobody but an admin binds from the page, and the token and the MQTT
password are in no later page, no log and no audit row."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.store.models import AuditEntry, Device
from borderflow.telemetry import mqtt_accounts, service, setup_codes
from tests import factories
from tests.conftest import NOW, Peek
from tests.web.test_driver import _csrf, _login, visible
from tests.web.test_driver_setup import _href, _token

# What the page shows and refuses does not depend on the database: binding and revoking run
# on PostgreSQL in tests/telemetry/test_trusted_devices.py, so the PostgreSQL pass leaves
# this module out.
pytestmark = pytest.mark.any_database

BROKER = "mqtts://gps.gate.example:8883"
WORDS = {
    "en": (
        "Or set the phone's app up in one step: open the app on the phone and scan its "
        "code from this screen",
        "in the app, open Settings and scan this code, or",
        "open Traccar Client with these settings",
        "scan this code with the phone's camera, or",
        "open OwnTracks with these settings",
        "User:",
        "Device:",
    ),
    "vi": (
        "Hoặc cài đặt ứng dụng của điện thoại trong một bước: mở ứng dụng trên điện "
        "thoại và quét mã của ứng dụng trên màn hình này",
        "trong ứng dụng, mở Cài đặt và quét mã này, hoặc",
        "mở OwnTracks với các cài đặt này",
    ),
    "zh": (
        "或一步完成手机应用的设置：在手机上打开应用，扫描本屏幕上对应的二维码",
        "在应用中打开“设置”并扫描此码，或",
        "用这些设置打开 OwnTracks",
    ),
}
MQTT_WORDS = {
    "en": (
        "(MQTT mode)",
        "It sets mode MQTT, the server, and this phone's own user and password.",
        "(encrypted connection)",
        "Server:",
    ),
    "vi": (
        "(chế độ MQTT)",
        "Mã này đặt chế độ MQTT, máy chủ, tên người dùng và mật khẩu riêng của điện thoại này.",
        "(kết nối được mã hóa)",
    ),
    "zh": (
        "（MQTT 模式）",
        "它会设置 MQTT 模式、服务器以及本手机专用的用户名和密码。",
        "（加密连接）",
    ),
}
NOT_ADMIN = (
    "regulator",
    "driver",
    "customs",
    "borderguard",
    "enterprise",
    "liaison",
    "cashier",
    "yard",
)
"""Every demo role but the admin: the page is the admin's only (the regulator binds through
the API)."""


@pytest.fixture
def mqtt_client(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"mqtt_public_url": BROKER}), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.ctx.engine.dispose()


def _bind(client: TestClient, lang: str, device: str = "29C12345/phone", **to: str) -> Any:
    client.cookies.clear()
    assert _login(client, "admin").status_code == 303
    bound = client.post(
        "/admin/devices/bind",
        params={"lang": lang},
        data={
            "csrf": _csrf(client, "/admin/devices"),
            "device_id": device,
            **(to or {"driver_document": factories.DRIVER_DOC}),
        },
        follow_redirects=False,
    )
    assert bound.status_code == 201, bound.text
    return bound


def _svg(html: str) -> str:
    """The QR code's drawing (its path), whatever its title."""
    found = re.search(r'<path[^>]* d="([^"]+)"', html)
    assert found
    return found.group(1)


def _account(db: Peek, settings: Settings) -> mqtt_accounts.Account:
    """The one bound device's MQTT account, as the broker's password file gets it."""
    with db.sessions() as session:
        (account,) = mqtt_accounts.accounts(session, settings.resolved_secret_key())
    return account


def _config(link: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(base64.b64decode(link.split("inline=", 1)[1]))
    return config


@pytest.mark.parametrize("lang", ["vi", "en", "zh"])
def test_binding_shows_the_set_up_codes_with_the_token_in_the_pages_language(
    client: TestClient, settings: Settings, lang: str
) -> None:
    answer = _bind(client, lang)
    page = answer.text
    token = _token(page)
    base = settings.public_base_url.rstrip("/")
    # within the token's box, which says the device was bound
    box = page[page.index('id="device-token"') : page.index('id="cameras-h"')]
    assert 'id="setup-codes"' in box
    codes = setup_codes.codes(settings.public_base_url, "29C12345/phone", token)
    # the QR codes are drawn on the server, inline, and hold exactly what the links hold
    traccar = page[page.index('id="setup-traccar"') : page.index('id="setup-owntracks"')]
    assert _svg(traccar) == _svg(setup_codes.qr_svg(codes.traccar_url, "t"))
    owntracks = page[page.index('id="setup-owntracks"') : page.index('id="cameras-h"')]
    assert _svg(owntracks) == _svg(setup_codes.qr_svg(codes.owntracks_link, "o"))
    assert 'role="img"' in traccar
    assert "<img" not in box  # nothing fetched
    # Traccar Client: the server URL and the token as its identifier
    scanned = urlsplit(codes.traccar_url)
    assert f"{scanned.scheme}://{scanned.netloc}{scanned.path}" == f"{base}/api/v1/telemetry/osmand"
    assert parse_qs(scanned.query)["id"] == [token]
    opened = urlsplit(_href(page, "org.traccar.client://"))
    assert parse_qs(opened.query)["url"] == [f"{base}/api/v1/telemetry/osmand"]
    assert parse_qs(opened.query)["id"] == [token]
    # OwnTracks over HTTP: its configuration, inline
    assert _config(_href(owntracks, "owntracks:///config?inline=")) == {
        "_type": "configuration",
        "mode": 3,
        "url": f"{base}/api/v1/telemetry/owntracks",
        "auth": True,
        "username": "29C12345",
        "password": token,
        "deviceId": "phone",
        "tid": "45",
        "monitoring": 2,
    }
    # no MQTT set-up without the broker's public address
    assert 'id="setup-owntracks-mqtt"' not in page
    assert len(re.findall(r'href="owntracks:///config', page)) == 1
    # in the page's language, none of it in English on the others
    shown = visible(page)
    for words in WORDS[lang]:
        assert words in shown, words
    if lang != "en":
        for words in WORDS["en"]:
            assert words not in shown, words
    # the answer is kept nowhere: the back button asks again
    assert answer.headers["cache-control"] == "no-store"


def test_the_codes_of_a_vehicles_unit_work_at_the_endpoints(
    client: TestClient, settings: Settings, auth: Any, db: Peek
) -> None:
    """Bound to a plate, the unit's codes hold its own id; set up as they say, each app's
    positions are the device's."""
    token = _token(_bind(client, "en", device="48241179", plate="29C-123.45").text)
    assert db.one(select(Device).where(Device.id == "48241179")).plate_key
    codes = setup_codes.codes(settings.public_base_url, "48241179", token)
    at = str(int(NOW.timestamp()) - 60)
    sent = parse_qs(urlsplit(codes.traccar_url).query)
    r = client.get(
        "/api/v1/telemetry/osmand",
        params={"id": sent["id"][0], "lat": "21.9", "lon": "106.7", "timestamp": at},
    )
    assert r.status_code == 200, r.text
    config = _config(codes.owntracks_link)
    assert (config["username"], config["deviceId"]) == ("48241179", "phone")
    pair = base64.b64encode(f"{config['username']}:{config['password']}".encode()).decode()
    r = client.post(
        "/api/v1/telemetry/owntracks",
        json={"_type": "location", "lat": 21.9, "lon": 106.7, "tst": int(at) + 1, "tid": "79"},
        headers={
            "Authorization": f"Basic {pair}",
            "X-Limit-U": config["username"],
            "X-Limit-D": config["deviceId"],
        },
    )
    assert (r.status_code, r.json()) == (200, [])
    devices = client.get("/api/v1/devices", headers=auth("admin")).json()
    assert [(d["id"], d["positions"]) for d in devices] == [("48241179", 2)]


@pytest.mark.parametrize("lang", ["vi", "zh", "en"])
def test_with_the_broker_offered_the_mqtt_set_up_holds_the_devices_own_account(
    mqtt_client: TestClient, settings: Settings, db: Peek, lang: str
) -> None:
    page = _bind(mqtt_client, lang).text
    token = _token(page)
    account = _account(db, settings)
    assert account.username == service.token_hash(token)
    part = page[page.index('id="setup-owntracks-mqtt"') : page.index('id="cameras-h"')]
    link = _href(part, "owntracks:///config?inline=")
    assert _config(link) == {
        "_type": "configuration",
        "mode": 0,
        "host": "gps.gate.example",
        "port": 8883,
        "tls": True,
        "auth": True,
        "username": account.username,
        "password": account.password,
        "deviceId": "phone",
        "tid": "45",
        "pubTopicBase": account.topic,
        "sub": False,
        "monitoring": 2,
    }
    assert _svg(part) == _svg(setup_codes.qr_svg(link, "m"))
    # beside the other two, unchanged
    assert (
        page.index('id="setup-traccar"')
        < page.index('id="setup-owntracks"')
        < page.index('id="setup-owntracks-mqtt"')
    )
    shown = visible(page)
    for words in MQTT_WORDS[lang]:
        assert words in shown, words
    if lang != "en":
        for words in MQTT_WORDS["en"]:
            assert words not in shown, words
    assert "gps.gate.example:8883" in shown
    # the password is in the code and the link only, never in the text
    assert account.password not in shown


def test_the_token_and_password_are_shown_in_the_bind_answer_only(
    settings: Settings, clock: FixedClock, db: Peek, capsys: pytest.CaptureFixture[str]
) -> None:
    """Read again, the page holds nothing of them, encoded or not; the logs (at their most
    detailed) and the audit rows neither."""
    app = create_app(
        settings.model_copy(update={"mqtt_public_url": BROKER, "log_level": "DEBUG"}), clock=clock
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        capsys.readouterr()
        token = _token(_bind(client, "vi", device="48241179").text)
        account = _account(db, settings)
        for again in (
            client.get("/admin/devices", params={"lang": "vi"}),
            client.get("/admin/devices", params={"lang": "zh", "q": "48241179"}),
        ):
            assert again.status_code == 200
            assert "48241179" in again.text  # the device is listed
            for secret in (token, account.password, account.username):
                assert secret not in again.text
            assert 'id="device-token"' not in again.text
            assert 'id="setup-codes"' not in again.text
            assert "owntracks:///config" not in again.text
            assert "org.traccar.client://" not in again.text
            assert not re.search(r"inline=[A-Za-z0-9+/=]{40,}", again.text)
            assert "no-store" not in again.headers.get("cache-control", "")
        # a failed bind shows no codes either
        refused = client.post(
            "/admin/devices/bind",
            data={"csrf": _csrf(client, "/admin/devices"), "device_id": "48241179"},
        )
        assert refused.status_code == 422
        assert 'id="setup-codes"' not in refused.text
    app.state.ctx.engine.dispose()
    logs = capsys.readouterr()
    for secret in (token, account.password):
        assert secret not in logs.out + logs.err
    rows = db.scalars(select(AuditEntry).where(AuditEntry.action == "device.bind"))
    assert [a.target_id for a in rows] == ["48241179"]  # the bind is audited
    audit = str([(a.before, a.after) for a in db.scalars(select(AuditEntry))])
    assert token not in audit
    assert account.password not in audit


@pytest.mark.parametrize("who", NOT_ADMIN)
def test_nobody_but_an_admin_binds_from_the_page_or_sees_codes(
    mqtt_client: TestClient, db: Peek, who: str
) -> None:
    mqtt_client.cookies.clear()
    assert _login(mqtt_client, who).status_code == 303
    csrf = _csrf(mqtt_client, "/board")
    assert mqtt_client.get("/admin/devices").status_code == 403
    r = mqtt_client.post(
        "/admin/devices/bind",
        data={"csrf": csrf, "device_id": "stolen-1", "driver_document": factories.DRIVER_DOC},
        follow_redirects=False,
    )
    assert r.status_code == 403
    for leaked in (
        'id="setup-codes"',
        "owntracks:///config",
        "org.traccar.client://",
        'class="secret"',
    ):
        assert leaked not in r.text
    assert db.scalar(select(Device).where(Device.id == "stolen-1")) is None


def test_signed_out_the_bind_goes_to_log_in(mqtt_client: TestClient, db: Peek) -> None:
    mqtt_client.cookies.clear()
    r = mqtt_client.post(
        "/admin/devices/bind",
        data={
            "csrf": _csrf(mqtt_client),
            "device_id": "stolen-1",
            "driver_document": factories.DRIVER_DOC,
        },
        follow_redirects=False,
    )
    assert r.status_code in (302, 303, 403)
    assert "owntracks:///config" not in r.text
    assert db.scalar(select(Device).where(Device.id == "stolen-1")) is None


def test_every_answer_showing_a_secret_once_is_not_stored(client: TestClient) -> None:
    """The camera's key on this page and the phone's token on the driver's page too: no
    browser or proxy keeps the answer; the pages read again are stored as usual."""
    client.cookies.clear()
    assert _login(client, "admin").status_code == 303
    camera = client.post(
        "/admin/cameras",
        data={
            "csrf": _csrf(client, "/admin/devices"),
            "code": "huu-nghi-in-9",
            "name": "Entry lane 9",
            "gate": "huu-nghi",
            "checkpoint": "gate_in",
        },
    )
    assert camera.status_code == 201
    assert camera.headers["cache-control"] == "no-store"
    client.cookies.clear()
    assert _login(client, "driver").status_code == 303
    linked = client.post(
        "/driver/device",
        data={"device_id": "29C12345/phone", "csrf": _csrf(client, "/driver")},
    )
    assert linked.status_code == 201
    assert 'id="setup-codes"' in linked.text
    assert linked.headers["cache-control"] == "no-store"
    assert "no-store" not in client.get("/driver").headers.get("cache-control", "")
