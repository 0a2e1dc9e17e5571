"""The reference model of the gate areas, written directly in SimPy (the benchmark's baseline).

Every truck enters its gate area at a given time and passes the steps of its route; a step
waits for its prerequisites (steps that may run alongside each other do), then queues first
come first served for one of the station's servers; a server that takes a truck outside the
gate's working hours waits for the next opening before serving it. These are the rules of the
engine's gate areas (``borderflow.sim.kernels.GateAreas``, event by event); given the engine's
entries and service times both give the same start times (up to the order of exact ties).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy


def run(gate_in: np.ndarray, route: np.ndarray, service: np.ndarray, applies: np.ndarray,
        route_station: np.ndarray, route_prereq: np.ndarray, route_nsteps: np.ndarray,
        station_gate: np.ndarray, station_servers: np.ndarray, open_start: np.ndarray,
        open_end: np.ndarray, gate_off: np.ndarray) -> np.ndarray:
    """Start time of each (truck, step) (NaN where a step does not apply... or never
    starts within the calendar)."""
    env = simpy.Environment()
    stations = [simpy.Resource(env, capacity=int(c)) for c in station_servers]
    gates = len(gate_off) - 1
    opens = [open_start[gate_off[g]:gate_off[g + 1]].tolist() for g in range(gates)]
    closes = [open_end[gate_off[g]:gate_off[g + 1]].tolist() for g in range(gates)]
    n, steps = service.shape
    start = np.full((n, steps), np.nan)
    rs = route_station.tolist()
    rp = route_prereq.tolist()
    rn = route_nsteps.tolist()
    sg = station_gate.tolist()

    def next_open(g: int, t: float) -> float:
        ends = closes[g]
        if not ends:
            return t
        k = bisect_right(ends, t)
        if k >= len(ends):
            return float("inf")
        return max(t, float(opens[g][k]))

    def step(i: int, r: int, j: int, prereqs: list[Any], done: Any
             ) -> Generator[Any, Any, None]:
        yield simpy.AllOf(env, prereqs)
        if not applies[i, j]:
            start[i, j] = env.now
            done.succeed()
            return
        st = rs[r][j]
        with stations[st].request() as req:
            yield req
            t = next_open(sg[st], env.now)
            if t == float("inf"):
                return  # never served within the calendar
            if t > env.now:
                yield env.timeout(t - env.now)
            start[i, j] = env.now
            yield env.timeout(float(service[i, j]))
        done.succeed()

    def truck(i: int) -> Generator[Any, Any, None]:
        yield env.timeout(float(gate_in[i]))
        r = int(route[i])
        entered = env.event()
        entered.succeed()
        events: list[Any] = []
        for j in range(rn[r]):
            done = env.event()
            events.append(done)
            prereqs = [entered if p == -2 else events[p] for p in rp[r][j] if p != -1]
            env.process(step(i, r, j, prereqs, done))

    order = np.argsort(gate_in, kind="stable")
    for i in order.tolist():
        if np.isfinite(gate_in[i]):
            env.process(truck(i))
    env.run()
    return start
