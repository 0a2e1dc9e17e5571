"""Benchmark of GPS ingestion: positions per second into the database with geofencing.

Run from the repository root::

    .venv/bin/python bench/ingest.py             # 15 s per scenario
    .venv/bin/python bench/ingest.py --seconds 5 # quicker

Each scenario starts the platform as it is deployed (``borderflow serve`` under uvicorn, and
``borderflow telemetry process`` / ``borderflow telemetry mqtt`` processes where the
deployment has them) on a fresh database and drives it from a load generator on 127.0.0.1.
Request bodies are prepared before the clock starts, so the generator spends its share of the
two cores sending, not building JSON; before each scenario the machine settles (a PostgreSQL
``CHECKPOINT``, the operating system's dirty pages flushed) so that no scenario pays for the
previous one's writes:

1. the production deployment: the batch endpoint (``POST /api/v1/telemetry/positions``,
   1,000 positions per request) publishing to NATS JetStream, ``--processors`` processor
   processes writing to PostgreSQL with geofencing. Once as fast as 4 senders go (the
   sustained rate: positions stored over the time from the first send to the last row
   stored), once paced at ``--rate`` positions/s (the latency at the target rate); an
   unpaced run is preceded by a warm-up at 20,000/s;
2. the same endpoint in one process with the in-process bus, into PostgreSQL and SQLite;
3. OwnTracks messages through Mosquitto (MQTT, QoS 1) into PostgreSQL: the publisher, the
   ``--mqtt-workers`` ``borderflow telemetry mqtt`` ingest processes on one shared
   subscription, NATS JetStream, the processor(s); the bench runs a Mosquitto of its own
   configured as for production (it keeps what a subscriber has not taken yet); as fast as
   the broker acknowledges (2,000 in flight), then paced at ``--rate`` messages/s;
4. single-position OsmAnd requests as phones send them (``GET /api/v1/telemetry/osmand``, one
   position per request, 64 keep-alive connections), one server process, into PostgreSQL.

Latency at the target rate is measured twice, after ``WARMUP_SECONDS`` of the same load that
are not counted (start-up opens connections, creates the day's partition, fills caches):
probes (:class:`Probe`) send one position of their own every 20 ms through the same door as
the load and look every 5 ms until it is committed, from the sender's side (``p50_ms_pg``,
``p99_ms_pg``, ``p99_ms_mqtt``: a few hundred samples); and every row's ``stored_at -
received_at`` (``*_rows``: from the moment ingestion took the request to the moment the
processor began the transaction that stored it, every position, but without the transaction's
own time). The paced runs are the production deployment (batch endpoint, and MQTT) with the
load sent at ``--rate`` positions/s. The baseline,
measured in the same run, is a plain insert of the same rows into the same PostgreSQL table
(one ``INSERT ... ON CONFLICT DO NOTHING`` per 2,000 rows through SQLAlchemy, no decoding, no
geofencing, no HTTP): ``plain_insert_ratio`` is the production deployment's sustained rate
over it. Positions come from 10,000 simulated trucks around the Lang Son gates (a fifth of
them inside a fence). The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from borderflow.store.models import Position  # noqa: E402

PG_BASE = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DEVICES = 10_000
MAX_RATE = 60_000
"""Positions prepared per second of an unpaced run (more than the platform takes)."""
MAX_OSMAND_RATE = 15_000
NATS_BATCH = [8]
"""Messages a processor writes in one transaction, at most (``--nats-batch``; each request's
positions are one message per partition)."""
MAX_MQTT_RATE = 30_000
WARMUP_SECONDS = 2.0
"""Load sent before the measured run and not counted: the first requests after start-up open
connections, create the day's partition and fill caches (their latency is printed apart)."""
AREA = (21.90, 21.98, 106.69, 106.77)  # around the park and the Huu Nghi / Tan Thanh gates


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Positions:
    """Fresh positions: each call moves every truck one step, 10 s later."""

    def __init__(self, seed: int = 20261123) -> None:
        rnd = random.Random(seed)
        self.state = [(rnd.uniform(AREA[0], AREA[1]), rnd.uniform(AREA[2], AREA[3]))
                      for _ in range(DEVICES)]
        self.t0 = datetime.now(UTC) - timedelta(days=1)
        self.tick = 0
        self.lock = threading.Lock()

    def take(self, n: int) -> list[dict[str, Any]]:
        out = []
        with self.lock:
            for _ in range(n):
                i = self.tick % DEVICES
                step = self.tick // DEVICES
                self.tick += 1
                lat, lon = self.state[i]
                lat += 1e-4
                self.state[i] = (lat, lon)
                out.append({"device_id": f"truck-{i}", "lat": round(lat, 6),
                            "lon": round(lon, 6),
                            "time": (self.t0 + timedelta(seconds=10 * step)).isoformat(),
                            "speed_mps": 8.0})
        return out


@contextmanager
def database(kind: str) -> Iterator[str]:
    """A fresh database for one scenario, on a machine settled from the scenario before."""
    settle()
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="bf-bench-")
        try:
            yield f"sqlite:///{folder}/bench.db"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    schema = f"bench_{os.getpid()}_{random.randrange(10**6)}"
    engine = create_engine(PG_BASE)
    with engine.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_BASE else "?"
    try:
        yield f"{PG_BASE}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def settle() -> None:
    """Let the previous scenario's writes reach the disk before the next one starts: a
    PostgreSQL CHECKPOINT (if allowed) and the operating system's dirty pages flushed.
    Scenarios then do not pay for each other's I/O, whatever their order; a scenario's own
    checkpoints and flushes still fall in its measurement."""
    engine = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.execute(text("CHECKPOINT"))
    except Exception as exc:  # not a superuser: the flush below still helps
        print(f"(no CHECKPOINT before the scenario: {str(exc).splitlines()[0]})")
    finally:
        engine.dispose()
    os.sync()
    time.sleep(1.0)


@contextmanager
def server(url: str, mqtt: str | None = None, processors: int = 0, workers: int = 1,
           mqtt_workers: int = 0) -> Iterator[str]:
    """The platform on a free port; with ``processors``, positions go through NATS JetStream
    (as many partitions as processors) to that many separate ``borderflow telemetry process
    --partition N`` processes; ``mqtt_workers`` take
    MQTT in ``borderflow telemetry mqtt`` processes (on one shared subscription) instead of
    the server."""
    port = free_port()
    env = {**os.environ, "BORDERFLOW_DATABASE_URL": url, "BORDERFLOW_PORT": str(port),
           "BORDERFLOW_LOG_LEVEL": "WARNING", "BORDERFLOW_DISPATCH_INTERVAL_SECONDS": "0",
           "BORDERFLOW_NOTIFY_INTERVAL_SECONDS": "0", "BORDERFLOW_TELEMETRY_BUS": "memory",
           "BORDERFLOW_VAR_DIR": tempfile.mkdtemp(prefix="bf-var-"),
           # one load generator stands for thousands of phones, each with its own address:
           # the per-address telemetry limit is not what is measured here
           "BORDERFLOW_THROTTLING": "false"}
    stream = f"BENCH_{os.getpid()}_{random.randrange(10**6)}"
    if processors:
        env.update({"BORDERFLOW_TELEMETRY_BUS": "nats", "BORDERFLOW_NATS_STREAM": stream,
                    "BORDERFLOW_NATS_SUBJECT": f"bench.{stream.lower()}",
                    "BORDERFLOW_NATS_BATCH": str(NATS_BATCH[0]),
                    "BORDERFLOW_NATS_PARTITIONS": str(processors)})
    cli = [sys.executable, "-m", "borderflow.cli.main"]
    subprocess.run([*cli, "setup"], env=env, check=True, capture_output=True)
    children = [subprocess.Popen([*cli, "telemetry", "process", "--partition", str(i)],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for i in range(processors)]
    for i in range(mqtt_workers if mqtt else 0):
        children.append(subprocess.Popen([*cli, "telemetry", "mqtt"], env={
            **env, "BORDERFLOW_MQTT_URL": mqtt, "BORDERFLOW_MQTT_CLIENT_ID": f"bench-{stream}-{i}",
            "BORDERFLOW_MQTT_TOPIC": "$share/borderflow/owntracks/+/+"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    if mqtt and not mqtt_workers:
        env["BORDERFLOW_MQTT_URL"] = mqtt
    proc = subprocess.Popen([*cli, "serve", "--workers", str(workers)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("server did not start")
        time.sleep(1.0)  # every worker and processor up, subscriptions made
        yield base
    finally:
        for p in [proc, *children]:
            p.terminate()
        for p in [proc, *children]:
            p.wait(30)
        if processors:
            drop_stream(stream)


def drop_stream(stream: str) -> None:
    import asyncio

    import nats

    async def drop() -> None:
        nc = await nats.connect("nats://127.0.0.1:4222")
        try:
            await nc.jetstream().delete_stream(stream)
        finally:
            await nc.close()

    asyncio.run(drop())


def api_key(url: str) -> str:
    """An enterprise machine client for the batch endpoint."""
    env = {**os.environ, "BORDERFLOW_DATABASE_URL": url}
    cli = [sys.executable, "-m", "borderflow.cli.main"]
    subprocess.run([*cli, "user", "add", "fleet", "--role", "enterprise", "--client",
                    "--tax-code", "0100109106"], env=env, check=True, capture_output=True)
    out = subprocess.run([*cli, "user", "api-key", "fleet"], env=env, check=True,
                         capture_output=True, text=True).stdout
    return out.split()[-1]


def stored_count(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as c:
        n = c.execute(select(func.count()).select_from(Position)).scalar() or 0
    engine.dispose()
    return int(n)


def latencies(url: str, since: datetime | None = None) -> tuple[float, float]:
    """p50 and p99 of ``stored_at - received_at`` (ms) of the rows received since ``since``."""
    engine = create_engine(url)
    query = select(Position.received_at, Position.stored_at)
    if since is not None:
        query = query.where(Position.received_at >= since)
    with engine.connect() as c:
        rows = c.execute(query).all()
    engine.dispose()
    ms = sorted((s - r).total_seconds() * 1000 for r, s in rows)
    if not ms:
        return 0.0, 0.0
    return statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))]


def drive(senders: int, seconds: float, send: Callable[[], int]) -> int:
    """Run ``send`` from ``senders`` threads for ``seconds``; returns positions sent."""
    total = [0]
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def loop() -> None:
        while time.monotonic() < end:
            n = send()
            with lock:
                total[0] += n

    threads = [threading.Thread(target=loop) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return total[0]


def wait_stored(url: str, expected: int, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while stored_count(url) < expected:
        if time.monotonic() > end:
            raise RuntimeError(f"only {stored_count(url)} of {expected} stored")
        time.sleep(0.2)


class Probe:
    """Ingest-to-stored latency as a client sees it: every ``every`` seconds a probe sends one
    position of its own (through the same door as the load) and looks in the database every
    ``poll`` seconds (5 ms) until the position is there, committed. Counts the HTTP or MQTT
    hop, the bus, the processor's whole transaction and its commit; ``threads`` probes run
    side by side."""

    def __init__(self, url: str, send: Callable[[str, datetime], str], every: float = 0.02,
                 threads: int = 3, poll: float = 0.005) -> None:
        self.url, self.send, self.every, self.threads = url, send, every, threads
        self.poll = poll
        self.ms: list[float] = []
        self._stop = threading.Event()
        self._workers = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _connect(self) -> Any:
        """A plain DB-API connection that sees each commit at once (few cycles a look)."""
        if self.url.startswith("sqlite"):
            import sqlite3

            return sqlite3.connect(self.url.split("///", 1)[1], isolation_level=None)
        import psycopg

        return psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"),
                               autocommit=True)

    def _run(self, n: int) -> None:
        db = self._connect()
        query = "SELECT 1 FROM positions WHERE device_id = " + (
            "?" if self.url.startswith("sqlite") else "%s")
        try:
            i = 0
            while not self._stop.is_set():
                device = f"probe-{n}-{i}"
                i += 1
                fix = datetime.now(UTC).replace(microsecond=0)
                start = time.monotonic()
                stored_as = self.send(device, fix)
                while db.execute(query, (stored_as,)).fetchone() is None:
                    if time.monotonic() - start > 60:
                        raise RuntimeError(f"probe {device} never stored")
                    time.sleep(self.poll)
                self.ms.append((time.monotonic() - start) * 1000)
                self._stop.wait(self.every)
        finally:
            db.close()

    def __enter__(self) -> Probe:
        for w in self._workers:
            w.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for w in self._workers:
            w.join()

    def percentiles(self) -> tuple[float, float, int]:
        ms = sorted(self.ms)
        if not ms:
            return 0.0, 0.0, 0
        return statistics.median(ms), ms[min(len(ms) - 1, int(len(ms) * 0.99))], len(ms)


def bodies(gen: Positions, positions: int) -> list[bytes]:
    """Request bodies of 1,000 positions each, prepared before the clock starts."""
    return [json.dumps({"positions": gen.take(1000)}).encode()
            for _ in range(max(1, positions // 1000))]


def send_batches(base: str, key: str, ready: list[bytes], seconds: float,
                 rate: float | None) -> tuple[int, float, float]:
    """Send prepared request bodies for ``seconds``: as fast as 4 senders go, or paced at
    ``rate`` positions/s (each request sent when it is due, by as many senders as that
    needs). Returns positions sent, seconds spent sending, and how far behind schedule the
    senders fell at worst (s)."""
    clients = threading.local()
    lock = threading.Lock()
    taken = [0]
    late = [0.0]
    start = time.monotonic() + 0.2
    end = start + seconds

    def send() -> int:
        if not hasattr(clients, "c"):
            clients.c = httpx.Client(base_url=base, timeout=60, headers={
                "X-API-Key": key, "Content-Type": "application/json"})
        with lock:
            i = taken[0]
            taken[0] += 1
        if i >= len(ready):
            time.sleep(0.01)
            return 0
        if rate:
            due = start + i * 1000 / rate
            wait = due - time.monotonic()
            if due >= end:
                time.sleep(max(0.0, end - time.monotonic()))
                return 0
            if wait > 0:
                time.sleep(wait)
            else:
                with lock:
                    late[0] = max(late[0], -wait)
        r = clients.c.post("/api/v1/telemetry/positions", content=ready[i])
        r.raise_for_status()
        return int(r.json()["accepted"])

    time.sleep(max(0.0, start - time.monotonic()))
    sent = drive(16 if rate else 4, end - time.monotonic(), send)
    return sent, time.monotonic() - start, late[0]


def bench_batch(kind: str, seconds: float, gen: Positions, processors: int = 0,
                rate: float | None = None, workers: int = 1, warmup: float = WARMUP_SECONDS
                ) -> dict[str, float]:
    """The batch endpoint, after ``warmup`` seconds at the same rate (or at 20,000/s for an
    unpaced run) that are not measured: as fast as 4 senders go, or paced at ``rate``."""
    ready = bodies(gen, int((rate or MAX_RATE) * seconds))
    warm = bodies(gen, int((rate or 20_000) * warmup)) if warmup else []
    with database(kind) as url, server(url, processors=processors, workers=workers) as base:
        key = api_key(url)
        before = 0
        warm_p99 = 0.0
        if warm:
            before, _, _ = send_batches(base, key, warm, warmup, rate or 20_000)
            wait_stored(url, before)
            warm_p99 = latencies(url)[1]
        probe_client = httpx.Client(base_url=base, timeout=60, headers={"X-API-Key": key})

        def send_probe(device: str, fix: datetime) -> str:
            probe_client.post("/api/v1/telemetry/positions", json={"positions": [{
                "device_id": device, "time": fix.isoformat(), "lat": 21.5,
                "lon": 106.5}]}).raise_for_status()
            return device

        since = datetime.now(UTC)
        start = time.monotonic()
        with Probe(url, send_probe) as probe:
            sent, sending, late = send_batches(base, key, ready, seconds, rate)
        wait_stored(url, before + sent + len(probe.ms))
        elapsed = time.monotonic() - start
        p50, p99 = latencies(url, since)
        probe_client.close()
    seen = probe.percentiles()
    return {"positions": sent, "seconds": elapsed, "per_second": sent / elapsed,
            "offered_per_second": sent / sending, "p50_ms": p50, "p99_ms": p99,
            "senders_behind_ms": late * 1000, "warmup_p99_ms": warm_p99,
            "probe_p50_ms": seen[0], "probe_p99_ms": seen[1], "probes": seen[2]}


def _mqtt_packet(kind: int, body: bytes) -> bytes:
    """An MQTT 3.1.1 control packet: type and flags, remaining length, body."""
    size, length = len(body), bytearray()
    while True:
        digit, size = size % 128, size // 128
        length.append(digit | (0x80 if size else 0))
        if not size:
            return bytes([kind]) + bytes(length) + body


def _mqtt_string(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


async def _mqtt_publish(port: int, packets: list[bytes], seconds: float, window: int = 2000,
                        rate: float | None = None) -> int:
    """Publish pre-encoded QoS 1 packets to the local broker as phones do, with up to
    ``window`` awaiting the broker's PUBACK, until ``seconds`` have passed (paced at ``rate``
    messages/s if given); returns how many the broker acknowledged (all that were sent). A
    raw-socket client: paho needs more CPU per message than the platform."""
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_mqtt_packet(0x10, _mqtt_string("MQTT") + bytes([4, 0x02, 0, 0])
                              + _mqtt_string(f"bench-{os.getpid()}")))
    if (await reader.readexactly(4))[3] != 0:
        raise RuntimeError("the broker refused the connection")
    acked = [0]
    more = asyncio.Event()

    async def acks() -> None:  # PUBACKs are 4 bytes each: counted in bulk
        pending = 0
        while True:
            data = await reader.read(65536)
            if not data:
                return
            pending += len(data)
            acked[0] += pending // 4
            pending %= 4
            more.set()

    listener = asyncio.create_task(acks())
    start = time.monotonic()
    end = start + seconds
    sent = 0
    chunk = 200
    for at in range(0, len(packets), chunk):
        if rate:
            await asyncio.sleep(max(0.0, start + sent / rate - time.monotonic()))
        if time.monotonic() >= end:
            break
        while sent + chunk - acked[0] > window:
            more.clear()
            await more.wait()
        group = packets[at:at + chunk]
        writer.write(b"".join(group))
        sent += len(group)
        await writer.drain()
    while acked[0] < sent:
        more.clear()
        await more.wait()
    listener.cancel()
    writer.write(bytes([0xE0, 0]))  # DISCONNECT
    await writer.drain()
    writer.close()
    return sent


@contextmanager
def broker() -> Iterator[int]:
    """A Mosquitto of its own on a free port, configured as docs/telemetry.md says for
    production: it keeps (rather than drops) what a subscriber has not taken yet. The
    machine's broker keeps 1,000 messages per subscriber, Mosquitto's default."""
    port = free_port()
    folder = tempfile.mkdtemp(prefix="bf-mqtt-")
    conf = Path(folder) / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                    "max_queued_messages 10000000\npersistence false\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def mqtt_prober(port: int) -> Callable[[str, datetime], str]:
    """A probe's way in through the broker: one QoS 1 OwnTracks message, sent once the last
    was acknowledged (a connection per probe thread)."""
    local = threading.local()

    def read(sock: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise RuntimeError("the broker closed the probe's connection")
            data += chunk
        return data

    def send(device: str, fix: datetime) -> str:
        if not hasattr(local, "sock"):
            local.sock = socket.create_connection(("127.0.0.1", port))
            local.sock.sendall(_mqtt_packet(0x10, _mqtt_string("MQTT") + bytes([4, 2, 0, 60])
                                            + _mqtt_string(f"probe-{threading.get_ident()}")))
            read(local.sock, 4)
            local.mid = 0
        local.mid = local.mid % 65535 + 1
        payload = json.dumps({"_type": "location", "lat": 21.5, "lon": 106.5,
                              "tst": int(fix.timestamp()), "tid": "pr"}).encode()
        local.sock.sendall(_mqtt_packet(0x32, _mqtt_string(f"owntracks/probe/{device}")
                                        + local.mid.to_bytes(2, "big") + payload))
        read(local.sock, 4)  # PUBACK
        return f"probe/{device}"

    return send


def bench_mqtt(seconds: float, gen: Positions, processors: int = 1, workers: int = 1,
               rate: float | None = None, warmup: float = WARMUP_SECONDS) -> dict[str, float]:
    """OwnTracks at QoS 1, as the app sends: a publisher as fast as the broker acknowledges
    (up to 2,000 messages in flight) or paced at ``rate`` messages/s, after ``warmup`` seconds
    at 20,000/s that are not measured; Mosquitto, the ``borderflow telemetry mqtt`` ingest
    processes (``workers``), NATS JetStream, ``processors`` processors. Every message the
    broker acknowledged must be stored."""
    import asyncio

    def packets(n: int) -> list[bytes]:
        out = []
        for i, p in enumerate(gen.take(n)):
            payload = json.dumps({
                "_type": "location", "lat": p["lat"], "lon": p["lon"],
                "tst": int(datetime.fromisoformat(p["time"]).timestamp()), "vel": 29,
                "tid": "tr"}).encode()
            out.append(_mqtt_packet(0x32, _mqtt_string(f"owntracks/bench/{p['device_id']}")
                                    + (i % 65535 + 1).to_bytes(2, "big") + payload))
        return out

    warm = packets(int(20_000 * warmup)) if warmup else []
    ready = packets(int((rate or MAX_MQTT_RATE) * seconds))
    with database("postgresql") as url, broker() as port, server(
            url, mqtt=f"mqtt://127.0.0.1:{port}", processors=processors, mqtt_workers=workers):
        before = asyncio.run(_mqtt_publish(port, warm, warmup, rate=20_000)) if warm else 0
        wait_stored(url, before)
        since = datetime.now(UTC)
        start = time.monotonic()
        with Probe(url, mqtt_prober(port)) as probe:
            sent = asyncio.run(_mqtt_publish(port, ready, seconds, rate=rate))
        sending = time.monotonic() - start
        wait_stored(url, before + sent + len(probe.ms))
        elapsed = time.monotonic() - start
        got = stored_count(url) - before - len(probe.ms)
        p50, p99 = latencies(url, since)
    seen = probe.percentiles()
    return {"positions": got, "sent": sent, "seconds": elapsed, "per_second": got / elapsed,
            "offered_per_second": sent / sending, "p50_ms": p50, "p99_ms": p99,
            "probe_p50_ms": seen[0], "probe_p99_ms": seen[1], "probes": seen[2]}


def bench_osmand(seconds: float, gen: Positions, connections: int = 64,
                 workers: int = 1) -> dict[str, float]:
    """One position per request, as Traccar Client sends it: ``connections`` keep-alive
    connections, each sending its next request when the answer to the last one arrives (an
    asyncio client on raw sockets: httpx would need more CPU than the server)."""
    import asyncio
    from urllib.parse import urlencode, urlsplit

    requests = []
    for p in gen.take(int(MAX_OSMAND_RATE * seconds)):
        query = urlencode({"id": p["device_id"], "lat": p["lat"], "lon": p["lon"],
                           "timestamp": int(datetime.fromisoformat(p["time"]).timestamp()),
                           "speed": "15"})
        requests.append(f"GET /api/v1/telemetry/osmand?{query} HTTP/1.1\r\n"
                        f"Host: 127.0.0.1\r\nUser-Agent: bench\r\n\r\n".encode())
    with database("postgresql") as url, server(url, workers=workers) as base:
        where = urlsplit(base)
        done = [0]
        failed = [0]
        nxt = iter(requests)

        async def connection(end: float) -> None:
            reader, writer = await asyncio.open_connection(where.hostname, where.port)
            while time.monotonic() < end:
                request = next(nxt, None)
                if request is None:
                    break
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if not head.startswith(b"HTTP/1.1 200"):
                    failed[0] += 1
                done[0] += 1
            writer.close()

        async def run() -> float:
            start = time.monotonic()
            await asyncio.gather(*(connection(start + seconds) for _ in range(connections)))
            return time.monotonic() - start

        elapsed = asyncio.run(run())
        if failed[0]:
            raise RuntimeError(f"{failed[0]} OsmAnd requests failed")
        wait_stored(url, done[0])
    return {"requests": done[0], "per_second": done[0] / elapsed}


def bench_plain(rows: int, gen: Positions) -> dict[str, float]:
    """The baseline: the same rows straight into the same table, no HTTP, no decoding, no
    geofencing."""
    from sqlalchemy.dialects.postgresql import insert

    with database("postgresql") as url:
        subprocess.run([sys.executable, "-m", "borderflow.cli.main", "db", "upgrade"],
                       env={**os.environ, "BORDERFLOW_DATABASE_URL": url}, check=True,
                       capture_output=True)
        engine = create_engine(url)
        now = datetime.now(UTC)
        batches = []
        for _ in range(rows // 2000):
            batches.append([{"device_id": p["device_id"],
                             "fix_time": datetime.fromisoformat(p["time"]), "trip_id": None,
                             "lat": p["lat"], "lon": p["lon"], "speed_mps": 8.0,
                             "bearing": None, "altitude": None, "accuracy": None,
                             "battery": None, "protocol": "batch", "attributes": {},
                             "received_at": now, "stored_at": now} for p in gen.take(2000)])
        stmt = insert(Position).on_conflict_do_nothing(index_elements=["device_id", "fix_time"])
        start = time.monotonic()
        for b in batches:
            with engine.begin() as c:
                c.execute(stmt, b)
        elapsed = time.monotonic() - start
        engine.dispose()
    n = len(batches) * 2000
    return {"positions": n, "seconds": elapsed, "per_second": n / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--nats-batch", type=int, default=8,
                        help="BORDERFLOW_NATS_BATCH of the processors")
    parser.add_argument("--processors", type=int, default=2,
                        help="processor processes of the production deployment")
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn worker processes of the production deployment's API")
    parser.add_argument("--mqtt-workers", type=int, default=2,
                        help="MQTT ingest processes (one shared subscription)")
    parser.add_argument("--osmand-workers", type=int, default=1,
                        help="uvicorn worker processes for the single-position OsmAnd load")
    parser.add_argument("--rate", type=float, default=20_000,
                        help="positions/s of the paced run (latency at the target rate)")
    args = parser.parse_args()
    NATS_BATCH[0] = args.nats_batch
    gen = Positions()
    load = os.getloadavg()[0]
    print(f"GPS ingestion, {DEVICES:,} trucks, {args.seconds:.0f} s of load per scenario, "
          f"{os.cpu_count()} cores, load average {load:.2f} at the start\n")
    topology = (f"API ({args.workers} worker(s)) -> NATS -> {args.processors} processor(s), "
                f"{args.nats_batch} message(s) per transaction")
    pg = bench_batch("postgresql", args.seconds, gen, processors=args.processors,
                     workers=args.workers)
    print(f"batch endpoint -> {topology} -> PostgreSQL, as fast as it goes: "
          f"{pg['per_second']:,.0f} positions/s ({pg['positions']:,} in {pg['seconds']:.1f} s, "
          f"offered {pg['offered_per_second']:,.0f}/s), p50 {pg['p50_ms']:.0f} ms, "
          f"p99 {pg['p99_ms']:.0f} ms")
    paced = bench_batch("postgresql", args.seconds, gen, processors=args.processors,
                        workers=args.workers, rate=args.rate)
    print(f"the same, paced at {args.rate:,.0f}/s: {paced['per_second']:,.0f} positions/s "
          f"stored ({paced['positions']:,} in {paced['seconds']:.1f} s, offered "
          f"{paced['offered_per_second']:,.0f}/s, senders up to "
          f"{paced['senders_behind_ms']:.0f} ms behind), p50 {paced['p50_ms']:.0f} ms, "
          f"p99 {paced['p99_ms']:.0f} ms (the {WARMUP_SECONDS:.0f} s of warm-up before it: "
          f"p99 {paced['warmup_p99_ms']:.0f} ms); {paced['probes']} probes from sending to "
          f"committed: p50 {paced['probe_p50_ms']:.0f} ms, p99 {paced['probe_p99_ms']:.0f} ms")
    one = bench_batch("postgresql", args.seconds, gen)
    print(f"batch endpoint -> one process, in-process bus -> PostgreSQL: "
          f"{one['per_second']:,.0f} positions/s ({one['positions']:,} in "
          f"{one['seconds']:.1f} s), p50 {one['p50_ms']:.0f} ms, p99 {one['p99_ms']:.0f} ms")
    lite = bench_batch("sqlite", args.seconds, gen)
    print(f"batch endpoint -> one process, in-process bus -> SQLite: "
          f"{lite['per_second']:,.0f} positions/s ({lite['positions']:,} in "
          f"{lite['seconds']:.1f} s), p50 {lite['p50_ms']:.0f} ms, p99 {lite['p99_ms']:.0f} ms")
    mq = bench_mqtt(args.seconds, gen, processors=args.processors, workers=args.mqtt_workers)
    print(f"MQTT (OwnTracks, QoS 1) -> {args.mqtt_workers} mqtt ingest process(es) -> NATS -> "
          f"{args.processors} "
          f"processor(s) -> PostgreSQL: {mq['per_second']:,.0f} positions/s "
          f"({mq['positions']:,} stored of {mq['sent']:,} sent, offered "
          f"{mq['offered_per_second']:,.0f}/s), p50 {mq['p50_ms']:.0f} ms, "
          f"p99 {mq['p99_ms']:.0f} ms")
    mq_paced = bench_mqtt(args.seconds, gen, processors=args.processors,
                          workers=args.mqtt_workers, rate=args.rate)
    print(f"the same, paced at {args.rate:,.0f}/s: {mq_paced['per_second']:,.0f} positions/s "
          f"stored ({mq_paced['positions']:,}), p50 {mq_paced['p50_ms']:.0f} ms, "
          f"p99 {mq_paced['p99_ms']:.0f} ms; {mq_paced['probes']} probes from publishing to "
          f"committed: p50 {mq_paced['probe_p50_ms']:.0f} ms, "
          f"p99 {mq_paced['probe_p99_ms']:.0f} ms")
    osm = bench_osmand(args.seconds, gen, workers=args.osmand_workers)
    print(f"single OsmAnd requests ({args.osmand_workers} server process(es)): "
          f"{osm['per_second']:,.0f} requests/s ({osm['requests']:,})")
    plain = bench_plain(max(20_000, int(pg["positions"])), gen)
    ratio = pg["per_second"] / plain["per_second"]
    print(f"baseline plain insert -> PostgreSQL: {plain['per_second']:,.0f} rows/s; "
          f"pipeline / plain = {ratio:.3f} (one process: "
          f"{one['per_second'] / plain['per_second']:.3f})")
    print(json.dumps({"positions_per_second_pg": round(pg["per_second"]),
                      "positions_per_second_mqtt": round(mq["per_second"]),
                      "positions_per_second_sqlite": round(lite["per_second"]),
                      "osmand_requests_per_second": round(osm["per_second"]),
                      "p99_ms_pg": round(paced["probe_p99_ms"], 1),
                      "plain_insert_ratio": round(ratio, 3),
                      "p50_ms_pg": round(paced["probe_p50_ms"], 1),
                      "paced_rate_pg": args.rate,
                      "p99_ms_pg_rows": round(paced["p99_ms"], 1),
                      "p50_ms_pg_rows": round(paced["p50_ms"], 1),
                      "p99_ms_pg_warmup_rows": round(paced["warmup_p99_ms"], 1),
                      "p99_ms_pg_unpaced_rows": round(pg["p99_ms"], 1),
                      "p99_ms_mqtt": round(mq_paced["probe_p99_ms"], 1),
                      "p50_ms_mqtt": round(mq_paced["probe_p50_ms"], 1),
                      "p99_ms_mqtt_rows": round(mq_paced["p99_ms"], 1),
                      "positions_per_second_mqtt_paced": round(mq_paced["per_second"]),
                      "positions_per_second_pg_one_process": round(one["per_second"]),
                      "plain_insert_rows_per_second": round(plain["per_second"]),
                      "load_average_at_start": round(load, 2)}))


if __name__ == "__main__":
    main()
