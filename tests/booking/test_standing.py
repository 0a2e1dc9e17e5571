"""Abuse rules: no-shows and late cancellations count against the vehicle; enough of them bar it
from booking for a while; a regulator can pardon one; a gate can cancel no-shows instead of
re-queueing them."""

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

PLATE = "29C-400.01"
SLOT = f"{factories.OPEN_DAY}T08:00:00+07:00"


def declared(client: TestClient, auth: Any, plate: str = PLATE) -> str:
    body = factories.declaration()
    body["vehicles"][0]["plate"] = plate
    r = client.post("/api/v1/declarations", json=body, headers=auth("enterprise"))
    assert r.status_code == 201, r.text
    return f"{r.json()['reference']}-1"


def standing(client: TestClient, auth: Any, who: str = "regulator") -> Any:
    return client.get(f"/api/v1/vehicles/{PLATE}/standing", headers=auth(who))


def test_repeated_no_shows_bar_the_vehicle_until_pardoned(
    client: TestClient, auth: Any, clock: FixedClock, db: Peek
) -> None:
    ref = _at_staging(client, auth, PLATE)
    at = NOW
    no_shows: list[str] = []
    while len(no_shows) < 3:
        report = client.post("/api/v1/dispatch/run", headers=auth("regulator")).json()
        no_shows += report["no_shows"]
        at += timedelta(minutes=61)  # Huu Nghi gives 60 minutes to reach the gate
        clock.set(at)
    assert no_shows == [ref] * 3

    body = standing(client, auth).json()
    assert [o["kind"] for o in body["offences"]] == ["no_show"] * 3
    assert all(o["trip"] == ref for o in body["offences"])
    assert body["may_book"] is False
    last = body["offences"][-1]["at"]
    assert body["barred_until"][:10] == "2026-12-07"  # 14 days after the third no-show
    assert last[:10] == "2026-11-23"

    # the vehicle may still come to the park and queue, but not book a slot
    again = declared(client, auth, "29C 400.01")
    refused = client.post(f"/api/v1/trips/{again}/booking", json={"slot_start": SLOT},
                          headers=auth("enterprise"))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "vehicle_barred"
    assert "2026-12-07" in refused.json()["error"]["message"]

    # who may see it: officials, the enterprise and driver of its trips; nobody else
    assert standing(client, auth, "customs").status_code == 200
    assert standing(client, auth, "driver").status_code == 200
    assert standing(client, auth, "enterprise").status_code == 200
    assert standing(client, auth, "enterprise2").status_code == 404
    assert client.get("/api/v1/vehicles/not a plate/standing",
                      headers=auth("regulator")).status_code == 422

    offence = body["offences"][0]["id"]
    url = f"/api/v1/vehicles/{PLATE}/offences/{offence}/pardon"
    assert client.post(url, json={"reason": "engine failure on the way, towed"},
                       headers=auth("enterprise")).status_code == 403
    assert client.post(url, json={"reason": ""}, headers=auth("regulator")).status_code == 422
    assert client.post(f"/api/v1/vehicles/{PLATE}/offences/99999/pardon",
                       json={"reason": "engine failure"},
                       headers=auth("regulator")).status_code == 404
    pardoned = client.post(url, json={"reason": "engine failure on the way, towed"},
                           headers=auth("regulator"))
    assert pardoned.status_code == 200, pardoned.text
    assert pardoned.json()["may_book"] is True
    assert pardoned.json()["offences"][0]["pardoned_by"] == "regulator"
    assert db.one(select(AuditEntry).where(AuditEntry.action == "vehicle.pardon")
                  ).actor_name == "regulator"
    assert client.post(f"/api/v1/trips/{again}/booking", json={"slot_start": SLOT},
                       headers=auth("enterprise")).status_code == 201


def test_only_the_holders_late_cancellations_count(
    client: TestClient, auth: Any
) -> None:
    ref = declared(client, auth)
    soon = "2026-11-23T09:00:00+07:00"  # an hour from now: within the 2-hour rule
    for slot, who in ((SLOT, "enterprise"), (soon, "regulator"), (soon, "driver")):
        assert client.post(f"/api/v1/trips/{ref}/booking", json={"slot_start": slot},
                           headers=auth("enterprise")).status_code == 201
        assert client.request("DELETE", f"/api/v1/trips/{ref}/booking",
                              headers=auth(who)).status_code == 204
    offences = standing(client, auth).json()["offences"]
    assert [(o["kind"], o["trip"]) for o in offences] == [("late_cancellation", ref)]
    assert "09:00" in offences[0]["detail"]


def test_a_gate_may_cancel_no_shows_instead_of_requeueing_them(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    r = client.patch("/api/v1/network/gates/huu-nghi", headers=auth("admin"), json={
        "changes": {"regulation": {"policy": "cycle", "grace_minutes": 20, "no_show": "cancel"}},
        "note": "no-shows lose their place"})
    assert r.status_code == 201, r.text
    ref = _at_staging(client, auth, PLATE)
    assert client.post("/api/v1/dispatch/run",
                       headers=auth("regulator")).json()["called"][0]["trip"] == ref
    clock.set(NOW + timedelta(minutes=21))
    report = client.post("/api/v1/dispatch/run", headers=auth("regulator")).json()
    assert (report["no_shows"], report["cancelled"], report["called"]) == ([ref], [ref], [])
    trip = client.get(f"/api/v1/trips/{ref}", headers=auth("enterprise")).json()
    assert trip["status"] == "cancelled"
    assert "no-show" in trip["outcome"]["note"]
    left = client.post(f"/api/v1/trips/{ref}/movements",  # the truck still leaves the park
                       json={"action": "leave", "area": "staging:viettel-logistics-park"},
                       headers=auth("yard"))
    assert left.status_code == 200, left.text
