"""Benchmark of GPS ingestion: positions per second into the database, with the trip events
they cause.

Run from the repository root::

    .venv/bin/python bench/ingest.py             # 15 s per scenario
    .venv/bin/python bench/ingest.py --seconds 5 # quicker

**The fleet.** ``--devices`` (10,000) trucks, each with a phone bound to its vehicle (which
gives it a token); the first ``--trips`` (2,000) on active trips of the seed network (Lang
Son): export declarations to Huu Nghi (50 vehicles each) submitted by an enterprise, every
trip entered into the Viettel logistics park, every second one called forward and out of the
park again. All of it goes through the platform's own services (events, projections, audit,
invoices, statistics), once per database kind, into a template that each scenario copies.
Every position, probe included, is sent under a live token. Each truck drives back and forth
across one fence, the staging park (trips not yet called) or the gate area of Huu Nghi
(called trips), crossing it once every ``--fixes-per-crossing`` (100) of its fixes; for a
truck on a trip each crossing is an ``area.entered`` or ``area.left`` event with all its
writes (the trip's projection, the audit row, the outbox, the invoice kept in step, the
statistics row).

Each scenario starts the platform as it is deployed (``borderflow serve`` under uvicorn, and
``borderflow telemetry process`` / ``borderflow telemetry mqtt`` processes where the
deployment has them) on a fresh copy of the template and drives it from a load generator on
127.0.0.1. Request bodies are prepared before the clock starts, so the generator spends its
share of the two cores sending, not building JSON; before each scenario the machine settles (a
PostgreSQL ``CHECKPOINT``, the operating system's dirty pages flushed) so that no scenario
pays for the previous one's writes:

1. the production deployment: the batch endpoint (``POST /api/v1/telemetry/positions``,
   1,000 positions per request) publishing to NATS JetStream, ``--processors`` processor
   processes writing to PostgreSQL with geofencing and trip events. Once as fast as 4 senders
   go (the sustained rate: positions stored over the time from the first send to the last
   row stored), once paced at ``--rate`` positions/s (the latency at the target rate); an
   unpaced run is preceded by a warm-up at 20,000/s;
2. the same endpoint in one process with the in-process bus, into PostgreSQL and SQLite;
3. OwnTracks messages through Mosquitto (MQTT, QoS 1) into PostgreSQL: the publisher, the
   ``--mqtt-workers`` ``borderflow telemetry mqtt`` ingest processes on one shared
   subscription, NATS JetStream, the processor(s); the bench runs a Mosquitto of its own
   configured as for production (it keeps what a subscriber has not taken yet); as fast as
   the broker acknowledges (2,000 in flight), then paced at ``--rate`` messages/s;
4. single-position OsmAnd requests as phones send them (``GET /api/v1/telemetry/osmand``, one
   position per request, ``--osmand-connections`` (64) keep-alive connections) into the
   production deployment (API, NATS JetStream, the processors, PostgreSQL): requests answered
   per second, and positions *stored* per second (from the first request to the last row
   stored). Any answer but 200 is counted as an error.

Latency at the target rate is measured twice, after ``WARMUP_SECONDS`` of the same load that
are not counted (start-up opens connections, fills caches): probes (:class:`Probe`) send one
position of their own every 20 ms through the same door as the load and look every 5 ms until
it is committed, from the sender's side (``p50_ms_pg``, ``p99_ms_pg``, ``p99_ms_mqtt``: a few
hundred samples); and every row's ``stored_at - received_at`` (``*_rows``: from the moment
ingestion took the request to the moment the processor began the transaction that stored it,
every position, but without the transaction's own time). The baselines, measured in the same
run, write the same rows (device, trip, position) into the same PostgreSQL table with the
same parallelism as the production deployment (``--processors`` processes, one connection
each), no HTTP, no decoding, no geofencing, no trip events: a plain ``INSERT ... ON CONFLICT
DO NOTHING`` (2,000 rows per transaction) and a ``COPY`` (4,000 rows per transaction, what a
processor writes at most in the sustained run). ``plain_insert_ratio`` and ``copy_ratio`` are
the production deployment's sustained rate over each. The last line is one JSON object with
the figures.

``BENCH_PG_URL`` names the PostgreSQL server (any database on it; the bench creates databases
of its own, ``bench_ingest_*``, and drops them), ``BENCH_NATS_URL`` the NATS server.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, make_url, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from borderflow.store.models import Position, TripEvent  # noqa: E402

PG_BASE = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
NATS_URL = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")
DEVICES = [10_000]
"""Trucks of the fleet, each with a bound phone (``--devices``)."""
TRIPS = [2_000]
"""Trucks on active trips, the first of the fleet (``--trips``); the others' phones are
bound to their vehicles, which have no trip at the border now."""
FIXES_PER_CROSSING = [100]
"""A truck's fixes between two crossings of its fence (``--fixes-per-crossing``)."""
MAX_RATE = [60_000]
"""Positions prepared per second of an unpaced run (more than the platform takes;
``--max-rate``)."""
MAX_OSMAND_RATE = 15_000
NATS_BATCH = [1000]
"""Messages a processor writes in one transaction, at most (``--nats-batch``; each request's
positions are one message per partition)."""
NATS_BATCH_POSITIONS = [4000]
"""Positions a processor writes in one transaction, at most (``--nats-batch-positions``)."""
MAX_MQTT_RATE = 30_000
WARMUP_SECONDS = [2.0]
"""Load sent before the measured run and not counted: the first requests after start-up open
connections and fill caches (their latency is printed apart)."""
PROBES = 3
"""Probe threads (each its own bound device)."""
PER_DECLARATION = 50
"""Vehicles per declaration (the most one may hold)."""
TAX_CODE = "0100109106"

# The fences the tracks cross (polygons of src/borderflow/data/network/lang-son.yaml): the west
# edge of the Viettel logistics park (lon 106.69671; the park spans lat 21.90703-21.91697) and
# the north edge of the Huu Nghi gate area (lat 21.97315, lon 106.70612-106.71288; its yards
# lie south of lat 21.96819). Each track runs from about 180 m inside to 180-200 m outside.
PARK_TRACK = ((21.9085, 21.9155), 106.6985, 106.6950)
"""Latitudes the park's tracks run along, then the longitude inside and outside."""
GATE_TRACK = ((106.7075, 106.7120), 21.9715, 21.9750)
"""Longitudes the gate area's tracks run along, then the latitude inside and outside."""
PARK_EDGE = 106.69671
GATE_EDGE = 21.97315
MARGIN_M = 30.0
"""``BORDERFLOW_GEOFENCE_MARGIN_M``: a truck leaves a fence this far outside it."""
PARK = "staging:viettel-logistics-park"
GATE = "gate_area:huu-nghi"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def plate(i: int) -> str:
    """The vehicle plate of truck ``i`` (distinct for up to 90,000 trucks)."""
    return f"29C-{100 + i // 100:03d}.{i % 100:02d}"


def fence_of(i: int) -> str:
    """The fence truck ``i`` crosses: every second truck's trip is called forward."""
    return GATE if i % 2 else PARK


@dataclass
class Fleet:
    """The trucks as the load generator knows them: each one's token (what its phone sends
    as its id), device id and trip; and the probes' tokens and device ids."""

    tokens: list[str]
    devices: list[str]
    trips: list[str | None]
    probe_tokens: list[str]
    probe_devices: list[str]
    api_key: str
    created_at: datetime
    """When the last trip was declared: fixes are later (an event is never older than its
    trip)."""


@dataclass
class Track:
    """Where truck ``i`` is at its ``k``-th fix: back and forth along a segment from inside
    its fence to outside, so that it crosses the fence once every ``half`` fixes. A fix at
    fraction ``f`` of the segment (0 inside, 1 outside) enters the fence below ``enter``
    (its edge) and leaves it above ``leave`` (the edge and the geofence's margin)."""

    start: tuple[float, float]
    end: tuple[float, float]
    offset: int
    half: int
    enter: float
    leave: float

    def fraction(self, k: int) -> float:
        u = (k + self.offset) % (2 * self.half) / self.half
        return u if u <= 1 else 2 - u

    def at(self, k: int) -> tuple[float, float]:
        f = self.fraction(k)
        return (round(self.start[0] + (self.end[0] - self.start[0]) * f, 6),
                round(self.start[1] + (self.end[1] - self.start[1]) * f, 6))


def tracks(devices: int, half: int, seed: int = 20261123) -> list[Track]:
    """Each truck's track, starting where its trip is: in the park (trips not called yet),
    or outside the gate area (called trips, out of the park); so every crossing is an
    entry or an exit the trip can make. Starting points are spread over the first ``half``
    fixes, so crossings are spread evenly over time."""
    rnd = random.Random(seed)
    out = []
    metres_lon = 111_320 * math.cos(math.radians(21.94))  # a degree of longitude here
    for i in range(devices):
        if fence_of(i) == PARK:
            lat = rnd.uniform(*PARK_TRACK[0])
            (_, inside, outside), edge = PARK_TRACK, PARK_EDGE
            start, end = (lat, inside), (lat, outside)
            offset = (rnd.randrange(half) - half // 2) % (2 * half)  # inside first
            length = abs(outside - inside) * metres_lon
        else:
            lon = rnd.uniform(*GATE_TRACK[0])
            (_, inside, outside), edge = GATE_TRACK, GATE_EDGE
            start, end = (inside, lon), (outside, lon)
            offset = half // 2 + rnd.randrange(half)  # outside first
            length = abs(outside - inside) * 111_320
        enter = (edge - inside) / (outside - inside)
        out.append(Track(start, end, offset, half, enter, enter + MARGIN_M / length))
    return out


@dataclass
class Fix:
    truck: int
    lat: float
    lon: float
    time: datetime
    speed_mps: float


class Positions:
    """Fresh positions: each call moves trucks one fix further along their tracks, one
    second of fix time later (the first fix a second after ``start``). Counts the crossings
    of fences, as the processor sees them (the fence's edge to enter, its margin too to
    leave), sent by trucks on trips: each should become a trip event."""

    def __init__(self, fleet: Fleet, start: datetime, half: int | None = None) -> None:
        self.fleet = fleet
        self.half = half or FIXES_PER_CROSSING[0]
        self.tracks = tracks(len(fleet.tokens), self.half)
        self.inside = [fence_of(i) == PARK for i in range(len(self.tracks))]
        """Whether each truck is in its fence, as the processor sees it."""
        self.t0 = start
        self.tick = 0
        self.crossings = 0
        self.lock = threading.Lock()
        t = self.tracks[0] if self.tracks else None
        self.speed = 0.0 if t is None else 111_000 * max(
            abs(t.end[0] - t.start[0]), abs(t.end[1] - t.start[1]) * 0.93) / self.half

    def take(self, n: int) -> list[Fix]:
        out = []
        devices = len(self.tracks)
        trips = self.fleet.trips
        inside = self.inside
        with self.lock:
            for _ in range(n):
                i = self.tick % devices
                step = self.tick // devices
                self.tick += 1
                track = self.tracks[i]
                f = track.fraction(step)
                if (inside[i] and f > track.leave) or (not inside[i] and f < track.enter):
                    inside[i] = not inside[i]
                    if trips[i]:
                        self.crossings += 1
                lat, lon = track.at(step)
                out.append(Fix(i, lat, lon, self.t0 + timedelta(seconds=step + 1),
                               self.speed))
        if out and out[-1].time > datetime.now(UTC) + timedelta(minutes=9):
            raise RuntimeError("fixes more than 9 minutes ahead of the clock, which ingestion "
                               "refuses: more --devices or a lower --max-rate")
        return out

    def batch(self, n: int) -> list[dict[str, Any]]:
        """Positions as a fleet system sends them to the batch endpoint, under the tokens."""
        tokens = self.fleet.tokens
        return [{"device_id": tokens[f.truck], "lat": f.lat, "lon": f.lon,
                 "time": f.time.isoformat(), "speed_mps": round(f.speed_mps, 2)}
                for f in self.take(n)]


def later_start(fleet: Fleet) -> datetime:
    """Where a scenario's fix times start: after the trips were declared, and not so far
    back that a fix is older than the trip's last event."""
    return max(fleet.created_at + timedelta(seconds=1),
               datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60))


# --- the fleet's template database ---------------------------------------------------------


def _pg_url(database: str) -> str:
    return make_url(PG_BASE).set(database=database).render_as_string(hide_password=False)


def _cli(url: str, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "borderflow.cli.main", *args],
                          env={**os.environ, "BORDERFLOW_DATABASE_URL": url,
                               "BORDERFLOW_LOG_LEVEL": "WARNING"},
                          check=True, capture_output=True, text=True, **kw)


def _declaration(first: int, last: int, day: date) -> dict[str, Any]:
    return {"direction": "export",
            "enterprise": {"tax_code": TAX_CODE, "name": "Cong ty TNHH Van tai Demo"},
            "requested_gate": "huu-nghi", "requested_date": day.isoformat(),
            "goods": [{"hs_code": "8471.30", "description": "Laptop computers",
                       "quantity": "400", "unit": "carton",
                       "net_weight_kg": 180_000, "value_usd": "180000.00"}],
            "vehicles": [{"plate": plate(i), "trailer_plate": None,
                          "vehicle_type": "container_truck", "payload_tonnes": "18",
                          "container": "40ft",
                          "driver": {"name": "Nguyen Van Tai", "document_type": "vn_citizen_id",
                                     "document_number": f"001{i:09d}",
                                     "phone": "0912345678"}}
                         for i in range(first, last)]}


def _declare_and_bind(url: str, trucks: Sequence[int], on_trips: int
                      ) -> list[tuple[int, str, str | None]]:
    """Declare the trips of the trucks below ``on_trips`` (50 to a declaration, consecutive
    trucks), enter them into the park, call every second one forward and out of the park;
    bind every truck's phone to its plate. Through the platform's services, one transaction
    per declaration (or per 50 trucks without a trip). Returns (truck, token, trip)."""
    from borderflow import handlers
    from borderflow.declaration import service as declarations
    from borderflow.declaration.schemas import DeclarationIn
    from borderflow.domain.access import Principal, Role
    from borderflow.domain.values import parse_plate
    from borderflow.errors import AppError
    from borderflow.network import service as networks
    from borderflow.network.holidays import around
    from borderflow.store.models import Account, Trip
    from borderflow.store.session import make_engine, make_session_factory
    from borderflow.telemetry import service as telemetry
    from borderflow.trip import service as trips

    handlers.install()
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    regulator = Principal(id=None, username="regulator", kind="user",
                          roles=frozenset({Role.REGULATOR}))
    out: list[tuple[int, str, str | None]] = []
    with sessions() as session:
        account = session.scalar(select(Account).where(Account.username == "fleet"))
        assert account is not None
        fleet = Principal(id=account.id, username="fleet", kind="client",
                          roles=frozenset({Role.ENTERPRISE}), enterprise_tax_code=TAX_CODE)
    groups: dict[tuple[bool, int], list[int]] = {}
    for i in trucks:
        groups.setdefault((i < on_trips, i // PER_DECLARATION), []).append(i)
    day: date | None = None
    for (on_trip, _), mine in sorted(groups.items(), key=lambda g: g[1][0]):
        with sessions() as session:
            now = datetime.now(UTC)
            network = networks.in_force(session, now)
            by_plate: dict[str, Any] = {}
            for offset in ([0] if day else range(1, 15)) if on_trip else []:
                when = day or now.date() + timedelta(days=offset)
                try:  # the first day Huu Nghi takes the declaration
                    with session.begin_nested():
                        row = declarations.create(
                            session, DeclarationIn.model_validate(
                                _declaration(mine[0], mine[-1] + 1, when)),
                            actor=fleet, now=now, network=network, holidays=around(when))
                    day = when
                    break
                except AppError:
                    if day:
                        raise
            else:
                if on_trip:
                    raise RuntimeError("no day on which Huu Nghi takes the declaration")
            if on_trip:
                by_plate = {t.plate_key: t for t in session.scalars(
                    select(Trip).where(Trip.declaration_id == row.id))}
            for i in mine:
                now = datetime.now(UTC)
                trip = by_plate.get(parse_plate(plate(i)).key)
                if trip is not None:
                    trips.record(session, trip.id, "area.entered", {"area": PARK},
                                 actor=regulator, network=network, now=now,
                                 source="regulator")
                    if fence_of(i) == GATE:
                        trips.record(session, trip.id, "trip.called", {"gate": "huu-nghi"},
                                     actor=regulator, network=network, now=now,
                                     source="regulator")
                        trips.record(session, trip.id, "area.left", {"area": PARK},
                                     actor=regulator, network=network, now=now,
                                     source="regulator")
                _, token = telemetry.bind(session, f"truck-{i}", actor=regulator, now=now,
                                          plate=plate(i), label=f"truck {i}")
                out.append((i, token, trip.id if trip is not None else None))
            session.commit()
    engine.dispose()
    return out


def _bind_probes(url: str) -> list[str]:
    """The probes' devices, bound to vehicles without a trip (their positions are the
    devices' and move nothing)."""
    from borderflow.domain.access import Principal, Role
    from borderflow.store.session import make_engine, make_session_factory
    from borderflow.telemetry import service as telemetry

    regulator = Principal(id=None, username="regulator", kind="user",
                          roles=frozenset({Role.REGULATOR}))
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        tokens = [telemetry.bind(session, f"probe-{n}", actor=regulator,
                                 now=datetime.now(UTC), plate=f"30A-999.{n:02d}")[1]
                  for n in range(PROBES)]
        session.commit()
    engine.dispose()
    return tokens


def _part(url: str, trucks: list[int], on_trips: int, out: Any) -> None:
    out.send(_declare_and_bind(url, trucks, on_trips))
    out.close()


def build_fleet(url: str, devices: int, on_trips: int, parallel: int) -> Fleet:
    """The platform set up on ``url`` with the fleet: ``devices`` trucks, each with a bound
    phone, the first ``on_trips`` on active trips (``parallel`` processes on PostgreSQL)."""
    started = time.monotonic()
    _cli(url, "setup")
    _cli(url, "user", "add", "fleet", "--role", "enterprise", "--client", "--tax-code",
         TAX_CODE)
    key = _cli(url, "user", "api-key", "fleet").stdout.split()[-1]
    parts = [[i for i in range(devices) if i // PER_DECLARATION % parallel == p]
             for p in range(parallel)]
    done: list[tuple[int, str, str | None]] = []
    if parallel > 1:
        ctx = multiprocessing.get_context("fork")
        pipes, children = [], []
        for part in parts:
            receive, send = ctx.Pipe(duplex=False)
            child = ctx.Process(target=_part, args=(url, part, on_trips, send))
            child.start()
            send.close()
            pipes.append(receive)
            children.append(child)
        for receive in pipes:
            done.extend(receive.recv())
        for child in children:
            child.join()
            if child.exitcode:
                raise RuntimeError("declaring the fleet's trips failed")
    else:
        done = _declare_and_bind(url, parts[0], on_trips)
    done.sort()
    probes = _bind_probes(url)
    print(f"({devices:,} phones bound, {min(on_trips, devices):,} of them on trips declared "
          f"and staged, in {time.monotonic() - started:.0f} s)", flush=True)
    return Fleet(tokens=[t for _, t, _ in done], devices=[f"truck-{i}" for i, _, _ in done],
                 trips=[trip for _, _, trip in done], probe_tokens=probes,
                 probe_devices=[f"probe-{n}" for n in range(PROBES)], api_key=key,
                 created_at=datetime.now(UTC))


@dataclass
class Templates:
    """The fleet set up once per database kind; each scenario gets a copy of it."""

    fleet: dict[str, Fleet] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    """PostgreSQL: the template database's name; SQLite: the template file."""
    counter: int = 0

    def get(self, kind: str) -> Fleet:
        if kind not in self.fleet:
            if kind == "sqlite":
                folder = tempfile.mkdtemp(prefix="bf-bench-tpl-")
                path = f"{folder}/template.db"
                self.where[kind] = path
                self.fleet[kind] = build_fleet(f"sqlite:///{path}", DEVICES[0], TRIPS[0], 1)
            else:
                name = f"bench_ingest_{os.getpid()}_template"
                self.where[kind] = name
                _admin(f"CREATE DATABASE {name}")
                self.fleet[kind] = build_fleet(_pg_url(name), DEVICES[0], TRIPS[0], 2)
        return self.fleet[kind]

    @contextmanager
    def copy(self, kind: str) -> Iterator[tuple[str, Fleet]]:
        """A fresh copy of the template, on a machine settled from the scenario before."""
        fleet = self.get(kind)
        settle()
        self.counter += 1
        if kind == "sqlite":
            folder = tempfile.mkdtemp(prefix="bf-bench-")
            shutil.copy(self.where[kind], f"{folder}/bench.db")
            try:
                yield f"sqlite:///{folder}/bench.db", fleet
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            return
        name = f"bench_ingest_{os.getpid()}_{self.counter}"
        _admin(f"CREATE DATABASE {name} TEMPLATE {self.where[kind]}")
        try:
            yield _pg_url(name), fleet
        finally:
            _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def drop(self) -> None:
        for kind, where in self.where.items():
            if kind == "sqlite":
                shutil.rmtree(Path(where).parent, ignore_errors=True)
            else:
                _admin(f"DROP DATABASE IF EXISTS {where} WITH (FORCE)")


def _admin(statement: str) -> None:
    engine = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.execute(text(statement))
    finally:
        engine.dispose()


def settle() -> None:
    """Let the previous scenario's writes reach the disk before the next one starts: a
    PostgreSQL CHECKPOINT (if allowed) and the operating system's dirty pages flushed.
    Scenarios then do not pay for each other's I/O, whatever their order; a scenario's own
    checkpoints and flushes still fall in its measurement."""
    try:
        _admin("CHECKPOINT")
    except Exception as exc:  # not a superuser: the flush below still helps
        print(f"(no CHECKPOINT before the scenario: {str(exc).splitlines()[0]})")
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
        env.update({"BORDERFLOW_TELEMETRY_BUS": "nats", "BORDERFLOW_NATS_URL": NATS_URL,
                    "BORDERFLOW_NATS_STREAM": stream,
                    "BORDERFLOW_NATS_SUBJECT": f"bench.{stream.lower()}",
                    "BORDERFLOW_NATS_BATCH": str(NATS_BATCH[0]),
                    "BORDERFLOW_NATS_BATCH_POSITIONS": str(NATS_BATCH_POSITIONS[0]),
                    "BORDERFLOW_NATS_PARTITIONS": str(processors)})
    cli = [sys.executable, "-m", "borderflow.cli.main"]
    children = [subprocess.Popen([*cli, "telemetry", "process", "--partition", str(i)],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for i in range(processors)]
    for i in range(mqtt_workers if mqtt else 0):
        children.append(subprocess.Popen([*cli, "telemetry", "mqtt"], env={
            **env, "BORDERFLOW_MQTT_URL": mqtt or "",
            "BORDERFLOW_MQTT_CLIENT_ID": f"bench-{stream}-{i}",
            "BORDERFLOW_MQTT_TOPIC": "$share/borderflow/owntracks/+/+"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    if mqtt and not mqtt_workers:
        env["BORDERFLOW_MQTT_URL"] = mqtt
    proc = subprocess.Popen([*cli, "serve", "--workers", str(workers)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("server did not start")
        time.sleep(1.0)  # every worker and processor up, subscriptions made
        for p in children:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args!r} ended with status {p.returncode}")
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
        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().delete_stream(stream)
        finally:
            await nc.close()

    asyncio.run(drop())


def stored_count(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as c:
        n = c.execute(select(func.count()).select_from(Position)).scalar() or 0
    engine.dispose()
    return int(n)


def gps_events(url: str) -> int:
    """Trip events recorded from positions (entries and exits of fences)."""
    engine = create_engine(url)
    with engine.connect() as c:
        n = c.execute(select(func.count()).select_from(TripEvent).where(
            TripEvent.source == "gps")).scalar() or 0
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

    failed: list[BaseException] = []

    def loop() -> None:
        try:
            while time.monotonic() < end and not failed:
                n = send()
                with lock:
                    total[0] += n
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=loop) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        raise failed[0]
    return total[0]


def wait_stored(url: str, expected: int, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while stored_count(url) < expected:
        if time.monotonic() > end:
            raise RuntimeError(f"only {stored_count(url)} of {expected} stored")
        time.sleep(0.2)


class Probe:
    """Ingest-to-stored latency as a client sees it: every ``every`` seconds a probe sends one
    position of its own (through the same door as the load, under its device's token) and
    looks in the database every ``poll`` seconds (5 ms) until the position is there,
    committed. Counts the HTTP or MQTT hop, the bus, the processor's whole transaction and its
    commit; ``threads`` probes run side by side, each a bound device of its own whose fixes
    are a second apart."""

    def __init__(self, url: str, fleet: Fleet, send: Callable[[str, datetime], None],
                 every: float = 0.02, poll: float = 0.005) -> None:
        self.url, self.fleet, self.send, self.every = url, fleet, send, every
        self.poll = poll
        self.start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        self.ms: list[float] = []
        self._stop = threading.Event()
        self._workers = [threading.Thread(target=self._run, args=(i,)) for i in range(PROBES)]

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
        query = "SELECT count(*) FROM positions WHERE device_id = " + (
            "?" if self.url.startswith("sqlite") else "%s")
        device = self.fleet.probe_devices[n]
        try:
            i = 0
            while not self._stop.is_set():
                i += 1
                start = time.monotonic()
                self.send(self.fleet.probe_tokens[n], self.start + timedelta(seconds=i))
                while db.execute(query, (device,)).fetchone()[0] < i:
                    if time.monotonic() - start > 60:
                        raise RuntimeError(f"probe {device} #{i} never stored")
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


def bodies(gen: Positions, positions: int) -> tuple[list[bytes], list[int]]:
    """Request bodies of 1,000 positions each, prepared before the clock starts, and the
    crossings of fences each body holds."""
    out, crossings = [], []
    for _ in range(max(1, positions // 1000)):
        before = gen.crossings
        out.append(json.dumps({"positions": gen.batch(1000)}).encode())
        crossings.append(gen.crossings - before)
    return out, crossings


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
        answer = r.json()
        if answer.get("rejected"):
            raise RuntimeError(f"positions rejected: {answer['rejected'][:3]}")
        return int(answer["accepted"])

    time.sleep(max(0.0, start - time.monotonic()))
    sent = drive(16 if rate else 4, end - time.monotonic(), send)
    return sent, time.monotonic() - start, late[0]


def bench_batch(templates: Templates, kind: str, seconds: float, processors: int = 0,
                rate: float | None = None, workers: int = 1) -> dict[str, float]:
    """The batch endpoint, after ``warmup`` seconds at the same rate (or at 20,000/s for an
    unpaced run) that are not measured: as fast as 4 senders go, or paced at ``rate``."""
    warmup = WARMUP_SECONDS[0]
    with templates.copy(kind) as (url, fleet):
        gen = Positions(fleet, later_start(fleet))
        warm = bodies(gen, int((rate or 20_000) * warmup))[0] if warmup else []
        ready, crossings = bodies(gen, int((rate or MAX_RATE[0]) * seconds))
        with server(url, processors=processors, workers=workers) as base:
            key = fleet.api_key
            before = 0
            warm_p99 = 0.0
            if warm:
                before, _, _ = send_batches(base, key, warm, warmup, rate or 20_000)
                wait_stored(url, before)
                warm_p99 = latencies(url)[1]
            events_before = gps_events(url)
            probe_client = httpx.Client(base_url=base, timeout=60, headers={"X-API-Key": key})

            def send_probe(token: str, fix: datetime) -> None:
                probe_client.post("/api/v1/telemetry/positions", json={"positions": [{
                    "device_id": token, "time": fix.isoformat(), "lat": 21.5,
                    "lon": 106.5}]}).raise_for_status()

            since = datetime.now(UTC)
            start = time.monotonic()
            with Probe(url, fleet, send_probe) as probe:
                sent, sending, late = send_batches(base, key, ready, seconds, rate)
            wait_stored(url, before + sent + len(probe.ms))
            elapsed = time.monotonic() - start
            events = gps_events(url) - events_before
            p50, p99 = latencies(url, since)
            probe_client.close()
    seen = probe.percentiles()
    return {"positions": sent, "seconds": elapsed, "per_second": sent / elapsed,
            "offered_per_second": sent / sending, "p50_ms": p50, "p99_ms": p99,
            "senders_behind_ms": late * 1000, "warmup_p99_ms": warm_p99,
            "probe_p50_ms": seen[0], "probe_p99_ms": seen[1], "probes": seen[2],
            "trip_events": events, "trip_events_per_second": events / elapsed,
            "crossings": sum(crossings[:sent // 1000])}


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


def mqtt_prober(port: int) -> Callable[[str, datetime], None]:
    """A probe's way in through the broker: one QoS 1 OwnTracks message under the device's
    token (``owntracks/<token>/probe``), sent once the last was acknowledged (a connection
    per probe thread)."""
    local = threading.local()

    def read(sock: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise RuntimeError("the broker closed the probe's connection")
            data += chunk
        return data

    def send(token: str, fix: datetime) -> None:
        if not hasattr(local, "sock"):
            local.sock = socket.create_connection(("127.0.0.1", port))
            local.sock.sendall(_mqtt_packet(0x10, _mqtt_string("MQTT") + bytes([4, 2, 0, 60])
                                            + _mqtt_string(f"probe-{threading.get_ident()}")))
            read(local.sock, 4)
            local.mid = 0
        local.mid = local.mid % 65535 + 1
        payload = json.dumps({"_type": "location", "lat": 21.5, "lon": 106.5,
                              "tst": int(fix.timestamp()), "tid": "pr"}).encode()
        local.sock.sendall(_mqtt_packet(0x32, _mqtt_string(f"owntracks/{token}/probe")
                                        + local.mid.to_bytes(2, "big") + payload))
        read(local.sock, 4)  # PUBACK

    return send


def bench_mqtt(templates: Templates, seconds: float, processors: int = 1, workers: int = 1,
               rate: float | None = None) -> dict[str, float]:
    """OwnTracks at QoS 1, as the app sends: a publisher as fast as the broker acknowledges
    (up to 2,000 messages in flight) or paced at ``rate`` messages/s, after the warm-up at
    20,000/s that is not measured; Mosquitto, the ``borderflow telemetry mqtt`` ingest
    processes (``workers``), NATS JetStream, ``processors`` processors. Every message the
    broker acknowledged must be stored. Each truck publishes under its token as OwnTracks'
    user (``owntracks/<token>/phone``)."""
    import asyncio

    warmup = WARMUP_SECONDS[0]

    def packets(gen: Positions, n: int) -> tuple[list[bytes], list[int]]:
        out, crossed = [], []
        for at in range(0, n, 1000):
            before = gen.crossings
            for i, p in enumerate(gen.take(min(1000, n - at))):
                payload = json.dumps({
                    "_type": "location", "lat": p.lat, "lon": p.lon,
                    "tst": int(p.time.timestamp()), "vel": round(p.speed_mps * 3.6),
                    "tid": "tr"}).encode()
                out.append(_mqtt_packet(0x32, _mqtt_string(
                    f"owntracks/{gen.fleet.tokens[p.truck]}/phone")
                    + ((at + i) % 65535 + 1).to_bytes(2, "big") + payload))
            crossed.append(gen.crossings - before)
        return out, crossed

    with templates.copy("postgresql") as (url, fleet):
        gen = Positions(fleet, later_start(fleet))
        warm = packets(gen, int(20_000 * warmup))[0] if warmup else []
        ready, crossed = packets(gen, int((rate or min(MAX_MQTT_RATE, MAX_RATE[0])) * seconds))
        with broker() as port, server(url, mqtt=f"mqtt://127.0.0.1:{port}",
                                      processors=processors, mqtt_workers=workers):
            before = asyncio.run(_mqtt_publish(port, warm, warmup, rate=20_000)) if warm else 0
            wait_stored(url, before)
            events_before = gps_events(url)
            since = datetime.now(UTC)
            start = time.monotonic()
            with Probe(url, fleet, mqtt_prober(port)) as probe:
                sent = asyncio.run(_mqtt_publish(port, ready, seconds, rate=rate))
            sending = time.monotonic() - start
            wait_stored(url, before + sent + len(probe.ms))
            elapsed = time.monotonic() - start
            got = stored_count(url) - before - len(probe.ms)
            events = gps_events(url) - events_before
            p50, p99 = latencies(url, since)
    seen = probe.percentiles()
    return {"positions": got, "sent": sent, "seconds": elapsed, "per_second": got / elapsed,
            "offered_per_second": sent / sending, "p50_ms": p50, "p99_ms": p99,
            "probe_p50_ms": seen[0], "probe_p99_ms": seen[1], "probes": seen[2],
            "trip_events": events, "trip_events_per_second": events / elapsed,
            "crossings": sum(crossed[:sent // 1000])}


def bench_osmand(templates: Templates, seconds: float, connections: int = 64,
                 workers: int = 1, processors: int = 2) -> dict[str, float]:
    """One position per request, as Traccar Client sends it (under the truck's token), into
    the production deployment (``workers`` API processes, NATS JetStream, ``processors``
    processors): ``connections`` keep-alive connections, each sending its next request when
    the answer to the last one arrives (an asyncio client on raw sockets: httpx would need
    more CPU than the server). Requests answered per second (over the time spent sending)
    and positions stored per second (from the first request to the last row stored); any
    answer but 200 is an error."""
    import asyncio
    from urllib.parse import urlencode, urlsplit

    with templates.copy("postgresql") as (url, fleet):
        gen = Positions(fleet, later_start(fleet))
        requests, crossed = [], []
        for _ in range(0, int(min(MAX_OSMAND_RATE, MAX_RATE[0]) * seconds), 1000):
            before = gen.crossings
            for p in gen.take(1000):
                query = urlencode({"id": fleet.tokens[p.truck], "lat": p.lat, "lon": p.lon,
                                   "timestamp": int(p.time.timestamp()),
                                   "speed": round(p.speed_mps / 0.514444, 1)})
                requests.append(f"GET /api/v1/telemetry/osmand?{query} HTTP/1.1\r\n"
                                f"Host: 127.0.0.1\r\nUser-Agent: bench\r\n\r\n".encode())
            crossed.append(gen.crossings - before)
        with server(url, workers=workers, processors=processors) as base:
            where = urlsplit(base)
            done = [0]
            failed: dict[str, int] = {}
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
                        status = head.split(b"\r\n", 1)[0].decode(errors="replace")
                        failed[status] = failed.get(status, 0) + 1
                    done[0] += 1
                writer.close()

            async def run() -> float:
                begin = time.monotonic()
                await asyncio.gather(*(connection(begin + seconds)
                                       for _ in range(connections)))
                return time.monotonic() - begin

            events_before = gps_events(url)
            start = time.monotonic()
            sending = asyncio.run(run())
            errors = sum(failed.values())
            if failed:
                print(f"OsmAnd answers other than 200: {failed}")
            wait_stored(url, done[0] - errors)
            elapsed = time.monotonic() - start
            stored = stored_count(url)
            events = gps_events(url) - events_before
    return {"requests": done[0], "per_second": done[0] / sending, "errors": errors,
            "stored": stored, "stored_per_second": stored / elapsed, "seconds": elapsed,
            "trip_events": events, "trip_events_per_second": events / elapsed,
            "crossings": sum(crossed[:done[0] // 1000])}


POSITION_COLUMNS = ("device_id", "fix_time", "trip_id", "lat", "lon", "speed_mps", "bearing",
                    "altitude", "accuracy", "battery", "protocol", "attributes",
                    "received_at", "stored_at")


def _plain_writer(url: str, how: str, chunks: list[Any], ready: Any, go: Any, out: Any
                  ) -> None:
    """One baseline process: its own connection, its share of the rows, timed from the
    common start."""
    from sqlalchemy.dialects.postgresql import insert

    engine = create_engine(url)
    stmt = insert(Position).on_conflict_do_nothing(index_elements=["device_id", "fix_time"])
    with engine.connect() as c:
        c.execute(text("SELECT 1"))
        c.commit()
        raw = c.connection.driver_connection
        ready.wait()
        go.wait()
        for chunk in chunks:
            if how == "copy":
                with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]
                        f"COPY positions ({', '.join(POSITION_COLUMNS)}) FROM STDIN") as copy:
                    copy.write(chunk)
                raw.commit()  # type: ignore[union-attr]
            else:
                c.execute(stmt, chunk)
                c.commit()
        out.send(time.monotonic())
    engine.dispose()


def bench_plain(templates: Templates, rows: int, processes: int) -> dict[str, dict[str, float]]:
    """The baselines: the same rows (the trucks' device ids and trips, positions along their
    tracks) straight into the same table, no HTTP, no decoding, no geofencing, no trip
    events, by ``processes`` processes at once (one connection each, as many as the
    production deployment's processors): a plain ``INSERT ... ON CONFLICT DO NOTHING`` of
    2,000 rows per transaction, and ``COPY`` of 4,000 rows per transaction."""
    out: dict[str, dict[str, float]] = {}
    for how, per in (("insert", 2000), ("copy", 4000)):
        with templates.copy("postgresql") as (url, fleet):
            gen = Positions(fleet, later_start(fleet))
            now = datetime.now(UTC)
            shares: list[list[Any]] = [[] for _ in range(processes)]
            n = 0
            for k in range(max(1, rows // per)):
                fixes = gen.take(per)
                n += len(fixes)
                if how == "copy":
                    none = "\\N"
                    chunk: Any = "".join(
                        f"{fleet.devices[f.truck]}\t{f.time.isoformat()}\t"
                        f"{fleet.trips[f.truck] or none}\t{f.lat}\t{f.lon}\t{f.speed_mps}\t"
                        f"{none}\t{none}\t{none}\t{none}\tbatch\t{{}}\t{now.isoformat()}\t"
                        f"{now.isoformat()}\n" for f in fixes)
                else:
                    chunk = [{"device_id": fleet.devices[f.truck], "fix_time": f.time,
                              "trip_id": fleet.trips[f.truck], "lat": f.lat, "lon": f.lon,
                              "speed_mps": f.speed_mps, "bearing": None, "altitude": None,
                              "accuracy": None, "battery": None, "protocol": "batch",
                              "attributes": {}, "received_at": now, "stored_at": now}
                             for f in fixes]
                shares[k % processes].append(chunk)
            ctx = multiprocessing.get_context("fork")
            ready = ctx.Barrier(processes + 1)
            go = ctx.Barrier(processes + 1)
            pipes, children = [], []
            for share in shares:
                receive, send = ctx.Pipe(duplex=False)
                child = ctx.Process(target=_plain_writer,
                                    args=(url, how, share, ready, go, send))
                child.start()
                send.close()
                pipes.append(receive)
                children.append(child)
            ready.wait()
            start = time.monotonic()
            go.wait()
            ends = [p.recv() for p in pipes]
            for child in children:
                child.join()
            elapsed = max(ends) - start
            if stored_count(url) != n:
                raise RuntimeError(f"the baseline stored {stored_count(url)} of {n} rows")
        out[how] = {"positions": n, "seconds": elapsed, "per_second": n / elapsed}
    return out


SCENARIOS = ("pg", "pg-paced", "pg-one", "sqlite", "mqtt", "mqtt-paced", "osmand", "baseline")


def _r(value: float | None, digits: int = 0) -> float | int | None:
    if value is None:
        return None
    return round(value, digits) if digits else round(value)


def _f(figures: dict[str, float] | None, key: str, digits: int = 0) -> float | int | None:
    """A scenario's figure for the last line (``null`` for a scenario not run)."""
    return None if figures is None else _r(figures[key], digits)


def print_load() -> float:
    """The load average now (printed after each scenario's figures: the machine is shared)."""
    load = round(os.getloadavg()[0], 2)
    print(f"  (load average {load:.2f} at the end of that scenario)", flush=True)
    return load


def print_one_process(store: str, r: dict[str, Any]) -> None:
    """The figures of the batch endpoint served by one process with its in-process bus."""
    print(f"batch endpoint -> one process, in-process bus -> {store}: "
          f"{r['per_second']:,.0f} positions/s ({r['positions']:,} in "
          f"{r['seconds']:.1f} s), {r['trip_events_per_second']:,.0f} trip "
          f"events/s, p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--devices", type=int, default=10_000,
                        help="trucks, each bound to an active trip")
    parser.add_argument("--trips", type=int, default=2_000,
                        help="trucks on active trips (the others' phones are bound too)")
    parser.add_argument("--max-rate", type=int, default=MAX_RATE[0],
                        help="positions prepared per second of an unpaced run")
    parser.add_argument("--fixes-per-crossing", type=int, default=100,
                        help="a truck's fixes between two crossings of its fence")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds of load before each measured run, not counted")
    parser.add_argument("--nats-batch", type=int, default=1000,
                        help="BORDERFLOW_NATS_BATCH of the processors (messages)")
    parser.add_argument("--nats-batch-positions", type=int, default=4000,
                        help="BORDERFLOW_NATS_BATCH_POSITIONS of the processors")
    parser.add_argument("--processors", type=int, default=2,
                        help="processor processes of the production deployment (and the "
                             "baselines' processes)")
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn worker processes of the production deployment's API")
    parser.add_argument("--mqtt-workers", type=int, default=2,
                        help="MQTT ingest processes (one shared subscription)")
    parser.add_argument("--osmand-workers", type=int, default=1,
                        help="uvicorn worker processes for the single-position OsmAnd load")
    parser.add_argument("--osmand-connections", type=int, default=64,
                        help="keep-alive connections of the single-position OsmAnd load")
    parser.add_argument("--rate", type=float, default=20_000,
                        help="positions/s of the paced run (latency at the target rate)")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"scenarios to run, of {','.join(SCENARIOS)}")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    if only - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(only - set(SCENARIOS)))}")
    NATS_BATCH[0] = args.nats_batch
    NATS_BATCH_POSITIONS[0] = args.nats_batch_positions
    DEVICES[0] = args.devices
    TRIPS[0] = min(args.trips, args.devices)
    MAX_RATE[0] = args.max_rate
    FIXES_PER_CROSSING[0] = args.fixes_per_crossing
    WARMUP_SECONDS[0] = args.warmup
    load = os.getloadavg()[0]
    print(f"GPS ingestion, {args.devices:,} trucks with bound phones, {TRIPS[0]:,} of them on "
          f"active trips, each crossing a fence every {args.fixes_per_crossing} fixes, "
          f"{args.seconds:g} s of load per scenario, "
          f"{os.cpu_count()} cores, load average {load:.2f} at the start\n", flush=True)
    topology = (f"API ({args.workers} worker(s)) -> NATS -> {args.processors} processor(s), "
                f"up to {args.nats_batch_positions} positions in {args.nats_batch} "
                f"message(s) per transaction")
    # stopped (SIGTERM): the databases and files of the run are still dropped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    templates = Templates()
    loads: dict[str, float] = {}
    pg = paced = one = lite = mq = mq_paced = osm = None
    plain: dict[str, dict[str, float]] = {}
    try:
        if "pg" in only:
            pg = bench_batch(templates, "postgresql", args.seconds,
                             processors=args.processors, workers=args.workers)
            print(f"batch endpoint -> {topology} -> PostgreSQL, as fast as it goes: "
                  f"{pg['per_second']:,.0f} positions/s ({pg['positions']:,} in "
                  f"{pg['seconds']:.1f} s, offered {pg['offered_per_second']:,.0f}/s), "
                  f"{pg['trip_events_per_second']:,.0f} trip events/s ({pg['trip_events']:,} "
                  f"for {pg['crossings']:,} fence crossings sent), p50 {pg['p50_ms']:.0f} ms, "
                  f"p99 {pg['p99_ms']:.0f} ms", flush=True)
            loads["pg"] = print_load()
        if "pg-paced" in only:
            paced = bench_batch(templates, "postgresql", args.seconds,
                                processors=args.processors, workers=args.workers,
                                rate=args.rate)
            print(f"the same, paced at {args.rate:,.0f}/s: {paced['per_second']:,.0f} "
                  f"positions/s stored ({paced['positions']:,} in {paced['seconds']:.1f} s, "
                  f"offered {paced['offered_per_second']:,.0f}/s, senders up to "
                  f"{paced['senders_behind_ms']:.0f} ms behind), "
                  f"{paced['trip_events_per_second']:,.0f} trip events/s, p50 "
                  f"{paced['p50_ms']:.0f} ms, p99 {paced['p99_ms']:.0f} ms (the "
                  f"{args.warmup:g} s of warm-up before it: p99 {paced['warmup_p99_ms']:.0f} "
                  f"ms); {paced['probes']} probes from sending to committed: p50 "
                  f"{paced['probe_p50_ms']:.0f} ms, p99 {paced['probe_p99_ms']:.0f} ms",
                  flush=True)
            loads["pg-paced"] = print_load()
        if "pg-one" in only:
            one = bench_batch(templates, "postgresql", args.seconds)
            print_one_process("PostgreSQL", one)
            loads["pg-one"] = print_load()
        if "sqlite" in only:
            lite = bench_batch(templates, "sqlite", args.seconds)
            print_one_process("SQLite", lite)
            loads["sqlite"] = print_load()
        if "mqtt" in only:
            mq = bench_mqtt(templates, args.seconds, processors=args.processors,
                            workers=args.mqtt_workers)
            print(f"MQTT (OwnTracks, QoS 1) -> {args.mqtt_workers} mqtt ingest process(es) -> "
                  f"NATS -> {args.processors} processor(s) -> PostgreSQL: "
                  f"{mq['per_second']:,.0f} positions/s ({mq['positions']:,} stored of "
                  f"{mq['sent']:,} sent, offered {mq['offered_per_second']:,.0f}/s), "
                  f"{mq['trip_events_per_second']:,.0f} trip events/s, p50 "
                  f"{mq['p50_ms']:.0f} ms, p99 {mq['p99_ms']:.0f} ms", flush=True)
            loads["mqtt"] = print_load()
        if "mqtt-paced" in only:
            mq_paced = bench_mqtt(templates, args.seconds, processors=args.processors,
                                  workers=args.mqtt_workers, rate=args.rate)
            print(f"the same, paced at {args.rate:,.0f}/s: {mq_paced['per_second']:,.0f} "
                  f"positions/s stored ({mq_paced['positions']:,}), "
                  f"{mq_paced['trip_events_per_second']:,.0f} trip events/s, p50 "
                  f"{mq_paced['p50_ms']:.0f} ms, p99 {mq_paced['p99_ms']:.0f} ms; "
                  f"{mq_paced['probes']} probes from publishing to committed: p50 "
                  f"{mq_paced['probe_p50_ms']:.0f} ms, p99 {mq_paced['probe_p99_ms']:.0f} ms",
                  flush=True)
            loads["mqtt-paced"] = print_load()
        if "osmand" in only:
            osm = bench_osmand(templates, args.seconds, connections=args.osmand_connections,
                               workers=args.osmand_workers, processors=args.processors)
            print(f"single OsmAnd requests, {args.osmand_connections} connections -> API "
                  f"({args.osmand_workers} process(es)) -> NATS -> {args.processors} "
                  f"processor(s) -> PostgreSQL: {osm['per_second']:,.0f} requests/s answered "
                  f"({osm['requests']:,}, {osm['errors']:,} not 200), "
                  f"{osm['stored_per_second']:,.0f} positions/s stored ({osm['stored']:,} in "
                  f"{osm['seconds']:.1f} s), {osm['trip_events_per_second']:,.0f} trip "
                  f"events/s", flush=True)
            loads["osmand"] = print_load()
        if "baseline" in only:
            plain = bench_plain(templates, max(20_000, int(pg["positions"]) if pg else 0),
                                args.processors)
            ins, cp = plain["insert"], plain["copy"]
            print(f"baselines, {args.processors} processes with a connection each -> "
                  f"PostgreSQL: plain insert {ins['per_second']:,.0f} rows/s, COPY "
                  f"{cp['per_second']:,.0f} rows/s", flush=True)
            loads["baseline"] = print_load()
    finally:
        templates.drop()
    ratio = copy_ratio = None
    if pg and plain:
        ratio = pg["per_second"] / plain["insert"]["per_second"]
        copy_ratio = pg["per_second"] / plain["copy"]["per_second"]
        print(f"production deployment / plain insert = {ratio:.3f}, / COPY = "
              f"{copy_ratio:.3f}" + (f" (one process / plain insert: "
                                     f"{one['per_second'] / plain['insert']['per_second']:.3f})"
                                     if one else ""))
    print(json.dumps({
        "positions_per_second_pg": _f(pg, "per_second"),
        "positions_per_second_mqtt": _f(mq, "per_second"),
        "positions_per_second_sqlite": _f(lite, "per_second"),
        "osmand_requests_per_second": _f(osm, "per_second"),
        "p99_ms_pg": _f(paced, "probe_p99_ms", 1),
        "plain_insert_ratio": _r(ratio, 3),
        "p50_ms_pg": _f(paced, "probe_p50_ms", 1),
        "paced_rate_pg": args.rate,
        "p99_ms_pg_rows": _f(paced, "p99_ms", 1),
        "p50_ms_pg_rows": _f(paced, "p50_ms", 1),
        "p99_ms_pg_warmup_rows": _f(paced, "warmup_p99_ms", 1),
        "p99_ms_pg_unpaced_rows": _f(pg, "p99_ms", 1),
        "p99_ms_mqtt": _f(mq_paced, "probe_p99_ms", 1),
        "p50_ms_mqtt": _f(mq_paced, "probe_p50_ms", 1),
        "p99_ms_mqtt_rows": _f(mq_paced, "p99_ms", 1),
        "positions_per_second_mqtt_paced": _f(mq_paced, "per_second"),
        "positions_per_second_pg_one_process": _f(one, "per_second"),
        "plain_insert_rows_per_second": _f(plain.get("insert"), "per_second"),
        "load_average_at_start": round(load, 2),
        "trip_events_per_second": _f(pg, "trip_events_per_second"),
        "osmand_positions_stored_per_second": _f(osm, "stored_per_second"),
        "osmand_errors": _f(osm, "errors"),
        "copy_rows_per_second": _f(plain.get("copy"), "per_second"),
        "copy_ratio": _r(copy_ratio, 3),
        "baseline_processes": args.processors,
        "trip_events_per_second_pg_paced": _f(paced, "trip_events_per_second"),
        "trip_events_per_second_mqtt": _f(mq, "trip_events_per_second"),
        "trip_events_per_second_osmand": _f(osm, "trip_events_per_second"),
        "trucks": args.devices,
        "trucks_on_trips": TRIPS[0],
        "fixes_per_crossing": args.fixes_per_crossing,
        "load_average_after": loads,
        "nats_batch": args.nats_batch,
        "nats_batch_positions": args.nats_batch_positions}))


if __name__ == "__main__":
    main()
