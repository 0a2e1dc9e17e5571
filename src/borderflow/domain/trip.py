"""Trips: one vehicle's passage through one gate under one declaration.

Everything that happens to a trip is an :class:`Event`. The trip's state is a plain JSON
document folded from its events by :func:`apply`, a pure function: the service stores the state
(the projection) in the same transaction as the event, and :func:`replay` rebuilds it from the
log. An event that is not valid for the current state raises an :class:`AppError` and changes
nothing.

State document (all times ISO 8601 UTC)::

    id, declaration_id, reference, gate, flow, direction, priority, conditions,
    facts: {plate, plate_key, ..., driver_crosses, vehicle_country, perishable, ...},
    procedure: {code, direction, steps: [...], deadlines: [...]},
    status: declared | at_staging | called | in_gate_area | completed | rejected | cancelled,
    steps: {code: {status: pending|passed|held|rejected|skipped, available_at, done_at, by,
                   channel, hold}},
    location: null | "staging:<code>" | "gate_area:<gate>" | "yard:<code>" | "partner",
    booking: null | {id, gate, slot_start, kind, at},
    order: null | {gate, yard, arrive_by, issued_at, acknowledged_at}, no_shows,
    milestones: {created, staging_entered, called, gate_area_entered, crossed, returned,
                 completed},
    deadlines: {code: {name, due_at, met_at}},
    outcome: null | {kind: rejected|cancelled, step, reason_code, note, at, by},
    version, created_at, updated_at
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from borderflow.domain.procedure import Deadline, Procedure, Step
from borderflow.domain.report import percentile_of
from borderflow.errors import Conflict, FieldError, Text, ValidationFailed, msg

EventType = Literal[
    "trip.created",
    "trip.amended",
    "trip.cancelled",
    "trip.called",
    "trip.returned",
    "trip.booked",
    "trip.unbooked",
    "trip.prioritised",
    "trip.no_show",
    "trip.order_acknowledged",
    "trip.recalled",
    "trip.rerouted",
    "step.passed",
    "step.held",
    "step.released",
    "step.rejected",
    "step.voided",
    "area.entered",
    "area.left",
    "fee.assessed",
    "fee.settled",
    "fee.unsettled",
]
EVENT_TYPES: tuple[EventType, ...] = (
    "trip.created", "trip.amended", "trip.cancelled", "trip.called", "trip.returned",
    "trip.booked", "trip.unbooked", "trip.prioritised", "trip.no_show",
    "trip.order_acknowledged", "trip.recalled", "trip.rerouted", "step.passed", "step.held",
    "step.released",
    "step.rejected", "step.voided",
    "area.entered", "area.left", "fee.assessed", "fee.settled", "fee.unsettled",
)
Source = Literal["officer_screen", "api", "gps", "camera", "regulator", "system"]
SOURCES: tuple[Source, ...] = ("officer_screen", "api", "gps", "camera", "regulator", "system")
Channel = Literal["green", "yellow", "red"]
CHANNELS: tuple[Channel, ...] = ("green", "yellow", "red")

TERMINAL = frozenset({"rejected", "cancelled"})
Status = Literal["declared", "at_staging", "called", "in_gate_area", "completed", "rejected",
                 "cancelled"]
STATUSES: tuple[Status, ...] = ("declared", "at_staging", "called", "in_gate_area", "completed",
                                "rejected", "cancelled")
STATUS_TRANSITIONS: tuple[tuple[str, str, str], ...] = (
    ("declared", "at_staging", "entered the staging area"),
    ("declared", "in_gate_area", "admitted (gates without staging) or crossed in (imports)"),
    ("declared", "called", "called forward (gates without a staging area)"),
    ("declared", "rejected", "rejected at a step"),
    ("declared", "cancelled", "declaration cancelled or vehicle removed"),
    ("at_staging", "declared", "left the staging area before being called"),
    ("at_staging", "called", "called forward"),
    ("at_staging", "rejected", "rejected at a step"),
    ("at_staging", "cancelled", "declaration cancelled, or a no-show at a gate that cancels "
                                "them (the truck then leaves the park)"),
    ("called", "in_gate_area", "entered the gate area"),
    ("called", "at_staging", "no-show, or order withdrawn (gate closed or paused)"),
    ("called", "rejected", "rejected at a step"),
    ("in_gate_area", "completed", "crossed the border (export) or left inland (import)"),
    ("in_gate_area", "called", "left the gate area without crossing (staged trips)"),
    ("in_gate_area", "declared", "left the gate area without crossing (other trips)"),
    ("in_gate_area", "rejected", "rejected at a step"),
)
"""Every change of status a trip can make (the documentation's state diagram)."""

MOVEMENT_KINDS = {"transport": "entering the staging area",
                  "vehicle_control": "entering the gate area"}


def _place(location: str | None) -> Text:
    """Where a vehicle is, for a message (``area`` is ``kind:code``)."""
    if location is None:
        return msg("no area")
    if location == "partner":
        return msg("the partner side")
    return msg("{area}", area=location)


@dataclass(frozen=True)
class Event:
    """One fact about a trip. ``actor`` is the account name that caused it."""

    type: EventType
    occurred_at: datetime
    actor: str
    payload: Mapping[str, Any] = field(default_factory=dict)


class StepNotReady(Conflict):
    code = "step_not_ready"


class InvalidTransition(Conflict):
    code = "invalid_transition"


def iso(t: datetime) -> str:
    if t.tzinfo is None:
        raise ValueError("event times must be timezone-aware")
    return t.isoformat()


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- procedure helpers (on the procedure snapshot kept in the state) ---------------------------


def procedure_to_dict(p: Procedure) -> dict[str, Any]:
    return {
        "code": p.code,
        "direction": p.direction,
        "steps": [
            {"code": s.code, "kind": s.kind, "role": s.role, "applies": s.applies,
             "after": list(p.prerequisites(s.code)), "name_en": s.name_en,
             "name_vi": s.name_vi, "name_zh": s.name_zh}
            for s in p.steps
        ],
        "deadlines": [
            {"code": d.code, "name_en": d.name_en, "starts": d.starts, "ends": d.ends,
             "minutes": d.minutes, "applies": d.applies}
            for d in p.deadlines
        ],
    }


def procedure_from_dict(d: Mapping[str, Any]) -> Procedure:
    return Procedure(
        code=d["code"],
        direction=d["direction"],
        steps=tuple(
            Step(code=s["code"], kind=s["kind"], role=s["role"], applies=s["applies"],
                 after=tuple(s["after"]), name_en=s["name_en"], name_vi=s["name_vi"],
                 name_zh=s["name_zh"])
            for s in d["steps"]
        ),
        deadlines=tuple(Deadline(**x) for x in d["deadlines"]),
    )


def _step_defs(state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["code"]: s for s in state["procedure"]["steps"]}


def _satisfied(state: Mapping[str, Any], code: str) -> bool:
    st = state["steps"][code]["status"]
    if st == "passed":
        return True
    if st == "skipped":
        return all(_satisfied(state, p) for p in _step_defs(state)[code]["after"])
    return False


def is_ready(state: Mapping[str, Any], code: str) -> bool:
    """All prerequisites of ``code`` are done (or do not apply)."""
    return all(_satisfied(state, p) for p in _step_defs(state)[code]["after"])


def expected_before(state: Mapping[str, Any], code: str) -> list[str]:
    """The steps still to be done before ``code`` can be recorded, in procedure order."""
    defs = _step_defs(state)
    missing: set[str] = set()

    def walk(c: str) -> None:
        for p in defs[c]["after"]:
            if _satisfied(state, p):
                continue
            if state["steps"][p]["status"] != "skipped":
                missing.add(p)
            walk(p)

    walk(code)
    return [c for c in defs if c in missing]


def pending_steps(state: Mapping[str, Any], roles: Iterable[str] | None = None
                  ) -> list[dict[str, Any]]:
    """Steps that can be recorded now (ready, not done, not held), for the given roles."""
    if state["status"] in TERMINAL:
        return []
    wanted = set(roles) if roles is not None else None
    out = []
    for s in state["procedure"]["steps"]:
        st = state["steps"][s["code"]]
        if st["status"] != "pending" or not is_ready(state, s["code"]):
            continue
        if wanted is not None and s["role"] not in wanted:
            continue
        out.append(s)
    return out


def dependents(state: Mapping[str, Any], code: str) -> set[str]:
    """The steps that come after ``code``, directly or not."""
    out: set[str] = set()
    frontier = {code}
    while frontier:
        nxt = {s["code"] for s in state["procedure"]["steps"]
               if set(s["after"]) & frontier} - out
        out |= nxt
        frontier = nxt
    return out


# --- creating a trip ---------------------------------------------------------------------------


def conditions_for(facts: Mapping[str, Any], transshipment: bool) -> list[str]:
    out = []
    if facts.get("quarantine_kind", "none") != "none":
        out.append("quarantine")
    if transshipment:
        out.append("transshipment")
    if facts.get("driver_crosses"):
        out.append("driver_crosses")
    return out


def _step_statuses(procedure: Mapping[str, Any], conditions: Sequence[str]
                   ) -> dict[str, dict[str, Any]]:
    return {
        s["code"]: {
            "status": "pending" if s["applies"] == "always" or s["applies"] in conditions
            else "skipped",
            "available_at": None, "done_at": None, "by": None, "channel": None, "hold": None,
        }
        for s in procedure["steps"]
    }


def _created(e: Event) -> dict[str, Any]:
    p = e.payload
    for key in ("id", "declaration_id", "reference", "gate", "flow", "direction", "priority",
                "facts", "procedure", "transshipment"):
        if key not in p:
            raise ValidationFailed([FieldError(f"payload.{key}",
                                               msg("required to create a trip"))])
    conditions = conditions_for(p["facts"], bool(p["transshipment"]))
    at = iso(e.occurred_at)
    state: dict[str, Any] = {
        "id": p["id"],
        "declaration_id": p["declaration_id"],
        "reference": p["reference"],
        "gate": p["gate"],
        "flow": p["flow"],
        "direction": p["direction"],
        "priority": p["priority"],
        "transshipment": bool(p["transshipment"]),
        "conditions": conditions,
        "facts": copy.deepcopy(dict(p["facts"])),
        "procedure": copy.deepcopy(dict(p["procedure"])),
        "status": "declared",
        "steps": _step_statuses(p["procedure"], conditions),
        "location": None,
        "booking": None,
        "order": None,
        "fee": None,
        "no_shows": 0,
        "milestones": {"created": at},
        "deadlines": {},
        "outcome": None,
        "version": 1,
        "created_at": at,
        "updated_at": at,
    }
    first = state["procedure"]["steps"][0]["code"]
    state["steps"][first].update(status="passed", available_at=at, done_at=at, by=e.actor)
    _refresh(state, e.occurred_at)
    return state


# --- the reducer -------------------------------------------------------------------------------


def affects_dispatch(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether a change may let the dispatcher call, hold or re-route someone: the trip's
    status, place, gate, priority class, booking or holds changed."""
    keys = ("status", "location", "gate", "priority", "booking")
    return any(before.get(k) != after.get(k) for k in keys) or _held(before) != _held(after)


def _held(state: Mapping[str, Any]) -> bool:
    return any(s.get("status") == "held" for s in state.get("steps", {}).values())


def apply(state: Mapping[str, Any] | None, event: Event) -> dict[str, Any]:
    """The state after ``event``; raises (and changes nothing) if it is not valid now."""
    if event.type == "trip.created":
        if state is not None:
            raise InvalidTransition(msg("the trip already exists"))
        return _created(event)
    if state is None:
        raise InvalidTransition(msg("the trip does not exist yet"))
    handler = _HANDLERS.get(event.type)
    if handler is None:
        raise ValidationFailed([FieldError("type", msg("unknown event type '{event_type}'",
                                                        event_type=event.type))])
    s = copy.deepcopy(dict(state))
    if s["status"] in TERMINAL and event.type != "area.left":
        raise InvalidTransition(msg("the trip is {status}; nothing more can be recorded",
                                    status=s["status"]))
    handler(s, event)
    _pass_settled_fee_step(s, event)
    _refresh(s, event.occurred_at)
    s["version"] += 1
    s["updated_at"] = iso(event.occurred_at)
    return s


def replay(events: Iterable[Event]) -> dict[str, Any] | None:
    state: dict[str, Any] | None = None
    for e in events:
        state = apply(state, e)
    return state


def _step(s: Mapping[str, Any], e: Event) -> tuple[str, dict[str, Any], dict[str, Any]]:
    code = e.payload.get("step")
    defs = _step_defs(s)
    if not isinstance(code, str) or code not in defs:
        raise ValidationFailed(
            [FieldError("step", msg("unknown step '{code}'; steps: {steps}", code=code,
                                    steps=list(defs)))]
        )
    st = s["steps"][code]
    if st["status"] == "skipped":
        raise InvalidTransition(msg("step '{step}' does not apply to this trip", step=code))
    return code, defs[code], st


def _require_ready(s: Mapping[str, Any], code: str) -> None:
    if not is_ready(s, code):
        expected = expected_before(s, code)
        raise StepNotReady(
            msg("step '{step}' cannot be recorded yet; still expected: {steps}", step=code,
                steps=list(expected)),
            fields=[FieldError("step", msg("still expected: {steps}", steps=list(expected)))],
        )


def _location_in_gate_area(s: Mapping[str, Any]) -> bool:
    loc = s["location"]
    return isinstance(loc, str) and (loc == f"gate_area:{s['gate']}" or loc.startswith("yard:"))


def _pass(s: dict[str, Any], code: str, e: Event, channel: str | None = None) -> None:
    s["steps"][code].update(status="passed", done_at=iso(e.occurred_at), by=e.actor,
                            channel=channel, hold=None)


def _on_step_passed(s: dict[str, Any], e: Event) -> None:
    code, spec, st = _step(s, e)
    kind = spec["kind"]
    if st["status"] == "passed":
        raise InvalidTransition(msg("step '{step}' has already been passed", step=code))
    if st["status"] == "held":
        raise InvalidTransition(msg("step '{step}' is on hold; release it first", step=code))
    if kind in MOVEMENT_KINDS:
        if kind == "transport":
            raise InvalidTransition(msg("step '{step}' is completed by entering the staging "
                                        "area; record that movement", step=code))
        raise InvalidTransition(msg("step '{step}' is completed by entering the gate area; "
                                    "record that movement", step=code))
    _require_ready(s, code)
    if kind == "fee" and not fee_settled(s):
        fee = s.get("fee") or {}
        if not fee:
            raise InvalidTransition(msg("the fee is not paid: no invoice yet; it passes when "
                                        "the invoice is paid or a regulator waives it"))
        raise InvalidTransition(msg(
            "the fee is not paid: invoice {invoice} is {invoice_status} ({total} VND); it "
            "passes when the invoice is paid or a regulator waives it",
            invoice=fee["invoice"], invoice_status=fee["status"], total=int(fee["total"])))
    channel = e.payload.get("channel")
    if kind == "customs":
        if channel not in CHANNELS:
            raise ValidationFailed(
                [FieldError("channel", msg("customs records the inspection channel: green, "
                                           "yellow or red"))]
            )
    elif channel is not None:
        raise ValidationFailed([FieldError("channel", msg("only customs records a channel"))])
    if kind == "crossing":
        at = iso(e.occurred_at)
        if s["flow"] == "export":
            if not _location_in_gate_area(s):
                raise InvalidTransition(msg("the vehicle is not in the gate area; it cannot "
                                            "cross"))
            s["location"] = "partner"
        else:
            if s["location"] is not None:
                raise InvalidTransition(msg("the vehicle is already in {where}",
                                            where=_place(s["location"])))
            s["location"] = f"gate_area:{s['gate']}"
            s["milestones"].setdefault("gate_area_entered", at)
        s["milestones"]["crossed"] = at
    elif kind == "exit":
        if not _location_in_gate_area(s):
            raise InvalidTransition(msg("the vehicle is not in the gate area"))
        s["location"] = None
    _pass(s, code, e, channel)


# --- the fee -----------------------------------------------------------------------------------

FEE_SETTLED = ("paid", "waived")


def fee_settled(s: Mapping[str, Any]) -> bool:
    fee = s.get("fee")
    return fee is not None and fee["status"] in FEE_SETTLED


def _fee_step(s: Mapping[str, Any]) -> str | None:
    return next((d["code"] for d in s["procedure"]["steps"] if d["kind"] == "fee"), None)


def _reopen_fee_step(s: dict[str, Any]) -> None:
    """The fee is owed again: its step is open again unless a step that needed it (the
    crossing of an export, the exit of an import) has already passed."""
    code = _fee_step(s)
    if code is None or s["steps"][code]["status"] != "passed":
        return
    if any(s["steps"][d]["status"] == "passed" for d in dependents(s, code)):
        return
    s["steps"][code].update(status="pending", done_at=None, by=None)


def _on_fee_assessed(s: dict[str, Any], e: Event) -> None:
    p = e.payload
    for key in ("invoice", "stage", "total", "status"):
        if key not in p:
            raise ValidationFailed([FieldError(f"payload.{key}", msg("required"))])
    s["fee"] = {"invoice": p["invoice"], "stage": p["stage"], "total": int(p["total"]),
                "status": p["status"]}
    if not fee_settled(s):  # e.g. the final amount is higher than the estimate paid
        _reopen_fee_step(s)


def _on_fee_settled(s: dict[str, Any], e: Event) -> None:
    fee = s.get("fee")
    how = e.payload.get("how")
    if not fee or fee["invoice"] != e.payload.get("invoice"):
        raise InvalidTransition(msg("the invoice is not this trip's current invoice"))
    if how not in FEE_SETTLED:
        raise ValidationFailed([FieldError("how", msg("paid or waived"))])
    fee["status"] = how


def _on_fee_unsettled(s: dict[str, Any], e: Event) -> None:
    """A payment voided or refunded: the fee is owed again (see :func:`_reopen_fee_step`)."""
    fee = s.get("fee")
    if not fee or fee["invoice"] != e.payload.get("invoice"):
        raise InvalidTransition(msg("the invoice is not this trip's current invoice"))
    fee["status"] = e.payload.get("status", "open")
    _reopen_fee_step(s)


def _pass_settled_fee_step(s: dict[str, Any], e: Event) -> None:
    """Once the fee is settled, the fee step passes as soon as it is ready."""
    code = _fee_step(s)
    if (code and fee_settled(s) and s["steps"][code]["status"] == "pending"
            and s["status"] not in TERMINAL and is_ready(s, code)):
        _pass(s, code, e)
        s["steps"][code]["by"] = "fee settled"


def _reason(e: Event) -> tuple[str, str]:
    reason = e.payload.get("reason_code")
    if not isinstance(reason, str) or not reason:
        raise ValidationFailed([FieldError("reason_code", msg("give a reason code"))])
    note = e.payload.get("note") or ""
    return reason, str(note)


def _on_step_held(s: dict[str, Any], e: Event) -> None:
    code, _spec, st = _step(s, e)
    if st["status"] != "pending":
        raise InvalidTransition(msg("step '{step}' is {step_status}; only a pending step can "
                                    "be held", step=code, step_status=st["status"]))
    _require_ready(s, code)
    reason, note = _reason(e)
    st.update(status="held", hold={"reason_code": reason, "note": note,
                                   "at": iso(e.occurred_at), "by": e.actor})


def _on_step_released(s: dict[str, Any], e: Event) -> None:
    code, _spec, st = _step(s, e)
    if st["status"] != "held":
        raise InvalidTransition(msg("step '{step}' is not on hold", step=code))
    st.update(status="pending", hold=None)


def _on_step_rejected(s: dict[str, Any], e: Event) -> None:
    code, _spec, st = _step(s, e)
    if st["status"] not in ("pending", "held"):
        raise InvalidTransition(msg("step '{step}' is {step_status}; it cannot be rejected",
                                    step=code, step_status=st["status"]))
    _require_ready(s, code)
    reason, note = _reason(e)
    st.update(status="rejected", done_at=iso(e.occurred_at), by=e.actor, hold=None)
    s["status"] = "rejected"
    s["outcome"] = {"kind": "rejected", "step": code, "reason_code": reason, "note": note,
                    "at": iso(e.occurred_at), "by": e.actor}


def _on_step_voided(s: dict[str, Any], e: Event) -> None:
    code, spec, st = _step(s, e)
    if st["status"] != "passed":
        raise InvalidTransition(msg("step '{step}' has not been passed; nothing to correct",
                                    step=code))
    if spec["kind"] in ("declaration", "transport", "vehicle_control", "crossing", "exit"):
        raise InvalidTransition(msg("step '{step}' is corrected by recording movements, not "
                                    "voided", step=code))
    later = sorted(d for d in dependents(s, code) if s["steps"][d]["status"] == "passed")
    if later:
        raise InvalidTransition(msg("steps after '{step}' are already passed: {steps}",
                                    step=code, steps=later))
    st.update(status="pending", done_at=None, by=None, channel=None)


def _on_called(s: dict[str, Any], e: Event) -> None:
    steps = {x["kind"]: x["code"] for x in s["procedure"]["steps"]}
    control = steps.get("vehicle_control")
    if control is None:
        raise InvalidTransition(msg("this trip's procedure has no call-forward step"))
    if "called" in s["milestones"]:
        raise InvalidTransition(msg("the trip has already been called forward"))
    if s["steps"][control]["status"] != "pending":
        raise InvalidTransition(msg("the vehicle is already in the gate area"))
    _require_ready(s, control)
    s["milestones"]["called"] = iso(e.occurred_at)
    p = e.payload
    s["order"] = {"gate": p.get("gate", s["gate"]), "yard": p.get("yard"),
                  "arrive_by": p.get("arrive_by"), "issued_at": iso(e.occurred_at),
                  "acknowledged_at": None}


def _withdraw_call(s: dict[str, Any]) -> None:
    s["milestones"].pop("called", None)
    from_call = {d["code"] for d in s["procedure"]["deadlines"] if d["starts"] == "called"}
    s["deadlines"] = {k: v for k, v in s["deadlines"].items() if k not in from_call}
    s["order"] = None


def _on_no_show(s: dict[str, Any], e: Event) -> None:
    if s["status"] != "called":
        raise InvalidTransition(msg("only a called vehicle that has not arrived can be a "
                                    "no-show"))
    _withdraw_call(s)
    s["no_shows"] = int(s.get("no_shows", 0)) + 1


def _on_recalled(s: dict[str, Any], e: Event) -> None:
    if s["status"] != "called":
        raise InvalidTransition(msg("only a called vehicle that has not arrived can be "
                                    "recalled"))
    _withdraw_call(s)


def _restep(s: dict[str, Any], keep: tuple[str, ...]) -> None:
    """Recompute the steps after the facts or the procedure changed; steps whose status is in
    ``keep`` stay as they were."""
    s["conditions"] = conditions_for(s["facts"], bool(s["transshipment"]))
    fresh = _step_statuses(s["procedure"], s["conditions"])
    for code in fresh:
        old = s["steps"].get(code)
        if old is not None and old["status"] in keep:
            fresh[code] = old
    s["steps"] = fresh


def _on_rerouted(s: dict[str, Any], e: Event) -> None:
    """The regulator (or the dispatcher) sends a waiting truck to another gate: the trip takes
    that gate's procedure; steps already passed stay passed."""
    if s["status"] not in ("declared", "at_staging"):
        raise InvalidTransition(msg("a trip that is {status} cannot change gate; recall it "
                                    "first", status=s["status"]))
    if s.get("booking"):
        raise InvalidTransition(msg("release the trip's booking before it changes gate"))
    p = e.payload
    for key in ("gate", "procedure"):
        if not p.get(key):
            raise ValidationFailed([FieldError(key, msg("required to re-route a trip"))])
    if p["gate"] == s["gate"]:
        raise InvalidTransition(msg("the trip already goes through {gate}", gate=s["gate"]))
    s["gate"] = p["gate"]
    s["procedure"] = copy.deepcopy(dict(p["procedure"]))
    s["transshipment"] = bool(p.get("transshipment", s["transshipment"]))
    _restep(s, keep=("passed", "held"))
    s["reroutes"] = int(s.get("reroutes", 0)) + 1


def _on_acknowledged(s: dict[str, Any], e: Event) -> None:
    order = s.get("order")
    if not order or s["status"] != "called":
        raise InvalidTransition(msg("there is no open order to acknowledge"))
    if order.get("acknowledged_at"):
        raise InvalidTransition(msg("the order has already been acknowledged"))
    order["acknowledged_at"] = iso(e.occurred_at)


def _on_returned(s: dict[str, Any], e: Event) -> None:
    if s["flow"] != "export" or s["location"] != "partner":
        raise InvalidTransition(msg("only a vehicle that crossed to the partner side can "
                                    "return"))
    if "returned" in s["milestones"]:
        raise InvalidTransition(msg("the vehicle has already returned"))
    s["location"] = None
    s["milestones"]["returned"] = iso(e.occurred_at)


PRIORITIES = ("urgent", "aeo_perishable", "perishable", "aeo", "normal")
"""Priority classes, highest first: granted urgent, an authorised economic operator (AEO) with
perishable goods, perishable goods, an AEO, everything else."""


def priority_class(perishable: bool, aeo: bool) -> str:
    if perishable and aeo:
        return "aeo_perishable"
    if perishable:
        return "perishable"
    return "aeo" if aeo else "normal"


def _on_prioritised(s: dict[str, Any], e: Event) -> None:
    priority = e.payload.get("priority")
    if priority not in PRIORITIES:
        raise ValidationFailed([FieldError("priority", msg("one of {priority}",
                                                           priority=list(PRIORITIES)))])
    if len(str(e.payload.get("reason") or "").strip()) < 3:
        raise ValidationFailed([FieldError("reason", msg("say why the priority changes (at "
                                                         "least 3 characters)"))])
    if s["status"] == "completed":
        raise InvalidTransition(msg("the trip is completed"))
    s["priority"] = priority


def _on_booked(s: dict[str, Any], e: Event) -> None:
    if s["status"] not in ("declared", "at_staging"):
        raise InvalidTransition(msg("a trip that is {status} cannot be booked",
                                    status=s["status"]))
    if s.get("booking"):
        raise InvalidTransition(msg("the vehicle already has a booking; cancel or move it"))
    p = e.payload
    for key in ("booking_id", "gate", "slot_start"):
        if not p.get(key):
            raise ValidationFailed([FieldError(key, msg("required for a booking"))])
    if p["gate"] != s["gate"]:
        raise InvalidTransition(msg("the trip goes through {gate}, not {other_gate}",
                                    gate=s["gate"], other_gate=msg("{gate}", gate=p["gate"])))
    s["booking"] = {"id": p["booking_id"], "gate": p["gate"], "slot_start": p["slot_start"],
                    "kind": p.get("kind", "requested"), "at": iso(e.occurred_at)}


def _on_unbooked(s: dict[str, Any], e: Event) -> None:
    booking = s.get("booking")
    if not booking or booking["id"] != e.payload.get("booking_id"):
        raise InvalidTransition(msg("the trip has no such booking"))
    s["booking"] = None


def _on_amended(s: dict[str, Any], e: Event) -> None:
    if s["status"] != "declared" or s["location"] is not None:
        raise InvalidTransition(msg("the trip has started; its declaration can no longer "
                                    "change"))
    facts = e.payload.get("facts")
    if not isinstance(facts, Mapping):
        raise ValidationFailed([FieldError("payload.facts", msg("required"))])
    s["facts"] = copy.deepcopy(dict(facts))
    for key in ("gate", "priority", "procedure", "transshipment", "flow", "direction"):
        if key in e.payload:
            s[key] = copy.deepcopy(e.payload[key])
    _restep(s, keep=("passed",))


def _on_cancelled(s: dict[str, Any], e: Event) -> None:
    in_park = s["location"] is None or str(s["location"]).startswith("staging:")
    if not in_park or s["status"] not in ("declared", "at_staging"):
        if s["location"]:
            raise InvalidTransition(msg("the vehicle is {status} ({where}); it cannot be "
                                        "cancelled now", status=s["status"],
                                        where=_place(s["location"])))
        raise InvalidTransition(msg("the vehicle is {status}; it cannot be cancelled now",
                                    status=s["status"]))
    s["status"] = "cancelled"
    s["outcome"] = {"kind": "cancelled", "step": None, "reason_code": None,
                    "note": str(e.payload.get("reason") or ""), "at": iso(e.occurred_at),
                    "by": e.actor}


def _area(e: Event) -> tuple[str, str, str]:
    area = e.payload.get("area")
    if not isinstance(area, str) or ":" not in area:
        raise ValidationFailed([FieldError("area", msg("name the area as staging:<code>, "
                                                       "gate_area:<gate> or yard:<code>"))])
    kind, _, code = area.partition(":")
    if kind not in ("staging", "gate_area", "yard") or not code:
        raise ValidationFailed([FieldError("area", msg("unknown kind of area '{kind}'",
                                                       kind=kind))])
    return area, kind, code


def _on_entered(s: dict[str, Any], e: Event) -> None:
    area, kind, _code = _area(e)
    area_gate = e.payload.get("gate") or ""
    loc = s["location"]
    kinds = {x["kind"]: x["code"] for x in s["procedure"]["steps"]}
    at = iso(e.occurred_at)
    if loc == area:
        raise InvalidTransition(msg("the vehicle is already in {area}", area=area))
    if kind == "staging":
        transport = kinds.get("transport")
        if transport is None:
            raise InvalidTransition(msg("this trip does not go through a staging area"))
        if loc is not None:
            raise InvalidTransition(msg("the vehicle is in {where}; record it leaving first",
                                        where=_place(loc)))
        if "called" in s["milestones"] or s["steps"][transport]["status"] not in (
            "pending", "passed"
        ):
            raise InvalidTransition(msg("the vehicle has already been called forward"))
        if s["steps"][transport]["status"] == "pending":
            _require_ready(s, transport)
            _pass(s, transport, e)
        s["milestones"].setdefault("staging_entered", at)
        s["location"] = area
        return
    if area_gate != s["gate"]:
        raise InvalidTransition(msg("{area} is not at this trip's gate ({gate})", area=area,
                                    gate=s["gate"]))
    if kind == "gate_area":
        if loc is not None and not loc.startswith("staging:"):
            raise InvalidTransition(msg("the vehicle is in {where}; record it leaving first",
                                        where=_place(loc)))
        control = kinds.get("vehicle_control")
        if control is None:
            raise InvalidTransition(msg("import vehicles enter the gate area by the crossing "
                                        "step"))
        if s["steps"][control]["status"] == "pending":
            _require_ready(s, control)
            if kinds.get("transport") and "called" not in s["milestones"]:
                raise InvalidTransition(msg("the vehicle has not been called forward yet"))
            _pass(s, control, e)
        elif "crossed" in s["milestones"]:
            raise InvalidTransition(msg("the vehicle has already crossed"))
        s["milestones"].setdefault("gate_area_entered", at)
        s["location"] = area
        return
    # a yard of the trip's gate: only from inside the gate area
    if not _location_in_gate_area(s):
        raise InvalidTransition(msg("the vehicle must be in the gate area to enter one of its "
                                    "yards"))
    s["location"] = area


def _on_left(s: dict[str, Any], e: Event) -> None:
    area, kind, _code = _area(e)
    loc = s["location"]
    if loc != area:
        raise InvalidTransition(msg("the vehicle is not in {area} (it is in {where}); an exit "
                                    "needs an entry", area=area, where=_place(loc)))
    if kind == "gate_area" and s["status"] not in TERMINAL:
        # leaving the gate area is an import's exit step (seen by a camera or GPS)
        exit_step = next((d["code"] for d in s["procedure"]["steps"] if d["kind"] == "exit"),
                         None)
        if exit_step is not None and s["steps"][exit_step]["status"] == "pending":
            _require_ready(s, exit_step)
            _pass(s, exit_step, e)
    s["location"] = f"gate_area:{s['gate']}" if kind == "yard" else None


_HANDLERS: dict[str, Callable[[dict[str, Any], Event], None]] = {
    "trip.amended": _on_amended,
    "trip.cancelled": _on_cancelled,
    "trip.called": _on_called,
    "trip.returned": _on_returned,
    "trip.booked": _on_booked,
    "trip.prioritised": _on_prioritised,
    "trip.no_show": _on_no_show,
    "trip.recalled": _on_recalled,
    "trip.rerouted": _on_rerouted,
    "trip.order_acknowledged": _on_acknowledged,
    "trip.unbooked": _on_unbooked,
    "step.passed": _on_step_passed,
    "step.held": _on_step_held,
    "step.released": _on_step_released,
    "step.rejected": _on_step_rejected,
    "step.voided": _on_step_voided,
    "area.entered": _on_entered,
    "area.left": _on_left,
    "fee.assessed": _on_fee_assessed,
    "fee.settled": _on_fee_settled,
    "fee.unsettled": _on_fee_unsettled,
}


def _deadline_applies(s: Mapping[str, Any], applies: str) -> bool:
    facts = s["facts"]
    if applies == "driver_crosses":
        return bool(facts.get("driver_crosses"))
    if applies == "vn_vehicle_crosses":
        return bool(facts.get("driver_crosses")) and facts.get("vehicle_country") == "VN"
    return True


def _refresh(s: dict[str, Any], at: datetime) -> None:
    """Derived parts of the state: step availability, completion, status, deadlines."""
    now = iso(at)
    for code, st in s["steps"].items():
        if st["status"] == "pending" and st["available_at"] is None and is_ready(s, code):
            st["available_at"] = now
    if s["status"] not in TERMINAL:
        done = all(st["status"] in ("passed", "skipped") for st in s["steps"].values())
        if done:
            s["milestones"].setdefault("completed", now)
        ms = s["milestones"]
        if "completed" in ms:
            s["status"] = "completed"
        elif _location_in_gate_area(s):
            s["status"] = "in_gate_area"
        elif "called" in ms:
            s["status"] = "called"
        elif isinstance(s["location"], str) and s["location"].startswith("staging:"):
            s["status"] = "at_staging"
        else:
            s["status"] = "declared"
    for d in s["procedure"]["deadlines"]:
        if not _deadline_applies(s, d["applies"]):
            continue
        start = s["milestones"].get(d["starts"])
        if start is None:
            continue
        entry = s["deadlines"].get(d["code"])
        if entry is None:
            due = parse_time(start) + timedelta(minutes=d["minutes"])
            entry = {"name": d["name_en"], "due_at": iso(due), "met_at": None}
            s["deadlines"][d["code"]] = entry
        end = s["milestones"].get(d["ends"])
        if end is not None and entry["met_at"] is None:
            entry["met_at"] = end


# --- reading a state ---------------------------------------------------------------------------


def overdue(state: Mapping[str, Any], now: datetime) -> list[dict[str, Any]]:
    """Deadlines past due and not met (met late counts as missed too, with its lateness)."""
    out: list[dict[str, Any]] = []
    if state["status"] in TERMINAL:
        return out
    for code, d in state["deadlines"].items():
        due = parse_time(d["due_at"])
        met = parse_time(d["met_at"]) if d["met_at"] else None
        if met is None and now > due:
            out.append({"code": code, "name": d["name"], "due_at": d["due_at"],
                        "late_minutes": int((now - due).total_seconds() // 60), "met": False})
        elif met is not None and met > due:
            out.append({"code": code, "name": d["name"], "due_at": d["due_at"],
                        "late_minutes": int((met - due).total_seconds() // 60), "met": True})
    return out


def next_due(state: Mapping[str, Any]) -> datetime | None:
    """When the earliest deadline not yet met falls due; None when none is open or the trip
    ended rejected or cancelled. The trip has an unmet deadline in :func:`overdue` exactly
    when this time has passed (the projection keeps it in an indexed column, so the deadline
    alerts read only the trips it names)."""
    if state["status"] in TERMINAL:
        return None
    return min((parse_time(d["due_at"]) for d in state["deadlines"].values()
                if not d["met_at"]), default=None)


def step_durations(state: Mapping[str, Any]) -> dict[str, float]:
    """Seconds each passed step took, from when it became available to when it was passed."""
    out: dict[str, float] = {}
    for code, st in state["steps"].items():
        if st["status"] == "passed" and st["available_at"] and st["done_at"]:
            seconds = (parse_time(st["done_at"]) - parse_time(st["available_at"])).total_seconds()
            out[code] = max(0.0, seconds)
    return out


def system_time(state: Mapping[str, Any]) -> float | None:
    """Seconds from reaching the border system (staging, gate area or crossing in) to done."""
    ms = state["milestones"]
    start = ms.get("staging_entered") or ms.get("gate_area_entered") or ms.get("crossed")
    end = ms.get("completed")
    if not start or not end:
        return None
    return max(0.0, (parse_time(end) - parse_time(start)).total_seconds())


def summarise(values: Sequence[float]) -> dict[str, float | int]:
    """count, mean, p50, p90 of durations in seconds (given in minutes, 1 decimal); the
    percentiles are nearest-rank, as in every report (``domain/report.py::percentile_rank``)."""
    p50, p90 = percentile_of(values, 0.5), percentile_of(values, 0.9)
    if p50 is None or p90 is None:
        return {"count": 0, "mean": 0.0, "p50": 0.0, "p90": 0.0}
    return {
        "count": len(values),
        "mean": round(sum(values) / len(values) / 60, 1),
        "p50": round(p50 / 60, 1),
        "p90": round(p90 / 60, 1),
    }
