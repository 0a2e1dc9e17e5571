"""Dispatch rules: which waiting trucks to call forward now, to which gate and yard; when a
called truck is a no-show and what follows; which trucks to re-route (with
:mod:`borderflow.domain.dispatch_planner`).

Pure: the dispatcher service (:mod:`borderflow.dispatch.service`) gathers who waits in the
staging area and how much room each gate has, this module decides, the service records the
orders as trip events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from operator import attrgetter
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from borderflow.domain.dispatch_planner import plan_lists

CLASS_RANK = {"urgent": 0, "aeo_perishable": 1, "perishable": 2, "aeo": 3, "normal": 4}
CLASS_WEIGHT = {"urgent": 100.0, "aeo_perishable": 8.0, "perishable": 5.0, "aeo": 2.0,
                "normal": 1.0}
"""Cost of one slot of waiting per class, for the planner (re-routing)."""

ECHERHA_CYCLE: tuple[str, ...] = (
    "aeo_perishable", "perishable", "aeo", "normal", "normal", "normal", "normal", "normal",
)
"""The eCherha rule: 1 AEO-with-perishables : 1 perishables : 1 AEO : 5 ordinary."""


@dataclass(frozen=True)
class Policy:
    """How classes share the places of a gate. ``strict``: always the highest class first.
    ``cycle``: take classes in the repeating ``cycle`` order (urgent always first), skipping
    empty classes, so lower classes are never starved. ``green_channel``: inside the daily
    ``green_window`` (local time in ``timezone``) the ``green_classes`` go first (urgent still
    before them) and, unless ``share_green_window`` is false, the others only after them;
    outside the window, strict."""

    kind: Literal["strict", "cycle", "green_channel"] = "strict"
    cycle: tuple[str, ...] = ECHERHA_CYCLE
    grace_minutes: int = 90
    green_window: tuple[time, time] | None = None
    green_classes: tuple[str, ...] = ("aeo_perishable", "perishable")
    share_green_window: bool = True
    timezone: str = "Asia/Ho_Chi_Minh"
    reroute_after_minutes: int = 120
    no_show: Literal["requeue", "cancel"] = "requeue"

    def in_green_window(self, at: datetime) -> bool:
        if self.kind != "green_channel" or self.green_window is None:
            return False
        local = at.astimezone(ZoneInfo(self.timezone)).time()
        return self.green_window[0] <= local < self.green_window[1]

    def may_call(self, priority: str, at: datetime) -> bool:
        """Whether a truck of the class may be called at that time (the green window may be
        reserved for green classes)."""
        if priority == "urgent" or self.calls_every_class(at):
            return True
        return priority in self.green_classes

    def calls_every_class(self, at: datetime) -> bool:
        """Whether trucks of every class may be called at that time (no green window is
        reserved then)."""
        return self.share_green_window or not self.in_green_window(at)


class Waiting(NamedTuple):
    """A truck waiting in the staging area for its gate, as the policies see it. (A named
    tuple, like :class:`Order`: immutable, and quick to build; the scenario lab builds
    hundreds of thousands a simulated year.)"""

    trip_id: str
    gate: str
    direction: str
    priority: str
    arrived_at: datetime
    booked_slot: datetime | None = None


class Room(NamedTuple):
    """What a gate can take now in one direction: places left in the current slot, and free
    places in each of its yards for that direction (after trucks already on their way). (A
    named tuple, like :class:`Waiting`: the scenario lab builds one per gate and cycle.)"""

    gate: str
    direction: str
    slot_places: int
    yards: tuple[tuple[str, int], ...] = ()
    partner: int | None = None
    """Free places left in the partner side's yard at this gate, when it reported them."""

    @property
    def places(self) -> int:
        free = 0
        for _, n in self.yards:
            free += n
        here = min(self.slot_places, free)
        return max(0, here if self.partner is None else min(here, self.partner))


def partner_room(vehicles: int, capacity: int | None, sent_since: int) -> int | None:
    """Free places in the partner side's yard: its capacity less the vehicles it reported and
    the trucks we have sent since it counted them; None when its capacity is unknown."""
    if capacity is None:
        return None
    return max(0, capacity - vehicles - sent_since)


def count_in_use(counted_at: datetime, now: datetime, report_hours: float) -> bool:
    """Whether a partner-side yard count is still used for planning at ``now``: counted by
    then and within the gate's ``partner_report_hours``. The live dispatcher and the scenario
    lab both ask it."""
    return now - timedelta(hours=report_hours) <= counted_at <= now


def cap_places(places: Sequence[int], room_now: int | None, budget: int | None) -> list[int]:
    """A gate's places per slot, limited by the free places in its yards now (the first slot)
    and by a budget over the whole horizon (the partner side's free yard places). Places are
    used earliest first, so the budget is spent from the first slot on."""
    out = [max(0, p) for p in places]
    if room_now is not None and out:
        out[0] = min(out[0], max(0, room_now))
    if budget is not None:
        left = max(0, budget)
        for s, p in enumerate(out):
            out[s] = min(p, left)
            left -= out[s]
    return out


def is_no_show(status: str, arrive_by: datetime | None, now: datetime) -> bool:
    """The no-show rule: a truck called forward (status ``called``) that has not reached the
    gate by its order's ``arrive_by`` (the call time plus the gate's ``grace_minutes``) is a
    no-show. What follows is the gate policy's ``no_show`` (``requeue``: back in the staging
    queue; ``cancel``: the trip is cancelled); either way the vehicle gets an offence that may
    bar it from booking (:func:`borderflow.domain.booking.barred_until`)."""
    return status == "called" and arrive_by is not None and now > arrive_by


class Order(NamedTuple):
    """A call: the truck, the gate and yard it is called to, and when it must be there."""

    trip_id: str
    gate: str
    yard: str
    arrive_by: datetime


new_record = tuple.__new__
"""``new_record(Order, (...))`` makes a named tuple as its generated constructor does, without
calling it: ``Order(...)`` runs a Python function, compiled code calls this in C. For the
records made once per call, room or waiting truck (the call-forward, the scenario lab)."""


def _queue_key(w: Waiting, slot_end: datetime) -> tuple[int, datetime, str]:
    booked_now = w.booked_slot is not None and w.booked_slot < slot_end
    return (0 if booked_now else 1, w.arrived_at, w.trip_id)


_ARRIVAL = attrgetter("arrived_at", "trip_id")
_ROOM = attrgetter("gate", "direction")
_BOOKED = attrgetter("booked_slot")


def eligible(w: Waiting, slot_end: datetime) -> bool:
    """A truck booked for a later slot waits for it; one without a booking is served in turn."""
    return w.booked_slot is None or w.booked_slot < slot_end


def order_queue(waiting: Sequence[Waiting], policy: Policy, slot_end: datetime,
                at: datetime | None = None) -> list[Waiting]:
    """The order in which one gate's waiting trucks are called (at ``at``, by default the
    start of the slot ending at ``slot_end``'s half hour; only the green channel depends on
    the time of day)."""
    by_class: dict[str, list[Waiting]] = {}
    booked = False
    for w in waiting:
        queue = by_class.get(w.priority)
        if queue is None:
            by_class[w.priority] = [w]
        else:
            queue.append(w)
        if w.booked_slot is not None:
            booked = True
    # without bookings every truck's key starts the same: arrival, then id
    key = (lambda w: _queue_key(w, slot_end)) if booked else _ARRIVAL
    for queue in by_class.values():
        if len(queue) > 1:
            queue.sort(key=key)
    in_green = policy.kind == "green_channel" and \
        policy.in_green_window(at or slot_end - timedelta(minutes=1))
    return _take(by_class, dict.fromkeys(by_class, 0), len(waiting), policy, in_green)


_SPANS: dict[int, timedelta] = {}


def _minutes(n: int) -> timedelta:
    """``timedelta(minutes=n)``, made once per value (every call-forward asks for it)."""
    span = _SPANS.get(n)
    if span is None:
        span = _SPANS[n] = timedelta(minutes=n)
    return span


def choose_calls(waiting: Sequence[Waiting], rooms: Sequence[Room], *, now: datetime,
                 slot_end: datetime, policy: Policy | Mapping[str, Policy]) -> list[Order]:
    """Orders for as many waiting trucks as each gate and its yards have room for now.
    ``policy`` is one for all gates, or one per gate code (default: strict)."""
    orders: list[Order] = []
    for room in sorted(rooms, key=_ROOM) if len(rooms) > 1 else rooms:
        gate_policy = (policy if isinstance(policy, Policy)  # one for all: the usual case
                       else policy.get(room.gate, Policy()))
        places = room.places
        if places <= 0:
            continue
        gate = room.gate
        direction = room.direction
        candidates = [w for w in waiting if w.gate == gate and w.direction == direction
                      and (w.booked_slot is None or w.booked_slot < slot_end)]  # eligible
        if not candidates:
            continue
        arrive_by = now + _minutes(gate_policy.grace_minutes)
        callable_now = order_queue(candidates, gate_policy, slot_end, now)
        if not gate_policy.calls_every_class(now):
            callable_now = [w for w in callable_now if gate_policy.may_call(w.priority, now)]
        if len(room.yards) == 1:  # every call to the one yard
            yard = room.yards[0][0]
            orders += [new_record(Order, (w.trip_id, gate, yard, arrive_by))
                       for w in callable_now[:places]]
            continue
        free = dict(room.yards)
        yards = sorted(free)
        for w in callable_now[:places]:
            yard = max(yards, key=free.__getitem__)  # most room; the first code among equals
            free[yard] -= 1
            orders.append(new_record(Order, (w.trip_id, gate, yard, arrive_by)))
    return orders


def forecast(waiting: Sequence[Waiting], slot_starts: Sequence[datetime],
             places: Sequence[int], policy: Policy, slot_minutes: int
             ) -> tuple[dict[str, int], list[int]]:
    """Simulate one gate's calls slot by slot: in each slot the gate calls its waiting trucks
    in policy order, as many as the slot has places. Returns each truck's slot index (absent
    if it is not called within the horizon) and the places left in each slot.

    Each slot's calls are the first trucks of :func:`order_queue` over the trucks not called
    yet. When no truck is booked and every class may be called in every slot, they are taken
    from the head of each class's queue without ordering the whole queue again each slot
    (:func:`_take`: the same trucks, in the same order)."""
    if (any(map(_BOOKED, waiting)) or any(w.priority not in CLASS_RANK for w in waiting)
            or not (policy.share_green_window or policy.kind != "green_channel"
                    or all(map(policy.calls_every_class, slot_starts)))):
        return _forecast_by_order(waiting, slot_starts, places, policy, slot_minutes)
    left = list(places)
    called: dict[str, int] = {}
    by_class: dict[str, list[Waiting]] = {}
    for w in waiting:
        queue = by_class.get(w.priority)
        if queue is None:
            by_class[w.priority] = [w]
        else:
            queue.append(w)
    for queue in by_class.values():
        if len(queue) > 1:
            queue.sort(key=_ARRIVAL)
    heads = dict.fromkeys(by_class, 0)
    remaining = len(waiting)
    green = policy.kind == "green_channel"
    for s, start in enumerate(slot_starts):
        if not remaining:
            break
        if left[s] <= 0:
            continue
        taken = _take(by_class, heads, left[s], policy,
                      green and policy.in_green_window(start))
        for w in taken:
            called[w.trip_id] = s
        left[s] -= len(taken)
        remaining -= len(taken)
    return called, left


def _rank(cls: str) -> int:
    return CLASS_RANK.get(cls, 99)


def _take(by_class: dict[str, list[Waiting]], heads: dict[str, int], count: int,
          policy: Policy, in_green_window: bool) -> list[Waiting]:
    """The first ``count`` trucks over the trucks of ``by_class`` (each class in its queue's
    order, ``heads`` its first truck not called yet), taken off their queues: urgent first,
    then by the policy (a class it does not know after those it does). :func:`order_queue`
    is all of them; the slot planner takes each slot's from the heads."""
    out: list[Waiting] = []

    def strict(classes: Sequence[str]) -> None:
        for cls in sorted(classes, key=_rank):
            if len(out) >= count:
                return
            queue = by_class[cls]
            h = heads[cls]
            got = queue[h:h + count - len(out)]
            heads[cls] = h + len(got)
            out.extend(got)

    present = [cls for cls in by_class if heads[cls] < len(by_class[cls])]
    if "urgent" in present:
        strict(["urgent"])
        present.remove("urgent")
    if len(out) >= count or not present:
        return out
    if policy.kind == "green_channel":
        if in_green_window:
            strict([c for c in present if c in policy.green_classes])
            strict([c for c in present if c not in policy.green_classes])
        else:
            strict(present)
        return out
    if policy.kind == "strict" or not policy.cycle:
        strict(present)
        return out
    cycle = [cls for cls in policy.cycle if cls in present]
    progressed = bool(cycle)
    while progressed and len(out) < count:  # one pass takes one truck per cycle position
        progressed = False
        for cls in cycle:
            h = heads[cls]
            queue = by_class[cls]
            if h < len(queue):
                out.append(queue[h])
                heads[cls] = h + 1
                progressed = True
                if len(out) >= count:
                    return out
    strict(present)  # classes not in the cycle (the cycle's own are exhausted)
    return out


def _forecast_by_order(waiting: Sequence[Waiting], slot_starts: Sequence[datetime],
                       places: Sequence[int], policy: Policy, slot_minutes: int
                       ) -> tuple[dict[str, int], list[int]]:
    """:func:`forecast` with bookings or a reserved green window: each slot orders the
    trucks it may call with :func:`order_queue`."""
    left = list(places)
    called: dict[str, int] = {}
    remaining = list(waiting)
    step = timedelta(minutes=slot_minutes)
    booked = any(map(_BOOKED, remaining))
    for s, start in enumerate(slot_starts):
        if not remaining:
            break
        if left[s] <= 0:
            continue
        end = start + step
        ready = remaining
        if booked or not policy.calls_every_class(start):
            ready = [w for w in remaining
                     if eligible(w, end) and policy.may_call(w.priority, start)]
        taken = order_queue(ready, policy, end, start)[:left[s]]
        for w in taken:
            called[w.trip_id] = s
        left[s] -= len(taken)
        if taken:
            remaining = [w for w in remaining if w.trip_id not in called]
    return called, left


class Reroute(NamedTuple):
    """A truck moved to another gate."""

    trip_id: str
    from_gate: str
    gate: str
    slot: int
    """Index of the slot the planner gives the truck at its new gate."""


class GateRoom(NamedTuple):
    """What one gate has left for trucks moved to it, after the trucks that stay: places per
    slot, free yard places now (None: not limited), and the partner side's free yard places
    over the horizon (None: not reported or capacity unknown)."""

    places: Sequence[int]
    yard_now: int | None = None
    partner: int | None = None


def room_after_stay(places: Sequence[int], usable: Sequence[int], after: Sequence[int],
                    yard_now: int, partner: int | None) -> GateRoom:
    """What a gate has left for trucks moved to it once the trucks that stay are called:
    ``places`` per slot, ``usable`` the places it can use per slot (yards and the partner side
    taken into account) and ``after`` what the forecast of the trucks that stay leaves of
    them; its free yard places now and the partner side's free places less what they use."""
    used = [u - a for u, a in zip(usable, after, strict=True)]
    return GateRoom(places=[max(0, p) - u for p, u in zip(places, used, strict=True)],
                    yard_now=yard_now - used[0],
                    partner=None if partner is None else partner - sum(used))


def plan_reroutes(candidates: Sequence[tuple[Waiting, int | None, tuple[str, ...]]],
                  gates: Sequence[str], left: Mapping[str, GateRoom],
                  gain_slots: Mapping[str, int]) -> list[Reroute]:
    """Which waiting trucks to move to another gate. Each candidate is (truck, its forecast
    slot at its own gate or None if not within the horizon, the gates it may go to instead,
    its own included). ``left`` is what each gate has after the trucks that stay; the planner
    (:func:`plan`) spreads the candidates over their gates within those places, yard room and
    partner-side room, and a truck moves when the planner puts it at another gate at least
    ``gain_slots[own gate]`` slots earlier than its forecast (any slot, if it had none).
    Deterministic: the moves come first come first served, whatever order the candidates
    are given in."""
    if not candidates:
        return []
    index = {g: i for i, g in enumerate(gates)}
    horizon = len(next(iter(left.values())).places)
    # each gate's places, capped in the first slot by its yards' room now (the planner's
    # capacity and room in one)
    capacity = [[0] * horizon for _ in gates]
    budget = [-1] * len(gates)
    for code, gate_room in left.items():
        i = index[code]
        row = [p if p > 0 else 0 for p in gate_room.places]
        if gate_room.yard_now is not None and horizon:
            row[0] = min(row[0], max(0, gate_room.yard_now))
        capacity[i] = row
        if gate_room.partner is not None:
            budget[i] = max(0, gate_room.partner)
    # the goods groups numbered by their gates, fewest first (the planner serves equal groups
    # in that order), not by which candidate came first: the plan does not depend on the
    # order the candidates are given in
    sorted_alt = {alt: tuple(sorted(alt)) for _, _, alt in candidates}
    combos = {c: k for k, c in enumerate(sorted(set(sorted_alt.values()),
                                                key=lambda c: (len(c), c)))}
    group = [combos[sorted_alt[alt]] for _, _, alt in candidates]
    permitted = [[False] * len(gates) for _ in combos]
    for combo, k in combos.items():
        for code in combo:
            permitted[k][index[code]] = True
    # first come first served: each candidate's rank by (arrival, trip id)
    order = sorted(zip([w.arrived_at for w, _, _ in candidates],
                       [w.trip_id for w, _, _ in candidates], range(len(candidates)),
                       strict=True))
    rank = [0] * len(candidates)
    for r, (_a, _t, i) in enumerate(order):
        rank[i] = r
    # the planner on plain lists (a re-routing offers a few trucks; the same plan as
    # plan(PlanInput(...)) without building and checking arrays, every hour)
    planned_gate, planned_slot = plan_lists(
        capacity, [0] * len(candidates),
        [CLASS_WEIGHT.get(w.priority, 1.0) for w, _, _ in candidates], group, permitted,
        rank, budget)
    out = []
    for _a, _t, i in order:  # the moves in the order the trucks came, whatever the input order
        w, own_slot, _ = candidates[i]
        g, slot = planned_gate[i], planned_slot[i]
        if g < 0 or gates[g] == w.gate:
            continue
        if own_slot is None or slot + gain_slots.get(w.gate, 0) <= own_slot:
            out.append(Reroute(w.trip_id, w.gate, gates[g], slot))
    return out
