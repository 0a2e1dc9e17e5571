"""HTTP API for trips: find, read, record checkpoint steps and movements, timeline, reports."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from borderflow.api.deps import Ctx, Db, if_match_number, require, roles_doc
from borderflow.api.errors import ERROR_RESPONSES, ErrorResponse
from borderflow.api.idempotency import Idem
from borderflow.api.paging import (
    DEFAULT_LIMIT,
    PAGED_DOC,
    PAGED_RESPONSES,
    Cursor,
    Limit,
    link_next,
)
from borderflow.clock import LOCAL_TZ
from borderflow.domain import privacy
from borderflow.domain import trip as domain
from borderflow.domain.access import Principal, may_record_step
from borderflow.domain.network import Network
from borderflow.domain.trip import Status
from borderflow.network import service as networks
from borderflow.trip import service
from borderflow.trip.schemas import (
    AreaOccupancy,
    MovementIn,
    NoteIn,
    OverdueOut,
    PriorityIn,
    StepDurationsOut,
    StepRecordIn,
    TimelineOut,
    TripOut,
    TripPage,
    VoidIn,
    WorkItem,
)

if TYPE_CHECKING:
    from borderflow.store.models import Trip

router = APIRouter(prefix="/api/v1", tags=["trips"], responses=ERROR_RESPONSES)

Reader = Annotated[Principal, Depends(require("trip.read"))]
Recorder = Annotated[Principal, Depends(require("trip.record"))]
Caller = Annotated[Principal, Depends(require("trip.call"))]
Mover = Annotated[Principal, Depends(require("trip.move"))]
Returner = Annotated[Principal, Depends(require("trip.return"))]
Public = Annotated[Principal, Depends(require("occupancy.read"))]
Prioritiser = Annotated[Principal, Depends(require("trip.prioritise"))]
Acknowledger = Annotated[Principal, Depends(require("trip.acknowledge"))]
AlertReader = Annotated[Principal, Depends(require("alerts.read"))]
ReportReader = Annotated[Principal, Depends(require("reports.read"))]
TripId = Annotated[str, Path(description="Trip id or reference (BF-XXXX-XXXX-1)")]
IfMatch = Annotated[str | None, Header(description='The trip version you saw, e.g. "7": if '
                                                   "someone recorded first you get 409.")]
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such trip that you may see"},
    409: {"model": ErrorResponse,
          "description": "Not possible now (prerequisites missing: the steps still expected are "
                         "listed), already recorded, or changed by someone else"},
}


def trip_out(row: Trip, actor: Principal, network: Network, now: Any) -> dict[str, Any]:
    state = row.state
    procedure = domain.procedure_from_dict(state["procedure"])
    yards = service.gates_of_yards(network)
    steps = []
    for spec in state["procedure"]["steps"]:
        st = state["steps"][spec["code"]]
        steps.append({
            "code": spec["code"], "kind": spec["kind"], "name": spec["name_en"],
            "role": spec["role"], "applies": spec["applies"], "after": spec["after"],
            "parallel_with": list(procedure.parallel_with(spec["code"])),
            "status": st["status"], "ready": domain.is_ready(state, spec["code"]),
            "available_at": st["available_at"], "done_at": st["done_at"], "by": st["by"],
            "channel": st["channel"], "hold": st["hold"],
        })
    pending = domain.pending_steps(state)
    mine = [s["code"] for s in pending if may_record_step(actor, s["role"], row.gate, yards)
            and s["kind"] not in domain.MOVEMENT_KINDS]
    return {
        "id": row.id, "reference": row.reference, "declaration_id": row.declaration_id,
        "gate": row.gate, "flow": row.flow, "direction": row.direction,
        "procedure": state["procedure"]["code"], "reroutes": int(state.get("reroutes", 0)),
        "priority": row.priority, "status": row.status, "location": row.location,
        "on_hold": row.on_hold, "version": row.version,
        "facts": state["facts"] if privacy.needs_personal_data(actor)
        else privacy.masked_facts(state["facts"]),
        "steps": steps, "pending_for_you": mine,
        "next_expected": [s["code"] for s in pending],
        "milestones": state["milestones"], "deadlines": state["deadlines"],
        "overdue": domain.overdue(state, now), "outcome": state["outcome"],
        "fee": state.get("fee"),
        "created_at": row.created_at, "updated_at": row.updated_at,
    }


def _render(row: Trip, actor: Principal, network: Network, ctx: Ctx) -> dict[str, Any]:
    out = TripOut.model_validate(trip_out(row, actor, network, ctx.clock.now()))
    data: dict[str, Any] = out.model_dump(mode="json")
    return data


def _written(row: Trip, actor: Principal, network: Network, ctx: Ctx, idem: Any) -> Response:
    response: Response = idem.respond(_render(row, actor, network, ctx))
    response.headers["ETag"] = f'"{row.version}"'
    return response


@router.get("/trips", response_model=TripPage, summary="Find trips",
            description="`q` is a declaration reference (all its trips), a trip reference, the "
            "text of a scanned QR code, or a plate in any spelling (case, spaces, dots and "
            "dashes do not matter). Only trips you may see are returned."
            + roles_doc("trip.read"))
def find_trips(
    ctx: Ctx, db: Db, actor: Reader,
    q: str = "",
    status: Status | None = None,
    gate: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    network = networks.in_force(db, ctx.clock.now())
    rows, total = service.search(db, q, actor=actor, network=network, status=status, gate=gate,
                                 limit=limit, offset=offset)
    return {"items": [_render(r, actor, network, ctx) for r in rows], "total": total}


@router.get("/trips/{trip_id}", response_model=TripOut,
            responses={404: WRITE_ERRORS[404]}, summary="Read a trip",
            description="Its steps with status, what is pending for you, deadlines. `ETag` is "
            "the version." + roles_doc("trip.read"))
def read_trip(trip_id: TripId, ctx: Ctx, db: Db, actor: Reader) -> Response:
    network = networks.in_force(db, ctx.clock.now())
    row = service.get(db, trip_id, actor=actor, network=network)
    body = TripOut.model_validate(trip_out(row, actor, network, ctx.clock.now()))
    return Response(body.model_dump_json(), media_type="application/json",
                    headers={"ETag": f'"{row.version}"'})


@router.get("/trips/{trip_id}/timeline", response_model=TimelineOut,
            responses={404: WRITE_ERRORS[404]}, summary="A trip's timeline",
            description="Every event, who recorded it, from where, when it happened and when it "
            "was recorded, the time since the previous event, and the minutes each step took."
            + roles_doc("trip.read"))
def trip_timeline(trip_id: TripId, ctx: Ctx, db: Db, actor: Reader) -> dict[str, Any]:
    row = service.get(db, trip_id, actor=actor, network=networks.in_force(db, ctx.clock.now()))
    total = domain.system_time(row.state)
    return {
        "trip": row.id, "reference": row.reference,
        "entries": service.timeline(db, row),
        "step_minutes": {k: round(v / 60, 1)
                         for k, v in domain.step_durations(row.state).items()},
        "system_minutes": round(total / 60, 1) if total is not None else None,
    }


def _record(db: Db, ctx: Ctx, actor: Principal, idem: Any, trip_id: str,
            event_type: domain.EventType, payload: dict[str, Any], *, source: str | None,
            default_source: str, occurred_at: Any, if_match: str | None) -> Response:
    if (replayed := idem.replay()) is not None:
        return replayed  # type: ignore[no-any-return]
    network = networks.in_force(db, ctx.clock.now())
    row, _changed = service.record(
        db, trip_id, event_type, payload, actor=actor, network=network, now=ctx.clock.now(),
        source=source or default_source, occurred_at=occurred_at,
        idempotency_key=idem.key, expected_version=if_match_number(if_match),
    )
    return _written(row, actor, network, ctx, idem)


def _source(actor: Principal) -> str:
    return "api" if actor.kind == "client" else "officer_screen"


@router.post("/trips/{trip_id}/steps/{step}", response_model=TripOut, responses=WRITE_ERRORS,
             summary="Record a checkpoint step: pass, hold or reject",
             description="Only the step's owning role, at the trip's gate, may record it (403). "
             "A step whose prerequisites are not met gives 409 naming the steps still expected. "
             "`hold` needs a reason code and blocks the steps after it until released; `reject` "
             "ends the trip. Customs gives the channel (green, yellow, red) when it passes. "
             "Send `If-Match` with the version you saw: of two officers recording at once, one "
             "succeeds and the other gets 409." + roles_doc("trip.record"))
def record_step(trip_id: TripId, step: str, body: StepRecordIn, ctx: Ctx, db: Db,
                actor: Recorder, idem: Idem, if_match: IfMatch = None) -> Response:
    event_type, payload = service.step_outcome(step, body.outcome, channel=body.channel,
                                               reason_code=body.reason_code, note=body.note)
    return _record(db, ctx, actor, idem, trip_id, event_type, payload, source=body.source,
                   default_source=_source(actor), occurred_at=body.occurred_at,
                   if_match=if_match)


@router.post("/trips/{trip_id}/steps/{step}/release", response_model=TripOut,
             responses=WRITE_ERRORS, summary="Release a hold",
             description="The step becomes pending again; the officer then records it."
             + roles_doc("trip.record"))
def release_step(trip_id: TripId, step: str, body: NoteIn, ctx: Ctx, db: Db, actor: Recorder,
                 idem: Idem, if_match: IfMatch = None) -> Response:
    payload: dict[str, Any] = {"step": step, **({"note": body.note} if body.note else {})}
    return _record(db, ctx, actor, idem, trip_id, "step.released", payload, source=None,
                   default_source=_source(actor), occurred_at=body.occurred_at,
                   if_match=if_match)


@router.post("/trips/{trip_id}/steps/{step}/void", response_model=TripOut,
             responses=WRITE_ERRORS, summary="Correct a step passed by mistake",
             description="A new event that returns the step to pending (the log keeps both). "
             "Not possible once a later step has passed." + roles_doc("trip.record"))
def void_step(trip_id: TripId, step: str, body: VoidIn, ctx: Ctx, db: Db, actor: Recorder,
              idem: Idem, if_match: IfMatch = None) -> Response:
    return _record(db, ctx, actor, idem, trip_id, "step.voided",
                   {"step": step, "reason": body.reason}, source=None,
                   default_source=_source(actor), occurred_at=None, if_match=if_match)


@router.post("/trips/{trip_id}/call", response_model=TripOut, responses=WRITE_ERRORS,
             summary="Call a vehicle forward from the staging area",
             description="Starts the grace time to reach the gate." + roles_doc("trip.call"))
def call_trip(trip_id: TripId, body: NoteIn, ctx: Ctx, db: Db, actor: Caller, idem: Idem,
              if_match: IfMatch = None) -> Response:
    payload = {"note": body.note} if body.note else {}
    return _record(db, ctx, actor, idem, trip_id, "trip.called", payload, source=None,
                   default_source="regulator", occurred_at=body.occurred_at,
                   if_match=if_match)


@router.post("/trips/{trip_id}/priority", response_model=TripOut, responses=WRITE_ERRORS,
             summary="Change a trip's priority class (e.g. grant urgent)",
             description="Classes, highest first: urgent, aeo_perishable, perishable, aeo, "
             "normal. A reason is required and kept in the event log."
             + roles_doc("trip.prioritise"))
def prioritise_trip(trip_id: TripId, body: PriorityIn, ctx: Ctx, db: Db, actor: Prioritiser,
                    idem: Idem, if_match: IfMatch = None) -> Response:
    return _record(db, ctx, actor, idem, trip_id, "trip.prioritised",
                   {"priority": body.priority, "reason": body.reason}, source=None,
                   default_source="regulator", occurred_at=None, if_match=if_match)


@router.post("/trips/{trip_id}/acknowledge", response_model=TripOut, responses=WRITE_ERRORS,
             summary="The driver acknowledges the call-forward order",
             description="Shows the control room the driver has seen where to go and by when."
             + roles_doc("trip.acknowledge"))
def acknowledge_order(trip_id: TripId, ctx: Ctx, db: Db, actor: Acknowledger, idem: Idem
                      ) -> Response:
    return _record(db, ctx, actor, idem, trip_id, "trip.order_acknowledged", {}, source="api",
                   default_source="api", occurred_at=None, if_match=None)


@router.post("/trips/{trip_id}/movements", response_model=TripOut, responses=WRITE_ERRORS,
             summary="Record a vehicle entering or leaving an area",
             description="Staging area, gate area or yard. Entering the staging area completes "
             "the transport step; entering the gate area (after being called) completes vehicle "
             "control. Leaving an area the vehicle is not in is refused (409)."
             + roles_doc("trip.move"))
def move_trip(trip_id: TripId, body: MovementIn, ctx: Ctx, db: Db, actor: Mover, idem: Idem,
              if_match: IfMatch = None) -> Response:
    event_type: domain.EventType = "area.entered" if body.action == "enter" else "area.left"
    return _record(db, ctx, actor, idem, trip_id, event_type, {"area": body.area},
                   source=body.source, default_source=_source(actor),
                   occurred_at=body.occurred_at, if_match=if_match)


@router.post("/trips/{trip_id}/return", response_model=TripOut, responses=WRITE_ERRORS,
             summary="Record a Vietnamese vehicle returning from the partner country",
             description="Meets the return deadline of the two-way transport pilot."
             + roles_doc("trip.return"))
def return_trip(trip_id: TripId, body: NoteIn, ctx: Ctx, db: Db, actor: Returner, idem: Idem,
                if_match: IfMatch = None) -> Response:
    payload = {"note": body.note} if body.note else {}
    return _record(db, ctx, actor, idem, trip_id, "trip.returned", payload, source=None,
                   default_source=_source(actor), occurred_at=body.occurred_at,
                   if_match=if_match)


@router.get("/checkpoints/pending", response_model=list[WorkItem], responses=PAGED_RESPONSES,
            summary="My work queue: trips with steps I can record now",
            description="For the caller's role at the gates in scope, the trip changed longest "
            "ago first (a trip that changes while you page moves to the end)." + PAGED_DOC
            + roles_doc("trip.record"))
def pending_work(ctx: Ctx, db: Db, actor: Recorder, request: Request, response: Response,
                 gate: str | None = None, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
                 ) -> list[dict[str, Any]]:
    network = networks.in_force(db, ctx.clock.now())
    found = service.work_queue(db, actor=actor, network=network, gate=gate, cursor=cursor,
                               limit=limit)
    link_next(request, response, found)
    return [{"trip": _render(row, actor, network, ctx), "steps": [s["code"] for s in steps]}
            for row, steps in found.items]


@router.get("/occupancy", response_model=list[AreaOccupancy], tags=["public"],
            summary="Vehicles now in each staging area, gate area and yard",
            description="Derived from recorded movements; never negative."
            + roles_doc("occupancy.read"))
def read_occupancy(ctx: Ctx, db: Db, _caller: Public) -> list[dict[str, Any]]:
    return service.occupancy(db, networks.in_force(db, ctx.clock.now()))


@router.get("/alerts/deadlines", response_model=list[OverdueOut], tags=["alerts"],
            responses=PAGED_RESPONSES, summary="Trips past a deadline",
            description="Called vehicles that have not reached the gate in their grace time, "
            "vehicles not back from the partner country in time, partner vehicles staying too "
            "long; the longest overdue first." + PAGED_DOC + roles_doc("alerts.read"))
def deadline_alerts(ctx: Ctx, db: Db, actor: AlertReader, request: Request, response: Response,
                    limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> list[dict[str, Any]]:
    now = ctx.clock.now()
    found = service.overdue(db, actor=actor, network=networks.in_force(db, now), now=now,
                            cursor=cursor, limit=limit)
    link_next(request, response, found)
    return [{"trip": row.id, "reference": row.reference, "gate": row.gate,
             "plate": row.state["facts"]["plate"], "status": row.status, "deadlines": late}
            for row, late in found.items]


@router.get("/reports/step-durations", response_model=StepDurationsOut, tags=["reports"],
            summary="Time spent in each step, per gate and local day",
            description="Count, mean, median (p50) and p90 in minutes of each step passed that "
            "day, of the whole stay in the border system for trips completed that day, and the "
            "number of deadlines due that day that were missed, per deadline."
            + roles_doc("reports.read"))
def step_durations(
    ctx: Ctx, db: Db, _caller: ReportReader,
    day: Annotated[date | None, Query(alias="date", description="Local date (default: today)")]
    = None,
    gate: str | None = None,
    flow: Literal["export", "import"] | None = None,
) -> dict[str, Any]:
    when = day or ctx.clock.now().astimezone(LOCAL_TZ).date()
    return service.step_duration_summary(db, gate=gate, day=when, flow=flow,
                                         now=ctx.clock.now())
