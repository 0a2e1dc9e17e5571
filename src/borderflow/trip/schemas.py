"""API shapes for trips, checkpoint steps, movements and reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from borderflow.domain.trip import Channel, Status
from borderflow.fieldtypes import Instant


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StepRecordIn(_In):
    outcome: Literal["pass", "hold", "reject"]
    reason_code: str | None = Field(default=None, max_length=60,
                                    description="Required to hold or reject; see "
                                                "GET /api/v1/network/reason_codes.")
    note: str | None = Field(default=None, max_length=2000)
    channel: Channel | None = Field(default=None,
                                    description="Customs only: green, yellow or red channel.")
    occurred_at: Instant | None = Field(default=None,
                                         description="When it happened (default: now).")
    source: Literal["officer_screen", "api", "camera"] | None = None


class NoteIn(_In):
    note: str | None = Field(default=None, max_length=2000)
    occurred_at: Instant | None = None


class VoidIn(_In):
    reason: str = Field(min_length=3, max_length=2000)


class MovementIn(_In):
    action: Literal["enter", "leave"]
    area: str = Field(max_length=60,
                      description="staging:<code>, gate_area:<gate> or yard:<code>",
                      examples=["staging:viettel-logistics-park"])
    occurred_at: Instant | None = None
    source: Literal["officer_screen", "api", "camera", "gps"] | None = None


class StepOut(BaseModel):
    code: str
    kind: str
    name: str
    role: str
    applies: str
    after: list[str]
    parallel_with: list[str]
    status: Literal["pending", "passed", "held", "rejected", "skipped"]
    ready: bool
    available_at: datetime | None
    done_at: datetime | None
    by: str | None
    channel: str | None
    hold: dict[str, Any] | None


class TripOut(BaseModel):
    id: str
    reference: str
    declaration_id: str
    gate: str
    flow: str
    direction: str
    procedure: str = Field(description="Code of the border procedure the trip follows (the "
                           "gate's, for its direction).")
    reroutes: int = Field(description="Times the trip was sent to another gate.")
    priority: str
    status: Status
    location: str | None
    on_hold: bool
    version: int = Field(description="Send it back as If-Match to record safely.")
    facts: dict[str, Any]
    steps: list[StepOut]
    pending_for_you: list[str] = Field(description="Steps you may record now.")
    next_expected: list[str] = Field(description="Steps that can be recorded now, by anyone.")
    milestones: dict[str, datetime]
    deadlines: dict[str, Any]
    overdue: list[dict[str, Any]]
    outcome: dict[str, Any] | None
    fee: dict[str, Any] | None = Field(
        default=None, description="The trip's fee invoice: number, stage (estimate|final), "
        "total in VND and status (open|paid|waived|refunded|void); the fee step passes when it "
        "is paid or waived.")
    created_at: datetime
    updated_at: datetime


class TripPage(BaseModel):
    items: list[TripOut]
    total: int


class TimelineEntry(BaseModel):
    seq: int
    type: str
    step: str | None
    actor: str
    source: str
    occurred_at: datetime
    recorded_at: datetime
    seconds_since_previous: float | None
    payload: dict[str, Any]


class TimelineOut(BaseModel):
    trip: str
    reference: str
    entries: list[TimelineEntry]
    step_minutes: dict[str, float] = Field(description="Minutes each passed step took, from "
                                                       "when it could start to when it passed.")
    system_minutes: float | None


class WorkItem(BaseModel):
    trip: TripOut
    steps: list[str]


class AreaOccupancy(BaseModel):
    area: str
    kind: Literal["staging", "gate_area", "yard"]
    gate: str | None
    name: str
    vehicles: int
    capacity: int


class OverdueOut(BaseModel):
    trip: str
    reference: str
    gate: str
    plate: str
    status: str
    deadlines: list[dict[str, Any]]


class DurationSummary(BaseModel):
    count: int
    mean: float
    p50: float
    p90: float


class StepDurationsOut(BaseModel):
    gate: str | None
    date: str
    flow: str | None
    steps: dict[str, DurationSummary] = Field(description="Minutes per step.")
    system: DurationSummary = Field(description="Minutes in the border system, per trip.")
    deadlines_missed: dict[str, int] = Field(
        description="Deadlines due that day and missed (met late or still open), per code."
    )


class PriorityIn(_In):
    priority: Literal["urgent", "aeo_perishable", "perishable", "aeo", "normal"]
    reason: str = Field(min_length=3, max_length=2000)
