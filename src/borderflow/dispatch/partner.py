"""The partner side's yard counts: how many vehicles wait in its yard at each gate.

The two sides exchange these counts every day (the daily bulletin); a regulator can also record
one by hand, e.g. after a call with the partner gate. The latest count of a gate and direction
is used for planning for the gate's ``partner_report_hours``: together with the partner yard's
capacity (from the count, or else from the network) it limits how many export trucks the
dispatcher sends to that gate.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.domain.access import Principal
from borderflow.domain.dispatch import count_in_use, partner_room
from borderflow.domain.network import Network
from borderflow.errors import FieldError, ValidationFailed, msg
from borderflow.store.models import PartnerYardCount, Trip, TripEvent

MAX_AGE_FOR_NEW_COUNTS = timedelta(days=7)


def record(session: Session, network: Network, *, gate: str, direction: str, vehicles: int,
           capacity: int | None, counted_at: datetime, note: str | None, source: str,
           actor: Principal, now: datetime) -> PartnerYardCount:
    """Keep one count (audited). Refuses unknown gates and counts from the future or older
    than a week."""
    errors = []
    if network.gate(gate) is None:
        errors.append(FieldError("gate", msg("no gate '{code}' in the network in force",
                                              code=gate)))
    if counted_at > now + timedelta(minutes=5):
        errors.append(FieldError("counted_at", msg("is in the future")))
    elif counted_at < now - MAX_AGE_FOR_NEW_COUNTS:
        errors.append(FieldError("counted_at", msg("is more than 7 days ago")))
    if capacity is not None and vehicles > capacity * 3:
        errors.append(FieldError("vehicles", msg("{vehicles} is more than three times the "
                                                 "yard's capacity ({capacity}); check the "
                                                 "figures", vehicles=vehicles,
                                                 capacity=capacity)))
    if errors:
        raise ValidationFailed(errors)
    row = PartnerYardCount(gate=gate, direction=direction, vehicles=vehicles, capacity=capacity,
                           counted_at=counted_at, source=source, note=note,
                           recorded_by=actor.username, recorded_at=now)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="partner_yard.recorded",
                 target_type="gate", target_id=gate, at=now, before=None,
                 after={"id": row.id, "direction": direction, "vehicles": vehicles,
                        "capacity": capacity, "counted_at": counted_at.isoformat(),
                        "source": source})
    return row


def latest(session: Session, network: Network, now: datetime
           ) -> dict[tuple[str, str], PartnerYardCount]:
    """The latest count of every gate and direction still in use for planning."""
    newest = (select(PartnerYardCount.gate, PartnerYardCount.direction,
                     func.max(PartnerYardCount.id).label("id"))
              .where(PartnerYardCount.counted_at <= now)
              .group_by(PartnerYardCount.gate, PartnerYardCount.direction).subquery())
    rows = session.scalars(select(PartnerYardCount).join(
        newest, PartnerYardCount.id == newest.c.id)).all()
    out = {}
    for row in rows:
        gate = network.gate(row.gate)
        if gate is None:
            continue
        if count_in_use(row.counted_at, now, gate.regulation.partner_report_hours):
            out[(row.gate, row.direction)] = row
    return out


def history(session: Session, gate: str, limit: int = 50) -> list[PartnerYardCount]:
    return list(session.scalars(select(PartnerYardCount).where(PartnerYardCount.gate == gate)
                                .order_by(PartnerYardCount.counted_at.desc(),
                                          PartnerYardCount.id.desc()).limit(limit)))


def capacity_of(network: Network, row: PartnerYardCount) -> int | None:
    if row.capacity is not None:
        return row.capacity
    gate = network.gate(row.gate)
    return gate.partner.yard_capacity if gate else None


def export_room(session: Session, network: Network, now: datetime) -> dict[str, int]:
    """Free places in the partner side's yard per gate for our export trucks: its capacity
    less the vehicles it counted and the trucks we called to that gate since. Gates without a
    usable count (none recent, or the partner yard's capacity unknown) are absent."""
    counts = {gate: row for (gate, direction), row in latest(session, network, now).items()
              if direction == "export"}
    if not counts:
        return {}
    since = min(row.counted_at for row in counts.values())
    sent: Counter[str] = Counter()
    for gate, at in session.execute(
            select(Trip.gate, TripEvent.occurred_at).join(Trip, Trip.id == TripEvent.trip_id).where(
                TripEvent.type == "trip.called", TripEvent.occurred_at >= since,
                Trip.flow == "export", Trip.gate.in_(counts))).all():
        if at >= counts[gate].counted_at:
            sent[gate] += 1
    out = {}
    for gate, row in counts.items():
        room = partner_room(row.vehicles, capacity_of(network, row), sent[gate])
        if room is not None:
            out[gate] = room
    return out
