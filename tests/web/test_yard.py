"""The yard operator's page: a truck found by plate (or reference, QR, a camera's read) is
recorded into and out of the staging park and the operator's yards as the API records it
(the trip's rules, audited), once even when the form is sent twice; the occupancy and the
trucks inside with the areas' names in the page's language; trucks and yards outside the
operator's scope are refused; other roles stay out."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.domain import labels
from borderflow.network import service as networks
from borderflow.store.models import AuditEntry
from tests import factories
from tests.conftest import Peek
from tests.web.test_accessibility import _unlabelled
from tests.web.test_driver import _login, visible

STAGING = "staging:viettel-logistics-park"
OWN_YARD = "yard:huu-nghi-import"  # the seeded yard operator runs the park and this yard
OTHER_YARD = "yard:huu-nghi-export"


def _declared(client: TestClient, auth: Any, plate: str, **overrides: Any) -> str:
    body = factories.declaration(**overrides)
    body["vehicles"][0]["plate"] = plate
    r = client.post("/api/v1/declarations", headers=auth("enterprise"), json=body)
    assert r.status_code == 201, r.text
    return f"{r.json()['reference']}-1"


def _events(client: TestClient, auth: Any, ref: str) -> list[dict[str, Any]]:
    timeline = client.get(f"/api/v1/trips/{ref}/timeline", headers=auth("regulator"))
    assert timeline.status_code == 200, timeline.text
    entries: list[dict[str, Any]] = timeline.json()["entries"]
    return entries


def _name(client: TestClient, area: str, lang: str) -> str:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    with ctx.read_sessions() as db:
        network = networks.in_force(db, ctx.clock.now())
    return labels.label("area", area, lang, network)


def _move_form(page: str, ref: str, action: str, area: str) -> dict[str, str]:
    """The fields of the page's form that records this movement."""
    for form in re.findall(r'<form method="post" action="/yard/moves".*?</form>', page, re.S):
        fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
        if (fields.get("trip"), fields.get("action"), fields.get("area")) == (ref, action, area):
            return fields
    raise AssertionError(f"no form to record {ref} {action} {area}")


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_a_yard_operator_records_a_truck_in_by_plate_once_even_sent_twice(
    client: TestClient, auth: Any, db: Peek, lang: str
) -> None:
    plate = f"29C-700.0{'12'[lang == 'zh']}"
    ref = _declared(client, auth, plate)
    ok = _login(client, "yard")
    assert ok.status_code == 303
    client.cookies.set("lang", lang)
    page = client.get("/yard", params={"q": plate.lower().replace("-", " ")}).text
    park = _name(client, STAGING, lang)
    assert park in visible(page)
    form = _move_form(page, ref, "enter", STAGING)
    first = client.post("/yard/moves", data=form, follow_redirects=False)
    assert first.status_code == 303, first.text
    again = client.post("/yard/moves", data=form, follow_redirects=False)  # a double click
    assert again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    entered = [e for e in _events(client, auth, ref) if e["type"] == "area.entered"]
    assert len(entered) == 1
    assert entered[0]["payload"]["area"] == STAGING
    assert entered[0]["actor"] == "yard"
    assert entered[0]["source"] == "officer_screen"
    trip = client.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).json()
    assert trip["status"] == "at_staging"
    shown = client.get(first.headers["location"])
    assert shown.status_code == 200
    text = visible(shown.text)
    assert {"vi": f"Đã ghi nhận: xe {plate} vào {park}.",
            "zh": f"已记录：{plate} 进入 {park}。"}[lang] in text
    inside = re.search(rf'<tr id="inside-{ref}">.*?</tr>', shown.text, re.S)
    assert inside
    assert park in visible(f"<main>{inside.group(0)}</main>")
    assert re.search(r'<p class="big" data-count>\d', shown.text)
    for code in ("viettel-logistics-park", "staging:", "huu-nghi-import", "yard:", "huu-nghi"):
        assert code not in text, code
    assert f'lang="{lang}"' in shown.text
    trip_id = trip["id"]
    audited = db.scalars(select(AuditEntry).where(AuditEntry.action == "area.entered",
                                                  AuditEntry.target_id == trip_id))
    assert len(audited) == 1  # audited once, like the event


def test_the_operator_records_a_truck_into_its_yard_and_out_again(
    client: TestClient, auth: Any
) -> None:
    ref = _declared(client, auth, "29C-700.10")
    assert client.post(f"/api/v1/trips/{ref}/movements", headers=auth("yard"),
                       json={"action": "enter", "area": STAGING}).status_code == 200
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    moved = client.post(f"/api/v1/trips/{ref}/movements", headers=auth("borderguard"),
                        json={"action": "enter", "area": "gate_area:huu-nghi"})
    assert moved.status_code == 200, moved.text
    _login(client, "yard")
    page = client.get("/yard", params={"q": ref, "lang": "en"}).text
    with pytest.raises(AssertionError):
        _move_form(page, ref, "enter", OTHER_YARD)  # not one of the operator's yards
    r = client.post("/yard/moves", data=_move_form(page, ref, "enter", OWN_YARD),
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/yard", params={"lang": "en"}).text
    assert re.search(rf'<tr id="inside-{ref}">', page)
    r = client.post("/yard/moves", data=_move_form(page, ref, "leave", OWN_YARD),
                    follow_redirects=False)
    assert r.status_code == 303
    assert "done=leave" in r.headers["location"]
    types = [(e["type"], e["payload"].get("area")) for e in _events(client, auth, ref)]
    assert types[-2:] == [("area.entered", OWN_YARD), ("area.left", OWN_YARD)]
    trip = client.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).json()
    assert trip["location"] == "gate_area:huu-nghi"
    assert f'id="inside-{ref}"' not in client.get("/yard").text


def test_a_scoped_operator_is_refused_another_yards_truck_and_another_yard(
    client: TestClient, auth: Any
) -> None:
    elsewhere = _declared(client, auth, "29C-700.20", direction="import",
                          requested_gate="tan-thanh-dedicated")
    ours = _declared(client, auth, "29C-700.21")
    client.post(f"/api/v1/trips/{ours}/movements", headers=auth("yard"),
                json={"action": "enter", "area": STAGING})
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    client.post(f"/api/v1/trips/{ours}/movements", headers=auth("borderguard"),
                json={"action": "enter", "area": "gate_area:huu-nghi"})
    _login(client, "yard")
    page = client.get("/yard", params={"q": "29C-700.20", "lang": "en"}).text
    assert "No trip found that you may see." in page
    token = uuid.uuid4().hex  # as a page's form carries
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    before = len(_events(client, auth, elsewhere))
    refused = client.post("/yard/moves?lang=en", data={
        "csrf": csrf.group(1), "token": token, "trip": elsewhere, "action": "enter",
        "area": STAGING})
    assert refused.status_code == 404
    assert 'role="alert"' in refused.text
    assert len(_events(client, auth, elsewhere)) == before
    other = client.post("/yard/moves?lang=en", data={
        "csrf": csrf.group(1), "token": token, "trip": ours, "action": "enter",
        "area": OTHER_YARD})
    assert other.status_code == 403
    assert "you may not record movements of" in visible(other.text).lower()
    assert "huu-nghi-export" not in visible(other.text)
    assert not any(e["type"] == "area.entered" and e["payload"]["area"] == OTHER_YARD
                   for e in _events(client, auth, ours))
    empty = client.post("/yard/moves", data={"csrf": csrf.group(1)})  # nothing chosen
    assert empty.status_code == 422
    assert 'role="alert"' in empty.text
    forged = client.post("/yard/moves", data={"trip": ours, "action": "leave",
                                              "area": "gate_area:huu-nghi"})
    assert forged.status_code == 403


def test_the_yard_page_is_for_who_records_movements(client: TestClient) -> None:
    assert client.get("/yard", follow_redirects=False).headers["location"].startswith(
        "/login?next=/yard")
    _login(client, "enterprise")
    assert client.get("/yard").status_code == 403
    assert 'href="/yard"' not in client.get("/portal").text
    client.cookies.clear()
    _login(client, "yard")
    page = client.get("/yard", params={"lang": "en"}).text
    assert re.search(r'<a href="/yard"\s+aria-current="page">Yard</a>', page)
    assert '<script src="/static/scan.js" defer></script>' in page
    assert client.get("/static/yard.js").status_code == 200
    assert client.get("/static/yard.css").status_code == 200
    areas = re.findall(r'data-area="([^"]+)"', page)
    assert areas == [STAGING, OWN_YARD]


def test_the_yard_page_and_the_checkpoints_live_part_pass_the_accessibility_check(
    client: TestClient, auth: Any
) -> None:
    """The same check tests/web/test_accessibility.py makes of every page (labels, unique
    ids, named buttons, the page's language), on the pages with their forms shown."""
    ref = _declared(client, auth, "29C-700.30")
    _login(client, "yard")
    for path in ("/yard", "/yard?q=29C-700.30"):
        page = client.get(path)
        assert page.status_code == 200
        assert _unlabelled(page.text) == [], path
    client.post("/yard/moves", data=_move_form(client.get("/yard?q=29C-700.30").text, ref,
                                               "enter", STAGING))
    assert _unlabelled(client.get("/yard").text) == []
    client.cookies.clear()
    _login(client, "customs")
    trip = client.get(f"/officer/trips/{ref}")
    assert _unlabelled(trip.text) == []
    live = client.get(f"/officer/trips/{ref}/live?v=1")
    assert _unlabelled(f'<html lang="vi"><body>{live.text}</body></html>') == []


def test_a_recent_camera_read_at_the_operators_gate_finds_the_truck(
    client: TestClient, auth: Any
) -> None:
    ref = _declared(client, auth, "29C-700.40")
    camera = client.post("/api/v1/cameras", headers=auth("admin"),
                         json={"code": "huu-nghi-in-7", "name": "Cổng vào Hữu Nghị",
                               "gate": "huu-nghi", "checkpoint": "gate_in"})
    assert camera.status_code == 201, camera.text
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    read = client.post("/api/v1/plate-reads", headers={"X-API-Key": camera.json()["key"]},
                       json={"camera": "huu-nghi-in-7", "plate": "29C-700.40",
                             "confidence": 0.7, "time": ctx.clock.now().isoformat()})
    assert read.status_code == 201, read.text
    _login(client, "yard")
    page = client.get("/yard", params={"lang": "en"}).text
    reads = page[page.index('id="reads-h"'):]
    link = re.search(r'<a href="(/yard\?q=[^"]+)">', reads)
    assert link
    found = client.get(link.group(1).replace("&amp;", "&") + "&lang=en").text
    assert f'id="found-{ref}"' in found
    assert _move_form(found, ref, "enter", STAGING)
