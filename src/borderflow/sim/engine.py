"""The simulation loop: arrivals, staging, call-forward by the live dispatch policy, gate areas.

The clock advances in dispatch cycles (``dispatch.cycle_minutes``). :func:`simulate` holds
everything the loop changes in one :class:`EngineState` and runs, in each cycle, its steps:

1. :meth:`~EngineState.requeue_no_shows`: no-shows whose grace time ran out go back to the
   staging queue (or wait on the road while the area is full);
2. :meth:`~EngineState.admit_to_staging`: trucks that arrived since the last cycle enter the
   staging area while it has room; the rest queue on the area's road (National Highway 1A
   for the Viettel park), first come first served;
3. :meth:`~EngineState.call_forward`: for each staged gate and direction with places left in
   the current 30-minute slot and room in its yards,
   :func:`borderflow.domain.dispatch.choose_calls` (the function the live dispatcher calls)
   decides who is called and to which yard, by the gate's policy
   (:meth:`~EngineState.take_calls` then marks the no-shows among them and hands the others
   to the gate areas with the time they reach the gate);
4. :meth:`~EngineState.record`: the queues of the cycle are sampled.

The gate areas (:class:`~borderflow.sim.kernels.GateAreas`) run event by event: trucks of the
gates not regulated through a staging area enter the moment they can, every truck passes the
stations of its procedure in the order it really reaches them, and a truck that leaves frees
its yard place. They are advanced to a cycle's instant when a decision reads them (a
call-forward with places, the re-routing), and to the end after the last cycle; the queues at
the gates not regulated through a staging area are then counted, per road.

Every hour (``dispatch.reroute``) :meth:`~EngineState.reroute` applies the live re-routing
planner (:func:`borderflow.domain.dispatch.plan_reroutes` over :func:`planner.plan`): it moves
trucks waiting for a gate with no places soon to another gate of the same staging area.
"""

from __future__ import annotations

import gc
import heapq
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from itertools import accumulate
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from borderflow.domain.booking import paused
from borderflow.domain.dispatch import (
    GateRoom,
    Order,
    Reroute,
    Room,
    Waiting,
    cap_places,
    choose_calls,
    count_in_use,
    forecast,
    new_record,
    order_queue,
    partner_room,
    plan_reroutes,
    room_after_stay,
)
from borderflow.domain.trip import PRIORITIES
from borderflow.sim.kernels import GateAreas, passed_times
from borderflow.sim.model import GOODS, SLOT_MINUTES, Model, Route, step_row

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

NCLASS = len(PRIORITIES)
PERISHABLE_CLASSES = (PRIORITIES.index("aeo_perishable"), PRIORITIES.index("perishable"))
REROUTE_EVERY = 60.0
REROUTE_HORIZON = 48
"""Slots the re-routing planner looks ahead: 24 hours, as the live dispatcher."""
REROUTE_EXTRA = 20
"""Waiting trucks per class offered beyond what a gate can call within the horizon."""


@dataclass
class Trace:
    """What happened to every truck, and the queues over time."""

    model: Model
    staged_at: FloatArray
    called_at: FloatArray
    gate_in: FloatArray
    leave: FloatArray
    start: FloatArray
    busy: FloatArray
    no_show: NDArray[np.bool_]
    rerouted: NDArray[np.bool_]
    route: IntArray
    """Route of each truck at the end (after re-routing)."""
    yard: IntArray
    """Yard each truck entered (-1: none)."""
    services: int
    sample_t: FloatArray
    road_trucks: IntArray
    """Trucks queued on the Vietnamese roads (staging area full, or waiting to enter a gate
    area that is not regulated through the staging area)."""
    road_queues: IntArray
    """(roads, samples): the same per road (``model.roads``)."""
    partner_queue: IntArray
    """Import trucks waiting on the partner side for room in the gate area."""
    staging: IntArray
    calls: FloatArray
    """(time, truck, yard, release) of every call forward: release NaN when the truck came,
    else when its no-show freed the yard place."""

    @cached_property
    def done(self) -> FloatArray:
        """When each truck passed each step (NaN: never), computed when first asked (the
        figures do not need it): :func:`~borderflow.sim.kernels.passed_times`."""
        return passed_times(self.start, self.model.service, self.model.applies)

    @property
    def events(self) -> int:
        """Arrival, staging entry, call, gate-area entry and departure of each truck, plus a
        start and an end per service."""
        reached = int(np.isfinite(self.gate_in).sum())
        staged = int(np.isfinite(self.staged_at).sum())
        left = int(np.isfinite(self.leave).sum())
        return self.model.trucks + staged + int(np.isfinite(self.called_at).sum()) + reached \
            + left + 2 * self.services


def simulate(model: Model) -> Trace:
    """Run one replication of ``model``: the steps of every dispatch cycle in order (see the
    module's description), the hourly re-routing, then the queues at the gates not regulated
    through a staging area. Re-routing changes ``model.applies`` of the trucks it moves."""
    with _cyclic_gc_paused():
        return _run(model)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Python's cycle collector paused while a run builds its hundreds of thousands of small
    objects (it would scan them again and again: 5-10 % of a year's run); the run makes no
    reference cycles to speak of, and what it makes is collected once it ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run(model: Model) -> Trace:
    """:func:`simulate` itself."""
    state = EngineState(model)
    cyc = state.cyc
    reroute_on = model.scenario.dispatch.reroute and bool(state.staged_routes)
    # the steps, looked up once (the loop runs every cycle of the horizon)
    open_slot = state.open_slot
    requeue_no_shows = state.requeue_no_shows
    admit_to_staging = state.admit_to_staging
    call_forward = state.call_forward
    record = state.record
    for c in range(state.cycles):
        t = c * cyc
        slot = int(t // SLOT_MINUTES)
        open_slot(slot)
        on_road = requeue_no_shows(c, t)
        on_road += admit_to_staging(c)
        if t >= state.next_reroute:
            state.next_reroute += REROUTE_EVERY
            if reroute_on:
                state.reroute(t, slot)
        call_forward(t, slot)
        record(c, t, on_road)
    state.areas.finish(model.horizon)
    state.count_direct_queues()
    return state.trace()


class GateView(NamedTuple):
    """A staged gate and direction as the re-routing rule sees it."""

    route: Route
    places: list[int]
    """Call-forward places of the next slots (the current one less the trucks called)."""
    yard_now: int
    """Free places in its yards now."""
    usable: list[int]
    """Places it can use per slot (the current slot also limited by the yards)."""
    waiting: int
    """Trucks waiting for it."""
    reach: list[int]
    """Places it can use up to each slot (``usable`` summed)."""
    partner: int | None
    """Free places in the partner side's yard (exports, while a count is in use)."""


class EngineState:
    """Everything the loop changes from cycle to cycle: what has happened to every truck so far
    (the arrays of the :class:`Trace`), the staging areas and their call-forward queues, the
    yards, the trucks on their way to the gates not regulated through a staging area, and the
    clock. Each step of a cycle is a method."""

    # slots: the steps read these attributes millions of times in a run
    __slots__ = (
        "_at",
        "_at_t",
        "_staged_dt",
        "alt_cache",
        "area_adm",
        "area_arrived",
        "area_cap",
        "area_occ",
        "area_queue",
        "area_trucks",
        "area_trucks_l",
        "areas",
        "arrival",
        "arrival_l",
        "booked",
        "booked_q",
        "busy",
        "called_at",
        "called_in_slot",
        "calls",
        "class_name",
        "cur_slot",
        "cyc",
        "cycles",
        "direct",
        "direct_trucks",
        "export_calls",
        "extra",
        "gate_in",
        "gone",
        "head",
        "is_staged",
        "key_of",
        "klass",
        "klass_l",
        "leave",
        "model",
        "next_reroute",
        "no_show",
        "no_show_draw",
        "p_no_show",
        "partner_q",
        "partner_routes",
        "perishable",
        "places_tab",
        "prev_t",
        "queue",
        "requeues",
        "rerouted",
        "road",
        "road_queues",
        "route",
        "route_area",
        "route_gate",
        "routes",
        "sample_t",
        "slot_starts",
        "staged_at",
        "staged_routes",
        "staging_n",
        "start",
        "tail",
        "travel",
        "truck_yard",
        "wcache",
        "yard_cap",
        "yard_index",
        "yard_occ",
    )

    def __init__(self, model: Model) -> None:
        sc = model.scenario
        n = model.trucks
        routes = model.routes
        self.model = model
        self.cyc = float(sc.dispatch.cycle_minutes)
        self.routes = routes
        self.klass = model.klass
        self.klass_l: list[int] = model.klass.tolist()
        self.perishable: list[bool] = model.perishable.tolist()
        self.alt_cache: dict[str, dict[tuple[int, int], tuple[str, ...]]] = {}
        self.class_name = list(PRIORITIES) if sc.dispatch.priority else ["normal"] * NCLASS
        """The priority class the policies see, by class index (all ``normal`` when priority
        is off)."""
        self.arrival = model.arrival
        self.arrival_l: list[float] = model.arrival.tolist()
        self.p_no_show = sc.dispatch.no_show_probability
        self.no_show_draw: list[float] = model.no_show_draw.tolist()
        self.travel: list[float] = model.travel.tolist()
        self.staged_routes = [r for r in routes if r.staged]
        self.cycles = int(model.horizon // self.cyc)
        self.sample_t = np.arange(self.cycles, dtype=np.float64) * self.cyc

        # what happens to each truck
        self.route = model.route.copy()
        """Route of each truck (re-routing changes it)."""
        max_steps = model.service.shape[1]
        self.staged_at: list[float] = [math.nan] * n
        """When each truck entered its staging area (a list while the run goes: read and
        written a truck at a time; an array in the trace)."""
        self.called_at = np.full(n, np.nan)
        self.gate_in = np.full(n, np.inf)
        self.leave = np.full(n, np.nan)
        self.start = np.full((n, max_steps), np.nan)
        self.no_show = np.zeros(n, dtype=np.bool_)
        self.rerouted = np.zeros(n, dtype=np.bool_)
        self.truck_yard = np.full(n, -1, dtype=np.int64)
        self.wcache: list[Waiting | None] = [None] * n
        """Each truck's :class:`Waiting` as the dispatch policies see it (built when needed)."""

        self.busy = np.zeros(model.station_servers.shape[0])
        self.calls: list[float] = []
        """(time, truck, yard, release) of every call, one call after the other: release NaN
        when the truck came, else when its no-show freed the place."""

        self._init_staging()
        self._init_direct()

        # the yards
        self.yard_cap: list[int] = model.yard_capacity.tolist()
        self.yard_index = {c: i for i, c in enumerate(model.yard_codes)}
        self.areas = GateAreas(
            route=self.route, service=model.service, applies=model.applies,
            route_station=model.route_station, route_prereq=model.route_prereq,
            route_nsteps=model.route_nsteps, station_gate=model.station_gate,
            station_servers=model.station_servers, open_start=model.open_start,
            open_end=model.open_end, gate_off=model.gate_off, arrival=model.arrival,
            direct=np.array([not r.staged for r in routes], dtype=np.bool_),
            route_gate=np.array(self.route_gate, dtype=np.int64),
            route_yards=[r.yards for r in routes], yard_capacity=model.yard_capacity,
            gate_in=self.gate_in, called_at=self.called_at, truck_yard=self.truck_yard,
            start=self.start, done=None, leave=self.leave, busy=self.busy)
        """The gate areas, event by event (:mod:`borderflow.sim.kernels`)."""
        self.yard_occ = self.areas.yard_occ
        """Trucks holding a place in each yard, shared with the gate areas."""
        self.requeues: list[tuple[float, int]] = []
        """(time, truck): no-shows going back to the staging queue (a heap)."""
        self._at_t = math.nan
        self._at = model.base
        self._staged_dt: dict[float, datetime] = {}
        """When trucks entered their staging area, as a date and time, by minute (the trucks
        of a cycle share it)."""
        self._init_clock()

    def at(self, t: float) -> datetime:
        """The date and time of minute ``t`` (:meth:`Model.at`), the last one kept: a cycle
        asks for its own minute once per gate."""
        if t != self._at_t:
            self._at_t = t
            self._at = self.model.at(t)
        return self._at

    def _init_clock(self) -> None:
        """The clock, the slots' places and calls, the partner side's counts in use and the
        samples of the queues."""
        model = self.model
        routes = self.routes
        self.places_tab: list[list[int]] = model.slot_places.tolist()
        self.called_in_slot = [0] * len(routes)
        # per gate with partner-side counts, when each export truck was called to it
        self.export_calls: dict[str, list[float]] = {code: [] for code in model.partner_counts}
        self.partner_routes = frozenset(r.index for r in routes if r.direction == "export"
                                        and r.gate.code in model.partner_counts)
        self.cur_slot = -1
        self.slot_starts: list[datetime] = []
        self.prev_t = 0.0
        """Time of the previous cycle (entries since then are dated no earlier)."""
        self.next_reroute = REROUTE_EVERY
        self.road = np.zeros(self.cycles, dtype=np.int64)
        self.partner_q = np.zeros(self.cycles, dtype=np.int64)
        self.staging_n = np.zeros(self.cycles, dtype=np.int64)

    def _init_staging(self) -> None:
        """The staging areas (per area, its trucks in arrival order) and the call-forward
        queues (per route and class, its staged trucks in arrival order)."""
        model = self.model
        route = self.route
        n_keys = len(self.routes) * NCLASS
        staged_route = np.array([r.staged for r in self.routes], dtype=np.bool_)
        self.route_area = np.array([r.area for r in self.routes], dtype=np.int64)
        is_staged = staged_route[route] if model.trucks else np.zeros(0, dtype=np.bool_)
        self.is_staged = is_staged
        areas = len(model.area_codes)
        self.area_trucks = [np.flatnonzero(is_staged & (self.route_area[route] == a))
                            for a in range(areas)]
        self.area_arrived: list[list[int]] = [
            np.searchsorted(self.arrival[t], self.sample_t, side="right").tolist()
            for t in self.area_trucks]
        """Per area and cycle, how many of its trucks have arrived by the cycle's instant."""
        self.area_trucks_l: list[list[int]] = [t.tolist() for t in self.area_trucks]
        self.area_adm = [0] * areas
        self.area_queue = [[0] * self.cycles for _ in range(areas)]
        """Per area and cycle, the trucks waiting on the road for room in it."""
        """Trucks of each area admitted so far (the first of ``area_trucks``)."""
        self.area_occ = [0] * areas
        self.area_cap: list[int] = model.area_capacity.tolist()
        key = route * NCLASS + self.klass
        order_all = np.argsort(key, kind="stable")
        bounds = np.searchsorted(key[order_all], np.arange(n_keys + 1))
        self.queue: list[list[int]] = [
            (order_all[bounds[k]:bounds[k + 1]][is_staged[order_all[bounds[k]:bounds[k + 1]]]]
             ).tolist() for k in range(n_keys)]
        """Per key (route × NCLASS + class): its staged trucks in arrival order; the waiting
        ones are ``queue[k][head[k]:tail[k]]`` (less those ``gone``)."""
        self.head = [0] * n_keys
        self.tail = [0] * n_keys
        self.key_of: list[int] = key.tolist()
        self.extra: list[list[int]] = [[] for _ in range(n_keys)]
        """Trucks back in a queue out of arrival order (no-shows requeued, trucks re-routed)."""
        self.booked: list[int] = model.booked_slot.tolist() if model.booked_slot.size \
            else [-1] * model.trucks
        """Per truck, the slot it booked, -1 when it has no booking (none, or given back
        when it was moved)."""
        self.booked_q: list[list[int]] = [[] for _ in range(n_keys)]
        """Per key, the booked trucks waiting in the staging area (they are not taken from
        ``queue``: a truck booked for a later slot is not called before it)."""
        self.gone = [b >= 0 for b in self.booked]
        """Called or moved out of its place in its queue (a booked truck waits in
        ``booked_q`` instead)."""

    def _init_direct(self) -> None:
        """The routes whose trucks come straight to the gate, and their trucks in arrival
        order."""
        model = self.model
        route = self.route
        self.direct = [r.index for r in self.routes if not r.staged]
        self.direct_trucks: dict[int, list[int]] = {
            r: np.flatnonzero((route == r) & ~self.is_staged).tolist() for r in self.direct}
        self.route_gate = [model.gate_codes.index(r.gate.code) for r in self.routes]

    # --- the call-forward queues

    def waiting(self, trucks: list[int], r: int) -> list[Waiting]:
        """The trucks as the dispatch policies see them, waiting for route ``r`` (the priority
        class ``normal`` for all when priority is off)."""
        wcache = self.wcache
        gate = self.routes[r].gate.code
        out = []
        for i in trucks:
            w = wcache[i]
            if w is None or w.gate != gate:
                w = wcache[i] = self._waiting(i, r)
            out.append(w)
        return out

    def _waiting(self, i: int, r: int) -> Waiting:
        """Truck ``i`` as the dispatch policies see it, waiting for route ``r`` since it
        entered the staging area."""
        rt = self.routes[r]
        b = self.booked[i]
        staged = self.staged_at[i]
        since = self._staged_dt.get(staged)
        if since is None:
            since = self._staged_dt[staged] = self.model.base + timedelta(0, staged * 60.0)
        # the id by %-formatting, which compiled code does in C where an f-string with a
        # format spec calls str.format (hundreds of thousands a simulated year)
        trip_id = "%07d" % i  # noqa: UP031
        return new_record(Waiting, (trip_id, rt.gate.code, rt.direction,
                                    self.class_name[self.klass_l[i]], since,
                                    self.slot_start(b) if b >= 0 else None))

    def candidates(self, r: int, limit: int, until: int) -> list[int]:
        """The first ``limit`` waiting trucks without a booking of each class of route ``r``
        and its booked trucks whose slot is ``until`` or earlier (the policy orders a class
        first come first served after the trucks whose booked slot has come, so it never calls
        beyond them)."""
        queue = self.queue
        head = self.head
        tail = self.tail
        gone = self.gone
        extra = self.extra
        out: list[int] = []
        for cl in range(NCLASS):
            k = r * NCLASS + cl
            q = queue[k]
            h = head[k]
            tl = tail[k]
            got = 0
            while h < tl and got < limit:
                i = q[h]
                h += 1
                if not gone[i]:
                    out.append(i)
                    got += 1
            out += extra[k][:limit]
            if self.booked_q[k]:
                booked = self.booked
                out += [i for i in self.booked_q[k] if booked[i] <= until]
        return out

    def has_waiting(self, r: int) -> bool:
        """Whether any truck may be waiting for route ``r`` (false: none is)."""
        head = self.head
        tail = self.tail
        extra = self.extra
        booked_q = self.booked_q
        for j in range(r * NCLASS, (r + 1) * NCLASS):
            if tail[j] > head[j] or extra[j] or booked_q[j]:
                return True
        return False

    def waiting_count(self, r: int, classes: Iterable[int] = range(NCLASS)) -> int:
        """Trucks waiting for route ``r`` in the given classes."""
        total = 0
        for cl in classes:
            k = r * NCLASS + cl
            total += self.tail[k] - self.head[k] + len(self.extra[k]) + len(self.booked_q[k])
        return total

    def remove(self, r: int, taken: set[int]) -> None:
        """Take the trucks ``taken`` out of the queues of route ``r``."""
        queue = self.queue
        head = self.head
        tail = self.tail
        gone = self.gone
        extra = self.extra
        for i in taken:
            gone[i] = True
        for cl in range(NCLASS):
            k = r * NCLASS + cl
            q = queue[k]
            h = head[k]
            tl = tail[k]
            while h < tl and gone[q[h]]:
                h += 1
            head[k] = h
            if extra[k]:
                extra[k] = [i for i in extra[k] if i not in taken]
            if self.booked_q[k]:
                self.booked_q[k] = [i for i in self.booked_q[k] if i not in taken]

    # --- the steps of a cycle

    def slot_start(self, slot: int) -> datetime:
        """When a 30-minute slot starts (computed once per slot)."""
        starts = self.slot_starts
        while len(starts) <= slot:
            starts.append(self.model.at(len(starts) * SLOT_MINUTES))
        return starts[slot]

    def open_slot(self, slot: int) -> None:
        """A new 30-minute slot starts with no truck called in it yet."""
        if slot != self.cur_slot:
            self.cur_slot = slot
            self.called_in_slot = [0] * len(self.routes)

    def requeue_no_shows(self, c: int, t: float) -> int:
        """No-shows whose grace time ran out by ``t`` (cycle ``c``) enter the staging area
        again and join their queue out of arrival order, staged again from then; when the area
        is full they wait on the road and try again next cycle. Returns how many wait on the
        road."""
        requeues = self.requeues
        if not requeues or requeues[0][0] > t:
            return 0
        route = self.route
        area_occ = self.area_occ
        area_cap = self.area_cap
        back: list[tuple[float, int]] = []
        while requeues and requeues[0][0] <= t:
            at, i = heapq.heappop(requeues)
            a = self.route_area[route[i]]
            if area_occ[a] >= area_cap[a]:
                back.append((t + self.cyc, i))  # the area is full: it waits on the road
                self.area_queue[a][c] += 1
                continue
            self.staged_at[i] = max(at, self.prev_t)
            self.wcache[i] = None
            k = route[i] * NCLASS + self.klass[i]
            # its booking stays, as live: booked for a slot gone by, it is called first again
            (self.booked_q[k] if self.booked[i] >= 0 else self.extra[k]).append(i)
            area_occ[a] += 1
        for item in back:
            heapq.heappush(requeues, item)
        return len(back)

    def admit_to_staging(self, c: int) -> int:
        """Trucks that arrived by cycle ``c`` enter their staging area in arrival order while
        it has room, and join the tail of their queue; the others queue on the road. Returns
        how many are on the road."""
        on_road = 0
        area_adm = self.area_adm
        area_occ = self.area_occ
        area_cap = self.area_cap
        tail = self.tail
        key_of = self.key_of
        booked = self.booked
        arrival = self.arrival_l
        staged_at = self.staged_at
        prev_t = self.prev_t
        for a in range(len(area_adm)):
            arrived = self.area_arrived[a][c]
            adm = area_adm[a]
            new = min(arrived, adm + max(0, area_cap[a] - area_occ[a]))
            if new > adm:
                for i in self.area_trucks_l[a][adm:new]:
                    at = arrival[i]
                    staged_at[i] = at if at > prev_t else prev_t
                    tail[key_of[i]] += 1
                    if booked[i] >= 0:
                        self.booked_q[key_of[i]].append(i)
                area_occ[a] += new - adm
                area_adm[a] = new
            if arrived > area_adm[a]:
                on_road += arrived - area_adm[a]
                self.area_queue[a][c] += arrived - area_adm[a]
        return on_road

    def call_forward(self, t: float, slot: int) -> None:
        """Each staged gate and direction with places left in the slot and room in its yards
        offers its first waiting trucks and its room to its policy
        (:func:`~borderflow.domain.dispatch.choose_calls`, as the live dispatcher does);
        the trucks called are taken by :meth:`take_calls`."""
        model = self.model
        yard_cap = self.yard_cap
        yard_occ = None
        places_tab = self.places_tab
        called_in_slot = self.called_in_slot
        now = None
        pauses = model.pauses
        for r in self.staged_routes:
            ri = r.index
            places = places_tab[ri][slot] - called_in_slot[ri]
            if places <= 0 or not self.has_waiting(ri):
                continue
            if pauses[ri] and paused(pauses[ri], self.at(t)):  # as the live dispatcher
                continue
            if yard_occ is None:
                self.areas.sync(t)
                yard_occ = self.yard_occ.tolist()
            yards = [(model.yard_codes[y], yard_cap[y] - yard_occ[y]) for y in r.yards]
            room_total = sum(f for _, f in yards)
            partner = self.partner_room(r, t) if ri in self.partner_routes else None
            if partner is not None:
                room_total = min(room_total, partner)
            if room_total <= 0:
                continue
            cands = self.candidates(ri, min(places, room_total), slot)
            if not cands:
                continue
            if now is None:
                now = self.at(t)
                slot_end = self.slot_start(slot + 1)
            orders = choose_calls(self.waiting(cands, ri),
                                  [new_record(Room, (r.gate.code, r.direction, places,
                                                     tuple(yards), partner))],
                                  now=now, slot_end=slot_end, policy=r.policy)
            if orders:
                self.take_calls(r, orders, t)
                yard_occ = None

    def take_calls(self, r: Route, orders: list[Order], t: float) -> None:
        """The trucks called at ``t`` for route ``r`` leave their queue and the staging area
        and take a place in the yard they were called to. A truck drawn as a no-show (once at
        most) holds the place for the policy's grace time and then goes back to the staging
        queue; the others reach the gate area after their travel time, handed to the gate
        areas (:class:`~borderflow.sim.kernels.GateAreas`)."""
        no_show = self.no_show
        no_show_draw = self.no_show_draw
        p_no_show = self.p_no_show
        travel = self.travel
        yard_index = self.yard_index
        yard_occ = self.yard_occ
        called_at = self.called_at
        truck_yard = self.truck_yard
        gate_in = self.gate_in
        calls = self.calls
        enter = self.areas.enter
        taken = set()
        grace = r.policy.grace_minutes
        for o in orders:
            i = int(o.trip_id)
            taken.add(i)
            y = yard_index[o.yard]
            yard_occ[y] += 1
            called_at[i] = t
            if not no_show[i] and no_show_draw[i] < p_no_show:
                no_show[i] = True
                self.areas.release(t + grace, y)
                heapq.heappush(self.requeues, (t + grace, i))
                calls += (t, i, y, t + grace)
                continue
            truck_yard[i] = y
            at = t + travel[i]
            gate_in[i] = at
            enter(i, at)
            calls += (t, i, y, math.nan)
        self.called_in_slot[r.index] += len(orders)
        if r.direction == "export" and r.gate.code in self.export_calls:
            self.export_calls[r.gate.code] += [t] * len(orders)
        self.area_occ[r.area] -= len(orders)
        self.remove(r.index, taken)

    def partner_room(self, r: Route, t: float) -> int | None:
        """Free places in the partner side's yard for route ``r``'s exports at ``t``, as the
        live dispatcher counts them (:func:`~borderflow.domain.dispatch.partner_room`): the
        latest count while it is in use
        (:func:`~borderflow.domain.dispatch.count_in_use`), less the trucks called to the
        gate since; None for imports and while no count is in use."""
        if r.direction != "export":
            return None
        counts = self.model.partner_counts.get(r.gate.code)
        if counts is None:
            return None
        k = bisect_right(counts.at, t) - 1
        if k < 0 or not count_in_use(self.model.at(counts.at[k]), self.at(t),
                                     counts.report_hours):
            return None
        calls = self.export_calls[r.gate.code]
        return partner_room(counts.vehicles[k], counts.capacity[k],
                            len(calls) - bisect_left(calls, counts.at[k]))

    def record(self, c: int, t: float, on_road: int) -> None:
        """Sample the queues of cycle ``c`` (at ``t``), which is then the previous cycle."""
        self.staging_n[c] = sum(self.area_occ)
        self.road[c] = on_road
        self.prev_t = t

    # --- re-routing

    def reroute(self, t: float, slot: int) -> None:
        """The live re-routing rule (see :mod:`borderflow.dispatch.service`): per direction,
        the trucks a gate will not call within its ``reroute_after_minutes`` are offered to
        the planner with the other gates of the staging area that permit their goods."""
        self.areas.sync(t)
        self.slot_start(slot + REROUTE_HORIZON)
        starts = self.slot_starts[slot:slot + REROUTE_HORIZON]
        for direction in ("export", "import"):
            group = [r for r in self.staged_routes if r.direction == direction]
            if len(group) < 2:
                continue
            occ = self.yard_occ.tolist()
            views = {r.gate.code: self._gate_view(r, slot, occ, t) for r in group}
            perishable_waiting = {r.gate.code: self.waiting_count(r.index, PERISHABLE_CLASSES)
                                  for r in group}
            if not _may_move(views.values(), perishable_waiting):
                continue  # no gate could take a truck early enough to be worth moving
            outlook = {code: self._outlook(v, starts, t, slot) for code, v in views.items()}
            cands = _reroute_candidates(views, outlook, self.perishable,
                                        self._alternatives(direction, views), starts[1])
            if not cands:
                continue
            left = _room_left(views, outlook, {w.trip_id for w, _, _ in cands}, starts)
            gain_slots = {c: max(1, v.route.policy.reroute_after_minutes // SLOT_MINUTES)
                          for c, v in views.items()}
            self._move(views, plan_reroutes(cands, list(views), left, gain_slots))

    def _gate_view(self, r: Route, slot: int, occ: list[int], t: float) -> GateView:
        """Route ``r``'s places over the re-routing horizon from ``slot``, its free yard places
        (``occ``: trucks holding a place in each yard) and its waiting trucks."""
        ri = r.index
        row = self.places_tab[ri][slot:slot + REROUTE_HORIZON]
        places = row + [0] * (REROUTE_HORIZON - len(row))
        places[0] = max(0, places[0] - self.called_in_slot[ri])
        yard_now = sum(max(0, self.yard_cap[y] - occ[y]) for y in r.yards)
        if ri in self.partner_routes:
            partner = self.partner_room(r, t)
            usable = cap_places(places, yard_now, partner)
        else:  # cap_places without a partner budget, spelt out: this runs every hour
            partner = None
            usable = [min(places[0], yard_now), *places[1:]]
        return GateView(r, places, yard_now, usable, self.waiting_count(ri),
                        list(accumulate(usable)), partner)

    def _alternatives(self, direction: str, views: dict[str, GateView]
                      ) -> dict[tuple[int, int], tuple[str, ...]]:
        """Per route of ``views`` and goods group (index in ``GOODS``), the gates of
        ``views`` a truck may be moved to, as the live rule has them
        (:func:`borderflow.dispatch.service.alternatives`): regulated through the same
        staging area and permitting its goods (computed once per direction: the staged routes
        do not change)."""
        found = self.alt_cache.get(direction)
        if found is None:
            found = {(v.route.index, g): tuple(
                c for c, o in views.items()
                if o.route.area == v.route.area and o.route.gate.permits_group(goods))
                for v in views.values() for g, goods in enumerate(GOODS)}
            self.alt_cache[direction] = found
        return found

    def _outlook(self, view: GateView, starts: list[datetime], t: float, slot: int
                 ) -> tuple[list[Waiting], dict[str, int], list[int]]:
        """The gate's first waiting trucks in its policy's order (as many as it can call
        within the horizon, plus ``REROUTE_EXTRA``), the slot the policy's forecast gives each,
        and the places it leaves per slot."""
        r = view.route
        limit = sum(view.usable) + REROUTE_EXTRA
        mine = order_queue(self.waiting(self.candidates(r.index, limit,
                                                        slot + REROUTE_HORIZON - 1), r.index),
                           r.policy,
                           self.slot_start(slot + 1), self.at(t))[:limit]
        fc, left_all = forecast(mine, starts, view.usable, r.policy, SLOT_MINUTES)
        return mine, fc, left_all

    def _move(self, views: dict[str, GateView], moves: list[Reroute]) -> None:
        """Move the trucks the planner re-routed: out of their gate's queue, into the new
        gate's (out of arrival order), with the new gate's transshipment step; a truck moved
        to a gate with other steps takes that gate's steps (its service times drawn then)."""
        by_gate: dict[str, set[int]] = {}
        for mv in moves:
            by_gate.setdefault(mv.from_gate, set()).add(int(mv.trip_id))
        for code, taken in by_gate.items():
            self.remove(views[code].route.index, taken)
        for mv in moves:
            i = int(mv.trip_id)
            new = views[mv.gate].route
            m = self.model
            if m.routes[int(self.route[i])].steps != new.steps:
                m.service[i], m.applies[i] = step_row(
                    new, m.route_dists[new.index], bool(m.quarantine[i]), bool(m.crosses[i]),
                    m.move_rng, m.service.shape[1])
            self.route[i] = new.index
            self.rerouted[i] = True
            if self.booked[i] >= 0:  # as live: a move gives the booking back
                self.booked[i] = -1
                self.wcache[i] = None
            for j, kind in enumerate(new.kinds):
                if kind == "transshipment":
                    m.applies[i, j] = new.gate.transshipment
            self.extra[new.index * NCLASS + int(self.klass[i])].append(i)

    # --- the end

    def count_direct_queues(self) -> None:
        """Add to the sampled queues the trucks waiting at the gates not regulated through a
        staging area at each cycle (arrived and not yet admitted into the gate area): exports
        on the road, imports on the partner side; and count the queues per road (a staging
        area's, a gate's)."""
        self.road_queues = np.zeros((len(self.model.roads), self.cycles), dtype=np.int64)
        model = self.model
        for a, queue in enumerate(self.area_queue):
            if model.road_of_area[a] >= 0:
                self.road_queues[model.road_of_area[a]] += queue
        for ri in self.direct:
            trucks_r = np.asarray(self.direct_trucks[ri], dtype=np.int64)
            if trucks_r.size == 0:
                continue
            came = np.searchsorted(self.arrival[trucks_r], self.sample_t, side="right")
            entries = np.sort(self.called_at[trucks_r])
            went = np.searchsorted(entries, self.sample_t, side="right")
            if self.routes[ri].direction == "export":
                self.road += came - went
                self.road_queues[model.road_of_route[ri]] += came - went
            else:
                self.partner_q += came - went

    def trace(self) -> Trace:
        """What happened, as the results read it."""
        return Trace(model=self.model, staged_at=np.array(self.staged_at, dtype=np.float64),
                     called_at=self.called_at,
                     gate_in=self.gate_in, leave=self.leave, start=self.start,
                     busy=self.busy, no_show=self.no_show, rerouted=self.rerouted,
                     route=self.route, yard=self.truck_yard, services=self.areas.services,
                     sample_t=self.sample_t, road_trucks=self.road,
                     road_queues=self.road_queues,
                     partner_queue=self.partner_q, staging=self.staging_n,
                     calls=np.array(self.calls, dtype=np.float64).reshape(-1, 4))


Outlook = tuple[list[Waiting], dict[str, int], list[int]]


def _reroute_candidates(views: dict[str, GateView], outlook: dict[str, Outlook],
                        perishable: list[bool], alts: dict[tuple[int, int], tuple[str, ...]],
                        next_slot: datetime
                        ) -> list[tuple[Waiting, int | None, tuple[str, ...]]]:
    """The trucks the planner may move: those their gate's forecast does not call within
    its gain (``reroute_after_minutes``), with the gates of their staging area that permit
    their goods (``alts``, when there is another); as live, not a truck booked for a slot
    from ``next_slot`` on (it waits for its slot, not for the gate)."""
    cands = []
    for code, view in views.items():
        r = view.route
        mine, fc, _left = outlook[code]
        gain = max(1, r.policy.reroute_after_minutes // SLOT_MINUTES)
        alt_perishable = alts[r.index, 0]
        alt_other = alts[r.index, 2]
        for w in mine:
            own = fc.get(w.trip_id)
            if own is not None and own < gain:
                continue
            if w.booked_slot is not None and w.booked_slot >= next_slot:
                continue
            alt = alt_perishable if perishable[int(w.trip_id)] else alt_other
            if len(alt) > 1:
                cands.append((w, own, alt))
    return cands


def _room_left(views: dict[str, GateView], outlook: dict[str, Outlook], moving: set[str],
               starts: list[datetime]) -> dict[str, GateRoom]:
    """The room each gate has left per slot once the trucks that stay are called."""
    left = {}
    for code, view in views.items():
        r = view.route
        mine, _fc, left_all = outlook[code]
        stay = [w for w in mine if w.trip_id not in moving]
        after = (left_all if len(stay) == len(mine) else
                 forecast(stay, starts, view.usable, r.policy, SLOT_MINUTES)[1])
        left[code] = room_after_stay(view.places, view.usable, after, view.yard_now,
                                     view.partner)
    return left


def _first_slot(reach: list[int], count: int) -> int | None:
    """The slot in which the ``count``-th truck of a queue is reached, given the places a gate
    can use up to each slot (None: beyond the horizon); with ``count`` 0, the first slot with
    a place."""
    s = bisect_left(reach, max(count, 1))
    return s if s < len(reach) else None


def _may_move(views: Iterable[GateView], perishable_waiting: dict[str, int]) -> bool:
    """Whether re-routing can move anyone: some gate's last waiting truck (its last
    perishable one, towards a gate that takes only perishable goods) is called at least its
    gain later than another gate of the same staging area has a place left after its own
    waiting trucks. A cheap necessary test before the forecasts and the planner, which decide
    the moves."""
    items = list(views)
    for a, _pa, _ya, _ua, waiting_a, reach_a, _ra in items:
        if waiting_a == 0:
            continue
        gain = max(1, a.policy.reroute_after_minutes // SLOT_MINUTES)
        for b, _pb, _yb, _ub, waiting_b, reach_b, _rb in items:
            if b is a or b.area != a.area:
                continue
            movable = (waiting_a if b.gate.permits_group(GOODS[2])
                       else perishable_waiting[a.gate.code])
            if movable == 0:
                continue
            last = _first_slot(reach_a, movable)
            spare = _first_slot(reach_b, waiting_b + 1)
            if spare is not None and (last is None or spare + gain <= last):
                return True
    return False
