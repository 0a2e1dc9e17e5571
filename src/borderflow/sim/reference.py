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
    model = _GateAreas(
        arrival=arrival, route=route, service=service, applies=applies,
        route_station=route_station, route_prereq=route_prereq, route_nsteps=route_nsteps,
        station_gate=station_gate, station_servers=station_servers, open_start=open_start,
        open_end=open_end, gate_off=gate_off, direct=direct, route_gate=route_gate,
        route_yards=route_yards, yard_capacity=yard_capacity, calls=calls, entries=entries,
        admit_until=admit_until)
    while model.events:
        model.handle(*heapq.heappop(model.events))
    return Times(gate_in=model.gate_in, truck_yard=model.truck_yard, start=model.start,
                 done=model.done, leave=model.leave)


class _GateAreas:
    """The state of the gate areas and what each kind of event does to it."""

    def __init__(self, *, arrival: NDArray[np.float64], route: NDArray[np.int64],
                 service: NDArray[np.float64], applies: NDArray[np.bool_],
                 route_station: NDArray[np.int64], route_prereq: NDArray[np.int64],
                 route_nsteps: NDArray[np.int64], station_gate: NDArray[np.int64],
                 station_servers: NDArray[np.int64], open_start: NDArray[np.float64],
                 open_end: NDArray[np.float64], gate_off: NDArray[np.int64],
                 direct: list[bool], route_gate: list[int],
                 route_yards: list[tuple[int, ...]], yard_capacity: list[int],
                 calls: list[tuple[float, int, int, float]], entries: dict[int, float],
                 admit_until: float) -> None:
        n, steps = service.shape
        gates = len(gate_off) - 1
        self.route, self.service, self.applies = route, service, applies
        self.route_station, self.route_prereq = route_station, route_prereq
        self.route_nsteps, self.station_gate = route_nsteps, station_gate
        self.station_servers, self.route_gate = station_servers, route_gate
        self.route_yards, self.yard_capacity = route_yards, yard_capacity
        self.calls, self.entries, self.admit_until = calls, entries, admit_until
        self.opens = [open_start[gate_off[g]:gate_off[g + 1]].tolist() for g in range(gates)]
        self.closes = [open_end[gate_off[g]:gate_off[g + 1]].tolist() for g in range(gates)]
        self.gate_in = np.full(n, np.inf)
        self.truck_yard = np.full(n, -1, dtype=np.int64)
        self.start = np.full((n, steps), np.nan)
        self.done = np.full((n, steps), np.nan)
        self.leave = np.full(n, np.nan)
        self.occupied = [0] * len(yard_capacity)
        self.waiting: list[deque[int]] = [deque() for _ in route_nsteps]
        self.queue: list[deque[tuple[int, int]]] = [deque() for _ in station_servers]
        self.busy = [0] * len(station_servers)
        self.readied: set[tuple[int, int]] = set()
        self.remaining = [0] * n
        self.events: list[tuple[float, int, int, int]] = []
        self.direct_of_yard = [[r for r, ys in enumerate(route_yards) if direct[r] and y in ys]
                               for y in range(len(yard_capacity))]
        self.direct_of_gate = [[r for r in range(len(route_gate))
                                if direct[r] and route_gate[r] == g] for g in range(gates)]
        for i in range(n):
            if direct[int(route[i])]:
                self.push(float(arrival[i]), ARRIVE, i)
        for k, call in enumerate(calls):
            self.push(call[0], CALL, k)

    def next_open(self, g: int, t: float) -> float:
        if not self.closes[g]:
            return t  # no calendar: always open
        k = bisect_right(self.closes[g], t)
        return math.inf if k >= len(self.closes[g]) else max(t, self.opens[g][k])

    def push(self, t: float, kind: int, a: int, b: int = 0) -> None:
        heapq.heappush(self.events, (t, kind, a, b))

    def handle(self, now: float, kind: int, a: int, b: int) -> None:
        if kind == ARRIVE:
            r = int(self.route[a])
            self.waiting[r].append(a)
            self.admit([r], now)
        elif kind == CALL:
            _t, i, y, release = self.calls[a]
            self.occupied[y] += 1
            if math.isnan(release):
                self.truck_yard[i] = y
                self.gate_in[i] = self.entries[i]
                self.push(self.entries[i], ENTER, i)
            else:
                self.push(release, RELEASE, y)
        elif kind == ENTER:
            self.remaining[a] = int(self.route_nsteps[int(self.route[a])])
            self.progress(a, now)
        elif kind == DONE:
            st = int(self.route_station[int(self.route[a]), b])
            self.busy[st] -= 1
            self.done[a, b] = now
            self.remaining[a] -= 1
            self.progress(a, now)
            self.serve(st, now)
        elif kind == RELEASE:
            self.occupied[a] -= 1
            self.admit(self.direct_of_yard[a], now)
        elif kind == OPEN:
            self.admit(self.direct_of_gate[a], now)
        else:  # WAKE
            self.serve(a, now)

    def admit(self, routes: list[int], now: float) -> None:
        if now > self.admit_until:
            return
        while True:
            best = self._first_to_enter(routes, now)
            if best is None:
                return
            i, r, y = best
            self.waiting[r].popleft()
            self.occupied[y] += 1
            self.truck_yard[i] = y
            self.gate_in[i] = now
            self.push(now, ENTER, i)

    def _first_to_enter(self, routes: list[int], now: float) -> tuple[int, int, int] | None:
        """The earliest arrived waiting truck whose gate is open and whose route has a yard
        with room (the yard with most room), or None."""
        best: tuple[int, int, int] | None = None
        for r in routes:
            if not self.waiting[r]:
                continue
            g = self.route_gate[r]
            t_open = self.next_open(g, now)
            if t_open > now:
                if t_open < math.inf:
                    self.push(t_open, OPEN, g)
                continue
            rooms = [(self.yard_capacity[y] - self.occupied[y], y) for y in self.route_yards[r]]
            room, y = max(rooms, key=lambda fy: fy[0], default=(0, -1))
            if room <= 0:
                continue
            i = self.waiting[r][0]
            if best is None or i < best[0]:
                best = (i, r, y)
        return best

    def progress(self, i: int, now: float) -> None:
        """Truck ``i`` entered or passed a step: its steps whose prerequisites are passed,
        in the route's order, pass at once (not applying) or join their station's queue;
        after the last one it leaves."""
        r = int(self.route[i])
        for j in range(int(self.route_nsteps[r])):
            if (i, j) in self.readied:
                continue
            pre = [int(p) for p in self.route_prereq[r, j] if p != -1]
            if not all(p == -2 or not np.isnan(self.done[i, p]) for p in pre):
                continue
            self.readied.add((i, j))
            if not self.applies[i, j]:
                self.start[i, j] = self.done[i, j] = now
                self.remaining[i] -= 1
            else:
                st = int(self.route_station[r, j])
                self.queue[st].append((i, j))
                self.serve(st, now)
        if self.remaining[i] == 0:
            self.leave[i] = now
            if self.truck_yard[i] >= 0:
                self.push(now, RELEASE, int(self.truck_yard[i]))

    def serve(self, st: int, now: float) -> None:
        while self.busy[st] < self.station_servers[st] and self.queue[st]:
            t_open = self.next_open(int(self.station_gate[st]), now)
            if t_open > now:
                if t_open < math.inf:
                    self.push(t_open, WAKE, st)
                return
            i, j = self.queue[st].popleft()
            self.start[i, j] = now
            self.busy[st] += 1
            self.push(now + float(self.service[i, j]), DONE, i, j)
