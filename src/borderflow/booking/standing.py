"""Offences of a vehicle (no-shows, late cancellations) and the bar from booking they lead to,
by the network's booking rules. A regulator may pardon an offence; pardons are audited."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.domain import booking as rules
from borderflow.domain.access import Principal
from borderflow.domain.network import BookingRules
from borderflow.domain.values import parse_plate
from borderflow.errors import FieldError, NotFound, ValidationFailed, msg, reason_of
from borderflow.store.models import Trip, VehicleOffence


def record(session: Session, row: Trip, kind: str, *, at: datetime, detail: str) -> None:
    session.add(VehicleOffence(plate_key=row.plate_key, kind=kind, trip_id=row.id, at=at,
                               detail=detail))
    session.flush()


def _offences(session: Session, plate_key: str) -> list[VehicleOffence]:
    return list(session.scalars(select(VehicleOffence).where(
        VehicleOffence.plate_key == plate_key).order_by(VehicleOffence.at,
                                                        VehicleOffence.id)).all())


def barred_until(session: Session, plate_key: str, booking_rules: BookingRules,
                 now: datetime) -> datetime | None:
    since = now - timedelta(days=booking_rules.window_days + booking_rules.bar_days)
    times = session.scalars(select(VehicleOffence.at).where(
        VehicleOffence.plate_key == plate_key, VehicleOffence.pardoned_at.is_(None),
        VehicleOffence.at > since)).all()
    return rules.barred_until(times, booking_rules, now)


def _plate_key(plate: str) -> str:
    try:
        return parse_plate(plate).key
    except ValueError as exc:
        reason = reason_of(exc)
        raise ValidationFailed([FieldError("plate", reason)]) from None


def standing(session: Session, plate: str, booking_rules: BookingRules,
             now: datetime) -> dict[str, Any]:
    """A vehicle's offences and whether it may book now."""
    key = _plate_key(plate)
    until = barred_until(session, key, booking_rules, now)
    return {
        "plate_key": key,
        "barred_until": until,
        "may_book": until is None,
        "rules": {"bar_after": booking_rules.bar_after, "window_days": booking_rules.window_days,
                  "bar_days": booking_rules.bar_days,
                  "late_cancellation_minutes": booking_rules.late_cancellation_minutes},
        "offences": [
            {"id": o.id, "kind": o.kind, "at": o.at, "detail": o.detail,
             "trip": session.scalar(select(Trip.reference).where(Trip.id == o.trip_id)),
             "pardoned_at": o.pardoned_at, "pardoned_by": o.pardoned_by,
             "pardon_reason": o.pardon_reason}
            for o in _offences(session, key)
        ],
    }


def pardon(session: Session, plate: str, offence_id: int, reason: str, *, actor: Principal,
           now: datetime) -> VehicleOffence:
    key = _plate_key(plate)
    offence = session.get(VehicleOffence, offence_id)
    if offence is None or offence.plate_key != key:
        raise NotFound(msg("vehicle {plate} has no offence {offence}", plate=plate,
                           offence=str(offence_id)))
    if not reason.strip():
        raise ValidationFailed([FieldError("reason", msg("say why the offence is pardoned"))])
    if offence.pardoned_at is None:
        offence.pardoned_at = now
        offence.pardoned_by = actor.username
        offence.pardon_reason = reason.strip()
        session.flush()
        audit.record(session, actor=actor, action="vehicle.pardon", target_type="vehicle",
                     target_id=key, at=now,
                     after={"offence": offence.id, "kind": offence.kind,
                            "reason": offence.pardon_reason})
    return offence
