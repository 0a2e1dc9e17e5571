"""What the control room reads: the orders the dispatcher issued lately, the alerts (trips on
hold, silent devices, plate reads to review), trucks crossed per hour and trucks in the staging
parks per hour today, and what a control did when it was applied. Read models only; the
console page shapes them. Each reads today's rows or a bounded few through an index: never the
whole history."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select, true
from sqlalchemy.orm import Session

from borderflow.clock import LOCAL_TZ
from borderflow.domain.access import Principal
from borderflow.domain.network import Network
from borderflow.domain.trip import parse_time
from borderflow.store.models import Booking, Camera, GateControl, PlateRead, Trip, TripEvent
from borderflow.telemetry import service as telemetry


def recent_orders(session: Session, now: datetime, limit: int = 15) -> list[dict[str, Any]]:
    """The calls of the last 24 hours, newest first."""
    rows = session.execute(
        select(TripEvent.occurred_at, TripEvent.payload, Trip.reference, Trip.gate)
        .join(Trip, Trip.id == TripEvent.trip_id)
        .where(TripEvent.type == "trip.called", TripEvent.occurred_at >= now - timedelta(hours=24))
        .order_by(TripEvent.id.desc()).limit(limit)).all()
    # a call made by hand names no gate: the trip's own
    return [{"at": at, "trip": ref, "gate": payload.get("gate") or gate,
             "yard": payload.get("yard"),
             "arrive_by": parse_time(payload["arrive_by"]) if payload.get("arrive_by") else None}
            for at, payload, ref, gate in rows]


def alerts(session: Session, *, actor: Principal, now: datetime,
           silent_after: timedelta) -> dict[str, list[dict[str, Any]]]:
    """Trips on hold (longest held first), devices silent for ``silent_after`` and plate reads
    waiting for review."""
    holds = [{"trip": r.reference, "gate": r.gate, "plate": r.state["facts"]["plate"],
              "state": r.state,
              "steps": [c for c, s in r.state["steps"].items() if s["status"] == "held"]}
             for r in session.scalars(select(Trip).where(Trip.on_hold == true())  # its index
                                      .order_by(Trip.updated_at))]
    silent = [{"device": d["id"], "trip": d["trip"], "last_seen_at": d["last_seen_at"]}
              for d in telemetry.silent_devices(session, now=now, silent_after=silent_after)]
    return {"holds": holds, "silent_devices": silent,
            "plate_reads": plate_reads_waiting(session, actor=actor, limit=5)}


def plate_reads_waiting(session: Session, *, actor: Principal, limit: int = 5
                        ) -> list[dict[str, Any]]:
    """The oldest plate reads waiting for review at the gates the caller works at (one
    query, through the review queue's index; the trips each may be are read on the review
    page)."""
    q = (select(PlateRead.id, PlateRead.raw_plate, PlateRead.gate, PlateRead.read_at,
                Camera.code)
         .join(Camera, Camera.id == PlateRead.camera_id).where(PlateRead.status == "review"))
    if actor.gate_scope:
        q = q.where(PlateRead.gate.in_(sorted(actor.gate_scope)))
    return [{"id": i, "plate": plate, "gate": gate, "at": at, "camera": camera}
            for i, plate, gate, at, camera in session.execute(
                q.order_by(PlateRead.read_at, PlateRead.id).limit(limit))]


def plate_reads_count(session: Session, *, actor: Principal) -> int:
    q = select(func.count()).select_from(PlateRead).where(PlateRead.status == "review")
    if actor.gate_scope:
        q = q.where(PlateRead.gate.in_(sorted(actor.gate_scope)))
    return int(session.scalar(q) or 0)


def control_made(session: Session, control_id: int) -> dict[str, Any] | None:
    """A gate control and what applying it did, read back from the records written in the
    same moment: trucks recalled from the gate, trucks the dispatcher re-routed away from it,
    bookings released in its closed slots (the references)."""
    c = session.get(GateControl, control_id)
    if c is None:
        return None
    at = c.created_at
    recalled = session.scalars(
        select(Trip.reference).join(TripEvent, TripEvent.trip_id == Trip.id)
        .where(TripEvent.occurred_at == at, TripEvent.type == "trip.recalled",
               or_(TripEvent.payload["control"].as_integer() == c.id,
                   TripEvent.payload["reason"].as_string()
                   == f"gate {c.gate} {c.kind}: {c.reason}"))
        .order_by(Trip.reference)).all()
    rerouted = session.execute(
        select(Trip.reference, TripEvent.payload["gate"].as_string())
        .join(TripEvent, TripEvent.trip_id == Trip.id)
        .where(TripEvent.occurred_at == at, TripEvent.type == "trip.rerouted",
               TripEvent.payload["from_gate"].as_string() == c.gate)
        .order_by(Trip.reference)).all()
    released = session.scalars(
        select(Trip.reference).join(Booking, Booking.trip_id == Trip.id)
        .where(Booking.gate == c.gate, Booking.ended_at == at,
               Booking.end_reason == f"gate {c.gate} closed: {c.reason}")
        .order_by(Trip.reference)).all()
    return {"id": c.id, "gate": c.gate, "kind": c.kind, "direction": c.direction,
            "starts_at": c.starts_at, "ends_at": c.ends_at, "lifted_at": c.lifted_at,
            "reason": c.reason, "created_by": c.created_by, "recalled": list(recalled),
            "rerouted": [{"trip": ref, "gate": gate} for ref, gate in rerouted],
            "released": list(released)}


def crossings_per_hour(session: Session, now: datetime) -> list[int]:
    """Trucks that crossed in each hour of today (Lang Son time), 24 numbers."""
    start = datetime.combine(now.astimezone(LOCAL_TZ).date(), time(0), tzinfo=LOCAL_TZ)
    hours = [0] * 24
    for (at,) in session.execute(
            select(TripEvent.occurred_at).where(
                TripEvent.type == "step.passed", TripEvent.occurred_at >= start,
                TripEvent.occurred_at < start + timedelta(days=1),
                TripEvent.payload["step"].as_string() == "crossing")).all():
        hours[at.astimezone(LOCAL_TZ).hour] += 1
    return hours


def park_queue_by_hour(session: Session, network: Network, now: datetime) -> list[int]:
    """Trucks in the staging parks at the end of each hour of today (Lang Son time): those
    inside now (counted through the index of locations, the network's parks by name, never
    a pattern that reads every trip), less today's entries and plus today's exits give those
    inside at midnight, then today's moves hour by hour (today's events only, never the
    history); hours still to come are left at 0."""
    start = datetime.combine(now.astimezone(LOCAL_TZ).date(), time(0), tzinfo=LOCAL_TZ)
    moves = session.execute(
        select(TripEvent.occurred_at, TripEvent.type, TripEvent.payload["area"].as_string())
        .where(TripEvent.type.in_(("area.entered", "area.left")),
               TripEvent.occurred_at >= start, TripEvent.occurred_at <= now)
        .order_by(TripEvent.occurred_at)).all()
    parks = [f"staging:{s.code}" for s in network.staging_areas]
    inside = int(session.scalar(select(func.count()).select_from(Trip)
                                .where(Trip.location.in_(parks))) or 0)
    for _at, kind, area in moves:
        if area and area.startswith("staging:"):
            inside -= 1 if kind == "area.entered" else -1
    hours = [0] * 24
    i = 0
    for h in range(24):
        end = start + timedelta(hours=h + 1)
        while i < len(moves) and moves[i][0] < end:
            _at, kind, area = moves[i]
            if area and area.startswith("staging:"):
                inside += 1 if kind == "area.entered" else -1
            i += 1
        if end - timedelta(hours=1) <= now:
            hours[h] = max(inside, 0)
    return hours
