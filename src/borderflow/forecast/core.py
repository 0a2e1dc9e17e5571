"""What every forecaster takes and gives, and the plain baselines it is measured against.

A **history** is a frame with one row per day, crossing and direction: ``date``
(``datetime64[ns]``, midnight), ``crossing``, ``direction`` and ``trucks`` (float; ``NaN``
means no data for that day, which is not the same as zero). Each (crossing, direction) pair is
one **series**; its days run without holes (a missing day is a row with ``NaN``).

A **forecaster** is a function ``(history before the origin, origin, horizon, context) →
forecasts``: for every series, one row per target day ``origin … origin + horizon - 1`` with
the mean and the 80 % and 95 % prediction intervals. It sees nothing on or after the origin
except what the context knows in advance (calendar, declared trucks, weather warnings,
closures).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

KEY = ["crossing", "direction"]
FORECAST_COLUMNS = ["crossing", "direction", "date", "horizon", "mean", "lo80", "hi80", "lo95",
                    "hi95"]
DIRECTIONS = ("import", "export", "both")
Z80, Z95 = 1.2815515655446004, 1.959963984540054


@dataclass(frozen=True)
class Covariates:
    """What is known about days ahead besides the calendar. Every frame is optional.

    * ``daily``: ``date`` plus numeric columns that apply to every series that day (weather:
      ``rain_mm``, ``storm`` 0/1).
    * ``per_series``: ``date, crossing, direction`` plus numeric columns for one series
      (``closed`` 0/1 for a known closure, ``goods_season`` for the goods mix's seasonal index).
    * ``declared``: ``date, crossing, direction, lead, declared``: trucks due that day that had
      been declared at least ``lead`` days before it (lead 1 = by the day before). For days
      ahead of the origin, the trucks declared so far, with lead = the horizon.
    """

    daily: pd.DataFrame | None = None
    per_series: pd.DataFrame | None = None
    declared: pd.DataFrame | None = None


@dataclass(frozen=True)
class Context:
    countries: tuple[str, ...] = ("VN", "CN")
    covariates: Covariates = field(default_factory=Covariates)


Forecaster = Callable[[pd.DataFrame, date, int, Context], pd.DataFrame]


def series_of(history: pd.DataFrame) -> list[tuple[tuple[str, str], pd.Series]]:
    """Each series as a float Series indexed by every day from its first to its last row."""
    out: list[tuple[tuple[str, str], pd.Series]] = []
    for (crossing, direction), g in history.groupby(KEY, sort=True):
        s = g.set_index("date")["trucks"].astype(float).sort_index()
        s = s[~s.index.duplicated(keep="last")]
        if s.empty:
            continue
        s = s.reindex(pd.date_range(s.index[0], s.index[-1], freq="D"))
        out.append(((str(crossing), str(direction)), s))
    return out


def target_days(origin: date, horizon: int) -> pd.DatetimeIndex:
    return pd.date_range(pd.Timestamp(origin), periods=horizon, freq="D")


def frame(key: tuple[str, str], days: pd.DatetimeIndex, mean: np.ndarray, lo80: np.ndarray,
          hi80: np.ndarray, lo95: np.ndarray, hi95: np.ndarray) -> pd.DataFrame:
    """One series' forecasts in the common shape: counts are never negative, and the bounds
    always hold ``lo95 <= lo80 <= mean <= hi80 <= hi95`` (error quantiles of a biased model
    can both lie on one side of zero; the interval is then stretched to its mean rather
    than leaving the mean outside it)."""
    mean = np.maximum(mean, 0.0)
    lo80 = np.clip(lo80, 0.0, mean)
    hi80 = np.maximum(hi80, mean)
    return pd.DataFrame({
        "crossing": key[0], "direction": key[1], "date": days,
        "horizon": np.arange(1, len(days) + 1),
        "mean": mean, "lo80": lo80, "hi80": hi80, "lo95": np.clip(lo95, 0.0, lo80),
        "hi95": np.maximum(hi95, hi80)})


def seasonal_naive_values(s: pd.Series, days: pd.DatetimeIndex, season: int = 7) -> np.ndarray:
    """The same weekday one season back, stepping back further while that day has no data."""
    known = s.dropna()
    out = np.full(len(days), np.nan)
    if known.empty:
        return out
    last = s.index[-1]
    for i, d in enumerate(days):
        back = d - pd.Timedelta(days=season)
        while back > last:
            back -= pd.Timedelta(days=season)
        while back >= s.index[0]:
            v = s.get(back)
            if v is not None and not np.isnan(v):
                out[i] = v
                break
            back -= pd.Timedelta(days=season)
        if np.isnan(out[i]):
            out[i] = float(known.iloc[-1])
    return out


def in_sample_scale(s: pd.Series, season: int = 7) -> float:
    """The in-sample mean absolute error of the seasonal naive (MASE's denominator): days with
    data a season apart."""
    v = s.to_numpy(dtype=float)
    if len(v) <= season:
        return float("nan")
    d = np.abs(v[season:] - v[:-season])
    d = d[~np.isnan(d)]
    return float(d.mean()) if d.size else float("nan")


def seasonal_naive(history: pd.DataFrame, origin: date, horizon: int,
                   context: Context) -> pd.DataFrame:
    """Seasonal naive with intervals from its own in-sample errors at each horizon's lag."""
    days = target_days(origin, horizon)
    parts = []
    for key, s in series_of(history):
        mean = seasonal_naive_values(s, days)
        v = s.to_numpy(dtype=float)
        lo80, hi80, lo95, hi95 = (np.empty(horizon) for _ in range(4))
        for h in range(horizon):
            lag = 7 * (h // 7 + 1)
            e = (v[lag:] - v[:-lag]) if len(v) > lag else np.array([])
            e = e[~np.isnan(e)][-365:]
            if e.size < 10:
                e = np.array([0.0])
            q = np.quantile(e, [0.025, 0.1, 0.9, 0.975])
            lo95[h], lo80[h], hi80[h], hi95[h] = mean[h] + q
        parts.append(frame(key, days, mean, lo80, hi80, lo95, hi95))
    return pd.concat(parts, ignore_index=True) if parts else empty()


def mean_of_last_weeks(history: pd.DataFrame, origin: date, horizon: int,
                       context: Context, weeks: int = 4) -> pd.DataFrame:
    """The mean of the last four same-weekday days with data (no intervals of its own: the
    seasonal naive's errors, scaled)."""
    days = target_days(origin, horizon)
    parts = []
    for key, s in series_of(history):
        known = s.dropna()
        mean = np.empty(horizon)
        for i, d in enumerate(days):
            same = known[known.index.dayofweek == d.dayofweek].tail(weeks)
            mean[i] = float(same.mean()) if not same.empty else (
                float(known.tail(28).mean()) if not known.empty else np.nan)
        sd = np.nanstd(s.to_numpy(dtype=float)[-56:]) if len(s) else 0.0
        parts.append(frame(key, days, mean, mean - Z80 * sd, mean + Z80 * sd,
                           mean - Z95 * sd, mean + Z95 * sd))
    return pd.concat(parts, ignore_index=True) if parts else empty()


def fill_gaps(s: pd.Series, season: int = 7) -> pd.Series:
    """Missing days filled with the mean of up to four earlier same-weekday values (later ones
    where there is none before), for models that need a gapless series."""
    v = s.to_numpy(dtype=float).copy()
    n = len(v)
    for i in np.flatnonzero(np.isnan(v)):
        before = [v[j] for j in range(i - season, -1, -season) if not np.isnan(v[j])][:4]
        if not before:
            before = [v[j] for j in range(i + season, n, season) if not np.isnan(v[j])][:4]
        v[i] = float(np.mean(before)) if before else float(np.nanmean(v)) if np.isfinite(
            np.nanmean(v)) else 0.0
    return pd.Series(v, index=s.index)


def auto_ets(history: pd.DataFrame, origin: date, horizon: int, context: Context) -> pd.DataFrame:
    """statsforecast's AutoETS with a weekly season, per series, on the gap-filled history."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    days = target_days(origin, horizon)
    rows = []
    for key, s in series_of(history):
        s = s[s.index < pd.Timestamp(origin)]
        if s.dropna().empty:
            continue
        f = fill_gaps(s)
        rows.append(pd.DataFrame({"unique_id": f"{key[0]}\x1f{key[1]}", "ds": f.index,
                                  "y": f.to_numpy()}))
    if not rows:
        return empty()
    data = pd.concat(rows, ignore_index=True)
    sf = StatsForecast(models=[AutoETS(season_length=7)], freq="D", n_jobs=1)
    fc = sf.forecast(df=data, h=horizon, level=[80, 95])
    parts = []
    for uid, g in fc.groupby("unique_id", sort=True):
        crossing, direction = str(uid).split("\x1f")
        g = g.sort_values("ds")
        parts.append(frame((crossing, direction), days, g["AutoETS"].to_numpy(),
                           g["AutoETS-lo-80"].to_numpy(), g["AutoETS-hi-80"].to_numpy(),
                           g["AutoETS-lo-95"].to_numpy(), g["AutoETS-hi-95"].to_numpy()))
    return pd.concat(parts, ignore_index=True)


def empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in FORECAST_COLUMNS})
