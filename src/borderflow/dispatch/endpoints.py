"""HTTP API of the dispatcher: run a cycle now, see the queue."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from borderflow.api.bounds import Instant
from borderflow.api.deps import Ctx, Db, require, roles_doc
from borderflow.api.errors import ERROR_RESPONSES
from borderflow.api.idempotency import Idem
from borderflow.dispatch import controls, partner, service
from borderflow.domain.access import Principal
from borderflow.errors import Forbidden, NotFound
from borderflow.network import service as networks
from borderflow.trip import service as trips

router = APIRouter(prefix="/api/v1/dispatch", tags=["dispatch"], responses=ERROR_RESPONSES)
controls_router = APIRouter(prefix="/api/v1/gates", tags=["gate controls"],
                            responses=ERROR_RESPONSES)

Controller = Annotated[Principal, Depends(require("gate.control"))]
PartnerRecorder = Annotated[Principal, Depends(require("partner_yard.record"))]
Public = Annotated[Principal, Depends(require("occupancy.read"))]
Runner = Annotated[Principal, Depends(require("dispatch.run"))]
QueueReader = Annotated[Principal, Depends(require("queue.read"))]


class CalledOut(BaseModel):
    trip: str
    gate: str
    yard: str
    arrive_by: datetime


class ReroutedOut(BaseModel):
    trip: str
    from_gate: str
    gate: str
    reason: str


class CycleOut(BaseModel):
    at: datetime
    called: list[CalledOut]
    no_shows: list[str]
    cancelled: list[str] = Field(description="No-shows cancelled by the gate's policy.")
    rerouted: list[ReroutedOut]
    waiting: int
    skipped: bool


class QueueEntry(BaseModel):
    gate: str
    direction: str
    position: int
    trip: str
    plate: str
    priority: str
    arrived_at: datetime
    booked_slot: datetime | None
    estimated_call: datetime | None = Field(
        description="When the dispatcher expects to call the truck, from the gate's places "
        "over the next day and its policy; null if not within a day.")


@router.post("/run", response_model=CycleOut, summary="Run a dispatcher cycle now",
             description="Marks no-shows, re-routes waiting trucks away from closed or "
             "overloaded gates, then calls forward waiting trucks whose gate and yard have room. "
             "The dispatcher also runs by itself every `BORDERFLOW_DISPATCH_INTERVAL_SECONDS`."
             + roles_doc("dispatch.run"))
def run_now(ctx: Ctx, db: Db, _caller: Runner) -> dict[str, Any]:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    return asdict(service.run_cycle(db, network, now))


@router.get("/queue", response_model=list[QueueEntry], summary="The virtual queue",
            description="Trucks waiting in the staging area, per gate and direction, in the "
            "order they will be called, with estimated call times." + roles_doc("queue.read"))
def read_queue(ctx: Ctx, db: Db, _caller: QueueReader, gate: str | None = None
               ) -> list[dict[str, Any]]:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    return service.queue(db, network, now, gate)


class ControlIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Literal["closure", "capacity", "pause", "extended_hours"]
    direction: Literal["export", "import"] | None = Field(
        default=None, description="Default: both directions.")
    starts_at: Instant | None = Field(default=None, description="Default: now.")
    ends_at: Instant
    vehicles_per_hour: int | None = Field(
        default=None, ge=0, le=10_000,
        description="Required for a capacity control; optional for extended hours (default: "
        "the gate's hourly capacity).")
    reason: str = Field(min_length=3, max_length=2000)


class ControlOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    gate: str
    direction: str | None
    kind: str
    vehicles_per_hour: int | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    lifted_at: datetime | None


class ControlResult(BaseModel):
    control: ControlOut
    bookings_released: list[str]
    trips_recalled: list[str]
    cycle: CycleOut


def _result(control: Any, effects: Any) -> dict[str, Any]:
    return {"control": ControlOut.model_validate(control).model_dump(mode="json"),
            "bookings_released": effects.bookings_released,
            "trips_recalled": effects.trips_recalled,
            "cycle": CycleOut.model_validate(asdict(effects.cycle)).model_dump(mode="json")}


@controls_router.post("/{gate}/controls", response_model=ControlResult, status_code=201,
                      summary="Close a gate, change its capacity, extend its hours or pause "
                      "calls, for a period",
                      description="Takes effect at once: bookings in closed slots are released, "
                      "trucks already called to a closed or paused gate are recalled to the "
                      "staging area, slot capacities follow (extended hours open slots outside "
                      "the calendar's hours), and the dispatcher runs, re-routing waiting "
                      "trucks to other gates that permit their goods. Audited."
                      + roles_doc("gate.control"))
def create_control(gate: str, body: ControlIn, ctx: Ctx, db: Db, actor: Controller,
                   idem: Idem) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    control, effects = controls.create(
        db, network, gate=gate, direction=body.direction, kind=body.kind,
        starts_at=body.starts_at or now, ends_at=body.ends_at,
        vehicles_per_hour=body.vehicles_per_hour, reason=body.reason, actor=actor, now=now)
    return idem.respond(_result(control, effects), 201)


@controls_router.post("/controls/{control_id}/lift", response_model=ControlResult,
                      summary="Lift a control before its end",
                      description="Reopens the gate / restores the capacity / resumes calls "
                      "from now." + roles_doc("gate.control"))
def lift_control(control_id: int, ctx: Ctx, db: Db, actor: Controller) -> dict[str, Any]:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    control, effects = controls.lift(db, network, control_id, actor=actor, now=now)
    return _result(control, effects)


@controls_router.get("/controls", response_model=list[ControlOut],
                     summary="Controls in force or planned",
                     description="Closures, capacity changes, extended hours and pauses not yet "
                     "over or lifted."
                     + roles_doc("occupancy.read"))
def list_controls(ctx: Ctx, db: Db, _caller: Public) -> list[dict[str, Any]]:
    return [ControlOut.model_validate(c).model_dump(mode="json")
            for c in controls.active(db, ctx.clock.now())]


class PartnerCountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    direction: Literal["export", "import"] = Field(
        description="export: our trucks waiting in the partner side's yard; import: the "
        "partner side's trucks waiting there to come to us.")
    vehicles: int = Field(ge=0, le=100_000, description="Vehicles in the partner side's yard.")
    capacity: int | None = Field(
        default=None, ge=1, le=100_000,
        description="Vehicles that yard holds, if the partner side gave it (default: the "
        "network's figure for the partner gate, if any).")
    counted_at: Instant | None = Field(
        default=None, description="When the partner side counted (default: now); not in the "
        "future, at most 7 days ago.")
    note: str | None = Field(default=None, max_length=2000)


class PartnerCountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    gate: str
    direction: str
    vehicles: int
    capacity: int | None
    counted_at: datetime
    source: str
    note: str | None
    recorded_by: str
    recorded_at: datetime


class PartnerYardOut(BaseModel):
    gate: str
    export_room: int | None = Field(
        description="Export trucks the partner side's yard can still take: its capacity less "
        "the vehicles it counted and the trucks called to this gate since; null when there "
        "is no recent count or the capacity is unknown (then nothing is limited).")
    counts: list[PartnerCountOut] = Field(description="The latest counts, newest first.")


@controls_router.post("/{gate}/partner-yard", response_model=PartnerCountOut, status_code=201,
                      summary="Record the partner side's yard count at a gate",
                      description="A count the partner side reported (by phone, or from its "
                      "daily bulletin). The latest count of the gate and direction is used "
                      "for the gate's `partner_report_hours`: while the partner yard is full, "
                      "the dispatcher calls no export trucks to this gate and re-routes them "
                      "to gates with room. Re-plans at once. Audited."
                      + roles_doc("partner_yard.record"))
def record_partner_count(gate: str, body: PartnerCountIn, ctx: Ctx, db: Db,
                         actor: PartnerRecorder, idem: Idem) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    row = partner.record(db, network, gate=gate, direction=body.direction,
                         vehicles=body.vehicles, capacity=body.capacity,
                         counted_at=body.counted_at or now, note=body.note, source="regulator",
                         actor=actor, now=now)
    service.run_cycle(db, network, now)
    return idem.respond(PartnerCountOut.model_validate(row).model_dump(mode="json"), 201)


@controls_router.get("/{gate}/partner-yard", response_model=PartnerYardOut,
                     summary="The partner side's yard counts at a gate",
                     description="The room left for export trucks and the latest counts."
                     + roles_doc("occupancy.read"))
def read_partner_yard(gate: str, ctx: Ctx, db: Db, _caller: Public) -> dict[str, Any]:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    if network.gate(gate) is None:
        raise NotFound(f"no gate '{gate}' in the network in force")
    return {"gate": gate,
            "export_room": partner.export_room(db, network, now).get(gate),
            "counts": [PartnerCountOut.model_validate(r).model_dump(mode="json")
                       for r in partner.history(db, gate, limit=20)]}


trips_router = APIRouter(prefix="/api/v1/trips", tags=["dispatch"], responses=ERROR_RESPONSES)
TripReader = Annotated[Principal, Depends(require("trip.read"))]
Rerouter = Annotated[Principal, Depends(require("trip.reroute"))]


class PlaceOut(BaseModel):
    trip: str
    status: str
    gate: str
    direction: str
    priority: str
    booked_slot: datetime | None
    position: int | None = Field(description="1 = next to be called at its gate; null unless "
                                 "the truck waits in the staging area.")
    waiting: int | None = Field(description="Trucks waiting for the same gate and direction.")
    estimated_call: datetime | None = Field(
        description="Waiting: when the dispatcher expects to call it. Declared: its booked "
        "slot. Called: when it was called.")
    order: dict[str, Any] | None = Field(description="The open order when called: gate, yard, "
                                         "arrive_by, issued_at, acknowledged_at.")


@trips_router.get("/{trip}/queue", response_model=PlaceOut,
                  summary="A trip's place in the virtual queue",
                  description="Gate, booked slot, position among the trucks waiting for the "
                  "gate, estimated call time, or the open order. Enterprises and drivers see "
                  "their own trips only." + roles_doc("trip.read"))
def trip_place(trip: str, ctx: Ctx, db: Db, actor: TripReader) -> dict[str, Any]:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    row = trips.get(db, trip, actor=actor, network=network)
    return service.place_of(db, network, row, now)


class RerouteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    gate: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=3, max_length=2000)


@trips_router.post("/{trip}/reroute", summary="Send a trip to another gate",
                   description="For a trip not yet called: its booking is given back, it takes "
                   "the new gate's procedure (steps already passed stay passed) and the driver "
                   "is told. The new gate must take the trip's direction and permit all its "
                   "goods. Audited." + roles_doc("trip.reroute"))
def reroute_trip(trip: str, body: RerouteIn, ctx: Ctx, db: Db, actor: Rerouter,
                 idem: Idem) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    row = trips.get(db, trip, actor=actor, network=network, for_update=True)
    if actor.gate_scope and row.gate not in actor.gate_scope:
        raise Forbidden(f"only the regulator for gate {row.gate} re-routes its trips")
    service.reroute(db, network, row, body.gate, body.reason, actor=actor, now=now)
    place = PlaceOut.model_validate(service.place_of(db, network, row, now))
    return idem.respond(place.model_dump(mode="json"), 200)
