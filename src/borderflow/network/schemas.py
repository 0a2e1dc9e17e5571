"""API shapes for the reference network."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from borderflow.fieldtypes import Instant


class NetworkVersionOut(BaseModel):
    id: int
    version: str
    effective_from: datetime
    sha256: str
    note: str
    created_at: datetime
    created_by: str


class NetworkOut(BaseModel):
    """A network version with its full document (see docs/network-format.md)."""

    version: NetworkVersionOut
    document: dict[str, Any]


class NetworkPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document: dict[str, Any] = Field(description="The complete network document.")
    effective_from: Instant | None = Field(
        default=None, description="When the new version takes effect (default: now). Not in "
                                  "the past."
    )
    note: str = Field(default="", max_length=2000, description="Why it changed.")


class EntityPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changes: dict[str, Any] = Field(
        description="JSON Merge Patch of the entry, e.g. "
        '{"capacity": [{"direction": "import", "lanes": 4, "vehicles_per_hour": 80}]}'
    )
    effective_from: Instant | None = Field(default=None, description="Default: now.")
    note: str = Field(default="", max_length=2000)
    version: str | None = Field(default=None, max_length=40,
                                description="Version label of the new network (optional).")


class IntervalOut(BaseModel):
    start: str
    end: str


class DayHoursOut(BaseModel):
    date: date
    kind: str
    reason: str
    intervals: list[IntervalOut]


class GoodsLookupOut(BaseModel):
    hs_code: str
    group: dict[str, Any]
    gates: list[str] = Field(description="Gates that permit this group (for the flow, if given).")
