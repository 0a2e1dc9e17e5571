"""The GPS ingestion benchmark (``bench/ingest.py``) stays honest and runnable: its trucks'
tracks cross the fences of their trips, each crossing one the trip can make, and a tiny run
of its scenarios against the real PostgreSQL and NATS gives trip events, stored OsmAnd
positions and the baselines on its last line."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from borderflow.config import DEFAULT_NETWORK_FILE
from borderflow.domain.telemetry_geofence import Fences, walk
from borderflow.network import service as networks

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "ingest.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_ingest", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_ingest", module)  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def test_every_truck_crosses_only_its_trips_fence_starting_where_its_trip_is() -> None:
    bench = _bench()
    fences = Fences(networks.parse(networks.read_file(DEFAULT_NETWORK_FILE)))
    half = 20
    for i, track in enumerate(bench.tracks(40, half)):
        fence = bench.fence_of(i)
        at_start = frozenset({fence}) if fence == bench.PARK else frozenset()
        # the park's trips are in the park, the called ones out of it
        first, _ = walk(fences, [track.at(0)])
        assert first == at_start, i
        _, moves = walk(fences, [track.at(k) for k in range(1, 6 * half + 1)], first)
        kinds = [(m.fence, m.entered) for m in moves]
        inward = fence != bench.PARK  # the first move: out of the park, into the gate area
        assert kinds == [(fence, inward if n % 2 == 0 else not inward)
                         for n in range(len(kinds))], i
        assert len(kinds) in (5, 6, 7), i  # one crossing every `half` fixes


def test_the_crossings_counted_are_the_fence_events_of_trucks_on_trips() -> None:
    """What the bench counts as crossings is what the processor's fences see (the edge to
    enter, the margin too to leave), for the trucks on trips only."""
    bench = _bench()
    fences = Fences(networks.parse(networks.read_file(DEFAULT_NETWORK_FILE)))
    trucks, half, steps = 12, 10, 95
    fleet = bench.Fleet(tokens=[f"t{i}" for i in range(trucks)],
                        devices=[f"truck-{i}" for i in range(trucks)],
                        trips=[f"trip-{i}" if i < 8 else None for i in range(trucks)],
                        probe_tokens=[], probe_devices=[], api_key="",
                        created_at=datetime.now(UTC))
    gen = bench.Positions(fleet, datetime.now(UTC) - timedelta(minutes=1), half=half)
    fixes = gen.take(trucks * steps)
    seen = 0
    for i in range(8):
        mine = [(f.lat, f.lon) for f in fixes if f.truck == i]
        _, moves = walk(fences, mine)
        seen += len(moves) - (bench.fence_of(i) == bench.PARK)  # the first fix: in the park
    assert gen.crossings == seen
    assert fixes[-1].time == gen.t0 + timedelta(seconds=steps)
    assert {p["device_id"] for p in gen.batch(trucks)} == set(fleet.tokens)


PG_URL = os.environ.get("BORDERFLOW_TEST_DATABASE_URL")
NATS_URL = os.environ.get("BORDERFLOW_TEST_NATS_URL", "nats://127.0.0.1:4222")


@pytest.mark.postgres
@pytest.mark.slow
def test_a_tiny_run_reports_trip_events_and_stored_osmand_positions() -> None:
    """The production deployment, single OsmAnd requests and the baselines, for a second each
    on a fleet of 100 phones (50 on trips), in databases of the bench's own on the suite's
    PostgreSQL server."""
    assert PG_URL
    out = subprocess.run(  # noqa: S603 - the benchmark, with fixed arguments
        [sys.executable, str(SCRIPT), "--devices", "100", "--trips", "50", "--seconds", "1",
         "--warmup", "0.2", "--max-rate", "2000", "--fixes-per-crossing", "10",
         "--only", "pg,osmand,baseline"],
        env={**os.environ, "BENCH_PG_URL": PG_URL, "BENCH_NATS_URL": NATS_URL},
        capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["trip_events_per_second"] > 0
    assert figures["osmand_positions_stored_per_second"] > 0
    assert figures["osmand_errors"] == 0
    assert figures["plain_insert_ratio"] > 0
    assert figures["copy_ratio"] > 0
    assert figures["positions_per_second_mqtt"] is None  # not run
