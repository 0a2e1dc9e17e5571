"""The whole border procedure through the API: an export at Huu Nghi and an import at Tan Thanh,
with a hold and release, a rejection, idempotent retries, occupancy and deadlines."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.clock import FixedClock
from borderflow.store.models import TripEvent
from tests import factories
from tests.conftest import NOW, Peek

STAGING = "staging:viettel-logistics-park"


class Walk:
    """Small helpers so each test reads like the procedure."""

    def __init__(self, client: TestClient, auth: Any) -> None:
        self.client = client
        self.auth = auth

    def trip(self, ref: str, who: str = "regulator") -> dict[str, Any]:
        r = self.client.get(f"/api/v1/trips/{ref}", headers=self.auth(who))
        assert r.status_code == 200, r.text
        return dict(r.json())

    def step(self, ref: str, step: str, who: str, expect: int = 200, **body: Any) -> Any:
        body.setdefault("outcome", "pass")
        r = self.client.post(f"/api/v1/trips/{ref}/steps/{step}", json=body,
                             headers=self.auth(who))
        assert r.status_code == expect, r.text
        return r.json()

    def pay(self, ref: str, who: str, expect: int = 201, method: str = "cash") -> Any:
        """The cashier takes the amount owed on the trip's invoice."""
        inv = self.client.get(f"/api/v1/trips/{ref}/invoice", headers=self.auth(who))
        if inv.status_code != 200:
            assert inv.status_code == expect, inv.text
            return inv.json()
        r = self.client.post(f"/api/v1/invoices/{inv.json()['number']}/payments",
                             json={"method": method, "amount": inv.json()["due"]},
                             headers=self.auth(who))
        assert r.status_code == expect, r.text
        return r.json()

    def move(self, ref: str, action: str, area: str, who: str, expect: int = 200) -> Any:
        r = self.client.post(f"/api/v1/trips/{ref}/movements",
                             json={"action": action, "area": area}, headers=self.auth(who))
        assert r.status_code == expect, r.text
        return r.json()

    def occupancy(self, area: str) -> int:
        rows = self.client.get("/api/v1/occupancy").json()
        return int(next(r["vehicles"] for r in rows if r["area"] == area))


def add_account(client: TestClient, auth: Any, username: str, **spec: Any) -> None:
    body = {"username": username, "password": "a long enough password", **spec}
    r = client.post("/api/v1/accounts", json=body, headers=auth("admin"))
    assert r.status_code == 201, r.text


def test_export_at_huu_nghi_with_a_hold_and_release(
    client: TestClient, auth: Any, db: Peek, clock: FixedClock
) -> None:
    w = Walk(client, auth)
    body = factories.fruit_declaration()
    body["vehicles"][0]["driver"]["crosses_border"] = True
    d = client.post("/api/v1/declarations", json=body, headers=auth("enterprise")).json()
    ref = f"{d['reference']}-1"

    # officers find the trip by reference, by scanned QR link, or by plate in any spelling
    for q in (d["reference"], f"https://gate.example/d/{d['reference']}", "29c 123 45",
              "29C-12345"):
        found = client.get("/api/v1/trips", params={"q": q}, headers=auth("customs")).json()
        assert [t["reference"] for t in found["items"]] == [ref], q
    t = w.trip(ref)
    assert t["status"] == "declared"
    assert t["priority"] == "perishable"
    steps = {s["code"]: s for s in t["steps"]}
    assert steps["declaration"]["status"] == "passed"
    assert steps["transshipment"]["status"] == "skipped"  # Huu Nghi does not transship
    assert steps["quarantine"]["status"] == "pending"
    assert steps["medical"]["status"] == "pending"
    assert set(steps["medical"]["parallel_with"]) >= {"border_guard"}

    # nothing can be inspected before the truck has arrived and been admitted
    blocked = w.step(ref, "border_guard", "borderguard", expect=409)
    assert blocked["error"]["code"] == "step_not_ready"
    assert "transport, vehicle_control" in blocked["error"]["message"]

    # arrival at the staging park, call forward, admission to the gate area
    assert w.occupancy(STAGING) == 0
    assert w.move(ref, "enter", STAGING, "yard")["status"] == "at_staging"
    assert w.occupancy(STAGING) == 1
    early = w.move(ref, "enter", "gate_area:huu-nghi", "borderguard", expect=409)
    assert "not been called forward" in early["error"]["message"]
    called = client.post(f"/api/v1/trips/{ref}/call", json={}, headers=auth("regulator"))
    assert called.json()["status"] == "called"
    assert "call-grace" in called.json()["deadlines"]
    inside = w.move(ref, "enter", "gate_area:huu-nghi", "borderguard")
    assert inside["status"] == "in_gate_area"
    assert inside["location"] == "gate_area:huu-nghi"
    assert w.occupancy(STAGING) == 0
    assert w.occupancy("gate_area:huu-nghi") == 1

    # the officers' work queues
    queue = client.get("/api/v1/checkpoints/pending", headers=auth("health")).json()
    assert [(i["trip"]["reference"], i["steps"]) for i in queue] == [(ref, ["medical"])]
    assert w.trip(ref, "borderguard")["pending_for_you"] == ["border_guard"]

    # inspections; quarantine takes a sample and holds, customs goes on in parallel
    w.step(ref, "medical", "health")
    w.step(ref, "border_guard", "borderguard")
    wrong_role = w.step(ref, "quarantine", "customs", expect=403)
    assert "quarantine officers" in wrong_role["error"]["message"]
    held = w.step(ref, "quarantine", "quarantine", outcome="hold", reason_code="sampling",
                  note="sample sent to the lab")
    assert held["on_hold"] is True
    no_channel = w.step(ref, "customs", "customs", expect=422)
    assert no_channel["error"]["fields"][0]["field"] == "channel"
    w.step(ref, "customs", "customs", channel="yellow")
    unpaid = w.step(ref, "fee", "cashier", expect=409)
    assert "the fee is not paid: invoice INV-" in unpaid["error"]["message"]
    paid = w.pay(ref, "cashier")
    assert paid["amount"] == 900000  # a 40ft container of fresh fruit
    fee_step = next(s for s in w.trip(ref)["steps"] if s["code"] == "fee")
    assert fee_step["status"] == "passed"
    waiting = w.step(ref, "crossing", "borderguard", expect=409)
    assert "quarantine" in waiting["error"]["message"]
    w.step(ref, "quarantine", "quarantine", expect=409)  # on hold: release first
    released = client.post(f"/api/v1/trips/{ref}/steps/quarantine/release",
                           json={"note": "lab result negative"}, headers=auth("quarantine"))
    assert released.json()["on_hold"] is False
    w.step(ref, "quarantine", "quarantine")

    # crossing, retried with the same key: one effect
    clock.set(NOW + timedelta(hours=1))
    headers = auth("borderguard", **{"Idempotency-Key": "cross-1"})
    first = client.post(f"/api/v1/trips/{ref}/steps/crossing", json={"outcome": "pass"},
                        headers=headers)
    again = client.post(f"/api/v1/trips/{ref}/steps/crossing", json={"outcome": "pass"},
                        headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    done = first.json()
    assert done["status"] == "completed"
    assert done["location"] == "partner"
    passed = db.scalars(select(TripEvent).where(TripEvent.type == "step.passed",
                                                TripEvent.trip_id == done["id"]))
    assert [e.payload["step"] for e in passed].count("crossing") == 1
    assert w.occupancy("gate_area:huu-nghi") == 0

    # the two-way transport pilot: the Vietnamese truck must be back within 24 h
    assert done["deadlines"]["return"]["met_at"] is None
    clock.set(NOW + timedelta(hours=30))
    alerts = client.get("/api/v1/alerts/deadlines", headers=auth("regulator")).json()
    assert isinstance(alerts, list), alerts
    assert [(a["reference"], a["deadlines"][0]["code"]) for a in alerts] == [(ref, "return")]
    back = client.post(f"/api/v1/trips/{ref}/return", json={}, headers=auth("borderguard"))
    assert back.json()["deadlines"]["return"]["met_at"] is not None
    assert client.get("/api/v1/alerts/deadlines", headers=auth("regulator")).json() == []

    # the timeline: every event, who and when, and the minutes spent per step
    tl = client.get(f"/api/v1/trips/{ref}/timeline", headers=auth("enterprise")).json()
    types = [e["type"] for e in tl["entries"]]
    assert types[0] == "trip.created"
    assert types[-1] == "trip.returned"
    assert types.count("step.held") == 1
    assert types.count("step.released") == 1
    assert tl["step_minutes"]["crossing"] == 60.0
    assert tl["system_minutes"] == 60.0
    assert {e["source"] for e in tl["entries"]} >= {"officer_screen", "regulator"}

    # reports count the missed deadline on the day it was due (local date)
    report = client.get("/api/v1/reports/step-durations",
                        params={"gate": "huu-nghi", "date": "2026-11-24"},
                        headers=auth("regulator")).json()
    assert report["deadlines_missed"] == {"return": 1}


def test_import_at_tan_thanh_with_transshipment_and_a_rejection(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    w = Walk(client, auth)
    add_account(client, auth, "tt-yard", roles=["yard_operator"],
                yard_scope=["tan-thanh-transshipment"])
    add_account(client, auth, "tt-cashier", roles=["cashier"],
                gate_scope=["tan-thanh-dedicated"])
    add_account(client, auth, "hn-customs", roles=["customs"], gate_scope=["huu-nghi"])
    body = factories.declaration(direction="import", requested_gate="tan-thanh-dedicated")
    body["vehicles"][0]["plate"] = "桂A12345"
    body["vehicles"][0]["driver"] |= {"crosses_border": True, "document_type": "passport",
                                      "document_number": "E12345678"}
    second = dict(body["vehicles"][0], plate="桂A54321")
    body["vehicles"].append(second)
    d = client.post("/api/v1/declarations", json=body, headers=auth("enterprise"))
    assert d.status_code == 201, d.text
    ref1, ref2 = (f"{d.json()['reference']}-{n}" for n in (1, 2))
    t = w.trip(ref1)
    assert t["flow"] == "import"
    assert t["facts"]["plate"] == "桂A·12345"
    assert t["facts"]["net_weight_kg"] + w.trip(ref2)["facts"]["net_weight_kg"] == 6000

    # the partner truck crosses into the gate area first
    crossed = w.step(ref1, "crossing", "borderguard")
    assert crossed["status"] == "in_gate_area"
    assert crossed["location"] == "gate_area:tan-thanh-dedicated"
    w.step(ref1, "medical", "health")
    w.step(ref1, "border_guard", "borderguard")
    scoped = w.step(ref1, "customs", "hn-customs", expect=403, channel="green")
    assert "tan-thanh-dedicated" in scoped["error"]["message"]
    w.step(ref1, "customs", "customs", channel="red")
    assert w.trip(ref1)["steps"][5]["channel"] == "red"
    w.move(ref1, "enter", "yard:tan-thanh-transshipment", "tt-yard")
    assert w.occupancy("yard:tan-thanh-transshipment") == 1
    assert w.occupancy("gate_area:tan-thanh-dedicated") == 1  # a yard is inside the gate area
    w.step(ref1, "transshipment", "tt-yard")
    w.pay(ref1, "cashier", expect=404)  # the demo cashier only sees Huu Nghi trips
    w.pay(ref1, "tt-cashier", method="cash")
    w.move(ref1, "leave", "yard:tan-thanh-transshipment", "tt-yard")
    done = w.step(ref1, "exit", "borderguard")
    assert done["status"] == "completed"
    assert done["location"] is None
    assert w.occupancy("gate_area:tan-thanh-dedicated") == 0

    # the second truck is rejected at customs; nothing more can be recorded but its exit
    w.step(ref2, "crossing", "borderguard")
    w.step(ref2, "border_guard", "borderguard")
    no_reason = w.step(ref2, "customs", "customs", expect=422, outcome="reject")
    assert no_reason["error"]["fields"][0]["field"] == "reason_code"
    bad_reason = w.step(ref2, "customs", "customs", expect=422, outcome="reject",
                        reason_code="sampling")  # a hold reason, not a rejection reason
    assert "goods-prohibited" in bad_reason["error"]["fields"][0]["reason"]
    rejected = w.step(ref2, "customs", "customs", outcome="reject",
                      reason_code="goods-prohibited", note="goods not as declared")
    assert rejected["status"] == "rejected"
    assert rejected["outcome"]["reason_code"] == "goods-prohibited"
    assert w.step(ref2, "fee", "tt-cashier", expect=409)["error"]["code"] == "invalid_transition"
    left = w.move(ref2, "leave", "gate_area:tan-thanh-dedicated", "borderguard")
    assert left["location"] is None
    assert w.occupancy("gate_area:tan-thanh-dedicated") == 0


def test_movements_never_make_occupancy_negative(client: TestClient, auth: Any) -> None:
    w = Walk(client, auth)
    d = client.post("/api/v1/declarations", json=factories.declaration(),
                    headers=auth("enterprise")).json()
    ref = f"{d['reference']}-1"
    refused = w.move(ref, "leave", STAGING, "yard", expect=409)
    assert "an exit needs an entry" in refused["error"]["message"]
    unknown = w.move(ref, "enter", "staging:nowhere", "yard", expect=422)
    assert unknown["error"]["fields"][0]["field"] == "area"
    w.move(ref, "enter", STAGING, "yard")
    w.move(ref, "enter", STAGING, "yard", expect=409)
    w.move(ref, "leave", STAGING, "yard")
    w.move(ref, "leave", STAGING, "yard", expect=409)
    assert all(a["vehicles"] >= 0 for a in client.get("/api/v1/occupancy").json())
    assert w.occupancy(STAGING) == 0
    # the yard operator runs the staging park but not the gate area
    w.move(ref, "enter", STAGING, "yard")
    client.post(f"/api/v1/trips/{ref}/call", json={}, headers=auth("regulator"))
    w.move(ref, "enter", "gate_area:huu-nghi", "yard", expect=403)


def test_a_declaration_is_amended_only_before_its_vehicles_arrive(
    client: TestClient, auth: Any
) -> None:
    w = Walk(client, auth)
    d = client.post("/api/v1/declarations", json=factories.declaration(),
                    headers=auth("enterprise")).json()
    fixed = client.patch(f"/api/v1/declarations/{d['id']}/vehicles/1",
                         json={"plate": "29C-999.99"}, headers=auth("enterprise"))
    assert fixed.status_code == 200
    trips = client.get("/api/v1/trips", params={"q": d["reference"]},
                       headers=auth("enterprise")).json()["items"]
    by_status = {t["status"]: t for t in trips}
    assert set(by_status) == {"cancelled", "declared"}
    assert by_status["declared"]["facts"]["plate"] == "29C-999.99"
    ref = by_status["declared"]["reference"]
    w.move(ref, "enter", STAGING, "yard")
    late = client.patch(f"/api/v1/declarations/{d['id']}", json={"note": "too late"},
                        headers=auth("enterprise"))
    assert late.status_code == 409
    assert "can no longer be changed" in late.json()["error"]["message"]
    cancel = client.post(f"/api/v1/declarations/{d['id']}/cancel", json={"reason": "sold"},
                         headers=auth("enterprise"))
    assert cancel.status_code == 409


def test_scoping_of_trips_follows_the_declaration(client: TestClient, auth: Any) -> None:
    d = client.post("/api/v1/declarations", json=factories.declaration(),
                    headers=auth("enterprise")).json()
    ref = f"{d['reference']}-1"
    assert client.get(f"/api/v1/trips/{ref}", headers=auth("enterprise2")).status_code == 404
    assert client.get("/api/v1/trips", params={"q": d["reference"]},
                      headers=auth("enterprise2")).json()["total"] == 0
    assert client.get(f"/api/v1/trips/{ref}", headers=auth("driver")).status_code == 200
    assert client.get(f"/api/v1/trips/{ref}", headers=auth("liaison")).status_code == 403
    assert client.get(f"/api/v1/trips/{ref}").status_code == 401
    step = client.post(f"/api/v1/trips/{ref}/steps/fee", json={"outcome": "pass"},
                       headers=auth("enterprise"))
    assert step.status_code == 403


def test_step_durations_summary_per_gate_and_day(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    w = Walk(client, auth)
    for i, minutes in enumerate((10, 30, 50)):
        body = factories.declaration(direction="import", requested_gate="huu-nghi")
        body["vehicles"][0]["plate"] = f"桂A1234{i}"
        clock.set(NOW)
        d = client.post("/api/v1/declarations", json=body, headers=auth("enterprise")).json()
        ref = f"{d['reference']}-1"
        w.step(ref, "crossing", "borderguard")
        clock.set(NOW + timedelta(minutes=minutes))
        w.step(ref, "border_guard", "borderguard")
    clock.set(NOW + timedelta(hours=2))
    r = client.get("/api/v1/reports/step-durations",
                   params={"gate": "huu-nghi", "date": "2026-11-23"}, headers=auth("regulator"))
    assert r.status_code == 200
    summary = r.json()["steps"]["border_guard"]
    # nearest rank, as every report: p90 of three values is the largest
    assert summary == {"count": 3, "mean": 30.0, "p50": 30.0, "p90": 50.0}
    assert client.get("/api/v1/reports/step-durations",
                      headers=auth("enterprise")).status_code == 403


def test_a_mistaken_pass_is_corrected_by_a_new_event(client: TestClient, auth: Any) -> None:
    w = Walk(client, auth)
    body = factories.declaration(direction="import", requested_gate="huu-nghi")
    body["vehicles"][0]["plate"] = "桂A77777"
    d = client.post("/api/v1/declarations", json=body, headers=auth("enterprise")).json()
    ref = f"{d['reference']}-1"
    w.step(ref, "crossing", "borderguard")
    w.step(ref, "border_guard", "borderguard")
    w.step(ref, "customs", "customs", channel="green")
    voided = client.post(f"/api/v1/trips/{ref}/steps/customs/void",
                         json={"reason": "recorded on the wrong truck"}, headers=auth("customs"))
    assert voided.status_code == 200, voided.text
    steps = {s["code"]: s for s in voided.json()["steps"]}
    assert steps["customs"]["status"] == "pending"
    assert steps["customs"]["channel"] is None
    # the log keeps both the pass and its correction
    tl = client.get(f"/api/v1/trips/{ref}/timeline", headers=auth("customs")).json()
    assert [e["type"] for e in tl["entries"]][-2:] == ["step.passed", "step.voided"]
    # a step that later steps depend on cannot be voided once they passed
    w.step(ref, "customs", "customs", channel="green")
    w.pay(ref, "cashier")
    w.step(ref, "exit", "borderguard")
    late = client.post(f"/api/v1/trips/{ref}/steps/customs/void",
                       json={"reason": "too late"}, headers=auth("customs"))
    assert late.status_code == 409


def test_bad_step_requests_are_explained(client: TestClient, auth: Any, clock: FixedClock
                                          ) -> None:
    w = Walk(client, auth)
    d = client.post("/api/v1/declarations", json=factories.declaration(),
                    headers=auth("enterprise")).json()
    ref = f"{d['reference']}-1"
    unknown = w.step(ref, "teleport", "customs", expect=404)
    assert "no step 'teleport'" in unknown["error"]["message"]
    future = (NOW + timedelta(hours=1)).isoformat()
    r = w.step(ref, "customs", "customs", expect=422, occurred_at=future, channel="green")
    assert r["error"]["fields"][0]["field"] == "occurred_at"
    r = w.step(ref, "customs", "customs", expect=422, outcome="maybe")
    assert r["error"]["fields"][0]["field"] == "outcome"
    r = w.step(ref, "customs", "customs", expect=422, reason_code="sampling")
    assert r["error"]["fields"][0]["field"] == "reason_code"
    stale = client.post(f"/api/v1/trips/{ref}/movements",
                        json={"action": "enter", "area": STAGING},
                        headers=auth("yard", **{"If-Match": '"7"'}))
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "version_conflict"
    # created, then its fee estimated: nothing else was written
    assert client.get(f"/api/v1/trips/{ref}", headers=auth("yard")).json()["version"] == 2


def test_an_import_leaving_the_gate_area_passes_its_exit_step(
    client: TestClient, auth: Any
) -> None:
    """A camera or GPS seeing an import leave the gate area records its exit, once every
    other step is done; before that the exit is refused and the trip stays where it is."""
    w = Walk(client, auth)
    add_account(client, auth, "tt-yard", roles=["yard_operator"],
                yard_scope=["tan-thanh-transshipment"])
    add_account(client, auth, "tt-cashier", roles=["cashier"],
                gate_scope=["tan-thanh-dedicated"])
    body = factories.declaration(direction="import", requested_gate="tan-thanh-dedicated")
    body["vehicles"][0]["plate"] = "桂A12399"
    d = client.post("/api/v1/declarations", json=body, headers=auth("enterprise")).json()
    ref = f"{d['reference']}-1"
    w.step(ref, "crossing", "borderguard")
    early = w.move(ref, "leave", "gate_area:tan-thanh-dedicated", "borderguard", expect=409)
    assert "step 'exit' cannot be recorded yet" in early["error"]["message"]
    assert w.trip(ref)["location"] == "gate_area:tan-thanh-dedicated"
    w.step(ref, "border_guard", "borderguard")
    w.step(ref, "customs", "customs", channel="green")
    w.move(ref, "enter", "yard:tan-thanh-transshipment", "tt-yard")
    w.step(ref, "transshipment", "tt-yard")
    w.move(ref, "leave", "yard:tan-thanh-transshipment", "tt-yard")
    w.pay(ref, "tt-cashier", method="cash")
    left = w.move(ref, "leave", "gate_area:tan-thanh-dedicated", "borderguard")
    assert left["status"] == "completed"
    assert left["location"] is None
    assert next(s for s in left["steps"] if s["code"] == "exit")["status"] == "passed"
