"""The figures of the regulator's console: a schematic of the network drawn from the
reference data, the orders the dispatcher issued lately, the alerts, and trucks per hour."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow.clock import LOCAL_TZ
from borderflow.domain.access import Principal
from borderflow.domain.network import Network
from borderflow.store.models import Trip, TripEvent
from borderflow.telemetry import cameras
from borderflow.telemetry import service as telemetry
from borderflow.web.board import fill_percent

WIDTH, HEIGHT, PAD = 640, 420, 40


@dataclass(frozen=True)
class Node:
    code: str
    kind: str  # park | gate
    label: str
    x: float
    y: float
    vehicles: int
    capacity: int

    @property
    def fill(self) -> int:
        return fill_percent(self.vehicles, self.capacity)

    @property
    def level(self) -> str:
        """low, high or full: the colour of the node on the map."""
        return "full" if self.fill >= 90 else "high" if self.fill >= 60 else "low"


def schematic(network: Network, occupancy: list[dict[str, Any]],
              name: Any) -> list[Node]:
    """Parks and gates placed by their coordinates (no map tiles), with counts and fill
    levels. ``name`` turns a vi/en/zh name into the page's language."""
    counts = {o["area"]: o for o in occupancy}
    places = [(f"staging:{s.code}", "park", name(s.name), s.location.lat, s.location.lon,
               s.capacity) for s in network.staging_areas]
    places += [(f"gate_area:{g.code}", "gate", name(g.name), g.location.lat, g.location.lon,
                sum(y.capacity for y in g.yards)) for g in network.gates]
    if not places:
        return []
    lats = [p[3] for p in places]
    lons = [p[4] for p in places]
    span_lat = (max(lats) - min(lats)) or 1.0
    span_lon = (max(lons) - min(lons)) or 1.0
    out = []
    for area, kind, label, lat, lon, capacity in places:
        x = PAD + (lon - min(lons)) / span_lon * (WIDTH - 2 * PAD)
        y = PAD + (max(lats) - lat) / span_lat * (HEIGHT - 2 * PAD)
        out.append(Node(area.split(":", 1)[1], kind, label, round(x, 1), round(y, 1),
                        int(counts.get(area, {}).get("vehicles", 0)), capacity))
    return out


def recent_orders(session: Session, now: datetime, limit: int = 15) -> list[dict[str, Any]]:
    rows = session.execute(
        select(TripEvent.occurred_at, TripEvent.payload, Trip.reference, Trip.plate_key)
        .join(Trip, Trip.id == TripEvent.trip_id)
        .where(TripEvent.type == "trip.called", TripEvent.occurred_at >= now - timedelta(hours=24))
        .order_by(TripEvent.id.desc()).limit(limit)).all()
    return [{"at": at, "trip": ref, "gate": payload.get("gate"), "yard": payload.get("yard"),
             "arrive_by": payload.get("arrive_by")} for at, payload, ref, _plate in rows]


def alerts(session: Session, *, actor: Principal, now: datetime,
           silent_after: timedelta) -> dict[str, list[dict[str, Any]]]:
    holds = [{"trip": r.reference, "gate": r.gate,
              "steps": [c for c, s in r.state["steps"].items() if s["status"] == "held"]}
             for r in session.scalars(select(Trip).where(Trip.on_hold.is_(True)))]
    silent = [{"device": d["id"], "trip": d["trip"], "last_seen_at": d["last_seen_at"]}
              for d in telemetry.silent_devices(session, now=now, silent_after=silent_after)]
    reads = [{"plate": read.raw_plate, "camera": camera.code, "at": read.read_at}
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

