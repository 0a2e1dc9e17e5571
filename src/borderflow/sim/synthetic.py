"""Synthetic daily Lang Son demand over several years, from the scenario lab's calibrated model:
the history the demand forecaster is developed and benchmarked on.

:func:`lang_son_history` draws trucks per day, gate and direction (and, optionally, goods
group) for any span of days. It is the scenario lab's demand, not a second model of it: the
calibrated baseline scenario (``data/scenarios/lang-son-baseline.yaml``: 1,450 trucks a day,
27% of them export, the weekday factors, each direction's gate shares, the perishable shares)
and the lab's own functions (:mod:`.model`): ``_day_factors`` (weekday factors
normalised to a mean of 1, times the factors of the periods a day is in), ``_arrivals``
(Poisson counts per hour), ``_kinds`` (direction and goods of each truck, with the periods'
export and perishable factors) and ``_preferred_routes`` (the gate of each truck, from its
direction's shares among the gates that permit its goods, so a gate that takes no ordinary
goods, such as Coc Nam, gets less than its share). A truck counts on the day it arrives, at the
gate it prefers.

What the baseline gives only for 2026–2027 as dated periods is generated here for every year
from the calendar (:func:`calendar_periods`), so that the same rules hold in any year:

* **Tet and the Chinese Spring Festival** (first day of the lunar year from the ``holidays``
  package, ``VN`` "Lunar New Year" and ``CN`` "Chinese New Year (Spring Festival)"): the
  year-end season from 14 December at 1.05; the pre-Tet surge from 19 to 3 days before at 1.25
  with exports 1.2 times their share (as ``pre-tet-surge.yaml``); the collapse from 2 days
  before to 6 days after, widened to both countries' holiday breaks, at 0.25 (as the baseline's
  2027 period); then 3 days at 0.55 and 4 at 0.85 while traffic recovers.
* **The other public holidays** of Vietnam and China from the ``holidays`` package, each
  country's holidays grouped into breaks (days off no more than 3 days apart, so a break
  includes the weekend inside it): China's National Day break, at least the Golden Week of
  1–7 October, at 0.55; Labour Day (both), Reunification Day and Vietnam's National Day
  (2 September) at 0.6; any other break (New Year, Hung Kings, Qingming, Dragon Boat,
  Mid-Autumn...) at 0.75. A day in breaks of both countries takes the lower factor.
* **Fruit seasons** (:data:`FRUIT_SEASONS`: lychee, longan, durian and dragon fruit, the
  fruits of the network's fruit-season hours of 15 May–31 August; their harvest months are
  planning assumptions, not fitted to counts): each season in its months adds its weight
  to the day's fruit intensity ``s``; the day's traffic is ``1 + 0.3 s``, the export share
  ``1 + 0.8 s`` and the perishable share ``1 + s`` times the baseline's, so that late June
  (``s`` = 0.45) is near the lab's fruit-season scenario (1.15, 1.4, 1.5).

On top of the periods, two factors the lab's fortnights do not need:

* **Growth** of :data:`GROWTH` a year, compounded daily; the baseline's 1,450 a day is the
  level of its own fortnight (from 2 March 2026), earlier days are lower, later ones higher.
* **Weather**: each day, drawn from the seed, may be a storm day (:data:`STORM`, mostly July–
  September) at 0.35–0.65 of its traffic or a heavy-rain day (:data:`RAIN`, mostly May–
  September) at 0.80–0.92.

Everything is drawn from one generator seeded with ``seed``, in a fixed order (weather, then
the lab's arrivals, kinds and gates): the same arguments give the same history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import holidays as holidays_lib
import numpy as np
from numpy.typing import NDArray

from borderflow.domain.network import FLOWS
from borderflow.sim.model import (
    GOODS,
    Route,
    _arrivals,
    _day_factors,
    _kinds,
    _preferred_routes,
    _routes,
    _working_hours,
    _yards,
)
from borderflow.sim.scenario import Period, Scenario, load

FloatArray = NDArray[np.float64]

BASELINE = Path(__file__).resolve().parent.parent / "data" / "scenarios" / "lang-son-baseline.yaml"
"""The calibrated baseline scenario the history is drawn from."""

YEAR_END_START = (12, 14)
"""Month and day the year-end season starts (the network's extended peak-season hours)."""
YEAR_END_FACTOR = 1.05
SURGE_DAYS = (19, 3)
"""The pre-Tet surge, from the first to the last number of days before the lunar new year."""
SURGE_FACTOR = 1.25
SURGE_EXPORT_FACTOR = 1.2
COLLAPSE_DAYS = (2, 6)
"""The Tet collapse, from days before to days after the lunar new year (at least)."""
COLLAPSE_FACTOR = 0.25
RECOVERY = ((3, 0.55), (4, 0.85))
"""After the collapse: (days, factor), in order."""

GOLDEN_WEEK_FACTOR = 0.55
GOLDEN_WEEK_DAYS = 7
MAJOR_HOLIDAY_FACTOR = 0.6
MAJOR_HOLIDAYS = {"VN": ("labor day", "reunification", "national day"), "CN": ("labor day",)}
"""Words in the English name of a holiday that make its break a major one (0.6)."""
HOLIDAY_FACTOR = 0.75
BREAK_GAP_DAYS = 3

FRUIT_SEASONS: tuple[tuple[str, tuple[int, int], tuple[int, int], float], ...] = (
    ("lychee", (5, 20), (7, 15), 0.20),
    ("longan", (7, 1), (8, 31), 0.15),
    ("durian", (5, 1), (9, 30), 0.15),
    ("dragon fruit", (4, 15), (8, 31), 0.10),
)
"""(fruit, first (month, day), last (month, day), weight in the day's fruit intensity)."""
FRUIT_TRAFFIC, FRUIT_EXPORT, FRUIT_PERISHABLE = 0.3, 0.8, 1.0

GROWTH = 0.05
"""Yearly growth of the traffic (compounded daily)."""
STORM = ({5: 0.01, 6: 0.01, 7: 0.03, 8: 0.03, 9: 0.03, 10: 0.01}, (0.35, 0.65))
"""(probability of a storm day per month, range of the day's factor)."""
RAIN = ({5: 0.06, 6: 0.06, 7: 0.06, 8: 0.06, 9: 0.06}, 0.02, (0.80, 0.92))
"""(probability of a heavy-rain day per month, in other months, range of the day's factor)."""


@dataclass(frozen=True)
class _Baseline:
    scenario: Scenario
    routes: tuple[Route, ...]
    """Every gate and direction of the network the baseline keeps open."""


@lru_cache(maxsize=1)
def _baseline() -> _Baseline:
    scenario, network = load(BASELINE)
    hours = _working_hours(scenario, network)
    yard_codes, _ = _yards(scenario, network)
    table = _routes(scenario, network, hours, [a.code for a in network.staging_areas],
                    yard_codes)
    return _Baseline(scenario, tuple(table.routes))


@lru_cache(maxsize=64)
def _country(country: str, year: int) -> tuple[tuple[date, str], ...]:
    found = holidays_lib.country_holidays(country, years=year, language="en_US")
    return tuple(sorted((d, str(name)) for d, name in found.items()))


def _holidays(country: str, years: Iterable[int]) -> list[tuple[date, str]]:
    return [h for y in years for h in _country(country, y)]


def _breaks(days: list[tuple[date, str]]) -> list[tuple[date, date, list[str]]]:
    """Holidays grouped into breaks: (first day, last day, the holidays' names)."""
    out: list[tuple[date, date, list[str]]] = []
    for day, name in days:
        if out and (day - out[-1][1]).days <= BREAK_GAP_DAYS:
            out[-1] = (out[-1][0], max(out[-1][1], day), [*out[-1][2], name])
        else:
            out.append((day, day, [name]))
    return out


def lunar_new_year(year: int) -> date:
    """The first day of the lunar year that starts in ``year`` (Tet, the Spring Festival):
    the earlier of Vietnam's and China's, as the ``holidays`` package gives them."""
    vn = [d for d, n in _country("VN", year) if n == "Lunar New Year"]
    cn = [d for d, n in _country("CN", year)
          if n.startswith("Chinese New Year (Spring Festival)") and "observed" not in n]
    return min(vn[:1] + cn[:1])


def calendar_periods(start: date, days: int) -> list[Period]:
    """The seasons of Lang Son's demand from ``start`` over ``days`` days, as scenario periods
    (one per run of days with the same factors): Tet, the other Vietnamese and Chinese public
    holidays and the fruit seasons, by the rules of this module's description."""
    factor, export, perishable = _calendar(start, days)
    out: list[Period] = []
    i = 0
    while i < days:
        j = i
        key = (factor[i], export[i], perishable[i])
        while j + 1 < days and (factor[j + 1], export[j + 1], perishable[j + 1]) == key:
            j += 1
        if key != (1.0, 1.0, 1.0):
            out.append(Period(start=start + timedelta(days=i), end=start + timedelta(days=j),
                              factor=key[0], export_factor=key[1], perishable_factor=key[2]))
        i = j + 1
    return out


def _calendar(start: date, days: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per day: the calendar's traffic, export and perishable factors (rounded to 4 places)."""
    factor = np.ones(days)
    export = np.ones(days)
    perishable = np.ones(days)
    end = start + timedelta(days=days - 1)
    years = range(start.year - 1, end.year + 2)

    def span(a: date, b: date) -> slice:
        lo = max((a - start).days, 0)
        hi = min((b - start).days + 1, days)
        return slice(lo, max(lo, hi))

    hols = {c: _holidays(c, years) for c in ("VN", "CN")}
    collapses: list[tuple[date, date]] = []
    for year in years[1:]:
        tet = lunar_new_year(year)
        first, last = tet - timedelta(days=COLLAPSE_DAYS[0]), tet + timedelta(
            days=COLLAPSE_DAYS[1])
        for b0, b1, _ in (b for c in hols.values() for b in _breaks(c)):
            if b0 <= tet <= b1:
                first, last = min(first, b0), max(last, b1)
        collapses.append((first, last))
        year_end = date(year - 1, *YEAR_END_START)
        surge0, surge1 = (tet - timedelta(days=n) for n in SURGE_DAYS)
        factor[span(year_end, surge0 - timedelta(days=1))] *= YEAR_END_FACTOR
        factor[span(surge0, surge1)] *= SURGE_FACTOR
        export[span(surge0, surge1)] *= SURGE_EXPORT_FACTOR
        factor[span(first, last)] *= COLLAPSE_FACTOR
        day = last
        for n, f in RECOVERY:
            factor[span(day + timedelta(days=1), day + timedelta(days=n))] *= f
            day += timedelta(days=n)

    holiday = np.ones(days)
    for country, found in hols.items():
        for b0, b1, names in _breaks(found):
            if any(a <= b1 and b0 <= z for a, z in collapses):
                continue
            lower = " ".join(names).lower()
            if country == "CN" and "national day" in lower:
                f = GOLDEN_WEEK_FACTOR
                b1 = max(b1, date(b0.year, 10, 1) + timedelta(days=GOLDEN_WEEK_DAYS - 1))
            elif any(word in lower for word in MAJOR_HOLIDAYS[country]):
                f = MAJOR_HOLIDAY_FACTOR
            else:
                f = HOLIDAY_FACTOR
            s = span(b0, b1)
            holiday[s] = np.minimum(holiday[s], f)
    factor *= holiday

    intensity = np.zeros(days)
    for _, (m0, d0), (m1, d1), weight in FRUIT_SEASONS:
        for year in years:
            intensity[span(date(year, m0, d0), date(year, m1, d1))] += weight
    factor *= 1.0 + FRUIT_TRAFFIC * intensity
    export *= 1.0 + FRUIT_EXPORT * intensity
    perishable *= 1.0 + FRUIT_PERISHABLE * intensity
    return np.round(factor, 4), np.round(export, 4), np.round(perishable, 4)


def lang_son_scenario(start: date, days: int) -> Scenario:
    """The baseline scenario over ``start`` and ``days`` days (any number of them) with the
    calendar's periods (:func:`calendar_periods`) instead of its own dated ones."""
    base = _baseline().scenario
    demand = base.demand.model_copy(update={"periods": calendar_periods(start, days)})
    return base.model_copy(update={"start": start, "days": days, "warmup_days": 0,
                                   "demand": demand})


def _growth(start: date, days: int, anchor: date) -> FloatArray:
    offset = (start - anchor).days + np.arange(days, dtype=np.float64)
    out: FloatArray = (1.0 + GROWTH) ** (offset / 365.25)
    return out


def _weather(start: date, days: int, rng: np.random.Generator) -> FloatArray:
    """Per day, the weather's factor: a storm day, a heavy-rain day or an ordinary one (1)."""
    month = np.array([(start + timedelta(days=i)).month for i in range(days)])
    storm_p = np.array([STORM[0].get(int(m), 0.0) for m in month])
    rain_p = np.array([RAIN[0].get(int(m), RAIN[1]) for m in month])
    kind = rng.random(days)
    severity = rng.random(days)
    (s0, s1), (r0, r1) = STORM[1], RAIN[2]
    out: FloatArray = np.where(kind < storm_p, s0 + (s1 - s0) * severity,
                               np.where(kind < storm_p + rain_p, r0 + (r1 - r0) * severity,
                                        1.0))
    return out


def lang_son_history(start: date, days: int, *, seed: int = 1,
                     goods: bool = False) -> list[dict[str, object]]:
    """Trucks per day, gate and direction at Lang Son from ``start`` over ``days`` days.

    Rows ``{"date", "crossing" (gate code), "direction" ("import" or "export"), "trucks"}``
    ordered by date, then direction (export, import) and gate as the baseline lists them;
    every gate with a share of the direction has a row each day (0 when no truck came).
    With ``goods`` each row is also split by ``goods_group`` (the lab's representative
    groups, :data:`GOODS`: a perishable, a quarantine and an ordinary truck), one row per
    group the gate permits. Deterministic for a seed."""
    if days < 1:
        raise ValueError("days must be at least 1")
    baseline = _baseline()
    scenario = lang_son_scenario(start, days)
    d = scenario.demand
    rng = np.random.default_rng(seed)
    weather = _weather(start, days, rng)
    day_factor, perish_factor, export_factor = _day_factors(scenario)
    day_factor = day_factor * _growth(start, days, baseline.scenario.start) * weather
    arrival = _arrivals(d, day_factor, rng)
    kinds = _kinds(d, arrival, days, perish_factor, export_factor, rng)
    routes = list(baseline.routes)
    route = _preferred_routes(d, routes, kinds.export, kinds.goods, rng)
    keep = route >= 0
    day_of = np.minimum((arrival[keep] // 1440).astype(np.int64), days - 1)
    n_routes, n_goods = len(routes), len(GOODS)
    cell = (day_of * n_routes + route[keep]) * n_goods + kinds.goods[keep]
    counts = np.bincount(cell, minlength=days * n_routes * n_goods).reshape(
        days, n_routes, n_goods)
    totals = counts.sum(axis=(0, 2))
    shown: list[Route] = []
    for direction in FLOWS:
        shares = d.gates.get(direction, {})
        order = list(shares)
        mine = sorted((r for r in routes if r.direction == direction),
                      key=lambda r: (order.index(r.gate.code) if r.gate.code in order
                                     else len(order), r.index))
        shown += [r for r in mine if shares.get(r.gate.code, 0.0) > 0 or totals[r.index] > 0]
    rows: list[dict[str, object]] = []
    for i in range(days):
        day = start + timedelta(days=i)
        for r in shown:
            if not goods:
                rows.append({"date": day, "crossing": r.gate.code, "direction": r.direction,
                             "trucks": int(counts[i, r.index].sum())})
                continue
            for g, group in enumerate(GOODS):
                if r.gate.permits_group(group):
                    rows.append({"date": day, "crossing": r.gate.code, "direction": r.direction,
                                 "goods_group": group, "trucks": int(counts[i, r.index, g])})
    return rows


__all__ = ["calendar_periods", "lang_son_history", "lang_son_scenario", "lunar_new_year"]
