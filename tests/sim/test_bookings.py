"""Booked slots in the scenario lab: a share of the trucks book a slot as through the live
booking service, and the live call-forward serves them (first in their class once their slot
has come, never before), so a planner sees what bookings do to the queues."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from borderflow.domain.dispatch import choose_calls, plan_reroutes
from borderflow.native import load_source
from borderflow.sim import scenario as scenarios
from borderflow.sim.engine import NCLASS, simulate
from borderflow.sim.model import SLOT_MINUTES, compile_model
from borderflow.sim.results import summarise
from tests.sim.test_engine import GOLDEN


def scenario(**change: Any) -> tuple[scenarios.Scenario, Any]:
    sc, network = scenarios.load(GOLDEN / "small-regulated.yaml")
    doc = scenarios.merge(sc.model_dump(mode="json"), {
        "days": 4, "demand": {"trucks_per_day": 1500},
        "dispatch": {"booked_share": 0.5}, **change})
    return scenarios.parse(doc), network


def test_bookings_take_at_most_a_slots_places_and_never_a_slot_before_arrival() -> None:
    sc, network = scenario()
    m = compile_model(sc, network, np.random.default_rng(2))
    booked = m.booked_slot >= 0
    staged = np.array([r.staged for r in m.routes])[m.route]
    assert booked.sum() > 0.4 * staged.sum()  # about half of the staged trucks book
    assert not (booked & ~staged).any()  # only trucks called forward from a staging area
    assert (m.booked_slot[booked] >= m.arrival[booked] // SLOT_MINUTES).all()
    for r in m.routes:
        slots = m.booked_slot[booked & (m.route == r.index)]
        taken = np.bincount(slots, minlength=m.slot_places.shape[1])
        assert (taken <= m.slot_places[r.index]).all()
        if r.staged:
            assert (taken == m.slot_places[r.index]).any()  # some slots are full


def test_no_share_books_nothing_and_the_draws_do_not_change() -> None:
    plain, network = scenario(dispatch={"booked_share": 0.0})
    booking, _ = scenario()
    a = compile_model(plain, network, np.random.default_rng(4))
    b = compile_model(booking, network, np.random.default_rng(4))
    assert (a.booked_slot == -1).all()
    assert (a.arrival == b.arrival).all()
    assert (a.service == b.service).all()
    assert (a.no_show_draw == b.no_show_draw).all()


def test_a_booked_truck_is_not_called_before_its_slot() -> None:
    sc, network = scenario()
    tr = simulate(compile_model(sc, network, np.random.default_rng(5)))
    m = tr.model
    held = (m.booked_slot >= 0) & ~tr.rerouted & np.isfinite(tr.called_at)
    assert held.sum() > 100
    assert (tr.called_at[held] >= m.booked_slot[held] * SLOT_MINUTES).all()
    # and a booking makes some trucks wait for their slot that would have been called sooner
    early = tr.staged_at[held] < m.booked_slot[held] * SLOT_MINUTES - 30
    assert early.any()
    figures, _ = summarise(tr)
    assert figures["booked"] == pytest.approx(
        float(((m.booked_slot >= 0) & (m.arrival >= 1440.0)).sum()))
    assert figures["booked.wait.mean"] > 0


def test_the_calls_are_the_live_rules_over_every_waiting_truck(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab offers each policy only the first trucks of each class and the booked trucks
    whose slot has come; offering every waiting truck instead gives the same calls, truck by
    truck (so the trucks left out could not have been called)."""
    sc, network = scenario(dispatch={"booked_share": 0.5, "reroute": False})
    first = simulate(compile_model(sc, network, np.random.default_rng(6)))
    # the engine from its source: the compiled one (borderflow.native) calls its own functions
    # directly, so replacing them below would change nothing
    engine = load_source("borderflow.sim.engine")

    def every_waiting(self: Any, r: int, limit: int, until: int) -> list[int]:
        out: list[int] = []  # every truck in the staging area for route r, booked or not
        for k in range(r * NCLASS, (r + 1) * NCLASS):
            out += [i for i in self.queue[k][self.head[k]:self.tail[k]] if not self.gone[i]]
            out += self.extra[k] + self.booked_q[k]
        return out

    offered: list[int] = []

    def counting(waiting: Any, rooms: Any, **kw: Any) -> Any:
        offered.append(len(waiting))
        return choose_calls(waiting, rooms, **kw)

    monkeypatch.setattr(engine.EngineState, "candidates", every_waiting)
    monkeypatch.setattr(engine, "choose_calls", counting)
    second = engine.simulate(compile_model(sc, network, np.random.default_rng(6)))
    assert max(offered) > 50  # long queues: the shortcut mattered
    np.testing.assert_array_equal(first.called_at, second.called_at)
    np.testing.assert_array_equal(first.yard, second.yard)
    np.testing.assert_array_equal(first.leave, second.leave)


def test_a_truck_booked_for_a_later_slot_is_not_offered_for_a_move(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As live: a truck booked for a slot after the current one waits for its slot, not for
    its gate, so it is not offered to the re-routing planner; one whose slot has come may be
    moved, and gives its booking back."""
    sc, network = scenario()
    m = compile_model(sc, network, np.random.default_rng(7))
    booked_at = m.booked_slot.copy()
    now: list[float] = []
    offered: list[tuple[float, int, int]] = []  # (time, truck, its booked slot)
    engine = load_source("borderflow.sim.engine")  # as above: replaceable functions
    reroute, plan = engine.EngineState.reroute, plan_reroutes

    def clock(self: Any, t: float, slot: int) -> None:
        now.append(t)
        reroute(self, t, slot)

    def spy(candidates: Any, gates: Any, left: Any, gain: Any) -> Any:
        for w, _, _ in candidates:
            if w.booked_slot is not None:
                slot = int((w.booked_slot - m.base).total_seconds() // 60 // SLOT_MINUTES)
                offered.append((now[-1], int(w.trip_id), slot))
        return plan(candidates, gates, left, gain)

    monkeypatch.setattr(engine.EngineState, "reroute", clock)
    monkeypatch.setattr(engine, "plan_reroutes", spy)
    tr = engine.simulate(m)
    assert offered, "no booked truck was ever offered"
    for t, i, slot in offered:
        assert slot <= t // SLOT_MINUTES, (t, i, slot)  # its slot had come
        assert slot == booked_at[i]
    moved = tr.rerouted & (booked_at >= 0)
    assert moved.any()
    waiting_for_later = sum(1 for i in np.flatnonzero(booked_at >= 0).tolist()
                            if tr.staged_at[i] < booked_at[i] * SLOT_MINUTES - 60)
    assert waiting_for_later > 0  # there were trucks the rule had to hold back
