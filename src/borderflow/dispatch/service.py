"""One dispatcher cycle: mark no-shows, then call forward as many waiting trucks as each gate
and its yards have room for, by the dispatch policy. Runs every minute in the background and on
demand; services never commit, the caller does."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from borderflow.domain import slots as slot_rules
from borderflow.domain import trip as domain
from borderflow.domain.access import Principal, Role
from borderflow.domain.network import Network
from borderflow.regulation.dispatch import Order, Policy, Room, Waiting, choose_calls, order_queue
from borderflow.store.models import Booking, GateControl, Trip
from borderflow.trip import booking as bookings
from borderflow.trip import service as trips

DISPATCHER = Principal(id=None, username="dispatcher", kind="client",
                       roles=frozenset({Role.REGULATOR}))
LOCK_KEY = 0x426F72646572  # "Border": one dispatcher at a time across API workers


@dataclass
class CycleReport:
    at: datetime
    called: list[dict[str, Any]] = field(default_factory=list)
    no_shows: list[str] = field(default_factory=list)
    waiting: int = 0
    skipped: bool = False


def _active(session: Session) -> list[Trip]:
    return list(session.scalars(select(Trip).where(Trip.status.in_(("at_staging", "called"))))
                .all())


def _booked_slots(session: Session, trip_ids: list[str]) -> dict[str, datetime]:
    rows = session.execute(select(Booking.trip_id, Booking.slot_start).where(
        Booking.trip_id.in_(trip_ids), Booking.status == "active")).all()
    return dict(rows)


def waiting_of(session: Session, rows: list[Trip]) -> list[Waiting]:
    at_staging = [r for r in rows if r.status == "at_staging" and not r.on_hold]
    booked = _booked_slots(session, [r.id for r in at_staging])
    return [
        Waiting(trip_id=r.id, gate=r.gate, direction=r.flow, priority=r.priority,
                arrived_at=domain.parse_time(r.state["milestones"]["staging_entered"]),
                booked_slot=booked.get(r.id))
        for r in at_staging
    ]


def rooms_of(session: Session, network: Network, rows: list[Trip], now: datetime,
             slot_start: datetime, slot_end: datetime) -> list[Room]:
    located = Counter(session.scalars(select(Trip.location).where(
        Trip.location.is_not(None))).all())
    en_route: Counter[str] = Counter()
    called_in_slot: Counter[tuple[str, str]] = Counter()
    for r in rows:
        if r.status != "called":
            continue
        order = r.state.get("order") or {}
        if order.get("yard"):
            en_route[order["yard"]] += 1
        called = domain.parse_time(r.state["milestones"]["called"])
        if slot_start <= called < slot_end:
            called_in_slot[(r.gate, r.flow)] += 1
    gates_in_use = {(r.gate, r.flow) for r in rows}
    out = []
    for gate_code, direction in sorted(gates_in_use):
        gate = network.gate(gate_code)
        if gate is None:
            continue
        if paused(session, gate_code, direction, now):
            continue
        capacity = bookings.capacity_at(session, network, gate_code, direction, slot_start)
        yards = tuple(
            (y.code, y.capacity - located[f"yard:{y.code}"] - en_route[y.code])
            for y in gate.yards if direction in y.directions
        )
        out.append(Room(gate_code, direction,
                        capacity - called_in_slot[(gate_code, direction)], yards))
    return out


def paused(session: Session, gate: str, direction: str, at: datetime) -> bool:
    """Whether the regulator has paused call-forward at the gate right now."""
    return session.scalar(select(GateControl.id).where(
        GateControl.gate == gate, GateControl.kind == "pause", GateControl.lifted_at.is_(None),
        GateControl.starts_at <= at, GateControl.ends_at > at,
        (GateControl.direction.is_(None)) | (GateControl.direction == direction),
    ).limit(1)) is not None


def policies(network: Network) -> dict[str, Policy]:
    """The dispatch policy of each gate, from the reference network."""
    return {g.code: Policy(kind=g.regulation.policy, cycle=g.regulation.cycle,
                           grace_minutes=g.regulation.grace_minutes) for g in network.gates}


def run_cycle(session: Session, network: Network, now: datetime,
              policy: Policy | dict[str, Policy] | None = None) -> CycleReport:
    report = CycleReport(at=now)
    if session.get_bind().dialect.name == "postgresql":
        got = session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                              {"k": LOCK_KEY}).scalar()
        if not got:  # another worker is dispatching right now
            report.skipped = True
            return report
    policy = policy or policies(network)
    rows = _active(session)
    for row in rows:
        order = row.state.get("order") or {}
        arrive_by = order.get("arrive_by")
        if row.status == "called" and arrive_by and now > domain.parse_time(arrive_by):
            trips.append_event(session, row, domain.Event(
                "trip.no_show", now, DISPATCHER.username,
                {"reason": "not at the gate within the grace time"}),
                actor=DISPATCHER, source="regulator", now=now)
            report.no_shows.append(row.reference)
    rows = _active(session)
    slot_start = slot_rules.slot_start(now)
    slot_end = slot_start + timedelta(minutes=slot_rules.DEFAULT_SLOT_MINUTES)
    waiting = waiting_of(session, rows)
    report.waiting = len(waiting)
    orders: list[Order] = choose_calls(waiting, rooms_of(session, network, rows, now,
                                                         slot_start, slot_end),
                                       now=now, slot_end=slot_end, policy=policy)
    by_id = {r.id: r for r in rows}
    for order in orders:
        row = by_id[order.trip_id]
        trips.append_event(session, row, domain.Event(
            "trip.called", now, DISPATCHER.username,
            {"gate": order.gate, "yard": order.yard, "arrive_by": order.arrive_by.isoformat()}),
            actor=DISPATCHER, source="regulator", now=now)
        report.called.append({"trip": row.reference, "gate": order.gate, "yard": order.yard,
                              "arrive_by": order.arrive_by})
    return report


def queue(session: Session, network: Network, now: datetime, gate: str | None = None
          ) -> list[dict[str, Any]]:
    """The waiting trucks of each gate in the order they will be called."""
    rows = _active(session)
    slot_end = slot_rules.slot_start(now) + timedelta(minutes=slot_rules.DEFAULT_SLOT_MINUTES)
    waiting = waiting_of(session, rows)
    by_id = {r.id: r for r in rows}
    by_gate = policies(network)
    out: list[dict[str, Any]] = []
    for gate_code, direction in sorted({(w.gate, w.direction) for w in waiting}):
        if gate and gate_code != gate:
            continue
        mine = [w for w in waiting if (w.gate, w.direction) == (gate_code, direction)]
        gate_policy = by_gate.get(gate_code, Policy())
        for position, w in enumerate(order_queue(mine, gate_policy, slot_end), 1):
            row = by_id[w.trip_id]
            out.append({"gate": gate_code, "direction": direction, "position": position,
                        "trip": row.reference, "plate": row.state["facts"]["plate"],
                        "priority": w.priority, "arrived_at": w.arrived_at,
                        "booked_slot": w.booked_slot})
    return out
