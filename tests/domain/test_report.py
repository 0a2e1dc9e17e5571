"""The statistics rules: summary tables kept by deltas equal a rebuild from scratch, periods
split into months and days without gaps or overlaps, percentiles and run rates."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from borderflow.clock import LOCAL_TZ
from borderflow.domain import report as stats
from borderflow.domain import trip

T0 = datetime(2025, 12, 30, 20, 0, tzinfo=LOCAL_TZ)


@st.composite
def facts(draw: st.DrawFn) -> dict[str, Any]:
    def at() -> str | None:
        if draw(st.booleans()):
            return None
        return (T0 + timedelta(minutes=draw(st.integers(0, 60 * 24 * 70)))).isoformat()

    return {
        "vehicles": draw(st.integers(1, 3)),
        "gate": draw(st.sampled_from(["huu-nghi", "chi-ma"])),
        "direction": draw(st.sampled_from(["export", "import"])),
        "goods_group": draw(st.sampled_from(["fresh-fruit", "wood"])),
        "enterprise": draw(st.sampled_from(["0100000001", "0100000002"])),
        "declaration": draw(st.booleans()),
        "declared_at": at(), "called_at": at(), "arrived_at": at(), "staging_at": at(),
        "crossed_at": at(), "rejected_at": at(), "cancelled_at": None,
        "reject_step": "customs", "reject_reason": "goods_mismatch",
        "holds": [{"step": "quarantine", "reason": "sampling", "at": t}
                  for t in [at()] if t is not None],
        "no_shows": [t for t in [at()] if t is not None],
        "steps": {"customs": draw(st.integers(0, 3 * 86400))},
        "weight_kg": draw(st.integers(0, 30000)),
        "value_usd_cents": draw(st.integers(0, 10**7)),
        "fee_vnd": draw(st.sampled_from([0, 600000])), "fee_at": at(),
    }


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.one_of(st.none(), facts())), max_size=25))
def test_tables_kept_by_deltas_equal_a_rebuild(changes: list[tuple[int, Any]]) -> None:
    """Whatever sequence of trip changes (including removals), adding each change's delta
    gives exactly the tables built from the final facts."""
    current: dict[int, dict[str, Any] | None] = {}
    tables: dict[tuple[str, stats.Key], list[int]] = {}
    for key, new in changes:
        for k, v in stats.delta(current.get(key), new, LOCAL_TZ).items():
            row = tables.setdefault(k, [0] * len(v))
            for i, x in enumerate(v):
                row[i] += x
        current[key] = new
    kept = {k: tuple(v) for k, v in tables.items() if any(v)}
    rebuilt = stats.total([f for f in current.values() if f is not None], LOCAL_TZ)
    assert kept == rebuilt


@given(st.dates(date(2020, 1, 1), date(2030, 12, 31)), st.integers(0, 1200))
def test_a_period_is_covered_by_years_months_and_days_exactly_once(start: date, length: int
                                                                     ) -> None:
    end = start + timedelta(days=length)
    cov = stats.cover(start, end)
    days: list[date] = []
    if cov.years is not None:
        for year in range(cov.years[0].year, cov.years[1].year + 1):
            first = date(year, 1, 1)
            days.extend(first + timedelta(days=i)
                        for i in range((date(year, 12, 31) - first).days + 1))
    for lo, hi in cov.months:
        m = lo
        while m <= hi:
            days.extend(m + timedelta(days=i) for i in range((stats.month_end(m) - m).days + 1))
            m = stats.month_end(m) + timedelta(days=1)
    for a, b in cov.days:
        days.extend(a + timedelta(days=i) for i in range((b - a).days + 1))
    assert sorted(days) == [start + timedelta(days=i) for i in range(length + 1)]
    assert len(cov.days) <= 2
    assert len(cov.months) <= 2
    assert (cov.years is not None) == any(
        date(y, 1, 1) >= start and date(y, 12, 31) <= end
        for y in range(start.year, end.year + 1))


@given(st.lists(st.integers(0, 14 * 86400), min_size=1, max_size=200),
       st.sampled_from([0.5, 0.9]))
def test_percentiles_are_within_half_a_band(values: list[int], q: float) -> None:
    """Within a minute below an hour, 2.5 minutes below two hours, and so on."""
    hist: dict[int, int] = {}
    for v in values:
        hist[stats.bucket(v)] = hist.get(stats.bucket(v), 0) + 1
    exact = sorted(values)[max(1, math.ceil(q * len(values))) - 1]
    got = stats.percentile(hist, q)
    assert got is not None
    assert abs(got - exact) <= stats.bucket_width(stats.bucket(exact)) / 2
    if exact < 3600:
        assert abs(got - exact) <= 60


@given(st.lists(st.integers(0, 14 * 86400), min_size=1, max_size=300),
       st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0]))
def test_one_percentile_definition_nearest_rank(values: list[int], q: float) -> None:
    """Nearest rank (numpy's ``inverted_cdf``, Hyndman-Fan type 1), the same from the values
    and from their histogram (there, the middle of the band that holds it)."""
    exact = stats.percentile_of(values, q)
    assert exact == float(np.percentile(values, q * 100, method="inverted_cdf"))
    assert exact in values
    hist: dict[int, int] = {}
    for v in values:
        hist[stats.bucket(v)] = hist.get(stats.bucket(v), 0) + 1
    assert stats.percentile(hist, q) == stats.bucket_estimate(stats.bucket(int(exact)))


def test_percentiles_of_nothing_and_of_few_values() -> None:
    assert stats.percentile_of([], 0.5) is None
    assert stats.percentile({}, 0.5) is None
    assert [stats.percentile_of([10, 30, 50], q) for q in (0.0, 0.5, 0.9, 1.0)] == [
        10.0, 30.0, 50.0, 50.0]
    assert stats.percentile_of([10, 20, 30, 40], 0.5) == 20.0  # never between two values
    assert trip.summarise([600, 1800, 3000]) == {"count": 3, "mean": 30.0, "p50": 30.0,
                                                "p90": 50.0}
    assert trip.summarise([]) == {"count": 0, "mean": 0.0, "p50": 0.0, "p90": 0.0}


def test_bands_widen_with_the_duration() -> None:
    assert [stats.bucket(s) for s in (59, 121, 3700, 7300, 50000, 200000)] == [
        0, 120, 3600, 7200, 46800, 194400]
    assert stats.bucket_estimate(7200) == 7650.0
    assert stats.bucket(10**9) == stats.MAX_SECONDS


def test_run_rate_as_the_province_reports_it() -> None:
    """US$65 bn for 2025, about US$18 bn by the end of March: about US$5.2 bn per month."""
    r = stats.run_rate(65_000_000_000, 18_000_000_000, date(2025, 3, 31))
    assert r.months_left == 9
    assert r.share_pct == 27.7
    assert round(r.per_month_needed or 0, -8) == 5_200_000_000
    mid = stats.run_rate(100, 30, date(2025, 3, 15))
    assert mid.months_left == 10  # March is not over
    done = stats.run_rate(100, 120, date(2025, 12, 31))
    assert (done.remaining, done.months_left, done.per_month_needed) == (0, 0, None)


def test_year_on_year_comparison() -> None:
    c = stats.compare(149_000, 124_167)
    assert (c.change, c.change_pct) == (24_833, 20.0)
    assert stats.compare(5, 0).change_pct is None
    assert stats.shift_year(date(2024, 2, 29)) == date(2023, 2, 28)
