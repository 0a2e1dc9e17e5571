"""The production topology of docs/deploy.md, started and tested as a whole.

PostgreSQL, NATS JetStream, Mosquitto, two API processes (`borderflow serve`, HTTP only)
behind HAProxy configured from deploy/haproxy/haproxy.cfg, two workers (`borderflow worker`,
sharing the MQTT subscription) and two telemetry processors (`borderflow telemetry process
--partition 0|1`), each a real process. The demo's actors drive a compressed day through
HAProxy (declarations, the park, calls, checkpoints, fees, phones, cameras) while phones of our
own send positions over HTTP and MQTT; mid-run the dispatcher's leader and one API process are
killed with SIGKILL, and the worker is started again a few seconds later as systemd would.
Then: the other worker leads within one dispatch interval and calls go on; every position the
platform answered 200 and every MQTT message the broker acknowledged is stored; the webhook
received every notification once; every trip's stored state equals the replay of its
events.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from borderflow.app import create_app
from borderflow.config import Settings
from borderflow.demo.run import build
from borderflow.domain.access import SYSTEM
from borderflow.notify.channels import IDEMPOTENCY_HEADER
from borderflow.store.models import Position, Trip, TripEvent
from borderflow.store.session import make_engine, make_session_factory
from borderflow.telemetry import service as telemetry
from borderflow.trip import service as trips
from tests.conftest import PG_URL
from tests.topology import (
    BORDERFLOW,
    Topology,
    delete_stream,
    fresh_database,
    open_every_gate,
    ports,
    production_env,
    service_url,
    setup,
    start_production,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

INTERVAL = 2
"""The dispatch interval of the run (seconds): the leader's successor must lead within it."""
DAY_SECONDS = 30
"""How long the demo's actors drive the platform (at 600x: five simulated hours)."""


class Webhook(BaseHTTPRequestHandler):
    """The enterprises' notification receiver: records every delivery's idempotency key."""

    received: ClassVar[Counter[str]] = Counter()
    lock: ClassVar[threading.Lock] = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.lock:
            self.received[self.headers.get(IDEMPOTENCY_HEADER, "")] += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database(PG_URL or "") as url:
        yield url


@pytest.fixture
def webhook() -> Iterator[str]:
    Webhook.received.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/notify"
    server.shutdown()


class Phones:
    """Phones of our own sending single OsmAnd positions through HAProxy, as Traccar Client
    does, each bound first and sending the token binding gave it (an unknown id is answered
    400); every position answered 200 is remembered, to be found in the database under the
    device's id."""

    def __init__(self, base: str, run: str, database: str) -> None:
        self.base, self.run = base, run
        engine = make_engine(database)
        with make_session_factory(engine)() as session:
            self.tokens = {f"{run}-{n}": telemetry.bind(
                session, f"{run}-{n}", actor=SYSTEM, now=datetime.now(UTC),
                driver_document=f"{run}-phones")[1] for n in range(20)}
            session.commit()
        engine.dispose()
        self.acknowledged: list[tuple[str, int]] = []
        self.refused = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._send, daemon=True)

    def _send(self) -> None:
        n = 0
        with httpx.Client(base_url=self.base, timeout=5) as client:
            while not self.stop.is_set():
                device = f"{self.run}-{n % 20}"
                stamp = int(time.time() * 1000) + n  # one position per (device, time)
                try:
                    r = client.get("/api/v1/telemetry/osmand", params={
                        "id": self.tokens[device], "lat": f"{21.90 + (n % 50) * 1e-4:.6f}",
                        "lon": "106.70", "timestamp": stamp, "speed": "20"})
                    if r.status_code == 200:
                        self.acknowledged.append((device, stamp))
                    else:
                        self.refused += 1
                except httpx.HTTPError:
                    self.refused += 1
                n += 1
                time.sleep(0.02)


class MqttPhones:
    """OwnTracks phones of our own publishing over MQTT (QoS 1) to Mosquitto; every message
    the broker acknowledged is remembered, to be found in the database."""

    def __init__(self, url: str, run: str) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.run = run
        self.acknowledged: list[tuple[str, int]] = []
        self.stop = threading.Event()
        address = make_url(url.replace("mqtt://", "mqtt+x://"))
        self.client = paho.Client(CallbackAPIVersion.VERSION2)
        self.client.connect(address.host or "127.0.0.1", address.port or 1883)
        self.client.loop_start()
        self.thread = threading.Thread(target=self._send, daemon=True)

    def _send(self) -> None:
        n = 0
        while not self.stop.is_set():
            user = f"{self.run}m{n % 10}"
            tst = int(time.time())
            message = json.dumps({"_type": "location", "lat": 21.90, "lon": 106.70,
                                  "tst": tst, "vel": 20, "tid": "tp"})
            info = self.client.publish(f"{self.run}/{user}/phone", message, qos=1)
            try:
                info.wait_for_publish(5)
                if info.is_published():
                    self.acknowledged.append((f"{user}/phone", tst * 1000))
            except (RuntimeError, ValueError):
                pass
            n += 1
            time.sleep(0.1)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.client.loop_stop()
        self.client.disconnect()


def _stored(sessions: Any, pattern: str, acknowledged: list[tuple[str, int]]
            ) -> set[tuple[str, int]]:
    """What of ``acknowledged`` is not stored after the processors drained the stream (up to
    30 s)."""
    lost = set(acknowledged)
    deadline = time.monotonic() + 30
    while lost and time.monotonic() < deadline:
        with sessions() as s:
            rows = s.execute(select(Position.device_id, Position.fix_time).where(
                Position.device_id.like(pattern))).all()
        lost = set(acknowledged) - {(d, int(at.timestamp() * 1000)) for d, at in rows}
        if lost:
            time.sleep(1)
    return lost


def _drive_the_day(settings: Settings, seconds: float) -> dict[str, int]:
    """The demo's actors (borderflow.demo) against the deployment's public address."""
    app = create_app(settings)
    ctx = app.state.ctx
    open_every_gate(ctx, 3, "peak day: open whatever the hour")
    traffic = build(ctx)

    async def day() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(traffic.run(stop))
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.wait_for(task, 30)

    try:
        asyncio.run(day())
    finally:
        app.state.ctx.engine.dispose()
    assert traffic.failure is None, traffic.failure
    return {"declared": traffic.declared, "positions": traffic.positions,
            "errors": traffic.errors}


def test_the_deployment_survives_losing_its_dispatcher_leader_and_an_api_process(
    database: str, webhook: str, tmp_path: Path
) -> None:
    run = f"topo{uuid.uuid4().hex[:6]}"
    lb_port, api_ports = ports(1)[0], ports(2)
    base = f"http://127.0.0.1:{lb_port}"
    env = production_env(database, tmp_path / "var", base, run, interval=INTERVAL,
                         BORDERFLOW_NOTIFY_INTERVAL_SECONDS="1",
                         BORDERFLOW_NOTIFY_CHANNELS="in_app,webhook",
                         BORDERFLOW_WEBHOOK_URL=webhook,
                         BORDERFLOW_WEBHOOK_SECRET="topology-webhook-secret",
                         BORDERFLOW_MQTT_URL=service_url("mqtt"),
                         BORDERFLOW_MQTT_TOPIC=f"$share/borderflow/{run}/+/+")
    setup(env)
    topology = Topology(tmp_path, env)
    try:
        # each worker its own MQTT session, kept across a restart
        start_production(topology, lb_port, api_ports, run, mqtt_client_ids=True)

        phones = Phones(base, run, database)
        phones.thread.start()
        mqtt = MqttPhones(env["BORDERFLOW_MQTT_URL"], run)
        mqtt.thread.start()
        settings = Settings(_env_file=None, database_url=database, public_base_url=base,
                            var_dir=tmp_path / "var", demo_speed=600,
                            demo_trucks_per_day=3000, log_level="WARNING")
        killed: dict[str, float] = {}

        def kill_mid_run() -> None:
            time.sleep(DAY_SECONDS / 2)
            leader = _leader(topology)
            killed[leader] = topology.kill(leader)
            killed["api1"] = topology.kill("api1")
            time.sleep(2 + INTERVAL)  # systemd's RestartSec, after the takeover was due
            topology.start(f"{leader}-restarted", [BORDERFLOW, "worker"],
                           BORDERFLOW_MQTT_CLIENT_ID=f"{run}-{leader}")

        killer = threading.Thread(target=kill_mid_run)
        killer.start()
        figures = _drive_the_day(settings, DAY_SECONDS)
        killer.join()
        phones.stop.set()
        phones.thread.join(10)
        mqtt.close()

        # the other worker led within one interval of the leader's death, and called trucks
        (dead,) = [name for name in killed if name.startswith("worker")]
        survivor = "worker2" if dead == "worker1" else "worker1"
        took_over = [_at(e) for e in topology.processes[survivor].lines()
                     if e.get("event") == "dispatcher leader"]
        assert took_over, f"{survivor} never led"
        delay = took_over[-1] - killed[dead]
        assert 0 < delay <= INTERVAL + 1.0, f"{survivor} led {delay:.1f} s after the kill"
        engine = make_engine(database)
        sessions = make_session_factory(engine)
        with sessions() as s:
            calls_after = s.scalar(select(func.count()).select_from(TripEvent).where(
                TripEvent.type == "trip.called",
                TripEvent.occurred_at > datetime.fromtimestamp(killed[dead], UTC)))
        assert figures["declared"] > 20
        assert calls_after, "no truck was called after the leader died"

        # every position answered 200, every message the broker acknowledged, is stored once
        # the processors have drained the stream (the killed worker restarted, as systemd
        # restarts it, and took what its MQTT session kept)
        assert len(phones.acknowledged) > 200
        lost = _stored(sessions, f"{run}-%", phones.acknowledged)
        assert not lost, f"{len(lost)} of {len(phones.acknowledged)} acknowledged positions lost"
        assert len(mqtt.acknowledged) > 50
        lost = _stored(sessions, f"{run}m%", mqtt.acknowledged)
        assert not lost, f"{len(lost)} of {len(mqtt.acknowledged)} MQTT messages lost"

        # notifications: the webhook got each delivery once (and got some)
        time.sleep(3)  # the sender's last round
        assert sum(Webhook.received.values()) > 0
        twice = {k: n for k, n in Webhook.received.items() if n > 1}
        assert not twice, f"sent more than once: {twice}"

        # the books balance: every trip's stored state is the replay of its events
        with sessions() as s:
            states = s.execute(select(Trip.id, Trip.state)).all()
            assert len(states) > 20
            wrong = [t for t, state in states if trips.replay(s, t) != state]
        assert not wrong, f"trips whose state is not their replay: {wrong[:5]}"
        engine.dispose()
        _the_public_board_is_answered_by_the_load_balancer(base, topology)
        print(f"topology: {figures}, leader taken over in {delay:.2f} s, {calls_after} calls "
              f"after, positions acknowledged {len(phones.acknowledged)} (refused "
              f"{phones.refused}), notifications {sum(Webhook.received.values())}, "
              f"trips {len(states)}")
    finally:
        topology.stop_all()
        delete_stream(env["BORDERFLOW_NATS_URL"], env["BORDERFLOW_NATS_STREAM"])


def _the_public_board_is_answered_by_the_load_balancer(base: str, topology: Topology) -> None:
    """HAProxy answers the public screens' panel from its cache for the figures' interval
    (the same answer, request id and all; 304 to a screen holding it) and keeps nothing
    that differs by visitor; a public screen's panel that reaches an API process reaches the
    board's own, the board's page and a signed-in visitor's panel the others."""
    with httpx.Client(base_url=base, timeout=30) as client:
        first = client.get("/board/panel", params={"lang": "zh"})
        assert first.status_code == 200, first.text[:300]
        again = client.get("/board/panel", params={"lang": "zh"})
        held = client.get("/board/panel", params={"lang": "zh"},
                          headers={"If-None-Match": first.headers["ETag"]})
        assert again.content == first.content
        for kept in (again, held):
            assert kept.headers["X-Request-ID"] == first.headers["X-Request-ID"]
            assert "age" in kept.headers
        assert held.status_code == 304
        for path, headers in (("/board/panel?lang=zh", {"Cookie": "bf_session=a-session"}),
                              ("/board?lang=zh", {}), ("/readyz", {})):
            ids = {client.get(path, headers=headers).headers["X-Request-ID"] for _ in range(2)}
            assert len(ids) == 2, path  # each answered by an API process
    time.sleep(0.5)  # the request log's last lines
    served = {name: {(e.get("path"), e.get("request_id")) for e in process.lines()
                     if e.get("event") == "request"}
              for name, process in topology.processes.items() if name.startswith(("api", "board"))}
    board = {path for path, _ in served["board"]}
    assert board - {"/readyz"} == {"/board/panel"}  # the load balancer's checks, the panels
    assert first.headers["X-Request-ID"] in {i for _, i in served["board"]}
    others = {path for name, seen in served.items() if name != "board" for path, _ in seen}
    assert {"/board", "/board/panel"} <= others  # the page; a signed-in visitor's panel


def _leader(topology: Topology) -> str:
    """The worker that logged it leads (and has not logged that it gave it up since)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for name in ("worker1", "worker2"):
            events = [e.get("event") for e in topology.processes[name].lines()]
            if "dispatcher leader" in events:
                return name
        time.sleep(0.2)
    raise AssertionError("no worker leads the dispatcher")


def _at(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
