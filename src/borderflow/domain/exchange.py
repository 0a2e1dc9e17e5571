"""The daily bulletin exchanged with the partner side: its canonical form and the rules a
bulletin must follow beyond its JSON Schema.

A bulletin states, for one local day of the issuing side: the vehicles in each yard and staging
area by direction when they were counted, the planned volumes per gate for the next day (from
version 2: the trucks declared for it plus the forecast of the undeclared rest, with its 80 %
and 95 % intervals, see :func:`planned_figures`), the working hours and the closures.
Directions are the issuing side's: ``export`` leaves its country, ``import`` enters it; the
receiving side turns them round (:func:`partner_counts`). Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from borderflow.errors import FieldError, msg

SCHEMA_VERSION = 2
"""The version of the bulletins we issue."""
SCHEMA_VERSIONS = (1, 2)
"""The versions we read: a change the other side must know about is a new version, and every
earlier one stays readable."""
BY_DECLARATIONS = "declarations"
BY_FORECAST = "declarations+forecast"
DIRECTIONS = ("export", "import")
ISSUE_SKEW = timedelta(minutes=5)
"""How far ahead of the moment it was issued a bulletin's count may be (clocks differ)."""


def canonical(bulletin: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: JSON with keys sorted, no whitespace, UTF-8, non-ASCII
    characters as themselves. Bulletins hold only strings, integers, null, arrays and objects
    with ASCII keys, so this is the RFC 8785 (JCS) form."""
    return json.dumps(bulletin, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def content_sha256(bulletin: Mapping[str, Any]) -> str:
    """What identifies a bulletin's content: the SHA-256 of its canonical form."""
    return hashlib.sha256(canonical(bulletin)).hexdigest()


def parse_instant(value: str) -> datetime:
    """An ISO 8601 instant with its offset (``Z`` or ``+07:00``)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("needs an offset")
    return parsed


def turned(direction: str) -> str:
    """The partner's direction in ours: their export comes in to us, their import leaves us."""
    return "import" if direction == "export" else "export"


def problems(bulletin: Mapping[str, Any], *, our_side: str) -> list[FieldError]:
    """What is wrong with a bulletin that already matches the schema: dates that are not
    dates, times in the wrong order, duplicated codes, a bulletin from our own side."""
    out: list[FieldError] = []
    at = "bulletin"
    if bulletin["side"] == our_side:
        out.append(FieldError(f"{at}.side", msg("is our own side ({side}); only the partner "
                                                "side's bulletins are imported",
                                                side=our_side)))
    try:
        ZoneInfo(bulletin["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        out.append(FieldError(f"{at}.timezone", msg("is not a known timezone "
                                                    "(e.g. Asia/Shanghai)")))
    day = _day(out, f"{at}.date", bulletin["date"])
    planned = _day(out, f"{at}.planned_date", bulletin["planned_date"])
    if day is not None and planned is not None and planned < day:
        out.append(FieldError(f"{at}.planned_date", msg("is before the bulletin's date")))
    issued = _instant(out, f"{at}.issued_at", bulletin["issued_at"])
    counted = _instant(out, f"{at}.counted_at", bulletin["counted_at"])
    if issued is not None and counted is not None and counted > issued + ISSUE_SKEW:
        out.append(FieldError(f"{at}.counted_at", msg("is after the bulletin was issued")))
    _unique(out, f"{at}.yards", [y["code"] for y in bulletin["yards"]])
    _unique(out, f"{at}.staging_areas", [s["code"] for s in bulletin["staging_areas"]])
    _unique(out, f"{at}.planned", [f"{p['gate']} {p['direction']}" for p in bulletin["planned"]])
    if bulletin["schema_version"] >= 2:
        _plans(out, bulletin)
    for i, h in enumerate(bulletin["hours"]):
        _day(out, f"{at}.hours[{i}].date", h["date"])
        for j, r in enumerate(h["open"]):
            if time.fromisoformat(r["to"]) <= time.fromisoformat(r["from"]):
                out.append(FieldError(f"{at}.hours[{i}].open[{j}].to",
                                      msg("is not after 'from'")))
        if h["kind"] == "closed" and h["open"]:
            out.append(FieldError(f"{at}.hours[{i}].open",
                                  msg("a closed day has no open hours")))
    for i, c in enumerate(bulletin["closures"]):
        starts = _instant(out, f"{at}.closures[{i}].starts_at", c["starts_at"])
        ends = _instant(out, f"{at}.closures[{i}].ends_at", c["ends_at"])
        if starts is not None and ends is not None and ends <= starts:
            out.append(FieldError(f"{at}.closures[{i}].ends_at",
                                  msg("is not after starts_at")))
    return out


BOUNDS = ("planned_lo95", "planned_lo80", "planned_hi80", "planned_hi95")
"""A plan's interval bounds, in the order they hold (with ``planned`` between the 80 % ones)."""


def planned_figures(declared: int, forecast: Mapping[str, float] | None) -> dict[str, Any]:
    """A gate and direction's planned trucks for a day (version 2): those ``declared`` for it
    plus the forecast's trucks beyond them (``forecast_rest``: its mean less the declared,
    never below 0), and the interval: each of the forecast's bounds, never below the declared
    (lower bounds rounded down, upper ones up, so the interval keeps at least its coverage).
    Without a forecast (``None``: no run covers the day) the plan is the declared trucks and
    has no interval. ``forecast`` holds ``mean``, ``lo80``, ``hi80``, ``lo95``, ``hi95``."""
    if forecast is None:
        return {"basis": BY_DECLARATIONS, "forecast_rest": 0, "planned": declared,
                "planned_lo80": None, "planned_hi80": None, "planned_lo95": None,
                "planned_hi95": None}
    rest = max(0, math.floor(forecast["mean"] + 0.5) - declared)
    planned = declared + rest
    lo80 = min(planned, max(declared, math.floor(forecast["lo80"])))
    hi80 = max(planned, math.ceil(forecast["hi80"]))
    return {"basis": BY_FORECAST, "forecast_rest": rest, "planned": planned,
            "planned_lo80": lo80, "planned_hi80": hi80,
            "planned_lo95": min(lo80, max(declared, math.floor(forecast["lo95"]))),
            "planned_hi95": max(hi80, math.ceil(forecast["hi95"]))}


def _plans(out: list[FieldError], bulletin: Mapping[str, Any]) -> None:
    """Version 2: each plan is its declared trucks plus the forecast rest, and its interval
    holds ``declared <= lo95 <= lo80 <= planned <= hi80 <= hi95``; a plan by declarations
    alone has no rest and no interval, one with the forecast names the forecast used."""
    for i, p in enumerate(bulletin["planned"]):
        at = f"bulletin.planned[{i}]"
        if p["planned"] != p["declared"] + p["forecast_rest"]:
            out.append(FieldError(f"{at}.planned", msg("is not declared + forecast_rest")))
        bounds = [p[b] for b in BOUNDS]
        if p["basis"] == BY_DECLARATIONS:
            if p["forecast_rest"]:
                out.append(FieldError(f"{at}.forecast_rest",
                                      msg("a plan by declarations alone has no forecast rest")))
            if any(b is not None for b in bounds):
                out.append(FieldError(f"{at}.basis", msg(
                    "a plan by declarations alone has no interval (the bounds are null)")))
            continue
        if bulletin["planned_forecast"] is None:
            out.append(FieldError(f"{at}.basis", msg(
                "uses a forecast, but the bulletin's planned_forecast is null")))
        if any(b is None for b in bounds):
            out.append(FieldError(f"{at}.basis", msg(
                "a plan with the forecast gives its 80 % and 95 % bounds")))
            continue
        lo95, lo80, hi80, hi95 = bounds
        if not p["declared"] <= lo95 <= lo80 <= p["planned"] <= hi80 <= hi95:
            out.append(FieldError(f"{at}.planned_lo95", msg(
                "the interval must hold declared <= lo95 <= lo80 <= planned <= hi80 <= hi95")))


def _day(out: list[FieldError], where: str, value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        out.append(FieldError(where, msg("'{value}' is not a date (YYYY-MM-DD)", value=value)))
        return None


def _instant(out: list[FieldError], where: str, value: str) -> datetime | None:
    try:
        return parse_instant(value)
    except ValueError:
        out.append(FieldError(where, msg("'{value}' is not a date and time with an offset",
                                          value=value)))
        return None


def _unique(out: list[FieldError], where: str, keys: Sequence[str]) -> None:
    seen: set[str] = set()
    for i, key in enumerate(keys):
        if key in seen:
            out.append(FieldError(f"{where}[{i}]", msg("'{value}' appears twice", value=key)))
        seen.add(key)


@dataclass
class PartnerCount:
    """The partner side's vehicles in its yards at one gate, in one of our directions."""

    gate: str
    direction: str
    vehicles: int = 0
    capacity: int | None = 0
    yards: list[int] = field(default_factory=list)
    """Indexes of the bulletin's yards summed here (to point at them in errors)."""


def partner_counts(bulletin: Mapping[str, Any]) -> list[PartnerCount]:
    """The bulletin's yard counts summed per gate, in our directions. The capacity is the sum
    of the yards' capacities, or ``None`` when a yard did not give one."""
    out: dict[tuple[str, str], PartnerCount] = {}
    for i, yard in enumerate(bulletin["yards"]):
        for theirs in DIRECTIONS:
            ours = turned(theirs)
            row = out.setdefault((yard["gate"], ours), PartnerCount(yard["gate"], ours))
            row.vehicles += int(yard["vehicles"][theirs])
            cap = yard.get("capacity")
            row.capacity = None if cap is None or row.capacity is None else row.capacity + cap
            row.yards.append(i)
    return list(out.values())
