"""Statistics as pure rules: what one trip contributes to the report tables.

Reports read **summary tables** kept up to date with the events (so a year of history answers
in milliseconds), never the event log itself. Each trip has one **fact** (a JSON document
derived from its state and the events that leave no trace in the state: holds, no-shows and the
fee's settlement). A fact's **contributions** are additive rows of the summary tables; when a
trip changes, the tables get ``contributions(new) - contributions(old)``, so they always equal
the sum over all facts (a property test checks it against a rebuild from scratch).

Every figure exists at three grains: per local day (``d``), per month (``m``, period = the
month's first day) and per year (``y``, period = 1 January). A period is answered from its
whole years, then its whole months, then the days at its edges.

Durations are kept as histograms in bands: 2 minutes wide below an hour, 5 minutes below two
hours, 15 minutes below 12 h, an hour below 48 h and 6 hours beyond (capped at 14 days). Means
are exact (sums of seconds); percentiles are nearest-rank over the histogram, reported as the
middle of their band (so within a minute below an hour).

Percentiles, everywhere (these reports, the day's step durations): **nearest rank**, Hyndman and
Fan's type 1 (numpy's ``method="inverted_cdf"``). The q-quantile of n observations is the one at
rank ⌈q·n⌉ (at least 1) in ascending order: always an observed value, never between two, and
exactly the same whether read from the observations or from a histogram of them (which is how
the summary tables keep durations). :func:`percentile_rank` is that definition;
:func:`percentile` applies it to a histogram and :func:`percentile_of` to the values themselves.

Enterprises: the counts exist for all enterprises together (``counts``) and per enterprise
(``enterprises``); the ``active`` kind (per enterprise only) marks the days an enterprise
declared or crossed, so that counting active enterprises reads one small row per enterprise and
day.

History imported from files uses the same facts with ``vehicles`` > 1 for daily totals.
"""

from __future__ import annotations

import calendar
import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# --- the summary tables --------------------------------------------------------------------------

COUNTS = "counts"
"""key: grain, period, kind, gate, direction, goods_group (all enterprises together)
values: vehicles, declarations, weight_kg, value_usd_cents, fee_vnd, seconds"""
ENTERPRISES = "enterprises"
"""The same per enterprise: key: grain, period, kind, gate, direction, goods_group, enterprise;
each figure twice: by gate and goods group, and for all of them (gate and goods_group ``*``);
the ``active`` rows three times: by gate, direction and goods group, by gate, and over all."""
DURATIONS = "durations"
"""key: grain, period, gate, direction, goods_group, measure, bucket; values: n, seconds"""
HOURS = "hours"
"""key: day, hour (local), gate, direction; values: vehicles crossed"""
REASONS = "reasons"
"""key: grain, period, kind (hold | reject), gate, direction, step, reason_code; values: n"""

TABLES = (COUNTS, ENTERPRISES, DURATIONS, HOURS, REASONS)
VALUE_WIDTH = {COUNTS: 6, ENTERPRISES: 6, DURATIONS: 2, HOURS: 1, REASONS: 1}

ALL = "*"
COUNT_KINDS = ("declared", "called", "crossed", "rejected", "cancelled", "no_show", "fee",
               "active")
SYSTEM = "system"
"""Time in the system: arrival (staging park, else the gate area, else the call) to leaving it
(an export crossing the border, an import leaving the gate area inland)."""
WAIT = "wait"
"""Waiting before the call forward: arrival at the staging park to the call."""
GRAINS = ("d", "m", "y")

Key = tuple[Any, ...]
Values = tuple[int, ...]
Contributions = dict[tuple[str, Key], Values]


# --- facts ----------------------------------------------------------------------------------------


def _at(value: Any) -> datetime | None:
    if value is None:
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _seconds(start: Any, end: Any) -> int | None:
    a, b = _at(start), _at(end)
    if a is None or b is None or b < a:
        return None
    return int((b - a).total_seconds())


def trip_fact(state: Mapping[str, Any], previous: Mapping[str, Any] | None,
              event: Mapping[str, Any] | None) -> dict[str, Any]:
    """The fact of a trip after ``event`` (a dict with ``type``, ``occurred_at`` and
    ``payload``) changed it into ``state``. ``previous`` is the fact before (or None): holds,
    no-shows and the fee's settlement time are carried over from it, since the state keeps only
    the current hold and the fee's status."""
    facts = state["facts"]
    ms = state["milestones"]
    prev = previous or {}
    holds = list(prev.get("holds", []))
    no_shows = list(prev.get("no_shows", []))
    fee_at = prev.get("fee_at")
    if event is not None:
        kind = event["type"]
        at = _iso(event["occurred_at"])
        payload = event.get("payload") or {}
        if kind == "step.held":
            holds.append({"step": payload.get("step"), "reason": payload.get("reason_code"),
                          "at": at})
        elif kind == "trip.no_show":
            no_shows.append(at)
        elif kind == "fee.settled":
            fee_at = at
        elif kind == "fee.unsettled":
            fee_at = None
    fee = state.get("fee") or {}
    paid = fee.get("status") == "paid" and fee_at is not None
    outcome = state.get("outcome") or {}
    arrival = ms.get("staging_entered") or ms.get("gate_area_entered") or ms.get("called")
    steps: dict[str, int] = {}
    for code, step in state["steps"].items():
        if step.get("status") == "passed":
            took = _seconds(step.get("available_at"), step.get("done_at"))
            if took is not None:
                steps[code] = took
    groups = facts.get("goods_groups") or []
    return {
        "vehicles": 1,
        "gate": state["gate"],
        "direction": state["flow"],
        "goods_group": groups[0] if groups else "unknown",
        "enterprise": str(facts.get("enterprise_tax_code", ""))[:10],
        "priority": state.get("priority"),
        "perishable": bool(facts.get("perishable")),
        "declaration": state["reference"].endswith("-1"),
        "declared_at": ms.get("created"),
        "called_at": ms.get("called"),
        "arrived_at": arrival,
        "staging_at": ms.get("staging_entered"),
        "gate_area_at": ms.get("gate_area_entered"),
        "crossed_at": ms.get("crossed"),
        "ended_at": ms.get("completed") or ms.get("returned"),
        # when it left the border system: an export by crossing, an import by leaving the
        # gate area inland once its steps are done
        "left_at": ms.get("crossed") if state["flow"] == "export" else ms.get("completed"),
        "rejected_at": outcome.get("at") if outcome.get("kind") == "rejected" else None,
        "cancelled_at": outcome.get("at") if outcome.get("kind") == "cancelled" else None,
        "reject_step": outcome.get("step"),
        "reject_reason": outcome.get("reason_code"),
        "holds": holds,
        "no_shows": no_shows,
        "steps": steps,
        "weight_kg": int(facts.get("net_weight_kg") or 0),
        "value_usd_cents": int(facts.get("value_usd_cents") or 0),
        "fee_vnd": int(fee.get("total") or 0) if paid else 0,
        "fee_at": fee_at if paid else None,
        "on_hold": bool(state.get("on_hold")),
        "location": state.get("location"),
        "status": state["status"],
    }


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


# --- buckets and periods --------------------------------------------------------------------------

MAX_SECONDS = 14 * 86400
BANDS = ((3600, 120), (7200, 300), (43200, 900), (172800, 3600), (MAX_SECONDS + 1, 21600))
"""(up to, band width) in seconds: the histogram's resolution by duration."""


def bucket(seconds: int) -> int:
    """The lower edge (seconds) of the histogram band that holds ``seconds``."""
    s = min(max(int(seconds), 0), MAX_SECONDS)
    return s - s % bucket_width(s)


def bucket_width(lower: int) -> int:
    for limit, width in BANDS:
        if lower < limit:
            return width
    return BANDS[-1][1]


def bucket_estimate(lower: int) -> float:
    """What a percentile falling in the band starting at ``lower`` is reported as: its
    middle."""
    return lower + bucket_width(lower) / 2


def month_start(d: date) -> date:
    return d.replace(day=1)


def month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


@dataclass(frozen=True)
class Cover:
    """How a period [start, end] is read: whole years, then whole months, then the days
    around them."""

    years: tuple[date, date] | None
    months: tuple[tuple[date, date], ...]
    days: tuple[tuple[date, date], ...]


def cover(start: date, end: date) -> Cover:
    if end < start:
        raise ValueError("the period ends before it starts")
    first = start if start.day == 1 else month_end(start) + timedelta(days=1)
    last = month_start(end) if end == month_end(end) else month_start(month_start(end)
                                                                      - timedelta(days=1))
    if first > last:
        return Cover(None, (), ((start, end),))
    days: list[tuple[date, date]] = []
    if start < first:
        days.append((start, first - timedelta(days=1)))
    if month_end(last) < end:
        days.append((month_end(last) + timedelta(days=1), end))
    first_y = first if first.month == 1 else date(first.year + 1, 1, 1)
    last_y = date(last.year, 1, 1) if last.month == 12 else date(last.year - 1, 1, 1)
    if first_y > last_y:
        return Cover(None, ((first, last),), tuple(days))
    months: list[tuple[date, date]] = []
    if first < first_y:
        months.append((first, date(first_y.year - 1, 12, 1)))
    if last_y.year < last.year:
        months.append((date(last_y.year + 1, 1, 1), last))
    return Cover((first_y, last_y), tuple(months), tuple(days))


def shift_year(d: date, years: int = -1) -> date:
    """The same day a year earlier (29 February becomes 28 February)."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


# --- contributions --------------------------------------------------------------------------------


def fact_time(fact: Mapping[str, Any], name: str) -> datetime | None:
    """A time of a fact (``crossed_at``, ``arrived_at``...) as a datetime."""
    return _at(fact.get(name))


def left_at(fact: Mapping[str, Any]) -> Any:
    """When the vehicle left the border system (imported history: when it crossed)."""
    return fact["left_at"] if "left_at" in fact else fact.get("crossed_at")


def finished_at(fact: Mapping[str, Any]) -> datetime | None:
    """When the vehicle left the system, or its trip was rejected or cancelled."""
    times = [t for t in (_at(left_at(fact)), _at(fact.get("rejected_at")),
                         _at(fact.get("cancelled_at"))) if t is not None]
    return min(times) if times else None


def _local_day(value: Any, tz: ZoneInfo) -> date | None:
    at = _at(value)
    return None if at is None else at.astimezone(tz).date()


def _periods(day: date) -> tuple[tuple[str, date], ...]:
    return ("d", day), ("m", month_start(day)), ("y", date(day.year, 1, 1))


def measures(fact: Mapping[str, Any]) -> dict[str, int]:
    """Seconds in the system, waiting for the call and in each passed step."""
    out: dict[str, int] = {}
    system = _seconds(fact.get("arrived_at"), left_at(fact))
    if system is None and fact.get("system_seconds") is not None:  # imported history
        system = int(fact["system_seconds"])
    if system is not None:
        out[SYSTEM] = system
    wait = _seconds(fact.get("staging_at"), fact.get("called_at"))
    if wait is not None:
        out[WAIT] = wait
    out.update({k: int(v) for k, v in (fact.get("steps") or {}).items()})
    return out


def contributions(fact: Mapping[str, Any] | None, tz: ZoneInfo) -> Contributions:
    """The summary-table rows ``fact`` adds (an empty dict for None)."""
    if fact is None:
        return {}
    acc: Contributions = {}

    def add(table: str, key: Key, values: Values) -> None:
        k = (table, key)
        row = acc.get(k)
        acc[k] = values if row is None else tuple(map(operator.add, row, values))

    n = int(fact.get("vehicles", 1))
    gate, direction, group = fact["gate"], fact["direction"], fact["goods_group"]
    enterprise = fact.get("enterprise") or ""
    weight, value = int(fact.get("weight_kg", 0)), int(fact.get("value_usd_cents", 0))
    measured = measures(fact)
    system, wait = measured.get(SYSTEM), measured.get(WAIT)

    def counts(kind: str, at: Any, values: Values) -> None:
        day = _local_day(at, tz)
        if day is None:
            return
        for grain, period in _periods(day):
            add(COUNTS, (grain, period, kind, gate, direction, group), values)
            add(ENTERPRISES, (grain, period, kind, gate, direction, group, enterprise), values)
            add(ENTERPRISES, (grain, period, kind, ALL, direction, ALL, enterprise), values)
        if kind in ("declared", "crossed") and values[0] > 0:
            active.add(day)

    active: set[date] = set()
    decl = n if fact.get("declaration") else 0
    counts("declared", fact.get("declared_at"), (n, decl, weight, value, 0, 0))
    if fact.get("declarations"):  # imported daily totals: declarations lodged that day
        counts("declared", fact.get("crossed_at"), (0, int(fact["declarations"]), 0, 0, 0, 0))
    counts("called", fact.get("called_at"), (n, 0, 0, 0, 0, (wait or 0) * n))
    counts("crossed", fact.get("crossed_at"), (n, 0, weight, value, 0, (system or 0) * n))
    counts("rejected", fact.get("rejected_at"), (n, 0, 0, 0, 0, 0))
    counts("cancelled", fact.get("cancelled_at"), (n, 0, 0, 0, 0, 0))
    for at in fact.get("no_shows", []):
        counts("no_show", at, (1, 0, 0, 0, 0, 0))
    if fact.get("fee_at") is not None and fact.get("fee_vnd"):
        counts("fee", fact["fee_at"], (n, 0, 0, 0, int(fact["fee_vnd"]), 0))

    for active_day in active:
        for grain, period in _periods(active_day):
            # by gate, direction and goods group; by gate; and over everything
            for key in ((gate, direction, group), (gate, ALL, ALL), (ALL, ALL, ALL)):
                add(ENTERPRISES, (grain, period, "active", *key, enterprise),
                    (1, 0, 0, 0, 0, 0))
    crossed_day = _local_day(fact.get("crossed_at"), tz)
    if crossed_day is not None:
        for grain, period in _periods(crossed_day):
            for measure, seconds in measured.items():
                add(DURATIONS, (grain, period, gate, direction, group, measure, bucket(seconds)),
                    (n, seconds * n))
        if fact.get("hourly", True):  # imported daily totals have no hour
            crossed = datetime.fromisoformat(str(fact["crossed_at"])).astimezone(tz)
            add(HOURS, (crossed_day, crossed.hour, gate, direction), (n,))
    for hold in fact.get("holds", []):
        held = _local_day(hold.get("at"), tz)
        if held is not None:
            for grain, period in _periods(held):
                add(REASONS, (grain, period, "hold", gate, direction, hold.get("step") or "",
                              hold.get("reason") or ""), (1,))
    rejected_day = _local_day(fact.get("rejected_at"), tz)
    if rejected_day is not None:
        for grain, period in _periods(rejected_day):
            add(REASONS, (grain, period, "reject", gate, direction, fact.get("reject_step") or "",
                          fact.get("reject_reason") or ""), (n,))
    return acc


def row_order(k: tuple[str, Key]) -> tuple[str, tuple[str, ...]]:
    """The order summary rows are written in, the same for every writer (so concurrent
    writers lock rows alike)."""
    return (k[0], tuple(map(str, k[1])))


def summed(changes: Iterable[Contributions]) -> Contributions:
    """Several changes to the summary tables as one, in :func:`row_order`."""
    acc: Contributions = {}
    for change in changes:
        for k, v in change.items():
            row = acc.get(k)
            acc[k] = v if row is None else tuple(map(operator.add, row, v))
    return dict(sorted(acc.items(), key=lambda item: row_order(item[0])))


def delta(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None,
          tz: ZoneInfo) -> Contributions:
    """What to add to the summary tables when a fact changes from ``old`` to ``new``: only
    rows whose values change, in a stable order (so concurrent writers lock rows alike)."""
    before, after = contributions(old, tz), contributions(new, tz)
    out: Contributions = {}
    for k in sorted(set(before) | set(after), key=row_order):
        a = after.get(k) or (0,) * VALUE_WIDTH[k[0]]
        b = before.get(k) or (0,) * VALUE_WIDTH[k[0]]
        d = tuple(x - y for x, y in zip(a, b, strict=True))
        if any(d):
            out[k] = d
    return out


def total(facts: Iterable[Mapping[str, Any]], tz: ZoneInfo) -> Contributions:
    """The summary tables built from scratch (rows with all-zero values left out)."""
    acc: Contributions = {}
    get = acc.get
    add = operator.add
    for fact in facts:
        for k, v in contributions(fact, tz).items():
            row = get(k)
            acc[k] = v if row is None else tuple(map(add, row, v))
    return {k: v for k, v in acc.items() if any(v)}


# --- figures from the tables ----------------------------------------------------------------------


def percentile_rank(n: int, q: float) -> int:
    """The rank (1-based, ascending) of the nearest-rank ``q``-quantile (0 <= q <= 1) of ``n``
    observations: ⌈q·n⌉, at least 1. The one percentile definition (see the module's
    documentation)."""
    return max(1, math.ceil(q * n))


def percentile_of(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile ``q`` (0-1) of the values themselves; None when there are
    none."""
    ordered = sorted(values)
    if not ordered:
        return None
    return float(ordered[percentile_rank(len(ordered), q) - 1])


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """Nearest-rank percentile ``q`` (0-1) of a histogram {band lower edge: count}, reported
    as the middle of its band; None when it is empty."""
    n = sum(histogram.values())
    if n <= 0:
        return None
    rank = percentile_rank(n, q)
    seen = 0
    for lower in sorted(histogram):
        seen += histogram[lower]
        if seen >= rank:
            return bucket_estimate(lower)
    return bucket_estimate(max(histogram))  # pragma: no cover - rank <= n


@dataclass(frozen=True)
class Comparison:
    value: int
    previous: int
    change: int
    change_pct: float | None


def change_pct(value: int, previous: int) -> float | None:
    """The change in % to one decimal; None from zero."""
    return None if previous == 0 else round((value - previous) * 100 / previous, 1)


def compare(value: int, previous: int) -> Comparison:
    """A figure against the same period a year earlier."""
    return Comparison(value, previous, value - previous, change_pct(value, previous))


@dataclass(frozen=True)
class RunRate:
    target: int
    achieved: int
    share_pct: float
    remaining: int
    months_left: int
    per_month_needed: float | None


def run_rate(target: int, achieved: int, as_of: date) -> RunRate:
    """Progress against an annual target as of a day: the share achieved and the average per
    remaining month needed (the month of ``as_of`` counts as remaining unless it is its last
    day), e.g. US$65 bn with US$18 bn by 31 March: US$5.2 bn per month over nine months."""
    if target <= 0:
        raise ValueError("a target must be positive")
    months_left = 12 - as_of.month + (0 if as_of == month_end(as_of) else 1)
    remaining = max(target - achieved, 0)
    per_month = None if months_left == 0 else remaining / months_left
    return RunRate(target, achieved, round(achieved * 100 / target, 1), remaining, months_left,
                   per_month)
