"""Bounded field types shared by the API's request shapes and the documents services
validate: each keeps a value within what is stored and what the calendars know. No HTTP
here, so a service may validate with the same shapes the API reads
(:mod:`borderflow.api.bounds` bounds the requests themselves)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import annotated_types
from pydantic import AfterValidator, AwareDatetime, Field

from borderflow.errors import msg

DATE_MIN = date(2000, 1, 1)
DATE_MAX = date(2099, 12, 31)
"""The calendar's range: both sides' public holidays are known for these years."""


# ---- annotated types for request shapes and documents -------------------------------------


def _day_in_range(value: date) -> date:
    if not DATE_MIN <= value <= DATE_MAX:
        raise ValueError(msg("Give a date from {start} to {end}.", start=DATE_MIN, end=DATE_MAX))
    return value


def _instant_in_range(value: datetime) -> datetime:
    _day_in_range(value.astimezone(UTC).date())
    return value


Day = Annotated[date, AfterValidator(_day_in_range)]
"""A date within the calendar's range."""

Year = Annotated[int, annotated_types.Ge(DATE_MIN.year), annotated_types.Le(DATE_MAX.year)]
"""A year within the calendar's range."""

Instant = Annotated[AwareDatetime, AfterValidator(_instant_in_range)]
"""A date-time with its time zone (``Z`` or ``+07:00``), within the calendar's range."""


Code = Annotated[str, Field(min_length=1, max_length=40)]
"""A reference code (gate, yard, staging area, goods group): at most 40 characters, as
stored."""
