"""The pipeline's resilience against the real servers: a poisoned message on NATS JetStream is
set aside as a dead letter while the messages around it (and after it) are stored; the stream
keeps what it should and refuses past its size; the MQTT subscriber speaks 3.1.1 to Mosquitto,
stops after the broker refuses its credentials a few times, honours the broker's Server Keep
Alive, and never writes the broker's password to the log. These servers are part of the
platform's environment: a test fails, never skips, when one cannot be reached."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import nats
import paho.mqtt.publish as mqtt_publish
import pytest
import structlog
from fastapi.testclient import TestClient
from nats.js.api import DiscardPolicy, RetentionPolicy, StreamConfig
from sqlalchemy import func, select

from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.store.models import Position, TelemetryDeadLetter
from borderflow.store.session import make_session_factory
from borderflow.telemetry import mqtt, wire
from borderflow.telemetry.bus import FenceCache, Processor
from borderflow.telemetry.dead_letters import DeadLetterStore
from borderflow.telemetry.decoders import Fix
from borderflow.telemetry.nats_bus import (
    RetryPolicy,
    StreamLimits,
    ensure_stream,
    partition_subject,
    run_processor,
)
from tests.conftest import NOW, Peek
from tests.services import SERVICES, answers, free_port, program
from tests.telemetry.test_real_bus import MQTT_HOST, MQTT_PORT, MQTT_URL, NATS_URL, wait_for


@contextlib.contextmanager
def all_logs() -> Iterator[list[Any]]:
    """The log events written meanwhile, whatever level the logs were set to."""
    old = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(**old)


@pytest.fixture
def stream() -> Iterator[tuple[str, str]]:
    """A stream of the test's own, deleted afterwards (the server is shared)."""
    tag = uuid.uuid4().hex[:10]
    yield f"TEST_{tag}", f"test.{tag}.positions"
    with contextlib.suppress(Exception):  # never made, or already deleted by the test
        asyncio.run(_delete(f"TEST_{tag}"))


def stored(db: Peek) -> int:
    return int(db.scalar(select(func.count()).select_from(Position)) or 0)


def dead(db: Peek) -> list[TelemetryDeadLetter]:
    with db.sessions() as s:
        return list(s.scalars(select(TelemetryDeadLetter).order_by(TelemetryDeadLetter.id)))


def fix(device: str, seconds: int, lat: Any = 21.9) -> Fix:
    return Fix(device, NOW - timedelta(seconds=seconds), lat, 106.7, "batch")


async def _publish(stream: tuple[str, str], messages: list[bytes],
                   limits: StreamLimits | None = None) -> None:
    nc = await nats.connect(NATS_URL)
    try:
        js = nc.jetstream()
        await ensure_stream(js, stream[0], stream[1], limits)
        for data in messages:
            await js.publish(partition_subject(stream[1], 0), data, stream=stream[0])
    finally:
        await nc.close()


async def _info(stream: str) -> Any:
    nc = await nats.connect(NATS_URL)
    try:
        return await nc.jetstream().stream_info(stream)
    finally:
        await nc.close()


async def _delete(stream: str) -> None:
    nc = await nats.connect(NATS_URL)
    try:
        await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


class Running:
    """A processor consuming partition 0 in a thread, until left: ``handle`` (by default the
    real processor) in transactions of at most ``messages`` messages and ``positions``
    positions. What it raised is in ``error``."""

    def __init__(self, db: Peek, stream: tuple[str, str], retry: RetryPolicy, *,
                 handle: Any = None, messages: int = 10, positions: int = 4000) -> None:
        sessions = make_session_factory(db.engine)
        clock = FixedClock(NOW)
        self.stop = asyncio.Event()
        self.error: list[BaseException] = []
        handle = handle or Processor(sessions, clock, FenceCache(30))

        def consume() -> None:
            try:
                asyncio.run(run_processor(
                    NATS_URL, stream[0], stream[1], handle, self.stop, batch=messages,
                    partitions=[0], dead_letters=DeadLetterStore(sessions, clock),
                    retry=retry, positions=positions))
            except BaseException as exc:  # reported by the test
                self.error.append(exc)

        self.thread = threading.Thread(target=consume)

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(15)


def test_a_poisoned_message_is_set_aside_and_the_partition_goes_on(
        settings: Settings, db: Peek, stream: tuple[str, str]) -> None:
    """A message no store takes is delivered again after a back-off, then set aside with the
    reason and acknowledged; one that is not a positions message at all is set aside at once.
    The messages before and after it are stored, the processor keeps running, and nothing is
    left on the work-queue stream."""
    poisoned = wire.encode([fix("poison", 1, lat="not a number")], NOW)
    asyncio.run(_publish(stream, [wire.encode([fix("before", 2)], NOW), b"\x00garbage",
                                  poisoned, wire.encode([fix("after", 3)], NOW)]))
    retry = RetryPolicy(max_deliver=2, backoff_seconds=(0.3,))
    try:
        with Running(db, stream, retry) as running:
            wait_for(lambda: stored(db) == 2 and len(dead(db)) == 2, timeout=30,
                     what=lambda: f"{stored(db)} stored, {len(dead(db))} dead letters")
            asyncio.run(_publish(stream, [wire.encode([fix("later", 4)], NOW)]))
            wait_for(lambda: stored(db) == 3, timeout=15)
            assert not running.error
            assert running.thread.is_alive()
        garbage, poison = dead(db)
        assert garbage.reason.startswith("not a positions message")
        assert garbage.deliveries == 1
        assert poison.payload == poisoned
        assert poison.deliveries == 2
        assert poison.subject == partition_subject(stream[1], 0)
        assert poison.sequence == 3
        assert set(db.scalars(select(Position.device_id))) == {"before", "after", "later"}
        info = asyncio.run(_info(stream[0]))
        assert info.state.messages == 0  # work queue: acknowledged means deleted
        assert info.config.retention == RetentionPolicy.WORK_QUEUE
        assert info.config.discard == DiscardPolicy.NEW
        assert info.config.max_age == pytest.approx(7 * 24 * 3600)
    finally:
        asyncio.run(_delete(stream[0]))


def test_a_stream_made_before_limits_is_given_them_and_keeps_its_retention(
        stream: tuple[str, str]) -> None:
    async def scenario() -> Any:
        nc = await nats.connect(NATS_URL)
        try:
            js = nc.jetstream()
            await js.add_stream(StreamConfig(name=stream[0], subjects=[stream[1]]))
            with all_logs() as logs:
                await ensure_stream(js, stream[0], stream[1], StreamLimits(
                    max_age_seconds=3600, max_bytes=10_000_000))
            return await js.stream_info(stream[0]), logs
        finally:
            await nc.close()

    try:
        info, logs = asyncio.run(scenario())
        assert info.config.retention == RetentionPolicy.LIMITS  # NATS cannot change it
        assert info.config.discard == DiscardPolicy.OLD
        assert info.config.max_age == pytest.approx(3600)
        assert info.config.max_bytes == 10_000_000
        assert sorted(info.config.subjects) == sorted([stream[1], f"{stream[1]}.*"])
        assert any("retention" in e["event"] for e in logs)
    finally:
        asyncio.run(_delete(stream[0]))


def test_a_full_stream_answers_503_and_keeps_what_it_has(
        settings: Settings, clock: FixedClock, auth: Any, stream: tuple[str, str]) -> None:
    app = create_app(settings.model_copy(update={
        "telemetry_bus": "nats", "nats_url": NATS_URL, "nats_stream": stream[0],
        "nats_subject": stream[1], "nats_max_bytes": 4096}), clock=clock)
    answers_seen: list[int] = []
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            for i in range(40):
                r = client.post("/api/v1/telemetry/positions", headers=auth("enterprise"),
                                json={"positions": [{
                                    "device_id": f"d{i}", "lat": 21.9, "lon": 106.7,
                                    "time": NOW.isoformat()}]})
                answers_seen.append(r.status_code)
                if r.status_code == 503:
                    assert r.headers["retry-after"] == "5"
                    assert r.json()["error"]["code"] == "unavailable"
                    break
        app.state.ctx.engine.dispose()
        assert answers_seen[-1] == 503
        assert set(answers_seen[:-1]) == {200}
        info = asyncio.run(_info(stream[0]))
        assert info.state.messages == len(answers_seen) - 1  # nothing taken was dropped
    finally:
        asyncio.run(_delete(stream[0]))


# --- MQTT --------------------------------------------------------------------------------------


def _listen(url: str, options: mqtt.Options, topic: str, db: Peek, until: Any,
            timeout: float = 15, subscribed: Any = None
            ) -> tuple[list[Any], BaseException | None]:
    """Run the subscriber (storing what it gets), call ``subscribed()`` once it listens, and
    stop when ``until()`` or after ``timeout``; return the log events and what it raised."""
    sessions = make_session_factory(db.engine)
    clock = FixedClock(NOW)
    processor = Processor(sessions, clock, FenceCache(30))
    raised: list[BaseException] = []

    async def main() -> None:
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(mqtt.run(
            url, lambda items: asyncio.to_thread(processor, items, clock.now()), clock.now,
            stop, ready=ready, topic=topic, options=options))
        deadline = time.monotonic() + timeout
        called = False
        while time.monotonic() < deadline and not task.done() and not until():
            if ready.is_set() and subscribed is not None and not called:
                called = True
                await asyncio.to_thread(subscribed)
            await asyncio.sleep(0.05)
        stop.set()
        try:
            await asyncio.wait_for(task, 10)
        except Exception as exc:  # reported to the test
            raised.append(exc)

    with all_logs() as logs:
        asyncio.run(main())
    return logs, raised[0] if raised else None


def _owntracks(user: str, port: int = MQTT_PORT, auth: Any = None,
               protocol: int = 4) -> None:
    import paho.mqtt.client as paho

    body = json.dumps({"_type": "location", "lat": 21.912, "lon": 106.703,
                       "tst": int(NOW.timestamp()), "vel": 36, "tid": "ng"})
    mqtt_publish.single(f"owntracks/{user}/phone", body, qos=1, hostname=MQTT_HOST, port=port,
                        auth=auth, protocol=paho.MQTTv311 if protocol == 4 else paho.MQTTv5)


def test_the_subscriber_speaks_mqtt_3_1_1_to_mosquitto(settings: Settings, db: Peek) -> None:
    user = f"u{uuid.uuid4().hex[:8]}"
    logs, raised = _listen(MQTT_URL, mqtt.Options(protocol="3.1.1"),
                           f"owntracks/{user}/+", db, lambda: stored(db) == 1,
                           subscribed=lambda: _owntracks(user))
    assert raised is None
    assert stored(db) == 1
    listening = [e for e in logs if e["event"] == "listening for OwnTracks over MQTT"]
    assert listening[0]["protocol"] == "3.1.1"


@pytest.fixture(scope="module")
def locked_broker() -> Iterator[int]:
    """A throw-away Mosquitto that wants a user and password (``owner`` / ``s3cret-pw``) and
    keeps clients' keep-alive at most 10 s; its port."""
    path = program(next(s for s in SERVICES if s.name == "mqtt"))
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="borderflow-mqtt-locked-"))
    folder.chmod(0o755)
    passwords = folder / "passwords"
    subprocess.run([shutil.which("mosquitto_passwd") or "mosquitto_passwd",  # noqa: S603
                    "-b", "-c", str(passwords), "owner", "s3cret-pw"], check=True)
    passwords.chmod(0o644)
    config = folder / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\n"
                      f"password_file {passwords}\nmax_keepalive 10\npersistence false\n"
                      "log_dest stderr\n")
    with (folder / "server.log").open("ab") as out:
        server = subprocess.Popen([path, "-c", str(config)], stdout=out,  # noqa: S603
                                  stderr=out, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not _listening(port):
            log = (folder / "server.log").read_text(errors="replace")[-2000:]
            assert server.poll() is None, log
            assert time.monotonic() < deadline, log
            time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def _listening(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), 1):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_refused_connection_stops_after_the_attempts_and_hides_the_password(
        settings: Settings, db: Peek, locked_broker: int, protocol: str) -> None:
    url = f"mqtt://owner:wrong-secret-pw@127.0.0.1:{locked_broker}"
    options = mqtt.Options(protocol=protocol, keepalive=10, refused_attempts=2,
                           refused_retry_seconds=(0.1,))
    started = time.monotonic()
    logs, raised = _listen(url, options, "owntracks/+/+", db, lambda: False, timeout=20)
    assert isinstance(raised, mqtt.NotAllowed)
    assert time.monotonic() - started < 10  # stopped, not retried for ever
    refusals = [e for e in logs if e["log_level"] == "error"]
    assert len(refusals) == 2  # one refusal retried, the second ends it
    reason = refusals[-1]["reason"]
    assert "bad user name or password" in reason or "not authorised" in reason
    assert refusals[-1]["broker"] == f"mqtt://owner:***@127.0.0.1:{locked_broker}"
    assert "wrong-secret-pw" not in repr(logs)


def test_the_broker_s_server_keep_alive_is_honoured(
        settings: Settings, db: Peek, locked_broker: int) -> None:
    """Asked for 60 s, the broker (max_keepalive 10) answers a Server Keep Alive of 10 s over
    MQTT 5: the subscriber pings by that. The right password connects, and is not logged."""
    url = f"mqtt://owner:s3cret-pw@127.0.0.1:{locked_broker}"
    user = f"u{uuid.uuid4().hex[:8]}"
    logs, raised = _listen(url, mqtt.Options(protocol="5", keepalive=60),
                           f"owntracks/{user}/+", db, lambda: stored(db) == 1,
                           subscribed=lambda: _owntracks(user, locked_broker, {
                               "username": "owner", "password": "s3cret-pw"}))
    assert raised is None
    assert stored(db) == 1
    listening = [e for e in logs if e["event"] == "listening for OwnTracks over MQTT"]
    assert listening[0]["keepalive"] == 10
    assert listening[0]["protocol"] == "5"
    assert "s3cret-pw" not in repr(logs)


def test_the_local_broker_is_the_one_the_suite_names() -> None:
    assert answers(MQTT_URL)


# --- one processor per partition -----------------------------------------------------------


@pytest.mark.postgres
def test_one_processor_per_partition_the_other_stands_by_and_takes_over(
        settings: Settings, db: Peek, stream: tuple[str, str]) -> None:
    """Two processors given the same partition: only the holder of its lease consumes; when
    it stops, the other takes the lease and goes on with what follows."""
    from borderflow.telemetry.lease import PartitionLease

    sessions = make_session_factory(db.engine)
    clock = FixedClock(NOW)
    handled: dict[str, int] = {"a": 0, "b": 0}

    def processor(name: str) -> Any:
        real = Processor(sessions, clock, FenceCache(30))

        def handle(items: list[Any], received: list[Any]) -> Any:
            handled[name] += len(items)
            return real(items, received)

        return handle

    def start(name: str, stop: asyncio.Event) -> threading.Thread:
        def consume() -> None:
            asyncio.run(run_processor(NATS_URL, stream[0], stream[1], processor(name), stop,
                                      batch=5, partitions=[0],
                                      lease=PartitionLease(db.engine, stream[0])))

        thread = threading.Thread(target=consume)
        thread.start()
        return thread

    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    a = start("a", stop_a)
    time.sleep(1.5)  # a holds the lease
    b = start("b", stop_b)
    try:
        asyncio.run(_publish(stream, [wire.encode([fix(f"d{i}", i)], NOW) for i in range(20)]))
        wait_for(lambda: stored(db) == 20, timeout=20)
        time.sleep(1)
        assert handled == {"a": 20, "b": 0}
        stop_a.set()
        a.join(15)
        asyncio.run(_publish(stream, [wire.encode([fix(f"e{i}", i)], NOW) for i in range(10)]))
        wait_for(lambda: stored(db) == 30, timeout=20)
        assert handled == {"a": 20, "b": 10}
    finally:
        stop_a.set()
        stop_b.set()
        a.join(15)
        b.join(15)
        asyncio.run(_delete(stream[0]))


@pytest.fixture(scope="module")
def nats_mqtt_listener() -> Iterator[int]:
    """A throw-away NATS server with its MQTT listener (which speaks MQTT 3.1.1 only); the
    MQTT port."""
    path = program(next(s for s in SERVICES if s.name == "nats"))
    port, mqtt_port = free_port(), free_port()
    folder = Path(tempfile.mkdtemp(prefix="borderflow-nats-mqtt-"))
    config = folder / "nats.conf"
    config.write_text(f'server_name: "bf-mqtt-test"\nlisten: "127.0.0.1:{port}"\n'
                      f'jetstream {{ store_dir: "{folder / "js"}" }}\n'
                      f'mqtt {{ listen: "127.0.0.1:{mqtt_port}" }}\n')
    with (folder / "server.log").open("ab") as out:
        server = subprocess.Popen([path, "-c", str(config)], stdout=out,  # noqa: S603
                                  stderr=out, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not _listening(mqtt_port):
            log = (folder / "server.log").read_text(errors="replace")[-2000:]
            assert server.poll() is None, log
            assert time.monotonic() < deadline, log
            time.sleep(0.1)
        yield mqtt_port
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_subscriber_falls_back_to_3_1_1_with_nats_s_mqtt_listener(
        settings: Settings, db: Peek, nats_mqtt_listener: int) -> None:
    """The default protocol (auto) tries MQTT 5, is refused by NATS's MQTT listener
    ("unacceptable protocol version") and speaks 3.1.1 from then on; OwnTracks' messages
    through NATS are stored."""
    user = f"u{uuid.uuid4().hex[:8]}"
    logs, raised = _listen(f"mqtt://127.0.0.1:{nats_mqtt_listener}", mqtt.Options(),
                           f"owntracks/{user}/+", db, lambda: stored(db) == 1,
                           subscribed=lambda: _owntracks(user, nats_mqtt_listener))
    assert raised is None
    assert stored(db) == 1
    assert any(e["event"] == "MQTT broker does not speak MQTT 5; speaking 3.1.1" for e in logs)
    listening = [e for e in logs if e["event"] == "listening for OwnTracks over MQTT"]
    assert listening[0]["protocol"] == "3.1.1"


# --- NUL through the real servers ------------------------------------------------------------


def test_nul_carrying_positions_through_nats_and_mosquitto_are_stored_clean(
        settings: Settings, db: Peek, stream: tuple[str, str]) -> None:
    """A NUL reaches the processor on the stream from a foreign publisher (in a device id and
    extra fields) and through Mosquitto in an OwnTracks message: nothing fails, nothing is set
    aside; the position with a NUL in its device id is rejected with the reason, the others
    are stored without the NUL."""
    from borderflow.store.models import RejectedPosition

    raw = wire.encode([Fix("bus-1", NOW, 21.9, 106.7, "batch", attributes={"k\x00": "v\x00"}),
                       Fix("bus\x00-2", NOW, 21.9, 106.7, "batch")], NOW)
    assert b"\\u0000" in raw
    asyncio.run(_publish(stream, [raw]))
    with Running(db, stream, RetryPolicy(max_deliver=2, backoff_seconds=(0.3,))) as running:
        wait_for(lambda: stored(db) == 1, timeout=20)
        assert not running.error
    user = f"u{uuid.uuid4().hex[:8]}"

    def send() -> None:
        body = json.dumps({"_type": "location", "lat": 21.912, "lon": 106.703,
                           "tst": int(NOW.timestamp()), "tid": "n\x00g", "conn": "w\x00"})
        mqtt_publish.single(f"owntracks/{user}/phone", body, qos=1, hostname=MQTT_HOST,
                            port=MQTT_PORT)

    _logs, raised = _listen(MQTT_URL, mqtt.Options(), f"owntracks/{user}/+", db,
                            lambda: stored(db) == 2, subscribed=send)
    assert raised is None
    with db.sessions() as s:
        kept = {p.device_id: p.attributes for p in s.scalars(select(Position))}
        rejected = s.scalars(select(RejectedPosition)).all()
    assert kept == {"bus-1": {"k": "v"}, f"{user}/phone": {"tid": "ng", "conn": "w"}}
    assert [(r.device_id, r.excerpt) for r in rejected] == [(None, "bus-2")]
    assert dead(db) == []
