"""Regulator controls: closing a gate, changing its capacity, pausing calls; each takes effect
at once and is audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.clock import FixedClock
from borderflow.store.models import AuditEntry
from tests import factories
from tests.conftest import NOW, Peek
from tests.trip.test_dispatcher import _at_staging

SLOT = "2026-11-25T08:00:00+07:00"


def slots(client: TestClient, start: str = SLOT, count: int = 1) -> list[dict[str, Any]]:
    return list(client.get("/api/v1/gates/huu-nghi/slots",
                           params={"direction": "export", "from": start,
                                   "count": count}).json())


def test_closing_a_gate_releases_bookings_recalls_trucks_and_stops_calls(
    client: TestClient, auth: Any, db: Peek, clock: FixedClock
) -> None:
    booked = _at_staging(client, auth, "29C-200.01")
    client.post(f"/api/v1/trips/{booked}/booking", json={"slot_start": SLOT},
                headers=auth("enterprise"))
    called = _at_staging(client, auth, "29C-200.02")
    assert client.post("/api/v1/dispatch/run",
                       headers=auth("regulator")).json()["called"][0]["trip"] == called
    close = {"kind": "closure", "ends_at": "2026-11-26T08:00:00+07:00",
             "reason": "road works at the gate"}
    assert client.post("/api/v1/gates/huu-nghi/controls", json=close,
                       headers=auth("customs")).status_code == 403
    r = client.post("/api/v1/gates/huu-nghi/controls", json=close, headers=auth("regulator"))
    assert r.status_code == 201, r.text
    result = r.json()
    assert result["bookings_released"] == [booked]
    assert result["trips_recalled"] == [called]
    # nothing is called to the closed gate; its trucks go where their goods may pass instead
    assert all(c["gate"] != "huu-nghi" for c in result["cycle"]["called"])
    assert sorted((r["trip"], r["gate"]) for r in result["cycle"]["rerouted"]) == sorted(
        [(booked, "tan-thanh-dedicated"), (called, "tan-thanh-dedicated")])
    assert client.get(f"/api/v1/trips/{called}",
                      headers=auth("regulator")).json()["gate"] == "tan-thanh-dedicated"
    assert slots(client)[0]["capacity"] == 0
    body = factories.declaration()
    body["vehicles"][0]["plate"] = "29C-200.07"
    d = client.post("/api/v1/declarations", json=body, headers=auth("enterprise")).json()
    full = client.post(f"/api/v1/trips/{d['reference']}-1/booking", json={"slot_start": SLOT},
                       headers=auth("enterprise"))
    assert full.status_code == 422  # closed then
    assert full.json()["error"]["fields"][0]["field"] == "slot_start"
    listed = client.get("/api/v1/gates/controls").json()
    assert [(c["gate"], c["kind"]) for c in listed] == [("huu-nghi", "closure")]
    assert db.one(select(AuditEntry).where(AuditEntry.action == "gate_control.closure")
                  ).actor_name == "regulator"

    # reopening: capacity comes back, the dispatcher calls to the gate again
    later = _at_staging(client, auth, "29C-200.09")
    lifted = client.post(f"/api/v1/gates/controls/{result['control']['id']}/lift",
                         headers=auth("regulator"))
    assert lifted.status_code == 200
    assert [(c["trip"], c["gate"]) for c in lifted.json()["cycle"]["called"]] == [
        (later, "huu-nghi")]
    assert slots(client)[0]["capacity"] == 11


def test_capacity_for_a_period_and_pausing_calls(client: TestClient, auth: Any,
                                                 clock: FixedClock) -> None:
    r = client.post("/api/v1/gates/huu-nghi/controls",
                    json={"kind": "capacity", "direction": "export", "vehicles_per_hour": 4,
                          "starts_at": SLOT, "ends_at": "2026-11-25T10:00:00+07:00",
                          "reason": "one lane under repair"}, headers=auth("regulator"))
    assert r.status_code == 201, r.text
    assert [s["capacity"] for s in slots(client, count=5)] == [2, 2, 2, 2, 11]
    waiting = _at_staging(client, auth, "29C-200.03")
    pause = client.post("/api/v1/gates/huu-nghi/controls",
                        json={"kind": "pause", "ends_at": (NOW + timedelta(hours=1)).isoformat(),
                              "reason": "partner side yard full"}, headers=auth("regulator"))
    assert pause.status_code == 201
    assert client.post("/api/v1/dispatch/run", headers=auth("regulator")).json()["called"] == []
    clock.set(NOW + timedelta(hours=1, minutes=1))  # the pause is over
    report = client.post("/api/v1/dispatch/run", headers=auth("regulator")).json()
    assert [c["trip"] for c in report["called"]] == [waiting]


def test_controls_are_checked(client: TestClient, auth: Any) -> None:
    def post(body: dict[str, Any], gate: str = "huu-nghi") -> Any:
        return client.post(f"/api/v1/gates/{gate}/controls", json=body,
                           headers=auth("regulator"))

    base = {"kind": "closure", "ends_at": "2026-11-26T08:00:00+07:00", "reason": "storm"}
    assert post(base, gate="atlantis").status_code == 404
    r = post({**base, "ends_at": "2026-11-22T08:00:00+07:00"})
    assert r.json()["error"]["fields"][0]["field"] == "ends_at"
    r = post({**base, "kind": "capacity"})
    assert r.json()["error"]["fields"][0]["field"] == "vehicles_per_hour"
    r = post({**base, "direction": "import"}, gate="binh-nghi")
    assert r.json()["error"]["fields"][0]["field"] == "direction"
