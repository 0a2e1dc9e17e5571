"""Two officers recording the same step at the same moment: exactly one succeeds."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.store.models import TripEvent
from tests import factories
from tests.conftest import Peek


def _import_trip_in_gate_area(client: TestClient, auth: Any) -> str:
    body = factories.declaration(direction="import", requested_gate="huu-nghi")
    body["vehicles"][0]["plate"] = "桂A12345"
    d = client.post("/api/v1/declarations", json=body, headers=auth("enterprise")).json()
    ref = f"{d['reference']}-1"
    r = client.post(f"/api/v1/trips/{ref}/steps/crossing", json={"outcome": "pass"},
                    headers=auth("borderguard"))
    assert r.status_code == 200, r.text
    return ref


def test_concurrent_recordings_of_one_step_yield_exactly_one_success(
    client: TestClient, auth: Any, db: Peek
) -> None:
    ref = _import_trip_in_gate_area(client, auth)
    version = client.get(f"/api/v1/trips/{ref}", headers=auth("borderguard")).json()["version"]

    def record(i: int) -> Any:
        headers = auth("borderguard", **{"If-Match": f'"{version}"'})
        body = {"outcome": "pass", "note": f"officer {i}"}
        return client.post(f"/api/v1/trips/{ref}/steps/border_guard", json=body,
                           headers=headers)

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(record, range(4)))
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409]
    for r in responses:
        if r.status_code == 409:
            assert r.json()["error"]["code"] in ("version_conflict", "invalid_transition")
    trip_id = next(r for r in responses if r.status_code == 200).json()["id"]
    events = db.scalars(select(TripEvent).where(TripEvent.trip_id == trip_id,
                                                TripEvent.type == "step.passed"))
    assert [e.payload["step"] for e in events].count("border_guard") == 1


def test_concurrent_recordings_without_if_match_still_pass_a_step_once(
    client: TestClient, auth: Any, db: Peek
) -> None:
    ref = _import_trip_in_gate_area(client, auth)

    def record(_: int) -> Any:
        return client.post(f"/api/v1/trips/{ref}/steps/border_guard",
                           json={"outcome": "pass"}, headers=auth("borderguard"))

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(record, range(4)))
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409]
    trip = client.get(f"/api/v1/trips/{ref}", headers=auth("borderguard")).json()
    events = db.scalars(select(TripEvent).where(TripEvent.trip_id == trip["id"]))
    assert trip["version"] == len(events)
