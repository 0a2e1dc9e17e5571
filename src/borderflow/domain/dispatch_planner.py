"""The slot planner: which gate and time slot each queued truck gets.

A pure function over arrays (no database, no clock): the same input always gives the same plan.

Problem. ``N`` trucks, ``G`` gates, ``S`` slots. Truck ``i`` may be served from slot
``release[i]`` on, at the gates its goods group permits (``permitted[group[i]]``); gate ``g``
serves at most ``capacity[g, s]`` trucks in slot ``s`` (0 when closed or outside working hours).
Waiting costs ``weight[i]`` per slot (the priority class). Hard constraints: capacity, working
hours (capacity 0), permitted gates, never before the release slot. Objectives, in order:
higher classes first, least total weighted waiting, an even load across gates, first come first
served within a class. Trucks that fit nowhere within the horizon stay unplanned (and cost as if
served just after it).

Downstream room. ``room`` (G × S) caps what a gate may take in a slot by what its yards can
hold then (the effective capacity is ``min(capacity, room)``); ``budget`` (G) caps what a gate
may take over the whole horizon, e.g. the free places the partner side reported in its yard
for this gate. Staging areas do not change the plan (trucks already wait there), but the plan
reports, per area and slot, how many trucks it leaves waiting beyond the area's capacity
(``staging_overflow``): trucks that would queue on the road.

Method. Trucks with the same release slot, weight and goods group are interchangeable, so the
planner works on those classes, slot by slot. In each slot the waiting groups (weight, goods
group) are served highest weight first and, among equals, least flexible first (fewest open
gates); each group first takes the capacity that the groups still waiting after it do not need
(so a flexible group leaves the gates others depend on), spread over its gates in proportion to
their free capacity (even load), then what it still needs; oldest release first within the
group. Counts are then expanded back to trucks in first-come order. The work per slot depends on
the number of groups and gates, not on the number of trucks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class PlanInput:
    capacity: IntArray
    """(G, S): trucks gate g can serve in slot s; 0 when closed."""
    release: IntArray
    """(N,): the first slot truck i may be served in."""
    weight: FloatArray
    """(N,): cost of one slot of waiting for truck i (from its priority class)."""
    group: IntArray
    """(N,): goods group of truck i (row of ``permitted``)."""
    permitted: BoolArray
    """(K, G): goods group k may pass gate g (already combined with the direction)."""
    order: IntArray | None = None
    """(N,): first-come rank within a class (default: the index)."""
    room: IntArray | None = None
    """(G, S): trucks gate g's yards can take in slot s (default: no limit)."""
    budget: IntArray | None = None
    """(G,): trucks gate g may take over the whole horizon; negative = no limit (default)."""
    area: IntArray | None = None
    """(N,): staging area of truck i (index into ``area_capacity``), -1 for none."""
    area_capacity: IntArray | None = None
    """(A,): trucks each staging area holds."""

    def __post_init__(self) -> None:
        n = self.release.shape[0]
        if self.capacity.ndim != 2:
            raise ValueError("capacity must have shape (gates, slots)")
        for name in ("weight", "group"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have one entry per truck")
        if self.order is not None and self.order.shape != (n,):
            raise ValueError("order must have one entry per truck")
        if self.permitted.ndim != 2 or self.permitted.shape[1] != self.capacity.shape[0]:
            raise ValueError("permitted must have shape (groups, gates)")
        if n and (self.group.min() < 0 or self.group.max() >= self.permitted.shape[0]):
            raise ValueError("group indexes must be rows of permitted")
        if (self.capacity < 0).any():
            raise ValueError("capacity must not be negative")
        if self.room is not None and (self.room.shape != self.capacity.shape
                                      or (self.room < 0).any()):
            raise ValueError("room must have the shape of capacity and no negative entries")
        if self.budget is not None and self.budget.shape != (self.capacity.shape[0],):
            raise ValueError("budget must have one entry per gate")
        if (self.area is None) != (self.area_capacity is None):
            raise ValueError("area and area_capacity go together")
        if self.area is not None and self.area_capacity is not None:
            if self.area.shape != (n,):
                raise ValueError("area must have one entry per truck")
            if n and self.area.max() >= self.area_capacity.shape[0]:
                raise ValueError("area indexes must be entries of area_capacity")
        if n and (self.weight < 0).any():
            raise ValueError("weights must not be negative")


@dataclass(frozen=True)
class PlanResult:
    gate: IntArray
    """(N,): the gate of each truck, -1 if unplanned."""
    slot: IntArray
    """(N,): the slot of each truck, -1 if unplanned."""
    inp: PlanInput = field(repr=False, compare=False)
    """What was planned (the figures below are computed from it when first asked: the
    re-routing, which plans every hour, needs only the assignment)."""

    @cached_property
    def total_weighted_wait(self) -> float:
        """Sum of weight × slots waited; unplanned trucks count as served at slot S."""
        return weighted_wait(self.inp, self.gate, self.slot)

    @cached_property
    def staging_overflow(self) -> IntArray | None:
        """(A, S): trucks waiting at the start of slot s beyond staging area a's capacity
        (only when the input names areas)."""
        inp = self.inp
        if inp.area_capacity is None:
            return None
        overflow: IntArray = np.maximum(staging_load(inp, self.gate, self.slot)
                                        - inp.area_capacity[:, None], 0)
        return overflow

    @property
    def unplanned(self) -> int:
        return int((self.gate < 0).sum())


def weighted_wait(inp: PlanInput, gate: IntArray, slot: IntArray) -> float:
    """The objective of an assignment (the benchmark recomputes it the same way)."""
    horizon = inp.capacity.shape[1]
    release = np.minimum(inp.release, horizon)
    served = np.where(gate >= 0, slot, horizon)
    return float((inp.weight * np.maximum(served - release, 0)).sum())


def staging_load(inp: PlanInput, gate: IntArray, slot: IntArray) -> IntArray:
    """(A, S): trucks in each staging area at the start of each slot: released by then and not
    called in an earlier slot (unplanned trucks stay to the end)."""
    if inp.area is None or inp.area_capacity is None:
        raise ValueError("the input names no staging areas")
    areas = inp.area_capacity.shape[0]
    horizon = inp.capacity.shape[1]
    load = np.zeros((areas, horizon + 1), dtype=np.int64)
    mine = inp.area >= 0
    release = np.clip(inp.release, 0, horizon)
    leave = np.where(gate >= 0, slot + 1, horizon)
    np.add.at(load, (inp.area[mine], release[mine]), 1)
    np.add.at(load, (inp.area[mine], np.maximum(leave[mine], release[mine])), -1)
    return np.cumsum(load, axis=1)[:, :horizon]


def _spread(amount: int, room: list[int]) -> list[int]:
    """Split ``amount`` over gates in proportion to ``room`` (largest remainders), never more
    than a gate's room."""
    total = sum(room)
    if amount >= total:
        return list(room)
    shares = [amount * r / total for r in room]
    alloc = [int(x) for x in shares]
    left = amount - sum(alloc)
    by_remainder = sorted(range(len(room)), key=lambda j: (alloc[j] - shares[j], j))
    for j in by_remainder:
        if left == 0:
            break
        if alloc[j] < room[j]:
            alloc[j] += 1
            left -= 1
    return alloc


@dataclass
class _Classes:
    """Trucks with the same weight, goods group and release slot are interchangeable: the
    planner serves these classes, grouped by pair (weight rank, goods group)."""

    release: list[int]
    """Per class: its release slot."""
    remaining: list[int]
    """Per class: trucks not yet given a slot."""
    allot: list[list[tuple[int, int, int]]]
    """Per class: the (gate, slot, trucks) it was given."""
    pair_ids: list[int]
    """Per pair: weight rank * groups + goods group (lower = served first among equals)."""
    pair_rank: list[int]
    """Per pair: its weight rank (0 = heaviest)."""
    pair_gates: list[list[int]]
    """Per pair: the gates its goods group may pass."""
    pair_classes: list[list[int]]
    """Per pair: its classes, release ascending."""
    head: list[int]
    """Per pair: the next of its classes to serve (index into ``pair_classes``)."""
    released: list[int]
    """Per pair: how many of its classes are released by the current slot."""
    avail: list[int]
    """Per pair: trucks released and not yet given a slot."""


def _classes(keys: list[int], counts: list[int], permitted: list[list[bool]],
             horizon: int) -> _Classes:
    """The classes of interchangeable trucks from their keys (sorted by weight rank, group,
    release) and sizes."""
    groups = len(permitted)
    c_pair = [k // (horizon + 1) for k in keys]  # pair = (weight rank, group)
    c_release = [k % (horizon + 1) for k in keys]
    n_classes = len(c_pair)
    pair_ids = sorted(set(c_pair))
    pair_pos = {p: i for i, p in enumerate(pair_ids)}
    pair_classes: list[list[int]] = [[] for _ in pair_ids]
    for c in range(n_classes):
        pair_classes[pair_pos[c_pair[c]]].append(c)
    return _Classes(
        release=c_release, remaining=list(counts),
        allot=[[] for _ in range(n_classes)], pair_ids=pair_ids,
        pair_rank=[p // groups for p in pair_ids],
        pair_gates=[[g for g, ok in enumerate(permitted[p % groups]) if ok] for p in pair_ids],
        pair_classes=pair_classes, head=[0] * len(pair_ids), released=[0] * len(pair_ids),
        avail=[0] * len(pair_ids))


FEW = 256
"""Up to this many trucks (a re-routing's candidates) the planner works on plain lists
(:func:`plan_lists`), without numpy, whose per-call cost is then most of the work; the same
plan either way."""


def _class_keys(inp: PlanInput, horizon: int) -> tuple[IntArray, list[int], list[int]]:
    """The trucks sorted by class key, first come first within a class; each class's key and
    its number of trucks."""
    n = int(inp.release.shape[0])
    groups = inp.permitted.shape[0]
    release = np.minimum(np.maximum(inp.release.astype(np.int64), 0), horizon)
    weights, widx = np.unique(inp.weight, return_inverse=True)
    widx = (len(weights) - 1 - widx).astype(np.int64)  # 0 = heaviest
    order = inp.order if inp.order is not None else np.arange(n, dtype=np.int64)
    key = (widx * groups + inp.group.astype(np.int64)) * (horizon + 1) + release
    perm = np.lexsort((order, key))
    keys, counts = np.unique(key[perm], return_counts=True)
    return perm, keys.tolist(), counts.tolist()


def _class_keys_few(release: list[int], weight: list[float], group: list[int],
                    order: list[int] | None, groups: int, horizon: int
                    ) -> tuple[list[int], list[int], list[int]]:
    """:func:`_class_keys` on plain lists (the same result; faster for a few trucks)."""
    ranks = sorted(set(weight), reverse=True)  # 0 = heaviest
    rank = {w: r for r, w in enumerate(ranks)}
    n = len(weight)
    span = horizon + 1
    if n and (min(release) < 0 or max(release) > horizon):
        release = [min(max(r, 0), horizon) for r in release]
    key = [(rank[w] * groups + g) * span + r
           for w, g, r in zip(weight, group, release, strict=True)]
    # (key, order, index) tuples sort as the stable sort by (key, order) does
    ordered = sorted(zip(key, order if order is not None else range(n), range(n),
                         strict=True))
    keys: list[int] = []
    counts: list[int] = []
    for k, _o, _i in ordered:
        if keys and keys[-1] == k:
            counts[-1] += 1
        else:
            keys.append(k)
            counts.append(1)
    return [i for _k, _o, i in ordered], keys, counts


def _release(cl: _Classes, s: int) -> None:
    """Count the trucks of the classes released by slot ``s`` as available."""
    c_release, remaining, released, avail = cl.release, cl.remaining, cl.released, cl.avail
    for p, classes in enumerate(cl.pair_classes):
        while released[p] < len(classes) and c_release[classes[released[p]]] <= s:
            avail[p] += remaining[classes[released[p]]]
            released[p] += 1


def _serve_slot(cl: _Classes, s: int, room: list[int], waiting: list[int]) -> None:
    """Give the room of slot ``s`` to the waiting pairs: highest weight first, then least
    flexible first; ``room`` is left with what nobody took."""
    pair_gates, pair_rank, pair_ids, avail = cl.pair_gates, cl.pair_rank, cl.pair_ids, cl.avail
    flex = {p: len([g for g in pair_gates[p] if room[g] > 0]) for p in waiting}
    if len(waiting) > 1:
            waiting.sort(key=lambda p: (pair_rank[p], flex[p], pair_ids[p]))
    for i, p in enumerate(waiting):
        usable = [g for g in pair_gates[p] if room[g] > 0]
        if not usable:
            continue
        # capacity the groups still waiting after this one would need at each gate
        need_later = dict.fromkeys(usable, 0.0)
        for q in waiting[i + 1:]:
            share = avail[q] / max(flex[q], 1)
            for g in pair_gates[q]:
                if g in need_later:
                    need_later[g] += share
        free = [max(0, room[g] - int(need_later[g] + 0.5)) for g in usable]
        take = min(avail[p], sum(room[g] for g in usable))
        first = _spread(min(take, sum(free)), free)
        rest = _spread(take - sum(first), [room[g] - a for g, a in zip(usable, first,
                                                                        strict=True)])
        alloc = [a + b for a, b in zip(first, rest, strict=True)]
        _hand_out(cl, p, s, usable, alloc, room)


def _hand_out(cl: _Classes, p: int, s: int, usable: list[int], alloc: list[int],
              room: list[int]) -> None:
    """Hand pair ``p``'s ``alloc`` of slot ``s`` at the ``usable`` gates to its classes,
    oldest release first."""
    classes, remaining, allot = cl.pair_classes[p], cl.remaining, cl.allot
    head, avail = cl.head, cl.avail
    for g, amount in zip(usable, alloc, strict=True):
        room[g] -= amount
        while amount > 0:
            c = classes[head[p]]
            got = min(amount, remaining[c])
            allot[c].append((g, s, got))
            remaining[c] -= got
            amount -= got
            avail[p] -= got
            if remaining[c] == 0:
                head[p] += 1


def _fill(cl: _Classes, capacity: list[list[int]], budget: list[int]) -> None:
    """Give the classes their (gate, slot, trucks), slot by slot; ``capacity`` (G × S, already
    capped by the yards' room) and ``budget`` (G; negative: no limit) are used up."""
    gates = len(capacity)
    horizon = len(capacity[0]) if gates else 0
    remaining = cl.remaining
    pairs = range(len(cl.pair_ids))
    for s in range(horizon):
        room = [capacity[g][s] if budget[g] < 0 else min(capacity[g][s], budget[g])
                for g in range(gates)]
        if not any(room):
            continue  # no place in this slot (releasing is cumulative: none is lost)
        _release(cl, s)
        waiting = [p for p in pairs if cl.avail[p] > 0]
        if not waiting:
            continue
        _serve_slot(cl, s, room, waiting)
        for g in range(gates):
            if budget[g] >= 0:
                budget[g] -= min(capacity[g][s], budget[g]) - room[g]
            capacity[g][s] = room[g]
        if not any(remaining):
            break  # every truck has its slot: the later slots change nothing


def _expand(cl: _Classes, perm: list[int], n: int) -> tuple[list[int], list[int]]:
    """The class allotments expanded back to trucks (``perm``: the trucks in class order,
    first come first within a class); gate and slot -1 for the trucks left unplanned."""
    gate = [-1] * n
    slot = [-1] * n
    pos = 0
    for c, given in enumerate(cl.allot):
        for g, s, k in given:
            for i in perm[pos:pos + k]:
                gate[i] = g
                slot[i] = s
            pos += k
        pos += cl.remaining[c]  # unplanned: -1 as set
    return gate, slot


def plan_lists(capacity: list[list[int]], release: list[int], weight: list[float],
               group: list[int], permitted: list[list[bool]], order: list[int] | None = None,
               budget: list[int] | None = None) -> tuple[list[int], list[int]]:
    """:func:`plan` on plain lists, unchecked (the caller builds them as :class:`PlanInput`
    would accept them): ``capacity`` is already capped by the yards' room and is not changed.
    Returns each truck's gate and slot (-1 if unplanned). For a few trucks (the hourly
    re-routing) this is several times faster than building the arrays; the same plan."""
    if not release:
        return [], []
    horizon = len(capacity[0]) if capacity else 0
    return _assign(*_class_keys_few(release, weight, group, order, len(permitted), horizon),
                   permitted, horizon, [list(row) for row in capacity],
                   [-1] * len(capacity) if budget is None else list(budget))


def _assign(perm: list[int], keys: list[int], counts: list[int], permitted: list[list[bool]],
            horizon: int, capacity: list[list[int]], budget: list[int]
            ) -> tuple[list[int], list[int]]:
    """Each truck's gate and slot from the classes (``perm``, ``keys``, ``counts`` as
    :func:`_class_keys` gives them); ``capacity`` and ``budget`` as :func:`_fill` takes them,
    used up."""
    cl = _classes(keys, counts, permitted, horizon)
    _fill(cl, capacity, budget)
    return _expand(cl, perm, len(perm))


def plan(inp: PlanInput) -> PlanResult:
    """Assign trucks to (gate, slot); see the module documentation."""
    n = int(inp.release.shape[0])
    gates = inp.capacity.shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return _result(inp, empty, empty.copy())
    capacity_arr = inp.capacity.astype(np.int64)
    if inp.room is not None:
        capacity_arr = np.minimum(capacity_arr, inp.room.astype(np.int64))
    capacity = capacity_arr.tolist()
    budget = None if inp.budget is None else [int(b) for b in inp.budget]
    if n <= FEW:
        gate, slot = plan_lists(capacity, inp.release.tolist(), inp.weight.tolist(),
                                inp.group.tolist(), inp.permitted.tolist(),
                                None if inp.order is None else inp.order.tolist(), budget)
    else:
        gate, slot = _plan_many(inp, capacity, [-1] * gates if budget is None else budget)
    return _result(inp, np.array(gate, dtype=np.int64), np.array(slot, dtype=np.int64))


def _plan_many(inp: PlanInput, capacity: list[list[int]], budget: list[int]
               ) -> tuple[list[int], list[int]]:
    """:func:`plan_lists` with the classes found by numpy (faster for many trucks);
    ``capacity`` and ``budget`` as :func:`_fill` takes them, used up."""
    horizon = int(inp.capacity.shape[1])
    perm, keys, counts = _class_keys(inp, horizon)
    return _assign(perm.tolist(), keys, counts, inp.permitted.tolist(), horizon, capacity,
                   budget)


def _result(inp: PlanInput, gate: IntArray, slot: IntArray) -> PlanResult:
    return PlanResult(gate, slot, inp)
