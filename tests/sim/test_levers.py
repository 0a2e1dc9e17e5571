""""What would it take": the search finds the cheapest combination of levers that meets the
target, applies a lever's levels one over the other, and reports confirmed figures; the page
runs it in the background and shows it in the visitor's language."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from borderflow.cli.main import app
from borderflow.config import Settings
from borderflow.sim import levers
from borderflow.sim import scenario as scenarios
from borderflow.sim_jobs import work
from tests.conftest import Database
from tests.web.test_driver import _csrf, _login

GOLDEN = Path(__file__).parent / "golden"
SHIPPED = (Path(levers.__file__).resolve().parent.parent / "data" / "calibration"
           / "lang-son-levers.yaml")


def small_spec(tmp_path: Path, **extra: Any) -> Path:
    spec = {
        "scenario": str(GOLDEN / "small-regulated.yaml"), "demand": [400], "days": 3,
        "warmup_days": 1, "replications": 2, "max_evaluations": 8, "cheapest": 2,
        "target": [{"name": "mean time in system (hours)",
                    "figure": "time_in_system_with_unfinished.mean", "factor": 1 / 60,
                    "high": 24},
                   {"name": "most trucks on National Highway 1A",
                    "figure": "road_queue.ql1a.max_trucks", "high": 0}],
        "levers": [{"code": "staging", "name": {"vi": "Mở rộng bãi chờ", "en": "Larger park",
                                                "zh": "扩大停车场"},
                    "level_names": [{"vi": "1.500 xe", "en": "1,500", "zh": "1500辆"}],
                    "levels": [{"staging_capacity": 1500}], "costs": [3]}],
        **extra}
    path = tmp_path / "levers.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_levers_spec_loads_and_names_every_lever_in_three_languages() -> None:
    spec, scenario = levers.load_spec(SHIPPED)
    scenarios.load(scenario)
    assert {lv.code for lv in spec.levers} >= {"huu-nghi-lanes", "extended-hours",
                                               "spread-goods", "smart-gate", "staging"}
    for lever in spec.levers:
        assert all(lever.name.translations.get(lang) for lang in ("vi", "en", "zh"))
        assert len(lever.costs) == len(lever.levels)


def test_levels_apply_one_over_the_other_and_cost_their_steps(tmp_path: Path) -> None:
    spec, _ = levers.load_spec(SHIPPED)
    hours = [lv.code for lv in spec.levers].index("extended-hours")
    levels = tuple(3 if i == hours else 0 for i in range(len(spec.levers)))
    doc = levers.apply(spec, {"demand": {"trucks_per_day": 1}}, levels, 2500)
    assert doc["demand"]["trucks_per_day"] == 2500
    assert doc["gates"]["huu-nghi"] == {"lunch_through": True, "extra_hours": 4}
    assert levers.cost_of(spec, levels) == sum(spec.levers[hours].costs)


def test_the_search_keeps_the_cheapest_combination_that_meets_the_target(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lever = {"name": "x", "levels": [{}, {}], "costs": [1, 1]}
    spec = levers.Spec(scenario="-", demand=[1], target=[levers.Target(name="t", figure="f")],
                       levers=[levers.Lever(code="cheap", **lever),
                               levers.Lever(code="dear", name="y", levels=[{}],
                                            costs=[10])])
    # met by two steps of the cheap lever or one of the dear one
    meets = {(2, 0), (2, 1), (1, 1), (0, 1)}
    search = levers._Search(spec, {}, None, "-", 1)  # type: ignore[arg-type]

    def distance(lv: tuple[int, ...]) -> float:
        return search.seen.setdefault(lv, 0.0 if lv in meets else 3.0 - lv[0])

    monkeypatch.setattr(search, "distance", distance)
    search.greedy(None)
    met = [lv for lv, d in search.seen.items() if d <= 0]
    assert min(met, key=lambda lv: levers.cost_of(spec, lv)) == (2, 0)
    assert levers.describe(spec, (2, 0)) == ["x: 2"]


def test_the_command_line_answers_with_a_table(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["sim", "what-would-it-take", str(small_spec(tmp_path))])
    assert res.exit_code == 0, res.output
    assert "400 trucks a day" in res.output
    assert "as it is" in res.output


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return Settings(database_url=database.url, var_dir=tmp_path / "var",
                    secret_key="test-secret-key-that-is-long-enough-for-hs256",
                    log_level="WARNING", public_base_url="https://gate.example",
                    dispatch_interval_seconds=0, notify_interval_seconds=0,
                    telemetry_bus="inline")


def test_the_page_queues_a_search_for_the_pool_and_shows_it_in_vietnamese(
        client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(work, "LEVERS_SPEC", small_spec(tmp_path))
    _login(client, "regulator")
    page = client.get("/sim/levers", params={"lang": "vi"}).text
    assert "Cần gì để đạt mục tiêu" in page
    token = _csrf(client, "/sim/levers")
    bad = client.post("/sim/levers", params={"lang": "vi"},
                      data={"trucks": "99", "hours": "2", "csrf": token})
    assert bad.status_code == 422
    started = client.post("/sim/levers", params={"lang": "vi"}, follow_redirects=False,
                          data={"trucks": "1.600", "hours": "24", "csrf": token})
    assert started.status_code == 303
    where = started.headers["location"]
    for _ in range(200):
        shown = client.get(where).text
        if "sim-table" in shown or "alert" in shown:
            break
        assert 'http-equiv="refresh"' in shown
        time.sleep(0.2)
    assert "Giữ nguyên hiện trạng" in shown  # the scenario as it is
    assert "thời gian trung bình trong hệ thống (giờ)" in shown
    assert "1.600" in shown  # the demand, written the Vietnamese way
    assert "Time in system" not in shown
    assert ">Cost<" not in shown
