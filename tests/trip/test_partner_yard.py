"""The partner side's yard counts go into the plan: a full partner yard holds export trucks at
its gate and sends them to gates with room; stale counts stop counting; bad counts are refused.
And the dispatcher runs as soon as a truck reaches the park, not only every minute."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.store.models import AuditEntry
from tests.conftest import NOW, Peek
from tests.trip.test_rerouting import staged, trip

URL = "/api/v1/gates/huu-nghi/partner-yard"


def test_a_full_partner_yard_holds_exports_at_its_gate_and_sends_them_elsewhere(
    client: TestClient, auth: Any, db: Peek
) -> None:
    refs = [staged(client, auth, f"29C-320.{i:02d}") for i in range(6)]
    r = client.post(URL, headers=auth("regulator"), json={
        "direction": "export", "vehicles": 48, "capacity": 50,
        "note": "Youyiguan yard, phone call with the duty officer"})
    assert r.status_code == 201, r.text
    assert r.json()["recorded_by"] == "regulator"
    assert r.json()["counted_at"].startswith("2026-11-23T01:00")

    # the count re-planned at once: two trucks fit in the partner yard, the others went to
    # another gate whose goods and direction fit (Tan Thanh's dedicated road)
    states = [trip(client, auth, ref) for ref in refs]
    at_huu_nghi = [s for s in states if s["gate"] == "huu-nghi"]
    assert len(at_huu_nghi) == 2
    assert all(s["status"] == "called" for s in at_huu_nghi)
    moved = [s for s in states if s["gate"] != "huu-nghi"]
    assert {s["gate"] for s in moved} == {"tan-thanh-dedicated"}
    timeline = client.get(f"/api/v1/trips/{moved[0]['reference']}/timeline",
                          headers=auth("regulator")).json()
    reroute = next(e for e in timeline["entries"] if e["type"] == "trip.rerouted")
    assert "partner side's yard at huu-nghi has room for only 2" in reroute["payload"]["reason"]

    view = client.get(URL).json()  # public
    assert view["export_room"] == 0
    assert [c["vehicles"] for c in view["counts"]] == [48]

    # a later truck is held at the park, not called into the full partner yard
    late = staged(client, auth, "29C-320.99")
    report = client.post("/api/v1/dispatch/run", headers=auth("regulator")).json()
    assert late not in [c["trip"] for c in report["called"] if c["gate"] == "huu-nghi"]

    audit = db.scalars(select(AuditEntry).where(AuditEntry.action == "partner_yard.recorded"))
    assert [(a.actor_name, a.target_id, a.after["vehicles"]) for a in audit] == [
        ("regulator", "huu-nghi", 48)]


def test_counts_older_than_the_gates_report_hours_do_not_limit(
    client: TestClient, auth: Any
) -> None:
    old = client.post(URL, headers=auth("regulator"), json={
        "direction": "export", "vehicles": 50, "capacity": 50,
        "counted_at": (NOW - timedelta(hours=40)).isoformat()})
    assert old.status_code == 201
    view = client.get(URL).json()
    assert view["export_room"] is None  # 40 h old: beyond the 36 h it is used for
    ref = staged(client, auth, "29C-321.01")
    report = client.post("/api/v1/dispatch/run", headers=auth("regulator")).json()
    assert [c["trip"] for c in report["called"]] == [ref]


def test_without_the_partner_yards_capacity_a_count_is_kept_but_limits_nothing(
    client: TestClient, auth: Any
) -> None:
    r = client.post(URL, headers=auth("regulator"), json={"direction": "export",
                                                          "vehicles": 900})
    assert r.status_code == 201
    assert client.get(URL).json()["export_room"] is None


def test_bad_counts_are_refused_with_the_field_named(client: TestClient, auth: Any) -> None:
    cases = [
        ("/api/v1/gates/nowhere/partner-yard", {"direction": "export", "vehicles": 3}, "gate"),
        (URL, {"direction": "export", "vehicles": -1}, "vehicles"),
        (URL, {"direction": "sideways", "vehicles": 3}, "direction"),
        (URL, {"direction": "export", "vehicles": 3,
               "counted_at": (NOW + timedelta(hours=2)).isoformat()}, "counted_at"),
        (URL, {"direction": "export", "vehicles": 3,
               "counted_at": (NOW - timedelta(days=8)).isoformat()}, "counted_at"),
        (URL, {"direction": "export", "vehicles": 400, "capacity": 50}, "vehicles"),
        (URL, {"direction": "export", "vehicles": 3, "trucks": 4}, "trucks"),
    ]
    for url, body, field in cases:
        r = client.post(url, headers=auth("regulator"), json=body)
        assert r.status_code == 422, (body, r.text)
        assert field in [e["field"] for e in r.json()["error"]["fields"]], (body, r.text)
    assert client.post(URL, headers=auth("customs"),
                       json={"direction": "export", "vehicles": 3}).status_code == 403
    assert client.post(URL, json={"direction": "export", "vehicles": 3}).status_code == 401
    assert client.get("/api/v1/gates/nowhere/partner-yard").status_code == 404
    assert client.get(URL).json()["counts"] == []  # nothing half-written


def test_the_dispatcher_runs_as_soon_as_a_truck_reaches_the_park(
    settings: Settings, clock: FixedClock, auth: Any
) -> None:
    hourly = settings.model_copy(update={"dispatch_interval_seconds": 3600})
    app = create_app(hourly, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        ref = staged(client, auth, "29C-322.01")  # no dispatch run is requested
        status = trip(client, auth, ref)["status"]
        deadline = time.monotonic() + 10
        while status != "called" and time.monotonic() < deadline:
            time.sleep(0.1)
            status = trip(client, auth, ref)["status"]
        assert status == "called"
        called = next(e for e in client.get(f"/api/v1/trips/{ref}/timeline",
                                            headers=auth("regulator")).json()["entries"]
                      if e["type"] == "trip.called")
        assert called["actor"] == "dispatcher"
    app.state.ctx.engine.dispose()
