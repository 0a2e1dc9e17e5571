"""The scenario lab's "next days as forecast": each replication draws each day's trucks per gate
and direction from the stored forecast's distribution, and they arrive at their own gate."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import numpy as np
import pytest

from borderflow.config import DEFAULT_SCENARIOS_DIR
from borderflow.sim import scenario as scenarios
from borderflow.sim.model import compile_model
from borderflow.sim.scenario import ForecastDay, ScenarioError


def forecast_scenario(days: list[dict[str, object]]) -> tuple[scenarios.Scenario, object]:
    sc, network = scenarios.load(DEFAULT_SCENARIOS_DIR / "lang-son-baseline.yaml")
    demand = sc.demand.model_copy(update={"forecast": [ForecastDay(**d) for d in days]})
    sc = sc.model_copy(update={"days": 3, "warmup_days": 0, "demand": demand})
    scenarios.check_against(sc, network, "test")
    return sc, network


def day(i: int, gate: str, direction: str, mean: float, spread: float = 0.0) -> dict[str, object]:
    start = scenarios.load(DEFAULT_SCENARIOS_DIR / "lang-son-baseline.yaml")[0].start
    return {"date": start + timedelta(days=i), "gate": gate, "direction": direction,
            "mean": mean, "lo80": mean - spread, "hi80": mean + spread,
            "lo95": mean - 2 * spread, "hi95": mean + 2 * spread}


def trucks_by_gate_day(sc: scenarios.Scenario, network: object, seed: int) -> Counter[tuple]:
    m = compile_model(sc, network, np.random.default_rng(seed))  # type: ignore[arg-type]
    gates = [m.routes[r].gate.code for r in m.route]
    exports = [m.routes[r].direction for r in m.route]
    days = (m.arrival // 1440).astype(int)
    return Counter(zip(days.tolist(), gates, exports, strict=True))


def test_a_certain_forecast_brings_exactly_its_trucks_to_its_gate_on_its_day() -> None:
    sc, network = forecast_scenario([day(0, "huu-nghi", "import", 300),
                                     day(1, "chi-ma", "export", 40),
                                     day(2, "huu-nghi", "export", 120)])
    got = trucks_by_gate_day(sc, network, seed=1)
    assert got == {(0, "huu-nghi", "import"): 300, (1, "chi-ma", "export"): 40,
                   (2, "huu-nghi", "export"): 120}


def test_replications_spread_over_the_forecast_interval() -> None:
    sc, network = forecast_scenario([day(0, "huu-nghi", "import", 600, spread=60)])
    counts = [sum(trucks_by_gate_day(sc, network, seed).values()) for seed in range(200)]
    inside_80 = np.mean([540 <= c <= 660 for c in counts])
    inside_95 = np.mean([480 <= c <= 720 for c in counts])
    assert np.median(counts) == pytest.approx(600, abs=16)  # three standard errors
    assert 0.72 <= inside_80 <= 0.88  # 0.8 give or take three binomial standard errors
    assert 0.91 <= inside_95 <= 0.99


def test_the_hours_follow_the_hourly_profile() -> None:
    sc, network = forecast_scenario([day(0, "huu-nghi", "import", 2000)])
    m = compile_model(sc, network, np.random.default_rng(3))
    hours = np.bincount((m.arrival // 60).astype(int), minlength=24)
    profile = np.asarray(sc.demand.hourly_profile) / sum(sc.demand.hourly_profile)
    assert np.abs(hours / hours.sum() - profile).max() < 0.02


def test_a_forecast_for_a_gate_the_network_lacks_is_named() -> None:
    with pytest.raises(ScenarioError) as exc:
        forecast_scenario([day(0, "nowhere", "import", 10)])
    assert exc.value.problems[0][0] == "demand.forecast.0.gate"


def test_unordered_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="lo95 <= lo80"):
        ForecastDay(**{**day(0, "huu-nghi", "import", 10), "hi80": 5})
