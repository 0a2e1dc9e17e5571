"""Trip use cases. Every change appends one event and updates the projection in the same
transaction; services never commit."""

from __future__ import annotations

import re
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.clock import LOCAL_TZ
from borderflow.domain import trip as domain
from borderflow.domain.access import (
    DISPATCHER,
    Principal,
    Role,
    declaration_scope,
    may_move,
    may_record_step,
)
from borderflow.domain.network import BookingRules, Network
from borderflow.domain.values import parse_plate, plate_key
from borderflow.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed, msg
from borderflow.store import paging, scoping
from borderflow.store.models import Declaration, Enterprise, Trip, TripEvent
from borderflow.trip import events as handlers

FUTURE_TOLERANCE = timedelta(minutes=2)
_REFERENCE = re.compile(r"BF-[0-9A-Z]{4}-[0-9A-Z]{4}(?:-\d+)?", re.IGNORECASE)


def gates_of_yards(network: Network) -> dict[str, str]:
    return {y.code: g.code for g in network.gates for y in g.yards}


# --- creating trips from declarations ----------------------------------------------------------


def _facts(decl: Declaration, vehicle: dict[str, Any], weight: int, value: int) -> dict[str, Any]:
    plate = parse_plate(vehicle["plate"])
    driver = vehicle["driver"]
    return {
        "plate": plate.text,
        "plate_key": plate.key,
        "vehicle_country": plate.country,
        "trailer_plate": vehicle.get("trailer_plate"),
        "vehicle_type": vehicle["vehicle_type"],
        "container": vehicle["container"],
        "payload_tonnes": str(vehicle["payload_tonnes"]),
        "driver": {k: driver[k] for k in ("name", "document_type", "document_number", "phone")},
        "driver_crosses": bool(driver.get("crosses_border", False)),
        "net_weight_kg": weight,
        "value_usd_cents": value,
        "perishable": decl.perishable,
        "quarantine_kind": decl.quarantine_kind,
        "goods_groups": sorted({g["group"] for g in decl.goods if g.get("group")}),
        "enterprise_tax_code": decl.enterprise_tax_code,
        "enterprise_name": decl.enterprise_name,
        "customs_agent_tax_code": decl.customs_agent_tax_code,
        "requested_date": decl.requested_date.isoformat(),
    }


def _shares(total: int, weights: list[float]) -> list[int]:
    """Split an integer total in proportion to weights; the last takes the remainder."""
    whole = sum(weights) or 1.0
    parts = [int(total * w / whole) for w in weights[:-1]]
    return [*parts, total - sum(parts)]


def is_aeo(session: Session, tax_code: str, on: date) -> bool:
    """Whether the enterprise is an authorised economic operator on that date."""
    row = session.get(Enterprise, tax_code[:10])
    return bool(row and row.aeo and (row.aeo_valid_until is None or row.aeo_valid_until >= on))


def _trip_payloads(session: Session, decl: Declaration, network: Network
                   ) -> list[dict[str, Any]]:
    """What each vehicle's trip is made of, in vehicle order."""
    gate = network.gate(decl.requested_gate)
    procedure = network.procedure_for(decl.requested_gate, decl.flow)  # type: ignore[arg-type]
    if gate is None or procedure is None:
        raise ValidationFailed([FieldError("requested_gate", msg(
            "the gate has no procedure for {flow} in the network", flow=decl.flow))])
    payloads = [float(v["payload_tonnes"]) for v in decl.vehicles]
    weights = _shares(decl.total_net_weight_kg, payloads)
    values = _shares(decl.total_value_usd_cents, payloads)
    return [
        {
            "gate": gate.code,
            "flow": decl.flow,
            "direction": decl.direction,
            "priority": domain.priority_class(
                decl.perishable, is_aeo(session, decl.enterprise_tax_code, decl.requested_date)),
            "transshipment": gate.transshipment,
            "procedure": domain.procedure_to_dict(procedure),
            "facts": _facts(decl, v, weights[i], values[i]),
        }
        for i, v in enumerate(decl.vehicles)
    ]


def _columns(state: dict[str, Any]) -> dict[str, Any]:
    """The projection's indexed columns, all derived from the state document."""
    facts = state["facts"]
    return {
        "gate": state["gate"],
        "flow": state["flow"],
        "direction": state["direction"],
        "status": state["status"],
        "priority": state["priority"],
        "plate_key": facts["plate_key"],
        "driver_document": facts["driver"]["document_number"],
        "enterprise_tax_code": facts["enterprise_tax_code"],
        "customs_agent_tax_code": facts.get("customs_agent_tax_code"),
        "location": state["location"],
        "on_hold": any(s["status"] == "held" for s in state["steps"].values()),
        "next_due_at": domain.next_due(state),
        "version": state["version"],
        "state": state,
    }


def _store_event(session: Session, trip_id: str, seq: int, event: domain.Event, *,
                 actor: Principal, source: str, now: datetime, key: str | None) -> TripEvent:
    stored = TripEvent(
        trip_id=trip_id, seq=seq, type=event.type,
        actor_id=actor.id, actor_name=actor.username, source=source,
        occurred_at=event.occurred_at, recorded_at=now, idempotency_key=key,
        payload=dict(event.payload),
    )
    session.add(stored)
    return stored


def _create_trip(session: Session, decl: Declaration, position: int, spec: dict[str, Any], *,
                 actor: Principal, now: datetime) -> Trip:
    trip_id = str(uuid.uuid4())
    payload = {"id": trip_id, "declaration_id": decl.id,
               "reference": f"{decl.reference}-{position}", **spec}
    event = domain.Event("trip.created", now, actor.username, payload)
    state = domain.apply(None, event)
    row = Trip(id=trip_id, declaration_id=decl.id, position=position,
               reference=payload["reference"], created_at=now, updated_at=now, **_columns(state))
    session.add(row)
    session.flush()
    _store_event(session, trip_id, 1, event, actor=actor, source="api", now=now, key=None)
    audit.record(session, actor=actor, action="trip.created", target_type="trip",
                 target_id=trip_id, at=now, after={"reference": row.reference,
                                                   "status": row.status, "version": 1})
    handlers.run_after(handlers.TripChange(session, row, None, event, actor, now))
    return row


def create_for_declaration(session: Session, decl: Declaration, network: Network, *,
                           actor: Principal, now: datetime) -> list[Trip]:
    """One trip per vehicle of a newly submitted declaration."""
    return [
        _create_trip(session, decl, i + 1, spec, actor=actor, now=now)
        for i, spec in enumerate(_trip_payloads(session, decl, network))
    ]


def trips_of(session: Session, declaration_id: str) -> list[Trip]:
    return list(session.scalars(select(Trip).where(Trip.declaration_id == declaration_id)
                                .order_by(Trip.position).with_for_update()).all())


def check_not_started(session: Session, decl: Declaration) -> None:
    """A declaration changes only while none of its vehicles has arrived."""
    for t in trips_of(session, decl.id):
        if t.status not in ("declared", "cancelled") or t.location is not None:
            raise Conflict(
                msg("vehicle {plate} has arrived ({status}); the declaration can no longer be "
                    "changed", plate=t.state["facts"]["plate"], status=t.status),
                code="not_amendable",
            )


def sync_declaration(session: Session, decl: Declaration, network: Network, *,
                     actor: Principal, now: datetime) -> None:
    """After an amendment: amend the trips whose vehicle stays (matched by plate), cancel those
    whose vehicle was removed, create trips for new vehicles."""
    existing = trips_of(session, decl.id)
    active = {t.plate_key: t for t in existing if t.status != "cancelled"}
    next_position = 1 + max((t.position for t in existing), default=0)
    for spec in _trip_payloads(session, decl, network):
        key = spec["facts"]["plate_key"]
        row = active.pop(key, None)
        if row is None:
            _create_trip(session, decl, next_position, spec, actor=actor, now=now)
            next_position += 1
            continue
        if row.priority == "urgent":  # a granted priority survives amendments
            spec["priority"] = "urgent"
        current = {k: row.state[k] for k in spec if k in row.state}
        if current != spec:  # a booked place at another gate or direction is given back first
            _append(session, row, domain.Event("trip.amended", now, actor.username, spec),
                    actor=actor, source="api", now=now, key=None)
    for row in active.values():
        cancel_trip(session, row, "vehicle removed from the declaration", actor=actor, now=now,
                    late_rules=_holder_rules(actor, network))


def _holder_rules(actor: Principal, network: Network | None) -> BookingRules | None:
    """The booking rules that apply when ``actor`` gives places back: the holder's late
    cancellations count; the regulator's do not."""
    if network is None or actor.roles & {Role.REGULATOR, Role.ADMIN}:
        return None
    return network.booking_rules


def cancel_for_declaration(session: Session, decl: Declaration, reason: str, *,
                           actor: Principal, now: datetime, network: Network | None = None
                           ) -> None:
    for row in trips_of(session, decl.id):
        if row.status != "cancelled":
            cancel_trip(session, row, reason, actor=actor, now=now,
                        late_rules=_holder_rules(actor, network))


# --- appending events --------------------------------------------------------------------------


DISPATCH_DUE = "borderflow.dispatch_due"
"""Set on a session whose transaction changed something the dispatcher acts on (a truck
arrived at the park, left a yard, was held or released...): once it commits, the dispatcher
runs without waiting for its next minute."""


def _append(session: Session, row: Trip, event: domain.Event, *, actor: Principal, source: str,
            now: datetime, key: str | None, late_rules: BookingRules | None = None) -> Trip:
    """Apply the event to the projection and append it, as one change (version + 1), with
    the other features' handlers before and after it (:mod:`borderflow.trip.events`)."""
    handlers.run_before(handlers.TripChange(session, row, row.state, event, actor, now,
                                            late_rules))
    before = row.state
    state = domain.apply(before, event)
    old_version = row.version
    _store_event(session, row.id, old_version + 1, event, actor=actor, source=source, now=now,
                 key=key)
    result = session.execute(
        update(Trip)
        .where(Trip.id == row.id, Trip.version == old_version)
        .values(**_columns(state), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(msg("the trip was changed by someone else at the same moment; reload "
                           "it"),
                       code="version_conflict")
    session.flush()
    session.refresh(row)
    audit.record(session, actor=actor, action=event.type, target_type="trip", target_id=row.id,
                 at=now,
                 before={"status": before["status"], "location": before["location"],
                         "version": before["version"]},
                 after={"status": state["status"], "location": state["location"],
                        "version": state["version"], "payload": dict(event.payload)})
    if actor is not DISPATCHER and domain.affects_dispatch(before, state):
        session.info[DISPATCH_DUE] = True
    handlers.run_after(handlers.TripChange(session, row, before, event, actor, now, late_rules))
    return row


def step_outcome(step: str, outcome: str, *, channel: str | None, reason_code: str | None,
                 note: str | None) -> tuple[domain.EventType, dict[str, Any]]:
    """The event an officer's pass, hold or reject of a step makes: a pass carries the customs
    channel and no reason code; a hold or a rejection needs a reason code."""
    events: dict[str, domain.EventType] = {"pass": "step.passed", "hold": "step.held",
                                           "reject": "step.rejected"}
    if outcome not in events:
        raise ValidationFailed([FieldError("outcome", msg("pass, hold or reject"))])
    payload: dict[str, Any] = {"step": step}
    if outcome == "pass":
        if reason_code:
            raise ValidationFailed([FieldError("reason_code", msg(
                "only a hold or a rejection has a reason code"))])
        if channel is not None:
            payload["channel"] = channel
    else:
        if not reason_code:
            text = (msg("required to hold a step") if outcome == "hold"
                    else msg("required to reject a step"))
            raise ValidationFailed([FieldError("reason_code", text)])
        payload["reason_code"] = reason_code
    if note:
        payload["note"] = note
    return events[outcome], payload


def append_event(session: Session, row: Trip, event: domain.Event, *, actor: Principal,
                 source: str, now: datetime) -> Trip:
    """Append an event decided by another use case (bookings, declarations)."""
    return _append(session, row, event, actor=actor, source=source, now=now, key=None)


def cancel_trip(session: Session, row: Trip, reason: str, *, actor: Principal,
                now: datetime, late_rules: BookingRules | None = None) -> None:
    """Cancel one trip; the bookings' handler gives its booked place back first
    (``late_rules``: the holder cancels, so a late cancellation counts against the vehicle)."""
    _append(session, row, domain.Event("trip.cancelled", now, actor.username,
                                       {"reason": reason}),
            actor=actor, source="api", now=now, key=None, late_rules=late_rules)


def scope_clause(actor: Principal, network: Network | None) -> ColumnElement[bool]:
    scope = declaration_scope(actor, gates_of_yards(network) if network else {})
    return scoping.scope_clause(
        scope,
        tax_columns=(Trip.enterprise_tax_code, Trip.customs_agent_tax_code),
        driver_clause=lambda docs: Trip.driver_document.in_(docs),
        gate_column=Trip.gate,
    )


def get(session: Session, trip_id_or_ref: str, *, actor: Principal, network: Network | None,
        for_update: bool = False) -> Trip:
    key = trip_id_or_ref.strip()
    q = select(Trip).where(scope_clause(actor, network),
                           or_(Trip.id == key, Trip.reference == key.upper()))
    if for_update:
        q = q.with_for_update()
    row = session.scalar(q)
    if row is None:
        raise NotFound(msg("no trip '{reference}' that you may see", reference=trip_id_or_ref))
    return row


def _authorise(actor: Principal, row: Trip, event_type: str, payload: dict[str, Any],
               network: Network) -> None:
    yards = gates_of_yards(network)
    state = row.state
    if event_type.startswith("step."):
        code = payload.get("step")
        spec = next((s for s in state["procedure"]["steps"] if s["code"] == code), None)
        if spec is None:
            raise NotFound(msg("this trip's procedure has no step '{code}'", code=str(code)))
        if not may_record_step(actor, spec["role"], row.gate, yards):
            raise Forbidden(msg("step '{step}' is recorded by {role} officers at gate {gate}",
                                step=code, role=spec["role"], gate=row.gate))
    elif event_type in ("trip.called", "trip.prioritised") and (
        Role.REGULATOR not in actor.roles
        or (actor.gate_scope and row.gate not in actor.gate_scope)
    ):
        raise Forbidden(msg("only the regulator for gate {gate} calls vehicles forward or "
                            "changes their priority", gate=row.gate))
    elif event_type.startswith("area.") and not may_move(
        actor, payload["area"], payload.get("gate", ""), yards
    ):
        raise Forbidden(msg("you may not record movements of {area}", area=payload["area"]))
    elif event_type == "trip.order_acknowledged" and (
        Role.DRIVER not in actor.roles
        or actor.driver_document != state["facts"]["driver"]["document_number"]
    ):
        raise Forbidden(msg("only the trip's driver acknowledges its order"))
    elif event_type == "trip.returned" and not may_record_step(
        actor, "border_guard", row.gate, yards
    ):
        raise Forbidden(msg("only the border guard at gate {gate} records a return",
                            gate=row.gate))


def _check_reason(network: Network, event_type: str, payload: dict[str, Any]) -> None:
    if event_type not in ("step.held", "step.rejected"):
        return
    use = "hold" if event_type == "step.held" else "reject"
    code = payload.get("reason_code")
    reason = network.reason(code) if isinstance(code, str) else None
    allowed = [r.code for r in network.reason_codes if r.use in (use, "both")]
    if reason is None or reason.use not in (use, "both"):
        text = (msg("unknown reason to hold; use one of {reason}", reason=allowed)
                if use == "hold"
                else msg("unknown reason to reject; use one of {reason}", reason=allowed))
        raise ValidationFailed([FieldError("reason_code", text)])


def resolve_area(network: Network, area: str) -> str:
    """The gate an area belongs to ('' for staging areas); 422 for an unknown area."""
    areas = network.area_codes()
    if area not in areas:
        raise ValidationFailed([FieldError("area", msg("unknown area '{code}'; e.g. {examples}",
                                                       code=area,
                                                       examples=list(areas)[:4]))])
    return areas[area]


def record(
    session: Session,
    trip_id_or_ref: str,
    event_type: domain.EventType,
    payload: dict[str, Any],
    *,
    actor: Principal,
    network: Network,
    now: datetime,
    source: str,
    occurred_at: datetime | None = None,
    idempotency_key: str | None = None,
    expected_version: int | None = None,
) -> tuple[Trip, bool]:
    """Record one event on a trip; returns the trip and whether anything changed.

    A retry with the same ``idempotency_key`` returns the trip as it is, with no new event.
    """
    row = get(session, trip_id_or_ref, actor=actor, network=network, for_update=True)
    if idempotency_key is not None:
        seen = session.scalar(select(TripEvent).where(TripEvent.trip_id == row.id,
                                                      TripEvent.idempotency_key ==
                                                      idempotency_key))
        if seen is not None:
            if seen.type != event_type or {k: seen.payload.get(k) for k in payload} != payload:
                raise Conflict(msg("this idempotency key was used for another event"),
                               code="idempotency_key_reused")
            return row, False
    if event_type.startswith("area."):
        payload = {**payload, "gate": resolve_area(network, str(payload.get("area")))}
    _authorise(actor, row, event_type, payload, network)
    _check_reason(network, event_type, payload)
    if expected_version is not None and expected_version != row.version:
        raise Conflict(msg("the trip is at version {version}, not {expected}; someone recorded "
                           "something first — reload it", version=str(row.version),
                           expected=str(expected_version)), code="version_conflict")
    when = occurred_at or now
    if when.tzinfo is None:
        raise ValidationFailed([FieldError("occurred_at", msg("give a timezone"))])
    if when > now + FUTURE_TOLERANCE:
        raise ValidationFailed([FieldError("occurred_at", msg("must not be in the future"))])
    if when < row.created_at:
        raise ValidationFailed([FieldError("occurred_at",
                                           msg("is before the trip was declared"))])
    event = domain.Event(event_type, when, actor.username, payload)
    return _append(session, row, event, actor=actor, source=source, now=now,
                   key=idempotency_key), True


# --- finding trips -----------------------------------------------------------------------------


def search(session: Session, q: str, *, actor: Principal, network: Network | None,
           status: str | None = None, gate: str | None = None, limit: int = 50,
           offset: int = 0) -> tuple[list[Trip], int]:
    """Trips by declaration or trip reference, scanned QR link, or plate (any spelling)."""
    query = select(Trip).where(scope_clause(actor, network))
    text = q.strip()
    if text:
        ref = _REFERENCE.search(text)
        if ref:
            found = ref.group(0).upper()
            query = query.where(
                Trip.reference == found if found.count("-") == 3
                else Trip.reference.like(f"{found}-%")
            )
        else:
            try:
                key = parse_plate(text).key
            except ValueError:
                key = plate_key(text)
            query = query.where(Trip.plate_key == key)
    if status:
        query = query.where(Trip.status == status)
    if gate:
        query = query.where(Trip.gate == gate)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Trip.updated_at.desc(), Trip.reference)
                           .offset(offset).limit(limit)).all()
    return list(rows), total


def events_of(session: Session, trip_id: str) -> list[TripEvent]:
    return list(session.scalars(select(TripEvent).where(TripEvent.trip_id == trip_id)
                                .order_by(TripEvent.seq)).all())


def to_domain_event(e: TripEvent) -> domain.Event:
    return domain.Event(e.type, e.occurred_at, e.actor_name, e.payload)  # type: ignore[arg-type]


def replay(session: Session, trip_id: str) -> dict[str, Any] | None:
    """The trip's state rebuilt from its event log alone."""
    return domain.replay(to_domain_event(e) for e in events_of(session, trip_id))


WORK_KEYS = (paging.Key(Trip.updated_at, datetime), paging.Key(Trip.id, str))
"""The work queue's order: the trip changed longest ago first (the id breaks ties)."""


def work_queue(session: Session, *, actor: Principal, network: Network, gate: str | None = None,
               cursor: str | None = None, limit: int = paging.DEFAULT_LIMIT,
               before: str | None = None) -> paging.Page[tuple[Trip, list[dict[str, Any]]]]:
    """Trips with steps the caller can record now, oldest change first, a page after
    ``cursor`` (or before ``before``): trips under way are read in batches until the page
    is full."""
    roles = {r.value for r in actor.roles}
    yards = gates_of_yards(network)
    query = select(Trip).where(Trip.status.notin_(("completed", "rejected", "cancelled")))
    if gate:
        query = query.where(Trip.gate == gate)

    def mine(row: Trip) -> tuple[Trip, list[dict[str, Any]]] | None:
        steps = [s for s in domain.pending_steps(row.state, roles)
                 if may_record_step(actor, s["role"], row.gate, yards)
                 and s["kind"] not in domain.MOVEMENT_KINDS]
        return (row, steps) if steps else None

    return paging.kept_page(session, query, WORK_KEYS, cursor=cursor, limit=limit,
                            key_of=lambda r: (r.updated_at, r.id), keep=mine, before=before)


# --- occupancy, deadlines, durations -----------------------------------------------------------


def located(session: Session, network: Network) -> Counter[str]:
    """Vehicles now in each place of the network on our side (its staging areas, gate areas
    and yards), counted by the database through the index on the place: exports that crossed
    keep the place ``partner`` for good, and the count must not grow with that history."""
    places = [f"staging:{s.code}" for s in network.staging_areas]
    for g in network.gates:
        places += [f"gate_area:{g.code}", *(f"yard:{y.code}" for y in g.yards)]
    rows = session.execute(select(Trip.location, func.count()).where(
        Trip.location.in_(places)).group_by(Trip.location)).all()
    return Counter({str(location): int(n) for location, n in rows})


def occupancy(session: Session, network: Network) -> list[dict[str, Any]]:
    """Vehicles now in each staging area, gate area (yards included) and yard."""
    counts = located(session, network)
    out: list[dict[str, Any]] = []
    for s in network.staging_areas:
        out.append({"area": f"staging:{s.code}", "kind": "staging", "gate": None,
                    "name": s.name.en, "vehicles": counts[f"staging:{s.code}"],
                    "capacity": s.capacity})
    for g in network.gates:
        in_yards = {y.code: counts[f"yard:{y.code}"] for y in g.yards}
        out.append({"area": f"gate_area:{g.code}", "kind": "gate_area", "gate": g.code,
                    "name": g.name.en,
                    "vehicles": counts[f"gate_area:{g.code}"] + sum(in_yards.values()),
                    "capacity": sum(y.capacity for y in g.yards)})
        out += [{"area": f"yard:{y.code}", "kind": "yard", "gate": g.code, "name": y.name.en,
                 "vehicles": in_yards[y.code], "capacity": y.capacity} for y in g.yards]
    return out


DEADLINE_KEYS = (paging.Key(Trip.next_due_at, datetime), paging.Key(Trip.id, str))
"""The deadline alerts' order: the longest overdue first (the id breaks ties)."""


def overdue(session: Session, *, actor: Principal, network: Network, now: datetime,
            cursor: str | None = None, limit: int = paging.DEFAULT_LIMIT,
            before: str | None = None) -> paging.Page[tuple[Trip, list[dict[str, Any]]]]:
    """Trips past a deadline not met, with those deadlines, a page after ``cursor`` (or
    before ``before``). Only
    the trips whose earliest unmet deadline (``next_due_at``, indexed) has passed are read:
    the trips that met theirs, and crossed exports back in time, are never loaded."""
    query = select(Trip).where(scope_clause(actor, network), Trip.next_due_at < now)
    found: paging.Page[Trip] = paging.page(session, query, DEADLINE_KEYS, cursor=cursor,
                                           limit=limit, key_of=lambda r: (r.next_due_at, r.id),
                                           before=before)
    return paging.Page([(row, [d for d in domain.overdue(row.state, now) if not d["met"]])
                        for row in found.items], found.next_cursor, found.prev_cursor)


def step_duration_summary(session: Session, *, gate: str | None, day: date, now: datetime,
                          flow: str | None = None) -> dict[str, Any]:
    """Time spent in each step, for steps passed on a local day: count, mean, p50, p90 (min).

    Also the whole time in the border system of trips completed that day, and the deadlines
    due that day that were missed (met late, or not met by ``now``).
    """
    start = datetime.combine(day, datetime.min.time(), LOCAL_TZ)
    end = start + timedelta(days=1)
    per_step: dict[str, list[float]] = defaultdict(list)
    totals: list[float] = []
    missed: dict[str, int] = defaultdict(int)
    # A deadline due that day started at most 48 h before (the longest deadline is 36 h), so
    # trips untouched since before then cannot contribute.
    query = select(Trip).where(Trip.created_at < end,
                               Trip.updated_at >= start - timedelta(hours=48))
    if gate:
        query = query.where(Trip.gate == gate)
    if flow:
        query = query.where(Trip.flow == flow)
    for row in session.scalars(query).all():
        state = row.state
        for late in domain.overdue(state, now):
            if start <= domain.parse_time(late["due_at"]) < end:
                missed[late["code"]] += 1
        for code, seconds in domain.step_durations(state).items():
            done = domain.parse_time(state["steps"][code]["done_at"])
            if start <= done < end:
                per_step[code].append(seconds)
        completed = state["milestones"].get("completed")
        total = domain.system_time(state)
        if completed and total is not None and start <= domain.parse_time(completed) < end:
            totals.append(total)
    return {
        "gate": gate, "date": day.isoformat(), "flow": flow,
        "steps": {code: domain.summarise(v) for code, v in sorted(per_step.items())},
        "system": domain.summarise(totals),
        "deadlines_missed": dict(sorted(missed.items())),
    }


def timeline(session: Session, row: Trip) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    previous: datetime | None = None
    for e in events_of(session, row.id):
        since = (e.occurred_at - previous).total_seconds() if previous else None
        payload = {k: v for k, v in e.payload.items() if k not in ("procedure", "facts")}
        out.append({"seq": e.seq, "type": e.type, "step": e.payload.get("step"),
                    "actor": e.actor_name, "source": e.source,
                    "occurred_at": e.occurred_at, "recorded_at": e.recorded_at,
                    "seconds_since_previous": since, "payload": payload})
        previous = e.occurred_at
    return out
