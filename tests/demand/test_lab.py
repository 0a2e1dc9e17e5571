"""The next days as forecast in the scenario lab: offered on the page and through the API once a
forecast run exists, run in the background like any comparison, its trucks drawn from the
forecast."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from borderflow.demand import lab
from borderflow.sim import scenario as scenarios
from borderflow.store.models import ForecastAdvice, ForecastRun
from tests.conftest import TODAY, Peek
from tests.demand.test_forecasts import _upload_history
from tests.sim.test_web import finished, submitted
from tests.web.test_driver import _csrf, _login


def _run(client: TestClient, auth: Any) -> None:
    _upload_history(client, auth)
    r = client.post("/api/v1/forecasts/refresh", headers=auth("regulator"))
    assert r.status_code == 201, r.text


def test_the_forecast_scenario_is_the_newest_run_from_tomorrow(client: TestClient, auth: Any,
                                                               session: Session) -> None:
    _run(client, auth)
    doc = lab.document(session, today=TODAY, days=7)
    assert doc is not None
    sc, _network = scenarios.load_document(doc, "forecast")
    assert sc.start == TODAY + timedelta(days=1)
    assert sc.days == 7
    assert sc.warmup_days == 0
    shown = client.get("/api/v1/forecasts", headers=auth("regulator")).json()["forecasts"]
    assert {(f.gate, f.direction, f.date.isoformat(), round(f.mean, 6))
            for f in sc.demand.forecast} == {
        (f["gate"], f["direction"], f["date"], round(f["mean"], 6)) for f in shown
        if f["date"] <= (TODAY + timedelta(days=7)).isoformat()}
    assert sc.name.in_("vi") == "Những ngày tới theo dự báo"
    assert sc.name.in_("zh") == "按预测的未来几天"
    assert "tối đa 7 ngày" in sc.description.in_("vi")


def test_without_a_run_the_forecast_is_not_offered(client: TestClient, auth: Any) -> None:
    r = client.post("/api/v1/sim/comparisons", headers=auth("regulator"),
                    json={"scenarios": ["forecast"], "days": 2, "replications": 1})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "scenarios"
    _login(client, "regulator")
    assert 'value="forecast"' not in client.get("/sim").text


def test_a_regulator_runs_the_next_days_as_forecast_on_the_page(client: TestClient,
                                                                 auth: Any) -> None:
    _run(client, auth)
    _login(client, "regulator")
    page = client.get("/sim", params={"lang": "vi"}).text
    assert 'value="forecast"' in page
    assert "Những ngày tới theo dự báo" in page
    assert "(forecast)" not in page  # no file name: it is made from the newest run
    assert "UTC" not in page.split("Những ngày tới theo dự báo", 1)[1].split("</label>", 1)[0]
    token = _csrf(client, "/sim")
    where = submitted(client, "vi", {"scenario": ["forecast"], "days": "2",
                                     "replications": "2", "seed": "1", "csrf": token})
    done = finished(client, where)
    assert "Những ngày tới theo dự báo" in done
    assert '<table class="sim-table">' in done  # its figures, compared


def test_the_api_queues_the_forecast_like_any_scenario(client: TestClient, auth: Any) -> None:
    _run(client, auth)
    r = client.post("/api/v1/sim/comparisons", headers=auth("regulator"),
                    json={"scenarios": ["forecast"], "days": 2, "replications": 1})
    assert r.status_code == 202, r.text


def test_a_refresh_keeps_the_weeks_places_and_advice_with_its_run(client: TestClient, auth: Any,
                                                                  db: Peek) -> None:
    """The API's refresh (fitted and advised in a read transaction) keeps, with the run, a
    row per day, gate and direction of the week ahead with the gate's places that day."""
    _run(client, auth)
    run_id = db.scalar(select(func.max(ForecastRun.id)))
    rows = db.scalars(select(ForecastAdvice).where(ForecastAdvice.run_id == run_id))
    days = {r.day for r in rows}
    assert days == {TODAY + timedelta(days=i) for i in range(1, 8)}
    assert all(r.capacity >= 0 for r in rows)
    forecast = {(f["gate"], f["direction"]) for f in client.get(
        "/api/v1/forecasts", headers=auth("regulator")).json()["forecasts"]}
    assert {(r.gate, r.direction) for r in rows} == forecast
