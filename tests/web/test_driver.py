"""Web sessions and the driver's page: log in with a cookie (HttpOnly, SameSite) and CSRF
tokens on every form, see the current order and acknowledge it, link a phone for GPS; other
roles and other drivers' trips stay out."""

from __future__ import annotations

import html as markup
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from borderflow.domain import labels
from tests import factories
from tests.conftest import PASSWORD
from tests.trip.test_rerouting import staged


def _csrf(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def visible(html: str) -> str:
    """The text a person reads in a page's main part (no tags, attributes or scripts)."""
    main = html[html.index("<main"):html.index("</main>")]
    main = re.sub(r"<(script|style)\b.*?</\1>", " ", main, flags=re.S)
    return re.sub(r"\s+", " ", markup.unescape(re.sub(r"<[^>]+>", " ", main)))


def _login(client: TestClient, username: str, next_path: str = "") -> Any:
    token = _csrf(client)
    return client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf": token, "next": next_path},
                       follow_redirects=False)


def test_signing_in_sets_a_safe_cookie_and_leads_to_the_drivers_page(
    client: TestClient
) -> None:
    first = client.get("/driver", follow_redirects=False)
    assert (first.status_code, first.headers["location"]) == (303, "/login?next=/driver")
    token = _csrf(client)
    no_csrf = client.post("/login", data={"username": "driver", "password": PASSWORD},
                          follow_redirects=False)
    assert no_csrf.status_code == 403
    wrong = client.post("/login", data={"username": "driver", "password": "nope",
                                        "csrf": token})
    assert wrong.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu." in wrong.text
    ok = _login(client, "driver", "//evil.example/steal")
    assert (ok.status_code, ok.headers["location"]) == (303, "/driver")  # no open redirect
    cookie = ok.headers["set-cookie"].lower()
    assert "bf_session=" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "Chuyến của tôi" in client.get("/driver").text
    # the browser session is not an API token, and an API token is no browser session
    session_token = client.cookies.get("bf_session")
    assert client.get("/api/v1/me", headers={
        "Authorization": f"Bearer {session_token}"}).status_code == 401
    out = client.post("/logout", data={"csrf": _csrf(client, "/driver")},
                      follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/driver", follow_redirects=False).status_code == 303


def test_the_driver_sees_the_order_acknowledges_it_and_links_a_phone(
    client: TestClient, auth: Any
) -> None:
    ref = staged(client, auth, "29C-500.01")  # declared with the demo driver
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    client.cookies.clear()
    _login(client, "driver")
    page = client.get("/driver", params={"lang": "en"}).text
    trip = page[page.index(f'id="trip-{ref}"'):]
    assert "Go to the gate now" in trip
    assert "Arrive by" in trip
    ack = client.post(f"/driver/trips/{ref}/acknowledge",
                      data={"csrf": _csrf(client, "/driver")}, follow_redirects=False)
    assert ack.status_code == 303
    after = client.get("/driver", params={"lang": "en"}).text
    assert "Order acknowledged" in after
    state = client.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).json()
    assert state["deadlines"] is not None
    timeline = client.get(f"/api/v1/trips/{ref}/timeline", headers=auth("regulator")).json()
    assert timeline["entries"][-1]["type"] == "trip.order_acknowledged"
    assert timeline["entries"][-1]["actor"] == "driver"
    assert ack.headers["location"] == "/driver?done=acknowledged"
    assert "Cảm ơn: trung tâm điều hành đã biết bạn đã xem lệnh." in client.get(
        ack.headers["location"]).text
    linked = client.post("/driver/device?lang=zh", data={"device_id": "phone-tai-1",
                                                         "csrf": _csrf(client, "/driver")},
                         follow_redirects=False)
    assert linked.status_code == 201  # the answer shows the phone's token, once
    confirmed = linked.text
    assert "手机已绑定" in confirmed
    assert "phone-tai-1" in confirmed
    token = re.search(r'id="device-token">.*?class="secret">([^<]+)</code>', confirmed, re.S)
    assert token
    assert len(token.group(1)) >= 32
    assert token.group(1) not in client.get("/driver").text  # shown only that once
    forged = client.post(f"/driver/trips/{ref}/acknowledge", data={"csrf": "x" * 40})
    assert forged.status_code == 403


def test_other_roles_and_other_drivers_trips_stay_out(client: TestClient, auth: Any) -> None:
    ref = staged(client, auth, "29C-500.02")
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    client.cookies.clear()
    _login(client, "enterprise")
    page = client.get("/driver")
    assert page.status_code == 403
    assert "Trang này dành cho lái xe." in page.text
    token = _csrf(client, "/login")
    other = client.post(f"/driver/trips/{ref}/acknowledge", data={"csrf": token},
                        follow_redirects=False)
    assert other.status_code == 403  # the enterprise sees its trip, but only the driver acks
    timeline = client.get(f"/api/v1/trips/{ref}/timeline", headers=auth("regulator")).json()
    assert "trip.order_acknowledged" not in [e["type"] for e in timeline["entries"]]


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_the_drivers_page_speaks_the_language_and_keeps_a_refused_device(
    client: TestClient, auth: Any, lang: str
) -> None:
    ref = staged(client, auth, f"29C-500.1{'12'[lang == 'zh']}")
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    client.cookies.clear()
    _login(client, "driver")
    client.cookies.set("lang", lang)
    page = client.get("/driver").text
    shown = visible(page)
    trip = shown[shown.index(ref):]
    assert getattr(labels.TABLES["status"]["called"], lang) in trip
    assert getattr(labels.TABLES["direction"]["export"], lang) in trip
    assert {"vi": "Có mặt trước", "zh": "请于"}[lang] in trip
    for code in ("called", "huu-nghi", "export"):
        assert code not in trip, code
    assert page.count('action="/logout"') == 1  # in the header, once
    too_long = client.post("/driver/device", data={"device_id": "p" * 101,
                                                   "csrf": _csrf(client, "/driver")})
    assert too_long.status_code == 422
    assert {"vi": "Nhập mã thiết bị", "zh": "请填写应用中显示的设备标识"}[lang] in too_long.text
    assert f'value="{"p" * 101}"' in too_long.text
    assert 'aria-describedby="device_id-error"' in too_long.text
    stale = client.post("/driver/device", data={"device_id": "phone-x", "csrf": "z" * 43})
    assert stale.status_code == 403
    assert 'value="phone-x"' in stale.text
    assert {"vi": "Biểu mẫu đã hết hạn", "zh": "表单已过期"}[lang] in stale.text
    other = client.post("/driver/trips/NO-SUCH-1/acknowledge",
                        data={"csrf": _csrf(client, "/driver")})
    assert other.status_code == 404
    assert f'id="trip-{ref}"' in other.text  # the driver's page, with the message on top


def test_a_call_made_by_hand_without_a_time_still_shows_the_order(
    client: TestClient, auth: Any
) -> None:
    """A regulator may call a truck forward by hand (no arrival time in the order): the
    driver's page shows the order and its gate, without an arrival time."""
    ref = staged(client, auth, "29C-500.02")
    called = client.post(f"/api/v1/trips/{ref}/call", headers=auth("regulator"), json={})
    assert called.status_code == 200, called.text
    client.cookies.clear()
    _login(client, "driver")
    page = client.get("/driver", params={"lang": "en"})
    assert page.status_code == 200
    trip = visible(page.text)
    assert "Go to the gate now" in trip
    assert "Arrive by" not in trip


SLOT = "2026-11-25T08:00:00+07:00"


def test_the_drivers_page_names_everything_shows_the_slot_qr_and_fee_and_polls(
    client: TestClient, auth: Any
) -> None:
    called = staged(client, auth, "29C-520.01")
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    body = factories.declaration()
    body["vehicles"][0]["plate"] = "29C-520.02"
    d = client.post("/api/v1/declarations", json=body, headers=auth("enterprise")).json()
    booked = f"{d['reference']}-1"
    assert client.post(f"/api/v1/trips/{booked}/booking", json={"slot_start": SLOT},
                       headers=auth("enterprise")).status_code == 201
    client.cookies.clear()
    _login(client, "driver")
    page = client.get("/driver", params={"lang": "en"})
    assert page.status_code == 200
    shown = visible(page.text)
    assert "Driver: Nguyen Van Tai" in shown  # the driver's name, not "driver ·"
    # each trip's part of the page, whichever comes first (both were declared in the same
    # instant of the test's clock: they are listed in the order of their references)
    a, b = shown.index(called), shown.index(booked)
    assert (a < b) == (called < booked)  # the same order at every refresh
    go = shown[a:b] if a < b else shown[a:]
    assert "Go to the gate now" in go
    assert "Huu Nghi International Border Gate, Huu Nghi export yard" in go
    assert "Yard Huu Nghi export yard" in go
    assert "Where the truck is Viettel Lang Son Logistics Park" in go
    slot = shown[b:] if a < b else shown[b:a]
    assert "Booked slot 25/11/2026 08:00" in slot
    assert "Drive to the staging area Viettel Lang Son Logistics Park" in slot
    for code in ("huu-nghi", "viettel-logistics-park", "at_staging", "open"):
        assert code not in shown, code
    # the fee in the page's money format, and its state
    fee = re.search(r'data-field="fee">(.*?)</dd>', page.text, re.S)
    assert fee is not None
    assert "₫" in fee.group(1)
    assert "Unpaid" in fee.group(1)
    vi_fee = re.search(r'data-field="fee">(.*?)</dd>', client.get("/driver").text, re.S)
    assert vi_fee is not None
    assert re.search(r"\d{1,3}(\.\d{3})+\s*₫", vi_fee.group(1))  # 1.200.000 ₫
    # a QR code per trip, drawn on the server, holding what the officer's search opens
    trip_part = page.text[page.text.index(f'id="trip-{called}"'):]
    assert "<svg" in trip_part[:trip_part.index("</article>")]
    # the trips part refreshes itself without a reload
    assert 'hx-get="/driver/panel?lang=en"' in page.text
    assert 'hx-trigger="every 5s"' in page.text
    panel = client.get("/driver/panel", params={"lang": "en"})
    assert panel.status_code == 200
    assert "<html" not in panel.text
    assert f'id="trip-{called}"' in panel.text
    client.cookies.clear()
    polled = client.get("/driver/panel", headers={"HX-Request": "true"})
    assert polled.headers.get("HX-Redirect") == "/driver"  # the page's poll: log in again
    opened = client.get("/driver/panel", follow_redirects=False)
    assert opened.status_code == 303  # the address opened itself: the login page
    assert opened.headers["location"].startswith("/login")


def test_a_closure_shows_a_changed_instruction_the_driver_marks_as_seen(
    client: TestClient, auth: Any
) -> None:
    ref = staged(client, auth, "29C-520.11", "chemicals")  # passes Huu Nghi only
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    client.cookies.clear()
    _login(client, "driver")
    assert "Go to the gate now" in client.get("/driver/panel", params={"lang": "en"}).text
    r = client.post("/api/v1/gates/huu-nghi/controls", headers=auth("regulator"), json={
        "kind": "closure", "ends_at": "2026-11-23T11:00:00+07:00",
        "reason": "landslide on the approach road"})
    assert r.status_code == 201
    panel = client.get("/driver/panel", params={"lang": "en"}).text
    trip = visible(f"<main>{panel}</main>")
    assert "Go to the gate now" not in trip
    assert "Your instruction has changed" in trip
    assert "do NOT go to Huu Nghi International Border Gate" in trip
    assert "Wait in the staging area. Do not go to the gate until you are called." in trip
    assert "The gate is closed until" in trip
    assert "landslide on the approach road" in trip
    assert "My messages" in trip
    assert 'role="alert"' in panel
    vi = visible(f"<main>{client.get('/driver/panel', params={'lang': 'vi'}).text}</main>")
    assert "KHÔNG đi vào Cửa khẩu quốc tế Hữu Nghị" in vi
    number = re.search(r'action="/driver/notifications/(\d+)/read"', panel)
    assert number is not None
    seen = client.post(f"/driver/notifications/{number.group(1)}/read",
                       data={"csrf": _csrf(client, "/driver")}, follow_redirects=False)
    assert (seen.status_code, seen.headers["location"]) == (303, "/driver?done=seen")
    after = client.get("/driver/panel", params={"lang": "en"}).text
    assert "Your instruction has changed" not in after
    assert "do NOT go to" in after  # still listed among the messages
    assert client.get("/api/v1/notifications", params={"trip": ref},
                      headers=auth("driver")).status_code == 200
