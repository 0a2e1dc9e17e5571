"""The partner bulletin page: today's bulletin of the partner side and ours (vehicles per
gate and direction, their versions; our next-day plan: declared trucks plus the forecast of the
rest, with its intervals), the partner side's counts entered by hand from its bulletin or its
file uploaded, and ours published. Roles: those who may read bulletins
(partner liaison, regulator, admin); entering the partner's needs ``bulletin.import``
(the same roles), publishing ours ``bulletin.publish``."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.clock import LOCAL_TZ
from borderflow.domain import exchange as rules
from borderflow.domain.access import Principal
from borderflow.domain.network import Network
from borderflow.errors import N_, AppError, FieldError, ValidationFailed, msg
from borderflow.exchange import service
from borderflow.exchange.endpoints import our_key
from borderflow.network import service as networks
from borderflow.store import paging
from borderflow.store.paging import MAX_CURSOR
from borderflow.web import i18n
from borderflow.web.pages import STALE_FORM, csrf_ok, formatter, render, signed_in

router = APIRouter(include_in_schema=False)

DONE = {"entered": N_("The partner side's counts were recorded."),
        "same": N_("These counts were recorded already: nothing changed."),
        "published": N_("Our bulletin was published."),
        "unchanged": N_("Nothing changed since our latest version: it stands.")}
MAX_FILE = 2 * 1024 * 1024
KEPT_PAGE = 20
"""Kept bulletin versions shown on a page."""


def _reader(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(request, ctx, db, lambda p: p.may("bulletin.read"),
                     N_("This page is for the partner liaison and the control room."))


def counts(body: dict[str, Any], *, partner: bool) -> dict[tuple[str, str], int]:
    """Vehicles per gate and direction in a bulletin (the partner's turned into ours)."""
    if partner:
        return {(c.gate, c.direction): c.vehicles for c in rules.partner_counts(body)}
    out: Counter[tuple[str, str]] = Counter()
    for yard in body.get("yards", []):
        for d in rules.DIRECTIONS:
            out[(yard["gate"], d)] += int(yard["vehicles"][d])
    return dict(out)


def plan_of(body: dict[str, Any]) -> dict[str, Any]:
    """Our bulletin's next-day plan: its day, the forecast it uses (or ``None``) and when that
    was made, and the plans by gate and direction."""
    forecast = body.get("planned_forecast")
    return {"date": date.fromisoformat(body["planned_date"]), "forecast": forecast,
            "made": rules.parse_instant(forecast["created_at"]) if forecast else None,
            "rows": {(p["gate"], p["direction"]): p for p in body["planned"]}}


def _side(rows: list[Any], *, partner: bool) -> dict[str, Any] | None:
    if not rows:
        return None
    latest = rows[0]
    return {"row": latest, "versions": len(rows), "counts": counts(latest.body, partner=partner),
            "by_hand": latest.source == service.BY_HAND}


def _kept(db: Db, cursor: str, before: str) -> paging.Page[Any]:
    """A page of the kept versions; a cursor the list did not give shows the first page."""
    try:
        return service.versions(db, side=None, day=None, cursor=cursor or None,
                                before=before or None, limit=KEPT_PAGE)
    except ValidationFailed:
        return service.versions(db, side=None, day=None, limit=KEPT_PAGE)


def _view(request: Request, ctx: Ctx, db: Db, who: Principal, *, status: int = 200,
          notice: str | None = None, error: str | None = None,
          form: dict[str, str] | None = None, errors: dict[str, str] | None = None,
          cursor: str = "", before: str = "") -> Response:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    partner = service.partner_side(network)
    ours = _side(service.today(db, ctx.settings.exchange_side, now), partner=False)
    body = service.build(db, network, side=ctx.settings.exchange_side,
                         version=ctx.settings.exchange_schema_version, now=now)
    live = counts(body, partner=False)
    values = {"counted_at": now.astimezone(LOCAL_TZ).strftime("%H:%M")}
    values.update(form or {})
    return render(request, "exchange.html", status=status, user=who, gates=network.gates,
                  partner=_side(service.today(db, partner, now), partner=True), ours=ours,
                  live=live, plan=plan_of(body), partner_side=partner,
                  may_enter=who.may("bulletin.import"),
                  may_publish=who.may("bulletin.publish"), notice=notice, error=error,
                  form=values, errors=errors or {}, kept=_kept(db, cursor, before),
                  by_hand=service.BY_HAND)


@router.get("/exchange", response_class=HTMLResponse)
def exchange_page(request: Request, ctx: Ctx, db: Db, done: str = "",
                  cursor: Annotated[str, Query(max_length=MAX_CURSOR)] = "",
                  before: Annotated[str, Query(max_length=MAX_CURSOR)] = "") -> Response:
    """Today's bulletins of both sides, per gate and direction, the forms to enter the
    partner's and publish ours, and the kept versions a page at a time (``cursor`` and
    ``before`` from the page's links)."""
    who = _reader(request, ctx, db)
    if isinstance(who, Response):
        return who
    notice = formatter(request).gettext(DONE[done]) if done in DONE else None
    return _view(request, ctx, db, who, notice=notice, cursor=cursor, before=before)


def _may(request: Request, ctx: Ctx, db: Db, action: str) -> Principal | Response:
    return signed_in(request, ctx, db, lambda p: p.may(action),
                     N_("Only the partner liaison enters the partner side's bulletin.")
                     if action == "bulletin.import" else
                     N_("This page is for the partner liaison and the control room."))


def _hand_counts(fmt: i18n.Formatter, network: Network, form: dict[str, str]
                 ) -> tuple[list[service.HandCount], list[FieldError]]:
    out, problems = [], []
    for g in network.gates:
        figures: dict[str, int | None] = {}
        for part in ("export", "import", "capacity"):
            name = f"{g.code}.{part}"
            try:
                value = fmt.parse_number(form.get(name, ""), places=0)
            except i18n.NumberInputError as exc:
                problems.append(FieldError(name, exc.text))
                continue
            figures[part] = int(value) if value is not None else None
        if figures.get("export") is None and figures.get("import") is None:
            continue  # a gate the partner's bulletin does not give
        out.append(service.HandCount(g.code, figures.get("export") or 0,
                                     figures.get("import") or 0, figures.get("capacity")))
    if not out and not problems:
        problems.append(FieldError("counts", msg("give the vehicles of at least one gate")))
    return out, problems


def _form_field(gates: list[str], path: str) -> str:
    """``bulletin.yards[1].vehicles.export`` -> the form's ``<gate>.export``."""
    found = re.fullmatch(r"bulletin\.yards\[(\d+)\](?:\.(vehicles|capacity))?(?:\.(\w+))?",
                         path)
    if found and int(found.group(1)) < len(gates):
        gate = gates[int(found.group(1))]
        part = found.group(3) or ("capacity" if found.group(2) == "capacity" else "export")
        return f"{gate}.{part}"
    return {"bulletin.counted_at": "counted_at"}.get(path, path)


def _counted(raw: str, now: datetime, problems: list[FieldError]) -> datetime:
    try:
        clock = time.fromisoformat(raw.strip())
    except ValueError:
        problems.append(FieldError("counted_at", msg("give a time (HH:MM)")))
        return now
    return datetime.combine(now.astimezone(LOCAL_TZ).date(), clock, tzinfo=LOCAL_TZ)


@router.post("/exchange/partner")
async def enter_partner(request: Request, ctx: Ctx, db: Db) -> Response:
    """The partner side's counts typed from its bulletin (per gate, its directions), checked
    against the bulletin's schema; each refused figure is named. Sent twice, recorded once.
    Roles: partner liaison, regulator, admin."""
    who = _may(request, ctx, db, "bulletin.import")
    if isinstance(who, Response):
        return who
    sent = await request.form()
    form = {k: v for k, v in sent.items() if isinstance(v, str) and len(v) <= 100}
    if not csrf_ok(request, form.get("csrf", "")):
        return _view(request, ctx, db, who, status=422, form=form,
                     error=formatter(request).gettext(STALE_FORM))
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    fmt = formatter(request)
    found, problems = _hand_counts(fmt, network, form)
    counted = _counted(form.get("counted_at", ""), now, problems)
    try:
        if problems:
            raise ValidationFailed(problems)
        _, created = service.enter_by_hand(db, network, found, counted_at=counted,
                                           our_side=ctx.settings.exchange_side, actor=who,
                                           now=now)
    except AppError as exc:
        gates = [c.gate for c in found]
        errors = fmt.field_errors([FieldError(_form_field(gates, f.field), f.reason)
                                   for f in exc.fields])
        return _view(request, ctx, db, who, status=exc.status_code, form=form,
                     error=fmt.error(exc), errors=errors)
    return RedirectResponse(f"/exchange?done={'entered' if created else 'same'}",
                            status_code=303)


@router.post("/exchange/partner/upload")
async def upload_partner(request: Request, ctx: Ctx, db: Db,
                         file: Annotated[UploadFile | None, File()] = None,
                         csrf: Annotated[str, Form()] = "") -> Response:
    """The partner side's signed bulletin file, checked like the API's upload (schema,
    rules, signature). Roles: partner liaison, regulator, admin."""
    who = _may(request, ctx, db, "bulletin.import")
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    if not csrf_ok(request, csrf):
        return _view(request, ctx, db, who, status=422, error=fmt.gettext(STALE_FORM))
    now = ctx.clock.now()
    try:
        data = await file.read(MAX_FILE + 1) if file is not None and file.filename else b""
        if not data:
            raise ValidationFailed([FieldError("file", msg("choose the bulletin's file"))])
        if len(data) > MAX_FILE:
            raise ValidationFailed([FieldError("file", msg("a bulletin file is at most 2 MiB"))])
        try:
            document = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            raise ValidationFailed([FieldError("file", msg(
                "is not a JSON document"))]) from None
        _, created = service.receive(db, networks.in_force(db, now), document, source="upload",
                                     our_side=ctx.settings.exchange_side, actor=who, now=now)
    except AppError as exc:
        listed = "; ".join(f"{f.field}: {fmt.message(f.reason, 'validation_failed')}"
                           for f in exc.fields[:10])
        return _view(request, ctx, db, who, status=exc.status_code,
                     error=fmt.error(exc) + (f" ({listed})" if listed else ""),
                     errors={"file": fmt.error(exc)})
    return RedirectResponse(f"/exchange?done={'entered' if created else 'same'}",
                            status_code=303)


@router.post("/exchange/publish")
def publish_ours(request: Request, ctx: Ctx, db: Db, csrf: Annotated[str, Form()] = ""
                 ) -> Response:
    """Build, sign and keep our bulletin for today (a new version only when a figure
    changed). Roles: partner liaison, regulator, admin."""
    who = _may(request, ctx, db, "bulletin.publish")
    if isinstance(who, Response):
        return who
    if not csrf_ok(request, csrf):
        return _view(request, ctx, db, who, status=422,
                     error=formatter(request).gettext(STALE_FORM))
    now = ctx.clock.now()
    _, created = service.publish(db, networks.in_force(db, now), our_key(ctx),
                                 side=ctx.settings.exchange_side,
                                 version=ctx.settings.exchange_schema_version, actor=who,
                                 now=now)
    return RedirectResponse(f"/exchange?done={'published' if created else 'unchanged'}",
                            status_code=303)
