"""One dispatcher cycle: mark no-shows, re-route waiting trucks away from closed or overloaded
gates, then call forward as many waiting trucks as each gate and its yards have room for, by the
dispatch policy. Runs every minute in the background and on
demand; services never commit, the caller does."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from borderflow.booking import service as bookings
from borderflow.booking import standing
from borderflow.clock import LOCAL_TZ
from borderflow.dispatch import partner
from borderflow.domain import booking as booking_rules
from borderflow.domain import trip as domain
from borderflow.domain.access import DISPATCHER, Principal
from borderflow.domain.dispatch import (
    Order,
    Policy,
    Room,
    Waiting,
    cap_places,
    choose_calls,
    forecast,
    is_no_show,
    order_queue,
    plan_reroutes,
    room_after_stay,
)
from borderflow.domain.network import Network
from borderflow.errors import FieldError, ValidationFailed, msg
from borderflow.store.models import Booking, GateControl, Trip
from borderflow.trip import service as trips

LOCK_KEY = 0x426F7264  # "Bord": one dispatcher at a time across API workers


@dataclass
class CycleReport:
    at: datetime
    called: list[dict[str, Any]] = field(default_factory=list)
    no_shows: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    rerouted: list[dict[str, Any]] = field(default_factory=list)
    waiting: int = 0
    skipped: bool = False


def _active(session: Session) -> list[Trip]:
    # in one fixed order, so a cycle on PostgreSQL decides and reports as one on SQLite does
    return list(session.scalars(select(Trip).where(Trip.status.in_(("at_staging", "called")))
                                .order_by(Trip.id)).all())


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


def yard_room(session: Session, network: Network, rows: list[Trip]
              ) -> dict[tuple[str, str], tuple[tuple[str, int], ...]]:
    """Free places in each yard of every gate and direction: its capacity less the trucks in it
    and the trucks called to it that are on their way."""
    located = trips.located(session, network)
    en_route: Counter[str] = Counter()
    for r in rows:
        order = r.state.get("order") or {}
        if r.status == "called" and order.get("yard"):
            en_route[order["yard"]] += 1
    return {
        (gate.code, direction): tuple(
            (y.code, y.capacity - located[f"yard:{y.code}"] - en_route[y.code])
            for y in gate.yards if direction in y.directions)
        for gate in network.gates for direction in ("export", "import")
    }


def rooms_of(session: Session, network: Network, rows: list[Trip], now: datetime,
             slot_start: datetime, slot_end: datetime) -> list[Room]:
    yards = yard_room(session, network, rows)
    partner_room = partner.export_room(session, network, now)
    called_in_slot: Counter[tuple[str, str]] = Counter()
    for r in rows:
        if r.status != "called":
            continue
        called = domain.parse_time(r.state["milestones"]["called"])
        if slot_start <= called < slot_end:
            called_in_slot[(r.gate, r.flow)] += 1
    gates_in_use = {(r.gate, r.flow) for r in rows}
    out = []
    for gate_code, direction in sorted(gates_in_use):
        if network.gate(gate_code) is None:
            continue
        if paused(session, gate_code, direction, now):
            continue
        capacity = bookings.capacity_at(session, network, gate_code, direction, slot_start)
        out.append(Room(gate_code, direction,
                        capacity - called_in_slot[(gate_code, direction)],
                        yards.get((gate_code, direction), ()),
                        partner_room.get(gate_code) if direction == "export" else None))
    return out


def pauses(session: Session, gate: str, direction: str, start: datetime, end: datetime
           ) -> list[tuple[datetime, datetime]]:
    """The periods in ``[start, end)`` during which call-forward at the gate is paused."""
    return [(a, b) for a, b in session.execute(select(GateControl.starts_at, GateControl.ends_at)
                                               .where(
        GateControl.gate == gate, GateControl.kind == "pause", GateControl.lifted_at.is_(None),
        GateControl.starts_at < end, GateControl.ends_at > start,
        (GateControl.direction.is_(None)) | (GateControl.direction == direction)))]


def paused(session: Session, gate: str, direction: str, at: datetime) -> bool:
    """Whether the regulator has paused call-forward at the gate at ``at`` (the rule:
    :func:`borderflow.domain.booking.paused`, which the scenario lab asks too)."""
    return booking_rules.paused(
        [booking_rules.Control("pause", a, b)
         for a, b in pauses(session, gate, direction, at, at + timedelta(microseconds=1))], at)


def policies(network: Network) -> dict[str, Policy]:
    """The dispatch policy of each gate, from the reference network."""
    out = {}
    for g in network.gates:
        r = g.regulation
        window = (r.green_window.start, r.green_window.end) if r.green_window else None
        out[g.code] = Policy(kind=r.policy, cycle=r.cycle, grace_minutes=r.grace_minutes,
                             green_window=window, green_classes=r.green_classes,
                             share_green_window=r.share_green_window,
                             timezone=network.timezone,
                             reroute_after_minutes=r.reroute_after_minutes,
                             no_show=r.no_show)
    return out


# --- the outlook: when each waiting truck will be called ---------------------------------------

HORIZON_SLOTS = 48
"""How far ahead the dispatcher looks (48 slots of 30 minutes: a day)."""


@dataclass
class Outlook:
    """One gate and direction over the horizon: the places of each slot (after trucks already
    called in it and booked trucks that have not reached the park yet), the free places in its
    yards now and in the partner side's yard, the trucks waiting in the staging area, and the
    slot each would be called in by the gate's policy."""

    gate: str
    direction: str
    slot_starts: list[datetime]
    places: list[int]
    yard_now: int
    partner: int | None
    waiting: list[Waiting]
    forecast: dict[str, int]
    left: list[int]

    @property
    def usable(self) -> list[int]:
        """Places per slot once the yards and the partner side's yard are taken into
        account."""
        return cap_places(self.places, self.yard_now, self.partner)

    def estimated_call(self, trip_id: str, now: datetime) -> datetime | None:
        s = self.forecast.get(trip_id)
        return None if s is None else max(now, self.slot_starts[s])


def _staged_gates(network: Network, direction: str) -> list[str]:
    """Gates whose trucks for the direction are regulated through a staging area."""
    out = []
    for g in network.gates:
        procedure = network.procedure_for(g.code, direction)  # type: ignore[arg-type]
        if procedure is not None and g.staging_area is not None and any(
                s.kind == "vehicle_control" for s in procedure.steps):
            out.append(g.code)
    return out


def outlooks(session: Session, network: Network, rows: list[Trip], now: datetime
             ) -> dict[tuple[str, str], Outlook]:
    """The outlook of every staged gate and direction (see :class:`Outlook`)."""
    by_gate = policies(network)
    first = booking_rules.slot_start(now)
    step = timedelta(minutes=booking_rules.DEFAULT_SLOT_MINUTES)
    starts = [first + i * step for i in range(HORIZON_SLOTS)]
    waiting = waiting_of(session, rows)
    yards = yard_room(session, network, rows)
    partner_room = partner.export_room(session, network, now)
    called_now: Counter[tuple[str, str]] = Counter()
    for r in rows:
        if r.status == "called":
            called = domain.parse_time(r.state["milestones"]["called"])
            if called >= first:
                called_now[(r.gate, r.flow)] += 1
    expected: Counter[tuple[str, str, datetime]] = Counter(
        (gate, direction, start) for gate, direction, start in session.execute(
            select(Booking.gate, Booking.direction, Booking.slot_start)
            .join(Trip, Trip.id == Booking.trip_id).where(
                Booking.status == "active", Trip.status == "declared",
                Booking.slot_start >= first, Booking.slot_start < starts[-1] + step)).all())
    out = {}
    for direction in ("export", "import"):
        for gate in _staged_gates(network, direction):
            places = bookings.capacities(session, network, gate, direction, starts)
            stops = pauses(session, gate, direction, now, starts[-1] + step)
            places = [0 if any(a <= max(now, start) < b for a, b in stops) else
                      p - expected[(gate, direction, start)] for start, p in zip(starts, places,
                                                                                  strict=True)]
            places[0] -= called_now[(gate, direction)]
            mine = [w for w in waiting if (w.gate, w.direction) == (gate, direction)]
            yard_now = sum(max(0, free) for _, free in yards.get((gate, direction), ()))
            room = partner_room.get(gate) if direction == "export" else None
            forecast, left = _forecast(mine, starts, cap_places(places, yard_now, room),
                                       by_gate.get(gate, Policy()))
            out[(gate, direction)] = Outlook(gate, direction, starts, places, yard_now, room,
                                             mine, forecast, left)
    return out


def expected_calls(session: Session, network: Network, now: datetime, gate: str
                   ) -> list[tuple[Waiting, datetime | None]]:
    """The trucks waiting for ``gate`` (either direction) with the call each is expected at."""
    out = []
    for (code, _direction), view in sorted(outlooks(session, network, _active(session),
                                                    now).items()):
        if code == gate:
            out += [(w, view.estimated_call(w.trip_id, now)) for w in view.waiting]
    return out


def _forecast(mine: list[Waiting], starts: list[datetime], places: list[int], policy: Policy
              ) -> tuple[dict[str, int], list[int]]:
    return forecast(mine, starts, [max(0, p) for p in places], policy,
                    booking_rules.DEFAULT_SLOT_MINUTES)


# --- re-routing ---------------------------------------------------------------------------------


def alternatives(network: Network, row: Trip) -> tuple[str, ...]:
    """The gates a waiting truck may be sent to instead of its own: regulated through the same
    staging area, taking its direction and permitting all its goods."""
    own = network.gate(row.gate)
    if own is None or own.staging_area is None:
        return ()
    groups = row.state["facts"].get("goods_groups") or []
    return tuple(
        code for code in _staged_gates(network, row.flow)
        if (g := network.gate(code)) is not None and g.staging_area == own.staging_area
        and all(g.permits_group(group) for group in groups)
    )


def _reroute_reason(session: Session, view: Outlook, now: datetime, own: datetime | None,
                    new: datetime) -> str:
    gate, direction = view.gate, view.direction
    closure = session.scalar(select(GateControl).where(
        GateControl.gate == gate, GateControl.kind == "closure", GateControl.lifted_at.is_(None),
        GateControl.starts_at <= now, GateControl.ends_at > now,
        (GateControl.direction.is_(None)) | (GateControl.direction == direction),
    ).order_by(GateControl.id.desc()).limit(1))
    if closure is not None:
        return f"gate {gate} is closed: {closure.reason}"
    local = LOCAL_TZ
    if own is None and view.partner is not None and view.partner < len(view.waiting):
        return (f"the partner side's yard at {gate} has room for only {view.partner} more "
                f"trucks (called about {new.astimezone(local):%H:%M} at the new gate)")
    was = own.astimezone(local).strftime("%H:%M") if own else "not within a day"
    return (f"called earlier at the new gate (about {new.astimezone(local):%H:%M}; at {gate}: "
            f"{was})")


def reroute(session: Session, network: Network, row: Trip, gate: str, reason: str, *,
            actor: Principal, now: datetime) -> Trip:
    """Send a trip that has not been called yet to another gate: its booking is given back and
    it takes the new gate's procedure."""
    target = network.gate(gate)
    procedure = network.procedure_for(gate, row.flow)  # type: ignore[arg-type]
    if target is None or procedure is None:
        raise ValidationFailed([FieldError("gate", msg("gate '{gate}' does not take {flow} "
                                                       "traffic", gate=gate, flow=row.flow))])
    groups = row.state["facts"].get("goods_groups") or []
    refused = [g for g in groups if not target.permits_group(g)]
    if refused:
        raise ValidationFailed([FieldError("gate", msg("gate '{gate}' does not permit {groups}",
                                                       gate=gate, groups=refused))])
    from_gate = row.gate
    if row.state.get("booking"):
        bookings.release(session, row, actor=actor, now=now,
                         reason=f"re-routed from {from_gate} to {gate}: {reason}",
                         cause="rerouted")
    return trips.append_event(session, row, domain.Event(
        "trip.rerouted", now, actor.username,
        {"from_gate": from_gate, "gate": gate, "procedure": domain.procedure_to_dict(procedure),
         "transshipment": target.transshipment, "reason": reason}),
        actor=actor, source="regulator", now=now)


def _reroutes(session: Session, network: Network, rows: list[Trip], now: datetime,
              report: CycleReport) -> None:
    views = outlooks(session, network, rows, now)
    by_id = {r.id: r for r in rows}
    by_gate = policies(network)
    step = booking_rules.DEFAULT_SLOT_MINUTES
    for direction in ("export", "import"):
        gates = [g for (g, d) in views if d == direction]
        candidates = []
        for gate in gates:
            view = views[(gate, direction)]
            gain = by_gate.get(gate, Policy()).reroute_after_minutes // step
            for w in view.waiting:
                own = view.forecast.get(w.trip_id)
                if w.booked_slot is not None and w.booked_slot >= view.slot_starts[0] + \
                        timedelta(minutes=step):
                    continue  # waits for a later booked slot: not delayed by the gate
                if own is not None and own < max(gain, 1):
                    continue  # will be called soon enough where it is
                alt = tuple(a for a in alternatives(network, by_id[w.trip_id]) if a in gates)
                if len(alt) > 1:
                    candidates.append((w, own, alt))
        if not candidates:
            continue
        moving = {w.trip_id for w, _, _ in candidates}
        left = {}
        for gate in gates:  # what is left after the trucks that stay where they are
            view = views[(gate, direction)]
            stay = [w for w in view.waiting if w.trip_id not in moving]
            usable = view.usable
            after = _forecast(stay, view.slot_starts, usable, by_gate.get(gate, Policy()))[1]
            left[gate] = room_after_stay(view.places, usable, after, view.yard_now,
                                         view.partner)
        gain_slots = {g: max(1, by_gate.get(g, Policy()).reroute_after_minutes // step)
                      for g in gates}
        for r in plan_reroutes(candidates, gates, left, gain_slots):
            row = by_id[r.trip_id]
            view = views[(r.from_gate, direction)]
            own_slot = view.forecast.get(r.trip_id)
            reason = _reroute_reason(session, view, now,
                                     view.slot_starts[own_slot] if own_slot is not None
                                     else None, max(now, view.slot_starts[r.slot]))
            reroute(session, network, row, r.gate, reason, actor=DISPATCHER, now=now)
            report.rerouted.append({"trip": row.reference, "from_gate": r.from_gate,
                                    "gate": r.gate, "reason": reason})


# --- one cycle ---------------------------------------------------------------------------------


def _no_shows(session: Session, network: Network, rows: list[Trip], now: datetime,
              report: CycleReport) -> None:
    by_gate = policies(network)
    for row in rows:
        order = row.state.get("order") or {}
        arrive_by = domain.parse_time(order["arrive_by"]) if order.get("arrive_by") else None
        if arrive_by is None or not is_no_show(row.status, arrive_by, now):
            continue
        trips.append_event(session, row, domain.Event(
            "trip.no_show", now, DISPATCHER.username,
            {"reason": "not at the gate within the grace time"}),
            actor=DISPATCHER, source="regulator", now=now)
        standing.record(session, row, "no_show", at=now,
                        detail=f"called to {order.get('gate', row.gate)}, not there by "
                               f"{arrive_by.astimezone(LOCAL_TZ):%H:%M}")
        report.no_shows.append(row.reference)
        if by_gate.get(row.gate, Policy()).no_show == "cancel":
            trips.cancel_trip(session, row, "no-show: did not reach the gate in time",
                              actor=DISPATCHER, now=now)
            report.cancelled.append(row.reference)


def run_cycle(session: Session, network: Network, now: datetime,
              policy: Policy | dict[str, Policy] | None = None) -> CycleReport:
    """One cycle: no-shows, re-routing away from closed or overloaded gates, call-forward."""
    report = CycleReport(at=now)
    if session.get_bind().dialect.name == "postgresql":
        got = session.execute(text(  # per schema: one dispatcher per platform database
            "SELECT pg_try_advisory_xact_lock(:k, hashtext(current_schema()))"),
            {"k": LOCK_KEY}).scalar()
        if not got:  # another worker is dispatching right now
            report.skipped = True
            return report
    policy = policy or policies(network)
    _no_shows(session, network, _active(session), now, report)
    _reroutes(session, network, _active(session), now, report)
    rows = _active(session)
    slot_start = booking_rules.slot_start(now)
    slot_end = slot_start + timedelta(minutes=booking_rules.DEFAULT_SLOT_MINUTES)
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
    """The waiting trucks of each gate in the order they will be called, with the estimated
    call time of each."""
    rows = _active(session)
    slot_end = booking_rules.slot_start(now) + timedelta(minutes=booking_rules.DEFAULT_SLOT_MINUTES)
    views = outlooks(session, network, rows, now)
    by_id = {r.id: r for r in rows}
    by_gate = policies(network)
    out: list[dict[str, Any]] = []
    for (gate_code, direction), view in sorted(views.items()):
        if (gate and gate_code != gate) or not view.waiting:
            continue
        gate_policy = by_gate.get(gate_code, Policy())
        for position, w in enumerate(order_queue(view.waiting, gate_policy, slot_end, now), 1):
            row = by_id[w.trip_id]
            out.append({"gate": gate_code, "direction": direction, "position": position,
                        "trip": row.reference, "plate": row.state["facts"]["plate"],
                        "priority": w.priority, "arrived_at": w.arrived_at,
                        "booked_slot": w.booked_slot,
                        "estimated_call": view.estimated_call(w.trip_id, now)})
    return out


def place_of(session: Session, network: Network, row: Trip, now: datetime
             ) -> dict[str, Any]:
    """Where a trip stands in the virtual queue: its gate, booking, position among the trucks
    waiting for its gate and the estimated call time (or its open order)."""
    booking = row.state.get("booking")
    out: dict[str, Any] = {
        "trip": row.reference, "status": row.status, "gate": row.gate,
        "direction": row.flow, "priority": row.priority,
        "booked_slot": domain.parse_time(booking["slot_start"]) if booking else None,
        "position": None, "waiting": None, "estimated_call": None, "order": None,
    }
    if row.status == "called":
        out["order"] = row.state.get("order")
        out["estimated_call"] = domain.parse_time(row.state["milestones"]["called"])
        return out
    if row.status == "declared":
        out["estimated_call"] = out["booked_slot"]
        return out
    if row.status != "at_staging":
        return out
    rows = _active(session)
    views = outlooks(session, network, rows, now)
    view = views.get((row.gate, row.flow))
    if view is None:
        return out
    slot_end = view.slot_starts[0] + timedelta(minutes=booking_rules.DEFAULT_SLOT_MINUTES)
    ordered = order_queue(view.waiting, policies(network).get(row.gate, Policy()), slot_end,
                          now)
    ids = [w.trip_id for w in ordered]
    out["waiting"] = len(ids)
    if row.id in ids:
        out["position"] = ids.index(row.id) + 1
        out["estimated_call"] = view.estimated_call(row.id, now)
    return out
