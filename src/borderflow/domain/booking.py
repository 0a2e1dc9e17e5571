"""Bookings' rules: the time slots at a gate (the grid, and how many trucks a gate can take in
one slot) and a vehicle's standing for bookings, the abuse rule of virtual-queue systems
(eCherha bars a vehicle for 14 days after repeated no-shows): the offences go in, the end of the
bar (if any) comes out. Pure."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from borderflow.domain.network import BookingRules, Calendar, FlowCapacity

DEFAULT_SLOT_MINUTES = 30


def slot_start(at: datetime, minutes: int = DEFAULT_SLOT_MINUTES) -> datetime:
    """The start of the slot containing ``at`` (slots are aligned to midnight UTC; with 30 or
    60 minutes they are aligned to local half hours too, Vietnam being UTC+7)."""
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    utc = at.astimezone(UTC)
    since_midnight = utc - utc.replace(hour=0, minute=0, second=0, microsecond=0)
    offset = since_midnight % timedelta(minutes=minutes)
    return utc - offset


def is_aligned(at: datetime, minutes: int = DEFAULT_SLOT_MINUTES) -> bool:
    return slot_start(at, minutes) == at.astimezone(UTC)


def open_minutes(calendar: Calendar, start: datetime, minutes: int,
                 holidays: Mapping[str, Collection[date]]) -> int:
    """Minutes of ``[start, start + minutes)`` during which the calendar is open."""
    tz = ZoneInfo(calendar.timezone)
    local = start.astimezone(tz)
    end = local + timedelta(minutes=minutes)
    total = 0
    day = local.date()
    while datetime.combine(day, datetime.min.time(), tz) < end:
        hours = calendar.hours_on(day, holidays)
        for r in hours.intervals:
            a = max(local, datetime.combine(day, r.start, tz))
            b = min(end, datetime.combine(day, r.end, tz))
            if b > a:
                total += int((b - a).total_seconds() // 60)
        day += timedelta(days=1)
    return total


def slot_capacity(calendar: Calendar, flow: FlowCapacity, start: datetime,
                  holidays: Mapping[str, Collection[date]],
                  minutes: int = DEFAULT_SLOT_MINUTES) -> int:
    """Trucks the gate can take in the slot: its hourly capacity over the open minutes."""
    return flow.vehicles_per_hour * open_minutes(calendar, start, minutes, holidays) // 60


@dataclass(frozen=True)
class Control:
    """A regulator's control over a gate for a period (see the dispatch controls)."""

    kind: str  # closure | capacity | pause | extended_hours
    starts_at: datetime
    ends_at: datetime
    vehicles_per_hour: int | None = None


def controlled_capacity(calendar: Calendar, flow: FlowCapacity, start: datetime,
                        holidays: Mapping[str, Collection[date]], controls: Sequence[Control],
                        minutes: int = DEFAULT_SLOT_MINUTES) -> int:
    """A slot's places with the controls that overlap it (see :func:`controlled_places`),
    the open minutes taken from the gate's calendar."""
    return controlled_places(flow.vehicles_per_hour,
                             open_minutes(calendar, start, minutes, holidays), start, controls,
                             minutes)


def controlled_places(vehicles_per_hour: int, open_m: int, start: datetime,
                      controls: Sequence[Control],
                      minutes: int = DEFAULT_SLOT_MINUTES) -> int:
    """A slot's places from the gate's hourly rate and the slot's open minutes, with the
    controls that overlap it, in the order they were made: a closure in force at the slot's
    start gives 0; the last capacity control in force then sets the hourly rate; extended
    hours open the part of the slot they cover (at the rate of the control, or the gate's)
    even where the calendar is closed. The live booking service and the scenario lab (with
    its own opening hours) both count places with it."""
    end = start + timedelta(minutes=minutes)
    at_start = [c for c in controls if c.starts_at <= start < c.ends_at]
    if any(c.kind == "closure" for c in at_start):
        return 0
    rate = vehicles_per_hour
    capacity = [c for c in at_start if c.kind == "capacity"]
    if capacity:
        rate = capacity[-1].vehicles_per_hour or 0
    places = rate * open_m // 60
    for c in controls:
        if c.kind != "extended_hours":
            continue
        covered = (min(end, c.ends_at) - max(start, c.starts_at)).total_seconds() // 60
        if covered > 0:
            ext_rate = rate if capacity else (c.vehicles_per_hour or vehicles_per_hour)
            places = max(places, ext_rate * int(max(covered, open_m)) // 60)
    return places


def paused(controls: Iterable[Control], at: datetime) -> bool:
    """Whether a pause of call-forward is in force at ``at`` (no truck is called then; the
    gate area goes on working). The live dispatcher and the scenario lab both ask it."""
    return any(c.kind == "pause" and c.starts_at <= at < c.ends_at for c in controls)


# --- a vehicle's standing: offences and the bar from booking they lead to ----------------------

OFFENCE_KINDS = ("no_show", "late_cancellation")


def barred_until(offences: Iterable[datetime], rules: BookingRules,
                 now: datetime) -> datetime | None:
    """When the vehicle may book again, or None if it is not barred now.

    Each time an offence brings the count of offences within the last ``window_days`` (that
    offence included) to ``bar_after`` or more, the vehicle is barred until ``bar_days`` after
    that offence. Pardoned offences are left out by the caller.
    """
    if rules.bar_after <= 0:
        return None
    times = sorted(offences)
    window = timedelta(days=rules.window_days)
    until: datetime | None = None
    first = 0
    for i, at in enumerate(times):
        while times[first] <= at - window:
            first += 1
        if i - first + 1 >= rules.bar_after:
            end = at + timedelta(days=rules.bar_days)
            until = end if until is None else max(until, end)
    return until if until is not None and until > now else None


def is_late_cancellation(slot_start: datetime, cancelled_at: datetime,
                         rules: BookingRules) -> bool:
    """Whether giving a booked place back at that time counts against the vehicle."""
    return cancelled_at > slot_start - timedelta(minutes=rules.late_cancellation_minutes)
