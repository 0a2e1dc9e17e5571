"""What the enterprise's slot pages read: its trips that may still be booked, each with its
active booking, and one trip's active booking. Read models only; the pages shape them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow.domain.access import Principal
from borderflow.domain.network import Network
from borderflow.store.models import Booking, Trip
from borderflow.trip import service as trips

BOOKABLE = ("declared", "at_staging")
"""Trip statuses in which a slot may be booked, moved or cancelled (``domain/trip.py``)."""


@dataclass(frozen=True)
class BookableTrip:
    trip: Trip
    booking: Booking | None
    """The active booking, if the trip has one."""


def bookable(session: Session, actor: Principal, network: Network | None,
             limit: int = 200) -> list[BookableTrip]:
    """The caller's trips that may be booked (an enterprise its own), by requested date then
    reference, with their active bookings: two queries."""
    rows = list(session.scalars(select(Trip).where(
        trips.scope_clause(actor, network), Trip.status.in_(BOOKABLE))
        .order_by(Trip.created_at.desc()).limit(limit)))
    rows.sort(key=lambda t: (str(t.state["facts"].get("requested_date", "")), t.reference))
    active = {b.trip_id: b for b in session.scalars(select(Booking).where(
        Booking.trip_id.in_([t.id for t in rows]), Booking.status == "active"))} if rows else {}
    return [BookableTrip(t, active.get(t.id)) for t in rows]


def active_booking(session: Session, trip_id: str) -> Booking | None:
    """The trip's active booking."""
    return session.scalar(select(Booking).where(Booking.trip_id == trip_id,
                                                Booking.status == "active"))
