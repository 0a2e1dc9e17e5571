"""Positions through the API: a bound phone moves its trip into the staging park without anyone
typing, late and repeated positions change nothing, unknown devices and bad positions are
reported, tracks and latest positions read back."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import DEFAULT_NETWORK_FILE, Settings
from borderflow.network import service as networks
from borderflow.store.models import Position, TripEvent
from tests import factories
from tests.conftest import NOW, Peek

NETWORK = networks.parse(networks.read_file(DEFAULT_NETWORK_FILE))
PARK = NETWORK.staging_areas[0].area.polygon
INSIDE = (sum(p.lat for p in PARK) / len(PARK), sum(p.lon for p in PARK) / len(PARK))
OUTSIDE = (INSIDE[0] - 0.05, INSIDE[1] - 0.05)
EPOCH = int(NOW.timestamp())


def declared(client: TestClient, auth: Any) -> str:
    r = client.post("/api/v1/declarations", json=factories.declaration(),
                    headers=auth("enterprise"))
    assert r.status_code == 201, r.text
    return f"{r.json()['reference']}-1"


def osmand(client: TestClient, device: str, at: tuple[float, float], seconds: int,
           status: int = 200, **extra: str) -> dict[str, Any]:
    """A position as Traccar Client sends it; ``status`` 400 for a device that is not a live
    token (stored for diagnosis, answered as Traccar answers an unknown device)."""
    r = client.get("/api/v1/telemetry/osmand", params={
        "id": device, "lat": str(at[0]), "lon": str(at[1]),
        "timestamp": str(EPOCH + seconds), "speed": "20", **extra})
    assert r.status_code == status, r.text
    if status == 400:
        assert r.json()["error"]["code"] == "device_unknown"
    return dict(r.json())


def test_a_bound_phone_moves_its_trip_into_the_park(
    client: TestClient, auth: Any, db: Peek, clock: FixedClock
) -> None:
    ref = declared(client, auth)
    bound = client.post("/api/v1/devices/phone-1/bind",
                        json={"driver_document": factories.DRIVER_DOC, "label": "Tai's phone"},
                        headers=auth("driver"))
    assert bound.status_code == 200, bound.text
    assert bound.json()["trip"] == ref
    token = bound.json()["token"]  # what the phone sends as its id from now on
    clock.set(NOW + timedelta(minutes=10))
    first = osmand(client, token, OUTSIDE, -60)
    assert first["processed"]["stored"] == 1
    entered = osmand(client, token, INSIDE, 0)
    assert entered["processed"]["events"][0]["event"] == "area.entered"
    trip = client.get(f"/api/v1/trips/{ref}", headers=auth("driver")).json()
    assert (trip["status"], trip["location"]) == ("at_staging", "staging:viettel-logistics-park")
    event = db.one(select(TripEvent).where(TripEvent.type == "area.entered"))
    assert (event.source, event.actor_name) == ("gps", "device:Tai's phone")

    # a late position from before (outside the park) and a repeated one move nothing
    late = osmand(client, token, OUTSIDE, -30)
    assert (late["processed"]["late"], late["processed"]["events"]) == (1, [])
    again = osmand(client, token, INSIDE, 0)
    assert again["processed"]["duplicates"] == 1
    assert db.scalar(select(func.count()).select_from(Position)) == 3
    assert client.get(f"/api/v1/trips/{ref}", headers=auth("driver")).json()[
        "location"] == "staging:viettel-logistics-park"

    track = client.get(f"/api/v1/trips/{ref}/track", headers=auth("enterprise"))
    assert [p["lat"] for p in track.json()] == [OUTSIDE[0], OUTSIDE[0], INSIDE[0]]
    assert track.json()[0]["speed_kmh"] == pytest.approx(37.0, abs=0.1)  # 20 knots
    assert client.get(f"/api/v1/trips/{ref}/track",
                      headers=auth("enterprise2")).status_code == 404
    latest = client.get("/api/v1/telemetry/latest", headers=auth("regulator")).json()
    assert [(x["trip"], x["device_id"]) for x in latest] == [(ref, "phone-1")]
    assert client.get("/api/v1/telemetry/latest", headers=auth("enterprise")).status_code == 403
    eta = client.get(f"/api/v1/trips/{ref}/eta", headers=auth("driver")).json()
    assert eta["already_there"] is True

    # silent for longer than the alert threshold
    assert client.get("/api/v1/alerts/devices", headers=auth("regulator")).json() == []
    clock.set(NOW + timedelta(minutes=40))
    silent = client.get("/api/v1/alerts/devices", headers=auth("regulator")).json()
    assert [(d["id"], d["trip"]) for d in silent] == [("phone-1", ref)]


def test_unknown_devices_and_bad_positions_are_reported_not_dropped(
    client: TestClient, auth: Any
) -> None:
    refused = osmand(client, "stranger", INSIDE, 0, status=400)  # stored, then answered 400
    assert refused["error"]["fields"][0]["field"] == "id"
    assert "stranger" in refused["error"]["message"]
    unknown = client.get("/api/v1/devices", params={"unknown": "true"},
                         headers=auth("regulator")).json()
    assert [d["id"] for d in unknown] == ["stranger"]
    token = client.post("/api/v1/devices/phone-1/bind",
                        json={"driver_document": factories.DRIVER_DOC},
                        headers=auth("regulator")).json()["token"]
    bad = client.get("/api/v1/telemetry/osmand", params={"id": token, "lat": "95",
                                                         "lon": "106.7"})
    assert bad.status_code == 200  # the phone's queue must not block on one bad position
    assert "outside ±90" in bad.json()["rejected"][0]["reason"]
    form = client.post("/api/v1/telemetry/osmand",
                       data={"id": token, "lat": "21.9", "lon": "106.7",
                             "timestamp": str(EPOCH - 5)})
    assert form.json()["accepted"] == 1
    junk = client.post("/api/v1/telemetry/osmand", content=b"{not json",
                       headers={"content-type": "application/json"})
    assert junk.status_code == 200
    assert junk.json()["rejected"][0]["reason"] == "body is not JSON"
    stats = client.get("/api/v1/telemetry/stats", headers=auth("regulator")).json()
    assert stats["rejected"] == 2
    assert stats["stored"] == 2
    assert client.get("/api/v1/telemetry/stats", params={"hours": 0},
                      headers=auth("regulator")).status_code == 422


def test_owntracks_and_fleet_batches(client: TestClient, auth: Any, db: Peek) -> None:
    msg = {"_type": "location", "lat": INSIDE[0], "lon": INSIDE[1], "tst": EPOCH, "vel": 36,
           "tid": "ng"}
    r = client.post("/api/v1/telemetry/owntracks", json=msg,
                    headers={"X-Limit-U": "nguyen", "X-Limit-D": "phone"})
    assert r.status_code == 400  # nobody bound it: stored, and the app is told
    assert r.json()["error"]["fields"][0]["field"] == "X-Limit-U"
    speed = db.scalar(select(Position.speed_mps).where(Position.device_id == "nguyen/phone"))
    assert speed == pytest.approx(10.0)

    good = {"device_id": "fleet-9", "time": NOW.isoformat(), "lat": 21.9, "lon": 106.7}
    body = {"positions": [good, {**good, "lat": 123}, {**good, "time": None}]}
    assert client.post("/api/v1/telemetry/positions", json=body).status_code == 401
    r = client.post("/api/v1/telemetry/positions", json=body, headers=auth("enterprise"))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    assert [x["index"] for x in r.json()["rejected"]] == [1, 2]
    big = {"positions": [good] * 1001}
    too_many = client.post("/api/v1/telemetry/positions", json=big, headers=auth("enterprise"))
    assert too_many.status_code == 422
    assert too_many.json()["error"]["fields"][0]["field"] == "positions"


@pytest.mark.parametrize(("body", "field", "reason"), [
    (b"{", "body", "not valid JSON"),
    (b'{"positions": [NaN]}', "body", "not valid JSON"),
    (b"[]", "body", "JSON object with `positions`"),
    (b"{}", "positions", "required"),
    (b'{"positions": {"device_id": "x"}}', "positions", "list of positions"),
    (b'{"positions": [], "fleet": "x"}', "fleet", "unknown field"),
])
def test_a_bad_batch_body_names_the_field_and_stores_nothing(
        client: TestClient, auth: Any, db: Peek, body: bytes, field: str, reason: str) -> None:
    r = client.post("/api/v1/telemetry/positions", content=body,
                    headers={**auth("enterprise"), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["fields"][0]["field"] == field
    assert reason in error["fields"][0]["reason"]
    assert db.scalar(select(func.count()).select_from(Position)) == 0


def test_positions_that_are_not_objects_are_rejected_alone(
        client: TestClient, auth: Any) -> None:
    good = {"device_id": "fleet-9", "time": NOW.isoformat(), "lat": 21.9, "lon": 106.7}
    r = client.post("/api/v1/telemetry/positions", json={"positions": [good, 3, "x", None]},
                    headers=auth("enterprise"))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    assert [(x["index"], x["reason"]) for x in r.json()["rejected"]] == [
        (i, "each position must be a JSON object") for i in (1, 2, 3)]


def test_binding_rules(client: TestClient, auth: Any) -> None:
    other = client.post("/api/v1/devices/phone-2/bind", json={"driver_document": "999"},
                        headers=auth("driver"))
    assert other.status_code == 422
    assert other.json()["error"]["fields"][0]["field"] == "driver_document"
    both = client.post("/api/v1/devices/phone-2/bind",
                       json={"driver_document": "1", "plate": "29C-123.45"},
                       headers=auth("regulator"))
    assert both.status_code == 422
    plate = client.post("/api/v1/devices/unit-7/bind", json={"plate": "29C-123.45"},
                        headers=auth("regulator"))
    assert plate.status_code == 200
    assert plate.json()["plate_key"]
    assert client.post("/api/v1/devices/unit-7/bind", json={"plate": "29C-123.45"},
                       headers=auth("enterprise")).status_code == 403


@pytest.fixture
def queued_client(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"telemetry_bus": "memory"}), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.ctx.engine.dispose()


def test_the_in_process_queue_stores_what_it_acknowledged(
    queued_client: TestClient, db: Peek
) -> None:
    for i in range(50):
        r = queued_client.get("/api/v1/telemetry/osmand", params={
            "id": f"dev-{i % 5}", "lat": "21.9", "lon": "106.7",
            "timestamp": str(EPOCH - i)})
        # nobody bound these devices: answered 400 once their positions are committed
        assert r.json()["error"]["code"] == "device_unknown"
    queued_client.app.state.telemetry.flush()  # type: ignore[attr-defined]
    assert db.scalar(select(func.count()).select_from(Position)) == 50


def test_the_short_osmand_route_answers_as_the_documented_one(
    queued_client: TestClient, db: Peek, auth: Any
) -> None:
    """GET with a query string is answered before the framework's routing; a form POST goes
    through the documented route: the answers are the same, bad positions included."""
    token = queued_client.post("/api/v1/devices/dev-é/bind",
                               json={"driver_document": factories.DRIVER_DOC},
                               headers=auth("regulator")).json()["token"]
    params = {"id": token, "lat": "21,9", "lon": "106.7", "timestamp": str(EPOCH),
              "charge": "true"}
    fast = queued_client.get("/api/v1/telemetry/osmand", params=params)
    slow = queued_client.post("/api/v1/telemetry/osmand", data=params)
    assert fast.status_code == slow.status_code == 200
    assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"
    assert fast.json() == slow.json() == {"accepted": 1, "rejected": [], "processed": None}
    stranger = {**params, "id": "dev-2", "timestamp": str(EPOCH - 1)}
    fast_unknown = queued_client.get("/api/v1/telemetry/osmand", params=stranger)
    slow_unknown = queued_client.post("/api/v1/telemetry/osmand", data=stranger)
    assert fast_unknown.status_code == slow_unknown.status_code == 400
    assert fast_unknown.json() == slow_unknown.json()
    assert fast_unknown.json()["error"]["code"] == "device_unknown"
    bad = {"id": token, "lat": "95", "lon": "106.7", "timestamp": str(EPOCH)}
    fast_bad = queued_client.get("/api/v1/telemetry/osmand", params=bad)
    slow_bad = queued_client.post("/api/v1/telemetry/osmand", data=bad)
    assert fast_bad.json() == slow_bad.json()
    assert fast_bad.json()["rejected"][0]["reason"] == "latitude 95.0 is outside ±90"
    assert fast.headers["x-request-id"]  # still inside the request log
    queued_client.app.state.telemetry.flush()  # type: ignore[attr-defined]
    assert db.scalar(select(func.count()).select_from(Position)) == 2  # each fix sent twice


def test_positions_older_than_the_retention_are_pruned(
    client: TestClient, auth: Any, db: Peek, database: Any
) -> None:
    from borderflow.store.session import make_engine, make_session_factory
    from borderflow.telemetry import service

    osmand(client, "old", INSIDE, -3 * 86400, status=400)
    osmand(client, "old", INSIDE, -60, status=400)
    engine = make_engine(database.url)
    with make_session_factory(engine)() as s:
        service.prune(s, NOW - timedelta(days=1))
        s.commit()
    engine.dispose()
    assert db.scalar(select(func.count()).select_from(Position)) == 1


def test_odd_characters_in_ids_and_attributes_are_stored_as_sent(
    client: TestClient, db: Peek
) -> None:
    """Positions reach PostgreSQL through COPY's text format: tabs, newlines, backslashes,
    quotes and non-Latin text must survive it."""
    device = "fleet\\unit\t7 \"东兴\" đội"
    r = client.post("/api/v1/telemetry/osmand", data={
        "id": device, "lat": "21.95", "lon": "106.70", "timestamp": str(int(NOW.timestamp())),
        "note": "line one\nline two\\ with \t tab", "driver": "Nguyễn Văn Tài"})
    assert r.status_code == 400, r.text  # nobody bound it: stored all the same
    stored = db.one(select(Position).where(Position.device_id == device))
    assert stored.attributes["note"] == "line one\nline two\\ with \t tab"
    assert stored.attributes["driver"] == "Nguyễn Văn Tài"
    assert stored.lat == 21.95


def test_a_message_naming_no_device_is_answered_400_on_every_route(
    client: TestClient, queued_client: TestClient, db: Peek
) -> None:
    """As Traccar's own server does: the phone shows the error, its user learns that the app
    is not set up; nothing is stored."""
    where = {"lat": "21.9", "lon": "106.7", "timestamp": str(EPOCH)}
    for c in (client, queued_client):  # the documented route and the short GET route
        for answer in (c.get("/api/v1/telemetry/osmand", params=where),
                       c.get("/api/v1/telemetry/osmand", params={**where, "id": "  "}),
                       c.post("/api/v1/telemetry/osmand", data=where)):
            assert answer.status_code == 400, answer.text
            error = answer.json()["error"]
            assert error["code"] == "device_missing"
            assert error["fields"][0]["field"] == "id"
    body = {"location": {"timestamp": "2026-11-23T00:55:00Z",
                         "coords": {"latitude": 21.9, "longitude": 106.7}}}
    json_answer = client.post("/api/v1/telemetry/osmand", json=body)
    assert json_answer.status_code == 400
    assert json_answer.json()["error"]["fields"][0]["field"] == "device_id"
    queued_client.app.state.telemetry.flush()  # type: ignore[attr-defined]
    assert db.scalar(select(func.count()).select_from(Position)) == 0


def test_owntracks_recorder_style_addresses_name_the_device(
    client: TestClient, auth: Any
) -> None:
    message = {"_type": "location", "lat": 21.9, "lon": 106.7, "tst": EPOCH - 60, "acc": 8}
    r = client.post("/api/v1/telemetry/owntracks", params={"u": "29C12345", "d": "phone"},
                    json=message)
    assert r.status_code == 400  # not bound: stored, listed, and the app is told
    assert r.json()["error"]["fields"][0]["field"] == "u"
    devices = client.get("/api/v1/devices", headers=auth("regulator")).json()
    assert "29C12345/phone" in [d["id"] for d in devices]


def test_a_busy_database_behind_the_short_osmand_route_is_a_503_not_a_500(
    queued_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The short OsmAnd route answers before the framework's error handlers; when the device
    directory cannot be read because every writer holds the database, the phone gets the
    503 with Retry-After that other routes give, not a 500, and sends again."""
    from sqlalchemy.exc import OperationalError

    from borderflow.telemetry import directory

    async def locked(*_: Any) -> None:
        raise OperationalError("SELECT", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(directory, "check", locked)
    r = queued_client.get("/api/v1/telemetry/osmand", params={
        "id": "dev-1", "lat": "21.9", "lon": "106.7", "timestamp": str(EPOCH)})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "database_busy"
    assert int(r.headers["retry-after"]) > 0

    async def broken(*_: Any) -> None:  # a fault that is not "busy" stays a fault
        raise OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x"))

    monkeypatch.setattr(directory, "check", broken)
    r = queued_client.get("/api/v1/telemetry/osmand", params={
        "id": "dev-1", "lat": "21.9", "lon": "106.7", "timestamp": str(EPOCH - 5)})
    assert r.status_code == 500
