"""Advice from the forecast: over-capacity days found with the planner's places, remedies
checked in the scenario lab."""

from __future__ import annotations

from datetime import date

import pytest

from borderflow.config import DEFAULT_SCENARIOS_DIR
from borderflow.sim import advice
from borderflow.sim import scenario as scenarios
from borderflow.sim.scenario import ForecastDay

DAY = date(2026, 3, 4)  # a Wednesday of the baseline's fortnight


@pytest.fixture(scope="module")
def lab() -> tuple[scenarios.Scenario, object, dict[tuple[date, str, str], int]]:
    sc, network = scenarios.load(DEFAULT_SCENARIOS_DIR / "lang-son-baseline.yaml")
    return sc, network, advice.capacities(sc, network, [DAY])


def fd(gate: str, direction: str, mean: float) -> ForecastDay:
    return ForecastDay(date=DAY, gate=gate, direction=direction, mean=mean, lo80=mean * 0.9,
                       hi80=mean * 1.1, lo95=mean * 0.8, hi95=mean * 1.2)


def test_capacity_is_the_days_call_forward_places(lab) -> None:
    _sc, _network, caps = lab
    # Huu Nghi exports: the network's places per hour over the gate's open minutes that day
    assert caps[(DAY, "huu-nghi", "export")] > 0
    assert caps[(DAY, "huu-nghi", "export")] < caps[(DAY, "huu-nghi", "import")]


def test_no_advice_while_every_gate_is_within_its_places(lab) -> None:
    sc, network, caps = lab
    fc = [fd(g, d, 0.8 * caps[(DAY, g, d)]) for g, d in
          (("huu-nghi", "export"), ("huu-nghi", "import"), ("chi-ma", "export"))]
    assert advice.advise(sc, network, fc) == []


def test_an_over_capacity_day_gets_the_least_extra_hours_that_absorb_it(lab) -> None:
    sc, network, caps = lab
    cap = caps[(DAY, "huu-nghi", "export")]
    # every other export gate at its capacity: re-routing has nowhere to send the extra trucks
    fc = [fd("huu-nghi", "export", cap * 1.25)] + [
        fd(g, d, c) for (_d, g, d), c in caps.items() if d == "export" and g != "huu-nghi"]
    [a] = advice.advise(sc, network, fc)
    assert (a.gate, a.direction, a.capacity, a.extra) == ("huu-nghi", "export", cap,
                                                          round(cap * 0.25))
    hours = [r for r in a.remedies if r.kind == "extra_hours"]
    assert len(hours) == 1
    assert hours[0].absorbs
    assert hours[0].backlog.mean < a.backlog.mean
    # one hour less would not have absorbed it (or it is already the first hour)
    assert hours[0].hours == 1 or not any(
        r.absorbs for r in advice.advise(sc, network, fc)[0].remedies
        if r.kind == "extra_hours" and r.hours < hours[0].hours)


def test_a_shift_sends_no_more_than_the_other_gates_have_room_for(lab) -> None:
    sc, network, caps = lab
    cap = caps[(DAY, "huu-nghi", "export")]
    # every other export gate full but two, with room for 10 and 30 trucks
    others = {g: c for (_d, g, d), c in caps.items() if d == "export" and g != "huu-nghi"}
    others["chi-ma"] -= 10
    others["tan-thanh-dedicated"] -= 30
    fc = [fd("huu-nghi", "export", cap * 1.5)] + [fd(g, "export", m) for g, m in others.items()]
    [a] = advice.advise(sc, network, fc)
    [shift] = [r for r in a.remedies if r.kind == "shift"]
    moves = dict(shift.moves)
    assert moves["chi-ma"] <= 10
    assert moves["tan-thanh-dedicated"] <= 30
    assert sum(moves.values()) == pytest.approx(40, abs=2)
    assert not shift.absorbs  # 40 of the extra trucks: the rest still waits
    assert shift.backlog.mean < a.backlog.mean
