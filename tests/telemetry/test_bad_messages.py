"""A pipeline that survives bad messages: NUL characters (which PostgreSQL refuses in text and
jsonb) are refused or taken out at the edge and again in the processor; a message the
processor cannot store is set aside as a dead letter, listed for the operator and sent
through again, while the messages around it are stored; the in-process queue is bounded and
answers 503 with Retry-After when full."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.store.models import Position, RejectedPosition, TelemetryDeadLetter
from borderflow.store.session import make_session_factory
from borderflow.telemetry import dead_letters, decoders, service
from borderflow.telemetry.bus import FenceCache, MemoryBus, Processor, QueueFull, process
from borderflow.telemetry.dead_letters import DeadLetterStore
from borderflow.telemetry.decoders import Fix, Rejection
from tests.conftest import NOW, Peek

STAMP = str(int(NOW.timestamp()))


def stored(db: Peek) -> int:
    return int(db.scalar(select(func.count()).select_from(Position)) or 0)


# --- at the edge -------------------------------------------------------------------------------


def test_nul_over_http_is_refused_with_422_naming_the_field(
        client: TestClient, auth: Any, db: Peek) -> None:
    """Every HTTP route refuses control characters where the request enters; the telemetry
    routes answer in the common error shape, naming the field."""
    r = client.get("/api/v1/telemetry/osmand", params={
        "id": "pho\x00ne", "lat": "21.9", "lon": "106.7", "timestamp": STAMP})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["fields"][0]["field"] == "id"
    r = client.post("/api/v1/telemetry/positions", headers=auth("enterprise"), json={
        "positions": [{"device_id": "unit-1", "lat": 21.9, "lon": 106.7,
                       "time": NOW.isoformat(), "attributes": {"driver": "Nguy\x00en"}}]})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["fields"][0]["field"] == "positions[0].attributes.driver"
    assert stored(db) == 0


def test_the_decoders_refuse_a_device_id_with_nul_and_clean_extra_fields() -> None:
    """What arrives without the HTTP checks (OwnTracks over MQTT): a device id holding NUL
    is refused (cleaned, it would name another device), extra fields and excerpts are
    cleaned, lone surrogates replaced."""
    body = {"_type": "location", "lat": 21.9, "lon": 106.7, "tst": int(NOW.timestamp()),
            "tid": "n\x00g", "conn": "w\ud800"}
    fix = decoders.owntracks(body, NOW, topic="owntracks/ng/phone")[0]
    assert isinstance(fix, Fix)
    assert fix.attributes == {"tid": "ng", "conn": "w\ufffd"}
    refused = decoders.owntracks(body, NOW, topic="owntracks/n\x00g/phone")[0]
    assert isinstance(refused, Rejection)
    assert refused.device_id is None
    assert refused.reason.startswith(decoders.UNSTORABLE_DEVICE_PREFIX)
    assert "\x00" not in refused.excerpt
    assert decoders.device_refused([refused]) == (refused, "device_invalid")
    osmand = decoders.osmand({"id": "p", "lat": "21.9", "lon": "106.7", "timestamp": STAMP,
                              "x\x00": "y\x00"}, NOW)[0]
    assert isinstance(osmand, Fix)
    assert osmand.attributes == {"x": "y"}
    bad_lat = decoders.batch_item({"device_id": "d", "lat": "1\x00", "lon": 1,
                                   "time": NOW.isoformat()}, NOW)
    assert isinstance(bad_lat, Rejection)
    assert "\x00" not in bad_lat.reason + bad_lat.excerpt


def test_a_camera_read_holding_nul_is_refused_naming_the_field(
        client: TestClient, auth: Any) -> None:
    r = client.post("/api/v1/cameras", headers=auth("admin"), json={
        "code": "nul-cam", "name": "Camera", "gate": "huu-nghi", "checkpoint": "gate_in"})
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    r = client.post("/api/v1/plate-reads", headers={"X-API-Key": key}, json={
        "camera": "nul-cam", "plate": "29C-123.45", "confidence": 0.9,
        "time": NOW.isoformat(), "image_ref": "img\x00.jpg"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["fields"][0]["field"] == "image_ref"
    r = client.post("/api/v1/plate-reads", headers={"X-API-Key": key}, json={
        "data": {"camera_id": "nul-cam", "timestamp": NOW.isoformat(), "results": [
            {"plate": "29c12345\x00", "score": 0.9}]}, "hook": {"event": "recognition"}})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["fields"][0]["field"] == "data.results[0].plate"


# --- in the processor --------------------------------------------------------------------------


def test_the_processor_cleans_what_reaches_it_from_elsewhere(settings: Settings, db: Peek
                                                             ) -> None:
    """Messages on the bus may come from an older or foreign publisher: the processor itself
    keeps NUL out of the store."""
    sessions = make_session_factory(db.engine)
    items: list[Fix | Rejection] = [
        Fix("ok-1", NOW, 21.9, 106.7, "batch", attributes={"k\x00": ["v\x00", {"w": "\x00"}]}),
        Fix("bad\x00id", NOW, 21.9, 106.7, "batch"),
        Rejection("osmand", "latitude \x00 is not a number", "dev\x00", "ex\x00cerpt"),
    ]
    report = process(sessions, FixedClock(NOW), FenceCache(30), items, NOW)
    assert report.stored == 1
    with db.sessions() as s:
        position = s.scalars(select(Position)).one()
        rejected = s.scalars(select(RejectedPosition).order_by(RejectedPosition.id)).all()
    assert position.attributes == {"k": ["v", {"w": ""}]}
    assert [(r.device_id, r.reason, r.excerpt) for r in rejected] == [
        (None, f"{decoders.UNSTORABLE_DEVICE_PREFIX} (device id)", "badid"),
        (None, "latitude  is not a number", "excerpt")]


def test_items_without_anything_to_clean_are_passed_as_they_are() -> None:
    items: list[Fix | Rejection] = [Fix(f"d{i}", NOW, 21.9, 106.7, "batch",
                                        attributes={"a": "b"}) for i in range(5)]
    assert service.storable_items(items) is items


# --- the in-process queue ----------------------------------------------------------------------


def poison() -> Fix:
    """A position no store takes (its latitude is not a number): what a bug upstream or a
    foreign publisher could hand the processor."""
    return Fix("poison", NOW, "not a number", 106.7, "batch")  # type: ignore[arg-type]


def test_a_poisoned_publisher_is_set_aside_and_the_others_in_its_transaction_stored(
        settings: Settings, db: Peek) -> None:
    sessions = make_session_factory(db.engine)
    clock = FixedClock(NOW)
    cache = FenceCache(30)
    processor = Processor(sessions, clock, cache)
    gate = threading.Event()

    def gated(items: list[Any], received: list[Any]) -> Any:
        gate.wait(10)  # the publishers below all wait for one transaction
        return processor(items, received)

    bus = MemoryBus(sessions, clock, cache, processor=gated,
                    dead_letters=DeadLetterStore(sessions, clock))

    async def scenario() -> list[Any]:
        good = [Fix(f"good-{i}", NOW - timedelta(seconds=i), 21.9, 106.7, "batch")
                for i in range(4)]
        tasks = [asyncio.create_task(bus.apublish([g], NOW)) for g in good[:2]]
        tasks.append(asyncio.create_task(bus.apublish([poison()], NOW)))
        tasks += [asyncio.create_task(bus.apublish([g], NOW)) for g in good[2:]]
        await asyncio.sleep(0.2)
        gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    try:
        answers = asyncio.run(scenario())
    finally:
        gate.set()
        bus.close()
    assert answers == [None] * 5  # every publisher answered: nothing is asked again forever
    assert stored(db) == 4
    with db.sessions() as s:
        letter = s.scalars(select(TelemetryDeadLetter)).one()
    assert (letter.source, letter.positions, letter.deliveries) == ("memory", 1, 2)
    assert "poison" in letter.payload.decode()
    assert letter.reason


def test_a_full_queue_answers_503_with_retry_after(settings: Settings, clock: FixedClock,
                                                  auth: Any, db: Peek) -> None:
    app = create_app(settings.model_copy(update={"telemetry_bus": "memory",
                                                 "telemetry_queue_positions": 2}), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        bus = app.state.telemetry
        assert isinstance(bus, MemoryBus)
        assert bus.max_queued == 2
        gate = threading.Event()
        real = bus.process

        def slow(items: list[Any], received: list[Any]) -> Any:
            gate.wait(10)
            return real(items, received)

        bus.process = slow
        first: dict[str, Any] = {}

        def send_first() -> None:
            first["r"] = client.post("/api/v1/telemetry/positions", headers=auth("enterprise"),
                                     json={"positions": [
                                         {"device_id": "q", "lat": 21.9, "lon": 106.7,
                                          "time": (NOW - timedelta(seconds=i)).isoformat()}
                                         for i in range(2)]})

        sender = threading.Thread(target=send_first)
        sender.start()
        deadline = time.monotonic() + 10
        while bus._queued == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        r = client.get("/api/v1/telemetry/osmand", params={
            "id": "p", "lat": "21.9", "lon": "106.7", "timestamp": STAMP})
        r2 = client.post("/api/v1/telemetry/positions", headers=auth("enterprise"), json={
            "positions": [{"device_id": "q2", "lat": 21.9, "lon": 106.7,
                           "time": (NOW - timedelta(seconds=i)).isoformat()}
                          for i in range(2)]})
        gate.set()
        sender.join(15)
    app.state.ctx.engine.dispose()
    for refused in (r, r2):
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "5"
        error = refused.json()["error"]
        assert error["code"] == "unavailable"
        assert "full" in error["message"]
    assert first["r"].status_code == 200  # taken before the queue was full: stored
    assert stored(db) == 2


def test_the_queue_refuses_past_its_bound_without_growing() -> None:
    gate = threading.Event()
    bus = MemoryBus(None, None, FenceCache(30), max_queued=5,  # type: ignore[arg-type]
                    processor=lambda items, at: gate.wait(10))
    try:
        waiting = threading.Thread(target=bus.publish, args=(
            [Rejection("t", str(i)) for i in range(4)], NOW))
        waiting.start()
        deadline = time.monotonic() + 5
        while bus._queued < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(QueueFull):
            bus.publish([Rejection("t", "x"), Rejection("t", "y")], NOW)
        assert bus._queued == 4
    finally:
        gate.set()
        bus.close()


# --- seen by the operator ----------------------------------------------------------------------


def test_dead_letters_are_listed_for_the_regulator_counted_and_sent_through_again(
        client: TestClient, auth: Any, db: Peek) -> None:
    from borderflow.telemetry import wire

    sessions = make_session_factory(db.engine)
    store = DeadLetterStore(sessions, FixedClock(NOW))
    good = wire.encode([Fix("later-fixed", NOW, 21.9, 106.7, "batch")], NOW)
    first = store.put(source="nats", payload=good, positions=1, reason="DataError: boom",
                      deliveries=5, subject="borderflow.positions.0", sequence=42)
    second = store.put(source="memory", payload=b"{not json", positions=1,
                       reason="ValueError: bad", deliveries=2)
    r = client.get("/api/v1/telemetry/dead-letters", headers=auth("regulator"))
    assert r.status_code == 200, r.text
    assert [d["id"] for d in r.json()] == [second, first]
    assert r.json()[1]["subject"] == "borderflow.positions.0"
    assert r.json()[1]["sequence"] == 42
    page = client.get("/api/v1/telemetry/dead-letters", params={"limit": 1, "before": second},
                      headers=auth("regulator"))
    assert [d["id"] for d in page.json()] == [first]
    assert client.get("/api/v1/telemetry/dead-letters",
                      headers=auth("enterprise")).status_code == 403
    metrics = client.get("/metrics").text
    assert 'borderflow_telemetry_dead_letters_waiting{source="nats"} 1.0' in metrics
    assert 'borderflow_telemetry_dead_letters_waiting{source="memory"} 1.0' in metrics

    processor = Processor(sessions, FixedClock(NOW), FenceCache(30))
    results = dead_letters.retry(sessions, processor, [first, second, 999], NOW)
    assert results[first] == "stored"
    assert results[second].startswith("JSONDecodeError")
    assert results[999] == "no such dead letter"
    assert stored(db) == 1
    with db.sessions() as s:
        assert dead_letters.counts(s) == {"memory": 1}


def test_the_operator_lists_and_retries_dead_letters_from_the_command_line(
        settings: Settings, db: Peek, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from borderflow.cli.main import app
    from borderflow.config import get_settings
    from borderflow.telemetry import wire

    sessions = make_session_factory(db.engine)
    store = DeadLetterStore(sessions, FixedClock(NOW))
    kept = store.put(source="nats", payload=wire.encode([Fix("cli-1", NOW, 21.9, 106.7,
                                                             "batch")], NOW),
                     positions=1, reason="DataError: refused", deliveries=5,
                     subject="borderflow.positions.1", sequence=7)
    monkeypatch.setenv("BORDERFLOW_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        listed = runner.invoke(app, ["telemetry", "dead-letters", "list"])
        assert listed.exit_code == 0, listed.output
        assert "borderflow.positions.1 #7  1 positions, tried 5x: DataError: refused" in \
            listed.output
        assert "1 waiting" in listed.output
        retried = runner.invoke(app, ["telemetry", "dead-letters", "retry", str(kept), "999"])
        assert retried.exit_code == 1  # 999 does not exist
        assert f"{kept}: stored" in retried.output
        assert "999: no such dead letter" in retried.output
    finally:
        get_settings.cache_clear()
    assert stored(db) == 1
