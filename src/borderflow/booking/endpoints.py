"""HTTP API of bookings: a gate's free places per slot, and a trip's booking (book, move,
cancel, read with its queue position)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from borderflow.api.deps import Ctx, Db, require, roles_doc
from borderflow.api.errors import ERROR_RESPONSES
from borderflow.api.idempotency import Idem
from borderflow.booking import service as booking
from borderflow.booking.schemas import BookingIn, BookingOut, SlotOut
from borderflow.domain.access import Principal
from borderflow.errors import FieldError, ValidationFailed
from borderflow.network import service as networks
from borderflow.trip.endpoints import WRITE_ERRORS, Public, Reader, TripId

router = APIRouter(prefix="/api/v1", tags=["bookings"], responses=ERROR_RESPONSES)

Booker = Annotated[Principal, Depends(require("booking.manage"))]


@router.get("/gates/{gate}/slots", response_model=list[SlotOut], tags=["bookings"],
            summary="Places in a gate's time slots",
            description="Capacity (the gate's hourly capacity over the slot's open minutes), "
            "booked and free places, from `from` (default: now) for `count` slots."
            + roles_doc("occupancy.read"))
def gate_slots(
    gate: str, ctx: Ctx, db: Db, _caller: Public,
    direction: Literal["export", "import"],
    start: Annotated[datetime | None, Query(alias="from")] = None,
    count: Annotated[int, Query(ge=1, le=96)] = 48,
) -> list[dict[str, Any]]:
    network = networks.in_force(db, ctx.clock.now())
    if network.gate(gate) is None:
        raise ValidationFailed([FieldError("gate", f"unknown gate '{gate}'")])
    when = start or ctx.clock.now()
    if when.tzinfo is None:
        raise ValidationFailed([FieldError("from", "give a timezone, e.g. +07:00")])
    return booking.free_slots(db, network, gate, direction, when, count)


@router.get("/trips/{trip_id}/booking", response_model=BookingOut, tags=["bookings"],
            responses={404: WRITE_ERRORS[404]}, summary="The trip's booking and queue position",
            description="Gate, slot, place in the queue and estimated call time."
            + roles_doc("trip.read"))
def read_booking(trip_id: TripId, ctx: Ctx, db: Db, actor: Reader) -> dict[str, Any]:
    return booking.status(db, trip_id, actor=actor, network=networks.in_force(db, ctx.clock.now()))


@router.post("/trips/{trip_id}/booking", response_model=BookingOut, status_code=201,
             tags=["bookings"], responses=WRITE_ERRORS, summary="Book a slot for the trip",
             description="One place in a 30-minute slot of the trip's gate. A full slot gives "
             "409 `slot_full` with the next free slots; a vehicle has at most one booking (409 "
             "`already_booked`). Under any number of simultaneous requests a slot never takes "
             "more bookings than it has places." + roles_doc("booking.manage"))
def create_booking(trip_id: TripId, body: BookingIn, ctx: Ctx, db: Db, actor: Booker,
                   idem: Idem) -> Response:
    return _take_slot(booking.book, trip_id, body, ctx, db, actor, idem, 201)


def _take_slot(action: Any, trip_id: str, body: BookingIn, ctx: Ctx, db: Db, actor: Principal,
               idem: Any, status_code: int) -> Response:
    """Book or move (``action``), then answer with the booking and its queue position."""
    if (replayed := idem.replay()) is not None:
        return replayed  # type: ignore[no-any-return]
    network = networks.in_force(db, ctx.clock.now())
    action(db, trip_id, body.slot_start, actor=actor, network=network, now=ctx.clock.now())
    out = BookingOut.model_validate(booking.status(db, trip_id, actor=actor, network=network))
    response: Response = idem.respond(out.model_dump(mode="json"), status_code)
    return response


@router.put("/trips/{trip_id}/booking", response_model=BookingOut, tags=["bookings"],
            responses=WRITE_ERRORS, summary="Move the trip's booking to another slot",
            description="All or nothing: if the new slot is full the old booking stays."
            + roles_doc("booking.manage"))
def move_booking(trip_id: TripId, body: BookingIn, ctx: Ctx, db: Db, actor: Booker,
                 idem: Idem) -> Response:
    return _take_slot(booking.move, trip_id, body, ctx, db, actor, idem, 200)


@router.delete("/trips/{trip_id}/booking", status_code=204, tags=["bookings"],
               responses=WRITE_ERRORS, summary="Cancel the trip's booking",
               description="The place goes back to the slot." + roles_doc("booking.manage"))
def cancel_booking(trip_id: TripId, ctx: Ctx, db: Db, actor: Booker) -> Response:
    now = ctx.clock.now()
    booking.cancel(db, trip_id, actor=actor, network=networks.in_force(db, now), now=now,
                   reason="cancelled by " + actor.username)
    return Response(status_code=204)
