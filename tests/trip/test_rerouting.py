"""The dispatcher and the regulator move waiting trucks between gates: a closure re-routes every
affected truck within one cycle, a capacity drop moves only those that would wait too long, and
each waiting truck sees its place and estimated call time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.clock import FixedClock
from borderflow.store.models import AuditEntry
from tests import factories
from tests.conftest import NOW, Peek
from tests.trip.test_dispatcher import STAGING

CHEMICALS = {"hs_code": "2815.11", "description": "Caustic soda, solid", "quantity": "800",
             "unit": "bag", "net_weight_kg": 16000, "value_usd": "9000.00"}


def staged(client: TestClient, auth: Any, plate: str, kind: str = "electronics",
           who: str = "enterprise") -> str:
    body = {"fruit": factories.fruit_declaration,
            "electronics": factories.declaration,
            "chemicals": lambda: factories.declaration(goods=[dict(CHEMICALS)])}[kind]()
    body["vehicles"][0]["plate"] = plate
    if who == "enterprise2":
        body["enterprise"] = {"tax_code": factories.OTHER_TAX, "name": "Cong ty Khac"}
    r = client.post("/api/v1/declarations", json=body, headers=auth(who))
    assert r.status_code == 201, r.text
    ref = f"{r.json()['reference']}-1"
    moved = client.post(f"/api/v1/trips/{ref}/movements",
                        json={"action": "enter", "area": STAGING}, headers=auth("yard"))
    assert moved.status_code == 200, moved.text
    return ref


def trip(client: TestClient, auth: Any, ref: str) -> dict[str, Any]:
    return dict(client.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).json())


def test_a_closure_reroutes_every_affected_trip_within_one_cycle(
    client: TestClient, auth: Any, db: Peek
) -> None:
    pause = client.post("/api/v1/gates/huu-nghi/controls", headers=auth("regulator"), json={
        "kind": "pause", "ends_at": (NOW + timedelta(minutes=30)).isoformat(),
        "reason": "queue builds up while nothing is called"})
    assert pause.status_code == 201
    fruit = [staged(client, auth, f"29C-300.{i:02d}", "fruit") for i in range(6)]
    electronics = [staged(client, auth, f"29C-301.{i:02d}") for i in range(4)]
    chemicals = staged(client, auth, "29C-302.01", "chemicals")
    booked = electronics[0]
    assert client.post(f"/api/v1/trips/{booked}/booking",
                       json={"slot_start": "2026-11-23T08:00:00+07:00"},
                       headers=auth("enterprise")).status_code == 201

    r = client.post("/api/v1/gates/huu-nghi/controls", headers=auth("regulator"), json={
        "kind": "closure", "direction": "export",
        "ends_at": (NOW + timedelta(hours=8)).isoformat(),
        "reason": "partner side customs system down"})
    assert r.status_code == 201, r.text
    cycle = r.json()["cycle"]

    moved = {m["trip"]: m for m in cycle["rerouted"]}
    assert sorted(moved) == sorted(fruit + electronics)  # every affected trip, in one cycle
    for ref in fruit + electronics:
        t = trip(client, auth, ref)
        assert t["gate"] == moved[ref]["gate"] != "huu-nghi"
        assert moved[ref]["from_gate"] == "huu-nghi"
        assert "partner side customs system down" in moved[ref]["reason"]
    assert {trip(client, auth, ref)["gate"] for ref in electronics} == {"tan-thanh-dedicated"}
    assert len({trip(client, auth, ref)["gate"] for ref in fruit}) >= 2  # spread, not piled up
    # the goods of this truck pass no other gate: it waits for Huu Nghi to reopen
    assert trip(client, auth, chemicals)["gate"] == "huu-nghi"
    assert chemicals not in moved
    # its booking was given back, the change is on the timeline and in the audit trail
    assert client.get(f"/api/v1/trips/{booked}/booking",
                      headers=auth("enterprise")).status_code == 404
    timeline = client.get(f"/api/v1/trips/{booked}/timeline", headers=auth("driver")).json()
    types = [e["type"] for e in timeline["entries"]]
    assert types.index("trip.unbooked") < types.index("trip.rerouted")
    assert db.one(select(AuditEntry).where(AuditEntry.action == "trip.rerouted",
                                           AuditEntry.target_id == trip(client, auth, booked)[
                                               "id"])).actor_name == "dispatcher"
    # called forward at their new gates (within those gates' room)
    assert {c["gate"] for c in cycle["called"]} <= {"tan-thanh-dedicated", "tan-thanh-clearance",
                                                    "coc-nam"}
    assert cycle["called"]


def test_a_capacity_drop_moves_only_trucks_that_would_wait_too_long(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    r = client.post("/api/v1/gates/huu-nghi/controls", headers=auth("regulator"), json={
        "kind": "capacity", "direction": "export", "vehicles_per_hour": 2,
        "ends_at": (NOW + timedelta(hours=8)).isoformat(), "reason": "one lane, one officer"})
    assert r.status_code == 201
    client.post("/api/v1/gates/tan-thanh-dedicated/controls", headers=auth("regulator"), json={
        "kind": "pause", "ends_at": (NOW + timedelta(minutes=1)).isoformat(),
        "reason": "shift change"})
    refs = []
    for i in range(7):  # they arrive one after the other
        clock.set(NOW + timedelta(seconds=i))
        refs.append(staged(client, auth, f"29C-310.{i:02d}"))
    queue = client.get("/api/v1/dispatch/queue", params={"gate": "huu-nghi"},
                       headers=auth("regulator")).json()
    assert [q["trip"] for q in queue] == refs
    calls = [q["estimated_call"] for q in queue]
    assert calls == sorted(calls)  # one truck per half hour at 2 an hour
    report = client.post("/api/v1/dispatch/run", headers=auth("regulator")).json()
    # the slot's one place went to the first truck; the other gate (paused until 08:01) calls
    # from 08:30: trucks it would call at least two hours (the gate's re-routing threshold)
    # earlier than Huu Nghi are moved there, the others keep their place
    assert [c["trip"] for c in report["called"] if c["gate"] == "huu-nghi"] == refs[:1]
    assert [m["trip"] for m in report["rerouted"]] == refs[5:]
    assert all(m["gate"] == "tan-thanh-dedicated" for m in report["rerouted"])
    assert "called earlier at the new gate" in report["rerouted"][0]["reason"]
    assert [trip(client, auth, ref)["gate"] for ref in refs[1:5]] == ["huu-nghi"] * 4


def test_each_waiting_truck_sees_its_place_and_estimated_call(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    client.post("/api/v1/gates/huu-nghi/controls", headers=auth("regulator"), json={
        "kind": "pause", "ends_at": (NOW + timedelta(hours=1)).isoformat(),
        "reason": "yard full on the partner side"})
    first = staged(client, auth, "29C-320.01")
    fruit = staged(client, auth, "29C-320.02", "fruit")
    place = client.get(f"/api/v1/trips/{first}/queue", headers=auth("driver"))
    assert place.status_code == 200, place.text
    body = place.json()
    assert (body["status"], body["gate"], body["position"], body["waiting"]) == (
        "at_staging", "huu-nghi", 2, 2)  # the fruit truck goes first
    assert body["estimated_call"] == "2026-11-23T02:00:00Z"  # when the pause ends
    assert client.get(f"/api/v1/trips/{fruit}/queue",
                      headers=auth("enterprise")).json()["position"] == 1
    assert client.get(f"/api/v1/trips/{first}/queue",
                      headers=auth("enterprise2")).status_code == 404
    clock.set(NOW + timedelta(hours=1, minutes=1))
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    called = client.get(f"/api/v1/trips/{first}/queue", headers=auth("driver")).json()
    assert called["status"] == "called"
    assert called["order"]["gate"] == "huu-nghi"
    assert called["position"] is None


def test_the_regulator_reroutes_a_trip_by_hand(client: TestClient, auth: Any) -> None:
    ref = staged(client, auth, "29C-330.01")
    url = f"/api/v1/trips/{ref}/reroute"
    assert client.post(url, json={"gate": "coc-nam", "reason": "x"},
                       headers=auth("enterprise")).status_code == 403
    refused = client.post(url, json={"gate": "coc-nam", "reason": "less queue there"},
                          headers=auth("regulator"))
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "gate"
    assert "machinery" in refused.json()["error"]["fields"][0]["reason"]
    unknown = client.post(url, json={"gate": "nowhere", "reason": "less queue there"},
                          headers=auth("regulator"))
    assert unknown.status_code == 422
    same = client.post(url, json={"gate": "huu-nghi", "reason": "less queue there"},
                       headers=auth("regulator"))
    assert same.status_code == 409
    headers = {**auth("regulator"), "Idempotency-Key": "reroute-330"}
    ok = client.post(url, json={"gate": "tan-thanh-dedicated", "reason": "less queue there"},
                     headers=headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["gate"] == "tan-thanh-dedicated"
    again = client.post(url, json={"gate": "tan-thanh-dedicated", "reason": "less queue there"},
                        headers=headers)
    assert again.json() == ok.json()
    t = trip(client, auth, ref)
    assert t["gate"] == "tan-thanh-dedicated"
    assert (t["procedure"], t["reroutes"]) == ("export-staged-36h", 1)
    entries = client.get(f"/api/v1/trips/{ref}/timeline", headers=auth("regulator")).json()
    assert [e["type"] for e in entries["entries"]].count("trip.rerouted") == 1


def test_extended_hours_open_evening_slots(client: TestClient, auth: Any) -> None:
    evening = f"{factories.OPEN_DAY}T18:00:00+07:00"

    def capacity() -> list[int]:
        return [s["capacity"] for s in client.get(
            "/api/v1/gates/huu-nghi/slots",
            params={"direction": "export", "from": evening, "count": 5}).json()]

    assert capacity() == [0, 0, 0, 0, 0]
    r = client.post("/api/v1/gates/huu-nghi/controls", headers=auth("regulator"), json={
        "kind": "extended_hours", "direction": "export", "starts_at": evening,
        "ends_at": f"{factories.OPEN_DAY}T20:00:00+07:00", "reason": "dragon fruit peak"})
    assert r.status_code == 201, r.text
    assert capacity() == [11, 11, 11, 11, 0]
    bad = client.post("/api/v1/gates/huu-nghi/controls", headers=auth("regulator"), json={
        "kind": "pause", "vehicles_per_hour": 5, "ends_at": evening, "reason": "oops"})
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "vehicles_per_hour"
