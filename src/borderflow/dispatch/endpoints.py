"""HTTP API of the dispatcher: run a cycle now, see the queue."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from borderflow.api.deps import Ctx, Db, require, roles_doc
from borderflow.api.errors import ERROR_RESPONSES
from borderflow.dispatch import service
from borderflow.domain.access import Principal
from borderflow.network import service as networks

router = APIRouter(prefix="/api/v1/dispatch", tags=["dispatch"], responses=ERROR_RESPONSES)

Runner = Annotated[Principal, Depends(require("dispatch.run"))]
QueueReader = Annotated[Principal, Depends(require("queue.read"))]


class CalledOut(BaseModel):
    trip: str
    gate: str
    yard: str
    arrive_by: datetime


class CycleOut(BaseModel):
    at: datetime
    called: list[CalledOut]
    no_shows: list[str]
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


@router.post("/run", response_model=CycleOut, summary="Run a dispatcher cycle now",
             description="Marks no-shows, then calls forward waiting trucks whose gate and yard "
             "have room. The dispatcher also runs by itself every "
             "`BORDERFLOW_DISPATCH_INTERVAL_SECONDS`." + roles_doc("dispatch.run"))
def run_now(ctx: Ctx, db: Db, _caller: Runner) -> dict[str, Any]:
    now = ctx.clock.now()
    _, network = networks.network_at(db, now)
    return asdict(service.run_cycle(db, network, now))


@router.get("/queue", response_model=list[QueueEntry], summary="The virtual queue",
            description="Trucks waiting in the staging area, per gate and direction, in the "
            "order they will be called." + roles_doc("queue.read"))
def read_queue(ctx: Ctx, db: Db, _caller: QueueReader, gate: str | None = None
               ) -> list[dict[str, Any]]:
    now = ctx.clock.now()
    _, network = networks.network_at(db, now)
    return service.queue(db, network, now, gate)
