"""The daily bulletin exchanged with the partner side: its canonical form and the rules a
bulletin must follow beyond its JSON Schema.

A bulletin states, for one local day of the issuing side: the vehicles in each yard and staging
area by direction when they were counted, the planned volumes per gate for the next day, the
working hours and the closures. Directions are the issuing side's: ``export`` leaves its
country, ``import`` enters it; the receiving side turns them round
(:func:`partner_counts`). Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from borderflow.errors import FieldError, msg

SCHEMA_VERSION = 1
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
