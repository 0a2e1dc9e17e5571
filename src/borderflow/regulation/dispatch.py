"""Dispatch policy: which waiting trucks to call forward now, to which gate and yard.

Pure: the dispatcher service gathers who waits in the staging area and how much room each gate
has, this module decides, the service records the orders as trip events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

CLASS_RANK = {"urgent": 0, "aeo_perishable": 1, "perishable": 2, "aeo": 3, "normal": 4}

ECHERHA_CYCLE: tuple[str, ...] = (
    "aeo_perishable", "perishable", "aeo", "normal", "normal", "normal", "normal", "normal",
)
"""The eCherha rule: 1 AEO-with-perishables : 1 perishables : 1 AEO : 5 ordinary."""


@dataclass(frozen=True)
class Policy:
    """How classes share the places of a gate. ``strict``: always the highest class first.
    ``cycle``: take classes in the repeating ``cycle`` order (urgent always first), skipping
    empty classes, so lower classes are never starved."""

    kind: Literal["strict", "cycle"] = "strict"
    cycle: tuple[str, ...] = ECHERHA_CYCLE
    grace_minutes: int = 90


@dataclass(frozen=True)
class Waiting:
    trip_id: str
    gate: str
    direction: str
    priority: str
    arrived_at: datetime
    booked_slot: datetime | None = None


@dataclass(frozen=True)
class Room:
    """What a gate can take now in one direction: places left in the current slot, and free
    places in each of its yards for that direction (after trucks already on their way)."""

    gate: str
    direction: str
    slot_places: int
    yards: tuple[tuple[str, int], ...] = field(default_factory=tuple)

    @property
    def places(self) -> int:
        return max(0, min(self.slot_places, sum(free for _, free in self.yards)))


@dataclass(frozen=True)
class Order:
    trip_id: str
    gate: str
    yard: str
    arrive_by: datetime


def _queue_key(w: Waiting, slot_end: datetime) -> tuple[int, datetime, str]:
    booked_now = w.booked_slot is not None and w.booked_slot < slot_end
    return (0 if booked_now else 1, w.arrived_at, w.trip_id)


def eligible(w: Waiting, slot_end: datetime) -> bool:
    """A truck booked for a later slot waits for it; one without a booking is served in turn."""
    return w.booked_slot is None or w.booked_slot < slot_end


def order_queue(waiting: Sequence[Waiting], policy: Policy, slot_end: datetime) -> list[Waiting]:
    """The order in which one gate's waiting trucks are called."""
    by_class: dict[str, list[Waiting]] = {}
    for w in waiting:
        by_class.setdefault(w.priority, []).append(w)
    for queue in by_class.values():
        queue.sort(key=lambda w: _queue_key(w, slot_end))
    out: list[Waiting] = by_class.pop("urgent", [])
    if policy.kind == "strict" or not policy.cycle:
        for cls in sorted(by_class, key=lambda c: CLASS_RANK.get(c, 99)):
            out += by_class[cls]
        return out
    heads = dict.fromkeys(by_class, 0)
    progressed = True
    while progressed:  # one pass of the cycle takes at most one truck per cycle position
        progressed = False
        for cls in policy.cycle:
            pending = by_class.get(cls, [])
            if heads.get(cls, 0) < len(pending):
                out.append(pending[heads[cls]])
                heads[cls] += 1
                progressed = True
    for cls in sorted(by_class, key=lambda c: CLASS_RANK.get(c, 99)):  # classes not in it
        out += by_class[cls][heads[cls]:]
    return out


def choose_calls(waiting: Sequence[Waiting], rooms: Sequence[Room], *, now: datetime,
                 slot_end: datetime, policy: Policy | Mapping[str, Policy]) -> list[Order]:
    """Orders for as many waiting trucks as each gate and its yards have room for now.
    ``policy`` is one for all gates, or one per gate code (default: strict)."""
    orders: list[Order] = []
    for room in sorted(rooms, key=lambda r: (r.gate, r.direction)):
        gate_policy = (policy.get(room.gate, Policy()) if isinstance(policy, Mapping)
                       else policy)
        arrive_by = now + timedelta(minutes=gate_policy.grace_minutes)
        places = room.places
        if places <= 0:
            continue
        candidates = [w for w in waiting if w.gate == room.gate and w.direction == room.direction
                      and eligible(w, slot_end)]
        free = dict(room.yards)
        for w in order_queue(candidates, gate_policy, slot_end)[:places]:
            yard = max(sorted(free), key=lambda y: free[y])
            free[yard] -= 1
            orders.append(Order(w.trip_id, room.gate, yard, arrive_by))
    return orders
