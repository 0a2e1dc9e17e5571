"""Compiled inner loops: the gate areas event by event, and one multi-server FIFO station.

The gate areas (:class:`GateAreas`, compiled :func:`advance`) are a discrete-event simulation
with one heap of timed events: trucks reaching a gate not regulated through a staging area,
entering a gate area, becoming ready for a step, starting and ending services, freeing yard
places, gates opening. Each station has ``c`` servers and serves its queue in the order the
trucks really reach it (first come first served; exact ties by truck, then step); a server
starts a service only while its gate is open, and a service that has started runs to its end.
The dispatch cycles of the engine only decide who is called into a gate area: the engine
hands over each called truck with the time it reaches the gate, and advances the gate areas
to each cycle's instant before deciding the next calls (so it sees every place freed by then).
:mod:`borderflow.sim.reference` is the same model written plainly with :mod:`heapq`; the
tests check that both give the same times truck by truck.

:func:`fifo_station` is the multi-server FIFO recursion for a single station whose customers
arrive in a known order (exact for one FIFO station; used by the tests against Erlang C).
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


# --- the gate areas, event by event ------------------------------------------------------------

DONE, RELEASE, OPEN, ARRIVE, ENTER, READY, WAKE = 0, 1, 2, 3, 4, 5, 6
"""Kinds of event, in the order they are handled at the same instant (then by truck, step)."""
NO_TRUCK = -1


@numba.njit(cache=True)
def _less(t1: float, c1: int, t2: float, c2: int) -> bool:
    return t1 < t2 or (t1 == t2 and c1 < c2)


@numba.njit(cache=True)
def _push(ht: Any, hc: Any, size: int, t: float, code: int) -> int:
    """Add an event to the binary heap ``(ht, hc)`` of ``size`` events; returns the new size."""
    k = size
    while k > 0:
        p = (k - 1) >> 1
        if _less(t, code, ht[p], hc[p]):
            ht[k] = ht[p]
            hc[k] = hc[p]
            k = p
        else:
            break
    ht[k] = t
    hc[k] = code
    return size + 1


@numba.njit(cache=True)
def _pop(ht: Any, hc: Any, size: int) -> int:
    """Remove the first event (read it at index 0 before); returns the new size."""
    size -= 1
    t = ht[size]
    c = hc[size]
    k = 0
    while True:
        a = 2 * k + 1
        if a >= size:
            break
        b = a + 1
        if b < size and _less(ht[b], hc[b], ht[a], hc[a]):
            a = b
        if _less(ht[a], hc[a], t, c):
            ht[k] = ht[a]
            hc[k] = hc[a]
            k = a
        else:
            break
    ht[k] = t
    hc[k] = c
    return size


@numba.njit(cache=True)
def _gate_next_open(t: float, g: int, open_start: Any, open_end: Any, gate_off: Any) -> float:
    return _next_open(t, open_start, open_end, gate_off[g], gate_off[g + 1])


@numba.njit(cache=True)
def _dispatch(st: int, now: float, ht: Any, hc: Any, size: int, ctr: Any, servers: Any,
              busy_n: Any, busy: Any, q_head: Any, q_tail: Any, q_next: Any, wake_at: Any,
              station_gate: Any, open_start: Any, open_end: Any, gate_off: Any, service: Any,
              start: Any, big: int, nst: int) -> int:
    """Free servers of station ``st`` take the trucks at the head of its queue, while the gate
    is open; when it is closed the station wakes at the next opening. Returns the heap size."""
    while busy_n[st] < servers[st] and q_head[st] >= 0:
        t0 = _gate_next_open(now, station_gate[st], open_start, open_end, gate_off)
        if t0 > now:
            if t0 < INF and wake_at[st] != t0:
                wake_at[st] = t0
                size = _push(ht, hc, size, t0, WAKE * big + st * nst)
            break
        key = q_head[st]
        q_head[st] = q_next[key]
        if q_head[st] < 0:
            q_tail[st] = -1
        i = key // nst
        j = key - i * nst
        start[i, j] = now
        busy_n[st] += 1
        busy[st] += service[i, j]
        ctr[1] += 1
        size = _push(ht, hc, size, now + service[i, j], DONE * big + key)
    return size


@numba.njit(cache=True)
def _admit(lo: int, hi: int, routes_of: Any, now: float, ht: Any, hc: Any, size: int,
           dir_trucks: Any, dir_head: Any, dir_arrived: Any, route_gate: Any, ry_off: Any,
           ry: Any, yard_cap: Any, yard_occ: Any, open_at: Any, open_start: Any,
           open_end: Any, gate_off: Any, gate_in: Any, called_at: Any, truck_yard: Any,
           big: int, nst: int) -> int:
    """Trucks waiting at the gates of the routes ``routes_of[lo:hi]`` (not regulated through a
    staging area) enter their gate area now, the earliest arrived first, while their gate is
    open and a yard of their route has room (the yard with most room); a closed gate is looked
    at again when it opens. Returns the heap size."""
    while True:
        best = -1
        best_r = -1
        best_y = -1
        for q in range(lo, hi):
            r = routes_of[q]
            h = dir_head[r]
            if h >= dir_arrived[r]:
                continue
            g = route_gate[r]
            t0 = _gate_next_open(now, g, open_start, open_end, gate_off)
            if t0 > now:
                if t0 < INF and open_at[g] != t0:
                    open_at[g] = t0
                    size = _push(ht, hc, size, t0, OPEN * big + g * nst)
                continue
            y = -1
            room = 0
            for k in range(ry_off[r], ry_off[r + 1]):
                f = yard_cap[ry[k]] - yard_occ[ry[k]]
                if f > room:
                    room = f
                    y = ry[k]
            if y < 0:
                continue
            i = dir_trucks[h]
            if best < 0 or i < best:
                best = i
                best_r = r
                best_y = y
        if best < 0:
            return size
        dir_head[best_r] += 1
        yard_occ[best_y] += 1
        truck_yard[best] = best_y
        gate_in[best] = now
        called_at[best] = now
        size = _push(ht, hc, size, now, ENTER * big + best * nst)


@numba.njit(cache=True)
def _ready(i: int, now: float, ht: Any, hc: Any, size: int, r: int, route_prereq: Any,
           route_nsteps: Any, readied: Any, done: Any, big: int, nst: int) -> int:
    """The steps of truck ``i`` whose prerequisites are all passed become ready now."""
    for k in range(route_nsteps[r]):
        if readied[i, k]:
            continue
        ok = True
        for q in range(route_prereq.shape[2]):
            pj = route_prereq[r, k, q]
            if pj == -1:
                break
            if pj >= 0 and np.isnan(done[i, pj]):
                ok = False
                break
        if ok:
            readied[i, k] = True
            size = _push(ht, hc, size, now, READY * big + i * nst + k)
    return size


@numba.njit(cache=True)
def _finished(i: int, now: float, ht: Any, hc: Any, size: int, r: int, route_prereq: Any,
              route_nsteps: Any, remaining: Any, readied: Any, done: Any, leave: Any,
              truck_yard: Any, big: int, nst: int) -> int:
    """A step of truck ``i`` passed now: after its last one it leaves the gate area and frees
    its yard place, else its next steps may become ready."""
    remaining[i] -= 1
    if remaining[i] == 0:
        leave[i] = now
        if truck_yard[i] >= 0:
            size = _push(ht, hc, size, now, RELEASE * big + truck_yard[i] * nst)
        return size
    return _ready(i, now, ht, hc, size, r, route_prereq, route_nsteps, readied, done, big, nst)


@numba.njit(cache=True)
def advance(t_end: float, admit_until: float, ht: Any, hc: Any, ctr: Any,
            route: Any, service: Any, applies: Any, route_station: Any, route_prereq: Any,
            route_nsteps: Any, station_gate: Any, servers: Any, open_start: Any, open_end: Any,
            gate_off: Any, arrival: Any, dir_all: Any, dir_trucks: Any,
            dir_head: Any, dir_arrived: Any, route_gate: Any, ry_off: Any, ry: Any,
            yr_off: Any, yr: Any, gr_off: Any, gr: Any, all_routes: Any, yard_cap: Any,
            yard_occ: Any,
            busy_n: Any, busy: Any, q_head: Any, q_tail: Any, q_next: Any, wake_at: Any,
            open_at: Any, remaining: Any, readied: Any, gate_in: Any, called_at: Any,
            truck_yard: Any, start: Any, done: Any, leave: Any, margin: int) -> bool:
    """Handle, in time order, every event up to ``t_end`` (inclusive) in the gate areas:

    * ``ARRIVE``: a truck of a route not regulated through a staging area reaches its gate
      and waits (first come first served) to enter the gate area;
    * ``ENTER``: a truck enters its gate area; the steps whose prerequisites are passed
      become ``READY``;
    * ``READY``: a truck joins the queue of a step's station (a step that does not apply to
      it passes at once);
    * ``DONE``: a service ends; the server takes the next truck of the queue, and the truck's
      next steps become ready; after its last step the truck leaves and frees its yard place;
    * ``RELEASE``: a yard place is freed (a truck left, or a no-show's grace time ran out);
    * ``OPEN``/``WAKE``: a gate opens: waiting trucks enter, idle servers start.

    Every station serves its queue first come first served (ties by truck and step) and starts
    a service only while its gate is open. Trucks enter a gate area only up to
    ``admit_until``. ``ctr`` holds the heap size, the services started and how many trucks of
    ``dir_all`` (the routes not regulated, in arrival order) have arrived. Returns False when
    the heap arrays need to grow (before handling an event that could overflow them)."""
    nst = route_station.shape[1]
    big = ctr[3]
    cap = ht.shape[0]
    size = ctr[0]
    nd = dir_all.shape[0]
    while True:
        p = ctr[2]
        ta = INF
        ca = 0
        if p < nd:
            ta = arrival[dir_all[p]]
            ca = ARRIVE * big + dir_all[p] * nst
        if size > 0 and _less(ht[0], hc[0], ta, ca):
            now = ht[0]
            code = hc[0]
            from_heap = True
        elif p < nd:
            now = ta
            code = ca
            from_heap = False
        else:
            break
        if now > t_end:
            break
        if size + margin > cap:
            ctr[0] = size
            return False
        if from_heap:
            size = _pop(ht, hc, size)
        else:
            ctr[2] = p + 1
        kind = code // big
        key = code - kind * big
        i = key // nst
        j = key - i * nst
        if kind == DONE:
            r = route[i]
            st = route_station[r, j]
            busy_n[st] -= 1
            done[i, j] = now
            size = _finished(i, now, ht, hc, size, r, route_prereq, route_nsteps, remaining,
                             readied, done, leave, truck_yard, big, nst)
            size = _dispatch(st, now, ht, hc, size, ctr, servers, busy_n, busy, q_head,
                             q_tail, q_next, wake_at, station_gate, open_start, open_end,
                             gate_off, service, start, big, nst)
        elif kind == READY:
            r = route[i]
            if not applies[i, j]:
                start[i, j] = now
                done[i, j] = now
                size = _finished(i, now, ht, hc, size, r, route_prereq, route_nsteps,
                                 remaining, readied, done, leave, truck_yard, big, nst)
            else:
                st = route_station[r, j]
                q_next[key] = -1
                if q_tail[st] >= 0:
                    q_next[q_tail[st]] = key
                else:
                    q_head[st] = key
                q_tail[st] = key
                size = _dispatch(st, now, ht, hc, size, ctr, servers, busy_n, busy, q_head,
                                 q_tail, q_next, wake_at, station_gate, open_start, open_end,
                                 gate_off, service, start, big, nst)
        elif kind == ENTER:
            r = route[i]
            remaining[i] = route_nsteps[r]
            if remaining[i] == 0:
                leave[i] = now
                if truck_yard[i] >= 0:
                    size = _push(ht, hc, size, now, RELEASE * big + truck_yard[i] * nst)
            else:
                size = _ready(i, now, ht, hc, size, r, route_prereq, route_nsteps, readied,
                              done, big, nst)
        elif kind == RELEASE:
            yard_occ[i] -= 1
            if now <= admit_until:
                size = _admit(yr_off[i], yr_off[i + 1], yr, now, ht, hc, size, dir_trucks,
                              dir_head, dir_arrived, route_gate, ry_off, ry, yard_cap,
                              yard_occ, open_at, open_start, open_end, gate_off, gate_in,
                              called_at, truck_yard, big, nst)
        elif kind == ARRIVE:
            r = route[i]
            dir_arrived[r] += 1
            if now <= admit_until and dir_head[r] == dir_arrived[r] - 1:
                size = _admit(r, r + 1, all_routes, now, ht, hc, size,
                              dir_trucks, dir_head, dir_arrived, route_gate, ry_off, ry,
                              yard_cap, yard_occ, open_at, open_start, open_end, gate_off,
                              gate_in, called_at, truck_yard, big, nst)
        elif kind == OPEN:
            if open_at[i] == now:
                open_at[i] = -1.0
            if now <= admit_until:
                size = _admit(gr_off[i], gr_off[i + 1], gr, now, ht, hc, size, dir_trucks,
                              dir_head, dir_arrived, route_gate, ry_off, ry, yard_cap,
                              yard_occ, open_at, open_start, open_end, gate_off, gate_in,
                              called_at, truck_yard, big, nst)
        else:  # WAKE
            if wake_at[i] == now:
                wake_at[i] = -1.0
            size = _dispatch(i, now, ht, hc, size, ctr, servers, busy_n, busy, q_head,
                             q_tail, q_next, wake_at, station_gate, open_start, open_end,
                             gate_off, service, start, big, nst)
    ctr[0] = size
    return True


@numba.njit(cache=True)
def _push_many(ht: Any, hc: Any, ctr: Any, times: Any, codes: Any) -> None:
    size = ctr[0]
    for k in range(times.shape[0]):
        size = _push(ht, hc, size, times[k], codes[k])
    ctr[0] = size


class GateAreas:
    """The state of every gate area between two calls of :func:`advance`: station queues and
    servers, yard occupancy, the trucks waiting at the gates not regulated through a staging
    area, and the pending events. It writes each truck's times into the arrays it is given
    (``gate_in``, ``called_at``, ``truck_yard``, ``start``, ``done``, ``leave``, ``busy``,
    which the caller owns; ``start``/``done`` start as NaN, ``gate_in`` as inf)."""

    def __init__(self, *, route: IntArray, service: FloatArray, applies: BoolArray,
                 route_station: IntArray, route_prereq: IntArray, route_nsteps: IntArray,
                 station_gate: IntArray, station_servers: IntArray, open_start: FloatArray,
                 open_end: FloatArray, gate_off: IntArray, arrival: FloatArray,
                 direct: BoolArray, route_gate: IntArray, route_yards: list[tuple[int, ...]],
                 yard_capacity: IntArray, gate_in: FloatArray, called_at: FloatArray,
                 truck_yard: IntArray, start: FloatArray, done: FloatArray, leave: FloatArray,
                 busy: FloatArray) -> None:
        n = int(arrival.shape[0])
        nst = int(route_station.shape[1]) or 1
        n_routes = int(route_nsteps.shape[0])
        n_stations = int(station_servers.shape[0])
        n_yards = int(yard_capacity.shape[0])
        n_gates = int(gate_off.shape[0]) - 1
        self.n = n
        self.static = (route, service, applies, route_station, route_prereq, route_nsteps,
                       station_gate, station_servers, open_start, open_end, gate_off, arrival)
        # trucks of the routes not regulated through a staging area (re-routing never moves
        # them), in arrival order, all together and per route
        is_direct = direct[route] if n else np.zeros(0, dtype=np.bool_)
        self.dir_all = np.flatnonzero(is_direct).astype(np.int64)
        per_route = [self.dir_all[route[self.dir_all] == r] for r in range(n_routes)]
        self.dir_trucks = (np.concatenate(per_route) if per_route
                           else np.zeros(0, dtype=np.int64)).astype(np.int64)
        self.dir_head = np.array(np.cumsum([0] + [len(p) for p in per_route])[:-1],
                                 dtype=np.int64)
        self.dir_arrived = self.dir_head.copy()
        self.route_gate = route_gate.astype(np.int64)
        self.ry_off = np.cumsum([0] + [len(y) for y in route_yards]).astype(np.int64)
        self.ry = np.array([y for ys in route_yards for y in ys], dtype=np.int64)
        direct_routes = [r for r in range(n_routes) if direct[r]]
        by_yard = [[r for r in direct_routes if y in route_yards[r]] for y in range(n_yards)]
        by_gate = [[r for r in direct_routes if route_gate[r] == g] for g in range(n_gates)]
        self.yr_off = np.cumsum([0] + [len(x) for x in by_yard]).astype(np.int64)
        self.yr = np.array([r for x in by_yard for r in x], dtype=np.int64)
        self.gr_off = np.cumsum([0] + [len(x) for x in by_gate]).astype(np.int64)
        self.gr = np.array([r for x in by_gate for r in x], dtype=np.int64)
        self.all_routes = np.arange(n_routes, dtype=np.int64)
        self.yard_cap = yard_capacity.astype(np.int64)
        self.yard_occ = np.zeros(n_yards, dtype=np.int64)
        """Trucks holding a place in each yard (called or entered, not yet gone)."""
        self.busy_n = np.zeros(n_stations, dtype=np.int64)
        self.q_head = np.full(n_stations, -1, dtype=np.int64)
        self.q_tail = np.full(n_stations, -1, dtype=np.int64)
        self.q_next = np.full(max(1, n * nst), -1, dtype=np.int64)
        self.wake_at = np.full(n_stations, -1.0)
        self.open_at = np.full(max(1, n_gates), -1.0)
        self.remaining = np.zeros(n, dtype=np.int64)
        self.readied = np.zeros((n, nst), dtype=np.bool_)
        self.out = (gate_in, called_at, truck_yard, start, done, leave)
        self.busy = busy
        cap = 1024
        self.ht = np.empty(cap)
        self.hc = np.empty(cap, dtype=np.int64)
        big = max(n, n_stations, n_yards, n_gates, 1) * nst
        self.ctr = np.array([0, 0, 0, big], dtype=np.int64)
        """Heap size, services started, trucks of ``dir_all`` arrived, the event code base."""
        self.margin = int(self.yard_cap.sum()) + n_gates + int(station_servers.max(initial=0)) \
            + nst + 4
        self.nst = nst
        self._times: list[float] = []
        self._codes: list[int] = []

    @property
    def services(self) -> int:
        return int(self.ctr[1])

    def enter(self, truck: int, at: float) -> None:
        """A called truck reaches its gate area at ``at`` (after the current instant)."""
        self._times.append(at)
        self._codes.append((ENTER * int(self.ctr[3])) + truck * self.nst)

    def release(self, at: float, yard: int) -> None:
        """A yard place is freed at ``at`` (a no-show's grace time runs out)."""
        self._times.append(at)
        self._codes.append((RELEASE * int(self.ctr[3])) + yard * self.nst)

    def _grow(self, need: int) -> None:
        cap = self.ht.shape[0]
        if need <= cap:
            return
        while cap < need:
            cap *= 2
        size = int(self.ctr[0])
        ht = np.empty(cap)
        hc = np.empty(cap, dtype=np.int64)
        ht[:size] = self.ht[:size]
        hc[:size] = self.hc[:size]
        self.ht, self.hc = ht, hc

    def advance(self, t_end: float, admit_until: float = INF) -> None:
        """Handle every event up to ``t_end``; trucks enter only up to ``admit_until``."""
        if self._times:
            self._grow(int(self.ctr[0]) + len(self._times))
            _push_many(self.ht, self.hc, self.ctr, np.array(self._times),
                       np.array(self._codes, dtype=np.int64))
            self._times.clear()
            self._codes.clear()
        (route, service, applies, route_station, route_prereq, route_nsteps, station_gate,
         servers, open_start, open_end, gate_off, arrival) = self.static
        gate_in, called_at, truck_yard, start, done, leave = self.out
        while not advance(t_end, admit_until, self.ht, self.hc, self.ctr, route, service,
                          applies, route_station, route_prereq, route_nsteps, station_gate,
                          servers, open_start, open_end, gate_off, arrival, self.dir_all,
                          self.dir_trucks, self.dir_head, self.dir_arrived, self.route_gate,
                          self.ry_off, self.ry, self.yr_off, self.yr, self.gr_off, self.gr,
                          self.all_routes, self.yard_cap, self.yard_occ, self.busy_n,
                          self.busy, self.q_head, self.q_tail, self.q_next, self.wake_at,
                          self.open_at, self.remaining, self.readied, gate_in, called_at,
                          truck_yard, start, done, leave, self.margin):
            self._grow(2 * self.ht.shape[0])

    def finish(self, admit_until: float) -> None:
        """Run the gate areas to the end (trucks enter only up to ``admit_until``); a truck
        that entered and never leaves (its gate does not open again) gets ``leave`` inf."""
        self.advance(INF, admit_until)
        gate_in, _c, _y, _s, _d, leave = self.out
        stuck = np.isfinite(gate_in) & np.isnan(leave)
        leave[stuck] = INF


def stations_only(gate_in: FloatArray, route: IntArray, service: FloatArray,
                  applies: BoolArray, route_station: IntArray, route_prereq: IntArray,
                  route_nsteps: IntArray, station_gate: IntArray, station_servers: IntArray,
                  open_start: FloatArray, open_end: FloatArray, gate_off: IntArray
                  ) -> tuple[FloatArray, FloatArray, FloatArray, int]:
    """Trucks entering their gate areas at given times (inf: never), no yards: start and done
    times per (truck, step), leave times and the services performed."""
    n, steps = service.shape
    n_routes = int(route_nsteps.shape[0])
    start = np.full((n, steps), np.nan)
    done = np.full((n, steps), np.nan)
    leave = np.full(n, np.nan)
    entry = np.array(gate_in, dtype=np.float64)
    areas = GateAreas(route=route, service=service, applies=applies,
                      route_station=route_station, route_prereq=route_prereq,
                      route_nsteps=route_nsteps, station_gate=station_gate,
                      station_servers=station_servers, open_start=open_start,
                      open_end=open_end, gate_off=gate_off, arrival=entry,
                      direct=np.zeros(n_routes, dtype=np.bool_),
                      route_gate=np.zeros(n_routes, dtype=np.int64),
                      route_yards=[() for _ in range(n_routes)],
                      yard_capacity=np.zeros(0, dtype=np.int64),
                      gate_in=entry.copy(), called_at=np.full(n, np.nan),
                      truck_yard=np.full(n, -1, dtype=np.int64), start=start, done=done,
                      leave=leave, busy=np.zeros(station_servers.shape[0]))
    for i in np.flatnonzero(np.isfinite(entry)).tolist():
        areas.enter(i, float(entry[i]))
    areas.finish(-INF)
    return start, done, leave, areas.services


def warm_up() -> None:
    """Compile the kernels once (cached on disk; the first compilation takes seconds)."""
    z = np.zeros(1)
    fifo_station(z, z, 1, np.zeros(0), np.zeros(0))
    one = np.zeros(1, dtype=np.int64)
    stations_only(np.zeros(1), one, np.ones((1, 1)), np.ones((1, 1), dtype=np.bool_),
                  np.zeros((1, 1), dtype=np.int64), np.array([[[-2]]], dtype=np.int64), one + 1,
                  one, one + 1, np.zeros(0), np.zeros(0), np.zeros(2, dtype=np.int64))
