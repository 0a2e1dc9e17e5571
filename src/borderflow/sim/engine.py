"""The simulation loop: arrivals, staging, call-forward by the live dispatch policy, gate areas.

The clock advances in dispatch cycles (``dispatch.cycle_minutes``). In each cycle:

1. trucks leave the yards they occupied (after their last step) and no-shows whose grace time
   ran out go back to the staging queue;
2. trucks that arrived since the last cycle enter the staging area while it has room; the rest
   queue on the road (National Highway 1), first come first served;
3. for each staged gate and direction with places left in the current 30-minute slot and room
   in its yards, :func:`borderflow.domain.dispatch.choose_calls` (the function the live
   dispatcher calls) decides who is called and to which yard, by the gate's policy;
4. trucks of gates that are not regulated through the staging area (or every truck, without
   regulation) enter the gate area first come first served while it is open and a yard has
   room; the others wait on the road;
5. every truck that enters a gate area in the cycle is pushed through the stations of its
   procedure (compiled multi-server FIFO recursion, :mod:`borderflow.sim.kernels`), which
   gives the time it leaves the gate area and frees its yard place.

Every hour (``dispatch.reroute``) the live re-routing planner
(:func:`borderflow.domain.dispatch.plan_reroutes` over :func:`planner.plan`) moves trucks
waiting for a gate with no places soon to another gate of the same staging area.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from borderflow.domain.dispatch import (
    GateRoom,
    Room,
    Waiting,
    choose_calls,
    forecast,
    order_queue,
    plan_reroutes,
)
from borderflow.domain.trip import PRIORITIES
from borderflow.sim.kernels import process_batch
from borderflow.sim.model import GOODS, SLOT_MINUTES, Model, Route

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

NCLASS = len(PRIORITIES)
PERISHABLE_CLASSES = (PRIORITIES.index("aeo_perishable"), PRIORITIES.index("perishable"))
REROUTE_EVERY = 60.0
REROUTE_HORIZON = 12
"""Slots the re-routing planner looks ahead (6 hours; the live dispatcher looks 24 hours)."""
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
    done: FloatArray
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
    """Trucks queued on the Vietnamese road (staging area full, or waiting to enter a gate area
    that is not regulated through the staging area)."""
    partner_queue: IntArray
    """Import trucks waiting on the partner side for room in the gate area."""
    staging: IntArray

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
    sc = model.scenario
    cyc = float(sc.dispatch.cycle_minutes)
    n = model.trucks
    routes = model.routes
    n_routes = len(routes)
    max_steps = model.service.shape[1]
    arrival = model.arrival
    route = model.route.copy()
    klass = model.klass
    staged_at = np.full(n, np.nan)
    called_at = np.full(n, np.nan)
    gate_in = np.full(n, np.inf)
    leave = np.full(n, np.nan)
    start = np.full((n, max_steps), np.nan)
    done = np.full((n, max_steps), np.nan)
    n_st = model.station_servers.shape[0]
    free = np.full((n_st, int(model.station_servers.max())), np.inf)
    for s in range(n_st):
        free[s, :model.station_servers[s]] = 0.0
    busy = np.zeros(n_st)
    no_show = np.zeros(n, dtype=np.bool_)
    rerouted = np.zeros(n, dtype=np.bool_)
    truck_yard = np.full(n, -1, dtype=np.int64)
    p_no_show = sc.dispatch.no_show_probability
    priority_on = sc.dispatch.priority

    staged_route = np.array([r.staged for r in routes], dtype=np.bool_)
    route_area = np.array([r.area for r in routes], dtype=np.int64)
    is_staged = staged_route[route] if n else np.zeros(0, dtype=np.bool_)
    n_keys = n_routes * NCLASS
    key = route * NCLASS + klass
    # staging: per area, its trucks in arrival order; per (route, class) the queue
    areas = len(model.area_codes)
    area_trucks = [np.flatnonzero(is_staged & (route_area[route] == a)) for a in range(areas)]
    area_arr = [arrival[t].tolist() for t in area_trucks]
    area_trucks_l = [t.tolist() for t in area_trucks]
    area_adm = [0] * areas
    area_occ = [0] * areas
    area_cap = model.area_capacity.tolist()
    order_all = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[order_all], np.arange(n_keys + 1))
    queue = [(order_all[bounds[k]:bounds[k + 1]][is_staged[order_all[bounds[k]:bounds[k + 1]]]]
              ).tolist() for k in range(n_keys)]
    head = [0] * n_keys
    tail = [0] * n_keys
    key_of = key.tolist()
    extra: list[list[int]] = [[] for _ in range(n_keys)]
    """Trucks back in a queue out of arrival order (no-shows requeued, trucks re-routed)."""
    # direct routes: trucks come to the gate
    direct = [r.index for r in routes if not r.staged]
    direct_trucks = {r: np.flatnonzero((route == r) & ~is_staged).tolist() for r in direct}
    direct_arr = {r: arrival[direct_trucks[r]].tolist() for r in direct}
    direct_head = dict.fromkeys(direct, 0)
    yard_occ = [0] * len(model.yard_codes)
    yard_freed = [0.0] * len(model.yard_codes)
    """When each yard last had a place freed (a truck cannot enter before)."""
    arrival_l = arrival.tolist()
    yard_cap = model.yard_capacity.tolist()
    yard_index = {c: i for i, c in enumerate(model.yard_codes)}
    releases: list[tuple[float, int]] = []
    requeues: list[tuple[float, int]] = []
    wcache: list[Waiting | None] = [None] * n
    gone = [False] * n
    """Called or moved out of its place in its queue."""

    cycles = int(model.horizon // cyc)
    sample_t = np.arange(cycles, dtype=np.float64) * cyc
    road = np.zeros(cycles, dtype=np.int64)
    partner_q = np.zeros(cycles, dtype=np.int64)
    staging_n = np.zeros(cycles, dtype=np.int64)
    # is each gate open at each cycle (for entry into gate areas not regulated by call-forward)
    # (-1 when closed, else when the current opening began)
    gate_open: list[list[float]] = []
    for g in range(len(model.gate_codes)):
        lo, hi = model.gate_off[g], model.gate_off[g + 1]
        k = np.searchsorted(model.open_end[lo:hi], sample_t, side="right")
        opened = np.full(cycles, -1.0)
        ok = k < (hi - lo)
        begun = model.open_start[lo:hi][k[ok]]
        opened[ok] = np.where(begun <= sample_t[ok], begun, -1.0)
        gate_open.append(opened.tolist())
    places_tab = model.slot_places.tolist()
    route_gate = [model.gate_codes.index(r.gate.code) for r in routes]
    steps = model.route_nsteps
    services = 0
    called_in_slot = [0] * n_routes
    cur_slot = -1
    prev_t = 0.0
    next_reroute = REROUTE_EVERY
    staged_routes = [r for r in routes if r.staged]

    def slot_end_of(slot: int) -> datetime:
        return model.at((slot + 1) * SLOT_MINUTES)

    def waiting_of(i: int, r: int) -> Waiting:
        w = wcache[i]
        if w is None or w.gate != routes[r].gate.code:
            w = Waiting(trip_id=f"{i:07d}", gate=routes[r].gate.code,
                        direction=routes[r].direction,
                        priority=PRIORITIES[klass[i]] if priority_on else "normal",
                        arrived_at=model.at(float(staged_at[i])))
            wcache[i] = w
        return w

    def candidates(r: int, limit: int) -> list[int]:
        """The first ``limit`` waiting trucks of each class of the route (the policy orders
        a class first come first served, so it never calls beyond them)."""
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
        return out

    def waiting_count(r: int, classes: Iterable[int] = range(NCLASS)) -> int:
        total = 0
        for cl in classes:
            k = r * NCLASS + cl
            total += tail[k] - head[k] + len(extra[k])
        return total

    def remove(r: int, taken: set[int]) -> None:
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

    def reroute_pass(t: float, slot: int) -> None:
        """The live re-routing rule (see :mod:`borderflow.dispatch.service`): per direction,
        the trucks a gate will not call within its ``reroute_after_minutes`` are offered to
        the planner with the other gates of the staging area that permit their goods and
        follow the same procedure steps."""
        starts = [model.at((slot + s) * SLOT_MINUTES) for s in range(REROUTE_HORIZON)]
        for direction in ("export", "import"):
            group = [r for r in staged_routes if r.direction == direction]
            if len(group) < 2:
                continue
            views = {}
            perishable_waiting: dict[str, int] = {}
            for r in group:
                ri = r.index
                row = places_tab[ri][slot:slot + REROUTE_HORIZON]
                places = row + [0] * (REROUTE_HORIZON - len(row))
                places[0] = max(0, places[0] - called_in_slot[ri])
                yard_now = sum(max(0, yard_cap[y] - yard_occ[y]) for y in r.yards)
                usable = [min(places[0], yard_now), *places[1:]]
                views[r.gate.code] = (r, places, yard_now, usable, waiting_count(ri))
                perishable_waiting[r.gate.code] = waiting_count(ri, PERISHABLE_CLASSES)
            if not _may_move(views.values(), perishable_waiting):
                continue  # no gate could take a truck early enough to be worth moving
            outlook = {}
            for code, (r, _places, _yard, usable, _waiting) in views.items():
                limit = sum(usable) + REROUTE_EXTRA
                mine = order_queue([waiting_of(i, r.index) for i in candidates(r.index, limit)],
                                   r.policy, slot_end_of(slot), model.at(t))[:limit]
                fc, left_all = forecast(mine, starts, usable, r.policy, SLOT_MINUTES)
                outlook[code] = (mine, fc, left_all)
            cands = []
            for code, (r, *_rest) in views.items():
                mine, fc, _left = outlook[code]
                gain = max(1, r.policy.reroute_after_minutes // SLOT_MINUTES)
                for w in mine:
                    own = fc.get(w.trip_id)
                    if own is not None and own < gain:
                        continue
                    goods = GOODS[0] if model.perishable[int(w.trip_id)] else GOODS[2]
                    alt = tuple(c for c, v in views.items() if v[0].gate.permits_group(goods)
                                and v[0].steps == r.steps)
                    if len(alt) > 1:
                        cands.append((w, own, alt))
            if not cands:
                continue
            moving = {w.trip_id for w, _, _ in cands}
            left = {}
            for code, (r, places, yard_now, usable, _w) in views.items():
                stay = [w for w in outlook[code][0] if w.trip_id not in moving]
                after = (outlook[code][2] if len(stay) == len(outlook[code][0]) else
                         forecast(stay, starts, usable, r.policy, SLOT_MINUTES)[1])
                used = [u - a for u, a in zip(usable, after, strict=True)]
                left[code] = GateRoom(places=[p - u for p, u in zip(places, used, strict=True)],
                                      yard_now=yard_now - used[0])
            gain_slots = {c: max(1, v[0].policy.reroute_after_minutes // SLOT_MINUTES)
                          for c, v in views.items()}
            moves = plan_reroutes(cands, list(views), left, gain_slots)
            by_gate: dict[str, set[int]] = {}
            for mv in moves:
                by_gate.setdefault(mv.from_gate, set()).add(int(mv.trip_id))
            for code, taken in by_gate.items():
                remove(views[code][0].index, taken)
            for mv in moves:
                i = int(mv.trip_id)
                new = views[mv.gate][0]
                route[i] = new.index
                rerouted[i] = True
                for j, kind in enumerate(new.kinds):
                    if kind == "transshipment":
                        model.applies[i, j] = new.gate.transshipment
                extra[new.index * NCLASS + int(klass[i])].append(i)

    for c in range(cycles):
        t = c * cyc
        on_road = 0
        slot = int(t // SLOT_MINUTES)
        if slot != cur_slot:
            cur_slot = slot
            called_in_slot = [0] * n_routes
        while releases and releases[0][0] <= t:
            freed, y = heapq.heappop(releases)
            yard_occ[y] -= 1
            yard_freed[y] = freed
        back: list[tuple[float, int]] = []
        while requeues and requeues[0][0] <= t:
            at, i = heapq.heappop(requeues)
            a = route_area[route[i]]
            if area_occ[a] >= area_cap[a]:
                back.append((t + cyc, i))  # the area is full: it waits on the road
                continue
            staged_at[i] = max(at, prev_t)
            wcache[i] = None
            extra[route[i] * NCLASS + klass[i]].append(i)
            area_occ[a] += 1
        for item in back:
            heapq.heappush(requeues, item)
        on_road += len(back)
        for a in range(areas):
            arrived = bisect_right(area_arr[a], t)
            adm = area_adm[a]
            new = min(arrived, adm + max(0, area_cap[a] - area_occ[a]))
            if new > adm:
                idx = area_trucks[a][adm:new]
                staged_at[idx] = np.maximum(arrival[idx], prev_t)
                for i in area_trucks_l[a][adm:new]:
                    tail[key_of[i]] += 1
                area_occ[a] += new - adm
                area_adm[a] = new
            on_road += arrived - area_adm[a]
        if t >= next_reroute:
            next_reroute += REROUTE_EVERY
            if sc.dispatch.reroute and staged_routes:
                reroute_pass(t, slot)
        batch: list[int] = []
        now = None
        for r in staged_routes:
            ri = r.index
            places = places_tab[ri][slot] - called_in_slot[ri]
            if places <= 0:
                continue
            yards = [(model.yard_codes[y], yard_cap[y] - yard_occ[y]) for y in r.yards]
            room_total = sum(f for _, f in yards)
            if room_total <= 0:
                continue
            cands = candidates(ri, min(places, room_total))
            if not cands:
                continue
            if now is None:
                now = model.at(t)
                slot_end = model.at((slot + 1) * SLOT_MINUTES)
            orders = choose_calls([waiting_of(i, ri) for i in cands],
                                  [Room(r.gate.code, r.direction, places, tuple(yards))],
                                  now=now, slot_end=slot_end, policy=r.policy)
            if not orders:
                continue
            taken = set()
            grace = r.policy.grace_minutes
            for o in orders:
                i = int(o.trip_id)
                taken.add(i)
                y = yard_index[o.yard]
                yard_occ[y] += 1
                called_at[i] = t
                if not no_show[i] and model.no_show_draw[i] < p_no_show:
                    no_show[i] = True
                    heapq.heappush(releases, (t + grace, y))
                    heapq.heappush(requeues, (t + grace, i))
                    continue
                truck_yard[i] = y
                gate_in[i] = t + model.travel[i]
                batch.append(i)
            called_in_slot[ri] += len(orders)
            area_occ[r.area] -= len(orders)
            remove(ri, taken)
        for ri in direct:
            opened_at = gate_open[route_gate[ri]][c]
            if opened_at < 0:
                continue  # the gate area admits trucks only while the gate works
            h = direct_head[ri]
            arrived = bisect_right(direct_arr[ri], t)
            if arrived <= h:
                continue
            ys = routes[ri].yards
            trucks = direct_trucks[ri]
            while h < arrived:
                y = ys[0]
                room = yard_cap[y] - yard_occ[y]
                for j in ys[1:]:
                    if yard_cap[j] - yard_occ[j] > room:
                        y = j
                        room = yard_cap[j] - yard_occ[j]
                if room <= 0:
                    break
                i = trucks[h]
                yard_occ[y] += 1
                truck_yard[i] = y
                entry = max(arrival_l[i], prev_t, yard_freed[y], opened_at)
                called_at[i] = entry
                gate_in[i] = entry
                batch.append(i)
                h += 1
            direct_head[ri] = h
        if batch:
            b = np.array(batch, dtype=np.int64)
            services += process_batch(b, gate_in, route, model.service, model.applies,
                                      model.route_station, model.route_prereq, steps,
                                      model.station_gate, free, model.open_start,
                                      model.open_end, model.gate_off, start, done, leave, busy)
            for lv, y in zip(leave[b].tolist(), truck_yard[b].tolist(), strict=True):
                heapq.heappush(releases, (lv, y))
        staging_n[c] = sum(area_occ)
        road[c] = on_road
        prev_t = t

    # trucks waiting at the gates not regulated through a staging area, at each cycle: arrived
    # and not yet admitted into the gate area
    for ri in direct:
        trucks_r = np.asarray(direct_trucks[ri], dtype=np.int64)
        if trucks_r.size == 0:
            continue
        came = np.searchsorted(arrival[trucks_r], sample_t, side="right")
        entries = np.sort(called_at[trucks_r])
        went = np.searchsorted(entries, sample_t, side="right")
        if routes[ri].direction == "export":
            road += came - went
        else:
            partner_q += came - went
    return Trace(model=model, staged_at=staged_at, called_at=called_at, gate_in=gate_in,
                 leave=leave, start=start, done=done, busy=busy, no_show=no_show,
                 rerouted=rerouted, route=route, yard=truck_yard, services=services,
                 sample_t=sample_t,
                 road_trucks=road, partner_queue=partner_q, staging=staging_n)


def _first_slot(usable: list[int], count: int) -> int | None:
    """The slot in which the ``count``-th truck of a queue is reached (None: beyond the
    horizon); with ``count`` 0, the first slot with a place."""
    total = 0
    for s, p in enumerate(usable):
        total += p
        if total >= max(count, 1):
            return s
    return None


def _may_move(views: Iterable[tuple[Route, list[int], int, list[int], int]],
              perishable_waiting: dict[str, int]) -> bool:
    """Whether re-routing can move anyone: some gate's last waiting truck (its last
    perishable one, towards a gate that takes only perishable goods) is called at least its
    gain later than another gate with the same procedure steps has a place left after its own
    waiting trucks. A cheap necessary test before the forecasts and the planner, which decide
    the moves."""
    items = list(views)
    for a, _pa, _ya, usable_a, waiting_a in items:
        if waiting_a == 0:
            continue
        gain = max(1, a.policy.reroute_after_minutes // SLOT_MINUTES)
        for b, _pb, _yb, usable_b, waiting_b in items:
            if b is a or b.steps != a.steps:
                continue
            movable = (waiting_a if b.gate.permits_group(GOODS[2])
                       else perishable_waiting[a.gate.code])
            if movable == 0:
                continue
            last = _first_slot(usable_a, movable)
            spare = _first_slot(usable_b, waiting_b + 1)
            if spare is not None and (last is None or spare + gain <= last):
                return True
    return False
