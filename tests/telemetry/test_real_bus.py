"""The production pipeline against the real local servers: NATS JetStream between ingestion and
processors (a processor killed with SIGKILL mid-stream loses nothing and stores nothing twice)
and OwnTracks over MQTT through Mosquitto. These servers are part of the platform's
environment; a test fails, never skips, when one cannot be reached."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.publish as mqtt_publish
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.store.models import Position
from borderflow.store.session import make_session_factory
from borderflow.telemetry import mqtt
from borderflow.telemetry.bus import FenceCache, process
from borderflow.telemetry.nats_bus import run_processor
from tests.conftest import NOW, Database, Peek

NATS_URL = os.environ.get("BORDERFLOW_TEST_NATS_URL", "nats://127.0.0.1:4222")
MQTT_URL = os.environ.get("BORDERFLOW_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
MQTT_HOST = urlsplit(MQTT_URL).hostname or "127.0.0.1"
MQTT_PORT = urlsplit(MQTT_URL).port or 1883


@pytest.fixture
def stream() -> Iterator[tuple[str, str]]:
    """A stream of the test's own, deleted afterwards (the server is shared)."""
    tag = uuid.uuid4().hex[:10]
    yield f"TEST_{tag}", f"test.{tag}.positions"

    async def delete() -> None:
        import nats

        nc = await nats.connect(NATS_URL)
        try:
            with contextlib.suppress(Exception):  # never made (the test failed first)
                await nc.jetstream().delete_stream(f"TEST_{tag}")
        finally:
            await nc.close()

    asyncio.run(delete())


@pytest.fixture
def nats_client(settings: Settings, clock: FixedClock, stream: tuple[str, str]
                ) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={
        "telemetry_bus": "nats", "nats_url": NATS_URL, "nats_stream": stream[0],
        "nats_subject": stream[1]}), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.ctx.engine.dispose()


def batch(start: int, n: int) -> dict[str, Any]:
    return {"positions": [{"device_id": f"fleet-{i % 7}", "lat": 21.9 + i * 1e-5,
                           "lon": 106.7, "time": (NOW - timedelta(seconds=i)).isoformat()}
                          for i in range(start, start + n)]}


def wait_for(predicate: Any, timeout: float = 30.0, what: Any = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out{': ' + what() if what else ''}")


def stored(db: Peek) -> int:
    return int(db.scalar(select(func.count()).select_from(Position)) or 0)


def test_positions_cross_nats_jetstream_to_a_processor(
    nats_client: TestClient, auth: Any, db: Peek, database: Database, stream: tuple[str, str]
) -> None:
    r = nats_client.post("/api/v1/telemetry/positions", json=batch(0, 20),
                         headers=auth("enterprise"))
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["processed"]) == (20, None)  # on the stream
    assert stored(db) == 0
    sessions = make_session_factory(db.engine)
    stop = asyncio.Event()
    clock = FixedClock(NOW)

    def consume() -> None:
        asyncio.run(run_processor(NATS_URL, stream[0], stream[1],
                                  lambda items, at: process(sessions, clock, FenceCache(30),
                                                            items, at), stop))

    worker = threading.Thread(target=consume)
    worker.start()
    try:
        wait_for(lambda: stored(db) == 20)
    finally:
        stop.set()
        worker.join(10)


def test_each_processor_takes_its_partitions_and_the_bare_subject_drains(
    settings: Settings, clock: FixedClock, db: Peek, stream: tuple[str, str]
) -> None:
    """With the stream in partitions, a device's positions all go to one partition: a processor
    given partition 0 stores exactly the devices of partition 0, the one given partition 1 the
    rest. A stream made before partitions existed is widened, and what was published on its
    bare subject is stored by the processor that has partition 0."""
    import nats

    from borderflow.telemetry import wire
    from borderflow.telemetry.decoders import Fix
    from borderflow.telemetry.nats_bus import NatsBus

    async def old_stream() -> None:  # as a release without partitions made and filled it
        from nats.js.api import StreamConfig

        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=stream[0], subjects=[stream[1]]))
        await js.publish(stream[1], wire.encode([Fix("before-upgrade", NOW, 21.9, 106.7,
                                                     "batch")], NOW))
        await nc.close()

    asyncio.run(old_stream())
    bus = NatsBus(NATS_URL, stream[0], stream[1], partitions=2)
    items: list[Any] = [Fix(f"truck-{i % 40}", NOW - timedelta(seconds=i), 21.9, 106.7,
                            "batch") for i in range(400)]
    try:
        bus.publish(items, NOW)
    finally:
        bus.close()
    sessions = make_session_factory(db.engine)

    def run(partitions: list[int]) -> None:
        stop = asyncio.Event()

        def consume() -> None:
            asyncio.run(run_processor(NATS_URL, stream[0], stream[1],
                                      lambda got, at: process(sessions, clock, FenceCache(30),
                                                              got, at),
                                      stop, partitions=partitions))

        worker = threading.Thread(target=consume)
        worker.start()
        try:
            first = sum(1 for i in items if wire.partition_of(i.device_id, 2) == 0) + 1
            wait_for(lambda: stored(db) >= (first if partitions == [0] else 401))
            time.sleep(0.5)  # anything of another partition would show up now
        finally:
            stop.set()
            worker.join(10)

    def devices() -> set[str]:
        return set(db.scalars(select(Position.device_id).distinct()))

    run([0])
    mine = {f"truck-{i}" for i in range(40) if wire.partition_of(f"truck-{i}", 2) == 0}
    assert 0 < len(mine) < 40
    assert devices() == mine | {"before-upgrade"}
    run([1])
    assert devices() == {f"truck-{i}" for i in range(40)} | {"before-upgrade"}
    assert stored(db) == 401


def _processor(database: Database, stream: tuple[str, str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BORDERFLOW_DATABASE_URL": database.url,
           "BORDERFLOW_NATS_URL": NATS_URL, "BORDERFLOW_NATS_STREAM": stream[0],
           "BORDERFLOW_NATS_SUBJECT": stream[1], "BORDERFLOW_LOG_LEVEL": "WARNING",
           "BORDERFLOW_NATS_BATCH": "1"}  # one request's positions per transaction
    return subprocess.Popen([sys.executable, "-m", "borderflow.cli.main", "telemetry",
                             "process"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@pytest.mark.slow
def test_a_processor_killed_mid_stream_loses_nothing_and_stores_nothing_twice(
    nats_client: TestClient, auth: Any, db: Peek, database: Database, stream: tuple[str, str]
) -> None:
    total = 0
    for start in range(0, 4000, 100):  # acknowledged by the API: on the stream
        r = nats_client.post("/api/v1/telemetry/positions", json=batch(start, 100),
                             headers=auth("enterprise"))
        assert r.json()["accepted"] == 100
        total += 100
    first = _processor(database, stream)
    try:
        wait_for(lambda: stored(db) > 0, timeout=60)
        os.kill(first.pid, signal.SIGKILL)  # mid-stream, no chance to finish or ack
        first.wait(10)
        assert stored(db) < total
    finally:
        if first.poll() is None:
            first.kill()
    for start in range(4000, 4500, 500):  # more arrive while no processor runs
        nats_client.post("/api/v1/telemetry/positions", json=batch(start, 500),
                         headers=auth("enterprise"))
        total += 500
    second = _processor(database, stream)
    try:
        wait_for(lambda: stored(db) >= total, timeout=90)
        time.sleep(1.5)  # redelivered batches would show up as extra rows now
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    assert stored(db) == total
    distinct = db.scalar(select(func.count()).select_from(
        select(Position.device_id, Position.fix_time).distinct().subquery()))
    assert distinct == total


@pytest.mark.slow
def test_owntracks_over_mqtt_through_mosquitto(settings: Settings, db: Peek) -> None:
    topic_user = f"u{uuid.uuid4().hex[:8]}"
    sessions = make_session_factory(db.engine)
    clock = FixedClock(NOW)
    stop = asyncio.Event()
    ready = threading.Event()

    def listen() -> None:
        async def main() -> None:
            started = asyncio.Event()
            watcher = asyncio.create_task(_signal(started, ready))
            await mqtt.run(MQTT_URL, lambda items: asyncio.to_thread(
                process, sessions, clock, FenceCache(30), items, clock.now()),
                           clock.now, stop, ready=started, topic=f"owntracks/{topic_user}/+")
            watcher.cancel()
        asyncio.run(main())

    worker = threading.Thread(target=listen)
    worker.start()
    try:
        assert ready.wait(10), "MQTT broker not reachable"
        msg = json.dumps({"_type": "location", "lat": 21.912, "lon": 106.703,
                          "tst": int(NOW.timestamp()), "vel": 36, "tid": "ng"})
        mqtt_publish.single(f"owntracks/{topic_user}/phone", msg, qos=1,
                            hostname=MQTT_HOST, port=MQTT_PORT)
        mqtt_publish.single(f"owntracks/{topic_user}/phone", "not json", qos=1,
                            hostname=MQTT_HOST, port=MQTT_PORT)
        wait_for(lambda: stored(db) == 1, timeout=15)
        speed = db.scalar(select(Position.speed_mps).where(
            Position.device_id == f"{topic_user}/phone"))
        assert speed == pytest.approx(10.0)  # 36 km/h
    finally:
        stop.set()
        worker.join(10)


async def _signal(started: asyncio.Event, ready: threading.Event) -> None:
    await started.wait()
    ready.set()


def test_fix_times_survive_the_wire() -> None:
    from borderflow.telemetry import wire
    from borderflow.telemetry.decoders import Fix, Rejection

    items: list[Fix | Rejection] = [
        Fix("d", datetime(2026, 11, 23, 1, 2, 3, 456000, tzinfo=NOW.tzinfo), 21.9, 106.7,
            "batch", speed_mps=3.5, attributes={"a": 1}),
        Rejection("osmand", "latitude 95 is outside ±90", "d", "{...}")]
    decoded, at = wire.decode(wire.encode(items, NOW))
    assert decoded == items
    assert at == [NOW, NOW]


def test_requests_gathered_into_one_message_keep_each_reception_time() -> None:
    from borderflow.telemetry import wire
    from borderflow.telemetry.decoders import Fix, Rejection

    later = NOW + timedelta(milliseconds=3)
    first: list[Fix | Rejection] = [Fix("a", NOW, 21.9, 106.7, "osmand", battery=80.0)]
    second: list[Fix | Rejection] = [
        Fix("b", NOW, 21.8, 106.6, "osmand", speed_mps=2.0, attributes={"k": "v"}),
        Rejection("osmand", "latitude 95 is outside ±90", "b", "lat=95")]
    decoded, at = wire.decode(wire.encode_groups([(first, NOW), (second, later)]))
    assert decoded == first + second
    assert at == [NOW, later, later]
    assert wire.decode(wire.encode_groups([(second, later)])) == (second, [later, later])


def test_requests_arriving_together_go_to_the_stream_as_one_message_per_partition(
        stream: tuple[str, str]) -> None:
    """Single-position requests that arrive while a publish is on its way share the next
    message of their partition; each request returns once JetStream holds its position, and
    the processor reads every position with the time its own request was received."""
    import nats

    from borderflow.telemetry import wire
    from borderflow.telemetry.decoders import Fix, Rejection
    from borderflow.telemetry.nats_bus import NatsBus

    bus = NatsBus(NATS_URL, stream[0], stream[1], partitions=2)
    sent = {f"phone-{i}": NOW + timedelta(milliseconds=i) for i in range(50)}

    async def run() -> list[tuple[list[Fix | Rejection], list[datetime]]]:
        await bus.apublish([Fix("first", NOW, 21.9, 106.7, "osmand")], NOW)  # connects
        await asyncio.gather(*(bus.apublish([Fix(d, NOW, 21.9, 106.7, "osmand")], at)
                               for d, at in sent.items()))
        await bus.aclose()
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        info = await js.stream_info(stream[0])
        out = [wire.decode((await js.get_msg(stream[0], seq)).data or b"")
               for seq in range(1, info.state.messages + 1)]
        await nc.close()
        return out

    messages = asyncio.run(run())
    assert len(messages) == 1 + 2  # the first request alone, then one per partition
    got = {item.device_id: at for items, received in messages[1:]
           for item, at in zip(items, received, strict=True)}
    assert got == sent
    for items, _received in messages[1:]:
        assert len({wire.partition_of(i.device_id, 2) for i in items}) == 1


def test_requests_too_large_together_go_to_the_stream_one_message_each(
        stream: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests that each fit a NATS message are never refused because they came together:
    gathered beyond ``GATHER_BYTES`` they are published one message per request."""
    import nats

    from borderflow.telemetry import nats_bus, wire
    from borderflow.telemetry.decoders import Fix

    monkeypatch.setattr(nats_bus, "GATHER_BYTES", 3000)
    bus = nats_bus.NatsBus(NATS_URL, stream[0], stream[1])
    big = {"note": "x" * 1200}  # a fleet system's extra fields

    async def run() -> list[list[str]]:
        await bus.apublish([Fix("first", NOW, 21.9, 106.7, "batch")], NOW)  # connects
        await asyncio.gather(*(bus.apublish([Fix(f"fleet-{i}", NOW, 21.9, 106.7, "batch",
                                                 attributes=big)], NOW) for i in range(3)))
        small = [bus.apublish([Fix(f"phone-{i}", NOW, 21.9, 106.7, "osmand")], NOW)
                 for i in range(3)]
        await asyncio.gather(*small)
        await bus.aclose()
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        info = await js.stream_info(stream[0])
        out = [[i.device_id or "" for i in wire.decode(
            (await js.get_msg(stream[0], seq)).data or b"")[0]]
            for seq in range(1, info.state.messages + 1)]
        await nc.close()
        return out

    messages = asyncio.run(run())
    assert messages == [["first"], ["fleet-0"], ["fleet-1"], ["fleet-2"],
                        ["phone-0", "phone-1", "phone-2"]]


def test_requests_gathered_into_one_message_fail_together_and_a_gone_client_does_not(
        stream: tuple[str, str]) -> None:
    """When the bus is away, every request of the message is answered unavailable (each
    phone sends again); a request whose client went away meanwhile leaves the others to
    their answer."""
    from borderflow.telemetry.decoders import Fix
    from borderflow.telemetry.nats_bus import BusUnavailable, NatsBus

    async def run(url: str) -> list[BaseException | None]:
        bus = NatsBus(url, stream[0], stream[1], timeout=2.0)
        tasks = [asyncio.create_task(bus.apublish([Fix(f"p{i}", NOW, 21.9, 106.7, "osmand")],
                                                  NOW)) for i in range(5)]
        await asyncio.sleep(0)
        tasks[0].cancel()  # its client went away
        out = await asyncio.gather(*tasks, return_exceptions=True)
        await bus.aclose()
        return out

    away = asyncio.run(run("nats://127.0.0.1:1"))
    assert isinstance(away[0], asyncio.CancelledError)
    assert all(isinstance(r, BusUnavailable) for r in away[1:])
    there = asyncio.run(run(NATS_URL))
    assert isinstance(there[0], asyncio.CancelledError)
    assert there[1:] == [None] * 4


def test_requests_waiting_on_a_publish_that_is_stopped_are_answered_unavailable(
        stream: tuple[str, str]) -> None:
    """A server stopping while a gathered message is on its way to a bus that does not answer
    (a listener that never speaks): the requests waiting on it are answered unavailable (the
    phones send again), none waits forever."""
    import socket

    from borderflow.telemetry.decoders import Fix
    from borderflow.telemetry.nats_bus import BusUnavailable, NatsBus

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()

    async def run() -> list[BaseException | None]:
        bus = NatsBus(f"nats://127.0.0.1:{silent.getsockname()[1]}", stream[0], stream[1],
                      timeout=30.0)
        requests = [asyncio.create_task(bus.apublish(
            [Fix(f"p{i}", NOW, 21.9, 106.7, "osmand")], NOW)) for i in range(3)]
        await asyncio.sleep(0.2)  # the publisher is connecting
        for publisher in bus._gathering[asyncio.get_running_loop()].tasks:
            publisher.cancel()
        return await asyncio.wait_for(asyncio.gather(*requests, return_exceptions=True), 5)

    try:
        answers = asyncio.run(run())
    finally:
        silent.close()
    assert all(isinstance(a, BusUnavailable) for a in answers)


def test_messages_of_the_first_wire_format_are_still_read() -> None:
    from borderflow.telemetry import wire
    from borderflow.telemetry.decoders import Fix, Rejection

    old = json.dumps({"received_at": NOW.isoformat(), "items": [
        {"kind": "fix", "device_id": "d", "fix_time": "2026-11-23T01:02:03+00:00", "lat": 21.9,
         "lon": 106.7, "protocol": "batch", "speed_mps": 3.5, "bearing": None,
         "altitude": None, "accuracy": None, "battery": None, "attributes": {"a": 1}},
        {"kind": "rejection", "protocol": "osmand", "reason": "bad", "device_id": None,
         "excerpt": ""}]}).encode()
    items, at = wire.decode(old)
    assert items == [Fix("d", datetime(2026, 11, 23, 1, 2, 3, tzinfo=NOW.tzinfo), 21.9, 106.7,
                         "batch", speed_mps=3.5, attributes={"a": 1}),
                     Rejection("osmand", "bad", None, "")]
    assert at == [NOW, NOW]


def _mqtt_ingest(database: Database, stream: tuple[str, str], topic: str, client_id: str
                 ) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BORDERFLOW_DATABASE_URL": database.url,
           "BORDERFLOW_TELEMETRY_BUS": "nats", "BORDERFLOW_NATS_URL": NATS_URL,
           "BORDERFLOW_NATS_STREAM": stream[0], "BORDERFLOW_NATS_SUBJECT": stream[1],
           "BORDERFLOW_MQTT_URL": MQTT_URL, "BORDERFLOW_MQTT_TOPIC": topic,
           "BORDERFLOW_MQTT_CLIENT_ID": client_id, "BORDERFLOW_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "borderflow.cli.main", "telemetry", "mqtt"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.slow
def test_an_mqtt_ingest_worker_killed_mid_stream_loses_no_acknowledged_message(
    db: Peek, database: Database, stream: tuple[str, str]
) -> None:
    """OwnTracks at QoS 1 through Mosquitto, a separate ingest process and NATS JetStream to a
    processor: the ingest worker acknowledges messages to the broker only once JetStream has
    them, so killing it loses nothing the broker acknowledged to the phones, and what it gets
    again is stored once."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    user = f"u{uuid.uuid4().hex[:8]}"
    client_id = f"test-{uuid.uuid4().hex[:8]}"
    topic = f"owntracks/{user}/+"
    base = int(time.time()) - 3600  # the worker and the processor run on the real clock

    def message(i: int) -> str:
        return json.dumps({"_type": "location", "lat": 21.9 + (i % 50) * 1e-4, "lon": 106.7,
                           "tst": base - i, "vel": 36, "tid": "ng"})

    phones = paho.Client(CallbackAPIVersion.VERSION2)
    phones.max_inflight_messages_set(200)
    phones.connect(MQTT_HOST, MQTT_PORT)
    phones.loop_start()

    def send(start: int, stop: int) -> None:
        infos = [phones.publish(f"owntracks/{user}/p{i % 9}", message(i), qos=1)
                 for i in range(start, stop)]
        for info in infos:
            info.wait_for_publish(30)  # acknowledged by the broker

    ingest = _mqtt_ingest(database, stream, topic, client_id)
    processor = _processor(database, stream)
    second: subprocess.Popen[bytes] | None = None
    try:
        def probe_stored() -> bool:
            send(0, 1)
            return stored(db) >= 1

        wait_for(probe_stored, timeout=60)  # subscribed, and the pipeline runs
        send(1, 600)  # acknowledged by the broker to the phones
        os.kill(ingest.pid, signal.SIGKILL)  # mid-stream: received, not all handed on
        ingest.wait(10)
        # sent while no worker runs: the broker keeps them for the worker's session (with
        # what the killed worker had not acknowledged; Mosquitto's default
        # max_queued_messages keeps at most 1,000 for a session that is away)
        send(600, 900)
        total = 900
        second = _mqtt_ingest(database, stream, topic, client_id)
        wait_for(lambda: stored(db) >= total, timeout=90, what=lambda: f"{stored(db)} stored")
        time.sleep(1.5)  # messages delivered again would show up as extra rows now
    finally:
        phones.loop_stop()
        phones.disconnect()
        for p in (ingest, second, processor):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(20)
        # end the worker's session on the shared broker
        gone = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                           protocol=paho.MQTTv5)
        gone.connect(MQTT_HOST, MQTT_PORT, clean_start=True)
        gone.disconnect()
    assert stored(db) == total
    distinct = db.scalar(select(func.count()).select_from(
        select(Position.device_id, Position.fix_time).distinct().subquery()))
    assert distinct == total


def test_an_unreachable_bus_answers_503_and_asks_for_the_positions_again(
        settings: Settings, clock: FixedClock, auth: Any, db: Peek) -> None:
    """Phones and fleet systems send again on 503 (with Retry-After); nothing is stored half."""
    app = create_app(settings.model_copy(update={
        "telemetry_bus": "nats", "nats_url": "nats://127.0.0.1:1"}), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/api/v1/telemetry/positions", json=batch(0, 3),
                        headers=auth("enterprise"))
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "5"
        assert r.json()["error"]["code"] == "unavailable"
        assert "send them again" in r.json()["error"]["message"]
        phone = client.get("/api/v1/telemetry/osmand", params={
            "id": "p1", "lat": "21.9", "lon": "106.7", "timestamp": str(int(NOW.timestamp()))})
        assert phone.status_code == 503
    app.state.ctx.engine.dispose()
    assert stored(db) == 0
