"""The reports page: traffic against the year before, time spent, peaks, holds and targets
for a period, with charts, and each report as CSV, Excel or PDF in the page's language. The
figures and the files are the API's (``report/``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.clock import LOCAL_TZ
from borderflow.domain.access import Principal, statistics_scope
from borderflow.domain.network import Network
from borderflow.errors import N_, AppError, FieldError, ValidationFailed, msg
from borderflow.network import service as networks
from borderflow.report import exports, situation, statistics, targets
from borderflow.report.names import enterprise_names
from borderflow.web.pages import formatter, message_page, render, signed_in

router = APIRouter(include_in_schema=False)

REPORTS = ("traffic", "times", "peaks", "holds", "targets", "situation")
FORM_FIELDS = ("from", "to", "gate", "direction", "by")
"""The filters of the page's form (an error on another is shown above the form)."""


def _reader(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(request, ctx, db, lambda p: p.may("statistics.read"),
                     N_("This page is for officials and enterprises."))


def _date(raw: str | None, default: date, field: str) -> date | FieldError:
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return FieldError(field, msg("{value} is not a date; choose a day in the calendar",
                                     value=raw))


def _query(request: Request, who: Principal, today: date, network: Network
           ) -> statistics.Query:
    """The page's filters, each problem named at its field in words the page can translate
    (the statistics check the rest)."""
    p = request.query_params
    errors: list[FieldError] = []
    start = _date(p.get("from"), today.replace(day=1), "from")
    end = _date(p.get("to"), today, "to")
    by = p.get("by") or None
    gate = p.get("gate") or None
    direction = p.get("direction") or None
    if by is not None and by not in statistics.DIMENSIONS:
        errors.append(FieldError("by", msg("choose one of the breakdowns offered")))
    if gate is not None and network.gate(gate) is None:
        errors.append(FieldError("gate", msg("no gate {code} in the network", code=gate)))
    if direction is not None and direction not in ("export", "import"):
        errors.append(FieldError("direction", msg("choose export or import")))
    for found in (start, end):
        if isinstance(found, FieldError):
            errors.append(found)
    if isinstance(start, date) and isinstance(end, date):
        if end < start:
            errors.append(FieldError("to", msg("the period ends on {end}, before it starts on "
                                               "{start}", start=start, end=end)))
        elif (end - start).days >= statistics.MAX_DAYS:
            errors.append(FieldError("to", msg("a period is at most {days} days",
                                               days=statistics.MAX_DAYS)))
    if errors or not isinstance(start, date) or not isinstance(end, date):
        raise ValidationFailed(errors)
    return statistics.Query(
        start=start, end=end, gate=gate, direction=direction,
        goods_group=p.get("goods_group") or None,
        enterprise=statistics_scope(who, p.get("enterprise") or None),
        by=by)  # type: ignore[arg-type]


def _naming(request: Request, db: Db, network: Network, q: statistics.Query | None,
            keys: Iterable[str] = ()) -> exports.Naming:
    """How the page and its files name codes, in the page's language."""
    names: dict[str, str] = {}
    if q is not None and (q.by == "enterprise" or q.enterprise):
        names = enterprise_names(db, [*keys, q.enterprise or ""])
    return exports.Naming(_lang(request), network, names)


def _bars(labels: list[str], series: dict[str, list[float]]) -> dict[str, Any]:
    """Geometry of a grouped bar chart drawn as SVG by the template (640 wide, 130 high)."""
    peak = max((v for values in series.values() for v in values), default=0) or 1
    slot = 640 / max(len(labels), 1)
    n = max(len(series), 1)
    inner = min(slot * 0.8, 80)
    bars = []
    for s, (name, values) in enumerate(series.items()):
        for i, v in enumerate(values):
            h = round(v / peak * 100, 1)
            bars.append({"x": round(i * slot + (slot - inner) / 2 + s * inner / n, 1),
                         "w": round(inner / n - 1, 1), "y": round(110 - h, 1), "h": h,
                         "series": s, "name": name, "label": labels[i], "value": v})
    step = max(1, len(labels) // 12)
    ticks = [{"x": round(i * slot + slot / 2, 1),
              "text": lab if len(lab) <= 14 else lab[:13] + "…", "full": lab}
             for i, lab in enumerate(labels) if i % step == 0]
    return {"bars": bars, "ticks": ticks, "series": list(series)}


def _hour(hour: int) -> str:
    return f"{hour:02d}:00"


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, ctx: Ctx, db: Db) -> Response:
    who = _reader(request, ctx, db)
    if isinstance(who, Response):
        return who
    now = ctx.clock.now()
    today = now.astimezone(LOCAL_TZ).date()
    network = networks.in_force(db, now)
    fmt = formatter(request)
    lang = _lang(request)
    official = who.may("situation.read")
    values: dict[str, Any] = {"user": who, "gates": network.gates, "official": official,
                              "dimensions": statistics.DIMENSIONS, "word": _word(lang),
                              "naming": exports.Naming(lang, network),
                              "params": dict(request.query_params), "errors": {},
                              "error": None, "hour": _hour}
    try:
        q = _query(request, who, today, network)
        traffic = statistics.traffic(db, network, q)
        times = statistics.times(db, network, q)
        naming = _naming(request, db, network, q, [r["key"] for r in traffic["rows"]])
        values.update(q=q, traffic=traffic, times=times, naming=naming)
        rows = traffic["rows"][:30]
        values["traffic_chart"] = _bars(
            [naming.key(q.by, r["key"]) for r in rows]
            or [fmt.label("direction", "export"), fmt.label("direction", "import")],
            {naming.t("value"): [r["vehicles_crossed"]["value"] for r in rows]
             or [traffic["total"]["export_crossed"]["value"],
                 traffic["total"]["import_crossed"]["value"]],
             naming.t("previous"): [r["vehicles_crossed"]["previous"] for r in rows]
             or [traffic["total"]["export_crossed"]["previous"],
                 traffic["total"]["import_crossed"]["previous"]]})
        if official:
            plain = statistics.Query(q.start, q.end, gate=q.gate, direction=q.direction)
            peaks = statistics.peaks(db, network, plain)
            if q.gate is not None:
                values["situation"] = situation.build(db, network, gate=q.gate,
                                                      day=min(q.end, today), now=now)
            values.update(peaks=peaks, holds=statistics.holds(db, network, plain),
                          targets=targets.progress(db, network, year=q.end.year, as_of=q.end,
                                                   gate=q.gate),
                          hours_chart=_bars([_hour(h["hour"]) for h in peaks["average_per_hour"]],
                                            {naming.t("vehicles"):
                                             [h["vehicles"] for h in peaks["average_per_hour"]]}))
    except AppError as exc:
        fields = [f for f in exc.fields if f.field in FORM_FIELDS]
        values["errors"] = fmt.field_errors(fields)
        others = [f for f in exc.fields if f.field not in FORM_FIELDS]
        if others or not exc.fields:
            values["error"] = fmt.message(others[0].reason, exc.code) if others \
                else fmt.error(exc)
        return render(request, "reports.html", status=exc.status_code, **values)
    return render(request, "reports.html", **values)


@router.get("/reports/download/{report}.{fmt}")
def download(report: str, fmt: str, request: Request, ctx: Ctx, db: Db) -> Response:
    """One report as a file, with the page's filters, in the page's language."""
    who = _reader(request, ctx, db)
    if isinstance(who, Response):
        return who
    if report not in REPORTS or fmt not in ("csv", "xlsx", "pdf"):
        return message_page(request, N_("No such report."), 404, "not_found")
    if report in ("peaks", "holds", "targets", "situation") and not who.may("situation.read"):
        return message_page(request, N_("This page is for officials and enterprises."), 403,
                            "forbidden")
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    try:
        q = _query(request, who, now.astimezone(LOCAL_TZ).date(), network)
        plain = statistics.Query(q.start, q.end, gate=q.gate, direction=q.direction)
        doc = {"traffic": lambda: statistics.traffic(db, network, q),
               "times": lambda: statistics.times(db, network, q),
               "peaks": lambda: statistics.peaks(db, network, plain),
               "holds": lambda: statistics.holds(db, network, plain),
               "targets": lambda: targets.progress(db, network, year=q.end.year, as_of=q.end,
                                                   gate=q.gate),
               "situation": lambda: situation.build(db, network, gate=q.gate or "",
                                                    day=q.end, now=now)}[report]()
    except AppError as exc:
        return message_page(request, exc, exc.status_code, exc.code)
    naming = _naming(request, db, network, q, [str(r.get("key", "")) for r in doc.get("rows", [])
                                               if isinstance(r, dict)])
    data = exports.render(doc, fmt, naming.lang, network=network,  # type: ignore[arg-type]
                          enterprises=naming.enterprises)
    name = f"{report}-{q.start.isoformat()}-{q.end.isoformat()}.{fmt}"
    return Response(data, media_type=exports.MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _lang(request: Request) -> exports.Lang:
    lang = formatter(request).lang
    return lang if lang in exports.LANGS else "vi"


def _word(lang: exports.Lang) -> Any:
    """The reports' own words (titles, columns, indicators) in the page's language."""
    return lambda key: exports.t(key, lang)
