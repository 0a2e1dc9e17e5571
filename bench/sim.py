"""Benchmark of the scenario lab: one simulated year of the Lang Son baseline, and the same
gate-area model written directly in SimPy, run side by side on identical trucks.

Run from the repository root::

    .venv/bin/python bench/sim.py                # a year (365 days), seed 1
    .venv/bin/python bench/sim.py --days 30      # a shorter smoke run
    make bench-sim                               # installs SimPy (requirements-bench.lock)

What is measured, in one process:

1. **engine**: ``borderflow.sim`` on ``src/borderflow/data/scenarios/lang-son-baseline.yaml``
   for ``--days`` days: arrivals, staging, call-forward by the live policy (``choose_calls``
   every cycle, ``plan_reroutes`` over ``planner.plan`` every hour) and the gate-area stations;
   wall time from compiling the scenario to the last truck (kernel compilation excluded: it is
   cached after the first run);
2. **reference model, ours**: the compiled station recursion alone
   (``kernels.process_batch``), fed every truck's entry into its gate area, route, service
   times and applicable steps as the engine drew them;
3. **reference model, SimPy** (``bench/simpy_stations.py``): the same stations, servers,
   working hours and truck data, one SimPy process per truck and step.

Both reference models are the same model: their mean waits at the stations must agree (ties
aside); ``mean_wait_diff`` is the relative difference. ``speedup_vs_simpy`` divides the SimPy
time by the engine's time for the whole year (the engine does more: the call-forward with the
live policy); ``cpu_seconds`` is the engine's CPU time (the wall time suffers on a shared
machine); ``kernel_speedup`` divides it by the compiled recursion's time on the identical
model. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import simpy_stations  # noqa: E402

from borderflow.config import DEFAULT_SCENARIOS_DIR  # noqa: E402
from borderflow.sim import scenario as scenarios  # noqa: E402
from borderflow.sim.engine import simulate  # noqa: E402
from borderflow.sim.kernels import process_batch, warm_up  # noqa: E402
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
    parser.add_argument("--scenario", type=Path,
                        default=DEFAULT_SCENARIOS_DIR / "lang-son-baseline.yaml")
    args = parser.parse_args(argv)

    sc, network = scenarios.load(args.scenario)
    sc = sc.model_copy(update={"days": args.days, "warmup_days": min(2, args.days - 1)})
    warm_up()
    small = compile_model(sc.model_copy(update={"days": 2, "warmup_days": 1}), network,
                          np.random.default_rng(0))
    simulate(small)  # compiles process_batch (cached on disk after the first run)

    started = time.perf_counter()
    cpu = time.process_time()
    model = compile_model(sc, network, np.random.default_rng(args.seed))
    trace = simulate(model)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    trucks = model.trucks
    events = trace.events

    # the reference model: every truck that entered a gate area, as the engine drew it
    gate_in = trace.gate_in.copy()
    route = trace.route.copy()
    service = model.service
    applies = model.applies
    entered = np.flatnonzero(np.isfinite(gate_in))
    order = entered[np.argsort(gate_in[entered], kind="stable")]
    steps = model.service.shape[1]

    def ours() -> tuple[np.ndarray, int]:
        n_st = model.station_servers.shape[0]
        free = np.full((n_st, int(model.station_servers.max())), np.inf)
        for s in range(n_st):
            free[s, :model.station_servers[s]] = 0.0
        start = np.full((trucks, steps), np.nan)
        done = np.full((trucks, steps), np.nan)
        leave = np.full(trucks, np.nan)
        busy = np.zeros(n_st)
        services = process_batch(order, gate_in, route, service, applies, model.route_station,
                                 model.route_prereq, model.route_nsteps, model.station_gate,
                                 free, model.open_start, model.open_end, model.gate_off,
                                 start, done, leave, busy)
        return start, services

    ours()  # same-size warm call
    t0 = time.perf_counter()
    start_ours, services = ours()
    kernel_seconds = time.perf_counter() - t0
    ref_events = 2 * len(order) + 2 * services

    t0 = time.perf_counter()
    start_simpy = simpy_stations.run(
        gate_in, route, service, applies, model.route_station, model.route_prereq,
        model.route_nsteps, model.station_gate, model.station_servers, model.open_start,
        model.open_end, model.gate_off)
    simpy_seconds = time.perf_counter() - t0

    w_ours = waits(start_ours, service, applies, gate_in, route, model.route_prereq,
                   model.route_nsteps)
    w_simpy = waits(start_simpy, service, applies, gate_in, route, model.route_prereq,
                    model.route_nsteps)
    mean_ours, mean_simpy = float(w_ours.mean()), float(w_simpy.mean())
    diff = abs(mean_ours - mean_simpy) / mean_simpy if mean_simpy else 0.0

    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, {platform.system()}")
    print(f"scenario: {sc.name}, {args.days} days, seed {args.seed}")
    print(f"engine (live policy in the loop): {trucks:,} trucks, {events:,} events, "
          f"{seconds:.2f} s ({cpu_seconds:.2f} s of CPU), {events / seconds:,.0f} events/s")
    print(f"reference model, compiled recursion: {len(order):,} trucks, {services:,} services, "
          f"{kernel_seconds:.3f} s, {ref_events / kernel_seconds:,.0f} events/s")
    print(f"reference model, SimPy: {simpy_seconds:.2f} s, "
          f"{ref_events / simpy_seconds:,.0f} events/s")
    print(f"mean wait at the stations: ours {mean_ours:.3f} min, SimPy {mean_simpy:.3f} min "
          f"(relative difference {diff:.2e})")
    print(json.dumps({
        "trucks": trucks, "events": events, "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "simpy_seconds": round(simpy_seconds, 3),
        "speedup_vs_simpy": round(simpy_seconds / seconds, 2),
        "mean_wait_diff": round(diff, 6),
        "kernel_seconds": round(kernel_seconds, 4),
        "kernel_speedup": round(simpy_seconds / kernel_seconds, 1),
    }))


if __name__ == "__main__":
    main()
