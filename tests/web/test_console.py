"""The regulator's console: the network drawn from the reference data with counts, the
virtual queue, the dispatcher's orders, alerts, and controls applied from the page with the
same effect as through the API."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from borderflow.config import DEFAULT_NETWORK_FILE
from borderflow.domain import labels
from borderflow.network import service as networks
from borderflow.web import console
from borderflow.web.i18n import Formatter
from tests.conftest import NOW
from tests.trip.test_rerouting import staged
from tests.web.test_driver import _csrf, _login, visible


def test_the_console_shows_the_network_queue_orders_and_alerts(
    client: TestClient, auth: Any
) -> None:
    waiting = [staged(client, auth, f"29C-700.{i:02d}") for i in range(2)]
    client.post("/api/v1/gates/huu-nghi/controls", headers=auth("regulator"), json={
        "kind": "pause", "ends_at": "2026-11-23T09:00:00+07:00", "reason": "shift change"})
    client.cookies.clear()
    ok = _login(client, "regulator")
    assert ok.headers["location"] == "/console"
    page = client.get("/console", params={"lang": "en"}).text
    park = re.search(r'id="legend-viettel-logistics-park".*?data-figure="vehicles">(\d+)<',
                     page, re.S)
    assert park is not None
    assert park.group(1) == "2"
    assert all(f'href="/console/trips/{ref}"' in page for ref in waiting)  # the queue links
    assert "shift change" in page  # the pause in force, with a button to lift it
    # the pause is drawn on the map, its label says until when
    assert re.search(r'id="node-huu-nghi" data-state="pause"', page)
    label = re.search(r'id="label-huu-nghi".*?</g>', page, re.S)
    assert label is not None
    assert "Calls paused until 09:00" in visible(f"<main>{label.group(0)}</main>")
    assert "Trucks crossed per hour today" in page
    # NOW is 08:00 in Lang Son: the two trucks entered the park in the 8th hour (08:00-09:00)
    assert re.search(r'data-hour="8" data-count="2"', page)
    assert re.search(r'data-hour="7" data-count="0"', page)
    filtered = client.get("/console", params={"gate": "chi-ma", "lang": "en"}).text
    assert "Nobody is waiting." in filtered


def test_a_closure_applied_from_the_console_reaches_the_drivers_order(
    client: TestClient, auth: Any
) -> None:
    ref = staged(client, auth, "29C-701.01")
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    assert client.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).json()["status"] \
        == "called"
    client.cookies.clear()
    _login(client, "regulator")
    token = _csrf(client, "/console")
    bad = client.post("/console/controls", data={
        "csrf": token, "gate": "huu-nghi", "kind": "closure", "hours": "2", "reason": "x"})
    assert bad.status_code == 422  # the API's rule: a reason of 3 characters or more
    r = client.post("/console/controls", data={
        "csrf": token, "gate": "huu-nghi", "kind": "closure", "hours": "2",
        "reason": "landslide on the approach road"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/console?done=control&control=")
    done = client.get(r.headers["location"].replace("#controls", "&lang=en")).text
    assert "Control applied: Huu Nghi International Border Gate, Gate closed until 10:00." \
        in done
    notice = re.search(r'id="console-notice">(.*?)</div>', done, re.S)
    assert notice is not None
    said = visible(f"<main>{notice.group(1)}</main>")
    # what the closure did to the called truck: recalled, or re-routed to another gate
    assert f"Trucks recalled from the gate: {ref}." in said or f"{ref} re-routed to" in said
    assert 'id="undo-control"' in notice.group(1)
    # the closure on the map and in the list, with its end
    assert re.search(r'id="node-huu-nghi" data-state="closure"', done)
    assert re.search(r'id="control-\d+" class="control closure"', done)
    assert "from 08:00 until 10:00" in visible(done)
    trip = client.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).json()
    assert trip["status"] == "called"  # re-routed and called at another gate, or recalled
    assert trip["gate"] != "huu-nghi" or trip["status"] == "at_staging"
    client.cookies.clear()
    _login(client, "driver")
    page = client.get("/driver", params={"lang": "en"}).text
    assert f'id="trip-{ref}"' in page
    if trip["status"] == "called":
        assert "Go to the gate now" in page
    lifted_id = client.get("/api/v1/gates/controls", headers=auth("regulator")).json()[0]["id"]
    client.cookies.clear()
    _login(client, "regulator")
    lifted = client.post(f"/console/controls/{lifted_id}/lift",
                         data={"csrf": _csrf(client, "/console")}, follow_redirects=False)
    assert (lifted.status_code, lifted.headers["location"]) == (
        303, f"/console?done=lifted&control={lifted_id}#controls")
    assert "Đã dỡ bỏ biện pháp điều hành: Cửa khẩu quốc tế Hữu Nghị" in client.get(
        lifted.headers["location"]).text
    again = client.post("/console/controls/999999/lift",
                        data={"csrf": _csrf(client, "/console")})
    assert again.status_code == 404  # the console again, with the message on top
    assert 'id="controls-h"' in again.text


def test_only_the_control_room_uses_the_console(client: TestClient) -> None:
    assert client.get("/console", follow_redirects=False).status_code == 303
    _login(client, "customs")
    assert client.get("/console").status_code == 403
    assert client.post("/console/controls", data={
        "csrf": _csrf(client, "/login"), "gate": "huu-nghi", "kind": "closure",
        "hours": "1", "reason": "not mine to close"}).status_code == 403


def test_the_regulator_grants_urgent_priority_from_the_console(
    client: TestClient, auth: Any
) -> None:
    ref = staged(client, auth, "29C-702.01")
    client.cookies.clear()
    _login(client, "regulator")
    token = _csrf(client, "/console")
    short = client.post("/console/priority", data={"csrf": token, "trip": ref, "reason": "x"})
    assert short.status_code == 422
    assert f'value="{ref}"' in short.text
    ok = client.post("/console/priority", data={
        "csrf": token, "trip": "29c 702 01", "reason": "medical supplies for the hospital"},
        follow_redirects=False)  # by its plate, as people read it
    assert (ok.status_code, ok.headers["location"]) == (303, f"/console?done=priority&trip={ref}")
    assert f"Urgent priority granted to {ref}." in client.get(ok.headers["location"]
                                                              + "&lang=en").text
    trip = client.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).json()
    assert trip["priority"] == "urgent"
    timeline = client.get(f"/api/v1/trips/{ref}/timeline", headers=auth("regulator")).json()
    last = timeline["entries"][-1]
    assert (last["type"], last["actor"]) == ("trip.prioritised", "regulator")


MESSAGES = {
    "vi": {"reason": "Hãy ghi lý do, ít nhất 3 ký tự.",
           "hours": "Nhập số giờ, lớn hơn 0 và không quá 336.",
           "top": "Chưa áp dụng biện pháp: xem các ô được đánh dấu bên dưới.",
           "no trip": "Không có chuyến NO-SUCH-TRIP trong số chuyến bạn được xem.",
           "stale": "Biểu mẫu đã hết hạn"},
    "zh": {"reason": "请说明原因，至少 3 个字符。",
           "hours": "请填写小时数，大于 0 且不超过 336。",
           "top": "调控未生效：请查看下方标出的栏目。",
           "no trip": "在您可查看的行程中没有 NO-SUCH-TRIP。",
           "stale": "表单已过期"},
}


def _selected(html: str, select_id: str) -> str | None:
    found = re.search(rf'<select id="{select_id}".*?</select>', html, re.S)
    assert found, select_id
    chosen = re.search(r'<option value="([^"]*)" ?selected', found.group(0))
    return chosen.group(1) if chosen else None


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_a_refused_control_shows_the_console_again_with_the_form_as_typed(
    client: TestClient, auth: Any, lang: str
) -> None:
    _login(client, "regulator")
    client.cookies.set("lang", lang)
    token = _csrf(client, "/console")
    bad = client.post("/console/controls", data={
        "csrf": token, "gate": "chi-ma", "kind": "capacity", "direction": "import",
        "hours": "500", "vehicles_per_hour": "12", "reason": "x"})
    assert bad.status_code == 422
    page = bad.text
    assert f'lang="{lang}"' in page
    for text in ("reason", "hours", "top"):
        assert MESSAGES[lang][text] in page
    assert (_selected(page, "c-gate"), _selected(page, "c-kind"), _selected(page, "c-dir")) \
        == ("chi-ma", "capacity", "import")
    assert re.search(r'id="c-hours"[^>]*value="500"', page)
    assert re.search(r'id="c-vph"[^>]*value="12"', page)
    assert re.search(r'id="c-reason"[^>]*value="x"', page)
    assert 'aria-describedby="reason-error"' in page
    missing = client.post("/console/priority", data={
        "csrf": token, "trip": "NO-SUCH-TRIP", "reason": "medicine for the hospital"})
    assert missing.status_code == 404
    assert MESSAGES[lang]["no trip"] in missing.text
    assert re.search(r'id="p-reason"[^>]*value="medicine for the hospital"', missing.text)
    stale = client.post("/console/controls", data={
        "csrf": "y" * 43, "gate": "chi-ma", "kind": "closure", "hours": "2",
        "reason": "flooding"})
    assert stale.status_code == 403
    assert MESSAGES[lang]["stale"] in stale.text
    assert re.search(r'id="c-reason"[^>]*value="flooding"', stale.text)
    assert client.get("/api/v1/gates/controls", headers=auth("regulator")).json() == []


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_the_console_lists_controls_queue_and_orders_with_labels(
    client: TestClient, auth: Any, lang: str
) -> None:
    client.post("/api/v1/gates/chi-ma/controls", headers=auth("regulator"), json={
        "kind": "capacity", "direction": "import", "vehicles_per_hour": 20,
        "ends_at": "2026-11-24T09:00:00+07:00", "reason": "road works"})
    waiting = staged(client, auth, f"29C-703.0{'12'[lang == 'zh']}")  # in the queue
    client.cookies.clear()
    _login(client, "regulator")
    shown = visible(client.get("/console", params={"lang": lang}).text)
    assert waiting in shown
    for kind, code in (("control_kind", "capacity"), ("direction", "import"),
                       ("priority", "normal"), ("direction", "export")):
        assert getattr(labels.TABLES[kind][code], lang) in shown, (kind, code)
    assert "road works" in shown
    for code in ("chi-ma", "huu-nghi", "capacity", "import", "normal", "export",
                 "extended_hours"):
        assert code not in shown, code



def test_the_maps_markers_never_sit_on_one_another() -> None:
    document = yaml.safe_load(DEFAULT_NETWORK_FILE.read_text(encoding="utf-8"))
    network = networks.parse(document)
    drawing = console.draw(network, [], Formatter("en", network), [], NOW)
    nodes = drawing.nodes
    assert len(nodes) >= 5
    for i, a in enumerate(nodes):
        assert 0 < a.x < console.WIDTH
        assert 0 < a.y < console.HEIGHT
        for b in nodes[i + 1:]:  # Huu Nghi, Tan Thanh and Coc Nam are a few km apart
            assert math.hypot(a.x - b.x, a.y - b.y) >= console.GAP - 0.5, (a.code, b.code)
    assert any(n.displaced for n in nodes)  # pushed aside, with a leader line to the place
    same_spot = console.spread([(100.0, 100.0)] * 4)
    assert min(math.hypot(a[0] - b[0], a[1] - b[1])
               for i, a in enumerate(same_spot) for b in same_spot[i + 1:]) >= console.GAP - 0.5


def test_a_call_made_by_hand_is_listed_with_the_trips_gate(
    client: TestClient, auth: Any
) -> None:
    ref = staged(client, auth, "29C-700.31")
    assert client.post(f"/api/v1/trips/{ref}/call", headers=auth("regulator"),
                       json={}).status_code == 200
    client.cookies.clear()
    _login(client, "regulator")
    page = client.get("/console", params={"lang": "vi"}).text
    orders = re.search(r'<ol class="orders">(.*?)</ol>', page, re.S)
    assert orders is not None
    line = next(li for li in orders.group(1).split("<li>") if ref in li)
    shown = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", line))
    assert "→ Cửa khẩu quốc tế Hữu Nghị" in shown, shown
