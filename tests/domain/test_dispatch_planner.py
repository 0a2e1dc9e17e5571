"""The slot planner: hard constraints and determinism on random snapshots, and the behaviour
the regulator relies on (priority overtakes, even spread, closed slots unused)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderflow.domain.dispatch_planner import (
    PlanInput,
    _plan_many,
    plan,
    plan_lists,
    weighted_wait,
)


@st.composite
def snapshots(draw: Any) -> PlanInput:
    gates = draw(st.integers(1, 6))
    slots = draw(st.integers(1, 12))
    groups = draw(st.integers(1, 5))
    trucks = draw(st.integers(0, 120))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    permitted = rng.random((groups, gates)) < 0.6
    capacity = rng.integers(0, 6, (gates, slots)).astype(np.int64)
    capacity[rng.random((gates, slots)) < 0.2] = 0  # closures and hours outside the calendar
    downstream = draw(st.booleans())  # yards, the partner side's yard and staging areas
    areas = draw(st.integers(1, 3))
    return PlanInput(
        capacity=capacity,
        release=rng.integers(0, slots + 1, trucks).astype(np.int64),
        weight=rng.choice([1.0, 2.0, 5.0], trucks),
        group=rng.integers(0, groups, trucks).astype(np.int64),
        permitted=permitted,
        room=rng.integers(0, 6, (gates, slots)).astype(np.int64) if downstream else None,
        budget=rng.integers(-1, 15, gates).astype(np.int64) if downstream else None,
        area=rng.integers(-1, areas, trucks).astype(np.int64) if downstream else None,
        area_capacity=rng.integers(0, 30, areas).astype(np.int64) if downstream else None,
    )


def _limit(inp: PlanInput) -> np.ndarray:
    return inp.capacity if inp.room is None else np.minimum(inp.capacity, inp.room)


@settings(max_examples=300, deadline=None)
@given(snapshots())
def test_plans_respect_every_hard_constraint_and_are_deterministic(inp: PlanInput) -> None:
    result = plan(inp)
    ok = result.gate >= 0
    assert ((result.slot >= 0) == ok).all()
    # never before the requested time, never at a gate that does not permit the goods
    assert (result.slot[ok] >= inp.release[ok]).all()
    assert inp.permitted[inp.group[ok], result.gate[ok]].all()
    # never above a gate's capacity in a slot, never in a closed slot
    # nor above what its yards can take in the slot, nor above its budget over the horizon
    used = np.zeros_like(inp.capacity)
    np.add.at(used, (result.gate[ok], result.slot[ok]), 1)
    limit = _limit(inp)
    assert (used <= limit).all()
    spent = used.sum(axis=1)
    if inp.budget is not None:
        capped = inp.budget >= 0
        assert (spent[capped] <= inp.budget[capped]).all()
    # a truck is left unplanned only if no permitted gate has room at or after its release
    for i in np.flatnonzero(~ok):
        gates = [g for g in np.flatnonzero(inp.permitted[inp.group[i]])
                 if inp.budget is None or inp.budget[g] < 0 or spent[g] < inp.budget[g]]
        room = (limit - used)[gates, inp.release[i]:]
        assert (room <= 0).all()
    # the staging overflow is the trucks in each park beyond its capacity, counted one by one
    if inp.area is not None and inp.area_capacity is not None:
        assert result.staging_overflow is not None
        for a, cap in enumerate(inp.area_capacity):
            for s in range(inp.capacity.shape[1]):
                there = sum(1 for i in range(len(inp.area)) if inp.area[i] == a
                            and inp.release[i] <= s and (result.gate[i] < 0
                                                         or result.slot[i] >= s))
                assert result.staging_overflow[a, s] == max(0, there - cap)
    else:
        assert result.staging_overflow is None
    assert result.total_weighted_wait == weighted_wait(inp, result.gate, result.slot)
    again = plan(inp)
    assert (again.gate == result.gate).all()
    assert (again.slot == result.slot).all()


def _one_gate(capacity: list[int]) -> np.ndarray:
    return np.asarray([capacity], dtype=np.int64)


def test_perishable_trucks_overtake_normal_ones() -> None:
    # ten normal trucks wait since slot 0; five perishable ones arrive at slot 1
    inp = PlanInput(
        capacity=_one_gate([5, 5, 5, 5]),
        release=np.asarray([0] * 10 + [1] * 5, dtype=np.int64),
        weight=np.asarray([1.0] * 10 + [5.0] * 5),
        group=np.zeros(15, dtype=np.int64),
        permitted=np.ones((1, 1), dtype=bool),
    )
    result = plan(inp)
    assert (result.slot[10:] == 1).all()  # perishables served as soon as they arrive
    assert sorted(result.slot[:10].tolist()) == [0] * 5 + [2] * 5


def test_first_come_first_served_within_a_class() -> None:
    inp = PlanInput(
        capacity=_one_gate([1, 1, 1]),
        release=np.zeros(3, dtype=np.int64),
        weight=np.ones(3),
        group=np.zeros(3, dtype=np.int64),
        permitted=np.ones((1, 1), dtype=bool),
        order=np.asarray([2, 0, 1], dtype=np.int64),
    )
    assert plan(inp).slot.tolist() == [2, 0, 1]


def test_equivalent_gates_share_the_load_evenly() -> None:
    inp = PlanInput(
        capacity=np.full((4, 2), 30, dtype=np.int64),
        release=np.zeros(60, dtype=np.int64),
        weight=np.ones(60),
        group=np.zeros(60, dtype=np.int64),
        permitted=np.ones((1, 4), dtype=bool),
    )
    result = plan(inp)
    assert (result.slot == 0).all()
    assert np.bincount(result.gate, minlength=4).tolist() == [15, 15, 15, 15]


def test_flexible_trucks_leave_room_for_those_with_one_gate() -> None:
    # group 0 may use both gates, group 1 only gate 0; one slot of 2 places at each gate
    inp = PlanInput(
        capacity=np.asarray([[2], [2]], dtype=np.int64),
        release=np.zeros(4, dtype=np.int64),
        weight=np.asarray([5.0, 5.0, 1.0, 1.0]),
        group=np.asarray([0, 0, 1, 1], dtype=np.int64),
        permitted=np.asarray([[True, True], [True, False]]),
    )
    result = plan(inp)
    assert result.unplanned == 0
    assert result.gate.tolist() == [1, 1, 0, 0]


def test_closed_slots_and_forbidden_gates_are_never_used() -> None:
    inp = PlanInput(
        capacity=np.asarray([[5, 0, 5], [0, 0, 0]], dtype=np.int64),
        release=np.asarray([1, 1, 0], dtype=np.int64),
        weight=np.ones(3),
        group=np.asarray([0, 0, 1], dtype=np.int64),
        permitted=np.asarray([[True, True], [False, True]]),
    )
    result = plan(inp)
    assert result.slot[:2].tolist() == [2, 2]
    assert result.gate[2] == -1  # its only gate is closed all day
    assert result.total_weighted_wait == 1 + 1 + 3


def test_full_yards_and_the_partner_side_send_trucks_elsewhere() -> None:
    # two equivalent gates; gate 0's yards are full now, and the partner side reported room for
    # only 3 more trucks at gate 0 for the whole horizon
    inp = PlanInput(
        capacity=np.full((2, 3), 4, dtype=np.int64),
        release=np.zeros(10, dtype=np.int64),
        weight=np.ones(10),
        group=np.zeros(10, dtype=np.int64),
        permitted=np.ones((1, 2), dtype=bool),
        room=np.asarray([[0, 4, 4], [4, 4, 4]], dtype=np.int64),
        budget=np.asarray([3, -1], dtype=np.int64),
        area=np.zeros(10, dtype=np.int64),
        area_capacity=np.asarray([5], dtype=np.int64),
    )
    result = plan(inp)
    served = np.bincount(result.gate, minlength=2)
    assert served.tolist() == [3, 7]
    assert (result.slot[result.gate == 0] >= 1).all()  # nothing into gate 0's full yards now
    # 10 trucks wait in a park for 5: 5 on the road at first, 1 once 4 have been called
    assert result.staging_overflow is not None
    assert result.staging_overflow[0].tolist() == [5, 1, 0]


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="one entry per truck"):
        PlanInput(capacity=_one_gate([1]), release=np.zeros(2, dtype=np.int64),
                  weight=np.ones(3), group=np.zeros(2, dtype=np.int64),
                  permitted=np.ones((1, 1), dtype=bool))
    with pytest.raises(ValueError, match="rows of permitted"):
        PlanInput(capacity=_one_gate([1]), release=np.zeros(1, dtype=np.int64),
                  weight=np.ones(1), group=np.asarray([3], dtype=np.int64),
                  permitted=np.ones((1, 1), dtype=bool))
    with pytest.raises(ValueError, match="shape of capacity"):
        PlanInput(capacity=_one_gate([1, 1]), release=np.zeros(1, dtype=np.int64),
                  weight=np.ones(1), group=np.zeros(1, dtype=np.int64),
                  permitted=np.ones((1, 1), dtype=bool), room=_one_gate([1]))
    with pytest.raises(ValueError, match="go together"):
        PlanInput(capacity=_one_gate([1]), release=np.zeros(1, dtype=np.int64),
                  weight=np.ones(1), group=np.zeros(1, dtype=np.int64),
                  permitted=np.ones((1, 1), dtype=bool), area=np.zeros(1, dtype=np.int64))


@settings(max_examples=200, deadline=None)
@given(snapshots(), st.booleans())
def test_a_few_trucks_are_planned_the_same_on_plain_lists(inp: PlanInput,
                                                          with_order: bool) -> None:
    """The re-routing's small inputs take a plain-Python path (``plan_lists``, also what
    :func:`plan` uses up to ``FEW`` trucks): truck by truck the same plan as the numpy path,
    ties included (equal weights, groups and releases)."""
    n = inp.release.shape[0]
    if with_order:
        inp = dataclasses.replace(inp, order=np.random.default_rng(n).permutation(n))
    limit = _limit(inp)
    budget = None if inp.budget is None else inp.budget.tolist()
    gate, slot = plan_lists(limit.tolist(), inp.release.tolist(), inp.weight.tolist(),
                            inp.group.tolist(), inp.permitted.tolist(),
                            None if inp.order is None else inp.order.tolist(), budget)
    if n:
        assert (gate, slot) == _plan_many(inp, limit.tolist(),
                                          [-1] * limit.shape[0] if budget is None else budget)
    planned = plan(inp)
    assert gate == planned.gate.tolist()
    assert slot == planned.slot.tolist()
