"""Peak-day load benchmark: a Tet-peak day replayed against the production topology, and the
same replay against one process as the baseline.

Run from the repository root (``make bench-load`` installs Locust and runs the default)::

    .venv/bin/python bench/load.py                        # 2,500 trucks, 100x: 14.4 minutes
    .venv/bin/python bench/load.py --minutes 3 --start-hour 6   # 06:00-11:00 of the day

The day (``bench/load_scenario.py``): ``--trucks`` (2,500) trucks declared over 24 hours by
the demo traffic's hourly profile (the morning fruit peak), shared among the Lang Son gates
like the 2025 daily averages, about a quarter exports. Each truck is declared by its
enterprise, its driver binds the phone (the token goes with every position), some book a
slot; exports through a staging park enter it and wait for the dispatcher of the worker to
call them (the enterprise's office looks at its called trucks every 30 game seconds), the
driver acknowledges, the entry camera reads the plate at the gate; officers record each step
the trip still needs, the cashier or the payment gateway (pay online, then the gateway's
signed callback) takes the fee; every active truck's phone sends an OsmAnd position every 10
game seconds. 1,000 public board screens (their browsers in Vietnamese, Chinese or English,
7:2:1) load the board's page, then refresh the panel it names every 15 wall seconds with
``If-None-Match``. Game time runs ``--speed`` (100) times faster than the wall clock; the
replay covers ``--minutes`` wall minutes from ``--start-hour`` (default: the whole day).

Locust (headless, ``bench/load_locustfile.py``) sends the requests from this machine. Two
runs, each on a fresh database:

1. the production topology of docs/deploy.md (``tests/topology.py``): PostgreSQL, NATS
   JetStream, HAProxy in front of two HTTP-only API processes and the public board's own,
   two workers (one leads the dispatcher, every second), two telemetry processors;
2. the baseline: one ``borderflow serve`` on SQLite with everything in it (the ``make run``
   shape, without the demo traffic), the dispatcher every second.

It prints requests per second and p50/p99 latency per request and per class (writes, reads,
the board), errors (any answer but the expected one), how late the replay handed actions
out, the dispatcher's cycle time (from ``borderflow_dispatcher_cycle_seconds`` on
``/metrics``, this run's cycles only) and the machine's load average; and the board's panel
as one light client beside the replay gets it (:class:`PanelProbe`: Locust shares the cores
it loads, and its own waits are part of every latency it reports). The last line is one
JSON object; ``p99_ms_board_probe`` is that client's p99; ``speedup_vs_single_process`` is
the requests the topology completed per second over those the single process completed in
the same replay (1.0 when both keep up), and ``p99_ratio_vs_single_process`` the single
process's p99 over the topology's.

Needs PostgreSQL (``BENCH_PG_URL``, else ``BORDERFLOW_TEST_DATABASE_URL``, else the local
``test`` database's server), NATS with JetStream (``BORDERFLOW_TEST_NATS_URL``, else the local
one on 4222) and HAProxy (installed with apt when missing); ``make bench-load`` provides the
first two as the test suite does (tests/services.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
import load_scenario as scenario  # noqa: E402
from sqlalchemy import select  # noqa: E402
from tests.topology import (  # noqa: E402
    BORDERFLOW,
    SECRET_KEY,
    Topology,
    delete_stream,
    fresh_database,
    open_every_gate,
    ports,
    production_env,
    setup,
    start_production,
    wait_ready,
)

from borderflow.account import service as accounts  # noqa: E402
from borderflow.app import create_app  # noqa: E402
from borderflow.clock import LOCAL_TZ  # noqa: E402
from borderflow.config import SANDBOX_SECRET, Settings  # noqa: E402
from borderflow.demo.run import build  # noqa: E402
from borderflow.domain.access import SYSTEM, Role  # noqa: E402
from borderflow.network import service as networks  # noqa: E402
from borderflow.store.models import Account  # noqa: E402

PG_BASE = (os.environ.get("BENCH_PG_URL") or os.environ.get("BORDERFLOW_TEST_DATABASE_URL")
           or "postgresql+psycopg://postgres@127.0.0.1:5432/test")
LOCUST = str(Path(sys.executable).with_name("locust"))
LOCUSTFILE = ROOT / "bench" / "load_locustfile.py"
DISPATCH_INTERVAL = 1
"""Seconds between dispatcher cycles: at 100x, 100 game seconds (the default is 60)."""
TARGET_WRITE_MS, TARGET_BOARD_MS = 250.0, 100.0
APPROACH = (-0.03, 0.004)
"""Where trucks come from: about 3 km south of their park (or gate)."""
SHORT_OF_GATE = 0.011
"""Where the phones' road ends, for a gate without a park: about 1.2 km south of it."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trucks", type=int, default=2500, help="trucks of the day")
    ap.add_argument("--speed", type=float, default=100.0, help="game seconds per wall second")
    ap.add_argument("--minutes", type=float, default=None,
                    help="wall minutes replayed (default: the whole day, 1440 / speed)")
    ap.add_argument("--start-hour", type=float, default=0.0, help="game hour replay starts at")
    ap.add_argument("--viewers", type=int, default=1000, help="public board screens")
    ap.add_argument("--board-every", type=float, default=15.0, help="wall seconds")
    ap.add_argument("--actors", type=int, default=48, help="greenlets acting for people")
    ap.add_argument("--phones", type=int, default=64, help="greenlets sending positions")
    ap.add_argument("--seed", type=int, default=20260214)
    ap.add_argument("--only", choices=("topology", "single"), default=None,
                    help="run one of the two (no ratio)")
    args = ap.parse_args()
    minutes = args.minutes if args.minutes is not None else 1440 / args.speed
    start = args.start_hour * 3600
    seconds = min(minutes * 60 * args.speed, scenario.DAY - start)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; commit {_commit()}; load average at start "
          f"{_load()}", flush=True)
    results: dict[str, dict[str, Any]] = {}
    for kind in ("topology", "single"):
        if args.only not in (None, kind):
            continue
        print(f"\n== {kind}: {args.trucks} trucks a day, {args.speed:g}x, game "
              f"{_hhmm(start)}-{_hhmm(start + seconds)} ({seconds / args.speed / 60:.1f} wall "
              f"minutes), {args.viewers} board screens", flush=True)
        with (topology_run if kind == "topology" else single_run)() as (base, database):
            config = prepare(database, base, args, start, seconds)
            print(f"{len(config['trucks'])} trucks in the window; replaying", flush=True)
            before = dispatcher_cycles(base)
            out = replay(base, config, args)
            out["dispatcher"] = cycle_figures(before, dispatcher_cycles(base))
            out["load_average_after"] = _load()
            out["trucks"] = len(config["trucks"])
        results[kind] = out
        report(kind, out)
    final(results, args)


# --- the two deployments ----------------------------------------------------------------------

@contextmanager
def topology_run() -> Iterator[tuple[str, str]]:
    run = f"load{uuid.uuid4().hex[:6]}"
    lb_port, api_ports = ports(1)[0], ports(2)
    base = f"http://127.0.0.1:{lb_port}"
    with fresh_database(PG_BASE, "bf_load") as database, \
            tempfile.TemporaryDirectory(prefix="bf-load-") as tmp:
        folder = Path(tmp)
        env = production_env(database, folder / "var", base, run, interval=DISPATCH_INTERVAL,
                             BORDERFLOW_LOG_LEVEL="WARNING",
                             BORDERFLOW_METRICS_DIR=str(folder / "metrics"))
        (folder / "metrics").mkdir()
        setup(env)
        topology = Topology(folder, env)
        try:
            start_production(topology, lb_port, api_ports, run, maxconn=9000)  # FDs: 2 a connection
            yield base, database
        finally:
            topology.stop_all()
            delete_stream(env["BORDERFLOW_NATS_URL"], env["BORDERFLOW_NATS_STREAM"])
            _keep_logs(folder, "topology")


@contextmanager
def single_run() -> Iterator[tuple[str, str]]:
    port = ports(1)[0]
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bf-load-single-") as tmp:
        folder = Path(tmp)
        database = f"sqlite:///{folder / 'borderflow.db'}"
        env = {**os.environ, "BORDERFLOW_DATABASE_URL": database,
               "BORDERFLOW_VAR_DIR": str(folder / "var"), "BORDERFLOW_LOG_LEVEL": "WARNING",
               "BORDERFLOW_LOG_FORMAT": "json", "BORDERFLOW_PUBLIC_BASE_URL": base,
               "BORDERFLOW_SECRET_KEY": SECRET_KEY, "BORDERFLOW_THROTTLING": "false",
               "BORDERFLOW_DEMO_TRAFFIC": "false",
               "BORDERFLOW_DISPATCH_INTERVAL_SECONDS": str(DISPATCH_INTERVAL)}
        for name in ("BORDERFLOW_METRICS_DIR", "PROMETHEUS_MULTIPROC_DIR"):
            env.pop(name, None)
        setup(env)
        topology = Topology(folder, env)
        try:
            topology.start("serve", [BORDERFLOW, "serve", "--port", str(port)])
            wait_ready(f"{base}/readyz", 180)
            yield base, database
        finally:
            topology.stop_all()
            _keep_logs(folder, "single")


def _keep_logs(folder: Path, kind: str) -> None:
    """The processes' logs, kept for a look after the run (errors are logged there)."""
    keep = Path(tempfile.gettempdir()) / f"bf-load-logs-{kind}"
    keep.mkdir(exist_ok=True)
    for log in folder.glob("*.log"):
        (keep / log.name).write_bytes(log.read_bytes()[-2_000_000:])


# --- what the replay needs --------------------------------------------------------------------

def prepare(database: str, base: str, args: argparse.Namespace, start: float,
            seconds: float) -> dict[str, Any]:
    """The accounts and keys of the day's people (the enterprise, the officers, a driver for
    each truck with the phone app, the gates' entry cameras), every gate kept open for the
    run (a peak day: extended hours), and the day's trucks."""
    settings = Settings(_env_file=None, database_url=database, public_base_url=base,
                        log_level="WARNING")
    app = create_app(settings)
    ctx = app.state.ctx
    try:
        open_every_gate(ctx, 6, "Tet peak: open whatever the hour")
        now = ctx.clock.now()
        with ctx.sessions() as session:
            network = networks.in_force(session, now)
        people = build(ctx)
        plans = scenario.window(scenario.day(args.trucks, people.permitted,
                                             people.staged_gates, args.seed), start, seconds)
        drivers = make_drivers(ctx, network, [p.index for p in plans])
        places = gate_places(network, people.routes)
    finally:
        ctx.engine.dispose()
    return {
        "speed": args.speed, "start": start, "seconds": seconds, "seed": args.seed,
        "trucks": [asdict(p) for p in plans], "drivers": drivers,
        "enterprise_key": people.enterprise_key, "officers_key": people.officers_key,
        "tax_code": people.tax_code, "cameras": people.cameras, "places": places,
        "date": now.astimezone(LOCAL_TZ).date().isoformat(),
        "hash_secret": SANDBOX_SECRET, "gps_every": scenario.GPS_EVERY,
        "call_poll_every": scenario.CALL_POLL_EVERY, "actors": args.actors,
        "phones": args.phones, "board_every": args.board_every, "viewers": args.viewers,
    }


def driver_document(i: int) -> str:
    """A citizen ID of its own for each truck's driver (12 digits)."""
    return f"001091{i:06d}"


def make_drivers(ctx: Any, network: Any, indexes: list[int]) -> dict[str, tuple[str, str]]:
    """A driver account with an API key for each truck (the driver acknowledges calls and
    binds the phone): truck index -> (document, key)."""
    now = ctx.clock.now()
    out: dict[str, tuple[str, str]] = {}
    with ctx.sessions() as session:
        for i in indexes:
            username = f"tet-driver-{i:05d}"
            account = session.scalar(select(Account).where(Account.username == username))
            if account is None:
                account = accounts.create_account(session, accounts.AccountSpec(
                    username=username, display_name=f"Tet driver {i}", roles=(Role.DRIVER,),
                    kind="client", driver_document=driver_document(i)),
                    actor=SYSTEM, now=now, network=network)
            _row, key = accounts.create_api_key(session, account, "phone app", actor=SYSTEM,
                                                now=now)
            out[str(i)] = (driver_document(i), key)
        session.commit()
    return out


def gate_places(network: Any, routes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """For each gate, where its trucks' phones are: coming (``far``), in its park (if it has
    one), at the end of the road short of the gate area, at the gate."""
    out = {}
    for gate in network.gates:
        route = routes.get(gate.code)
        here = (gate.location.lat, gate.location.lon)
        if route is not None:
            out[gate.code] = {"park_code": gate.staging_area, "park": route.park,
                              "far": (route.park[0] + APPROACH[0], route.park[1] + APPROACH[1]),
                              "road_end": route.road_end, "gate": route.gate}
        else:
            out[gate.code] = {"park_code": None, "park": here,
                              "far": (here[0] + APPROACH[0], here[1] + APPROACH[1]),
                              "road_end": (here[0] - SHORT_OF_GATE, here[1]), "gate": here}
    return out


# --- running Locust -------------------------------------------------------------------------

class PanelProbe:
    """A light client beside the replay: one keep-alive connection asking for the board's
    panel as a public screen in Vietnamese does (``/board/panel?lang=vi``) every
    ``every`` seconds, from ``after`` seconds on (the screens' page loads are over). Its
    figures are the platform's latency without the load generator's own waits: Locust
    shares the cores it loads, and times its requests from its own event loop
    (docs/benchmarks.md)."""

    def __init__(self, base: str, every: float = 0.25, after: float = 20.0) -> None:
        self.base, self.every, self.after = base, every, after
        self.ms: list[float] = []
        self.kept = 0
        self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        if self.stop.wait(self.after):
            return
        with httpx.Client(base_url=self.base, timeout=60) as client:
            while not self.stop.is_set():
                began = time.perf_counter()
                try:
                    r = client.get("/board/panel", params={"lang": "vi"})
                except httpx.HTTPError:
                    self.errors += 1
                else:
                    self.ms.append((time.perf_counter() - began) * 1000)
                    self.errors += r.status_code != 200
                    self.kept += "age" in r.headers  # answered by a cache in front
                self.stop.wait(self.every)

    def figures(self) -> dict[str, Any]:
        ordered = sorted(self.ms)

        def q(p: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1) \
                if ordered else 0.0

        return {"count": len(ordered), "kept": self.kept, "errors": self.errors,
                "p50": q(0.5), "p90": q(0.9), "p99": q(0.99)}


def replay(base: str, config: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    probe = PanelProbe(base)
    probe.thread.start()
    try:
        figures = _replay(base, config, args)
    finally:
        probe.stop.set()
        probe.thread.join(70)
    figures["board_probe"] = probe.figures()
    return figures


def _replay(base: str, config: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bf-load-locust-") as tmp:
        folder = Path(tmp)
        (folder / "config.json").write_text(json.dumps(config))
        results = folder / "results.json"
        users = args.actors + args.phones + args.viewers
        wall = config["seconds"] / args.speed
        log = folder / "locust.log"
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        with log.open("wb") as out:
            done = subprocess.run(
                [LOCUST, "-f", str(LOCUSTFILE), "--headless", "--host", base, "-u", str(users),
                 "-r", str(users), "--run-time", f"{int(wall + 120)}s", "--stop-timeout", "10",
                 "--loglevel", "WARNING", "--only-summary", "--exit-code-on-error", "0"],
                env={**os.environ, "BF_LOAD_CONFIG": str(folder / "config.json"),
                     "BF_LOAD_RESULTS": str(results), "PYTHONPATH": os.pathsep.join(
                         [str(ROOT / "src"), str(ROOT), str(ROOT / "bench")])},
                stdout=out, stderr=subprocess.STDOUT, check=False)
        if done.returncode != 0 or not results.exists():
            print(log.read_text(errors="replace")[-5000:])
            raise SystemExit(f"locust failed ({done.returncode})")
        figures: dict[str, Any] = json.loads(results.read_text())
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        figures["load_generator_cpu_seconds"] = round(
            after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime, 1)
        return figures


# --- the dispatcher's cycles from /metrics ----------------------------------------------------

BUCKET = re.compile(r'^borderflow_dispatcher_cycle_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\}'
                    r"\s+([0-9.eE+-]+)$")


def dispatcher_cycles(base: str) -> dict[float, float]:
    """The histogram's cumulative counts by upper bound (summed over processes)."""
    text = httpx.get(f"{base}/metrics", timeout=30).text
    out: dict[float, float] = {}
    for line in text.splitlines():
        m = BUCKET.match(line)
        if m:
            bound = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
            out[bound] = out.get(bound, 0.0) + float(m.group(2))
    return out


def cycle_figures(before: dict[float, float], after: dict[float, float]) -> dict[str, float]:
    """Cycles of the run and their p50/p99 (ms), interpolated within the histogram's buckets
    as Prometheus's histogram_quantile does."""
    delta = sorted((b, after.get(b, 0.0) - before.get(b, 0.0)) for b in after)
    count = delta[-1][1] if delta else 0.0
    return {"cycles": count, "p50_ms": _quantile(delta, count, 0.5),
            "p99_ms": _quantile(delta, count, 0.99)}


def _quantile(delta: list[tuple[float, float]], count: float, q: float) -> float:
    if count <= 0:
        return 0.0
    rank, lower, below = q * count, 0.0, 0.0
    for bound, cumulative in delta:
        if cumulative >= rank:
            if bound == float("inf"):
                return round(lower * 1000, 1)
            inside = cumulative - below
            share = (rank - below) / inside if inside else 1.0
            return round((lower + (bound - lower) * share) * 1000, 1)
        lower, below = bound, cumulative
    return round(lower * 1000, 1)


# --- the figures --------------------------------------------------------------------------------

def report(kind: str, out: dict[str, Any]) -> None:
    print(f"\n{kind}: {out['trucks']} trucks, {out['wall_seconds']:.0f} s of wall time, load "
          f"average after {out['load_average_after']}; Locust used "
          f"{out['load_generator_cpu_seconds']} s of CPU")
    print(f"{'request':<14}{'count':>9}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
          f"{'errors':>8}")
    for name, f in out["requests"].items():
        print(f"{name:<14}{f['count']:>9}{f['per_second']:>9.1f}{f['p50']:>9.1f}{f['p99']:>9.1f}"
              f"{f['max']:>9.1f}{f['errors']:>8}")
    for cls, f in out["classes"].items():
        print(f"{'[' + cls + ']':<14}{f['count']:>9}{f['per_second']:>9.1f}{f['p50']:>9.1f}"
              f"{f['p99']:>9.1f}{f['max']:>9.1f}{f['errors']:>8}")
    b = out["board_probe"]
    print(f"board panel asked by one light client beside the replay: {b['count']} times "
          f"({b['kept']} answered from the load balancer's cache, {b['errors']} errors), "
          f"p50 {b['p50']} / p90 {b['p90']} / p99 {b['p99']} ms")
    d = out["dispatcher"]
    print(f"dispatcher: {d['cycles']:.0f} cycles, p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms "
          f"(from /metrics)")
    lag = out["lag_ms"]
    print("replay lateness (ms, p50 / p99): " + ", ".join(
        f"{q} {v['p50']:.0f} / {v['p99']:.0f}" for q, v in lag.items()))
    print(f"counts: {out['counts']}")
    print(f"trucks called: waited in the park p50 {out['call_wait_minutes']['p50']:.0f} / p99 "
          f"{out['call_wait_minutes']['p99']:.0f} game minutes; declared to through p50 "
          f"{out['through_minutes']['p50']:.0f} game minutes")
    if out["errors"]:
        print(f"errors: {out['errors']}, by kind:")
        for kind, n in out["error_kinds"].items():
            print(f"  {n:>7} {kind}")
        print("the first answers of each request that failed:")
        for sample in out["error_samples"]:
            print(f"  {sample[:200]}")


def final(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    main = results.get("topology") or results["single"]
    single = results.get("single")

    def rps(r: dict[str, Any]) -> float:
        return sum(c["count"] for c in r["classes"].values()) / max(r["wall_seconds"], 1e-9)

    def p99_all(r: dict[str, Any]) -> float:
        return max(c["p99"] for c in r["classes"].values())

    summary: dict[str, Any] = {
        "trucks": main["trucks"], "speed": args.speed,
        "requests_per_second": round(rps(main), 1),
        "p99_ms_write": main["classes"]["write"]["p99"],
        "p99_ms_read": main["classes"]["read"]["p99"],
        "p99_ms_board": main["classes"]["board"]["p99"],
        "p99_ms_board_probe": main["board_probe"]["p99"],
        "errors": main["errors"],
        "dispatch_cycle_ms_p99": main["dispatcher"]["p99_ms"],
        "speedup_vs_single_process": round(rps(main) / rps(single), 3)
        if single is not None and "topology" in results else None,
    }
    if single is not None and "topology" in results:
        summary["p99_ratio_vs_single_process"] = round(p99_all(single) / max(p99_all(main),
                                                                              1e-9), 2)
        summary["errors_single_process"] = single["errors"]
    met = (main["errors"] == 0 and summary["p99_ms_write"] < TARGET_WRITE_MS
           and summary["p99_ms_board"] < TARGET_BOARD_MS)
    print(f"\ntargets (0 errors, p99 writes < {TARGET_WRITE_MS:.0f} ms, board < "
          f"{TARGET_BOARD_MS:.0f} ms): {'met' if met else 'NOT met'}")
    print(json.dumps(summary))


def _hhmm(seconds: float) -> str:
    return f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,  # noqa: S607
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("BENCH_COMMIT", "unknown")  # a copy of the tree (git archive)


if __name__ == "__main__":
    main()
