"""Compiled inner loops: multi-server FIFO stations with working hours.

A station has ``c`` servers; each keeps the time it becomes free. A truck arriving at ``a`` is
served by the server that frees first, from ``max(a, free)`` moved to the next open instant of
its gate's working hours (a service that has started runs to its end). Trucks are taken in
order of arrival at the station (first come first served): this is the multi-server FIFO
recursion, exact for a FIFO station and equal to what an event-by-event simulation gives.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

INF = np.inf


@numba.njit(cache=True)
def _next_open(t: float, open_start: Any, open_end: Any, lo: int, hi: int) -> float:
    """The first instant >= t inside one of the gate's open intervals [lo, hi), inf if none."""
    if hi <= lo:
        return t  # no calendar: always open
    k = lo + np.searchsorted(open_end[lo:hi], t, side="right")
    if k >= hi:
        return INF
    s = open_start[k]
    return s if s > t else t


@numba.njit(cache=True)
def fifo_station(arrival: Any, service: Any, servers: int, open_start: Any,
                 open_end: Any) -> Any:
    """Start times at one station for trucks sorted by arrival (one call, all trucks)."""
    n = arrival.shape[0]
    free = np.zeros(servers)
    start = np.empty(n)
    m = open_start.shape[0]
    for i in range(n):
        k = 0
        for j in range(1, servers):
            if free[j] < free[k]:
                k = j
        t = arrival[i] if arrival[i] > free[k] else free[k]
        t = _next_open(t, open_start, open_end, 0, m)
        start[i] = t
        free[k] = t + service[i]
    return start


@numba.njit(cache=True)
def process_batch(trucks: Any, gate_in: Any, route: Any, service: Any, applies: Any,
                  route_station: Any, route_prereq: Any, route_nsteps: Any, station_gate: Any,
                  free: Any, open_start: Any, open_end: Any, gate_off: Any,
                  start_out: Any, done_out: Any, leave_out: Any, busy: Any) -> int:
    """Push a batch of trucks that entered their gate area at ``gate_in`` through the stations
    of their route (gate and direction). ``route_station[r, j]`` is the station of the route's
    j-th step (steps in an order where prerequisites come first), ``route_prereq[r, j, :]``
    the step indexes it waits for (-2: entry into the gate area, -1: padding). Writes start
    and done times per (truck, step), each truck's leave time, and adds busy minutes per
    station; returns the number of services performed."""
    n = trucks.shape[0]
    services = 0
    arr = np.empty(n)
    for r in range(route_nsteps.shape[0]):
        count = 0
        for i in range(n):
            if route[trucks[i]] == r:
                count += 1
        if count == 0:
            continue
        mine = np.empty(count, dtype=np.int64)
        count = 0
        for i in range(n):
            if route[trucks[i]] == r:
                mine[count] = trucks[i]
                count += 1
        for j in range(route_nsteps[r]):
            st = route_station[r, j]
            g = station_gate[st]
            lo = gate_off[g]
            hi = gate_off[g + 1]
            for q in range(count):
                t = mine[q]
                a = -INF
                for p in range(route_prereq.shape[2]):
                    pj = route_prereq[r, j, p]
                    if pj == -1:
                        break
                    v = gate_in[t] if pj == -2 else done_out[t, pj]
                    if v > a:
                        a = v
                arr[q] = a
            order = np.argsort(arr[:count], kind="mergesort")
            for q in range(count):
                t = mine[order[q]]
                a = arr[order[q]]
                if not applies[t, j]:
                    start_out[t, j] = a
                    done_out[t, j] = a
                    continue
                k = 0
                for s in range(1, free.shape[1]):
                    if free[st, s] < free[st, k]:
                        k = s
                b = a if a > free[st, k] else free[st, k]
                b = _next_open(b, open_start, open_end, lo, hi)
                d = b + service[t, j]
                start_out[t, j] = b
                done_out[t, j] = d
                free[st, k] = d
                if d < INF:
                    busy[st] += service[t, j]
                services += 1
        for q in range(count):
            t = mine[q]
            last = gate_in[t]
            for j in range(route_nsteps[r]):
                if done_out[t, j] > last:
                    last = done_out[t, j]
            leave_out[t] = last
    return services


def warm_up() -> None:
    """Compile the kernels once (the first call of a process takes about a second)."""
    z = np.zeros(1)
    fifo_station(z, z, 1, np.zeros(0), np.zeros(0))
