"""The reports page: traffic against the year before, time spent, peaks, holds and targets
for a period, with charts, and each report as CSV, Excel or PDF in the page's language. The
figures and the files are the API's (``report/``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.clock import LOCAL_TZ
from borderflow.domain.access import Principal, statistics_scope
from borderflow.errors import N_, AppError, FieldError, ValidationFailed
from borderflow.network import service as networks
from borderflow.report import exports, situation, statistics, targets
from borderflow.web.pages import formatter, message_page, render, signed_in

router = APIRouter(include_in_schema=False)

REPORTS = ("traffic", "times", "peaks", "holds", "targets", "situation")


def _reader(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(request, ctx, db, lambda p: p.may("statistics.read"),
                     N_("This page is for officials and enterprises."))


def _date(raw: str | None, default: date, field: str) -> date:
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed([FieldError(field, "a date (YYYY-MM-DD)")]) from None


def _query(request: Request, who: Principal, today: date) -> statistics.Query:
    p = request.query_params
    by = p.get("by") or None
    if by is not None and by not in statistics.DIMENSIONS:
        raise ValidationFailed([FieldError("by", "one of " + ", ".join(statistics.DIMENSIONS))])
    return statistics.Query(
        start=_date(p.get("from"), today.replace(day=1), "from"),
        end=_date(p.get("to"), today, "to"),
        gate=p.get("gate") or None, direction=p.get("direction") or None,
        goods_group=p.get("goods_group") or None,
        enterprise=statistics_scope(who, p.get("enterprise") or None),
        by=by)


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
    ticks = [{"x": round(i * slot + slot / 2, 1), "text": lab[:14]}
             for i, lab in enumerate(labels) if i % step == 0]
    return {"bars": bars, "ticks": ticks, "series": list(series)}


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, ctx: Ctx, db: Db) -> Response:
    who = _reader(request, ctx, db)
    if isinstance(who, Response):
        return who
    now = ctx.clock.now()
    today = now.astimezone(LOCAL_TZ).date()
    network = networks.in_force(db, now)
    lang = _lang(request)
    official = who.may("situation.read")
    values: dict[str, Any] = {"user": who, "gates": network.gates, "official": official,
                              "dimensions": statistics.DIMENSIONS, "label": _label(lang),
                              "params": dict(request.query_params), "errors": []}
    try:
        q = _query(request, who, today)
        traffic = statistics.traffic(db, network, q)
        times = statistics.times(db, network, q)
        values.update(q=q, traffic=traffic, times=times)
        rows = traffic["rows"][:30]
        names = {g.code: fmt_name(request, g.name) for g in network.gates}
        values["names"] = names
        values["traffic_chart"] = _bars(
            [names.get(r["key"], r["key"]) if q.by == "gate" else r["key"] for r in rows]
            or [exports.t("export", lang), exports.t("import", lang)],
            {exports.t("value", lang): [r["vehicles_crossed"]["value"] for r in rows]
             or [traffic["total"]["export_crossed"]["value"],
                 traffic["total"]["import_crossed"]["value"]],
             exports.t("previous", lang): [r["vehicles_crossed"]["previous"] for r in rows]
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
                          hours_chart=_bars([str(h["hour"]) for h in peaks["average_per_hour"]],
                                            {exports.t("vehicles", lang):
                                             [h["vehicles"] for h in peaks["average_per_hour"]]}))
    except AppError as exc:
        values["errors"] = exc.fields or [FieldError("", exc.message)]
        return render(request, "reports.html", status=422, **values)
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
        q = _query(request, who, now.astimezone(LOCAL_TZ).date())
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
    lang = _lang(request)
    data = exports.render(doc, fmt, lang)  # type: ignore[arg-type]
    name = f"{report}-{q.start.isoformat()}-{q.end.isoformat()}.{fmt}"
    return Response(data, media_type=exports.MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def fmt_name(request: Request, names: object) -> str:
    return formatter(request).name(names)


def _lang(request: Request) -> exports.Lang:
    lang = formatter(request).lang
    return lang if lang in exports.LANGS else "vi"


def _label(lang: exports.Lang) -> Any:
    return lambda key: exports.t(key, lang)

