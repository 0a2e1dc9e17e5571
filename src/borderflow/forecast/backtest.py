"""Backtesting a forecaster on any history, the same way for every method.

The history is split at ``holdout_days`` before its last day. From every origin in the holdout
(one each ``step`` days, the first on the holdout's first day) each method forecasts the next
``horizon`` days from everything before that origin; targets past the history's end and days
without data are not scored.

Scores per method and series:

* **MASE**: the mean absolute error over the holdout divided by the in-sample mean absolute error
  of the seasonal naive (season 7) on the history before the holdout. Averaged over series.
* **Coverage**: the share of targets inside the 80 % and the 95 % interval.

History files are CSV with the columns ``date,crossing,direction,trucks`` (one row per day,
crossing and direction; direction ``import``, ``export`` or ``both``); an empty ``trucks`` cell
means no data for that day.
"""

from __future__ import annotations

import csv
import io
import multiprocessing as mp
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from borderflow.errors import FieldError, ValidationFailed, msg
from borderflow.forecast import core
from borderflow.forecast.core import KEY, Context, Forecaster, in_sample_scale, series_of

COLUMNS = ("date", "crossing", "direction", "trucks")
MAX_ERRORS = 50


def read_history(text: str) -> pd.DataFrame:
    """A history file's rows as a frame, every row checked first: a file with a bad row is
    refused whole with each bad row and field named."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    extra = [c for c in header if c not in COLUMNS]
    if missing or extra:
        fields = [FieldError(c, msg("required column is missing")) for c in missing]
        fields += [FieldError(c, msg("unknown column (expected {columns})",
                                     columns=list(COLUMNS))) for c in extra]
        raise ValidationFailed(fields, "the history file's header is not "
                                       "date,crossing,direction,trucks")
    errors: list[FieldError] = []
    rows: list[tuple[date, str, str, float]] = []
    seen: set[tuple[date, str, str]] = set()
    for line, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if len(errors) >= MAX_ERRORS:
            break

        def bad(column: str, reason: str, line: int = line) -> None:
            errors.append(FieldError(f"line {line}: {column}", reason))

        try:
            day = date.fromisoformat(row["date"])
        except ValueError:
            bad("date", msg("'{value}' is not a date (YYYY-MM-DD)", value=row["date"][:20]))
            continue
        crossing, direction = row["crossing"], row["direction"].lower()
        if not crossing:
            bad("crossing", msg("required"))
        if direction not in core.DIRECTIONS:
            bad("direction", msg("one of {direction}", direction=list(core.DIRECTIONS)))
        value = float("nan")
        if row["trucks"]:
            try:
                value = float(row["trucks"])
            except ValueError:
                value = -1.0
            if not (value >= 0 and np.isfinite(value)):
                bad("trucks", msg("'{value}' is not a number of trucks (>= 0, or empty for "
                                  "no data)", value=row["trucks"][:20]))
                continue
        if (day, crossing, direction) in seen:
            bad("date", msg("a second row for {day} {crossing} {direction}", day=str(day),
                            crossing=crossing[:40], direction=direction))
            continue
        seen.add((day, crossing, direction))
        rows.append((day, crossing, direction, value))
    if errors:
        raise ValidationFailed(errors, f"{len(errors)} bad row(s); nothing was read")
    if not rows:
        raise ValidationFailed([FieldError("date", msg("the file has no rows"))])
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df["date"] = pd.to_datetime(df["date"])
    return df.sort_values([*KEY, "date"], ignore_index=True)


@dataclass
class Backtest:
    horizon: int
    holdout_start: date
    holdout_end: date
    forecasts: pd.DataFrame
    """Every forecast made: method, origin, crossing, direction, date, horizon, mean, lo80,
    hi80, lo95, hi95, actual."""
    scales: dict[tuple[str, str], float]
    seconds: dict[str, float] = field(default_factory=dict)

    def scores(self) -> pd.DataFrame:
        """Per method and series: targets scored, MASE, 80 % and 95 % coverage."""
        f = self.forecasts.dropna(subset=["actual"])
        rows = []
        for (method, crossing, direction), g in f.groupby(["method", *KEY], sort=True):
            scale = self.scales.get((crossing, direction), float("nan"))
            err = np.abs(g["actual"] - g["mean"]).mean()
            rows.append({
                "method": method, "crossing": crossing, "direction": direction,
                "targets": len(g), "scale": scale,
                "mase": err / scale if scale and scale > 0 else float("nan"),
                "coverage_80": float(((g["actual"] >= g["lo80"])
                                      & (g["actual"] <= g["hi80"])).mean()),
                "coverage_95": float(((g["actual"] >= g["lo95"])
                                      & (g["actual"] <= g["hi95"])).mean()),
            })
        return pd.DataFrame(rows)

    def summary(self, method: str = "borderflow",
                baselines: tuple[str, ...] = ("seasonal_naive", "mean_last_4_weeks",
                                              "auto_ets")) -> dict[str, object]:
        """The last line's figures: means over series of MASE and coverage."""
        s = self.scores()
        mine = s[s["method"] == method]
        by = s.groupby("method")["mase"].mean()
        base = [float(by[b]) for b in baselines if b in by.index]
        return {
            "series": len(mine),
            "days": int((self.holdout_end - self.holdout_start).days + 1),
            "horizon": self.horizon,
            "mase": _r(float(mine["mase"].mean())),
            "mase_seasonal_naive": _r(float(by.get("seasonal_naive", float("nan")))),
            "mase_best_baseline": _r(min(base)) if base else None,
            "coverage_80": _r(float(mine["coverage_80"].mean())),
            "coverage_95": _r(float(mine["coverage_95"].mean())),
            "seconds": _r(self.seconds.get(method, float("nan")), 2),
        }


def _r(x: float, digits: int = 4) -> float | None:
    return None if not np.isfinite(x) else round(x, digits)


def default_methods() -> dict[str, Forecaster]:
    from borderflow.forecast.model import forecast

    return {"borderflow": forecast, "seasonal_naive": core.seasonal_naive,
            "mean_last_4_weeks": core.mean_of_last_weeks, "auto_ets": core.auto_ets}


def run(history: pd.DataFrame, *, horizon: int, holdout_days: int,
        context: Context | None = None, step: int = 7,
        methods: Mapping[str, Forecaster] | None = None,
        progress: Callable[[str, date], None] | None = None, processes: int = 1) -> Backtest:
    """Rolling-origin backtest of each method over the last ``holdout_days`` of the history;
    with ``processes`` > 1 the (method, origin) forecasts run in that many processes (each
    method's time is still its own forecasts' time)."""
    if horizon < 1 or holdout_days < 1 or step < 1:
        raise ValueError("horizon, holdout_days and step must be at least 1")
    context = context or Context()
    methods = dict(methods or default_methods())
    last = history["date"].max().date()
    first = history["date"].min().date()
    holdout_start = last - timedelta(days=holdout_days - 1)
    if holdout_start <= first + timedelta(days=14):
        raise ValidationFailed([FieldError("holdout_days", msg(
            "leaves less than two weeks of history before the holdout"))])
    before = history[history["date"] < pd.Timestamp(holdout_start)]
    scales = {key: in_sample_scale(s) for key, s in series_of(before)}
    actual = history.set_index([*KEY, "date"])["trucks"]
    origins = [holdout_start + timedelta(days=i) for i in range(0, holdout_days, step)]
    tasks = [(name, origin) for name in methods for origin in origins]
    seconds: dict[str, float] = dict.fromkeys(methods, 0.0)
    parts: list[pd.DataFrame] = []

    def collect(name: str, origin: date, f: pd.DataFrame, spent: float) -> None:
        seconds[name] += spent
        f = f[f["date"] <= pd.Timestamp(last)].copy()
        f.insert(0, "origin", pd.Timestamp(origin))
        f.insert(0, "method", name)
        parts.append(f)

    if processes > 1:
        # spawned, not forked: a forked child of a process that has run OpenMP can hang
        with ProcessPoolExecutor(processes, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(_one, methods[name], history, origin, horizon, context):
                       (name, origin) for name, origin in tasks}
            for fut in as_completed(futures):
                name, origin = futures[fut]
                if progress:
                    progress(name, origin)
                collect(name, origin, *fut.result())
    else:
        for name, origin in tasks:
            if progress:
                progress(name, origin)
            collect(name, origin, *_one(methods[name], history, origin, horizon, context))
    out = pd.concat(parts, ignore_index=True).sort_values(
        ["method", "origin", *KEY, "date"], ignore_index=True)
    idx = pd.MultiIndex.from_frame(out[[*KEY, "date"]])
    out["actual"] = actual.reindex(idx).to_numpy()
    return Backtest(horizon, holdout_start, last, out, scales, seconds)


def _one(method: Forecaster, history: pd.DataFrame, origin: date, horizon: int,
         context: Context) -> tuple[pd.DataFrame, float]:
    train = history[history["date"] < pd.Timestamp(origin)]
    t0 = time.perf_counter()
    f = method(train, origin, horizon, context)
    return f, time.perf_counter() - t0


def forecasts_csv(bt: Backtest, method: str = "borderflow") -> str:
    """Every forecast one method made: ``origin,date,crossing,direction,horizon,mean,lo80,hi80,
    lo95,hi95``, one row per origin, series and target date."""
    f = bt.forecasts[bt.forecasts["method"] == method]
    cols = ["origin", "date", "crossing", "direction", "horizon", "mean", "lo80", "hi80",
            "lo95", "hi95"]
    f = f[cols].copy()
    f["origin"] = f["origin"].dt.date
    f["date"] = f["date"].dt.date
    return str(f.to_csv(index=False, float_format="%.2f", lineterminator="\n"))
