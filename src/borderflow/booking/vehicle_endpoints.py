"""HTTP API of a vehicle's standing for bookings: its offences (no-shows, late cancellations),
whether it is barred, and pardons by the regulator."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from borderflow.api.deps import Ctx, Db, require, roles_doc
from borderflow.api.errors import ERROR_RESPONSES
from borderflow.booking import standing
from borderflow.domain.access import OFFICIALS, Principal
from borderflow.errors import NotFound
from borderflow.network import service as networks
from borderflow.trip import views as trip_views

router = APIRouter(prefix="/api/v1/vehicles", tags=["vehicles"], responses=ERROR_RESPONSES)

Reader = Annotated[Principal, Depends(require("vehicle.standing"))]
Pardoner = Annotated[Principal, Depends(require("vehicle.pardon"))]
Plate = Annotated[str, Path(description="Plate as written, e.g. 29C-123.45 or 桂A12345")]


class OffenceOut(BaseModel):
    id: int
    kind: str = Field(description="no_show | late_cancellation")
    at: datetime
    detail: str
    trip: str | None
    pardoned_at: datetime | None
    pardoned_by: str | None
    pardon_reason: str | None


class RulesOut(BaseModel):
    bar_after: int
    window_days: int
    bar_days: int
    late_cancellation_minutes: int


class StandingOut(BaseModel):
    plate_key: str
    barred_until: datetime | None
    may_book: bool
    rules: RulesOut
    offences: list[OffenceOut]


class PardonIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=3, max_length=2000)


@router.get("/{plate}/standing", response_model=StandingOut,
            summary="A vehicle's offences and whether it may book",
            description="No-shows and late cancellations of the vehicle, and the end of its bar "
            "from booking if enough of them fall within the network's window. Enterprises and "
            "drivers see only vehicles of their own trips." + roles_doc("vehicle.standing"))
def read_standing(plate: Plate, ctx: Ctx, db: Db, actor: Reader) -> dict[str, Any]:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    result = standing.standing(db, plate, network.booking_rules, now)
    if not actor.roles & OFFICIALS and not trip_views.plate_in_scope(
            db, result["plate_key"], actor, network):
        raise NotFound(f"no vehicle '{plate}' among your trips")
    return result


@router.post("/{plate}/offences/{offence_id}/pardon", response_model=StandingOut,
             summary="Pardon an offence",
             description="The offence no longer counts towards a bar (e.g. the truck was held "
             "up by an incident on the road). Audited." + roles_doc("vehicle.pardon"))
def pardon(plate: Plate, offence_id: int, body: PardonIn, ctx: Ctx, db: Db,
           actor: Pardoner) -> dict[str, Any]:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    standing.pardon(db, plate, offence_id, body.reason, actor=actor, now=now)
    return standing.standing(db, plate, network.booking_rules, now)
