"""A control applied from the console is confirmed with what it did, and undone in one click:
the control lifted (audited), the gate open again on the map."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.store.models import AuditEntry
from tests.conftest import Peek
from tests.trip.test_rerouting import staged
from tests.web.test_driver import _csrf, _login, visible


def test_a_pause_is_confirmed_with_its_effects_and_undone_in_one_click(
    client: TestClient, auth: Any, db: Peek
) -> None:
    ref = staged(client, auth, "29C-711.01")
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    assert client.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).json()["status"] \
        == "called"
    client.cookies.clear()
    _login(client, "regulator")
    client.cookies.set("lang", "en")
    r = client.post("/console/controls", data={
        "csrf": _csrf(client, "/console"), "gate": "huu-nghi", "kind": "pause", "hours": "1.5",
        "reason": "weighbridge broken"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"]).text
    notice = re.search(r'id="console-notice">(.*?)</div>', page, re.S)
    assert notice is not None
    said = visible(f"<main>{notice.group(1)}</main>")
    assert "Control applied: Huu Nghi International Border Gate, Calls paused until 09:30." \
        in said
    assert ref in said  # recalled, or re-routed to another gate
    assert re.search(r'id="node-huu-nghi" data-state="pause"', page)
    undo = re.search(r'<form method="post" action="(/console/controls/(\d+)/lift)"'
                     r' class="inline undo">', notice.group(1))
    assert undo is not None
    assert 'data-confirm' not in notice.group(1)  # one click
    done = client.post(undo.group(1), data={"csrf": _csrf(client, "/console")},
                       follow_redirects=False)
    assert done.status_code == 303
    after = client.get(done.headers["location"]).text
    assert "Control lifted: Huu Nghi International Border Gate, Calls paused." in after
    assert 'id="undo-control"' not in after
    assert re.search(r'id="node-huu-nghi" data-state="open"', after)
    assert client.get("/api/v1/gates/controls", headers=auth("regulator")).json() == []
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "gate_control.lift"))
    assert entry is not None
    assert (entry.actor_name, entry.target_id) == ("regulator", "huu-nghi")


def test_a_control_that_touched_nobody_says_so(client: TestClient) -> None:
    _login(client, "regulator")
    client.cookies.set("lang", "en")
    r = client.post("/console/controls", data={
        "csrf": _csrf(client, "/console"), "gate": "chi-ma", "kind": "extended_hours",
        "hours": "3", "vehicles_per_hour": "40", "reason": "fruit season evening"},
        follow_redirects=False)
    assert r.status_code == 303, r.text
    said = visible(client.get(r.headers["location"]).text)
    assert "No truck was called to the gate and no booking was in the closed hours." in said
    assert "Undo: lift this control" in said


def test_the_same_control_sent_twice_is_applied_once(client: TestClient, auth: Any) -> None:
    _login(client, "regulator")
    form = {"csrf": _csrf(client, "/console"), "gate": "chi-ma", "kind": "closure",
            "hours": "2", "reason": "flooded road"}
    first = client.post("/console/controls", data=form, follow_redirects=False)
    second = client.post("/console/controls", data=form, follow_redirects=False)
    assert first.headers["location"] == second.headers["location"]
    assert len(client.get("/api/v1/gates/controls", headers=auth("regulator")).json()) == 1
