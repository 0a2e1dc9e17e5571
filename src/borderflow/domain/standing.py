"""A vehicle's standing for bookings: the abuse rule of virtual-queue systems (eCherha bars a
vehicle for 14 days after repeated no-shows). Pure: the offences go in, the end of the bar (if
any) comes out."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from borderflow.domain.network import BookingRules

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
