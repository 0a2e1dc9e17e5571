"""Benchmark of the scenario lab: one simulated year of the Lang Son baseline, and the same
gate-area model written directly in SimPy, run side by side on identical trucks.

Run from the repository root::

    .venv/bin/python bench/sim.py                # a year (365 days), seed 1
    .venv/bin/python bench/sim.py --days 30      # a shorter smoke run
    make bench-sim                               # installs SimPy (requirements-bench.lock)

What is measured, in one process:

1. **engine**: ``borderflow.sim`` on ``src/borderflow/data/scenarios/lang-son-baseline.yaml``
   for ``--days`` days, exactly as the scenario lab runs it: arrivals, staging, call-forward by
   the live policy (``choose_calls`` every cycle, ``plan_reroutes`` over ``planner.plan`` every
   hour) and the gate areas event by event (``kernels.GateAreas``); wall time from compiling
   the scenario to the last truck (kernel compilation excluded: it is cached on disk);
2. **SimPy** (``bench/simpy_stations.py``): the same gate-area stations, servers, working
   hours and truck data (each truck's entry into its gate area, route, service times and
   applicable steps as the engine drew and decided them), one SimPy process per truck and
   step;
3. **compiled stations alone**: ``kernels.stations_only`` on the same entries (the engine's
   event kernel without the call-forward around it).

The engine runs as the scenario lab runs it: compiled with mypyc when ``make install``
built it for this source (``docs/simulation.md``, "The compiled engine"), then also timed from
its Python source (``source_seconds``, best of ``--repeat``; the same calls are checked);
``BORDERFLOW_NATIVE=0`` times the source only.

``mean_wait_diff`` is the relative difference between the mean wait at the stations in the
engine's own run and in SimPy's on the same trucks (they differ only by the order of exact
ties). ``speedup_vs_simpy`` divides the SimPy time by the engine's time for the whole run (the
engine does more: the call-forward with the live policy); ``cpu_seconds`` is the engine's CPU
time and ``simpy_cpu_seconds`` SimPy's, measured side by side in the same run
(``speedup_vs_simpy_cpu`` their ratio: the wall time suffers on a shared machine, and
``load`` is the 1-minute load average at the end); ``kernel_speedup`` divides the SimPy time by
the compiled stations' time alone. Each of the three is timed ``--repeat`` times (default
3) and its best time counts (``seconds``, ``simpy_seconds``, ``kernel_seconds``; the CPU
times are those of the same best runs); every run gives the same trucks and times. The last
line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import simpy_stations  # noqa: E402

from borderflow import native  # noqa: E402
from borderflow.config import DEFAULT_SCENARIOS_DIR  # noqa: E402
from borderflow.sim import engine  # noqa: E402
from borderflow.sim import scenario as scenarios  # noqa: E402
from borderflow.sim.engine import simulate  # noqa: E402
from borderflow.sim.kernels import stations_only, warm_up  # noqa: E402
from borderflow.sim.model import compile_model  # noqa: E402


def waits(start: np.ndarray, service: np.ndarray, applies: np.ndarray, gate_in: np.ndarray,
          route: np.ndarray, route_prereq: np.ndarray, route_nsteps: np.ndarray
          ) -> np.ndarray:
    """Wait of every applicable (truck, step): start less the time its prerequisites were
    done."""
    done = start + np.where(applies, service, 0.0)
    out = []
    for r in range(route_nsteps.shape[0]):
        mine = np.flatnonzero((route == r) & np.isfinite(gate_in))
        for j in range(int(route_nsteps[r])):
            ready = np.full(mine.shape[0], -np.inf)
            for p in route_prereq[r, j]:
                if p == -1:
                    break
                ready = np.maximum(ready, gate_in[mine] if p == -2 else done[mine, p])
            ok = applies[mine, j] & np.isfinite(start[mine, j])
            out.append(start[mine, j][ok] - ready[ok])
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3,
                        help="time each of engine, SimPy and stations alone this many times; "
                             "the best counts")
    parser.add_argument("--scenario", type=Path,
                        default=DEFAULT_SCENARIOS_DIR / "lang-son-baseline.yaml")
    args = parser.parse_args(argv)

    sc, network = scenarios.load(args.scenario)
    sc = sc.model_copy(update={"days": args.days, "warmup_days": min(2, args.days - 1)})
    warm_up()
    small = compile_model(sc.model_copy(update={"days": 2, "warmup_days": 1}), network,
                          np.random.default_rng(0))
    simulate(small)  # compiles the gate areas (cached on disk after the first run)

    seconds = cpu_seconds = math.inf
    for _ in range(args.repeat):
        started = time.perf_counter()
        cpu = time.process_time()
        model = compile_model(sc, network, np.random.default_rng(args.seed))
        trace = simulate(model)
        took = time.perf_counter() - started
        if took < seconds:
            seconds, cpu_seconds = took, time.process_time() - cpu
        print(f"engine run: {took:.3f} s", flush=True)
    trucks = model.trucks
    events = trace.events

    # the engine from its Python source, for the compiled modules' share (borderflow.native)
    is_compiled = native.active(engine)
    source_seconds = math.nan
    if is_compiled:
        source = native.load_source("borderflow.sim.engine")
        for _ in range(args.repeat):
            started = time.perf_counter()
            again = source.simulate(compile_model(sc, network, np.random.default_rng(args.seed)))
            took = time.perf_counter() - started
            source_seconds = took if math.isnan(source_seconds) else min(source_seconds, took)
            print(f"engine run from the Python source: {took:.3f} s", flush=True)
        if not np.array_equal(again.called_at, trace.called_at, equal_nan=True):
            raise SystemExit("the compiled engine and its source called other trucks")

    # the same trucks, as the engine drew them and let them in, through SimPy
    gate_in = trace.gate_in.copy()
    route = trace.route.copy()
    service = model.service
    applies = model.applies
    entered = int(np.isfinite(gate_in).sum())

    def compiled() -> tuple[np.ndarray, int]:
        start, _done, _leave, services = stations_only(
            gate_in, route, service, applies, model.route_station, model.route_prereq,
            model.route_nsteps, model.station_gate, model.station_servers, model.open_start,
            model.open_end, model.gate_off)
        return start, services

    kernel_seconds = math.inf
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        start_kernel, services = compiled()
        kernel_seconds = min(kernel_seconds, time.perf_counter() - t0)
    ref_events = 2 * entered + 2 * services

    simpy_seconds = simpy_cpu = math.inf
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        start_simpy = simpy_stations.run(
            gate_in, route, service, applies, model.route_station, model.route_prereq,
            model.route_nsteps, model.station_gate, model.station_servers, model.open_start,
            model.open_end, model.gate_off)
        took = time.perf_counter() - t0
        if took < simpy_seconds:
            simpy_seconds, simpy_cpu = took, time.process_time() - cpu0
        print(f"SimPy run: {took:.3f} s", flush=True)

    def mean_wait(start: np.ndarray) -> float:
        return float(waits(start, service, applies, gate_in, route, model.route_prereq,
                           model.route_nsteps).mean())

    mean_engine, mean_simpy = mean_wait(trace.start), mean_wait(start_simpy)
    mean_kernel = mean_wait(start_kernel)
    diff = abs(mean_engine - mean_simpy) / mean_simpy if mean_simpy else 0.0
    same_starts = float(np.mean(np.isclose(trace.start, start_simpy, rtol=0, atol=1e-6)
                                [applies & np.isfinite(start_simpy)]))

    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    print(f"CPU time: engine {cpu_seconds:.2f} s, SimPy {simpy_cpu:.2f} s "
          f"({simpy_cpu / cpu_seconds:.1f}x)")
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, {platform.system()}")
    print(f"scenario: {sc.name}, {args.days} days, seed {args.seed}, best of {args.repeat} "
          "runs each")
    print(f"engine (live policy in the loop): {trucks:,} trucks, {events:,} events, "
          f"{seconds:.2f} s ({cpu_seconds:.2f} s of CPU), {events / seconds:,.0f} events/s")
    print("engine modules: " + (
        f"compiled (mypyc); from their Python source {source_seconds:.2f} s, "
        f"{source_seconds / seconds:.2f}x the compiled time, the same calls" if is_compiled
        else "the Python source (no compiled build, or BORDERFLOW_NATIVE=0)"))
    print(f"SimPy, same gate areas and trucks: {entered:,} trucks, {services:,} services, "
          f"{simpy_seconds:.2f} s, {ref_events / simpy_seconds:,.0f} events/s; "
          f"engine {simpy_seconds / seconds:.1f}x faster")
    print(f"compiled stations alone, same trucks: {kernel_seconds:.3f} s, "
          f"{ref_events / kernel_seconds:,.0f} events/s, "
          f"{simpy_seconds / kernel_seconds:.0f}x faster than SimPy")
    print(f"mean wait at the stations: engine {mean_engine:.3f} min, SimPy {mean_simpy:.3f} min "
          f"(relative difference {diff:.2e}), stations alone {mean_kernel:.3f} min; "
          f"{same_starts:.2%} of services start at the same minute in both")
    year = args.days / 365
    print(f"targets: a simulated year in at most 4 s: {seconds / year:.2f} s "
          f"({cpu_seconds / year:.2f} s of CPU, scaled to 365 days), ratio "
          f"{seconds / year / 4:.2f}; "
          f"at least 10x faster than SimPy: {simpy_seconds / seconds:.1f}x, ratio "
          f"{simpy_seconds / seconds / 10:.2f}; mean_wait_diff at most 1%: {diff:.2%}")
    print(json.dumps({
        "trucks": trucks, "events": events, "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "simpy_seconds": round(simpy_seconds, 3),
        "simpy_cpu_seconds": round(simpy_cpu, 3),
        "speedup_vs_simpy_cpu": round(simpy_cpu / cpu_seconds, 2),
        "load": round(os.getloadavg()[0], 2),
        "speedup_vs_simpy": round(simpy_seconds / seconds, 2),
        "mean_wait_diff": round(diff, 6),
        "kernel_seconds": round(kernel_seconds, 4),
        "kernel_speedup": round(simpy_seconds / kernel_seconds, 1),
        "repeat": args.repeat,
        "compiled": is_compiled,
        "source_seconds": round(source_seconds, 3) if is_compiled else None,
    }))


if __name__ == "__main__":
    main()
