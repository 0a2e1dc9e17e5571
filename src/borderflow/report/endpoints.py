"""HTTP API of statistics and reports: traffic, time spent, holds, peaks, targets, the daily
situation report, and imported history. Every report answers JSON, or a file with
``format=csv|xlsx|pdf`` in ``lang=vi|en|zh``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from borderflow.api.bounds import JSON_INT_LIMIT, Year
from borderflow.api.deps import Ctx, Db, require, roles_doc
from borderflow.api.errors import ERROR_RESPONSES, ErrorResponse
from borderflow.api.idempotency import Idem
from borderflow.clock import LOCAL_TZ
from borderflow.domain.access import Principal, statistics_scope
from borderflow.domain.network import Network
from borderflow.network import service as networks
from borderflow.report import exports, history, situation, statistics, targets

router = APIRouter(prefix="/api/v1", tags=["reports"], responses=ERROR_RESPONSES)

StatsReader = Annotated[Principal, Depends(require("statistics.read"))]
TargetSetter = Annotated[Principal, Depends(require("statistics.target"))]
SituationReader = Annotated[Principal, Depends(require("situation.read"))]
HistoryImporter = Annotated[Principal, Depends(require("history.import"))]

FormatQ = Annotated[exports.Format, Query(alias="format", description="json (default), csv "
                                          "(UTF-8 with BOM, formulas defused), xlsx or pdf")]
LangQ = Annotated[exports.Lang, Query(description="Language of a file's titles and headings")]
FromQ = Annotated[date, Query(alias="from", description="First local day of the period")]
ToQ = Annotated[date, Query(alias="to", description="Last local day (included)")]
GateQ = Annotated[str | None, Query(description="Only this gate")]
RouteQ = Annotated[str | None, Query(description="Only gates of this kind: international, "
                                     "main, secondary, dedicated_route, clearance_route")]
DirectionQ = Annotated[Literal["export", "import"] | None, Query(description="Only this way")]
GroupQ = Annotated[str | None, Query(description="Only this goods group (catalogue code)")]
EnterpriseQ = Annotated[str | None, Query(description="Only this enterprise (tax code); an "
                                          "enterprise always gets its own figures")]
ByQ = Annotated[statistics.Dimension | None, Query(description="Break the figures down by "
                                                   "this dimension")]

PERIOD_DOC = ("The period is local days (Lang Son time), both ends included, up to three years. "
              "Filters combine; `by` adds a row per gate, route (kind of crossing), direction, "
              "goods group or enterprise. `format=csv|xlsx|pdf` returns the report as a file "
              "(PDF with a chart) in `lang`. ")


def _file(doc: dict[str, Any], fmt: exports.Format, lang: exports.Lang, name: str,
          network: Network | None = None) -> Any:
    if fmt == "json":
        return doc
    data = exports.render(doc, fmt, lang, network=network)
    return Response(data, media_type=exports.MEDIA_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


def _query(actor: Principal, start: date, end: date, gate: str | None, route: str | None,
           direction: str | None, goods_group: str | None, enterprise: str | None,
           by: statistics.Dimension | None) -> statistics.Query:
    return statistics.Query(start=start, end=end, gate=gate, route=route, direction=direction,
                            goods_group=goods_group,
                            enterprise=statistics_scope(actor, enterprise), by=by)


def _name(kind: str, q: statistics.Query) -> str:
    return f"{kind}-{q.start.isoformat()}-{q.end.isoformat()}"


@router.get("/reports/traffic", summary="Vehicles, goods, declarations, enterprises and fees",
            description=PERIOD_DOC + "Vehicles declared (by the day the declaration was made), "
            "called forward, crossed (in total and per direction), rejected and cancelled; "
            "no-shows; tonnage and declared turnover (US cents) of the vehicles crossed; "
            "declarations; active enterprises (that declared or crossed); fees settled (VND). "
            "Each figure with the same period a year earlier (`previous`, `change`, "
            "`change_pct`), and month-to-date and year-to-date at the period's end."
            + roles_doc("statistics.read"))
def traffic_report(ctx: Ctx, db: Db, actor: StatsReader, start: FromQ, end: ToQ,
                   gate: GateQ = None, route: RouteQ = None, direction: DirectionQ = None,
                   goods_group: GroupQ = None, enterprise: EnterpriseQ = None, by: ByQ = None,
                   fmt: FormatQ = "json", lang: LangQ = "vi") -> Any:
    q = _query(actor, start, end, gate, route, direction, goods_group, enterprise, by)
    network = networks.in_force(db, ctx.clock.now())
    doc = statistics.traffic(db, network, q)
    return _file(doc, fmt, lang, _name("traffic", q), network)


@router.get("/reports/times", summary="Time in the system, waiting and in each step",
            description=PERIOD_DOC + "Of the vehicles crossed in the period: count, mean, median "
            "(p50) and p90 in minutes of the time in the system (arrival at the staging park "
            "or the gate area to leaving it: an export's crossing, an import's exit inland), "
            "the wait before the call forward, and each step, with the same period a year "
            "earlier. "
            "Means are exact; percentiles are the middle of their band: 2 minutes wide below an "
            "hour (so within a minute), then 5, 15, 60 minutes and 6 hours."
            + roles_doc("statistics.read"))
def times_report(ctx: Ctx, db: Db, actor: StatsReader, start: FromQ, end: ToQ,
                 gate: GateQ = None, route: RouteQ = None, direction: DirectionQ = None,
                 goods_group: GroupQ = None, enterprise: EnterpriseQ = None, by: ByQ = None,
                 fmt: FormatQ = "json", lang: LangQ = "vi") -> Any:
    q = _query(actor, start, end, gate, route, direction, goods_group, enterprise, by)
    network = networks.in_force(db, ctx.clock.now())
    doc = statistics.times(db, network, q)
    return _file(doc, fmt, lang, _name("times", q), network)


@router.get("/reports/holds", summary="Holds and rejections by reason, and no-shows",
            description=PERIOD_DOC + "Holds placed and vehicles rejected in the period, by step "
            "and reason code, most frequent first, and no-shows. Kept by gate, route and "
            "direction (not by goods group or enterprise)." + roles_doc("situation.read"))
def holds_report(ctx: Ctx, db: Db, actor: SituationReader, start: FromQ, end: ToQ,
                 gate: GateQ = None, route: RouteQ = None, direction: DirectionQ = None,
                 by: ByQ = None, fmt: FormatQ = "json", lang: LangQ = "vi") -> Any:
    q = _query(actor, start, end, gate, route, direction, None, None, by)
    network = networks.in_force(db, ctx.clock.now())
    doc = statistics.holds(db, network, q)
    return _file(doc, fmt, lang, _name("holds", q), network)


@router.get("/reports/peaks", summary="Peak day, peak hour and the hourly profile",
            description=PERIOD_DOC + "The day and the clock hour with the most vehicles crossed, "
            "the busiest hour of the day, and the average crossed per clock hour over the "
            "period's days. By gate, route and direction." + roles_doc("situation.read"))
def peaks_report(ctx: Ctx, db: Db, actor: SituationReader, start: FromQ, end: ToQ,
                 gate: GateQ = None, route: RouteQ = None, direction: DirectionQ = None,
                 fmt: FormatQ = "json", lang: LangQ = "vi") -> Any:
    q = _query(actor, start, end, gate, route, direction, None, None, None)
    network = networks.in_force(db, ctx.clock.now())
    doc = statistics.peaks(db, network, q)
    return _file(doc, fmt, lang, _name("peaks", q), network)


# --- targets -------------------------------------------------------------------------------------


class TargetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: int = Field(gt=0, le=JSON_INT_LIMIT,
                       description="In the indicator's unit: turnover_usd in whole US "
                       "dollars, tonnage_t in tonnes, fees_vnd in VND, vehicles_crossed and "
                       "declarations as counts.")
    gate: str | None = Field(default=None, max_length=40, description="A gate's own target "
                             "(default: the whole province)")
    note: str = Field(default="", max_length=500)


class TargetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    year: int
    indicator: str
    gate: str
    value: int
    note: str
    set_by: str
    set_at: datetime


@router.put("/reports/targets/{year}/{indicator}", response_model=TargetOut,
            summary="Set an annual target",
            description="Indicators: " + ", ".join(targets.TARGET_INDICATORS) + ". Setting it "
            "again replaces the value. Audited." + roles_doc("statistics.target"))
def put_target(year: Year, indicator: str, body: TargetIn, ctx: Ctx, db: Db,
               actor: TargetSetter, idem: Idem) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    now = ctx.clock.now()
    row = targets.set_target(db, networks.in_force(db, now), year=year, indicator=indicator,
                             value=body.value, gate=body.gate, note=body.note, actor=actor,
                             now=now)
    return idem.respond(TargetOut.model_validate(row).model_dump(mode="json"))


@router.get("/reports/targets", summary="Progress against the year's targets",
            description="For each target of the year: achieved from 1 January to `as_of` "
            "(default: today), its share of the target, what remains, the months left (the "
            "month of `as_of` counts unless it is its last day) and the average per month "
            "needed to reach the target, with the same period a year earlier."
            + roles_doc("situation.read"))
def targets_report(ctx: Ctx, db: Db, _caller: SituationReader, year: Year,
                   as_of: Annotated[date | None, Query(description="Default: today")] = None,
                   gate: GateQ = None, fmt: FormatQ = "json", lang: LangQ = "vi") -> Any:
    now = ctx.clock.now()
    day = as_of or min(now.astimezone(LOCAL_TZ).date(), date(year, 12, 31))
    network = networks.in_force(db, now)
    doc = targets.progress(db, network, year=year, as_of=day, gate=gate)
    return _file(doc, fmt, lang, f"targets-{year}", network)


# --- the daily situation report ------------------------------------------------------------------


@router.get("/reports/situation", summary="A gate's situation report for a day",
            responses={404: {"model": ErrorResponse, "description": "No such gate"}},
            description="Vehicles cleared and declared that day by direction; vehicles "
            "remaining at the end of the day (now, for today) in the staging park, called and "
            "on the way, and in the gate area; working hours, controls and closures; holds and "
            "rejections of the day by reason; the partner side's latest yard counts. "
            "`kept=true` returns the report as generated at the scheduled time instead "
            "(`BORDERFLOW_SITUATION_REPORT_TIME`)." + roles_doc("situation.read"))
def situation_report(ctx: Ctx, db: Db, _caller: SituationReader, gate: str,
                     day: Annotated[date | None, Query(alias="date",
                                                       description="Default: today")] = None,
                     kept: bool = False, fmt: FormatQ = "json", lang: LangQ = "vi") -> Any:
    now = ctx.clock.now()
    when = day or now.astimezone(LOCAL_TZ).date()
    if kept:
        doc = situation.kept(db, gate=gate, day=when).document
    else:
        doc = situation.build(db, networks.in_force(db, now), gate=gate, day=when, now=now)
    return _file(doc, fmt, lang, f"situation-{gate}-{when.isoformat()}",
                 networks.in_force(db, now))


# --- history ----------------------------------------------------------------------------------


class HistoryImportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    filename: str
    sha256: str
    rows: int
    vehicles: int
    period_from: date
    period_to: date
    imported_by: str
    imported_at: datetime


def _columns_doc() -> str:
    parts = []
    for kind, cols in history.COLUMNS.items():
        parts.append(f"`{kind}`: " + "; ".join(f"`{c}` ({d})" for c, d in cols.items()))
    return " ".join(parts)


@router.post("/reports/history", response_model=HistoryImportOut, status_code=201,
             summary="Import past crossings or daily totals (CSV)",
             description="A CSV file with a header row. " + _columns_doc() + ". Every row is "
             "checked first; a file with any bad row is refused whole (422, each bad line and "
             "column named) and nothing is imported. The same file twice is refused (409 "
             "`already_imported`). Audited." + roles_doc("history.import"))
async def import_history(ctx: Ctx, db: Db, actor: HistoryImporter, file: UploadFile,
                         kind: Annotated[Literal["crossings", "daily"], Form()]) -> Any:
    data = await file.read(history.MAX_BYTES + 1)
    now = ctx.clock.now()
    row = history.import_file(db, networks.in_force(db, now), kind=kind, data=data,
                              filename=file.filename or "history.csv", actor=actor, now=now)
    return HistoryImportOut.model_validate(row)


@router.get("/reports/history", response_model=list[HistoryImportOut],
            summary="Imported history files", description=roles_doc("history.import"))
def list_history(db: Db, _caller: HistoryImporter) -> Any:
    return history.listing(db)


@router.delete("/reports/history/{import_id}", status_code=204,
               summary="Remove an imported file's figures",
               description="Takes the import's figures out of every report. Audited."
               + roles_doc("history.import"))
def remove_history(import_id: int, ctx: Ctx, db: Db, actor: HistoryImporter) -> Response:
    history.remove(db, import_id, actor=actor, now=ctx.clock.now())
    return Response(status_code=204)
