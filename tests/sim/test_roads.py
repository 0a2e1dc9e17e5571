"""Queues per road and honest totals: a queue is reported on the road where it forms (National
Highway 1 apart from the road to Chi Ma), and an overloaded run counts the trucks it did not
finish, with their time so far."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from borderflow.config import DEFAULT_SCENARIOS_DIR
from borderflow.domain.network import Network
from borderflow.sim import report, runner
from borderflow.sim import scenario as scenarios
from borderflow.sim.engine import simulate
from borderflow.sim.model import compile_model
from borderflow.sim.results import summarise
from tests.sim.test_engine import GOLDEN


def small(**change: Any) -> tuple[scenarios.Scenario, Network]:
    sc, network = scenarios.load(GOLDEN / "small-regulated.yaml")
    return scenarios.parse(scenarios.merge(sc.model_dump(mode="json"), change)), network


def figures(sc: scenarios.Scenario, network: Network, seed: int = 1) -> dict[str, float]:
    return summarise(simulate(compile_model(sc, network, np.random.default_rng(seed))))[0]


def test_an_overloaded_road_shows_its_queue_on_that_road_and_not_on_national_highway_1() -> None:
    # Chi Ma's exports come straight to the gate along the Loc Binh road; its yard is cut to
    # a few places, so they pile up there while the park keeps QL1A clear
    sc, network = small(days=3, demand={"gates": {"export": {"huu-nghi": 0.5, "chi-ma": 0.5}}},
                        gates={"chi-ma": {"yard_factor": 0.05}})
    out = figures(sc, network)
    assert out["road_queue.loc-binh-chi-ma-road.max_trucks"] > 30
    assert out["road_queue.ql1a.max_trucks"] == 0
    assert out["road.max_trucks"] == out["road_queue.loc-binh-chi-ma-road.max_trucks"]


def test_a_full_park_queues_on_national_highway_1() -> None:
    sc, network = small(days=3, staging_capacity=5)
    out = figures(sc, network)
    assert out["road_queue.ql1a.max_trucks"] > 20
    # every road's queue adds up to the total on the Vietnamese roads at every sample
    tr = simulate(compile_model(sc, network, np.random.default_rng(1)))
    assert (tr.road_queues.sum(axis=0) == tr.road_trucks).all()


def test_without_regulation_each_gate_queues_on_its_own_road() -> None:
    sc, network = scenarios.load(DEFAULT_SCENARIOS_DIR / "no-regulation.yaml")
    model = compile_model(sc.model_copy(update={"days": 3}), network, np.random.default_rng(1))
    roads = {r.key for r in model.roads}
    assert {"ql1a", "tan-thanh-road", "coc-nam-road", "loc-binh-chi-ma-road"} <= roads
    assert "to:binh-nghi" in roads  # the network names no road to Binh Nghi


def test_an_overloaded_run_counts_its_unfinished_trucks_with_their_time_so_far() -> None:
    # Huu Nghi, which takes most trucks, closes for the last day and a half: its trucks pile
    # up and are still waiting at the end
    sc, network = small(days=4, gates={"huu-nghi": {"closures": [
        {"start": "2026-03-04T12:00:00", "hours": 36}]}})
    out = figures(sc, network)
    assert out["unfinished"] > 100
    assert out["time_in_system_with_unfinished.n"] == out["trucks"]
    assert out["time_in_system_with_unfinished.mean"] >= out["time_in_system.mean"]
    assert out["time_in_system_with_unfinished.p95"] >= out["time_in_system.p95"]


def test_the_comparison_names_every_road_and_never_shows_a_code() -> None:
    loaded = runner.load_all([GOLDEN / "small-unregulated.yaml"], days=2)
    results = runner.run(loaded, replications=1, seed=1)
    labels = [label for label, _, _ in report.road_rows(results)]
    assert "Queue on National Highway 1A, max" in labels
    assert "Queue on Lang Son city – Loc Binh – Chi Ma road, max" in labels
    chinese = [label for label, _, _ in report.road_rows(
        results, "zh", lambda text: {"Queue on {road}, max": "{road}上的排队车辆（最大）"}.get(
            text, text))]
    assert "1A号国道上的排队车辆（最大）" in chinese
    assert not any("ql1a" in text or "to:" in text for text in labels + chinese)
    _header, rows = report.table(results)
    assert any(row[0].startswith("Queue on National Highway 1A") for row in rows)
    assert any(row[0].startswith("Time in system with unfinished trucks") for row in rows)


def test_a_gate_naming_a_road_the_map_does_not_have_is_refused() -> None:
    _sc, network = scenarios.load(GOLDEN / "small-regulated.yaml")
    gates = list(network.gates)
    gates[4] = replace(gates[4], road="nowhere-road")
    areas = [replace(network.staging_areas[0], road="ql1b")]
    problems = replace(network, gates=tuple(gates), staging_areas=tuple(areas)).problems()
    assert {(p.field, p.reason) for p in problems} == {
        ("gates[4].road", "unknown road 'nowhere-road': name a road of map.roads"),
        ("staging_areas[0].road", "unknown road 'ql1b': name a road of map.roads"),
    }
