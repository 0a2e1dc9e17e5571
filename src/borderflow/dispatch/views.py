"""What the control room reads: the orders the dispatcher issued lately, the alerts (trips on
hold, silent devices, plate reads to review), trucks crossed per hour and trucks in the staging
parks per hour today. Read models only; the console page shapes them."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow.clock import LOCAL_TZ
from borderflow.domain.access import Principal
from borderflow.domain.trip import parse_time
from borderflow.store.models import Trip, TripEvent
from borderflow.telemetry import cameras
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
             for r in session.scalars(select(Trip).where(Trip.on_hold.is_(True))
                                      .order_by(Trip.updated_at))]
    silent = [{"device": d["id"], "trip": d["trip"], "last_seen_at": d["last_seen_at"]}
              for d in telemetry.silent_devices(session, now=now, silent_after=silent_after)]
    reads = [{"plate": read.raw_plate, "camera": camera.code, "gate": camera.gate,
              "at": read.read_at}
             for read, camera, _ in cameras.review_queue(session, actor=actor, limit=20)]
    return {"holds": holds, "silent_devices": silent, "plate_reads": reads}


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


def park_queue_by_hour(session: Session, now: datetime) -> list[int]:
    """Trucks in the staging parks at the end of each hour of today (Lang Son time), from the
    entries and exits in the event log; hours still to come are left at 0."""
    start = datetime.combine(now.astimezone(LOCAL_TZ).date(), time(0), tzinfo=LOCAL_TZ)
    moves = session.execute(
        select(TripEvent.occurred_at, TripEvent.type, TripEvent.payload["area"].as_string())
        .where(TripEvent.type.in_(("area.entered", "area.left")),
               TripEvent.occurred_at < start + timedelta(days=1))
        .order_by(TripEvent.occurred_at)).all()
    hours = [0] * 24
    inside = 0
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
