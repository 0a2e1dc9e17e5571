"""Goods-group seasons: how much of a gate's traffic is in season on a day, learnt from the
history of each goods group (dragon fruit, durian, longan, lychee ride in their months).

For each goods group, its **season** is its trucks in each week of the year relative to its
mean week, from the network's whole history of that group (every gate and direction), the
weeks smoothed with their neighbours. For each series (gate and direction), its **mix** is the
share of each goods group in its trucks. A day's ``goods_season`` for a series is the mix's
average of the groups' seasons in that day's week: about 1 on an ordinary week, above 1 when
the goods the gate carries are in season, below when they are out of it.

A day's season is learnt without that day's own year (the other years only), so the model's
training rows never see their own counts through it, and a day ahead uses every year before
it. With fewer than two years of a group's history no season is learnt for it (index 1).
Pure: no I/O.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

WEEKS = 53
SMOOTH = (0.25, 0.5, 0.25)
"""Each week's share with its neighbours' (the weeks wrap round the year)."""
MIN_YEARS = 2


def _week(days: pd.DatetimeIndex) -> np.ndarray:
    week: np.ndarray = np.minimum((days.dayofyear.to_numpy() - 1) // 7, WEEKS - 1)
    return week


def _profile(by_week: np.ndarray, days_per_week: np.ndarray) -> np.ndarray:
    """A group's weekly index (mean 1 over the weeks with days) from its trucks and the days
    counted in each week; 1 where nothing is known."""
    rate = np.divide(by_week, days_per_week, out=np.zeros(WEEKS), where=days_per_week > 0)
    a, b, c = SMOOTH
    smooth = b * rate + a * np.roll(rate, 1) + c * np.roll(rate, -1)
    seen = days_per_week > 0
    mean = smooth[seen].mean() if seen.any() else 0.0
    if mean <= 0:
        return np.ones(WEEKS)
    return np.where(seen, smooth / mean, 1.0)


def goods_season(counts: pd.DataFrame, days: list[date]) -> pd.DataFrame:
    """``date, crossing, direction, goods_season`` for every series of ``counts`` and every
    day of ``days``. ``counts`` has ``date, crossing, direction, goods_group, trucks`` (one row
    per day, series and group with trucks; a group ``unknown`` has no season and is left out of
    the mixes)."""
    columns = ["date", "crossing", "direction", "goods_season"]
    known = counts[counts["goods_group"] != "unknown"]
    if known.empty or not days:
        return pd.DataFrame(columns=columns)
    known = known.assign(date=pd.to_datetime(known["date"]))
    target = pd.DatetimeIndex(pd.to_datetime(list(days)))
    target_week, target_year = _week(target), target.year.to_numpy()
    first, last = known["date"].min(), known["date"].max()
    span = pd.date_range(first, last, freq="D")
    span_week, span_year = _week(span), span.year.to_numpy()
    seasons: dict[str, np.ndarray] = {}  # per group: (target days,) index
    for group, rows in known.groupby("goods_group"):
        per_day = rows.groupby("date")["trucks"].sum().reindex(span, fill_value=0.0)
        values = per_day.to_numpy(dtype=float)
        index = np.ones(len(target))
        if len(np.unique(span_year)) >= MIN_YEARS:
            for year in np.unique(target_year):
                other = span_year != year  # the day's own year left out
                if not other.any():
                    continue
                by_week = np.bincount(span_week[other], weights=values[other],
                                      minlength=WEEKS)
                days_per_week = np.bincount(span_week[other], minlength=WEEKS).astype(float)
                mine = target_year == year
                index[mine] = _profile(by_week, days_per_week)[target_week[mine]]
        seasons[str(group)] = index
    parts = []
    totals = known.groupby(["crossing", "direction", "goods_group"])["trucks"].sum()
    for (crossing, direction), mix in totals.groupby(level=[0, 1]):
        share = mix / mix.sum()
        value = np.zeros(len(target))
        for (_c, _d, group), w in share.items():
            value += float(w) * seasons[str(group)]
        parts.append(pd.DataFrame({"date": target, "crossing": crossing,
                                   "direction": direction, "goods_season": value}))
    return pd.concat(parts, ignore_index=True)
