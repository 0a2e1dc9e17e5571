"""Public holidays of both sides, from the ``holidays`` package (no network access)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import lru_cache

import holidays as holidays_lib


@lru_cache(maxsize=64)
def _country_year(country: str, year: int) -> frozenset[date]:
    return frozenset(holidays_lib.country_holidays(country, years=year).keys())


def holiday_dates(countries: Iterable[str], years: Iterable[int]) -> dict[str, frozenset[date]]:
    """Holiday dates per country for the given years."""
    out: dict[str, frozenset[date]] = {}
    for c in countries:
        dates: set[date] = set()
        for y in years:
            dates |= _country_year(c, y)
        out[c] = frozenset(dates)
    return out


def around(day: date) -> dict[str, frozenset[date]]:
    """VN and CN holidays for the year of ``day`` and its neighbours."""
    return holiday_dates(("VN", "CN"), (day.year - 1, day.year, day.year + 1))
