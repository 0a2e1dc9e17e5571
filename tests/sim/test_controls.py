"""The regulator's controls in the scenario lab (closures, capacity, extended hours, pauses):
the lab counts slot places and stops calls with the live rules, so a planner who tries a
control in the lab sees what the dispatcher would do with it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from borderflow.domain import booking as booking_rules
from borderflow.sim import scenario as scenarios
from borderflow.sim.engine import simulate
from borderflow.sim.model import SLOT_MINUTES, _holidays, compile_model
from tests.sim.test_engine import GOLDEN

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DAY2 = datetime(2026, 3, 3, tzinfo=TZ)  # the golden scenario's second day (a Tuesday)


def scenario(controls: list[dict[str, Any]], **change: Any) -> tuple[scenarios.Scenario, Any]:
    sc, network = scenarios.load(GOLDEN / "small-regulated.yaml")
    doc = scenarios.merge(sc.model_dump(mode="json"), {"days": 3, **change})
    doc["gates"] = {}  # no closure of the golden file: only the controls under test
    doc["controls"] = controls
    parsed = scenarios.parse(doc)
    scenarios.check_against(parsed, network, "test")
    return parsed, network


def minute(at: datetime) -> float:
    return (at - datetime(2026, 3, 2, tzinfo=TZ)).total_seconds() / 60


def test_slot_places_are_the_live_booking_rule_with_the_same_controls() -> None:
    """Every slot of day 2 at Huu Nghi exports: the lab's places equal what the live booking
    service counts from the gate's calendar with the same controls, slot by slot."""
    controls = [
        {"gate": "huu-nghi", "kind": "capacity", "start": "2026-03-03T09:00:00", "hours": 3,
         "vehicles_per_hour": 7},
        {"gate": "huu-nghi", "direction": "export", "kind": "closure",
         "start": "2026-03-03T14:15:00", "hours": 1},
        {"gate": "huu-nghi", "direction": "export", "kind": "extended_hours",
         "start": "2026-03-03T19:00:00", "hours": 2.5},
    ]
    sc, network = scenario(controls)
    m = compile_model(sc, network, np.random.default_rng(1))
    route = next(r for r in m.routes if r.gate.code == "huu-nghi" and r.direction == "export")
    gate = network.gate("huu-nghi")
    calendar = network.calendar(gate.calendar)
    rules = [booking_rules.Control(c["kind"], datetime.fromisoformat(c["start"]).replace(
        tzinfo=TZ), datetime.fromisoformat(c["start"]).replace(tzinfo=TZ)
        + timedelta(hours=c["hours"]), c.get("vehicles_per_hour")) for c in controls]
    hols = _holidays(range(2025, 2029))
    changed = 0
    for k in range(48):
        start = DAY2 + timedelta(minutes=SLOT_MINUTES * k)
        live = booking_rules.controlled_capacity(calendar, gate.capacity_for("export"), start,
                                                 hols, rules)
        plain = booking_rules.slot_capacity(calendar, gate.capacity_for("export"), start, hols)
        lab = int(m.slot_places[route.index, int(minute(start) // SLOT_MINUTES)])
        assert lab == live, (start, lab, live)
        changed += lab != plain
    assert changed >= 10  # the controls changed the places of many slots, not none


def test_a_pause_calls_no_one_and_the_gate_area_goes_on() -> None:
    pause = {"gate": "huu-nghi", "direction": "export", "kind": "pause",
             "start": "2026-03-03T08:00:00", "hours": 4}
    sc, network = scenario([pause])
    tr = simulate(compile_model(sc, network, np.random.default_rng(3)))
    m = tr.model
    a, b = minute(DAY2 + timedelta(hours=8)), minute(DAY2 + timedelta(hours=12))
    route = next(r.index for r in m.routes if r.gate.code == "huu-nghi"
                 and r.direction == "export")
    mine = tr.route == route
    called = tr.called_at[mine]
    assert not ((called >= a) & (called < b)).any()
    assert ((called >= b) & (called < b + 120)).any()  # calls resume after (lunch at 12)
    # the trucks already in the gate area are served during the pause
    starts = tr.start[mine][np.isfinite(tr.start[mine]) & m.applies[mine]]
    assert ((starts > a) & (starts < b)).any()
    # the other direction of the gate is called as usual
    other = next(r.index for r in m.routes if r.gate.code == "huu-nghi"
                 and r.direction == "import")
    if m.routes[other].staged:
        assert ((tr.called_at[tr.route == other] >= a) & (tr.called_at[tr.route == other] < b)
                ).any()
    # without the pause, trucks are called in those hours
    free, _ = scenario([])
    tr0 = simulate(compile_model(free, network, np.random.default_rng(3)))
    c0 = tr0.called_at[tr0.route == route]
    assert ((c0 >= a) & (c0 < b)).sum() > 10


def test_a_whole_gate_closure_stops_calls_and_service_and_extended_hours_open_it() -> None:
    closure = {"gate": "huu-nghi", "kind": "closure", "start": "2026-03-03T13:00:00",
               "hours": 3}
    evening = {"gate": "huu-nghi", "kind": "extended_hours", "start": "2026-03-03T19:00:00",
               "hours": 3}
    sc, network = scenario([closure, evening])
    tr = simulate(compile_model(sc, network, np.random.default_rng(2)))
    m = tr.model
    hn = [r.index for r in m.routes if r.gate.code == "huu-nghi"]
    on = np.isin(tr.route, hn)
    a, b = minute(DAY2 + timedelta(hours=13)), minute(DAY2 + timedelta(hours=16))
    assert not ((tr.called_at[on] > a) & (tr.called_at[on] < b)).any()
    starts = tr.start[on][np.isfinite(tr.start[on]) & m.applies[on]]
    assert not ((starts > a) & (starts < b)).any()
    e0, e1 = minute(DAY2 + timedelta(hours=19)), minute(DAY2 + timedelta(hours=22))
    assert ((starts > e0) & (starts < e1)).any()  # served in the extended evening
    g = m.gate_codes.index("huu-nghi")
    spans = list(zip(m.open_start[m.gate_off[g]:m.gate_off[g + 1]],
                     m.open_end[m.gate_off[g]:m.gate_off[g + 1]], strict=True))
    assert any(s <= e0 and e <= e1 + 1e-9 and e > e0 for s, e in spans) or any(
        s <= e0 < e1 <= e for s, e in spans)
    assert not any(s < b and e > a for s, e in spans)


@pytest.mark.parametrize(("control", "field", "words"), [
    ({"gate": "nowhere", "kind": "pause", "start": "2026-03-03T08:00:00", "hours": 1},
     "controls[0].gate", "no such gate"),
    ({"gate": "binh-nghi", "direction": "import", "kind": "pause",
      "start": "2026-03-03T08:00:00", "hours": 1}, "controls[0].direction", "no import"),
])
def test_a_control_the_network_cannot_have_is_refused_with_its_field(
        control: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(scenarios.ScenarioError) as exc:
        scenario([control])
    assert any(path == field and words in str(reason) for path, reason in exc.value.problems)


def test_a_capacity_control_without_a_rate_is_refused() -> None:
    with pytest.raises(scenarios.ScenarioError) as exc:
        scenario([{"gate": "huu-nghi", "kind": "capacity", "start": "2026-03-03T08:00:00",
                   "hours": 1}])
    assert any(p.startswith("controls[0]") and "vehicles_per_hour" in str(r)
               for p, r in exc.value.problems)


# --- the partner side's yard counts


def export_calls(tr: Any, gate: str) -> np.ndarray:
    m = tr.model
    route = next(r.index for r in m.routes if r.gate.code == gate and r.direction == "export")
    called = tr.called_at[tr.route == route]
    return np.sort(called[np.isfinite(called)])


def test_a_full_partner_yard_stops_exports_to_its_gate_while_its_count_is_in_use() -> None:
    count = {"gate": "huu-nghi", "counted_at": "2026-03-03T06:00:00", "vehicles": 80,
             "capacity": 80}
    sc, network = scenario([], partner_counts=[count])
    tr = simulate(compile_model(sc, network, np.random.default_rng(4)))
    a = minute(DAY2 + timedelta(hours=6))
    b = a + 36 * 60  # the gate's partner_report_hours
    calls = export_calls(tr, "huu-nghi")
    assert not ((calls >= a) & (calls < b)).any()
    assert (calls < a).any()
    # the same run without the count calls exports there
    free, _ = scenario([])
    plain = export_calls(simulate(compile_model(free, network, np.random.default_rng(4))),
                         "huu-nghi")
    assert ((plain >= a) & (plain < b)).sum() > 20


def test_the_room_a_count_leaves_is_spent_once_then_the_next_count_gives_more() -> None:
    """Five free places at 06:00, then a new count at 14:00 with twelve: exactly five
    exports are called between the counts and at most twelve after the second, as
    ``partner_room`` counts them live."""
    counts = [{"gate": "huu-nghi", "counted_at": "2026-03-03T06:00:00", "vehicles": 45,
               "capacity": 50},
              {"gate": "huu-nghi", "counted_at": "2026-03-03T14:00:00", "vehicles": 38,
               "capacity": 50}]
    sc, network = scenario([], partner_counts=counts)
    tr = simulate(compile_model(sc, network, np.random.default_rng(4)))
    calls = export_calls(tr, "huu-nghi")
    first, second = minute(DAY2 + timedelta(hours=6)), minute(DAY2 + timedelta(hours=14))
    assert ((calls >= first) & (calls < second)).sum() == 5
    after = ((calls >= second) & (calls < second + 36 * 60)).sum()
    assert 0 < after <= 12


def test_a_count_without_a_capacity_the_network_lacks_is_refused() -> None:
    with pytest.raises(scenarios.ScenarioError) as exc:
        scenario([], partner_counts=[{"gate": "huu-nghi", "counted_at": "2026-03-03T06:00:00",
                                      "vehicles": 10}])
    assert [p for p, _ in exc.value.problems] == ["partner_counts[0].capacity"]


# --- where a truck may be moved


def with_quick_export_at_coc_nam(network: Any) -> Any:
    """The network with Coc Nam's exports on a shorter procedure (border guard, customs,
    crossing): a gate of the same staging area with other steps."""
    from dataclasses import replace

    base = network.procedure_for("coc-nam", "export")
    keep = {"declaration": None, "transport": None, "vehicle_control": None,
            "border_guard": ("vehicle_control",), "customs": ("border_guard",),
            "crossing": ("customs",)}
    quick = replace(base, code="export-quick", steps=tuple(
        replace(s, after=keep[s.code]) for s in base.steps if s.code in keep))
    gate = network.gate("coc-nam")
    capacity = tuple(replace(c, procedure="export-quick") if c.direction == "export" else c
                     for c in gate.capacity)
    gates = tuple(replace(g, capacity=capacity) if g.code == "coc-nam" else g
                  for g in network.gates)
    return replace(network, procedures=(*network.procedures, quick), gates=gates)


def test_a_truck_moved_to_a_gate_with_other_steps_passes_that_gates_steps() -> None:
    """As live, a waiting truck may be moved to any gate of its staging area that takes its
    goods, whatever that gate's steps: moved to Coc Nam (three steps here), it is served at
    Coc Nam's stations and leaves; nothing of its old route's steps is left on it."""
    sc, network = scenario([], demand={"trucks_per_day": 900, "gates": {
        "export": {"huu-nghi": 1.0}, "import": {"huu-nghi": 0.6, "chi-ma": 0.4}}})
    network = with_quick_export_at_coc_nam(network)
    tr = simulate(compile_model(sc, network, np.random.default_rng(5)))
    m = tr.model
    quick = next(r for r in m.routes if r.gate.code == "coc-nam" and r.direction == "export")
    assert quick.steps == ("border_guard", "customs", "crossing")
    moved = np.flatnonzero(tr.rerouted & (tr.route == quick.index))
    assert moved.size > 0
    done = moved[np.isfinite(tr.leave[moved])]
    assert done.size > 0
    for i in done:
        assert m.applies[i, :3].all()  # border guard, customs and crossing apply to all
        assert not m.applies[i, 3:].any()
        assert (m.service[i, :3] > 0).all()
        assert np.isfinite(tr.start[i, :3]).all()
        assert tr.leave[i] >= tr.start[i, 2] + m.service[i, 2] - 1e-6
