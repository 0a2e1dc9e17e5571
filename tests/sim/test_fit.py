"""Calibration to reported figures: on a small network whose capacities are known, the fit
finds them again from the figures they produce; the calibrated Lang Son baseline reproduces
what the province reports; the fit is recorded in the network file without touching the rest
of it."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from borderflow.cli.main import app
from borderflow.config import DEFAULT_SCENARIOS_DIR
from borderflow.sim import fit, runner
from borderflow.sim import scenario as scenarios
from borderflow.sim.results import estimate

BASELINE = DEFAULT_SCENARIOS_DIR / "lang-son-baseline.yaml"
TRUTH = {"stations.customs.service.mean": 12.0, "stations.transshipment.service.mean": 40.0}


def small() -> dict[str, Any]:
    """Chi Ma imports only, straight to the gate, with fixed servers: its customs and
    transshipment service times are the unknowns."""
    return {
        "name": "small", "start": "2026-03-02", "days": 6, "warmup_days": 1,
        "regulation": "none",
        "demand": {"trucks_per_day": 150, "export_share": 0.0, "hourly_profile": [1] * 24,
                   "gates": {"export": {"chi-ma": 1.0}, "import": {"chi-ma": 1.0}},
                   "perishable_share": {"export": 0.0, "import": 0.0}},
        "dispatch": {"reroute": False},
        "stations": {"customs": {"servers": 5, "service": {"mean": 20.0, "cv": 0.5}},
                     "transshipment": {"servers": 14, "service": {"mean": 20.0, "cv": 0.5}}},
    }


def truth_figures(spec: fit.Spec, network: Any) -> dict[str, float]:
    doc = copy.deepcopy(small())
    for path, v in TRUTH.items():
        fit.set_path(doc, path, v)
    ev = fit.Evaluator(spec, network, "small")
    return ev.run(doc, days=spec.days, replications=1, seed=spec.seed)["baseline"][0]


@pytest.mark.slow
def test_the_fit_recovers_known_service_times_on_a_small_network() -> None:
    network = scenarios.load_network(scenarios.PACKAGED_NETWORK)
    knobs = [fit.Knob(path="stations.customs.service.mean", low=5, high=30),
             fit.Knob(path="stations.transshipment.service.mean", low=15, high=90)]
    spec = fit.Spec(scenario="-", knobs=knobs, targets=[], days=6, warmup_days=1,
                    evaluations=50, confirm_days=6, confirm_replications=2, pull=1.0)
    truth = truth_figures(spec, network)
    util = truth["util.chi-ma/import/customs"]
    tis = truth["time_in_system.mean"]
    spec = spec.model_copy(update={"targets": [
        fit.Target(name="customs busy", figure="util.chi-ma/import/customs", low=util,
                   high=util),
        fit.Target(name="time in system", figure="time_in_system.mean", low=tis, high=tis)]})
    result = fit.calibrate(spec, small(), network, "small")
    for path, want in TRUTH.items():
        assert result.knobs[path] == pytest.approx(want, rel=0.08), path
    assert result.start["stations.customs.service.mean"] == 20.0


def test_the_gate_shares_move_towards_the_reported_ones() -> None:
    spec = fit.Spec(scenario="-", knobs=[], targets=[],
                    gates={"a": ["huu-nghi"], "b": ["chi-ma"]}, reported={"a": 3, "b": 1})
    doc = {"demand": {"gates": {"import": {"huu-nghi": 0.5, "chi-ma": 0.5}}}}
    out = fit.match_shares(doc, {"share.a": 0.5, "share.b": 0.5}, spec)
    shares = out["demand"]["gates"]["import"]
    assert shares["huu-nghi"] / (shares["huu-nghi"] + shares["chi-ma"]) == pytest.approx(0.75)
    assert [t.figure for t in fit.targets_of(spec)] == ["share.a", "share.b"]


def test_the_calibration_is_written_into_the_network_file_and_replaced_next_time(
        tmp_path: Path) -> None:
    text = scenarios.PACKAGED_NETWORK.read_text(encoding="utf-8")
    body = fit.write_network(text, "")  # the file without any calibration section
    result = fit.FitResult(
        knobs={"stations.customs.service.mean": 9.5}, start={}, shares={},
        targets=[fit.TargetFit("clearance", 3.0, 4.0, estimate([3.4, 3.6]))],
        evaluations=3, objective=0.0)
    spec = fit.Spec(scenario="-", knobs=[], targets=[])
    block = fit.network_block(result, spec, on=date(2026, 12, 6), scenario="s.yaml",
                              spec_file="c.yaml")
    once = fit.write_network(text, block)
    assert fit.write_network(once, block) == once
    assert once.startswith(body.rstrip("\n"))  # comments and everything else kept
    written = yaml.safe_load(once)["calibration"]
    assert written["date"] == "2026-12-06"
    assert written["targets"][0]["inside"] is True
    path = tmp_path / "network.yaml"
    path.write_text(once, encoding="utf-8")
    assert scenarios.load_network(path).gate("huu-nghi") is not None


@pytest.mark.slow
def test_the_calibrated_baseline_clears_what_the_province_reports() -> None:
    document = yaml.safe_load(scenarios.PACKAGED_NETWORK.read_text(encoding="utf-8"))
    assert "calibration" in document, "the network file records its calibration"
    loaded = runner.load_all([BASELINE], days=10)
    figures = runner.run(loaded, replications=1, seed=3)[0].replications[0]
    hours = figures["time_in_system_with_unfinished.mean"] / 60
    assert 3.0 <= hours <= 4.0
    assert 1300 <= figures["throughput_per_day"] <= 1600


def test_the_command_line_prints_the_fit(tmp_path: Path) -> None:
    scenario = tmp_path / "small.yaml"
    scenario.write_text(yaml.safe_dump(small()), encoding="utf-8")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "scenario": "small.yaml", "days": 4, "warmup_days": 1, "evaluations": 3,
        "confirm_days": 4, "confirm_replications": 2,
        "knobs": [{"path": "stations.customs.service.mean", "low": 5, "high": 30}],
        "targets": [{"name": "trucks a day", "figure": "throughput_per_day", "low": 100,
                     "high": 200}]}), encoding="utf-8")
    res = CliRunner().invoke(app, ["sim", "calibrate", "--targets", str(spec)])
    assert res.exit_code == 0, res.output
    assert "trucks a day" in res.output
    assert "stations.customs.service.mean" in res.output
