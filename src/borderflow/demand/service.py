"""Demand forecasts: the history and what is known ahead read from the database, the
forecaster (:mod:`borderflow.forecast.model`) run on them, its forecasts stored and read back.

A **run** forecasts every gate and direction of the network for the 28 Lang Son days from
tomorrow. It is kept with the model's version, the days it was trained on and when it was made;
reads answer from the newest run. The background refresh makes one run a day
(``trigger="daily"``, at most one per origin day whichever worker gets there first); anyone
allowed can ask for one at any time (``on_demand``). Only the newest :data:`KEEP_RUNS` runs are
kept.

What the forecaster is given:

* the **history** (:func:`history_frame`): trucks crossed per day, gate and direction, from the
  statistics tables (recorded trips and imported history together);
* trucks **declared** for the days ahead and not arrived yet (:func:`declared_frame`);
* known **closures** (:func:`closures_frame`): the gate's working calendar (dated closures,
  public holidays it closes on, weekdays without hours) and the regulators' closures;
* **weather** imported from a file (:func:`import_weather`): daily rain and storm warnings.

pandas and the forecaster are imported by the functions that use them, so that the API and the
commands that never forecast start without them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time as timer
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.domain.access import Principal
from borderflow.domain.network import Network
from borderflow.errors import AppError, FieldError, ValidationFailed, msg
from borderflow.network.holidays import around
from borderflow.report.facts import TZ
from borderflow.store.models import (
    Declaration,
    Forecast,
    ForecastRun,
    ForecastWeather,
    GateControl,
    ReportFact,
    StatCount,
    StatHour,
    Trip,
)

if TYPE_CHECKING:
    import pandas as pd

    from borderflow.forecast import core

HORIZON = 28
"""Days forecast by a run, from tomorrow."""
KEEP_RUNS = 60
"""Runs kept; older ones are purged by each refresh."""
DECLARED_HISTORY_DAYS = 365
"""How far back the trucks declared ahead are reconstructed from the recorded trips."""
PROFILE_DAYS = 182
"""Days of recorded crossings (back from the newest recorded anywhere) an hourly profile is
made from."""
COUNTRIES = ("VN", "CN")
DIRECTIONS = ("export", "import")
Trigger = Literal["daily", "on_demand"]
_DAILY_LOCK = int.from_bytes(hashlib.sha256(b"borderflow.demand.daily").digest()[:8], "big",
                             signed=True)


class NoHistory(AppError):
    """Nothing to forecast from: no trucks recorded or imported yet."""

    status_code = 409
    code = "no_history"


class AlreadyRefreshed(AppError):
    """The daily forecasts from that day were made already (by another worker)."""

    status_code = 409
    code = "already_refreshed"


def local_today(now: datetime) -> date:
    return now.astimezone(TZ).date()


# --- the history ---------------------------------------------------------------------------------


def _series_keys(network: Network) -> list[tuple[str, str]]:
    return [(g.code, d) for g in network.gates for d in g.directions]


def history_frame(session: Session, network: Network, *, until: date) -> pd.DataFrame:
    """Trucks crossed per Lang Son day, gate and direction up to ``until`` (included), in the
    forecaster's history shape (``date, crossing, direction, trucks``).

    Read from the daily summary of vehicles crossed (``stat_counts``, grain ``d``, kind
    ``crossed``, all goods groups together), which holds the recorded trips and the imported
    history alike. Only the network's gates and the directions they permit are read.

    The rule for days without a row: each series (gate and direction) starts on its first day
    with trucks; from then on, a day without trucks is a real **zero** (a live system records
    every crossing, and a day with none is a day with none). Before it there are no rows, which
    the forecaster reads as no data. A series that never had a truck has no rows at all. Every
    series ends on the last day any gate had trucks (at the latest ``until``): days after it
    have no data anywhere, which means the platform was not recording (imported history only,
    or stopped), not that the whole province had no traffic.
    """
    import pandas as pd

    keys = set(_series_keys(network))
    rows = session.execute(
        select(StatCount.period, StatCount.gate, StatCount.direction,
               func.sum(StatCount.vehicles))
        .where(StatCount.grain == "d", StatCount.kind == "crossed",
               StatCount.period <= until)
        .group_by(StatCount.period, StatCount.gate, StatCount.direction)).all()
    counts: dict[tuple[str, str], dict[date, float]] = defaultdict(dict)
    for day, gate, direction, n in rows:
        if (gate, direction) in keys and n and int(n) > 0:
            counts[(gate, direction)][day] = float(n)
    parts = []
    end = max((max(by_day) for by_day in counts.values()), default=until)
    for (gate, direction), by_day in sorted(counts.items()):
        days = pd.date_range(pd.Timestamp(min(by_day)), pd.Timestamp(end), freq="D")
        values = np.array([by_day.get(d.date(), 0.0) for d in days])
        parts.append(pd.DataFrame({"date": days, "crossing": gate, "direction": direction,
                                   "trucks": values}))
    if not parts:
        return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"),
                             "crossing": pd.Series(dtype="object"),
                             "direction": pd.Series(dtype="object"),
                             "trucks": pd.Series(dtype="float64")})
    return pd.concat(parts, ignore_index=True)


# --- what is known ahead -------------------------------------------------------------------------


def declared_ahead(session: Session, *, first: date, last: date) -> dict[tuple[str, str, date],
                                                                          int]:
    """Trucks declared for each day ``first`` .. ``last`` (the declaration's requested date)
    that have not arrived yet (trip still ``declared``), per gate (the trip's, after any
    rerouting) and direction."""
    rows = session.execute(
        select(Trip.gate, Trip.flow, Declaration.requested_date, func.count())
        .join(Declaration, Declaration.id == Trip.declaration_id)
        .where(Declaration.requested_date >= first, Declaration.requested_date <= last,
               Trip.status == "declared")
        .group_by(Trip.gate, Trip.flow, Declaration.requested_date)).all()
    return {(g, f, d): int(n) for g, f, d, n in rows}


def declared_frame(session: Session, network: Network, *, until: date, origin: date,
                   horizon: int) -> pd.DataFrame:
    """The forecaster's ``declared`` covariate (``date, crossing, direction, lead,
    declared``).

    Days ahead (``origin`` .. ``origin + horizon - 1``): the trucks declared so far and not
    arrived (:func:`declared_ahead`), with lead = the day's horizon.

    Past days (up to ``until``, at most :data:`DECLARED_HISTORY_DAYS` back): rebuilt from the
    recorded trips' facts, as the trucks that crossed that day and had been declared at least
    ``lead`` days before it (lead 1 to ``horizon``), from the first day a recorded trip crossed
    (zero where none was declared that far ahead). Imported history carries no declaration
    times, so its days have no value (the forecaster learns the declared trucks' weight from
    the recorded days only)."""
    import pandas as pd

    keys = set(_series_keys(network))
    rows: list[tuple[date, str, str, int, int]] = []
    ahead = declared_ahead(session, first=origin, last=origin + timedelta(days=horizon - 1))
    for h in range(1, horizon + 1):
        day = origin + timedelta(days=h - 1)
        for gate, direction in sorted(keys):
            rows.append((day, gate, direction, h, ahead.get((gate, direction, day), 0)))

    since = datetime.combine(until - timedelta(days=DECLARED_HISTORY_DAYS), time.min, TZ)
    end = datetime.combine(until + timedelta(days=1), time.min, TZ)
    past: dict[tuple[date, str, str], np.ndarray] = defaultdict(
        lambda: np.zeros(horizon + 1, dtype=np.int64))
    first_day: date | None = None
    for gate, direction, crossed_at, declared_at, vehicles in session.execute(
            select(ReportFact.gate, ReportFact.fact["direction"].as_string(),
                   ReportFact.crossed_at, ReportFact.fact["declared_at"].as_string(),
                   ReportFact.fact["vehicles"].as_integer())
            .where(ReportFact.trip_id.is_not(None), ReportFact.crossed_at >= since,
                   ReportFact.crossed_at < end)):
        if crossed_at is None:
            continue
        day = crossed_at.astimezone(TZ).date()
        first_day = day if first_day is None else min(first_day, day)
        if (gate, direction) not in keys or not declared_at:
            continue
        ahead_days = (day - datetime.fromisoformat(declared_at).astimezone(TZ).date()).days
        if ahead_days >= 1:
            past[(day, gate, direction)][1:min(ahead_days, horizon) + 1] += int(vehicles or 1)
    if first_day is not None:
        zero = np.zeros(horizon + 1, dtype=np.int64)
        day = first_day
        while day <= until:
            for gate, direction in sorted(keys):
                counts = past.get((day, gate, direction), zero)
                rows.extend((day, gate, direction, lead, int(counts[lead]))
                            for lead in range(1, horizon + 1))
            day += timedelta(days=1)
    frame = pd.DataFrame(rows, columns=["date", "crossing", "direction", "lead", "declared"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def _closed_share(intervals: list[tuple[datetime, datetime]],
                  closures: list[tuple[datetime, datetime]]) -> float:
    """The share of the opening time covered by the closures (0 to 1)."""
    total = sum((b - a).total_seconds() for a, b in intervals)
    if total <= 0:
        return 1.0
    covered = 0.0
    for a, b in intervals:
        spans = sorted((max(a, s), min(b, e)) for s, e in closures if s < b and e > a)
        cursor = a
        for s, e in spans:
            s = max(s, cursor)
            if e > s:
                covered += (e - s).total_seconds()
                cursor = e
    return min(1.0, covered / total)


def closures_frame(session: Session, network: Network, *, first: date,
                   last: date) -> pd.DataFrame:
    """The forecaster's per-series ``closed`` covariate for every day ``first`` .. ``last``:
    1 when the gate's calendar keeps it closed that day (a dated closure, a public holiday it
    closes on, a weekday without hours), else the share of its opening hours covered by the
    regulators' closures in force (lifted ones until they were lifted), 0 without any."""
    import pandas as pd

    start = datetime.combine(first, time.min, TZ)
    end = datetime.combine(last + timedelta(days=1), time.min, TZ)
    controls: dict[tuple[str, str], list[tuple[datetime, datetime]]] = defaultdict(list)
    for c in session.scalars(select(GateControl).where(
            GateControl.kind == "closure", GateControl.starts_at < end,
            GateControl.ends_at > start)):
        stop = min(c.ends_at, c.lifted_at) if c.lifted_at is not None else c.ends_at
        if stop <= c.starts_at:
            continue
        for d in ([c.direction] if c.direction else list(DIRECTIONS)):
            controls[(c.gate, d)].append((c.starts_at, stop))
    rows: list[tuple[date, str, str, float]] = []
    n = (last - first).days + 1
    for gate in network.gates:
        cal = network.calendar(gate.calendar)
        for i in range(n):
            day = first + timedelta(days=i)
            hours = cal.hours_on(day, around(day)) if cal is not None else None
            intervals = [] if hours is None else [
                (datetime.combine(day, r.start, TZ), datetime.combine(day, r.end, TZ))
                for r in hours.intervals]
            for direction in gate.directions:
                spans = controls.get((gate.code, direction), [])
                if not intervals:
                    share = 1.0
                elif spans:
                    share = _closed_share(intervals, spans)
                else:
                    share = 0.0
                rows.append((day, gate.code, direction, share))
    frame = pd.DataFrame(rows, columns=["date", "crossing", "direction", "closed"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def goods_frame(session: Session, network: Network, *, until: date, first: date,
                last: date) -> pd.DataFrame | None:
    """The forecaster's per-series ``goods_season`` covariate for every day ``first`` ..
    ``last``: the seasons of the goods groups learnt from their daily crossings up to
    ``until`` (``stat_counts``, recorded trips and imported history with goods groups), each
    gate and direction weighted by its own goods mix (:mod:`borderflow.forecast.goods`). None
    when no crossing names a goods group."""
    import pandas as pd

    from borderflow.forecast.goods import goods_season

    keys = set(_series_keys(network))
    rows = [(day, gate, direction, group, float(n)) for day, gate, direction, group, n in
            session.execute(
                select(StatCount.period, StatCount.gate, StatCount.direction,
                       StatCount.goods_group, func.sum(StatCount.vehicles))
                .where(StatCount.grain == "d", StatCount.kind == "crossed",
                       StatCount.period <= until, StatCount.goods_group != "unknown")
                .group_by(StatCount.period, StatCount.gate, StatCount.direction,
                          StatCount.goods_group))
            if (gate, direction) in keys and n]
    if not rows:
        return None
    counts = pd.DataFrame(rows, columns=["date", "crossing", "direction", "goods_group",
                                         "trucks"])
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    frame = goods_season(counts, days)
    return frame if not frame.empty else None


def weather_frame(session: Session, *, first: date, last: date) -> pd.DataFrame | None:
    """The forecaster's daily weather covariates (``date, rain_mm, storm``) from the imported
    days, or None when no day in the span has any."""
    import pandas as pd

    rows = session.execute(select(ForecastWeather.day, ForecastWeather.rain_mm,
                                  ForecastWeather.storm).where(
        ForecastWeather.day >= first, ForecastWeather.day <= last)).all()
    if not rows:
        return None
    frame = pd.DataFrame([(d, np.nan if r is None else float(r), 1.0 if s else 0.0)
                          for d, r, s in rows], columns=["date", "rain_mm", "storm"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def covariates(session: Session, network: Network, history: pd.DataFrame, *, origin: date,
               horizon: int) -> core.Covariates:
    """Everything known about the history's days and the days ahead besides the calendar."""
    from borderflow.forecast import core

    until = origin - timedelta(days=1)
    first = history["date"].min().date() if not history.empty else until
    last = origin + timedelta(days=horizon - 1)
    per_series = closures_frame(session, network, first=first, last=last)
    goods = goods_frame(session, network, until=until, first=first, last=last)
    if goods is not None:
        per_series = per_series.merge(goods, on=["date", "crossing", "direction"], how="left")
    return core.Covariates(
        daily=weather_frame(session, first=first, last=last),
        per_series=per_series,
        declared=declared_frame(session, network, until=until, origin=origin,
                                horizon=horizon))


# --- runs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A run computed and not stored yet (see :func:`prepare`)."""

    origin: date
    trained_from: date
    trained_to: date
    model_version: str
    series: int
    seconds: float
    rows: list[dict[str, Any]]


def prepare(session: Session, network: Network, *, now: datetime) -> Prepared:
    """Forecast every gate and direction for the :data:`HORIZON` Lang Son days from
    tomorrow, from the history up to yesterday (today is not over). Only reads: the fit
    takes seconds, which the callers spend in a read transaction, never holding the write
    lock.

    A series with little history gets the forecaster's fallback (the seasonal naive); one
    without any truck yet gets no forecast. With no history at all there is nothing to
    forecast (:class:`NoHistory`)."""
    from borderflow.forecast import core, model

    today = local_today(now)
    origin = today + timedelta(days=1)
    until = today - timedelta(days=1)
    history = history_frame(session, network, until=until)
    if history.empty:
        raise NoHistory(msg("no trucks recorded or imported yet: there is nothing to forecast "
                            "from (import past traffic with 'borderflow report "
                            "import-history')"))
    context = core.Context(countries=COUNTRIES, covariates=covariates(
        session, network, history, origin=origin, horizon=HORIZON))
    started = timer.perf_counter()
    result = model.forecast(history, origin, HORIZON, context)
    seconds = timer.perf_counter() - started
    ahead = declared_ahead(session, first=origin, last=origin + timedelta(days=HORIZON - 1))
    rows = [
        {"gate": str(r.crossing), "direction": str(r.direction),
         "day": r.date.date(), "horizon": int(r.horizon), "mean": round(float(r.mean), 3),
         "lo80": round(float(r.lo80), 3), "hi80": round(float(r.hi80), 3),
         "lo95": round(float(r.lo95), 3), "hi95": round(float(r.hi95), 3),
         "declared": ahead.get((str(r.crossing), str(r.direction), r.date.date()), 0)}
        for r in result.itertuples(index=False)]
    return Prepared(origin=origin, trained_from=history["date"].min().date(),
                    trained_to=history["date"].max().date(),
                    model_version=model.MODEL_VERSION,
                    series=len({(r["gate"], r["direction"]) for r in rows}),
                    seconds=round(seconds, 3), rows=rows)


def save(session: Session, prepared: Prepared, *, now: datetime, actor: Principal,
         trigger: Trigger) -> ForecastRun:
    """Store a prepared run and its forecasts, purge the runs beyond :data:`KEEP_RUNS` and
    audit it. A second daily run for the same origin is refused (:class:`AlreadyRefreshed`)."""
    run = ForecastRun(created_at=now, model_version=prepared.model_version,
                      origin=prepared.origin, horizon=HORIZON,
                      trained_from=prepared.trained_from, trained_to=prepared.trained_to,
                      series=prepared.series, seconds=prepared.seconds, trigger=trigger,
                      actor=actor.username)
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        raise AlreadyRefreshed(msg("the daily forecasts from {date} were made already",
                                   date=prepared.origin.isoformat())) from None
    if prepared.rows:
        session.execute(insert(Forecast), [dict(r, run_id=run.id) for r in prepared.rows])
    purged = purge(session, keep=KEEP_RUNS)
    audit.record(session, actor=actor, action="forecast.refreshed", target_type="forecast_run",
                 target_id=str(run.id), at=now, before=None,
                 after={"trigger": trigger, "model_version": run.model_version,
                        "origin": run.origin.isoformat(), "horizon": HORIZON,
                        "trained_from": run.trained_from.isoformat(),
                        "trained_to": run.trained_to.isoformat(), "series": run.series,
                        "forecasts": len(prepared.rows), "seconds": run.seconds,
                        "purged_runs": purged})
    session.flush()
    return run


def refresh(session: Session, network: Network, *, now: datetime, actor: Principal,
            trigger: Trigger) -> ForecastRun:
    """:func:`prepare` and :func:`save` in one transaction, with the advice of the days over
    a gate's places (the tests; the API, the command and the background refresh fit and
    advise in a read transaction first)."""
    from borderflow.demand.advice import compute_advice, save_advice  # the lab loads here only

    prepared = prepare(session, network, now=now)
    computed = compute_advice(network, prepared.rows, origin=prepared.origin, now=now)
    run = save(session, prepared, now=now, actor=actor, trigger=trigger)
    save_advice(session, run.id, computed)
    return run


def purge(session: Session, *, keep: int) -> int:
    """Delete every run but the newest ``keep`` (and their forecasts); returns how many."""
    old = list(session.scalars(select(ForecastRun.id).order_by(ForecastRun.id.desc())
                               .offset(keep)))
    if not old:
        return 0
    session.execute(delete(Forecast).where(Forecast.run_id.in_(old)))
    session.execute(delete(ForecastRun).where(ForecastRun.id.in_(old)))
    return len(old)


def daily_due(session: Session, *, now: datetime, at: time) -> bool:
    """Whether the daily refresh should run now: today's has not been made, and either the
    local time has reached ``at`` or no run at all was made in the last day (a new
    installation, or a platform that was stopped over the refresh time)."""
    origin = local_today(now) + timedelta(days=1)
    if session.scalar(select(ForecastRun.id).where(ForecastRun.trigger == "daily",
                                                   ForecastRun.origin == origin)):
        return False
    if now.astimezone(TZ).time() >= at:
        return True
    newest = session.scalar(select(func.max(ForecastRun.created_at)))
    return newest is None or newest < now - timedelta(days=1)


def daily_lock(session: Session) -> bool:
    """Whether this worker may make the daily run now: on PostgreSQL, whether it holds the
    daily refresh's lock for the rest of ``session``'s transaction (another worker holding it
    is making the run); always on SQLite (one process writes). The unique daily origin refuses
    a second run all the same."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"),
                               {"k": _DAILY_LOCK}))


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForecastRow:
    gate: str
    direction: str
    day: date
    horizon: int
    mean: float
    lo80: float
    hi80: float
    lo95: float
    hi95: float
    declared: int
    run_id: int
    model_version: str
    created_at: datetime
    trained_from: date
    trained_to: date


def newest_run(session: Session) -> ForecastRun | None:
    return session.scalar(select(ForecastRun).order_by(ForecastRun.id.desc()).limit(1))


def latest(session: Session, *, gate: str | None = None, direction: str | None = None,
           first: date, last: date, run: ForecastRun | None = None) -> list[ForecastRow]:
    """The newest run's forecasts (or ``run``'s) for the days ``first`` .. ``last`` (only
    those of the run's days), by gate, direction and day; empty when no run was made."""
    run = run or newest_run(session)
    if run is None:
        return []
    q = select(Forecast).where(Forecast.run_id == run.id, Forecast.day >= first,
                               Forecast.day <= last)
    if gate is not None:
        q = q.where(Forecast.gate == gate)
    if direction is not None:
        q = q.where(Forecast.direction == direction)
    return [ForecastRow(f.gate, f.direction, f.day, f.horizon, f.mean, f.lo80, f.hi80, f.lo95,
                        f.hi95, f.declared, run.id, run.model_version, run.created_at,
                        run.trained_from, run.trained_to)
            for f in session.scalars(q.order_by(Forecast.gate, Forecast.direction,
                                                Forecast.day))]


@dataclass(frozen=True)
class Profile:
    """A gate and direction's shares of a day's trucks per local clock hour 0-23 (summing to
    1): over every day, and per weekday (Monday first)."""

    gate: str
    direction: str
    shares: list[float]
    weekdays: list[list[float]]


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    if total <= 0:
        return [1 / 24] * 24
    return [float(v) for v in counts / total]


def hourly_profiles(session: Session, keys: Sequence[tuple[str, str]]) -> list[Profile]:
    """The hourly profile of each gate and direction in ``keys``, from the recorded crossings
    of the :data:`PROFILE_DAYS` days up to the newest day any was recorded; uniform where
    there are none (imported daily totals have no hour). One read of the summary table."""
    wanted = set(keys)
    counts = {k: np.zeros((7, 24)) for k in keys}
    newest = session.scalar(select(func.max(StatHour.day)).where(StatHour.vehicles > 0))
    if newest is not None and wanted:
        gates = sorted({g for g, _ in wanted})
        for day, hour, gate, direction, n in session.execute(
                select(StatHour.day, StatHour.hour, StatHour.gate, StatHour.direction,
                       StatHour.vehicles).where(
                    StatHour.day > newest - timedelta(days=PROFILE_DAYS),
                    StatHour.gate.in_(gates))):
            if (gate, direction) in wanted:
                counts[(gate, direction)][day.weekday(), int(hour)] += max(int(n), 0)
    return [Profile(g, d, _shares(counts[(g, d)].sum(axis=0)),
                    [_shares(counts[(g, d)][w]) for w in range(7)]) for g, d in keys]


def hourly_profile(session: Session, *, gate: str, direction: str,
                   weekday: int | None = None) -> list[float]:
    """One gate and direction's shares of a day's trucks per local clock hour 0-23 (see
    :func:`hourly_profiles`); ``weekday``: only that weekday's days (Monday = 0)."""
    profile = hourly_profiles(session, [(gate, direction)])[0]
    return profile.shares if weekday is None else profile.weekdays[weekday]


# --- weather -------------------------------------------------------------------------------------

WEATHER_MAX_BYTES = 5 * 1024 * 1024
WEATHER_MAX_ERRORS = 200
PLAIN_COLUMNS = {
    "date": "required: YYYY-MM-DD (Lang Son day)",
    "rain_mm": "rain that day in mm (a number >= 0; empty: unknown)",
    "storm": "a storm warning in force that day: 1/0, true/false, yes/no (empty: no)",
}
OPEN_METEO_RAIN = ("precipitation_sum (mm)", "rain_sum (mm)")
"""Open-Meteo's daily columns read as the day's rain, the first present."""
_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n", ""}


@dataclass(frozen=True)
class WeatherImport:
    format: Literal["plain", "open-meteo"]
    days: int
    first: date
    last: date
    rain_days: int
    storm_days: int


def _header_line(lines: list[str]) -> int | None:
    """The index of the header row: the first line whose first cell is ``date`` or
    ``time`` (Open-Meteo's files start with a few lines about the location)."""
    for i, line in enumerate(lines):
        first = line.split(",", 1)[0].strip().strip('"').lower()
        if first in ("date", "time"):
            return i
    return None


def _weather_header(header: list[str]) -> tuple[bool, dict[str, int], str]:
    """Which form the file is (Open-Meteo's or plain), where each column is, and the name of
    the rain column; a header neither form fits is refused."""
    if header[0].lower() == "time":
        found = next((c for c in OPEN_METEO_RAIN if c in header), None)
        if found is None:
            raise ValidationFailed([FieldError("header", msg(
                "an Open-Meteo file needs a daily column {columns}",
                columns=list(OPEN_METEO_RAIN)))])
        columns = {"date": header.index("time"), "rain_mm": header.index(found)}
        if "storm" in header:
            columns["storm"] = header.index("storm")
        return True, columns, found
    unknown = [c for c in header if c not in PLAIN_COLUMNS]
    if unknown:
        raise ValidationFailed([FieldError("header", msg(
            "unknown column(s): {columns}; the columns are {known}", columns=unknown,
            known=list(PLAIN_COLUMNS)))])
    if len(header) != len(set(header)) or len(header) < 2:
        raise ValidationFailed([FieldError("header", msg(
            "name 'date' and at least one of rain_mm, storm, each once"))])
    return False, {c: header.index(c) for c in header}, "rain_mm"


def _weather_row(cells: list[str], line: int, columns: dict[str, int], *, open_meteo: bool,
                 rain_name: str, latest: date, errors: list[FieldError]
                 ) -> tuple[date | None, dict[str, Any]]:
    """One row's day and values; each bad cell adds its error."""
    row: dict[str, Any] = {}
    raw = cells[columns["date"]].strip()
    day: date | None = None
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        reason = (msg("'{value}' is not YYYY-MM-DD (export daily values)", value=raw[:30])
                  if raw else msg("required"))
        errors.append(FieldError(f"line {line}: {'time' if open_meteo else 'date'}", reason))
    if day is not None and day > latest:
        errors.append(FieldError(f"line {line}: date", msg("is too far in the future")))
    if "rain_mm" in columns:
        value = cells[columns["rain_mm"]].strip()
        row["rain_mm"] = None
        if value:
            try:
                rain = float(value)
                if not np.isfinite(rain) or rain < 0:
                    raise ValueError(value)
                row["rain_mm"] = rain
            except ValueError:
                errors.append(FieldError(f"line {line}: {rain_name}", msg(
                    "'{value}' is not a number of mm >= 0 ('.' as decimal point)",
                    value=value[:20])))
    if "storm" in columns:
        value = cells[columns["storm"]].strip().lower()
        if value in _TRUE or value in _FALSE:
            row["storm"] = value in _TRUE
        else:
            errors.append(FieldError(f"line {line}: storm", msg(
                "'{value}' is not 1/0, true/false or yes/no", value=value[:20])))
    return day, row


def _read_weather(data: bytes, *, latest: date) -> tuple[bool, dict[str, int],
                                                          dict[date, dict[str, Any]]]:
    """The file's form, columns and rows by day, every row checked; any bad row refuses the
    file (:class:`~borderflow.errors.ValidationFailed` naming each)."""
    if len(data) > WEATHER_MAX_BYTES:
        raise ValidationFailed([FieldError("file", msg("larger than {size} MB",
                                                       size=WEATHER_MAX_BYTES // 2**20))])
    try:
        lines = data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise ValidationFailed([FieldError("file", msg("is not UTF-8 text"))]) from None
    start = _header_line(lines)
    if start is None:
        raise ValidationFailed([FieldError("header", msg(
            "no header row: the first column must be 'date' (columns date,rain_mm,storm) or "
            "'time' (Open-Meteo's daily export)"))])
    reader = csv.reader(io.StringIO("\n".join(lines[start:])))
    header = [h.strip() for h in next(reader)]
    open_meteo, columns, rain_name = _weather_header(header)
    errors: list[FieldError] = []
    parsed: dict[date, dict[str, Any]] = {}
    seen_at: dict[date, int] = {}
    for offset, cells in enumerate(reader):
        line = start + 2 + offset
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header):
            errors.append(FieldError(f"line {line}", msg("has more cells than the header")))
            continue
        day, row = _weather_row(cells + [""] * (len(header) - len(cells)), line, columns,
                                open_meteo=open_meteo, rain_name=rain_name, latest=latest,
                                errors=errors)
        if day is not None:
            if day in seen_at:
                errors.append(FieldError(f"line {line}: date", msg(
                    "{date} is also on line {number}", date=day.isoformat(),
                    number=str(seen_at[day]))))
            seen_at[day] = line
            parsed[day] = row
        if len(errors) >= WEATHER_MAX_ERRORS:
            break
    if not parsed and not errors:
        errors.append(FieldError("file", msg("has no rows")))
    if errors:
        raise ValidationFailed(errors[:WEATHER_MAX_ERRORS])
    return open_meteo, columns, parsed


def import_weather(session: Session, data: bytes, *, actor: Principal, now: datetime,
                   source: str = "weather.csv") -> WeatherImport:
    """Import daily weather from a CSV file: every row checked first, a file with any bad row
    refused whole (each bad line and column named), nothing imported then. Each day's row
    replaces what an earlier import said about that day's columns present in the file (an
    Open-Meteo file, which has no storm column, leaves the storm warnings as they were).
    Days up to two weeks past the forecasts' horizon are taken (weather forecasts, storm
    warnings).

    Two forms (see docs/forecasting.md, "Weather file format"):

    * plain: a header ``date,rain_mm,storm`` (``date`` and at least one other);
    * Open-Meteo's daily CSV export as it is: a few lines about the location, then the header
      ``time,precipitation_sum (mm),...`` (or ``rain_sum (mm)``); other columns are ignored.
    """
    open_meteo, columns, parsed = _read_weather(
        data, latest=local_today(now) + timedelta(days=HORIZON + 14))
    fmt: Literal["plain", "open-meteo"] = "open-meteo" if open_meteo else "plain"
    src = f"{fmt}: {source}"[:200]
    values = [{"day": d, "rain_mm": r.get("rain_mm"), "storm": bool(r.get("storm", False)),
               "source": src, "imported_at": now, "imported_by": actor.username}
              for d, r in sorted(parsed.items())]
    updated = ["source", "imported_at", "imported_by",
               *(c for c in ("rain_mm", "storm") if c in columns)]
    dialect = session.get_bind().dialect.name
    ins: Any = (postgresql.insert(ForecastWeather) if dialect == "postgresql"
                else sqlite.insert(ForecastWeather))
    session.execute(ins.on_conflict_do_update(
        index_elements=["day"], set_={c: getattr(ins.excluded, c) for c in updated}), values)
    first, last = min(parsed), max(parsed)
    result = WeatherImport(
        format=fmt, days=len(parsed), first=first, last=last,
        rain_days=sum(1 for r in parsed.values() if (r.get("rain_mm") or 0) > 0),
        storm_days=sum(1 for r in parsed.values() if r.get("storm")))
    audit.record(session, actor=actor, action="forecast.weather_imported",
                 target_type="forecast_weather", target_id=f"{first}..{last}", at=now,
                 before=None, after={"format": fmt, "source": src, "days": result.days,
                                     "columns": [c for c in ("rain_mm", "storm")
                                                 if c in columns],
                                     "sha256": hashlib.sha256(data).hexdigest()})
    session.flush()
    return result
