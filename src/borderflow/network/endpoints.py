"""HTTP API for the reference network: read it (anyone) and change it (admins, audited)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query

from borderflow.api.deps import Ctx, Db, require, roles_doc
from borderflow.api.errors import ERROR_RESPONSES, ErrorResponse
from borderflow.api.idempotency import Idem
from borderflow.clock import LOCAL_TZ
from borderflow.domain.access import Principal
from borderflow.domain.values import parse_hs_code
from borderflow.errors import FieldError, NotFound, ValidationFailed, reason_of
from borderflow.network import service
from borderflow.network.holidays import around
from borderflow.network.schemas import (
    DayHoursOut,
    EntityPatch,
    GoodsLookupOut,
    NetworkOut,
    NetworkPut,
    NetworkVersionOut,
)

router = APIRouter(prefix="/api/v1/network", tags=["network"], responses=ERROR_RESPONSES)

Reader = Annotated[Principal, Depends(require("network.read"))]
Writer = Annotated[Principal, Depends(require("network.write"))]
At = Annotated[datetime | None, Query(description="The version in force at this instant "
                                                  "(default: now)")]
Section = Literal["gates", "calendars", "staging_areas", "corridors", "goods", "procedures",
                  "reason_codes"]


def _version_out(row: object) -> dict[str, Any]:
    """A network version row as the API shows it."""
    return NetworkVersionOut.model_validate(row, from_attributes=True).model_dump(mode="json")


def _when(ctx: Ctx, at: datetime | None) -> datetime:
    if at is None:
        return ctx.clock.now()
    if at.tzinfo is None:
        raise ValidationFailed([FieldError("at", "give a timezone, e.g. 2026-12-01T08:00+07:00")])
    return at


@router.get("", response_model=NetworkOut, summary="The network in force",
            responses={404: {"model": ErrorResponse,
                             "description": "No network was in force at `at`"}},
            description="The complete reference network in force now or at `at`."
            + roles_doc("network.read"))
def read_network(ctx: Ctx, db: Db, _caller: Reader, at: At = None) -> dict[str, Any]:
    row, _network = service.network_at(db, _when(ctx, at))
    return {"version": _version_out(row), "document": row.document}


@router.put("", response_model=NetworkVersionOut, status_code=201,
            summary="Publish a whole new network version",
            description="Validates the complete document and stores it as a new version in "
            "force from `effective_from`. Earlier versions are kept." + roles_doc("network.write"))
def put_network(body: NetworkPut, ctx: Ctx, db: Db, actor: Writer, idem: Idem) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    network = service.parse(body.document)
    row = service.publish(db, network, actor=actor, now=ctx.clock.now(),
                          effective_from=body.effective_from, note=body.note)
    return idem.respond(_version_out(row), 201)


@router.get("/versions", response_model=list[NetworkVersionOut], summary="All network versions",
            description="Oldest first." + roles_doc("network.read"))
def list_versions(db: Db, _caller: Reader) -> list[dict[str, Any]]:
    return [_version_out(r) for r in service.versions(db)]


@router.get("/versions/{version_id}", response_model=NetworkOut,
            responses={404: {"model": ErrorResponse}}, summary="One network version",
            description=roles_doc("network.read"))
def read_version(version_id: int, db: Db, _caller: Reader) -> dict[str, Any]:
    row = service.get_version(db, version_id)
    return {"version": _version_out(row), "document": row.document}


@router.get("/goods/lookup", response_model=GoodsLookupOut,
            responses={404: {"model": ErrorResponse}},
            summary="Which goods group an HS code is in, and which gates permit it",
            description=roles_doc("network.read"))
def lookup_goods(
    ctx: Ctx, db: Db, _caller: Reader,
    hs: Annotated[str, Query(description="HS code, 4-10 digits")],
    flow: Literal["export", "import"] | None = None,
) -> dict[str, Any]:
    try:
        code = parse_hs_code(hs)
    except ValueError as exc:
        raise ValidationFailed([FieldError("hs", reason_of(exc))]) from None
    _, network = service.network_at(db, ctx.clock.now())
    group = network.group_for_hs(code)
    if group is None:
        raise NotFound(f"HS {code} is not in the goods catalogue", field="hs")
    gates = [g.code for g in network.gates_permitting(group.code, flow)]
    doc = next(g for g in service.dump(network)["goods"] if g["code"] == group.code)
    return {"hs_code": code, "group": doc, "gates": gates}


@router.get("/calendars/{code}/hours", response_model=list[DayHoursOut],
            responses={404: {"model": ErrorResponse}},
            summary="Opening hours of a calendar, day by day",
            description="Regular, extended, holiday and exceptional hours, local time "
            "(at most 62 days)." + roles_doc("network.read"))
def calendar_hours(
    code: str, ctx: Ctx, db: Db, _caller: Reader,
    start: Annotated[date | None, Query(alias="from")] = None,
    days: Annotated[int, Query(ge=1, le=62)] = 7,
) -> list[dict[str, Any]]:
    _, network = service.network_at(db, ctx.clock.now())
    calendar = network.calendar(code)
    if calendar is None:
        raise NotFound(f"no calendar '{code}'")
    first = start or ctx.clock.now().astimezone(LOCAL_TZ).date()
    out = []
    for i in range(days):
        day = first + timedelta(days=i)
        h = calendar.hours_on(day, around(day))
        out.append({"date": day, "kind": h.kind, "reason": h.reason,
                    "intervals": [{"start": r.start.strftime("%H:%M"),
                                   "end": r.end.strftime("%H:%M")} for r in h.intervals]})
    return out


@router.get("/{section}", summary="All entries of one section",
            description="`gates`, `calendars`, `staging_areas`, `corridors`, `goods`, "
            "`procedures` or `reason_codes`."
            + roles_doc("network.read"))
def read_section(section: Section, ctx: Ctx, db: Db, _caller: Reader, at: At = None
                 ) -> list[dict[str, Any]]:
    row, _network = service.network_at(db, _when(ctx, at))
    items: list[dict[str, Any]] = row.document.get(section, [])
    return items


@router.get("/{section}/{code}", responses={404: {"model": ErrorResponse}},
            summary="One gate, calendar, staging area, corridor or goods group",
            description=roles_doc("network.read"))
def read_entity(section: Section, code: str, ctx: Ctx, db: Db, _caller: Reader, at: At = None
                ) -> dict[str, Any]:
    row, _network = service.network_at(db, _when(ctx, at))
    for item in row.document.get(section, []):
        if item.get("code") == code:
            return dict(item)
    raise NotFound(f"no entry '{code}' in {section}")


@router.patch("/{section}/{code}", response_model=NetworkVersionOut, status_code=201,
              responses={404: {"model": ErrorResponse}},
              summary="Change one entry from a stated time",
              description="Applies a JSON Merge Patch to one entry of the version in force at "
              "`effective_from` and publishes the result as a new version (audited). Example: "
              "raise a gate's import capacity from tomorrow 06:00." + roles_doc("network.write"))
def patch_entity(
    section: Section,
    code: Annotated[str, Path()],
    body: EntityPatch,
    ctx: Ctx,
    db: Db,
    actor: Writer,
    idem: Idem,
) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    row = service.patch_entity(db, section, code, body.changes, actor=actor, now=ctx.clock.now(),
                               effective_from=body.effective_from, note=body.note,
                               version=body.version)
    return idem.respond(_version_out(row), 201)
