"""The simulator's invariants: trucks are conserved, and no gate, slot, yard or staging area
ever holds more than it can; same seed, same results, whatever the number of processes."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from borderflow.config import DEFAULT_SCENARIOS_DIR
from borderflow.sim import runner
from borderflow.sim import scenario as scenarios
from borderflow.sim.engine import Trace, simulate
from borderflow.sim.model import SLOT_MINUTES, compile_model
from borderflow.sim.results import summarise

GOLDEN = Path(__file__).parent / "golden"
SCENARIOS = DEFAULT_SCENARIOS_DIR


def small(**change: Any) -> tuple[scenarios.Scenario, Any]:
    sc, network = scenarios.load(GOLDEN / "small-regulated.yaml")
    return scenarios.parse(scenarios.merge(sc.model_dump(mode="json"), change)), network


def run(sc: scenarios.Scenario, network: Any, seed: int = 1) -> Trace:
    return simulate(compile_model(sc, network, np.random.default_rng(seed)))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trucks=st.integers(50, 900), staging=st.integers(0, 80),
       yard_factor=st.sampled_from([0.05, 0.2, 1.0]), regulated=st.booleans(),
       no_show=st.sampled_from([0.0, 0.3]), seed=st.integers(0, 2**16))
@pytest.mark.slow
def test_capacities_are_never_exceeded_and_trucks_are_conserved(
        trucks: int, staging: int, yard_factor: float, regulated: bool, no_show: float,
        seed: int) -> None:
    sc, network = small(days=2, demand={"trucks_per_day": trucks}, staging_capacity=staging,
                        regulation="staging" if regulated else "none",
                        dispatch={"no_show_probability": no_show},
                        gates={"huu-nghi": {"yard_factor": yard_factor},
                               "chi-ma": {"yard_factor": yard_factor}})
    tr = run(sc, network, seed)
    m = tr.model
    n = m.trucks
    # conservation: every truck is waiting, inside a gate area (leave: inf when its gate does
    # not open again within the run), or gone; none twice
    entered = np.isfinite(tr.gate_in)
    assert (~np.isnan(tr.leave) == entered).all()
    assert (tr.leave[entered] >= tr.gate_in[entered]).all()
    assert (tr.gate_in[entered] >= m.arrival[entered]).all()
    assert int(entered.sum()) <= n
    # staging area: never above its capacity
    assert int(tr.staging.max(initial=0)) <= staging
    # yards: trucks holding a place (called or entered, not yet gone) never above capacity
    t = tr.sample_t
    for y, cap in enumerate(m.yard_capacity.tolist()):
        mine = (tr.yard == y) & entered
        holding = (np.searchsorted(np.sort(tr.called_at[mine]), t, side="right")
                   - np.searchsorted(np.sort(tr.leave[mine]), t, side="right"))
        assert int(holding.max(initial=0)) <= cap
    # call-forward: never more calls in a slot than the slot's places
    called = np.isfinite(tr.called_at)
    for r in m.routes:
        if not r.staged:
            continue
        slots = (tr.called_at[called & (m.route == r.index) & ~tr.rerouted]
                 // SLOT_MINUTES).astype(np.int64)
        counts = np.bincount(slots, minlength=m.slot_places.shape[1])
        assert (counts[:m.slot_places.shape[1]] <= m.slot_places[r.index]).all()
    # stations: a service starts only while its gate is open, and after the truck is there
    served = np.isfinite(tr.start) & m.applies & entered[:, None]
    assert (tr.start[served] >= np.repeat(tr.gate_in[:, None], tr.start.shape[1], 1)[served]
            - 1e-9).all()


def test_same_seed_same_results_whatever_the_number_of_processes() -> None:
    loaded = runner.load_all([GOLDEN / "small-regulated.yaml"], days=3)
    one = runner.run(loaded, replications=3, seed=5, processes=1)[0]
    two = runner.run(loaded, replications=3, seed=5, processes=2)[0]
    assert one.replications == two.replications
    other = runner.run(loaded, replications=3, seed=6, processes=1)[0]
    assert other.replications != one.replications
    # replications differ from each other (independent streams)
    assert one.replications[0] != one.replications[1]


def test_littles_law_holds_on_the_outputs() -> None:
    sc, network = small(days=12, warmup_days=2, demand={"trucks_per_day": 400})
    figures, _ = summarise(run(sc, network, 3))
    lam = figures["trucks"] / ((sc.days - sc.warmup_days) * 1440.0)
    # L (time average of trucks in the system, sampled every cycle) = lambda W
    assert figures["in_system.mean_trucks"] == pytest.approx(
        lam * figures["time_in_system.mean"], rel=0.05)


def test_no_regulation_queues_on_the_highway_where_the_staging_park_does_not() -> None:
    loaded = runner.load_all([SCENARIOS / "lang-son-baseline.yaml",
                              SCENARIOS / "no-regulation.yaml"], days=4)
    regulated, unregulated = runner.run(loaded, replications=1, seed=1)
    assert unregulated.estimate("road.max_trucks").mean > 3 * max(
        1.0, regulated.estimate("road.max_trucks").mean)
    assert regulated.estimate("staging.max_trucks").mean > 0
    # on National Highway 1 itself: the park holds the queue (what is left is on other roads)
    assert unregulated.estimate("road_queue.ql1a.max_trucks").mean > 20
    assert regulated.estimate("road_queue.ql1a.max_trucks").mean == 0


def test_priority_calls_perishable_trucks_sooner_than_first_come_first_served() -> None:
    sc, network = small(days=5, demand={"trucks_per_day": 900, "export_share": 0.6},
                        dispatch={"policy": "strict", "no_show_probability": 0.0})
    fifo = sc.model_copy(update={"dispatch": sc.dispatch.model_copy(
        update={"priority": False})})
    with_priority, _ = summarise(run(sc, network, 4))
    without, _ = summarise(run(fifo, network, 4))
    assert with_priority["perishable_wait.mean"] < 0.8 * without["perishable_wait.mean"]


def test_a_closed_gate_calls_and_serves_no_one_during_the_closure() -> None:
    sc, network = small(days=3)
    tr = run(sc, network, 2)
    m = tr.model
    a, b = 1 * 1440.0 + 13 * 60, 1 * 1440.0 + 16 * 60  # the golden closure: 3 March 13-16 h
    hn = [r.index for r in m.routes if r.gate.code == "huu-nghi"]
    on = np.isin(tr.route, hn)
    assert not ((tr.called_at[on] > a) & (tr.called_at[on] < b)).any()
    starts = tr.start[on][np.isfinite(tr.start[on]) & m.applies[on]]
    assert not ((starts > a) & (starts < b)).any()


@pytest.mark.parametrize("enabled", [True, False])
def test_a_run_leaves_the_cycle_collector_as_it_found_it(enabled: bool) -> None:
    """The engine pauses Python's cycle collector while it runs (a web process running a
    simulation must get it back), and leaves little cyclic garbage behind."""
    sc, network = small(days=2)
    gc.collect()
    (gc.enable if enabled else gc.disable)()
    try:
        run(sc, network)
        assert gc.isenabled() is enabled
    finally:
        gc.enable()
    assert gc.collect() < 5_000
