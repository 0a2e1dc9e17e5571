"""Bookings: a trip's place in a time slot of its gate.

The places of a slot are a counter row (``gate_slots``) taken with one conditional UPDATE
(``booked < capacity``): under any contention, a slot never gets more bookings than places, on
SQLite and on PostgreSQL. A vehicle has at most one active booking (a partial unique index).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.booking import standing
from borderflow.clock import LOCAL_TZ
from borderflow.domain import booking as booking_rules
from borderflow.domain import trip as domain
from borderflow.domain.access import Principal, Role, may_change_declaration
from borderflow.domain.booking import is_late_cancellation
from borderflow.domain.network import BookingRules, Network
from borderflow.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed, msg
from borderflow.network.holidays import around
from borderflow.store.models import Booking, GateControl, GateSlot, Trip
from borderflow.trip import service as trips
from borderflow.trip.events import TripChange

SLOT_MINUTES = booking_rules.DEFAULT_SLOT_MINUTES
MAX_DAYS_AHEAD = 60


def controls_over(session: Session, gate: str, direction: str, start: datetime,
                  end: datetime) -> list[booking_rules.Control]:
    """The regulator's closures, capacity changes and extended hours at the gate that overlap
    ``[start, end)``, in the order they were made."""
    rows = session.scalars(select(GateControl).where(
        GateControl.gate == gate, GateControl.lifted_at.is_(None),
        GateControl.kind.in_(("closure", "capacity", "extended_hours")),
        GateControl.starts_at < end, GateControl.ends_at > start,
        (GateControl.direction.is_(None)) | (GateControl.direction == direction),
    ).order_by(GateControl.id)).all()
    return [booking_rules.Control(c.kind, c.starts_at, c.ends_at, c.vehicles_per_hour)
            for c in rows]


def capacities(session: Session, network: Network, gate: str, direction: str,
               starts: list[datetime]) -> list[int]:
    """The places of consecutive slots with the regulator's controls applied: 0 while the
    gate is closed, the hourly capacity set for a period instead of the network's, extended
    hours opening slots the calendar keeps closed."""
    g = network.gate(gate)
    flow = g.capacity_for(direction) if g else None  # type: ignore[arg-type]
    calendar = network.calendar(g.calendar) if g else None
    if g is None or flow is None or calendar is None or not starts:
        return [0] * len(starts)
    controls = controls_over(session, gate, direction, starts[0],
                             starts[-1] + timedelta(minutes=SLOT_MINUTES))
    out = []
    for start in starts:
        local_day = start.astimezone(LOCAL_TZ).date()
        out.append(booking_rules.controlled_capacity(calendar, flow, start, around(local_day),
                                                  controls, SLOT_MINUTES))
    return out


def capacity_at(session: Session, network: Network, gate: str, direction: str,
                start: datetime) -> int:
    """One slot's places with the regulator's controls applied (see :func:`capacities`)."""
    return capacities(session, network, gate, direction, [start])[0]


def _slot_row(session: Session, network: Network, gate: str, direction: str,
              start: datetime) -> GateSlot:
    """The counter row of a slot, created on first use with the capacity the network gives."""
    row = session.scalar(select(GateSlot).where(GateSlot.gate == gate,
                                                GateSlot.direction == direction,
                                                GateSlot.slot_start == start))
    if row is not None:
        return row
    capacity = capacity_at(session, network, gate, direction, start)
    try:
        with session.begin_nested():
            row = GateSlot(gate=gate, direction=direction, slot_start=start, capacity=capacity,
                           booked=0)
            session.add(row)
    except IntegrityError:  # created meanwhile by a concurrent booking
        row = session.scalars(select(GateSlot).where(
            GateSlot.gate == gate, GateSlot.direction == direction,
            GateSlot.slot_start == start)).one()
    return row


def _may_book(actor: Principal, row: Trip) -> bool:
    if actor.roles & {Role.REGULATOR, Role.ADMIN}:
        return True
    facts = row.state["facts"]
    if Role.DRIVER in actor.roles and actor.driver_document == facts["driver"]["document_number"]:
        return True
    return may_change_declaration(actor, facts["enterprise_tax_code"],
                                  facts.get("customs_agent_tax_code"))


def free_slots(session: Session, network: Network, gate: str, direction: str, day_start: datetime,
               count: int) -> list[dict[str, Any]]:
    """Slots from ``day_start`` on: capacity, booked and free places."""
    out = []
    start = booking_rules.slot_start(day_start, SLOT_MINUTES)
    rows = {r.slot_start: r for r in session.scalars(select(GateSlot).where(
        GateSlot.gate == gate, GateSlot.direction == direction, GateSlot.slot_start >= start,
        GateSlot.slot_start < start + timedelta(minutes=SLOT_MINUTES * count)))}
    for i in range(count):
        s = start + timedelta(minutes=SLOT_MINUTES * i)
        row = rows.get(s)
        capacity = row.capacity if row else capacity_at(session, network, gate, direction, s)
        booked = row.booked if row else 0
        out.append({"slot_start": s, "capacity": capacity, "booked": booked,
                    "free": max(0, capacity - booked)})
    return out


def _next_free(session: Session, network: Network, gate: str, direction: str,
               after: datetime) -> list[str]:
    hints = [s["slot_start"].astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
             for s in free_slots(session, network, gate, direction, after, 48) if s["free"]]
    return hints[:3]


def book(session: Session, trip_ref: str, start: datetime, *, actor: Principal,
         network: Network, now: datetime, kind: str = "requested") -> Booking:
    """Take one place in a slot of the trip's gate for the trip."""
    row = trips.get(session, trip_ref, actor=actor, network=network, for_update=True)
    if not _may_book(actor, row):
        raise Forbidden(msg("only the declaring enterprise, the trip's driver or the regulator "
                            "books its slot"))
    if start.tzinfo is None:
        raise ValidationFailed([FieldError("slot_start", msg("give a timezone, e.g. +07:00"))])
    if not booking_rules.is_aligned(start, SLOT_MINUTES):
        raise ValidationFailed([FieldError("slot_start", msg(
            "slots start every {minutes} minutes (e.g. 08:00, 08:30)", minutes=SLOT_MINUTES))])
    if start + timedelta(minutes=SLOT_MINUTES) <= now:
        raise ValidationFailed([FieldError("slot_start", msg("this slot is over"))])
    if start > now + timedelta(days=MAX_DAYS_AHEAD):
        raise ValidationFailed([FieldError("slot_start", msg("at most {days} days ahead",
                                                             days=MAX_DAYS_AHEAD))])
    barred = (None if kind == "rerouted" else
              standing.barred_until(session, row.plate_key, network.booking_rules, now))
    if barred is not None:
        rules = network.booking_rules
        raise Conflict(
            msg("vehicle {plate} may not book until {until}: {count} no-shows or late "
                "cancellations within {window} days bar it for {days} days (it can still come "
                "to the staging area and be queued without a booking)",
                plate=row.state["facts"]["plate"],
                until=f"{barred.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M}", count=rules.bar_after,
                window=rules.window_days, days=rules.bar_days),
            code="vehicle_barred")
    existing = session.scalar(select(Booking).where(Booking.plate_key == row.plate_key,
                                                    Booking.status == "active"))
    if existing is not None:
        raise Conflict(msg("vehicle {plate} already has a booking ({gate}, {slot}); move or "
                           "cancel it", plate=row.state["facts"]["plate"], gate=existing.gate,
                           slot=existing.slot_start.isoformat()), code="already_booked")
    slot = _slot_row(session, network, row.gate, row.flow, start)
    if slot.capacity == 0:
        free = _next_free(session, network, row.gate, row.flow, start)
        raise ValidationFailed([FieldError(
            "slot_start",
            msg("gate {gate} is closed then; free slots: {slots}", gate=row.gate, slots=free)
            if free else msg("gate {gate} is closed then; free slots: none", gate=row.gate))])
    taken = session.execute(
        update(GateSlot).where(GateSlot.id == slot.id, GateSlot.booked < GateSlot.capacity)
        .values(booked=GateSlot.booked + 1).execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        free = _next_free(session, network, row.gate, row.flow, start)
        raise Conflict(
            msg("this slot is full; free slots: {slots}", slots=free) if free
            else msg("this slot is full; free slots: none"),
            code="slot_full",
        )
    booking = Booking(trip_id=row.id, plate_key=row.plate_key,
                      gate=row.gate, direction=row.flow, slot_start=start, status="active",
                      kind=kind, created_at=now, created_by=actor.username)
    session.add(booking)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(msg("the vehicle was booked at the same moment by another request"),
                       code="already_booked") from None
    trips.append_event(session, row, domain.Event(
        "trip.booked", now, actor.username,
        {"booking_id": booking.id, "gate": row.gate, "slot_start": start.isoformat(),
         "kind": kind}), actor=actor, source="api", now=now)
    return booking


def release(session: Session, row: Trip, *, actor: Principal, now: datetime,
            reason: str, late_rules: BookingRules | None = None,
            cause: str | None = None) -> Booking | None:
    """Give the trip's place back (cancelled trip, cancelled or moved booking). With
    ``late_rules`` (the holder gives the place back), doing so shortly before the slot is
    recorded as a late cancellation against the vehicle. ``cause`` names the event the release
    is part of (``trip_cancelled``, ``rerouted``), whose own notice then tells the driver."""
    booking = session.scalar(select(Booking).where(Booking.trip_id == row.id,
                                                   Booking.status == "active")
                             .with_for_update())
    if booking is None:
        return None
    session.execute(
        update(GateSlot).where(GateSlot.gate == booking.gate,
                               GateSlot.direction == booking.direction,
                               GateSlot.slot_start == booking.slot_start)
        .values(booked=GateSlot.booked - 1).execution_options(synchronize_session=False)
    )
    booking.status = "cancelled"
    booking.ended_at = now
    booking.end_reason = reason
    session.flush()
    if late_rules is not None and is_late_cancellation(booking.slot_start, now, late_rules):
        standing.record(session, row, "late_cancellation", at=now,
                        detail=f"booking for {booking.gate} "
                               f"{booking.slot_start.astimezone(LOCAL_TZ):%Y-%m-%d %H:%M} "
                               f"cancelled at {now.astimezone(LOCAL_TZ):%H:%M}: {reason}")
    if row.state.get("booking"):
        trips.append_event(session, row, domain.Event(
            "trip.unbooked", now, actor.username,
            {"booking_id": booking.id, "reason": reason, **({"cause": cause} if cause else {})}),
            actor=actor, source="api", now=now)
    return booking


def give_back_before_trip_change(change: TripChange) -> None:
    """Trip handler (before the event): a trip being cancelled, or amended to another gate or
    direction, gives its booked place back first, so ``trip.unbooked`` precedes the event."""
    event, row = change.event, change.row
    if event.type == "trip.cancelled":
        release(change.session, row, actor=change.actor, now=change.now,
                reason=f"trip cancelled: {event.payload['reason']}", cause="trip_cancelled",
                late_rules=change.late_rules)
    elif (event.type == "trip.amended" and row.state.get("booking")
          and (row.gate, row.flow) != (event.payload["gate"], event.payload["flow"])):
        release(change.session, row, actor=change.actor, now=change.now,
                reason="the declaration changed gate or direction")


def cancel(session: Session, trip_ref: str, *, actor: Principal, network: Network,
           now: datetime, reason: str) -> Booking:
    row = trips.get(session, trip_ref, actor=actor, network=network, for_update=True)
    if not _may_book(actor, row):
        raise Forbidden(msg("only the declaring enterprise, the trip's driver or the regulator "
                            "cancels its booking"))
    holder = not actor.roles & {Role.REGULATOR, Role.ADMIN}
    booking = release(session, row, actor=actor, now=now, reason=reason,
                      late_rules=network.booking_rules if holder else None)
    if booking is None:
        raise NotFound(msg("the trip has no active booking"))
    return booking


def move(session: Session, trip_ref: str, start: datetime, *, actor: Principal,
         network: Network, now: datetime) -> Booking:
    """Cancel the current booking and take the new slot, in one transaction (all or nothing),
    audited as one change (``booking.move``, the slot before and after)."""
    row = trips.get(session, trip_ref, actor=actor, network=network, for_update=True)
    if not _may_book(actor, row):
        raise Forbidden(msg("only the declaring enterprise, the trip's driver or the regulator "
                            "moves its booking"))
    old = release(session, row, actor=actor, now=now, reason="moved")
    new = book(session, trip_ref, start, actor=actor, network=network, now=now)
    def held(b: Booking) -> dict[str, Any]:
        return {"booking": b.id, "gate": b.gate,
                "slot_start": b.slot_start.astimezone(UTC).isoformat()}

    audit.record(session, actor=actor, action="booking.move", target_type="trip",
                 target_id=row.reference, at=now, before=held(old) if old else None,
                 after=held(new))
    return new


def status(session: Session, trip_ref: str, *, actor: Principal, network: Network
           ) -> dict[str, Any]:
    """The trip's booking, its position in the gate's queue and the estimated call time."""
    row = trips.get(session, trip_ref, actor=actor, network=network)
    booking = session.scalar(select(Booking).where(Booking.trip_id == row.id,
                                                   Booking.status == "active"))
    if booking is None:
        raise NotFound(msg("the trip has no active booking"))
    ahead = session.scalar(
        select(func.count()).select_from(Booking).join(Trip, Trip.id == Booking.trip_id).where(
            Booking.gate == booking.gate, Booking.direction == booking.direction,
            Booking.status == "active",
            Trip.status.in_(("declared", "at_staging")),
            (Booking.slot_start < booking.slot_start)
            | ((Booking.slot_start == booking.slot_start) & (Booking.id < booking.id)),
        )
    ) or 0
    return {"booking_id": booking.id, "trip": row.reference, "gate": booking.gate,
            "direction": booking.direction, "slot_start": booking.slot_start,
            "slot_end": booking.slot_start + timedelta(minutes=SLOT_MINUTES),
            "kind": booking.kind, "position": ahead + 1,
            "estimated_call": booking.slot_start, "created_at": booking.created_at}
