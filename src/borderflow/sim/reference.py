"""The gate areas written plainly, event by event with :mod:`heapq`: the reference the compiled
model (:mod:`borderflow.sim.kernels`) is checked against, truck by truck.

Events are ``(time, kind, a, b)`` tuples handled in that order (kinds as in the kernels, and
``CALL`` last at an instant, since the engine decides its calls once the gate areas have
reached the cycle's instant):

* ``ARRIVE`` (truck ``a``): a truck of a route not regulated through a staging area reaches
  its gate and joins the gate's waiting line;
* ``CALL`` (call ``a``): a truck called forward takes its yard place; it reaches the gate area
  at its ``gate_in`` (``ENTER``), or, as a no-show, frees the place at its release time;
* ``ENTER`` (truck ``a``): the steps with no prerequisite but the entry become ready: in the
  route's order, a step that does not apply passes at once, the others join their station's
  queue;
* ``DONE`` (truck ``a``, step ``b``): the service ends; the truck's next steps become ready the
  same way (after the last one it leaves and frees its yard place: ``RELEASE``), then the
  server takes the next truck of its queue;
* ``RELEASE`` (yard ``a``), ``OPEN`` (gate ``a``), ``WAKE`` (station ``a``): a waiting truck
  may enter, an idle server may start.

A station's servers start services only while its gate is open, in the order trucks joined
its queue. A waiting truck enters while its gate is open and a yard of its route has room
(the yard with most room, the first of equals), the earliest arrived first.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from borderflow.sim.kernels import ARRIVE, DONE, ENTER, OPEN, RELEASE, WAKE

CALL = 6


@dataclass
class Times:
    """What happened to each truck in the gate areas."""

    gate_in: NDArray[np.float64]
    truck_yard: NDArray[np.int64]
    start: NDArray[np.float64]
    done: NDArray[np.float64]
    leave: NDArray[np.float64]


def run(*, arrival: NDArray[np.float64], route: NDArray[np.int64],
        service: NDArray[np.float64], applies: NDArray[np.bool_],
        route_station: NDArray[np.int64], route_prereq: NDArray[np.int64],
        route_nsteps: NDArray[np.int64], station_gate: NDArray[np.int64],
        station_servers: NDArray[np.int64], open_start: NDArray[np.float64],
        open_end: NDArray[np.float64], gate_off: NDArray[np.int64], direct: list[bool],
        route_gate: list[int], route_yards: list[tuple[int, ...]], yard_capacity: list[int],
        calls: list[tuple[float, int, int, float]], entries: dict[int, float],
        admit_until: float) -> Times:
    """Simulate the gate areas. ``calls``: (time, truck, yard, release) per call forward,
    ``release`` NaN when the truck comes (it then enters at ``entries[truck]``), else the
    time its no-show frees the place. Trucks of ``direct`` routes arrive at ``arrival``."""
    n, steps = service.shape
    gates = len(gate_off) - 1
    opens = [open_start[gate_off[g]:gate_off[g + 1]].tolist() for g in range(gates)]
    closes = [open_end[gate_off[g]:gate_off[g + 1]].tolist() for g in range(gates)]

    def next_open(g: int, t: float) -> float:
        if not closes[g]:
            return t  # no calendar: always open
        k = bisect_right(closes[g], t)
        return math.inf if k >= len(closes[g]) else max(t, opens[g][k])

    gate_in = np.full(n, np.inf)
    truck_yard = np.full(n, -1, dtype=np.int64)
    start = np.full((n, steps), np.nan)
    done = np.full((n, steps), np.nan)
    leave = np.full(n, np.nan)
    occupied = [0] * len(yard_capacity)
    waiting: list[deque[int]] = [deque() for _ in route_nsteps]
    queue: list[deque[tuple[int, int]]] = [deque() for _ in station_servers]
    busy = [0] * len(station_servers)
    readied: set[tuple[int, int]] = set()
    remaining = [0] * n
    events: list[tuple[float, int, int, int]] = []

    def push(t: float, kind: int, a: int, b: int = 0) -> None:
        heapq.heappush(events, (t, kind, a, b))

    for i in range(n):
        if direct[int(route[i])]:
            push(float(arrival[i]), ARRIVE, i)
    for k, call in enumerate(calls):
        push(call[0], CALL, k)

    def admit(routes: list[int], now: float) -> None:
        if now > admit_until:
            return
        while True:
            best: tuple[int, int, int] | None = None
            for r in routes:
                if not waiting[r]:
                    continue
                g = route_gate[r]
                t_open = next_open(g, now)
                if t_open > now:
                    if t_open < math.inf:
                        push(t_open, OPEN, g)
                    continue
                rooms = [(yard_capacity[y] - occupied[y], y) for y in route_yards[r]]
                room, y = max(rooms, key=lambda fy: fy[0], default=(0, -1))
                if room <= 0:
                    continue
                i = waiting[r][0]
                if best is None or i < best[0]:
                    best = (i, r, y)
            if best is None:
                return
            i, r, y = best
            waiting[r].popleft()
            occupied[y] += 1
            truck_yard[i] = y
            gate_in[i] = now
            push(now, ENTER, i)

    def progress(i: int, now: float) -> None:
        """Truck ``i`` entered or passed a step: its steps whose prerequisites are passed,
        in the route's order, pass at once (not applying) or join their station's queue;
        after the last one it leaves."""
        r = int(route[i])
        for j in range(int(route_nsteps[r])):
            if (i, j) in readied:
                continue
            pre = [int(p) for p in route_prereq[r, j] if p != -1]
            if not all(p == -2 or not np.isnan(done[i, p]) for p in pre):
                continue
            readied.add((i, j))
            if not applies[i, j]:
                start[i, j] = done[i, j] = now
                remaining[i] -= 1
            else:
                st = int(route_station[r, j])
                queue[st].append((i, j))
                serve(st, now)
        if remaining[i] == 0:
            leave[i] = now
            if truck_yard[i] >= 0:
                push(now, RELEASE, int(truck_yard[i]))

    def serve(st: int, now: float) -> None:
        while busy[st] < station_servers[st] and queue[st]:
            t_open = next_open(int(station_gate[st]), now)
            if t_open > now:
                if t_open < math.inf:
                    push(t_open, WAKE, st)
                return
            i, j = queue[st].popleft()
            start[i, j] = now
            busy[st] += 1
            push(now + float(service[i, j]), DONE, i, j)

    direct_of_yard = [[r for r, ys in enumerate(route_yards) if direct[r] and y in ys]
                      for y in range(len(yard_capacity))]
    direct_of_gate = [[r for r in range(len(route_gate)) if direct[r] and route_gate[r] == g]
                      for g in range(gates)]
    while events:
        now, kind, a, b = heapq.heappop(events)
        if kind == ARRIVE:
            r = int(route[a])
            waiting[r].append(a)
            admit([r], now)
        elif kind == CALL:
            _t, i, y, release = calls[a]
            occupied[y] += 1
            if math.isnan(release):
                truck_yard[i] = y
                gate_in[i] = entries[i]
                push(entries[i], ENTER, i)
            else:
                push(release, RELEASE, y)
        elif kind == ENTER:
            remaining[a] = int(route_nsteps[int(route[a])])
            progress(a, now)
        elif kind == DONE:
            st = int(route_station[int(route[a]), b])
            busy[st] -= 1
            done[a, b] = now
            remaining[a] -= 1
            progress(a, now)
            serve(st, now)
        elif kind == RELEASE:
            occupied[a] -= 1
            admit(direct_of_yard[a], now)
        elif kind == OPEN:
            admit(direct_of_gate[a], now)
        else:  # WAKE
            serve(a, now)
    return Times(gate_in=gate_in, truck_yard=truck_yard, start=start, done=done, leave=leave)
