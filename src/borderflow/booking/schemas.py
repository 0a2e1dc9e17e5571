"""API shapes for bookings: a trip's slot, its queue position and a gate's free places."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from borderflow.fieldtypes import Instant


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BookingIn(_In):
    slot_start: Instant = Field(description="Start of the slot, with a timezone; slots start "
                                             "every 30 minutes.",
                                 examples=["2026-11-25T08:00:00+07:00"])


class BookingOut(BaseModel):
    booking_id: int
    trip: str
    gate: str
    direction: str
    slot_start: datetime
    slot_end: datetime
    kind: str
    position: int = Field(description="Place in the gate's queue for this direction (1 = next).")
    estimated_call: datetime
    created_at: datetime


class SlotOut(BaseModel):
    slot_start: datetime
    capacity: int
    booked: int
    free: int
