"""Service times fitted from recorded trips.

A trip's timeline (its events replayed by :func:`borderflow.domain.trip.replay`) says when each
step passed, but not when an officer started on it. The time a step took is therefore measured
from the moment it could start (all its prerequisites passed, or the truck entered the gate
area) to the moment it passed: service time plus any queueing at the step. Fitted on busy days
this overstates service; fit on ordinary days, or lower ``servers`` accordingly.

Each gate, direction and step with enough samples gets a lognormal with the samples' mean and
coefficient of variation (method of moments), written as the ``gates.<gate>.stations`` section
of a scenario file.

The demand is fitted too (:func:`demand_from`): trucks per day, the export share, the hourly
profile and weekday factors in local time, each direction's gate shares and perishable share,
from when the trips entered the staging area (or their gate area).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from borderflow.sim.model import SKIPPED_KINDS

MIN_SAMPLES = 5


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return None


def step_minutes(state: Mapping[str, Any]) -> dict[str, float]:
    """Minutes each passed step of one trip took, from ready to passed (see the module)."""
    entered = _time(state.get("milestones", {}).get("gate_area_entered"))
    steps = state.get("procedure", {}).get("steps", [])
    status = state.get("steps", {})
    done: dict[str, datetime | None] = {}
    for spec in steps:
        st = status.get(spec["code"], {})
        done[spec["code"]] = _time(st.get("done_at")) if st.get("status") == "passed" else None
    kinds = {spec["code"]: spec["kind"] for spec in steps}
    out: dict[str, float] = {}
    for spec in steps:
        code = spec["code"]
        if spec["kind"] in SKIPPED_KINDS or done[code] is None:
            continue
        ready: datetime | None = None
        for before in spec.get("after") or ():
            t = entered if kinds.get(before) in SKIPPED_KINDS else done.get(before)
            if t is None:
                continue  # the step did not apply to this trip
            ready = t if ready is None or t > ready else ready
        if ready is None:
            ready = entered
        end = done[code]
        if ready is None or end is None:
            continue
        minutes = (end - ready).total_seconds() / 60.0
        if minutes >= 0:
            out[code] = minutes
    return out


@dataclass(frozen=True)
class Fit:
    gate: str
    direction: str
    step: str
    samples: int
    mean: float
    cv: float


def fit(trips: Iterable[Mapping[str, Any]], min_samples: int = MIN_SAMPLES) -> list[Fit]:
    """Lognormal fits per gate, direction and step over replayed trip states."""
    samples: dict[tuple[str, str, str], list[float]] = {}
    for state in trips:
        gate, direction = state.get("gate"), state.get("flow")
        if not gate or not direction:
            continue
        for step, minutes in step_minutes(state).items():
            samples.setdefault((gate, direction, step), []).append(minutes)
    out = []
    for (gate, direction, step), values in sorted(samples.items()):
        values = [v for v in values if v > 0]
        if len(values) < min_samples:
            continue
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
        out.append(Fit(gate, direction, step, len(values), round(mean, 2),
                       round(min(5.0, math.sqrt(var) / mean), 3)))
    return out


def scenario_section(fits: Iterable[Fit]) -> dict[str, Any]:
    """The ``gates`` section of a scenario file holding the fits (directions share a step's
    station in a scenario file, so a step seen in both takes the larger-sample fit)."""
    gates: dict[str, Any] = {}
    best: dict[tuple[str, str], Fit] = {}
    for f in fits:
        key = (f.gate, f.step)
        if key not in best or f.samples > best[key].samples:
            best[key] = f
    for (gate, step), f in sorted(best.items()):
        stations = gates.setdefault(gate, {}).setdefault("stations", {})
        stations[step] = {"service": {"dist": "lognormal", "mean": f.mean, "cv": f.cv}}
    return gates


def merge_into(document: dict[str, Any], section: Mapping[str, Any]) -> dict[str, Any]:
    """A scenario document with the fitted stations merged into its ``gates`` section."""
    out = dict(document)
    gates = {k: dict(v) for k, v in (out.get("gates") or {}).items()}
    for gate, change in section.items():
        mine = gates.setdefault(gate, {})
        stations = dict(mine.get("stations") or {})
        stations.update(change["stations"])
        mine["stations"] = stations
    out["gates"] = gates
    return out


def demand_from(trips: Iterable[Mapping[str, Any]], timezone: str) -> dict[str, Any]:
    """The recorded arrivals as a scenario's ``demand`` figures: trucks per day, export share,
    hourly profile and weekday factors (local time), each direction's gate shares and
    perishable share. A truck arrives when it entered the staging area, else its gate area.
    Empty when no trip has arrived."""
    tz = ZoneInfo(timezone)
    hours: Counter[int] = Counter()
    weekdays: Counter[int] = Counter()
    days: set[Any] = set()
    gates: dict[str, Counter[str]] = {"export": Counter(), "import": Counter()}
    perishable: Counter[str] = Counter()
    for state in trips:
        milestones = state.get("milestones", {})
        at = _time(milestones.get("staging_entered") or milestones.get("gate_area_entered"))
        direction = state.get("flow")
        if at is None or direction not in gates:
            continue
        local = at.astimezone(tz)
        hours[local.hour] += 1
        weekdays[local.weekday()] += 1
        days.add(local.date())
        gates[direction][str(state.get("gate"))] += 1
        if (state.get("facts") or {}).get("perishable"):
            perishable[direction] += 1
    total = sum(hours.values())
    if not total:
        return {}
    span = (max(days) - min(days)).days + 1
    weekday_days: Counter[int] = Counter(
        (min(days) + timedelta(days=d)).weekday() for d in range(span))
    per_weekday = {w: weekdays[w] / weekday_days[w] for w in range(7) if weekday_days[w]}
    mean = sum(per_weekday.values()) / len(per_weekday)
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    exports = sum(gates["export"].values())
    return {
        "trucks_per_day": round(total / span, 1),
        "export_share": round(exports / total, 3),
        "hourly_profile": [hours[h] for h in range(24)],
        "weekday_factors": {names[w]: round(v / mean, 3) for w, v in per_weekday.items()},
        "gates": {d: {g: round(n / sum(c.values()), 3) for g, n in sorted(c.items())}
                  for d, c in gates.items() if c},
        "perishable_share": {d: round(perishable[d] / sum(c.values()), 3)
                             for d, c in gates.items() if c},
    }
