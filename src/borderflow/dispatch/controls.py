"""Regulator controls over a gate for a period: close it, change its hourly capacity, extend
its working hours, pause call-forward. Each control is audited, takes effect at once (bookings
in closed slots are released, trucks called to a closed or paused gate are recalled, slot
capacities follow) and is followed by a dispatcher cycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.booking import service as bookings
from borderflow.dispatch import service as dispatcher
from borderflow.domain import booking as booking_rules
from borderflow.domain import notify as notices
from borderflow.domain import trip as domain
from borderflow.domain.access import Principal
from borderflow.domain.network import Network
from borderflow.errors import FieldError, NotFound, ValidationFailed, msg
from borderflow.notify import outbox
from borderflow.store.models import Booking, GateControl, GateSlot, Trip
from borderflow.trip import service as trips

Kind = Literal["closure", "capacity", "pause", "extended_hours"]


@dataclass
class ControlEffects:
    bookings_released: list[str]
    trips_recalled: list[str]
    cycle: dispatcher.CycleReport
    trips_told: list[str] = field(default_factory=list)
    """Waiting trucks told that their expected call moved (each once per control)."""


Expected = dict[str, tuple[str, str, datetime | None, datetime | None]]
"""Waiting trucks by trip id: gate, direction, booked slot, expected call."""


def _expected(session: Session, network: Network, gate: str, now: datetime) -> Expected:
    return {w.trip_id: (w.gate, w.direction, w.booked_slot, at)
            for w, at in dispatcher.expected_calls(session, network, now, gate)}


def _as_told(c: GateControl) -> notices.Control:
    return notices.Control(c.id, c.gate, c.direction, c.kind, c.reason, c.ends_at)


def _tell_waiting(session: Session, network: Network, control: GateControl, before: Expected,
                  told: set[str], now: datetime) -> list[str]:
    """Tell the trucks that waited for the gate that their expected call moved (the rule:
    :func:`borderflow.domain.notify.affected_by_control`)."""
    after = _expected(session, network, control.gate, now)
    queued = [notices.Queued(trip_id, gate, direction, was,
                             after[trip_id][3] if trip_id in after else None, slot)
              for trip_id, (gate, direction, slot, was) in before.items()]
    out = []
    for q in notices.affected_by_control(_as_told(control), queued, told):
        row = session.get(Trip, q.trip_id)
        if row is None or row.status != "at_staging" or row.gate != control.gate:
            continue
        if outbox.enqueue_control(session, row, _as_told(control), q, now=now):
            out.append(row.reference)
    return out


def _snapshot(c: GateControl) -> dict[str, object]:
    return {"gate": c.gate, "direction": c.direction, "kind": c.kind,
            "vehicles_per_hour": c.vehicles_per_hour, "starts_at": c.starts_at.isoformat(),
            "ends_at": c.ends_at.isoformat(), "reason": c.reason,
            "lifted_at": c.lifted_at.isoformat() if c.lifted_at else None}


def _directions(network: Network, gate: str, direction: str | None) -> list[str]:
    g = network.gate(gate)
    assert g is not None  # noqa: S101  (checked by the caller)
    return [d for d in g.directions if direction in (None, d)]


def _apply(session: Session, network: Network, control: GateControl, *, actor: Principal,
           now: datetime, before: Expected | None = None) -> ControlEffects:
    """Bring slots, bookings and called trucks in line with the controls now in force; with
    ``before`` (the waiting trucks' expected calls before the control), tell those whose call
    it moved."""
    released: list[str] = []
    recalled: list[str] = []
    for direction in _directions(network, control.gate, control.direction):
        slots = session.scalars(select(GateSlot).where(
            GateSlot.gate == control.gate, GateSlot.direction == direction,
            GateSlot.slot_start >= control.starts_at, GateSlot.slot_start < control.ends_at,
        ).with_for_update()).all()
        for slot in slots:
            capacity = bookings.capacity_at(session, network, control.gate, direction,
                                            slot.slot_start)
            if capacity == 0 and slot.slot_start >= now:
                for b in session.scalars(select(Booking).where(
                        Booking.gate == control.gate, Booking.direction == direction,
                        Booking.slot_start == slot.slot_start, Booking.status == "active")):
                    row = session.get(Trip, b.trip_id)
                    if row is not None:
                        bookings.release(session, row, actor=actor, now=now,
                                         reason=f"gate {control.gate} closed: {control.reason}")
                        released.append(row.reference)
                session.refresh(slot)
            slot.capacity = max(capacity, slot.booked)
        session.flush()
        stopped = dispatcher.paused(session, control.gate, direction, now) or (
            bookings.capacity_at(session, network, control.gate, direction,
                                 booking_rules.slot_start(now)) == 0
        )
        if not stopped:
            continue
        for row in session.scalars(select(Trip).where(
                Trip.gate == control.gate, Trip.flow == direction, Trip.status == "called")):
            trips.append_event(session, row, domain.Event(
                "trip.recalled", now, actor.username,
                {"reason": control.reason, "control": control.id,
                 "control_kind": control.kind, "until": control.ends_at.isoformat()}),
                actor=actor, source="regulator", now=now)
            recalled.append(row.reference)
    cycle = dispatcher.run_cycle(session, network, now)
    effects = ControlEffects(released, recalled, cycle)
    if before:
        told = {r.id for r in session.scalars(select(Trip).where(Trip.reference.in_(
            recalled + [c["trip"] for c in cycle.called]
            + [r["trip"] for r in cycle.rerouted])))}
        effects.trips_told = _tell_waiting(session, network, control, before, told, now)
    return effects


def create(session: Session, network: Network, *, gate: str, direction: str | None, kind: Kind,
           starts_at: datetime, ends_at: datetime, vehicles_per_hour: int | None, reason: str,
           actor: Principal, now: datetime) -> tuple[GateControl, ControlEffects]:
    errors: list[FieldError] = []
    g = network.gate(gate)
    if g is None:
        raise NotFound(msg("no gate '{code}'", code=gate), field="gate")
    if direction is not None and direction not in g.directions:
        errors.append(FieldError("direction", msg("gate {gate} does not take {direction} traffic",
                                                   gate=gate, direction=direction)))
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        errors.append(FieldError("starts_at", msg("give times with a timezone, e.g. +07:00")))
    elif ends_at <= starts_at:
        errors.append(FieldError("ends_at", msg("must be after the start")))
    elif ends_at <= now:
        errors.append(FieldError("ends_at", msg("is already past")))
    if kind == "capacity" and (vehicles_per_hour is None or vehicles_per_hour < 0):
        errors.append(FieldError("vehicles_per_hour", msg("give the hourly capacity (0 or more)")))
    if kind not in ("capacity", "extended_hours") and vehicles_per_hour is not None:
        errors.append(FieldError("vehicles_per_hour",
                                 msg("only capacity and extended-hours controls have one")))
    if len(reason.strip()) < 3:
        errors.append(FieldError("reason", msg("say why (at least 3 characters)")))
    if errors:
        raise ValidationFailed(errors)
    before = _expected(session, network, gate, now)
    control = GateControl(gate=gate, direction=direction, kind=kind,
                          vehicles_per_hour=vehicles_per_hour, starts_at=starts_at,
                          ends_at=ends_at, reason=reason.strip(), created_by=actor.username,
                          created_at=now)
    session.add(control)
    session.flush()
    audit.record(session, actor=actor, action=f"gate_control.{kind}", target_type="gate",
                 target_id=gate, at=now, after={"control": control.id, **_snapshot(control)})
    return control, _apply(session, network, control, actor=actor, now=now, before=before)


def lift(session: Session, network: Network, control_id: int, *, actor: Principal,
         now: datetime) -> tuple[GateControl, ControlEffects]:
    control = session.get(GateControl, control_id)
    if control is None:
        raise NotFound(msg("no gate control {number}", number=str(control_id)))
    before = _snapshot(control)
    if control.lifted_at is None:
        control.lifted_at = now
        session.flush()
        audit.record(session, actor=actor, action="gate_control.lift", target_type="gate",
                     target_id=control.gate, at=now, before=before, after=_snapshot(control))
    return control, _apply(session, network, control, actor=actor, now=now)


def active(session: Session, now: datetime) -> list[GateControl]:
    return list(session.scalars(select(GateControl).where(
        GateControl.lifted_at.is_(None), GateControl.ends_at > now).order_by(
        GateControl.starts_at, GateControl.id)).all())
