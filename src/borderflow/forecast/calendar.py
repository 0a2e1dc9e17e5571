"""Calendar features of a day, known in advance for any date: the weekday, the time of year and
where the day stands against each side's public holidays.

Holidays come from the ``holidays`` package, so any country it knows works (``VN``, ``CN``,
``US``, ``CA``, ``MX`` …, optionally with a subdivision: ``US-WA``, ``CA-BC``). Lunar holidays
(Vietnamese Tet, the Spring Festival) are in it with their real dates each year.

A holiday **block** is a run of days off: holidays, and the weekend days and bridge days that
join them into one break (a single working day between a holiday and a weekend is a bridge
day). Traffic surges in the weeks before a long block and collapses inside it, so each side gets
features for its next and previous block: how many days away and how long it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from functools import lru_cache

import holidays as holidays_lib
import numpy as np

DAY = np.timedelta64(1, "D")
HORIZON_CLIP = 30
"""Days to or since a block are counted up to this; further is "no block near"."""


def parse_country(code: str) -> tuple[str, str | None]:
    """``"US-WA"`` → ``("US", "WA")``; ``"VN"`` → ``("VN", None)``. Raises ValueError for a
    country the ``holidays`` package does not know."""
    code = code.strip().upper()
    country, _, subdiv = code.partition("-")
    if country not in holidays_lib.list_supported_countries():
        raise ValueError(code)
    if subdiv and subdiv not in holidays_lib.list_supported_countries()[country]:
        raise ValueError(code)
    return country, subdiv or None


@lru_cache(maxsize=256)
def _holidays(code: str, year: int) -> frozenset[date]:
    country, subdiv = parse_country(code)
    return frozenset(holidays_lib.country_holidays(country, subdiv=subdiv, years=year).keys())


def holiday_days(code: str, first: date, last: date) -> set[date]:
    """The public holidays of one side between two dates (inclusive)."""
    out: set[date] = set()
    for y in range(first.year, last.year + 1):
        out |= {d for d in _holidays(code, y) if first <= d <= last}
    return out


def _blocks(code: str, first: date, last: date) -> list[tuple[date, date, int]]:
    """The holiday blocks (start, end, number of holidays in it) overlapping the span."""
    span_first, span_last = first - timedelta(days=60), last + timedelta(days=60)
    hol = holiday_days(code, span_first, span_last)
    off: set[date] = set(hol)
    # weekends joined to a holiday, and bridge days (one working day between off days)
    changed = True
    while changed:
        changed = False
        for d in sorted(off):
            for step in (-1, 1):
                n = d + timedelta(days=step)
                if n in off:
                    continue
                beyond = n + timedelta(days=step)
                bridge = beyond in off or beyond.weekday() >= 5
                if (n.weekday() >= 5 or bridge) and span_first <= n <= span_last:
                    off.add(n)
                    changed = True
    blocks: list[tuple[date, date, int]] = []
    for d in sorted(off):
        if blocks and d == blocks[-1][1] + timedelta(days=1):
            begin, _, count = blocks[-1]
            blocks[-1] = (begin, d, count + (d in hol))
        else:
            blocks.append((d, d, int(d in hol)))
    # a plain weekend is not a holiday block
    return [b for b in blocks if b[2] > 0]


FEATURES_PER_SIDE = ("holiday", "off", "to_next", "next_len", "since_prev", "prev_len",
                     "bridge")


def side_features(code: str, days: Sequence[date]) -> np.ndarray:
    """One row per day: holiday (1/0), off (in a block), days to the next block's start
    (clipped), its length in days, days since the previous block's end (clipped), its length,
    bridge (an off day that is neither a holiday nor a weekend)."""
    if not days:
        return np.zeros((0, len(FEATURES_PER_SIDE)))
    first, last = min(days), max(days)
    blocks = _blocks(code, first, last)
    hol = holiday_days(code, first, last)
    starts = np.array([np.datetime64(b[0]) for b in blocks], dtype="datetime64[D]")
    ends = np.array([np.datetime64(b[1]) for b in blocks], dtype="datetime64[D]")
    lens = (ends - starts) / DAY + 1
    d64 = np.array(days, dtype="datetime64[D]")
    out = np.zeros((len(days), len(FEATURES_PER_SIDE)))
    out[:, 0] = [d in hol for d in days]
    if blocks:
        inside = (d64[:, None] >= starts[None, :]) & (d64[:, None] <= ends[None, :])
        out[:, 1] = inside.any(axis=1)
        nxt = np.searchsorted(starts, d64, side="right")  # first block starting after the day
        has_next = nxt < len(starts)
        ni = np.minimum(nxt, len(starts) - 1)
        out[:, 2] = np.where(has_next, np.minimum((starts[ni] - d64) / DAY, HORIZON_CLIP),
                             HORIZON_CLIP)
        out[:, 3] = np.where(has_next & (out[:, 2] < HORIZON_CLIP), lens[ni], 0)
        prv = np.searchsorted(ends, d64, side="left") - 1  # last block ending before the day
        has_prev = prv >= 0
        pi = np.maximum(prv, 0)
        out[:, 4] = np.where(has_prev, np.minimum((d64 - ends[pi]) / DAY, HORIZON_CLIP),
                             HORIZON_CLIP)
        out[:, 5] = np.where(has_prev & (out[:, 4] < HORIZON_CLIP), lens[pi], 0)
        weekend = np.array([d.weekday() >= 5 for d in days])
        out[:, 6] = (out[:, 1] > 0) & (out[:, 0] == 0) & ~weekend
    return out


LUNAR_CLIP = 45
"""Days before or after the lunar new year counted up to this; further is "not near it"."""
LUNAR_NAMES = ("Lunar New Year", "Chinese New Year (Spring Festival)", "Korean New Year")


def lunar_new_years(code: str, first: date, last: date) -> list[date]:
    """The first day of each lunar year between two dates in one side's calendar (none for a
    side that does not keep the lunar new year)."""
    country, subdiv = parse_country(code)
    out: set[date] = set()
    for y in range(first.year, last.year + 1):
        cal = holidays_lib.country_holidays(country, subdiv=subdiv, years=y)
        days = sorted(d for d, n in cal.items() if any(name in LUNAR_NAMES
                                                       for name in str(n).split("; ")))
        if days:
            out.add(days[0])
    return sorted(d for d in out if first <= d <= last)


def lunar_offset(days: Sequence[date], countries: Iterable[str]) -> np.ndarray | None:
    """Per day, the days since the nearest first day of a lunar year (negative before it),
    clipped to ±:data:`LUNAR_CLIP`; None when no side keeps the lunar new year."""
    if not days:
        return None
    first, last = min(days) - timedelta(days=400), max(days) + timedelta(days=400)
    found: set[date] = set()
    for code in countries:
        found |= set(lunar_new_years(code, first, last))
    if not found:
        return None
    anchors = np.array(sorted(found), dtype="datetime64[D]")
    d64 = np.array(days, dtype="datetime64[D]")
    diff = (d64[:, None] - anchors[None, :]) / DAY
    nearest = diff[np.arange(len(days)), np.abs(diff).argmin(axis=1)]
    return np.asarray(np.clip(nearest, -LUNAR_CLIP, LUNAR_CLIP), dtype=float)


def day_features(days: Sequence[date], countries: Iterable[str]) -> tuple[np.ndarray, list[str]]:
    """Weekday, time of year (two harmonics), each side's holiday features and, where a side
    keeps it, the days to or since the lunar new year (Tet, the Spring Festival)."""
    countries = tuple(countries)
    d64 = np.array(days, dtype="datetime64[D]")
    weekday = ((d64.astype(np.int64) + 3) % 7).astype(float)  # 1970-01-01 was a Thursday
    year_start = d64.astype("datetime64[Y]").astype("datetime64[D]")
    doy = (d64 - year_start) / DAY
    angle = 2 * np.pi * doy / 365.25
    cols = [weekday, np.sin(angle), np.cos(angle), np.sin(2 * angle), np.cos(2 * angle), doy]
    names = ["weekday", "year_sin1", "year_cos1", "year_sin2", "year_cos2", "day_of_year"]
    for code in countries:
        f = side_features(code, days)
        cols.extend(f.T)
        names.extend(f"{code}_{n}" for n in FEATURES_PER_SIDE)
    lunar = lunar_offset(days, countries)
    if lunar is not None:
        cols.append(lunar)
        names.append("lunar_new_year")
    return np.column_stack(cols), names
