"""A fleet system's batch is told, position by position, which ones move no trip because
their device is not a live token (nobody bound it, an old or revoked token, a bound device's
plain id): taken and kept for diagnosis, listed with the index, the field and the reason, a
revoked token never echoed; positions under a live token are not listed and move trips."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from borderflow.clock import FixedClock
from borderflow.store.models import Position, RejectedPosition, TripEvent
from borderflow.telemetry import service
from borderflow.telemetry.endpoints import UNKNOWN_DEVICE
from tests.conftest import NOW, Peek
from tests.telemetry.test_ingest import EPOCH, INSIDE, OUTSIDE, declared
from tests.telemetry.test_trusted_devices import AREA_EVENTS, bind

URL = "/api/v1/telemetry/positions"


def _at(device: str, where: tuple[float, float], seconds: int) -> dict[str, Any]:
    return {"device_id": device, "time": EPOCH + seconds, "lat": where[0], "lon": where[1]}


def _send(client: TestClient, auth: Any, *positions: dict[str, Any]) -> dict[str, Any]:
    r = client.post(URL, json={"positions": list(positions)}, headers=auth("enterprise"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_an_unknown_id_is_listed_with_its_index_field_and_reason(
        client: TestClient, auth: Any, db: Peek) -> None:
    answer = _send(client, auth, _at("unit-7", OUTSIDE, -60),
                   {**_at("unit-7", OUTSIDE, -30), "lat": 123},  # rejected: not listed twice
                   _at("unit-8", INSIDE, 0))
    assert answer["accepted"] == 2
    assert [x["index"] for x in answer["rejected"]] == [1]
    assert answer["moves_no_trip"] == [
        {"index": 0, "field": "positions[0].device_id", "device_id": "unit-7",
         "reason": UNKNOWN_DEVICE},
        {"index": 2, "field": "positions[2].device_id", "device_id": "unit-8",
         "reason": UNKNOWN_DEVICE}]
    # taken and kept for diagnosis: stored under the id, listed as unknown
    assert db.scalar(select(func.count()).select_from(Position)) == 2
    unknown = client.get("/api/v1/devices", params={"unknown": "true"},
                         headers=auth("regulator")).json()
    assert {d["id"] for d in unknown} == {"unit-7", "unit-8"}


def test_a_live_tokens_position_is_not_listed_and_moves_its_trip(
        client: TestClient, auth: Any, db: Peek, clock: FixedClock) -> None:
    ref = declared(client, auth)
    token = bind(client, auth, device="unit-1", who="regulator")
    clock.set(NOW + timedelta(minutes=10))
    answer = _send(client, auth, _at(token, OUTSIDE, -60), _at("stray-3", INSIDE, -30),
                   _at(token, INSIDE, 0))
    assert answer["accepted"] == 3
    assert answer["rejected"] == []
    assert [(x["index"], x["device_id"]) for x in answer["moves_no_trip"]] == [
        (1, "stray-3")]
    assert [e["event"] for e in answer["processed"]["events"]] == ["area.entered"]
    assert token not in str(answer["moves_no_trip"])
    assert client.get(f"/api/v1/trips/{ref}", headers=auth("driver")).json()[
        "location"] == "staging:viettel-logistics-park"


def test_a_revoked_token_and_a_plain_id_are_listed_without_echoing_the_token(
        client: TestClient, auth: Any, db: Peek, clock: FixedClock) -> None:
    declared(client, auth)
    revoked = bind(client, auth, device="unit-2", who="regulator")
    assert client.post("/api/v1/devices/unit-2/revoke",
                       headers=auth("regulator")).status_code == 200
    bind(client, auth, device="unit-3", who="regulator")
    clock.set(NOW + timedelta(minutes=10))
    r = client.post(URL, headers=auth("enterprise"), json={"positions": [
        _at(revoked, INSIDE, 0), _at("unit-3", INSIDE, 1),
        {**_at(revoked, INSIDE, 2), "lon": 999}]})  # a bad position under the revoked token
    assert r.status_code == 200, r.text
    assert revoked not in r.text  # nowhere in the answer
    answer = r.json()
    assert answer["moves_no_trip"] == [
        {"index": 0, "field": "positions[0].device_id", "device_id": None,
         "reason": service.REVOKED},
        {"index": 1, "field": "positions[1].device_id", "device_id": "unit-3",
         "reason": service.PLAIN_ID}]
    assert [(x["index"], x["device_id"]) for x in answer["rejected"]] == [(2, None)]
    # kept for diagnosis with the same reasons, under the device's own id
    kept = db.scalars(select(RejectedPosition.device_id).where(
        RejectedPosition.reason.in_((service.REVOKED, service.PLAIN_ID))))
    assert sorted(kept) == ["unit-2", "unit-3"]
    assert db.scalar(select(func.count()).select_from(TripEvent).where(AREA_EVENTS)) == 0


def test_nothing_an_unknown_device_sends_changes_a_trip(
        client: TestClient, auth: Any, db: Peek, clock: FixedClock) -> None:
    """The driver's trip is under way and a phone is bound to the driver; positions under
    ids that are not its live token (its plain id, an old token, a made-up id, a near miss
    of the token) drive in and out of the park, in order and late: no trip moves."""
    ref = declared(client, auth)
    old = bind(client, auth)
    live = bind(client, auth)
    near = live[:-1] + ("A" if live[-1] != "A" else "B")
    clock.set(NOW + timedelta(minutes=10))
    before = client.get(f"/api/v1/trips/{ref}", headers=auth("driver")).json()
    sent = [_at(device, where, seconds)
            for seconds, (device, where) in enumerate(
                (d, w) for d in ("phone-1", old, "29C12345", near)
                for w in (OUTSIDE, INSIDE, OUTSIDE, INSIDE))]
    answer = _send(client, auth, *sent)
    assert answer["accepted"] == len(sent)
    assert [x["index"] for x in answer["moves_no_trip"]] == list(range(len(sent)))
    assert answer["processed"]["events"] == []
    assert db.scalar(select(func.count()).select_from(TripEvent).where(AREA_EVENTS)) == 0
    after = client.get(f"/api/v1/trips/{ref}", headers=auth("driver")).json()
    assert (after["status"], after["location"]) == (before["status"], before["location"])
    assert db.scalar(select(func.count()).select_from(Position).where(
        Position.trip_id.is_not(None))) == 0
