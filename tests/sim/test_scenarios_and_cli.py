"""Scenario files: every shipped one loads; a wrong one is refused with the field path and the
reason. The command line runs and compares scenarios; service times are fitted from trips."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from borderflow.cli.main import app
from borderflow.config import DEFAULT_SCENARIOS_DIR
from borderflow.sim import calibrate
from borderflow.sim import scenario as scenarios

SHIPPED = sorted(DEFAULT_SCENARIOS_DIR.glob("*.yaml"))
GOLDEN = Path(__file__).parent / "golden"
cli = CliRunner()


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_loads(path: Path) -> None:
    sc, network = scenarios.load(path)
    assert sc.name
    assert network.gate("huu-nghi") is not None


def test_the_shipped_scenarios_cover_the_planners_questions() -> None:
    names = {p.stem for p in SHIPPED}
    assert {"lang-son-baseline", "no-regulation", "pre-tet-surge", "fruit-season",
            "extended-hours", "secondary-gate", "staging-large", "staging-small",
            "priority-off", "gate-closure", "booked-slots"} <= names


def write(tmp_path: Path, change: dict[str, Any], name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"extends": str(GOLDEN / "small-regulated.yaml"), **change}),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize(("change", "field", "reason"), [
    ({"demand": {"export_share": 1.5}}, "demand.export_share", "less than or equal to 1"),
    ({"days": 0}, "days", "greater than or equal to 1"),
    ({"dispatch": {"booked_share": 1.5}}, "dispatch.booked_share", "less than or equal to 1"),
    ({"regulation": "maybe"}, "regulation", "'staging' or 'none'"),
    ({"demand": {"gates": {"export": {"nowhere": 1.0}}}}, "demand.gates.export.nowhere",
     "no such gate"),
    ({"gates": {"binh-nghi": {"stations": {"tea": {"service": {"mean": 3}}}}}},
     "gates.binh-nghi.stations.tea", "no such procedure step"),
    ({"stations": {"customs": {"service": {"dist": "weibull", "mean": 3}}}},
     "stations.customs.service.dist", "'exponential'"),
    ({"gates": {"chi-ma": {"colour": "red"}}}, "gates.chi-ma.colour", "Extra inputs"),
])
def test_a_wrong_scenario_names_the_field_and_the_reason(
        tmp_path: Path, change: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(scenarios.ScenarioError) as err:
        scenarios.load(write(tmp_path, change))
    assert any(f == field and reason in r for f, r in err.value.problems), err.value.problems


def test_scenarios_may_not_extend_each_other_in_a_loop(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n", encoding="utf-8")
    with pytest.raises(scenarios.ScenarioError, match="loop"):
        scenarios.load(tmp_path / "a.yaml")


def test_sim_run_prints_the_comparison_and_writes_plots_and_a_page(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli.invoke(app, ["sim", "run", str(GOLDEN / "small-regulated.yaml"),
                              str(GOLDEN / "small-unregulated.yaml"), "--replications", "2",
                              "--seed", "4", "--days", "2", "--processes", "1",
                              "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Small regulated" in result.output
    assert "Road queue" in result.output
    for name in ("index.html", "results.json", "road_queue.png", "time_in_system.png",
                 "wait_by_class.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "road_queue.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "http" not in page.replace("<!doctype html>", "")  # self-contained
    raw = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [s["name"] for s in raw["scenarios"]] == ["Small regulated", "Small unregulated"]
    assert len(raw["scenarios"][0]["replications"]) == 2


def test_sim_run_refuses_a_wrong_file_with_its_problems(tmp_path: Path) -> None:
    bad = write(tmp_path, {"demand": {"export_share": 2}})
    result = cli.invoke(app, ["sim", "run", str(bad), "--processes", "1"])
    assert result.exit_code == 1
    assert "demand.export_share" in result.output


def state(gate: str, entered: datetime, passed: dict[str, float]) -> dict[str, Any]:
    steps = [
        {"code": "vehicle_control", "kind": "vehicle_control", "after": []},
        {"code": "border_guard", "kind": "border_guard", "after": ["vehicle_control"]},
        {"code": "customs", "kind": "customs", "after": ["border_guard"]},
        {"code": "quarantine", "kind": "quarantine", "after": ["border_guard"]},
        {"code": "crossing", "kind": "crossing", "after": ["customs", "quarantine"]},
    ]
    status = {s["code"]: {"status": "pending", "done_at": None} for s in steps}
    for code, minutes in passed.items():
        status[code] = {"status": "passed",
                        "done_at": (entered + timedelta(minutes=minutes)).isoformat()}
    return {"gate": gate, "flow": "export", "procedure": {"steps": steps}, "steps": status,
            "milestones": {"gate_area_entered": entered.isoformat()}}


def test_service_times_are_fitted_from_ready_to_passed() -> None:
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    # border guard 10 min after entry; customs 20 min after it; crossing waits for customs
    # (quarantine did not apply)
    minutes = calibrate.step_minutes(state("huu-nghi", t0, {
        "border_guard": 10, "customs": 30, "crossing": 33}))
    assert minutes == {"border_guard": 10.0, "customs": 20.0, "crossing": 3.0}
    trips = [state("huu-nghi", t0, {"border_guard": b, "customs": b + 20, "crossing": b + 23})
             for b in (6, 8, 10, 12, 14, 16)]
    fits = {f.step: f for f in calibrate.fit(trips)}
    assert fits["border_guard"].mean == 11.0
    assert fits["border_guard"].samples == 6
    assert fits["customs"].cv == 0.0 or fits["customs"].cv < 1e-9
    section = calibrate.scenario_section(fits.values())
    merged = calibrate.merge_into({"gates": {"huu-nghi": {"partner_per_hour": 30}}}, section)
    assert merged["gates"]["huu-nghi"]["partner_per_hour"] == 30
    assert merged["gates"]["huu-nghi"]["stations"]["border_guard"]["service"]["mean"] == 11.0
    assert calibrate.fit(trips[:3]) == []  # too few samples


def test_calibrate_on_a_database_without_finished_trips_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from borderflow.config import get_settings

    monkeypatch.setenv("BORDERFLOW_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("BORDERFLOW_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0
        target = write(tmp_path, {})
        before = target.read_text(encoding="utf-8")
        result = cli.invoke(app, ["sim", "calibrate", str(target), "--write"])
        assert result.exit_code == 0, result.output
        assert "no step with 5 samples in 0 trips" in result.output
        assert target.read_text(encoding="utf-8") == before
    finally:
        get_settings.cache_clear()


def test_the_demand_is_fitted_from_when_trucks_arrived() -> None:
    monday = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 08:00 in Lang Son
    trips = []
    for day in range(14):  # two weeks: 3 exports at 08:00, 1 import at 20:00 local, per day
        at = monday + timedelta(days=day)
        trips += [{"flow": "export", "gate": "huu-nghi" if k < 2 else "coc-nam",
                   "facts": {"perishable": k == 0},
                   "milestones": {"staging_entered": at.isoformat()}} for k in range(3)]
        trips.append({"flow": "import", "gate": "chi-ma", "facts": {},
                      "milestones": {"gate_area_entered": (at + timedelta(hours=12))
                                     .isoformat()}})
    trips.append({"flow": "export", "gate": "huu-nghi", "milestones": {}})  # never arrived
    demand = calibrate.demand_from(trips, "Asia/Ho_Chi_Minh")
    assert demand["trucks_per_day"] == 4.0
    assert demand["export_share"] == 0.75
    assert demand["hourly_profile"][8] == 42
    assert demand["hourly_profile"][20] == 14
    assert sum(demand["hourly_profile"]) == 56
    assert demand["weekday_factors"] == dict.fromkeys(
        ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), 1.0)
    assert demand["gates"]["export"] == {"coc-nam": 0.333, "huu-nghi": 0.667}
    assert demand["perishable_share"] == {"export": 0.333, "import": 0.0}
    # a scenario takes the fitted demand as it is
    sc, _ = scenarios.load(GOLDEN / "small-regulated.yaml")
    doc = scenarios.merge(sc.model_dump(mode="json"), {"demand": demand})
    assert scenarios.parse(doc).demand.trucks_per_day == 4.0
    assert calibrate.demand_from([], "Asia/Ho_Chi_Minh") == {}


def test_a_scenario_naming_a_missing_network_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(scenarios.ScenarioError) as err:
        scenarios.load(write(tmp_path, {"network": "no-such-network.yaml"}))
    assert err.value.problems[0][0] == "network"
