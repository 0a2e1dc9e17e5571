"""Demand forecasts kept by the platform: the history read from the statistics, a run stored
with its model version, training window and creation time, read back through the API with its
intervals and hourly profiles, refreshed on demand (idempotent) and daily, and the weather
file imported whole or not at all."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from borderflow.cli.main import app as cli
from borderflow.clock import LOCAL_TZ
from borderflow.config import get_settings
from borderflow.demand import service
from borderflow.demand.loop import DailyRefresh
from borderflow.domain.access import SYSTEM
from borderflow.forecast import model
from borderflow.network import service as networks
from borderflow.network.holidays import around
from borderflow.report import facts, history
from borderflow.store.models import (
    AuditEntry,
    Forecast,
    ForecastRun,
    ForecastWeather,
    GateControl,
)
from tests import factories
from tests.conftest import NOW, TODAY, Database, Peek

TOMORROW = TODAY + timedelta(days=1)
DAYS = 120


def _daily_csv(days: int = DAYS, *, skip: date | None = None, today: date = TODAY) -> str:
    """Daily totals for huu-nghi (both ways) and chi-ma exports up to yesterday, with a
    weekly pattern; chi-ma starts 30 days later; ``skip`` leaves one day out."""
    lines = ["date,gate,direction,vehicles"]
    for i in range(days):
        day = today - timedelta(days=days - i)
        if day == skip:
            continue
        base = 300 + 40 * (day.weekday() < 5) + (i % 7) * 3
        lines.append(f"{day},huu-nghi,export,{base}")
        lines.append(f"{day},huu-nghi,import,{base // 2}")
        if i >= 30:
            lines.append(f"{day},chi-ma,export,{base // 3}")
    return "\n".join(lines) + "\n"


def _import(session: Session, text: str) -> None:
    history.import_file(session, networks.in_force(session, NOW), kind="daily",
                        data=text.encode(), filename="daily.csv", actor=SYSTEM, now=NOW)
    session.commit()


def test_history_frame_reads_the_daily_counts_with_zeros_after_the_first_day(
        session: Session) -> None:
    skipped = TODAY - timedelta(days=10)
    _import(session, _daily_csv(skip=skipped))
    network = networks.in_force(session, NOW)
    frame = service.history_frame(session, network, until=TODAY - timedelta(days=1))
    assert list(frame.columns) == ["date", "crossing", "direction", "trucks"]
    assert str(frame["date"].dtype).startswith("datetime64")
    sizes = frame.groupby(["crossing", "direction"]).size().to_dict()
    assert sizes == {("huu-nghi", "export"): DAYS, ("huu-nghi", "import"): DAYS,
                     ("chi-ma", "export"): DAYS - 30}
    hn = frame[(frame.crossing == "huu-nghi") & (frame.direction == "export")]
    assert hn["date"].min().date() == TODAY - timedelta(days=DAYS)
    assert hn["date"].max().date() == TODAY - timedelta(days=1)
    # a day without trucks after the first one is a real zero, not missing
    assert hn.set_index("date").loc[str(skipped), "trucks"] == 0.0
    assert not frame["trucks"].isna().any()
    first = TODAY - timedelta(days=DAYS)
    assert hn.set_index("date").loc[str(first), "trucks"] == 300 + 40 * (first.weekday() < 5)
    # the days after the last one with trucks anywhere are no data (nothing was recording)
    later = service.history_frame(session, network, until=TODAY + timedelta(days=5))
    assert later["date"].max().date() == TODAY - timedelta(days=1)
    # ``until`` cuts the history
    short = service.history_frame(session, network, until=TODAY - timedelta(days=60))
    assert short["date"].max().date() == TODAY - timedelta(days=60)


def _upload_history(client: TestClient, auth: Any) -> None:
    r = client.post("/api/v1/reports/history", data={"kind": "daily"},
                    files={"file": ("daily.csv", _daily_csv().encode(), "text/csv")},
                    headers=auth("admin"))
    assert r.status_code == 201, r.text


def test_a_refresh_is_stored_and_read_back_with_its_intervals(
        client: TestClient, auth: Any, db: Peek) -> None:
    none = client.post("/api/v1/forecasts/refresh", headers=auth("regulator"))
    assert none.status_code == 409, none.text
    assert none.json()["error"]["code"] == "no_history"
    empty = client.get("/api/v1/forecasts", headers=auth("regulator")).json()
    assert (empty["run"], empty["forecasts"]) == (None, [])

    _upload_history(client, auth)
    headers = auth("regulator", **{"Idempotency-Key": "refresh-1"})
    r = client.post("/api/v1/forecasts/refresh", headers=headers)
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["model_version"] == model.MODEL_VERSION
    assert run["origin"] == TOMORROW.isoformat()
    assert (run["horizon"], run["series"], run["trigger"]) == (28, 3, "on_demand")
    assert run["trained_from"] == (TODAY - timedelta(days=DAYS)).isoformat()
    assert run["trained_to"] == (TODAY - timedelta(days=1)).isoformat()
    assert datetime.fromisoformat(run["created_at"]) == NOW
    assert run["actor"] == "regulator"
    # the same key answers the same run; nothing more is stored
    again = client.post("/api/v1/forecasts/refresh", headers=headers)
    assert again.status_code == 201
    assert again.json() == run
    assert again.headers["Idempotent-Replayed"] == "true"
    assert db.scalar(select(func.count()).select_from(ForecastRun)) == 1
    assert db.scalar(select(func.count()).select_from(Forecast)) == 3 * 28
    assert db.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "forecast.refreshed")) == 1

    doc = client.get("/api/v1/forecasts", headers=auth("customs")).json()
    assert doc["run"] == run
    assert (doc["start"], doc["end"]) == (TOMORROW.isoformat(),
                                          (TOMORROW + timedelta(days=7)).isoformat())
    assert len(doc["forecasts"]) == 3 * 8
    for f in doc["forecasts"]:
        assert f["lo95"] <= f["lo80"] <= f["hi80"] <= f["hi95"]
        assert f["lo95"] <= f["mean"] <= f["hi95"]
        assert f["mean"] > 0
        assert f["declared"] == 0
    first = doc["forecasts"][0]
    assert set(first) == {"gate", "direction", "date", "horizon", "mean", "lo80", "hi80",
                          "lo95", "hi95", "declared"}
    assert (first["date"], first["horizon"]) == (TOMORROW.isoformat(), 1)
    profiles = {(p["gate"], p["direction"]): p for p in doc["hourly_profiles"]}
    assert len(profiles) == 11  # every gate of the network in the ways it permits
    shares = profiles[("huu-nghi", "export")]["shares"]
    assert len(shares) == 24
    assert math.isclose(sum(shares), 1.0, abs_tol=1e-3)
    assert len(profiles[("huu-nghi", "export")]["weekdays"]) == 7

    one = client.get("/api/v1/forecasts", params={
        "gate": "chi-ma", "direction": "export", "from": str(TOMORROW + timedelta(days=20)),
        "to": str(TOMORROW + timedelta(days=27))}, headers=auth("regulator")).json()
    assert [f["horizon"] for f in one["forecasts"]] == list(range(21, 29))
    assert {(f["gate"], f["direction"]) for f in one["forecasts"]} == {("chi-ma", "export")}
    assert [(p["gate"], p["direction"]) for p in one["hourly_profiles"]] == [
        ("chi-ma", "export")]


def test_forecasts_are_read_by_officials_only(client: TestClient, auth: Any) -> None:
    for who in ("driver", "enterprise", "cashier"):
        r = client.get("/api/v1/forecasts", headers=auth(who))
        assert r.status_code == 403, (who, r.text)
    assert client.get("/api/v1/forecasts").status_code == 401
    assert client.post("/api/v1/forecasts/refresh").status_code == 401
    for who in ("customs", "enterprise", "driver"):
        r = client.post("/api/v1/forecasts/refresh", headers=auth(who))
        assert r.status_code == 403, (who, r.text)
    r = client.post("/api/v1/forecasts/weather", headers=auth("regulator"),
                    files={"file": ("w.csv", b"date,rain_mm\n2026-11-01,3\n", "text/csv")})
    assert r.status_code == 403
    spec = client.get("/openapi.json").json()["paths"]
    assert "**Roles:**" in spec["/api/v1/forecasts"]["get"]["description"]
    assert "`regulator`" in spec["/api/v1/forecasts/refresh"]["post"]["description"]


@pytest.mark.parametrize(("params", "field"), [
    ({"gate": "nowhere"}, "gate"),
    ({"direction": "sideways"}, "direction"),
    ({"from": "2026-12-10", "to": "2026-12-01"}, "from"),
    ({"from": "2026-12-01", "to": "2026-12-29"}, "to"),
    ({"from": "yesterday"}, "from"),
])
def test_bad_query_parameters_are_named(client: TestClient, auth: Any, params: dict[str, str],
                                        field: str) -> None:
    r = client.get("/api/v1/forecasts", params=params, headers=auth("regulator"))
    assert r.status_code == 422, r.text
    assert [f["field"] for f in r.json()["error"]["fields"]] == [field]


OPEN_METEO = (
    "latitude,longitude,elevation,utc_offset_seconds,timezone,timezone_abbreviation\n"
    "21.875,106.75,268.0,25200,Asia/Bangkok,GMT+7\n"
    "\n"
    "time,weather_code (wmo code),precipitation_sum (mm),rain_sum (mm)\n"
    "2026-11-01,61,12.40,12.40\n"
    "2026-11-02,3,0.00,0.00\n"
    "2026-11-03,95,,\n"
)


def _weather(client: TestClient, auth: Any, text: str) -> Any:
    return client.post("/api/v1/forecasts/weather", headers=auth("admin"),
                       files={"file": ("weather.csv", text.encode(), "text/csv")})


def test_weather_files_are_imported_whole_or_not_at_all(client: TestClient, auth: Any,
                                                        db: Peek) -> None:
    bad = "date,rain_mm,storm\n2026-11-01,3.5,0\n2026-11-02,-1,1\n2026-11-03,2,maybe\n"
    r = _weather(client, auth, bad)
    assert r.status_code == 422, r.text
    fields = {f["field"] for f in r.json()["error"]["fields"]}
    assert fields == {"line 3: rain_mm", "line 4: storm"}
    assert db.scalar(select(func.count()).select_from(ForecastWeather)) == 0
    unknown = _weather(client, auth, "date,rain,storm\n2026-11-01,1,0\n")
    assert unknown.status_code == 422
    assert unknown.json()["error"]["fields"][0]["field"] == "header"

    plain = _weather(client, auth, "date,rain_mm,storm\n2026-11-01,3.5,0\n2026-11-02,,yes\n")
    assert plain.status_code == 201, plain.text
    assert plain.json() == {"format": "plain", "days": 2, "first": "2026-11-01",
                            "last": "2026-11-02", "rain_days": 1, "storm_days": 1}
    om = _weather(client, auth, OPEN_METEO)
    assert om.status_code == 201, om.text
    assert om.json()["format"] == "open-meteo"
    assert (om.json()["days"], om.json()["rain_days"]) == (3, 1)
    rows = {w.day: (w.rain_mm, w.storm) for w in db.scalars(select(ForecastWeather))}
    # Open-Meteo's rain replaces the plain file's, its storm warnings stay
    assert rows == {date(2026, 11, 1): (12.4, False), date(2026, 11, 2): (0.0, True),
                    date(2026, 11, 3): (None, False)}
    hourly = OPEN_METEO.replace("2026-11-01,", "2026-11-01T00:00,")
    r = _weather(client, auth, hourly)
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "line 5: time"


def test_the_daily_refresh_runs_once_a_day(client: TestClient, auth: Any, db: Peek,
                                           clock: Any) -> None:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    daily = DailyRefresh(ctx)
    assert daily.run_once() is None  # no history yet: nothing stored
    _upload_history(client, auth)
    weather = "date,rain_mm,storm\n" + "".join(
        f"{TODAY - timedelta(days=i)},{i % 5},{int(i == 3)}\n" for i in range(60))
    assert _weather(client, auth, weather).status_code == 201
    clock.set(datetime(2026, 11, 22, 18, 30, tzinfo=UTC))  # 01:30 in Lang Son: not yet...
    # ...but no forecasts were ever made: the first check makes them
    made = daily.run_once()
    assert made is not None
    assert daily.run_once() is None
    clock.set(datetime(2026, 11, 22, 19, 30, tzinfo=UTC))  # 02:30: today's run exists
    assert daily.run_once() is None
    clock.set(datetime(2026, 11, 23, 18, 30, tzinfo=UTC))  # the next day, 01:30
    assert daily.run_once() is None
    clock.set(datetime(2026, 11, 23, 19, 1, tzinfo=UTC))  # 02:01
    second = daily.run_once()
    assert second is not None
    assert second != made
    runs = db.scalars(select(ForecastRun).order_by(ForecastRun.id))
    assert [(r.trigger, r.origin, r.actor) for r in runs] == [
        ("daily", date(2026, 11, 24), "system"), ("daily", date(2026, 11, 25), "system")]


def test_the_commands_import_weather_and_refresh(database: Database, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BORDERFLOW_DATABASE_URL", database.url)
    monkeypatch.setenv("BORDERFLOW_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        none = runner.invoke(cli, ["forecast", "refresh"])
        assert none.exit_code == 1
        assert "no trucks recorded or imported yet" in none.output
        today = datetime.now(LOCAL_TZ).date()
        daily = tmp_path / "daily.csv"
        daily.write_text(_daily_csv(today=today), encoding="utf-8")
        assert runner.invoke(cli, ["report", "import-history", str(daily), "--kind",
                                   "daily"]).exit_code == 0
        weather = tmp_path / "open-meteo.csv"
        weather.write_text(OPEN_METEO, encoding="utf-8")
        done = runner.invoke(cli, ["forecast", "import-weather", str(weather)])
        assert done.exit_code == 0, done.output
        assert "Imported 3 days of weather (open-meteo" in done.output
        bad = tmp_path / "bad.csv"
        bad.write_text("date,rain_mm\n2026-11-01,lots\n", encoding="utf-8")
        refused = runner.invoke(cli, ["forecast", "import-weather", str(bad)])
        assert refused.exit_code == 1
        assert "line 2: rain_mm" in refused.output
        made = runner.invoke(cli, ["forecast", "refresh"])
        assert made.exit_code == 0, made.output
        assert f"3 series, 84 forecasts from {today + timedelta(days=1)} for 28 days" in (
            " ".join(made.output.split()))
    finally:
        get_settings.cache_clear()


def test_declared_trucks_ahead_and_as_they_were_for_past_days(
        client: TestClient, auth: Any, session: Session) -> None:
    for plate in ("29C-111.11", "29C-222.22"):
        body = factories.declaration()
        body["vehicles"][0]["plate"] = plate
        r = client.post("/api/v1/declarations", json=body, headers=auth("enterprise"))
        assert r.status_code == 201, r.text
    network = networks.in_force(session, NOW)
    ahead = service.declared_ahead(session, first=TOMORROW, last=TOMORROW + timedelta(days=27))
    assert ahead == {("huu-nghi", "export", factories.OPEN_DAY): 2}

    # two recorded crossings: declared three days ahead, and the same day
    crossed = datetime.combine(TODAY - timedelta(days=5), time(9), LOCAL_TZ)
    for key, declared in (("t1", crossed - timedelta(days=3)), ("t2", crossed)):
        session.add(facts.fact_row(key, {
            "vehicles": 1, "gate": "chi-ma", "direction": "import", "goods_group": "unknown",
            "declared_at": declared.isoformat(), "crossed_at": crossed.isoformat()},
            now=NOW, trip_id=key))
    session.flush()
    frame = service.declared_frame(session, network, until=TODAY - timedelta(days=1),
                                   origin=TOMORROW, horizon=28)
    assert list(frame.columns) == ["date", "crossing", "direction", "lead", "declared"]
    table = {(r.date.date(), r.crossing, r.direction, r.lead): r.declared
             for r in frame.itertuples()}
    day = crossed.date()
    assert [table[(day, "chi-ma", "import", lead)] for lead in (1, 2, 3, 4)] == [1, 1, 1, 0]
    assert table[(day + timedelta(days=1), "chi-ma", "import", 1)] == 0  # none: zero
    assert (day - timedelta(days=1), "chi-ma", "import", 1) not in table  # before: no data
    # days ahead: the trucks declared so far, with the day's horizon as the lead
    assert table[(factories.OPEN_DAY, "huu-nghi", "export", 2)] == 2
    assert table[(TOMORROW, "huu-nghi", "export", 1)] == 0
    # a run keeps the trucks declared for each day when it was made
    _import(session, _daily_csv())
    run = service.refresh(session, network, now=NOW, actor=SYSTEM, trigger="on_demand")
    stored = {(f.gate, f.direction, f.day): f.declared for f in session.scalars(
        select(Forecast).where(Forecast.run_id == run.id))}
    assert stored[("huu-nghi", "export", factories.OPEN_DAY)] == 2
    assert sum(stored.values()) == 2


def test_closures_from_the_calendar_and_the_regulators(session: Session) -> None:
    network = networks.in_force(session, NOW)
    day = factories.OPEN_DAY
    session.add_all([
        GateControl(gate="huu-nghi", direction=None, kind="closure",
                    starts_at=datetime.combine(day, time(0), LOCAL_TZ),
                    ends_at=datetime.combine(day + timedelta(days=1), time(0), LOCAL_TZ),
                    reason="flood", created_by="regulator", created_at=NOW),
        GateControl(gate="chi-ma", direction="export", kind="closure",
                    starts_at=datetime.combine(day, time(0), LOCAL_TZ),
                    ends_at=datetime.combine(day, time(12), LOCAL_TZ),
                    reason="works", created_by="regulator", created_at=NOW)])
    session.flush()
    frame = service.closures_frame(session, network, first=TODAY, last=TODAY + timedelta(
        days=27))
    closed = {(r.date.date(), r.crossing, r.direction): r.closed for r in frame.itertuples()}
    assert closed[(day, "huu-nghi", "export")] == closed[(day, "huu-nghi", "import")] == 1.0
    assert 0.0 < closed[(day, "chi-ma", "export")] < 1.0
    assert closed[(day, "chi-ma", "import")] == 0.0
    assert closed[(day + timedelta(days=1), "huu-nghi", "export")] == 0.0
    # the calendar's closed days
    for gate in network.gates:
        calendar = network.calendar(gate.calendar)
        assert calendar is not None
        for i in range(28):
            d = TODAY + timedelta(days=i)
            if calendar.hours_on(d, around(d)).is_closed:
                assert closed[(d, gate.code, gate.directions[0])] == 1.0
    session.rollback()


def test_hourly_profiles_from_the_recorded_crossings(session: Session) -> None:
    monday = TODAY - timedelta(days=7)  # TODAY is a Monday
    lines = ["crossed_at,gate,direction"] + [
        f"{monday} {h},huu-nghi,export" for h in ("09:10", "09:20", "09:40", "14:05")]
    history.import_file(session, networks.in_force(session, NOW), kind="crossings",
                        data="\n".join(lines).encode(), filename="c.csv", actor=SYSTEM,
                        now=NOW)
    profile = service.hourly_profile(session, gate="huu-nghi", direction="export")
    assert (profile[9], profile[14], sum(profile)) == (0.75, 0.25, 1.0)
    assert service.hourly_profile(session, gate="huu-nghi", direction="export",
                                  weekday=0) == profile
    assert service.hourly_profile(session, gate="huu-nghi", direction="export",
                                  weekday=1) == [1 / 24] * 24
    assert service.hourly_profile(session, gate="chi-ma", direction="export") == [1 / 24] * 24
    session.rollback()


def _prepared() -> service.Prepared:
    row = {"gate": "huu-nghi", "direction": "export", "day": TOMORROW, "horizon": 1,
           "mean": 10.0, "lo80": 8.0, "hi80": 12.0, "lo95": 7.0, "hi95": 13.0, "declared": 3}
    return service.Prepared(origin=TOMORROW, trained_from=TODAY - timedelta(days=90),
                            trained_to=TODAY - timedelta(days=1), model_version="test",
                            series=1, seconds=0.1, rows=[row])


def test_old_runs_are_purged_and_a_day_has_one_daily_run(session: Session,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setattr(service, "KEEP_RUNS", 2)
    runs = [service.save(session, _prepared(), now=NOW + timedelta(minutes=i), actor=SYSTEM,
                         trigger="on_demand") for i in range(3)]
    kept = session.scalars(select(ForecastRun.id).order_by(ForecastRun.id)).all()
    assert kept == [runs[1].id, runs[2].id]
    assert sorted(session.scalars(select(Forecast.run_id).distinct())) == kept
    newest = service.latest(session, first=TOMORROW, last=TOMORROW)
    assert [(r.run_id, r.mean, r.declared, r.model_version) for r in newest] == [
        (runs[2].id, 10.0, 3, "test")]
    service.save(session, _prepared(), now=NOW, actor=SYSTEM, trigger="daily")
    with pytest.raises(service.AlreadyRefreshed):
        service.save(session, _prepared(), now=NOW, actor=SYSTEM, trigger="daily")
    session.rollback()


def test_goods_seasons_come_from_the_crossings_of_each_goods_group(session: Session) -> None:
    """Two years of daily counts with goods groups: fresh fruit through Huu Nghi four times
    as many in June, cassava through Chi Ma flat; the forecaster's covariates then carry a
    ``goods_season`` above 1 for Huu Nghi in June and about 1 for Chi Ma."""
    lines = ["date,gate,direction,vehicles,goods_group"]
    start = date(TODAY.year - 2, 1, 1)
    for i in range((TODAY - start).days):
        day = start + timedelta(days=i)
        lines.append(f"{day},huu-nghi,export,{40 if day.month == 6 else 10},fresh-fruit")
        lines.append(f"{day},chi-ma,export,30,cassava-roots")
    _import(session, "\n".join(lines) + "\n")
    network = networks.in_force(session, NOW)
    june = date(TODAY.year + 1, 6, 15)
    frame = service.goods_frame(session, network, until=TODAY - timedelta(days=1),
                                first=june, last=june)
    assert frame is not None
    by_gate = frame.set_index("crossing")["goods_season"].to_dict()
    assert by_gate["huu-nghi"] > 2.5
    assert abs(by_gate["chi-ma"] - 1.0) < 1e-9
    history_now = service.history_frame(session, network, until=TODAY - timedelta(days=1))
    cov = service.covariates(session, network, history_now, origin=TOMORROW, horizon=7)
    assert cov.per_series is not None
    assert {"closed", "goods_season"} <= set(cov.per_series.columns)
    per = cov.per_series
    hn = per[(per.crossing == "huu-nghi") & (per.direction == "export")]
    assert hn["goods_season"].notna().all()
    # a series whose crossings name no goods group has no mix: unknown, not 1
    assert per[(per.crossing == "huu-nghi") & (per.direction == "import")][
        "goods_season"].isna().all()


def test_without_goods_groups_no_goods_season_is_given(session: Session) -> None:
    _import(session, _daily_csv())
    network = networks.in_force(session, NOW)
    assert service.goods_frame(session, network, until=TODAY, first=TODAY, last=TODAY) is None
