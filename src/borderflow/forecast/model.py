"""Borderflow's demand forecaster: a gradient-boosted model (LightGBM) for every series, combined
per series with three simpler forecasts in the weights that measured best on its own history.

**The boosted model.** For every past day ``o`` taken as an origin and every horizon ``k``, it
learns the ratio of the day ``o + k - 1``'s trucks to the series' level at ``o`` (the mean of its
last 28 ordinary days: days off and the weeks around a festival left out, so that a holiday just
past does not pull the level down) from what was known at ``o``:

* the recent pattern: the mean of the last four same weekdays, the last same weekday, the last
  week's mean (each as a ratio to the level), the level against the last year's;
* the same days a year earlier (as a ratio to that year's level), which carries the seasons a
  series repeats each year (fruit harvests, the months before a festival);
* the target day's calendar (:mod:`borderflow.forecast.calendar`): weekday, time of year, for
  each side its holidays, the days to and since its holiday blocks and their lengths, and the
  days to or since the lunar new year (Tet and the Spring Festival move each year; the model
  sees them by their real dates);
* what is known in advance (:class:`~borderflow.forecast.core.Covariates`): trucks already
  declared for the day, weather (rain, storm warnings), closures, the goods mix's season.

Because every target is a ratio to its own series' level, one model serves crossings of a few
trucks and of thousands, and a series it has not seen.

**The combination.** Per series, the forecast is a weighted mean (weights in eighths) of

* the boosted model;
* exponential smoothing (statsforecast's ETS with an additive level and weekly season), fitted
  on the last year of ordinary days (days off and festival weeks filled like missing days):
  it follows a level that moves;
* the mean of the last four same weekdays;
* a calendar regression: the logarithm of the day's trucks on trend, weekday, time of year,
  each side's holidays and days off, and one effect per day from 21 days before the lunar new
  year to 14 after (the shape of the surge, the collapse and the recovery);

with the weights that gave the smallest absolute error over the series' own history, each
forecast there made without the day it forecasts (the boosted model and the regression fitted
without the block of history the day is in, the smoothing and the four weeks from the day's
origin). On days off and near festivals (inside a break of five days or more, the three weeks
before, the week after) only the boosted model and the calendar regression are weighed, with
weights of their own: the recent weeks know nothing of what comes.

**Prediction intervals** are empirical: the combination's errors on the history, made as
above (as ratios to the level), give the 80 % and 95 % bounds around the mean. Errors are kept
apart for days near a long holiday break (inside one, the three weeks before, the week after)
and other days, per series where it has enough of them, and widen with the horizon as the
errors do. A series with too little history falls back to the seasonal naive and its own
errors.

Everything is chosen on the history before the origin: nothing is tuned per history by hand.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from borderflow.forecast.calendar import day_features
from borderflow.forecast.core import (
    Context,
    empty,
    frame,
    seasonal_naive,
    series_of,
    target_days,
)

MODEL_VERSION = "gbm-ratio-4"
"""Stored with every forecast; changes when the model or its features change."""

LEVEL_DAYS = 28
MIN_HISTORY = 70
"""Days of history a series needs for the model; shorter ones get the seasonal naive."""
FOLDS = 2
"""Blocks of the history each left out once to measure the boosted model's errors."""
CV_ROUNDS = 100
MIN_TRAIN = 200
"""Training rows a left-out fit needs."""
MIN_ERRORS = 40
"""Errors a series needs in a group (near a long break or not) for quantiles of its own."""
LEVELS = (0.025, 0.1, 0.9, 0.975)
PARAMS = {
    "objective": "l2", "learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 40,
    "max_bin": 63,
    "feature_fraction": 0.9, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
    "verbose": -1, "seed": 7, "deterministic": True, "force_row_wise": True,
}
ROUNDS = 150
THREADS = 1
"""One thread: the fit is small, and OpenMP threads spinning on a core that the web workers or
the simulations also use slow it down many times over."""
ORIGIN_EVERY = 2
"""Training origins: every second past day (neighbouring origins share almost every row)."""


@dataclass
class _Series:
    key: tuple[str, str]
    start: pd.Timestamp
    values: np.ndarray  # from start to the day before the origin; NaN = no data


def _rolling_mean(v: np.ndarray, window: int, min_count: int) -> np.ndarray:
    """out[i] = mean of the known values among v[i-window : i] (the window *before* i)."""
    known = ~np.isnan(v)
    c = np.concatenate([[0.0], np.cumsum(np.where(known, v, 0.0))])
    n = np.concatenate([[0], np.cumsum(known)])
    i = np.arange(len(v) + 1)
    lo = np.maximum(i - window, 0)
    s, k = c[i] - c[lo], n[i] - n[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(k >= min_count, s / np.maximum(k, 1), np.nan)


def _same_weekday_mean(v: np.ndarray, weeks: int) -> np.ndarray:
    """out[p] = mean of the known values among v[p], v[p-7], … (``weeks`` of them)."""
    stack = np.full((weeks, len(v)), np.nan)
    for j in range(weeks):
        stack[j, 7 * j:] = v[:len(v) - 7 * j] if j else v
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a day with no data in any week
        return np.asarray(np.nanmean(stack, axis=0))


class _Design:
    """Features and targets of one series for a set of (origin index, horizon) pairs."""

    def __init__(self, s: _Series, total_days: int, skip: np.ndarray | None = None) -> None:
        v = np.full(total_days, np.nan)
        v[:len(s.values)] = s.values
        self.v = v
        self.level = _rolling_mean(v, LEVEL_DAYS, 7)  # level[o]: the 28 days before o
        if skip is not None:
            # the level of ordinary days: holiday blocks and festival weeks left out
            plain = np.where(skip[:total_days], np.nan, v)
            clean = _rolling_mean(plain, LEVEL_DAYS, 10)
            longer = _rolling_mean(plain, 2 * LEVEL_DAYS, 10)
            clean = np.where(np.isnan(clean), longer, clean)
            self.level = np.where(np.isnan(clean), self.level, clean)
        self.week = _rolling_mean(v, 7, 3)
        self.year_level = _rolling_mean(v, 364, 90)
        self.sw4 = _same_weekday_mean(v, 4)
        self.sly = _rolling_mean(v, 7, 3)  # 7 days centred later by index shift

    def rows(self, origins: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray, np.ndarray]:
        """Features, target ratio, level and target index for each origin × horizon."""
        o = np.repeat(origins, horizon)
        k = np.tile(np.arange(1, horizon + 1), len(origins))
        t = o + k - 1
        level = self.level[o]
        lvl = np.where(np.isnan(level) | (level <= 0), np.nan, level)
        back = 7 * ((k - 1) // 7 + 1)
        p = t - back
        with np.errstate(invalid="ignore", divide="ignore"):
            w4 = self.sw4[np.maximum(p, 0)] / lvl
            last = self.v[np.maximum(p, 0)] / lvl
            week = self.week[o] / lvl
            trend = level / self.year_level[o]
            ly_t = t - 364
            ly_o = o - 364
            ok = ly_o >= 0
            ly_level = np.where(ok, self.level[np.maximum(ly_o, 0)], np.nan)
            # mean of the 7 days centred on the same day a year earlier
            ly_mid = np.where(ok, self.sly[np.clip(ly_t + 4, 0, len(self.v))], np.nan)
            ly_day = np.where(ok, self.v[np.maximum(ly_t, 0)], np.nan)
            ly_ratio = ly_mid / ly_level
            ly_day_ratio = ly_day / ly_level
            y = self.v[np.minimum(t, len(self.v) - 1)] / lvl
        x = np.column_stack([k, w4, last, week, trend, ly_ratio, ly_day_ratio])
        return x, y, lvl, t


BASE_FEATURES = ["horizon", "same_weekday_4", "same_weekday_last", "last_week", "trend",
                 "last_year_week", "last_year_day"]


def _covariate_columns(context: Context, keys: list[tuple[str, str]], days: pd.DatetimeIndex
                       ) -> tuple[dict[tuple[str, str], np.ndarray], list[str]]:
    """Per series: a (days × covariates) array of the daily and per-series covariates."""
    cov = context.covariates
    names: list[str] = []
    base = pd.DataFrame(index=days)
    if cov.daily is not None and not cov.daily.empty:
        d = cov.daily.copy()
        d["date"] = pd.to_datetime(d["date"])
        d = d.groupby("date").mean(numeric_only=True)
        for c in d.columns:
            base[c] = d[c].reindex(days).to_numpy(dtype=float)
            names.append(str(c))
    per_names: list[str] = []
    per: dict[tuple[str, str], pd.DataFrame] = {}
    if cov.per_series is not None and not cov.per_series.empty:
        ps = cov.per_series.copy()
        ps["date"] = pd.to_datetime(ps["date"])
        per_names = [c for c in ps.columns if c not in ("date", "crossing", "direction")]
        for (c, d_), g in ps.groupby(["crossing", "direction"]):
            per[(str(c), str(d_))] = g.groupby("date")[per_names].mean().reindex(days)
    out: dict[tuple[str, str], np.ndarray] = {}
    for key in keys:
        cols = [base[c].to_numpy(dtype=float) for c in names]
        g = per.get(key)
        for c in per_names:
            cols.append(g[c].to_numpy(dtype=float) if g is not None
                        else np.full(len(days), np.nan))
        out[key] = np.column_stack(cols) if cols else np.zeros((len(days), 0))
    return out, names + per_names


def _declared(context: Context, key: tuple[str, str], day0: pd.Timestamp, t: np.ndarray,
              k: np.ndarray, level: np.ndarray) -> np.ndarray | None:
    decl = context.covariates.declared
    if decl is None or decl.empty:
        return None
    g = decl[(decl["crossing"] == key[0]) & (decl["direction"] == key[1])]
    out = np.full(len(t), np.nan)
    if g.empty:
        return out
    idx = ((pd.to_datetime(g["date"]) - day0).dt.days.to_numpy())
    table = {(int(i), int(lead)): float(n) for i, lead, n in
             zip(idx, g["lead"].to_numpy(), g["declared"].to_numpy(), strict=True)}
    for j in range(len(t)):
        n = table.get((int(t[j]), int(k[j])))
        if n is not None:
            out[j] = n
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(out / level)


def _dataset(x: np.ndarray, y: np.ndarray, names: list[str]) -> tuple[object, np.ndarray]:
    """The training rows with a known target, binned once (the left-out fits take subsets of
    it), and each row's position among them (-1: unknown target)."""
    import lightgbm as lgb

    ok = ~np.isnan(y)
    data = lgb.Dataset(x[ok], y[ok], feature_name=names, free_raw_data=False,
                       params=dict(PARAMS, num_threads=THREADS))
    data.construct()
    return data, np.where(ok, np.cumsum(ok) - 1, -1)


def _fit(data: object, rounds: int = ROUNDS, rows: np.ndarray | None = None) -> object:
    """The model fitted on the dataset, or on its ``rows`` (positions in it)."""
    import lightgbm as lgb

    if rows is not None:
        data = data.subset(sorted(rows.tolist()))  # type: ignore[attr-defined]
    return lgb.train(dict(PARAMS, num_threads=THREADS), data,  # type: ignore[arg-type]
                     num_boost_round=rounds)


def forecast(history: pd.DataFrame, origin: date, horizon: int, context: Context) -> pd.DataFrame:
    """Every series' next ``horizon`` days from ``origin`` with 80 % and 95 % intervals."""
    origin_ts = pd.Timestamp(origin)
    history = history[history["date"] < origin_ts]
    all_series = [(key, s) for key, s in series_of(history)]
    if not all_series:
        return empty()
    modelled: list[_Series] = []
    fallback: list[tuple[str, str]] = []
    for key, s in all_series:
        s = s.reindex(pd.date_range(s.index[0], origin_ts - pd.Timedelta(days=1), freq="D"))
        if s.notna().sum() >= MIN_HISTORY and np.nansum(s.to_numpy()[-LEVEL_DAYS:]) > 0:
            modelled.append(_Series(key, s.index[0], s.to_numpy(dtype=float)))
        else:
            fallback.append(key)
    parts = []
    if fallback:
        sub = history.set_index(["crossing", "direction"]).loc[fallback].reset_index()
        parts.append(seasonal_naive(sub, origin, horizon, context))
    if modelled:
        parts.append(_model(modelled, origin_ts, horizon, context))
    return pd.concat(parts, ignore_index=True)


def _model(series: list[_Series], origin: pd.Timestamp, horizon: int,
           context: Context) -> pd.DataFrame:
    day0 = min(s.start for s in series)
    n_hist = int((origin - day0).days)
    total = n_hist + horizon
    days = pd.date_range(day0, periods=total, freq="D")
    cal, cal_names = day_features(list(days.date), context.countries)
    keys = [s.key for s in series]
    covs, cov_names = _covariate_columns(context, keys, days)
    has_decl = context.covariates.declared is not None and not context.covariates.declared.empty
    names = BASE_FEATURES + cal_names + cov_names + (["declared"] if has_decl else [])

    skip = _near_long_break(cal, cal_names, context.countries, min_len=FESTIVAL_DAYS) | _off(
        cal, cal_names, context.countries)
    designs, x_all, y_all, meta, sid = _training_rows(
        series, day0, n_hist, horizon, skip, lambda s, x, t, lvl: _features(
            x, t, cal, covs[s.key], context, s.key, day0, lvl, has_decl))

    near = _near_long_break(cal, cal_names, context.countries)
    data, position = _dataset(x_all, y_all, names)
    errors = _cross_fitted_errors(x_all, y_all, meta, data, position,
                                  first_t=int(meta[:, 1].min()), last_t=n_hist)
    if np.isfinite(errors).sum() < MIN_ERRORS:
        # too short a history to leave a block out: the last same weekday's errors instead
        # (wider than the model's own, so the intervals err on the safe side)
        errors = y_all - x_all[:, BASE_FEATURES.index("same_weekday_last")]
    w4_col = BASE_FEATURES.index("same_weekday_4")
    o_row, t_row, k_row = meta[:, 0].astype(int), meta[:, 1].astype(int), x_all[:, 0].astype(int)
    # each component's forecast of every training row, made without the row's target day: the
    # model's from the fit without its block, the smoothing's from its origin, the mean of four
    # weeks from its features, the calendar regression's from the fit without its block
    ets_row, ets_now, reg_row, reg_now = _component_forecasts(
        designs, sid, o_row, t_row, k_row, skip, n_hist, total, horizon,
        _regression_design(cal, cal_names, context.countries),
        int(meta[:, 1].min()))
    with np.errstate(invalid="ignore", divide="ignore"):
        parts_row = np.column_stack([y_all - errors, ets_row / meta[:, 2], x_all[:, w4_col],
                                     reg_row / meta[:, 2]])
    # days off and near festivals: the recent weeks know nothing of them, so only the model and
    # the calendar regression are weighed there
    special_row = skip[t_row]
    weights = _combination_weights(y_all, parts_row, sid, len(series), ~special_row, GRID)
    weights_special = _combination_weights(y_all, parts_row, sid, len(series), special_row,
                                           GRID_SPECIAL)
    combined = _combine(parts_row, np.where(special_row[:, None], weights_special[sid],
                                            weights[sid]))
    errors = np.where(np.isfinite(combined), y_all - combined, errors)
    spread = _Spread(errors, sid, near[t_row], x_all[:, 0].astype(int), horizon)

    model = _fit(data)
    out_days = target_days(origin.date(), horizon)
    parts = []
    origin_idx = np.array([n_hist])
    for si, (s, d) in enumerate(zip(series, designs, strict=True)):
        x, _, lvl, t = d.rows(origin_idx, horizon)
        feats = _features(x, t, cal, covs[s.key], context, s.key, day0, lvl, has_decl)
        level = lvl
        if np.isnan(level).any():
            level = np.full(horizon, np.nanmean(s.values[-LEVEL_DAYS:]))
        with np.errstate(invalid="ignore", divide="ignore"):
            now = np.column_stack([model.predict(feats),  # type: ignore[attr-defined]
                                   ets_now[si] / level, x[:, w4_col], reg_now[si] / level])
        ratio = _combine(now, np.where(skip[t][:, None], weights_special[si], weights[si]))
        mean = ratio * level
        q = spread.quantiles(si, near[t], x[:, 0].astype(int))
        parts.append(frame(s.key, out_days, mean, mean + q[:, 1] * level,
                           mean + q[:, 2] * level, mean + q[:, 0] * level,
                           mean + q[:, 3] * level))
    return pd.concat(parts, ignore_index=True)


def _training_rows(series: list[_Series], day0: pd.Timestamp, n_hist: int, horizon: int,
                   skip: np.ndarray,
                   features: Callable[[_Series, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
                   ) -> tuple[list[_Design], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each series' design over the whole window and its training rows (every
    ``ORIGIN_EVERY``-th origin of the history, targets before ``n_hist``): the features, the
    targets, (origin, target day, level) and the series' index of every row."""
    total = n_hist + horizon
    train_x, train_y, train_t, train_s = [], [], [], []
    designs = []
    for si, s in enumerate(series):
        offset = int((s.start - day0).days)
        vals = np.full(n_hist, np.nan)
        vals[offset:] = s.values
        d = _Design(_Series(s.key, day0, vals), total, skip)
        designs.append(d)
        first = offset + LEVEL_DAYS
        origins = np.arange(n_hist - 1, first - 1, -ORIGIN_EVERY)[::-1]
        if origins.size == 0:
            continue
        x, y, lvl, t = d.rows(origins, horizon)
        ok = t < n_hist
        x, y, lvl, t = x[ok], y[ok], lvl[ok], t[ok]
        o = t - x[:, 0].astype(int) + 1
        train_x.append(features(s, x, t, lvl))
        train_y.append(y)
        train_t.append(np.column_stack([o, t, lvl]))
        train_s.append(np.full(len(y), si))
    return (designs, np.vstack(train_x), np.concatenate(train_y), np.vstack(train_t),
            np.concatenate(train_s))


def _component_forecasts(designs: list[_Design], sid: np.ndarray, o_row: np.ndarray,
                         t_row: np.ndarray, k_row: np.ndarray, skip: np.ndarray, n_hist: int,
                         total: int, horizon: int, reg_x: np.ndarray, first_t: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The smoothing's and the calendar regression's forecasts of every training row (each
    made without the row's target day: the smoothing from the row's origin, the regression
    from the fit without the row's block) and of the days ahead, per series."""
    n_rows = len(sid)
    ets_row = np.full(n_rows, np.nan)
    ets_now = np.full((len(designs), horizon), np.nan)
    reg_row = np.full(n_rows, np.nan)
    reg_now = np.full((len(designs), horizon), np.nan)
    edges = np.linspace(first_t, n_hist, REG_FOLDS + 1).astype(int)
    for si, d in enumerate(designs):
        mine = sid == si
        rows = np.flatnonzero(mine)
        origins = np.unique(o_row[rows])
        f = _ets(d.v[:n_hist], skip[:n_hist], np.append(origins, n_hist), horizon)
        ets_now[si] = f[-1]
        ets_row[rows] = f[np.searchsorted(origins, o_row[rows]), k_row[rows] - 1]
        reg_cv = np.full(n_hist, np.nan)
        for lo, hi in itertools.pairwise(edges):
            out_of_block = np.ones(n_hist, dtype=bool)
            out_of_block[lo:hi] = False
            reg_cv[lo:hi] = _regression(d.v[:n_hist], reg_x, out_of_block, np.arange(lo, hi))
        reg_row[mine] = reg_cv[t_row[mine]]
        reg_now[si] = _regression(d.v[:n_hist], reg_x, np.ones(n_hist, dtype=bool),
                                  np.arange(n_hist, total))
    return ets_row, ets_now, reg_row, reg_now


def _features(x: np.ndarray, t: np.ndarray, cal: np.ndarray, cov: np.ndarray, context: Context,
              key: tuple[str, str], day0: pd.Timestamp, lvl: np.ndarray,
              has_decl: bool) -> np.ndarray:
    cols = [x, cal[t], cov[t]]
    if has_decl:
        decl = _declared(context, key, day0, t, x[:, 0].astype(int), lvl)
        cols.append((decl if decl is not None else np.full(len(t), np.nan))[:, None])
    return np.column_stack(cols)


def _off(cal: np.ndarray, names: list[str], countries: tuple[str, ...]) -> np.ndarray:
    """Per day: inside a holiday block on either side."""
    col = {n: i for i, n in enumerate(names)}
    off = np.zeros(cal.shape[0], dtype=bool)
    for c in countries:
        off |= cal[:, col[f"{c}_off"]] > 0
    return off


def _near_long_break(cal: np.ndarray, names: list[str], countries: tuple[str, ...],
                     min_len: int = 3) -> np.ndarray:
    """Per day: inside a holiday block on either side, in the three weeks before one of
    ``min_len`` days or more or the week after one — where traffic swings most."""
    near = np.zeros(cal.shape[0], dtype=bool)
    col = {n: i for i, n in enumerate(names)}
    for c in countries:
        off, to_next, next_len, since, prev_len = (
            cal[:, col[f"{c}_{n}"]] for n in ("off", "to_next", "next_len", "since_prev",
                                               "prev_len"))
        near |= (off > 0) | ((to_next <= 21) & (next_len >= min_len)) | ((since <= 7)
                                                                      & (prev_len >= min_len))
    return near


def _cross_fitted_errors(x: np.ndarray, y: np.ndarray, meta: np.ndarray, data: object,
                         position: np.ndarray, *, first_t: int, last_t: int) -> np.ndarray:
    """Each training row's error (actual minus forecast, as a ratio to the level) from a model
    fitted without the block of the history the row's origin and target fall in."""
    errors = np.full(len(y), np.nan)
    edges = np.linspace(first_t, last_t, FOLDS + 1).astype(int)
    o, t = meta[:, 0], meta[:, 1]
    for a, b in itertools.pairwise(edges):
        inside = (o >= a) & (t < b)
        touches = ((o >= a) & (o < b)) | ((t >= a) & (t < b))
        train = ~touches & (position >= 0)
        if inside.sum() == 0 or train.sum() < MIN_TRAIN:
            continue
        m = _fit(data, CV_ROUNDS, position[train])
        errors[inside] = y[inside] - m.predict(x[inside])  # type: ignore[attr-defined]
    return errors


FESTIVAL_DAYS = 5
"""A break this long (Tet, the Spring Festival, Golden Week) is one the combination stays away
from."""
ETS_DAYS = 365
"""Days of history the exponential smoothing is fitted on."""
ETS_MODEL = "ANA"
STEP = 8
"""The weights' grid: eighths."""
GRID = np.array([(a, b, c, STEP - a - b - c) for a in range(STEP, -1, -1)
                 for b in range(STEP - a, -1, -1) for c in range(STEP - a - b, -1, -1)],
                dtype=float) / STEP
"""(model, exponential smoothing, mean of four weeks, calendar regression), the model's weight
first and largest first, so that a tie keeps the model."""
GRID_SPECIAL = np.array([(a, 0, 0, STEP - a) for a in range(STEP, -1, -1)], dtype=float) / STEP
"""On days off and near festivals: the model and the calendar regression only."""
ALONE = np.array([1.0, 0.0, 0.0, 0.0])
LUNAR_WINDOW = (-21, 14)
"""Days around the lunar new year the calendar regression gives an effect of its own."""
RIDGE = 1.0
REG_FOLDS = 4
"""Blocks of the history each left out once to measure the calendar regression's errors (a
fit costs little)."""


def _regression_design(cal: np.ndarray, names: list[str], countries: tuple[str, ...]
                       ) -> np.ndarray:
    """Per day, the calendar regression's columns: trend, weekday, time of year, each side's
    holidays, days off, bridge days and the days either side of a block, and one column per
    day of the lunar new year's window."""
    col = {n: i for i, n in enumerate(names)}
    n = cal.shape[0]
    cols = [np.ones(n), np.arange(n) / 365.0]
    wd = cal[:, col["weekday"]]
    cols += [(wd == k).astype(float) for k in range(1, 7)]
    cols += [cal[:, col[c]] for c in ("year_sin1", "year_cos1", "year_sin2", "year_cos2")]
    for c in countries:
        g = {k: cal[:, col[f"{c}_{k}"]] for k in ("holiday", "off", "bridge", "to_next",
                                                  "next_len", "since_prev", "prev_len")}
        cols += [g["holiday"], g["off"], g["bridge"],
                 ((g["to_next"] == 1) & (g["next_len"] >= 3)).astype(float),
                 ((g["since_prev"] == 1) & (g["prev_len"] >= 3)).astype(float)]
    if "lunar_new_year" in col:
        lunar = cal[:, col["lunar_new_year"]]
        cols += [(lunar == k).astype(float) for k in range(LUNAR_WINDOW[0], LUNAR_WINDOW[1] + 1)]
    return np.column_stack(cols)


def _regression(v: np.ndarray, x: np.ndarray, train: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The calendar regression's forecasts for the days ``at``: a ridge regression of the
    logarithm of the day's trucks on the calendar's columns, fitted on the days ``train`` with
    data (multiplicative effects, as a day off or a weekday scales the traffic)."""
    n = len(v)
    ok = train[:n] & np.isfinite(v) & (v >= 0)
    if ok.sum() < 8 * 7:
        return np.full(len(at), np.nan)
    xs, ys = x[:n][ok], np.log1p(v[ok])
    keep = xs.std(axis=0) > 0
    keep[0] = True
    xs = xs[:, keep]
    penalty = RIDGE * np.eye(xs.shape[1])
    penalty[0, 0] = 0.0
    beta = np.linalg.solve(xs.T @ xs + penalty, xs.T @ ys)
    fitted = np.expm1(xs @ beta)
    # back from logarithms: scaled so the fitted days' mean is the days' mean
    scale = float(np.mean(v[ok]) / np.mean(fitted)) if np.mean(fitted) > 0 else 1.0
    return np.asarray(np.maximum(np.expm1(x[at][:, keep] @ beta) * scale, 0.0))


def _ets(values: np.ndarray, skip: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """(origins × horizon): statsforecast's exponential smoothing (additive level and weekly
    season) forecasts from each origin (an index into ``values``, ascending), its parameters
    fitted once on the ``ETS_DAYS`` before the last origin and its states run once through the
    history. Days off and near festivals are replaced, as missing days are, by the mean of up
    to four earlier same weekdays, so that the smoothing follows ordinary days. NaN where it
    cannot be fitted."""
    from statsforecast.ets import forward_ets, pegelsfcast_C
    from statsforecast.models import AutoETS

    out = np.full((len(origins), horizon), np.nan)
    known = np.flatnonzero(np.isfinite(values))
    if known.size == 0:
        return out
    first = int(known[0])
    filled = _fill_ordinary(np.where(skip, np.nan, values)[first:])
    last = int(origins[-1]) - first
    if last < 4 * 7:
        return out
    try:
        m = AutoETS(season_length=7, model=ETS_MODEL).fit(filled[max(0, last - ETS_DAYS):last])
        run = forward_ets(m.model_, y=filled[:last])  # type: ignore[no-untyped-call]
        for j, o in enumerate(origins[:-1]):
            end = int(o) - first
            if end >= 4 * 7:  # the states after the days before the origin
                states = run["states"][:end + 1]
                out[j] = pegelsfcast_C(  # type: ignore[no-untyped-call]
                    horizon, dict(run, states=states))
        out[-1] = m.predict(h=horizon)["mean"]
    except (ValueError, ZeroDivisionError, np.linalg.LinAlgError):
        return np.full((len(origins), horizon), np.nan)
    return out


def _fill_ordinary(v: np.ndarray, weeks: int = 4) -> np.ndarray:
    """Each missing day filled, in order, with the mean of up to ``weeks`` earlier same
    weekdays (filled ones included); the first weeks' with the series' mean."""
    out = v.copy()
    mean = float(np.nanmean(v)) if np.isfinite(v).any() else 0.0
    for phase in range(7):
        seq = out[phase::7]
        for i in np.flatnonzero(np.isnan(seq)):
            before = seq[max(0, i - weeks):i]
            before = before[np.isfinite(before)]
            seq[i] = float(before.mean()) if before.size else mean
        out[phase::7] = seq
    return out


def _combine(parts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row, the weighted mean of the forecasts (model, smoothing, four weeks) that are
    known, their weights renormalised (the model's alone where no other is known)."""
    known = np.isfinite(parts)
    w = np.where(known, weights, 0.0)
    total = w.sum(axis=1)
    mixed = np.where(known, parts, 0.0) * w
    with np.errstate(invalid="ignore", divide="ignore"):
        out = mixed.sum(axis=1) / total
    return np.where(total > 0, out, parts[:, 0])


def _combination_weights(y: np.ndarray, parts: np.ndarray, sid: np.ndarray, n_series: int,
                         chosen_on: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Per series, the weights (a row of ``grid``: the boosted model, the smoothing, the mean of
    four weeks, the calendar regression) with the smallest absolute error on the rows
    ``chosen_on`` where those it weighs are known, each forecast made without the day it
    forecasts; the model alone for a series with too few such rows. Only the rows given are
    read: the choice depends on nothing else."""
    out = np.tile(ALONE, (n_series, 1))
    used = grid.any(axis=0)
    ok_all = chosen_on & np.isfinite(y) & np.isfinite(parts[:, used]).all(axis=1)
    for si in range(n_series):
        ok = ok_all & (sid == si)
        if ok.sum() < MIN_ERRORS:
            continue
        err = np.abs(y[ok, None] - parts[ok][:, used] @ grid[:, used].T).mean(axis=0)
        out[si] = grid[int(np.argmin(err))]
    return out


class _Spread:
    """The error quantiles behind the intervals: per series and group (near a long break or
    not), pooled over the series where one has too few, and widened by horizon as the errors
    grow with it."""

    def __init__(self, errors: np.ndarray, sid: np.ndarray, near: np.ndarray, k: np.ndarray,
                 horizon: int) -> None:
        ok = ~np.isnan(errors)
        self.errors, self.sid, self.near, self.k = errors[ok], sid[ok], near[ok], k[ok]
        scale = np.nanmean(np.abs(self.errors)) if self.errors.size else 0.0
        self.by_k = np.ones(horizon + 1)
        for h in range(1, horizon + 1):
            e = self.errors[self.k == h]
            if e.size >= MIN_ERRORS and scale > 0:
                self.by_k[h] = float(np.mean(np.abs(e))) / scale
        self.norm = self.errors / self.by_k[self.k]
        self._cache: dict[tuple[int, bool], np.ndarray] = {}

    def _of(self, si: int, near: bool) -> np.ndarray:
        if (si, near) not in self._cache:
            for pick in ((self.sid == si) & (self.near == near), self.near == near,
                         self.sid == si, np.ones(len(self.norm), dtype=bool)):
                e = self.norm[pick]
                if e.size >= MIN_ERRORS:
                    break
            self._cache[(si, near)] = (np.quantile(e, LEVELS) if e.size
                                       else np.zeros(len(LEVELS)))
        return self._cache[(si, near)]

    def quantiles(self, si: int, near: np.ndarray, k: np.ndarray) -> np.ndarray:
        """(len(k) × 4): the 2.5, 10, 90 and 97.5 % error quantiles for each target."""
        return np.array([self._of(si, bool(n)) * self.by_k[min(h, len(self.by_k) - 1)]
                         for n, h in zip(near, k, strict=True)])
