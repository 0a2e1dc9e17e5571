"""A telemetry processor alone, on the ingestion benchmark's fleet: the positions of one
partition (of two) of the sustained batch load, written in transactions of up to
``--positions`` positions by one :class:`~borderflow.telemetry.bus.Processor` in this process,
without HTTP or NATS. Prints the positions per second (wall), the processor's CPU per
position, the trip events made and the load average. Profile it with
``py-spy record -- python bench/ingest_processor.py``.

Run from the repository root::

    .venv/bin/python bench/ingest_processor.py             # builds the fleet once, keeps it
    .venv/bin/python bench/ingest_processor.py --rebuild

The fleet (the same as ``bench/ingest.py``'s: 10,000 trucks with bound phones, 2,000 on
trips) is built once into the PostgreSQL database ``bench_processor_template`` (its tokens
in ``--fleet``, a JSON file) and each run writes into a copy of it, dropped afterwards. The
script uses only what a processor has had since 2026-12-01, so the same file run in a
checkout of an older commit (``PYTHONPATH=<checkout>/src``) measures that commit's processor.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest as bench

TEMPLATE = "bench_processor_template"


def fleet_of(path: Path, rebuild: bool) -> bench.Fleet:
    if rebuild or not path.exists():
        bench._admin(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
        bench._admin(f"CREATE DATABASE {TEMPLATE}")
        fleet = bench.build_fleet(bench._pg_url(TEMPLATE), 10_000, 2_000, 2)
        path.write_text(json.dumps({**asdict(fleet),
                                    "created_at": fleet.created_at.isoformat()}))
    raw = json.loads(path.read_text())
    return bench.Fleet(**{**raw, "created_at": datetime.fromisoformat(raw["created_at"])})


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="seconds of one partition's share of the load (10,000/s)")
    parser.add_argument("--positions", type=int, default=4000,
                        help="positions per transaction, at most (whole messages)")
    parser.add_argument("--fleet", type=Path,
                        default=Path(tempfile.gettempdir()) / "bench_processor_fleet.json")
    parser.add_argument("--rebuild", action="store_true", help="build the fleet again")
    args = parser.parse_args()
    fleet = fleet_of(args.fleet, args.rebuild)
    from borderflow import handlers
    from borderflow.clock import SystemClock
    from borderflow.ops.runtime import tune_gc
    from borderflow.store.session import make_engine, make_session_factory
    from borderflow.telemetry import decoders, wire
    from borderflow.telemetry.bus import FenceCache, Processor

    handlers.install()
    name = f"bench_processor_{os.getpid()}"
    bench._admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    url = bench._pg_url(name)
    engine = make_engine(url)
    try:
        processor = Processor(make_session_factory(engine), SystemClock(),
                              FenceCache(bench.MARGIN_M))
        now = datetime.now(UTC)
        gen = bench.Positions(fleet, bench.later_start(fleet))
        transactions: list[tuple[list[decoders.Fix | decoders.Rejection], list[datetime]]] = []
        items: list[decoders.Fix | decoders.Rejection] = []
        received: list[datetime] = []
        total = 0
        while total < args.seconds * 10_000:  # requests of 1,000, partition 0 of 2
            mine = wire.split([decoders.batch_item(d, now) for d in gen.batch(1000)], 2)[0]
            got, at = wire.decode(wire.encode(mine, now))  # as a message arrives
            if items and len(items) + len(got) > args.positions:
                transactions.append((items, received))
                items, received = [], []
            items += got
            received += at
            total += len(got)
        if items:
            transactions.append((items, received))
        tune_gc()
        events = bench.gps_events(url)
        wall, cpu = time.perf_counter(), time.process_time()
        for batch, times in transactions:
            processor(batch, times)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(json.dumps({
            "positions": total, "transactions": len(transactions),
            "positions_per_second": round(total / wall),
            "cpu_us_per_position": round(cpu / total * 1e6, 1),
            "trip_events": bench.gps_events(url) - events,
            "load_average": round(os.getloadavg()[0], 2)}))
    finally:
        engine.dispose()
        bench._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
