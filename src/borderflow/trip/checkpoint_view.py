"""What the checkpoint and yard pages read about trips: the declaration behind a trip (goods
lines, certificates, the enterprise and its AEO standing), its earlier holds and rejections,
the plate-camera reads of its truck, what changed since a version, and the trucks inside a
yard with the recent reads at its gates. Read models only: no writes, the pages shape them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from borderflow.domain import privacy
from borderflow.domain.access import Principal, may_move
from borderflow.domain.network import Network
from borderflow.store.models import Camera, Declaration, Enterprise, PlateRead, Trip, TripEvent
from borderflow.trip import service as trips

READS_SHOWN = 20
HOLD_EVENTS = ("step.held", "step.released", "step.rejected", "step.voided")


@dataclass(frozen=True)
class EnterpriseFacts:
    name: str
    tax_code: str
    aeo: bool
    aeo_valid_until: date | None
    customs_agent_tax_code: str | None


def declaration_of(session: Session, row: Trip) -> dict[str, Any]:
    """The declaration behind a trip as the officer checks it: goods lines (HS code,
    description, group, quantity and unit, net weight, value), quarantine certificates, the
    number of vehicles it declares and its note."""
    decl = session.get(Declaration, row.declaration_id)
    if decl is None:
        return {"reference": None, "goods": [], "quarantine": [], "vehicles": 0, "note": None,
                "requested_date": None, "total_net_weight_kg": 0, "total_value_usd_cents": 0}
    goods = [{"hs_code": g.get("hs_code", ""), "description": g.get("description", ""),
              "group": g.get("group"), "quantity": g.get("quantity"), "unit": g.get("unit"),
              "net_weight_kg": int(g.get("net_weight_kg") or 0),
              "value_usd": str(g.get("value_usd") or "0")} for g in decl.goods]
    return {"reference": decl.reference, "goods": goods,
            "quarantine": [dict(q) for q in decl.quarantine], "vehicles": len(decl.vehicles),
            "note": decl.note, "requested_date": decl.requested_date,
            "total_net_weight_kg": decl.total_net_weight_kg,
            "total_value_usd_cents": decl.total_value_usd_cents}


def enterprise_of(session: Session, row: Trip, on: date) -> EnterpriseFacts:
    """The declaring enterprise: its name, tax code and standing as an authorised economic
    operator (AEO) on that day."""
    facts = row.state["facts"]
    tax = str(facts.get("enterprise_tax_code") or "")
    found = session.get(Enterprise, tax[:10]) if tax else None
    valid_until = found.aeo_valid_until if found else None
    aeo = bool(found and found.aeo and (valid_until is None or valid_until >= on))
    return EnterpriseFacts(name=str(facts.get("enterprise_name") or (found.name if found else "")),
                       tax_code=tax, aeo=aeo, aeo_valid_until=valid_until if aeo else None,
                       customs_agent_tax_code=facts.get("customs_agent_tax_code"))


def facts_for(actor: Principal, row: Trip) -> dict[str, Any]:
    """The trip's facts, with the driver's document masked for roles that do not check it."""
    facts: dict[str, Any] = row.state["facts"]
    return facts if privacy.needs_personal_data(actor) else privacy.masked_facts(facts)


def holds(session: Session, row: Trip) -> list[dict[str, Any]]:
    """Every hold, release, rejection and correction of the trip's steps, oldest first: the
    step, the reason code, the note typed with it, who and when."""
    events = session.scalars(select(TripEvent).where(
        TripEvent.trip_id == row.id, TripEvent.type.in_(HOLD_EVENTS)).order_by(TripEvent.seq))
    return [{"seq": e.seq, "type": e.type, "step": e.payload.get("step"),
             "reason_code": e.payload.get("reason_code"),
             "note": e.payload.get("note") or e.payload.get("reason"),
             "actor": e.actor_name, "source": e.source, "at": e.occurred_at} for e in events]


def plate_reads(session: Session, row: Trip, limit: int = READS_SHOWN) -> list[dict[str, Any]]:
    """The plate-camera reads of this trip's truck, newest first: those matched or confirmed
    for the trip, and the reads of its plate since it was declared (waiting for review or
    dismissed), each with the camera's name."""
    q = (select(PlateRead, Camera).join(Camera, Camera.id == PlateRead.camera_id)
         .where(or_(PlateRead.trip_id == row.id,
                    (PlateRead.plate_key == row.plate_key)
                    & (PlateRead.read_at >= row.created_at)))
         .order_by(PlateRead.read_at.desc(), PlateRead.id.desc()).limit(limit))
    return [_read(r, c) for r, c in session.execute(q)]


def _read(r: PlateRead, c: Camera) -> dict[str, Any]:
    return {"id": r.id, "at": r.read_at, "camera": c.name, "gate": r.gate,
            "checkpoint": r.checkpoint, "plate": r.raw_plate, "confidence": r.confidence,
            "status": r.status, "trip_id": r.trip_id, "image_ref": r.image_ref}


def changes_since(session: Session, row: Trip, version: int) -> list[TripEvent]:
    """The events recorded after the version a page was built from (none when it is
    current)."""
    if version >= row.version:
        return []
    return list(session.scalars(select(TripEvent).where(
        TripEvent.trip_id == row.id, TripEvent.seq > version).order_by(TripEvent.seq)))


# --- yards ---------------------------------------------------------------------------------------


def yard_areas(actor: Principal, network: Network) -> list[str]:
    """The staging parks and yards (``staging:<code>``, ``yard:<code>``) whose movements the
    caller records, as the API allows them: a yard operator its own, a border guard the yards
    of its gates, the regulator every one; in the network's order."""
    yards = trips.gates_of_yards(network)
    areas = [f"staging:{s.code}" for s in network.staging_areas
             if may_move(actor, f"staging:{s.code}", "", yards)]
    areas += [f"yard:{y.code}" for g in network.gates for y in g.yards
              if may_move(actor, f"yard:{y.code}", g.code, yards)]
    return areas


def inside(session: Session, areas: list[str], actor: Principal, network: Network
           ) -> list[dict[str, Any]]:
    """The trucks now in those areas that the operator may see, each with when it entered,
    longest there first."""
    if not areas:
        return []
    rows = list(session.scalars(select(Trip).where(
        Trip.location.in_(areas), trips.scope_clause(actor, network))))
    where = {r.id: r.location for r in rows}
    entered: dict[str, datetime] = {}
    if rows:
        for e in session.scalars(select(TripEvent).where(
                TripEvent.trip_id.in_(sorted(where)),
                TripEvent.type == "area.entered").order_by(TripEvent.seq)):
            if e.payload.get("area") == where[e.trip_id]:
                entered[e.trip_id] = e.occurred_at
    rows.sort(key=lambda r: (entered.get(r.id, r.updated_at), r.reference))
    return [{"trip": r, "area": r.location, "since": entered.get(r.id, r.updated_at)}
            for r in rows]


def recent_reads(session: Session, gates: set[str], now: datetime,
                 hours: int = 2, limit: int = 15) -> list[dict[str, Any]]:
    """The plate-camera reads at these gates in the last hours, newest first, with the trip
    each stands for when known."""
    if not gates:
        return []
    q = (select(PlateRead, Camera).join(Camera, Camera.id == PlateRead.camera_id)
         .where(PlateRead.gate.in_(sorted(gates)),
                PlateRead.read_at >= now - timedelta(hours=hours))
         .order_by(PlateRead.read_at.desc(), PlateRead.id.desc()).limit(limit))
    return [_read(r, c) for r, c in session.execute(q)]
