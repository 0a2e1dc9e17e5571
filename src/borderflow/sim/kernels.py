"""Compiled inner loops: the gate areas event by event, and one multi-server FIFO station.

The gate areas (:class:`GateAreas`, compiled :func:`advance`) are a discrete-event simulation
with one heap of timed events: trucks reaching a gate not regulated through a staging area,
entering a gate area, ending services, freeing yard places, gates opening. Each station has
``c`` servers and serves its queue in the order the trucks really reach it (first come first
served; at one instant, in the order of the events that brought them); a server
starts a service only while its gate is open, and a service that has started runs to its end.
The dispatch cycles of the engine only decide who is called into a gate area: the engine
hands over each called truck with the time it reaches the gate, and advances the gate areas
to a cycle's instant before the decisions that read them (so they see every place freed by
then).
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

DONE, RELEASE, OPEN, ARRIVE, ENTER, WAKE = 0, 1, 2, 3, 4, 5
"""Kinds of event, in the order they are handled at the same instant (then by truck, step)."""


@numba.njit(cache=True, inline="always")
def _less(t1: float, c1: int, t2: float, c2: int) -> bool:
    return t1 < t2 or (t1 == t2 and c1 < c2)


@numba.njit(cache=True, inline="always")
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


@numba.njit(cache=True, inline="always")
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


@numba.njit(cache=True, inline="always")
def _gate_next_open(t: float, g: int, open_start: Any, open_end: Any, gate_off: Any,
                    gate_k: Any) -> float:
    """The first instant >= t when gate ``g`` is open (inf if none; t when it has no calendar).
    ``gate_k[g]`` remembers the interval reached: the instants asked never go back."""
    lo = gate_off[g]
    hi = gate_off[g + 1]
    if hi <= lo:
        return t
    k = gate_k[g]
    while k < hi and open_end[k] <= t:
        k += 1
    gate_k[g] = k
    if k >= hi:
        return INF
    s = open_start[k]
    return s if s > t else t


@numba.njit(cache=True)
def advance(t_end: float, admit_until: float, new_t: Any, new_c: Any, ht: Any, hc: Any,
            ctr: Any,
            route: Any, service: Any, applies: Any, route_station: Any, route_prereq: Any,
            route_nsteps: Any, station_gate: Any, servers: Any, open_start: Any, open_end: Any,
            gate_off: Any, gate_k: Any, arrival: Any, dir_all: Any, dir_trucks: Any,
            dir_head: Any, dir_arrived: Any, route_gate: Any, ry_off: Any, ry: Any,
            yr_off: Any, yr: Any, gr_off: Any, gr: Any, all_routes: Any, yard_cap: Any,
            yard_occ: Any, busy_n: Any, busy: Any, q_head: Any, q_tail: Any, q_next: Any,
            wake_at: Any, open_at: Any, remaining: Any, readied: Any, gate_in: Any,
            called_at: Any, truck_yard: Any, start: Any, passed: Any, leave: Any,
            margin: int) -> bool:
    """Handle, in time order, every event up to ``t_end`` (inclusive) in the gate areas:

    * ``ARRIVE``: a truck of a route not regulated through a staging area reaches its gate
      and waits (first come first served) to enter the gate area;
    * ``ENTER``: a truck enters its gate area; the steps whose prerequisites are passed
      become ready, in the route's order: a step that does not apply passes at once, the
      others join their station's queue;
    * ``DONE``: a service ends; the truck's next steps become ready (after its last step it
      leaves and frees its yard place), then the server takes the next truck of its queue;
    * ``RELEASE``: a yard place is freed (a truck left, or a no-show's grace time ran out);
    * ``OPEN``/``WAKE``: a gate opens: waiting trucks enter, idle servers start.

    Every station serves its queue in the order trucks joined it (first come first served; at
    one instant, in the order of the events that brought them: kind, truck, step) and starts
    a service only while its gate is open. Trucks enter a gate area only up to
    ``admit_until``. The events ``new_t``/``new_c`` (entries and releases decided since the
    last call) are pushed first. ``ctr`` holds the heap size, the services started and how
    many trucks of ``dir_all`` (the routes not regulated, in arrival order) have arrived.
    Returns False when the heap arrays need to grow (before handling an event that could
    overflow them)."""
    nst = route_station.shape[1]
    big = ctr[3]
    ns = ctr[4]  # an event's code: kind * big + (truck, station, yard or gate) << ns + step
    bs = ctr[5]  # big == 1 << bs: codes are split with shifts and masks, not divisions
    kmask = big - 1
    smask = (1 << ns) - 1
    cap = ht.shape[0]
    size = ctr[0]
    for k in range(new_t.shape[0]):  # the caller made room for them
        size = _push(ht, hc, size, new_t[k], new_c[k])
    nd = dir_all.shape[0]
    todo = np.empty(nst + 1, dtype=np.int64)
    last = -1
    while True:
        p = ctr[2]
        ta = INF
        ca = 0
        if p < nd:
            ta = arrival[dir_all[p]]
            ca = ARRIVE * big + (dir_all[p] << ns)
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
        kind = code >> bs
        key = code & kmask
        i = key >> ns
        j = key & smask
        progress = -1  # a truck whose steps may become ready
        ntodo = 0  # stations whose free servers may start
        adm_lo = 0  # routes_of[adm_lo:adm_hi]: routes whose waiting trucks may enter
        adm_hi = 0
        routes_of = all_routes
        if kind == DONE:
            st = route_station[route[i], j]
            busy_n[st] -= 1
            passed[i] |= 1 << j
            remaining[i] -= 1
            progress = i
            last = st
        elif kind == ENTER:
            remaining[i] = route_nsteps[route[i]]
            progress = i
            last = -1
        elif kind == RELEASE:
            yard_occ[i] -= 1
            if now <= admit_until:
                routes_of = yr
                adm_lo = yr_off[i]
                adm_hi = yr_off[i + 1]
        elif kind == ARRIVE:
            r = route[i]
            dir_arrived[r] += 1
            if now <= admit_until and dir_head[r] == dir_arrived[r] - 1:
                adm_lo = r
                adm_hi = r + 1
        elif kind == OPEN:
            if open_at[i] == now:
                open_at[i] = -1.0
            if now <= admit_until:
                routes_of = gr
                adm_lo = gr_off[i]
                adm_hi = gr_off[i + 1]
        else:  # WAKE
            if wake_at[i] == now:
                wake_at[i] = -1.0
            todo[0] = i
            ntodo = 1

        # the truck's steps whose prerequisites are passed become ready, in the route's order
        # (prerequisites first): one that does not apply passes at once, the others join
        # their station's queue; after its last step the truck leaves
        if progress >= 0:
            r = route[i]
            for k in range(route_nsteps[r]):
                if readied[i, k]:
                    continue
                ok = True
                for q in range(route_prereq.shape[2]):
                    pj = route_prereq[r, k, q]
                    if pj == -1:
                        break
                    if pj >= 0 and (passed[i] >> pj) & 1 == 0:
                        ok = False
                        break
                if not ok:
                    continue
                readied[i, k] = True
                if not applies[i, k]:
                    start[i, k] = now
                    passed[i] |= 1 << k
                    remaining[i] -= 1
                    continue
                st = route_station[r, k]
                qk = (i << ns) + k
                q_next[qk] = -1
                if q_tail[st] >= 0:
                    q_next[q_tail[st]] = qk
                else:
                    q_head[st] = qk
                q_tail[st] = qk
                todo[ntodo] = st
                ntodo += 1
            if remaining[i] == 0:
                leave[i] = now
                if truck_yard[i] >= 0:
                    size = _push(ht, hc, size, now, RELEASE * big + (truck_yard[i] << ns))
            if last >= 0:  # the server that finished takes the next truck of its queue
                todo[ntodo] = last
                ntodo += 1

        # free servers take the trucks at the head of their queue while the gate is open;
        # a closed station wakes at the next opening
        for q in range(ntodo):
            st = todo[q]
            while busy_n[st] < servers[st] and q_head[st] >= 0:
                t0 = _gate_next_open(now, station_gate[st], open_start, open_end, gate_off,
                                     gate_k)
                if t0 > now:
                    if t0 < INF and wake_at[st] != t0:
                        wake_at[st] = t0
                        size = _push(ht, hc, size, t0, WAKE * big + (st << ns))
                    break
                qk = q_head[st]
                q_head[st] = q_next[qk]
                if q_head[st] < 0:
                    q_tail[st] = -1
                a = qk >> ns
                b = qk & smask
                start[a, b] = now
                busy_n[st] += 1
                busy[st] += service[a, b]
                ctr[1] += 1
                size = _push(ht, hc, size, now + service[a, b], DONE * big + qk)

        # waiting trucks of the routes routes_of[adm_lo:adm_hi] enter, the earliest arrived
        # first, while their gate is open and a yard of their route has room (the yard with
        # most room); a closed gate is looked at again when it opens
        while adm_hi > adm_lo:
            best = -1
            best_r = -1
            best_y = -1
            for q in range(adm_lo, adm_hi):
                r = routes_of[q]
                h = dir_head[r]
                if h >= dir_arrived[r]:
                    continue
                g = route_gate[r]
                t0 = _gate_next_open(now, g, open_start, open_end, gate_off, gate_k)
                if t0 > now:
                    if t0 < INF and open_at[g] != t0:
                        open_at[g] = t0
                        size = _push(ht, hc, size, t0, OPEN * big + (g << ns))
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
                if best < 0 or dir_trucks[h] < best:
                    best = dir_trucks[h]
                    best_r = r
                    best_y = y
            if best < 0:
                break
            dir_head[best_r] += 1
            yard_occ[best_y] += 1
            truck_yard[best] = best_y
            gate_in[best] = now
            called_at[best] = now
            size = _push(ht, hc, size, now, ENTER * big + (best << ns))
    ctr[0] = size
    return True


NO_EVENTS = (np.zeros(0), np.zeros(0, dtype=np.int64))


class GateAreas:
    """The state of every gate area between two calls of :func:`advance`: station queues and
    servers, yard occupancy, the trucks waiting at the gates not regulated through a staging
    area, and the pending events. It writes each truck's times into the arrays it is given
    (``gate_in``, ``called_at``, ``truck_yard``, ``start``, ``leave``, ``busy``, which the
    caller owns; ``start`` starts as NaN, ``gate_in`` as inf). ``done`` (NaN), when given, gets
    when each step was passed at the end (:meth:`finish`): its start plus its service time
    (its start when the step does not apply); while running, the passed steps are bits of
    ``passed``."""

    def __init__(self, *, route: IntArray, service: FloatArray, applies: BoolArray,
                 route_station: IntArray, route_prereq: IntArray, route_nsteps: IntArray,
                 station_gate: IntArray, station_servers: IntArray, open_start: FloatArray,
                 open_end: FloatArray, gate_off: IntArray, arrival: FloatArray,
                 direct: BoolArray, route_gate: IntArray, route_yards: list[tuple[int, ...]],
                 yard_capacity: IntArray, gate_in: FloatArray, called_at: FloatArray,
                 truck_yard: IntArray, start: FloatArray, done: FloatArray | None,
                 leave: FloatArray,
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
        ns = (nst - 1).bit_length()  # bits of a step in an event's code and a truck-step
        span = 1 << ns
        self.q_next = np.empty(max(1, n * span), dtype=np.int32)
        """Per (truck, step) in a station's queue, the next one (-1: none); set when it joins
        the queue (32 bits: a run has fewer than 2**31 truck-steps)."""
        self.wake_at = np.full(n_stations, -1.0)
        self.open_at = np.full(max(1, n_gates), -1.0)
        self.gate_k = np.array(gate_off[:-1], dtype=np.int64)
        """Per gate, the first open interval not yet over."""
        self.remaining = np.zeros(n, dtype=np.int64)
        self.readied = np.zeros((n, nst), dtype=np.bool_)
        if nst > 62:
            raise ValueError("at most 62 steps per route (one bit each)")
        self.passed = np.zeros(n, dtype=np.int64)
        """Per truck, the steps it has passed (bit j: step j)."""
        self.done = done
        self.out = (gate_in, called_at, truck_yard, start, self.passed, leave)
        self.busy = busy
        self.ht = np.empty(1024)
        self.hc = np.empty(1024, dtype=np.int64)
        bs = (max(n, n_stations, n_yards, n_gates, 1) * span - 1).bit_length()
        self.ctr = np.array([0, 0, 0, 1 << bs, ns, bs], dtype=np.int64)
        """Heap size, services started, trucks of ``dir_all`` arrived, the event code base
        (``1 << bs``) and the bits of a step."""
        self.margin = int(self.yard_cap.sum()) + n_gates \
            + nst * (int(station_servers.max(initial=0)) + 2) + 4
        """Most events the handling of one event can add."""
        self.span = span
        self._enter_code = ENTER << bs
        self._release_code = RELEASE << bs
        self.now = -INF
        """The instant the gate areas have been advanced to."""
        self._times: list[float] = []
        self._codes: list[int] = []
        self._bind()

    @property
    def services(self) -> int:
        return int(self.ctr[1])

    def enter(self, truck: int, at: float) -> None:
        """A called truck reaches its gate area at ``at`` (after the current instant)."""
        self._times.append(at)
        self._codes.append(self._enter_code + truck * self.span)

    def release(self, at: float, yard: int) -> None:
        """A yard place is freed at ``at`` (a no-show's grace time runs out)."""
        self._times.append(at)
        self._codes.append(self._release_code + yard * self.span)

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
        self._bind()

    def _bind(self) -> None:
        """The arguments of :func:`advance` after the two times (the same arrays every call,
        until the heap grows)."""
        (route, service, applies, route_station, route_prereq, route_nsteps, station_gate,
         servers, open_start, open_end, gate_off, arrival) = self.static
        gate_in, called_at, truck_yard, start, passed, leave = self.out
        self._args = (self.ht, self.hc, self.ctr, route, service, applies, route_station,
                      route_prereq, route_nsteps, station_gate, servers, open_start, open_end,
                      gate_off, self.gate_k, arrival, self.dir_all, self.dir_trucks,
                      self.dir_head, self.dir_arrived, self.route_gate, self.ry_off, self.ry,
                      self.yr_off, self.yr, self.gr_off, self.gr, self.all_routes,
                      self.yard_cap, self.yard_occ, self.busy_n, self.busy, self.q_head,
                      self.q_tail, self.q_next, self.wake_at, self.open_at, self.remaining,
                      self.readied, gate_in, called_at, truck_yard, start, passed, leave,
                      self.margin)

    def advance(self, t_end: float, admit_until: float = INF) -> None:
        """Handle every event up to ``t_end``; trucks enter only up to ``admit_until``."""
        self.now = max(self.now, t_end)
        new_t, new_c = NO_EVENTS
        if self._times:  # the entries and releases since the last call, pushed first
            self._grow(int(self.ctr[0]) + len(self._times))
            new_t = np.array(self._times)
            new_c = np.array(self._codes, dtype=np.int64)
            self._times.clear()
            self._codes.clear()
        while not advance(t_end, admit_until, new_t, new_c, *self._args):
            new_t, new_c = NO_EVENTS  # pushed already
            self._grow(2 * self.ht.shape[0])

    def sync(self, t: float) -> None:
        """Advance to ``t`` unless already there: events are handled in time order whenever
        they are handled, so the caller advances only when it reads the gate areas (the yards'
        occupancy), and a call between two readings changes nothing."""
        if t > self.now:
            self.advance(t)

    def finish(self, admit_until: float) -> None:
        """Run the gate areas to the end (trucks enter only up to ``admit_until``); a truck
        that entered and never leaves (its gate does not open again) gets ``leave`` inf."""
        self.advance(INF, admit_until)
        gate_in, _c, _y, start, _p, leave = self.out
        stuck = np.isfinite(gate_in) & np.isnan(leave)
        leave[stuck] = INF
        if self.done is not None:
            _r, service, applies, *_ = self.static
            self.done[...] = passed_times(start, service, applies)


def passed_times(start: FloatArray, service: FloatArray, applies: BoolArray) -> FloatArray:
    """When each step was passed (every service that starts ends: :meth:`GateAreas.finish`
    runs to the end): its start plus its service time, as the event loop adds them; its start
    when the step does not apply; NaN when it never started."""
    out: FloatArray = np.where(applies, start + service, start)
    return out


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
    # every entry at once: sorted by (time, code), an array is already a heap
    trucks = np.flatnonzero(np.isfinite(entry))
    order = trucks[np.argsort(entry[trucks], kind="stable")]
    areas._grow(order.shape[0] + 1)
    areas.ht[:order.shape[0]] = entry[order]
    areas.hc[:order.shape[0]] = ENTER * int(areas.ctr[3]) + order * areas.span
    areas.ctr[0] = order.shape[0]
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
