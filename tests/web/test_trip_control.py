"""The control room's page of one truck: its state and place, re-routing it by hand to another
gate (a reason and a confirmation required, what was typed kept on a refusal, sent twice
changes nothing), the driver told; other roles kept out, a called truck refused clearly."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.store.models import AuditEntry, Notification
from tests.conftest import Peek
from tests.trip.test_rerouting import staged
from tests.web.test_driver import _csrf, _login, visible


def test_the_regulator_reroutes_a_truck_with_a_reason_and_a_confirmation(
    client: TestClient, auth: Any, db: Peek
) -> None:
    ref = staged(client, auth, "29C-530.01")
    client.cookies.clear()
    _login(client, "regulator")
    page = client.get(f"/console/trips/{ref}", params={"lang": "en"})
    assert page.status_code == 200
    shown = visible(page.text)
    assert "Waiting in the staging area" in shown or "Status" in shown
    assert "Huu Nghi International Border Gate" in shown
    assert "Place in the queue 1 / 1" in shown
    choices = re.findall(r'name="gate" value="([^"]+)"', page.text)
    assert "tan-thanh-dedicated" in choices
    assert "huu-nghi" not in choices  # not its own gate
    assert re.search(r"Tan Thanh – Po Chai dedicated goods road[^·]*· open now · 0 trucks waiting",
                     shown)
    token = _csrf(client, f"/console/trips/{ref}")
    # no reason, no confirmation: the form again, with what was typed
    refused = client.post(f"/console/trips/{ref}/reroute",
                          data={"gate": "tan-thanh-dedicated", "reason": "", "csrf": token},
                          params={"lang": "en"})
    assert refused.status_code == 422
    assert "Say why (3 to 2000 characters)." in refused.text
    assert "Tick the box to confirm the change of gate." in refused.text
    assert 'value="tan-thanh-dedicated" checked' in refused.text
    assert 'aria-describedby="reason-error"' in refused.text
    form = {"gate": "tan-thanh-dedicated", "reason": "lane works at Huu Nghi",
            "confirm": "yes", "csrf": token}
    done = client.post(f"/console/trips/{ref}/reroute", data=form, follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (
        303, f"/console/trips/{ref}?done=rerouted")
    again = client.post(f"/console/trips/{ref}/reroute", data=form, follow_redirects=False)
    assert again.status_code == 303  # sent twice: one re-route
    timeline = client.get(f"/api/v1/trips/{ref}/timeline", headers=auth("regulator")).json()
    assert [e["type"] for e in timeline["entries"]].count("trip.rerouted") == 1
    trip = client.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).json()
    assert trip["gate"] == "tan-thanh-dedicated"
    assert db.one(select(AuditEntry).where(AuditEntry.action == "trip.rerouted",
                                           AuditEntry.target_id == trip["id"])
                  ).actor_name == "regulator"
    told = db.one(select(Notification).where(Notification.trip_reference == ref,
                                             Notification.kind == "rerouted",
                                             Notification.recipient_kind == "driver"))
    assert "lane works at Huu Nghi" in told.message_vi
    vi = visible(client.get(done.headers["location"]).text)
    assert "Đã đổi cửa khẩu cho xe; lái xe đã được báo." in vi


def test_other_roles_are_kept_out_and_a_called_truck_is_refused(
    client: TestClient, auth: Any
) -> None:
    ref = staged(client, auth, "29C-530.02")
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    for who in ("driver", "enterprise", "customs"):
        client.cookies.clear()
        _login(client, who)
        page = client.get(f"/console/trips/{ref}")
        assert page.status_code == 403, who
        token = _csrf(client, "/board")
        sent = client.post(f"/console/trips/{ref}/reroute", data={
            "gate": "tan-thanh-dedicated", "reason": "no", "confirm": "yes", "csrf": token})
        assert sent.status_code == 403, who
    client.cookies.clear()
    assert client.get(f"/console/trips/{ref}", follow_redirects=False).status_code == 303
    _login(client, "regulator")
    page = client.get(f"/console/trips/{ref}", params={"lang": "en"})
    assert "This truck cannot be re-routed now" in visible(page.text)
    assert 'action="/console/trips/' not in page.text
    refused = client.post(f"/console/trips/{ref}/reroute", params={"lang": "en"}, data={
        "gate": "tan-thanh-dedicated", "reason": "lane works", "confirm": "yes",
        "csrf": _csrf(client, f"/console/trips/{ref}")})
    assert refused.status_code in (409, 422)
    assert "recall it first" in visible(refused.text) or "cannot change gate" in visible(
        refused.text)
    assert client.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).json()["gate"] == \
        "huu-nghi"
