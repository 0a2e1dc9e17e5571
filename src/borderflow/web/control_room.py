"""The regulator's console: the network's figures, gate controls and urgent priority."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.demand import advice as forecasts
from borderflow.dispatch import controls
from borderflow.dispatch import service as dispatch
from borderflow.dispatch import views as control_room
from borderflow.domain.access import (
    Principal,
)
from borderflow.domain.network import Network
from borderflow.errors import N_, AppError, msg
from borderflow.network import service as networks
from borderflow.telemetry import cameras
from borderflow.trip import service as trips
from borderflow.trip import views as trip_views
from borderflow.web import console, i18n
from borderflow.web.pages import (
    STALE_FORM,
    csrf_ok,
    formatter,
    message_page,
    render,
    signed_in,
)

router = APIRouter(include_in_schema=False)


# --- the regulator's console ---------------------------------------------------------------------

CONSOLE_DONE = {"control": N_("Control applied."), "lifted": N_("Control lifted."),
                "priority": N_("Urgent priority granted.")}
"""``?done=`` after a console form (the control's id or the trip's reference make it exact)."""
CONTROL_KINDS = ("pause", "closure", "capacity", "extended_hours")
REFRESH_SECONDS = 5
"""How often the console's figure panels refresh themselves (htmx polling)."""
PARTS = ("map", "controls", "queue", "alerts", "charts")
"""The panels that refresh themselves, each from ``/console/live/{part}``. The forms are
outside them, so what is being typed is never wiped."""


def _regulator(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(request, ctx, db, lambda p: p.may("gate.control"),
                     N_("This page is for the control room."))


@router.get("/console", response_class=HTMLResponse)
def console_page(request: Request, ctx: Ctx, db: Db, gate: str = "", done: str = "",
                 control: int | None = None, trip: str = "") -> Response:
    """The control room: the network with counts and fill levels, the virtual queue, the
    dispatcher's orders, alerts, the regulator's controls and trucks per hour."""
    who = _regulator(request, ctx, db)
    if isinstance(who, Response):
        return who
    return _console_view(request, ctx, db, who, gate=gate,
                         notice=_console_notice(request, ctx, db, who, done, control, trip))


@router.get("/console/live/{part}", response_class=HTMLResponse)
def console_live(part: str, request: Request, ctx: Ctx, db: Db, gate: str = "") -> Response:
    """One panel of the console, fresh: polled every few seconds by the page. Nothing to
    swap (204) for a visitor who is no longer the control room."""
    who = _regulator(request, ctx, db)
    if isinstance(who, Response):
        return Response(status_code=204) if request.headers.get("hx-request") else who
    if part not in PARTS:
        return message_page(request, msg("There is no such panel."), 404, "not_found")
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    data = _PANELS[part](request, ctx, db, who, network, gate)
    return render(request, f"console_{part}.html", user=who, gate=gate, at=now,
                  refresh=REFRESH_SECONDS, **_common(request, now), **data)


def _common(request: Request, now: datetime) -> dict[str, Any]:
    fmt = formatter(request)
    return {"when": lambda at: console.when(fmt, at, now), "now": now}


def _map_panel(request: Request, ctx: Ctx, db: Db, who: Principal, network: Network,
               gate: str) -> dict[str, Any]:
    now = ctx.clock.now()
    in_force = controls.active(db, now)
    return {"drawing": console.draw(network, trips.occupancy(db, network), formatter(request),
                                    in_force, now)}


def _controls_panel(request: Request, ctx: Ctx, db: Db, who: Principal, network: Network,
                    gate: str) -> dict[str, Any]:
    return {"controls": controls.active(db, ctx.clock.now())}


def _queue_panel(request: Request, ctx: Ctx, db: Db, who: Principal, network: Network,
                 gate: str) -> dict[str, Any]:
    now = ctx.clock.now()
    return {"queue": dispatch.queue(db, network, now, gate or None),
            "orders": control_room.recent_orders(db, now)}


def _alerts_panel(request: Request, ctx: Ctx, db: Db, who: Principal, network: Network,
                  gate: str) -> dict[str, Any]:
    now = ctx.clock.now()
    return {"alerts": control_room.alerts(db, actor=who, now=now, silent_after=timedelta(
                minutes=ctx.settings.device_silent_minutes)),
            "reads_waiting": control_room.plate_reads_count(db, actor=who)}


def _charts_panel(request: Request, ctx: Ctx, db: Db, who: Principal, network: Network,
                  gate: str) -> dict[str, Any]:
    now = ctx.clock.now()
    fmt = formatter(request)
    return {"hours_chart": console.bar_chart(control_room.crossings_per_hour(db, now), fmt),
            "park_chart": console.bar_chart(control_room.park_queue_by_hour(db, network, now), fmt)}


_PANELS: dict[str, Callable[[Request, Ctx, Db, Principal, Network, str], dict[str, Any]]] = {
    "map": _map_panel, "controls": _controls_panel, "queue": _queue_panel,
    "alerts": _alerts_panel, "charts": _charts_panel}


def _console_notice(request: Request, ctx: Ctx, db: Db, who: Principal, done: str,
                    control_id: int | None, reference: str) -> dict[str, Any] | None:
    """The confirmation of the last console form, from the records (never text from the
    address): for a control, what it did and a button to undo it while it is in force."""
    if done not in CONSOLE_DONE:
        return None
    fmt = formatter(request)
    now = ctx.clock.now()
    made = control_room.control_made(db, control_id) if control_id is not None else None
    if done == "control" and made is not None:
        text = fmt.gettext(N_("Control applied: {gate}, {control} until {time}.")).format(
            gate=fmt.label("gate", made["gate"]), control=fmt.label("control_kind", made["kind"]),
            time=console.when(fmt, made["ends_at"], now))
        live = made["lifted_at"] is None and made["ends_at"] > now
        return {"text": text, "effects": _effects(fmt, made), "undo": made["id"] if live else None}
    if done == "lifted" and made is not None:
        return {"text": fmt.gettext(N_("Control lifted: {gate}, {control}.")).format(
            gate=fmt.label("gate", made["gate"]), control=fmt.label("control_kind",
                                                                    made["kind"]))}
    if done == "priority" and reference:
        try:
            row = trips.get(db, reference, actor=who, network=networks.in_force(db, now))
        except AppError:
            row = None
        if row is not None:
            return {"text": fmt.gettext(N_("Urgent priority granted to {trip}.")).format(
                trip=row.reference)}
    return {"text": fmt.gettext(CONSOLE_DONE[done])}


def _effects(fmt: i18n.Formatter, made: dict[str, Any]) -> list[str]:
    """What applying a control did, one sentence each, in the page's language."""
    out = []
    if made["recalled"]:
        out.append(fmt.gettext(N_("Trucks recalled from the gate: {trips}.")).format(
            trips=fmt.listing(made["recalled"])))
    for r in made["rerouted"]:
        out.append(fmt.gettext(N_("{trip} re-routed to {gate}.")).format(
            trip=r["trip"], gate=fmt.label("gate", r["gate"])))
    if made["released"]:
        out.append(fmt.gettext(N_("Bookings released: {trips}.")).format(
            trips=fmt.listing(made["released"])))
    if not out:
        out.append(fmt.gettext(N_("No truck was called to the gate and no booking was in "
                                  "the closed hours.")))
    return out


def _forecast_panel(request: Request, db: Db, network: Network, now: datetime
                    ) -> dict[str, Any]:
    """The newest forecast of the next days per gate and direction, each day's places where
    known, and the advice for the days over them, said in the page's language. Read only: the
    advice was computed with the forecast run. Not refreshed with the live panels (a run is
    made once a day)."""
    week = forecasts.week_with_advice(db, network, now=now)
    if week is None:
        return {"forecast": None, "advice_lines": []}
    fmt = formatter(request)
    lo80 = {(s.gate, s.direction, d.day): d.lo80 for s in week.series for d in s.days}
    lines = [console.advice_line(fmt, a, lo80.get((a.gate, a.direction, a.day)))
             for a in week.advice]
    known = any(d.capacity is not None for s in week.series for d in s.days)
    return {"forecast": week, "advice_lines": lines, "places_known": known,
            "day_label": lambda day: console.day_label(fmt, day),
            "gate_name": lambda code: console.gate_name(fmt, code),
            "trucks": lambda v: console.trucks(fmt, v),
            "interval": lambda lo, hi: console.interval(fmt, lo, hi)}


def _console_view(request: Request, ctx: Ctx, db: Db, who: Principal, *, gate: str = "",
                  status: int = 200, notice: dict[str, Any] | None = None,
                  error: str | None = None, form: dict[str, str] | None = None,
                  errors: dict[str, str] | None = None, which: str = "") -> Response:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    defaults = {"gate": "", "kind": "", "direction": "", "hours": "1", "vehicles_per_hour": "",
                "reason": "", "trip": "", "priority_reason": ""}
    panels: dict[str, Any] = {}
    for part in PARTS:
        panels.update(_PANELS[part](request, ctx, db, who, network, gate))
    panels.update(_forecast_panel(request, db, network, now))
    return render(
        request, "console.html", status=status, user=who, gate=gate, gates=network.gates,
        kinds=CONTROL_KINDS, notice=notice, error=error, which=which, at=now,
        refresh=REFRESH_SECONDS, form={**defaults, **(form or {})}, errors=errors or {},
        here="/console" + (f"?gate={quote(gate)}" if gate else ""), **_common(request, now),
        **panels)


RESEND_WINDOW = timedelta(minutes=2)


def _same_control(db: Db, now: datetime, who: Principal, gate: str, kind: str,
                  direction: str, reason: str) -> int | None:
    """A control in force that this regulator applied moments ago with the same form."""
    for c in controls.active(db, now):
        if (c.gate, c.kind, c.direction or "", c.reason, c.created_by) == (
                gate, kind, direction, reason.strip(), who.username) and \
                c.created_at >= now - RESEND_WINDOW:
            return int(c.id)
    return None


def _hours(fmt: i18n.Formatter, raw: str) -> Decimal | None:
    """Hours typed in the form: as a number field sends it (``1.5``), or as people write
    them in the page's language (``1,5`` on a Vietnamese page)."""
    text = raw.strip()
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        pass
    try:
        return fmt.parse_number(text)
    except i18n.NumberInputError:
        return None


@router.post("/console/controls")
def console_control(request: Request, ctx: Ctx, db: Db, gate: Annotated[str, Form()] = "",
                    kind: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "",
                    hours: Annotated[str, Form()] = "", direction: Annotated[str, Form()] = "",
                    vehicles_per_hour: Annotated[str, Form()] = "",
                    csrf: Annotated[str, Form()] = "") -> Response:
    """Close a gate, change its capacity, extend its hours or pause calls from now on; a
    refusal shows the console again with the form as it was typed."""
    fresh = csrf_ok(request, csrf)
    who = _regulator(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    form = {"gate": gate, "kind": kind, "direction": direction, "hours": hours,
            "vehicles_per_hour": vehicles_per_hour, "reason": reason}
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    errors: dict[str, str] = {}
    if network.gate(gate) is None:
        errors["gate"] = fmt.gettext(N_("Choose a gate."))
    if kind not in CONTROL_KINDS:
        errors["kind"] = fmt.gettext(N_("Choose what to do."))
    span = _hours(fmt, hours)
    if span is None or not 0 < span <= 24 * 14:
        errors["hours"] = fmt.gettext(N_("Give the number of hours, more than 0 and at most "
                                         "336."))
    per_hour: int | None = None
    if vehicles_per_hour.strip():
        count = _hours(fmt, vehicles_per_hour)
        if count is None or count != count.to_integral_value() or count < 0:
            errors["vehicles_per_hour"] = fmt.gettext(N_("Vehicles per hour must be a whole "
                                                         "number."))
        else:
            per_hour = int(count)
    if kind == "capacity" and per_hour is None and "vehicles_per_hour" not in errors:
        errors["vehicles_per_hour"] = fmt.gettext(N_("Give the vehicles per hour the gate "
                                                     "takes (0 or more)."))
    if kind in ("pause", "closure") and per_hour is not None:
        errors["vehicles_per_hour"] = fmt.gettext(N_("Only a capacity change or extended hours "
                                                     "takes vehicles per hour; leave it "
                                                     "empty."))
    if len(reason.strip()) < 3:
        errors["reason"] = fmt.gettext(N_("Say why, in 3 characters or more."))
    if not fresh:
        return _console_view(request, ctx, db, who, status=403, error=fmt.gettext(STALE_FORM),
                             form=form, errors=errors, which="control")
    if errors:
        return _console_view(request, ctx, db, who, status=422,
                             error=fmt.gettext(N_("The control was not applied: see the "
                                                  "fields marked below.")),
                             form=form, errors=errors, which="control")
    again = _same_control(db, now, who, gate, kind, direction, reason)
    if again is not None:  # the same form sent twice (a double click, a retry): one control
        return RedirectResponse(f"/console?done=control&control={again}#controls",
                                status_code=303)
    try:
        made, _effects = controls.create(
            db, network, gate=gate, direction=direction or None, kind=kind,  # type: ignore[arg-type]
            starts_at=now, ends_at=now + timedelta(seconds=float(span or 0) * 3600),
            vehicles_per_hour=per_hour, reason=reason.strip(), actor=who, now=now)
    except AppError as exc:
        db.rollback()
        return _console_view(request, ctx, db, who, status=exc.status_code,
                             error=fmt.error(exc), form=form,
                             errors=fmt.field_errors(exc.fields), which="control")
    return RedirectResponse(f"/console?done=control&control={made.id}#controls",
                            status_code=303)


@router.post("/console/priority")
def console_priority(request: Request, ctx: Ctx, db: Db, trip: Annotated[str, Form()] = "",
                     reason: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "",
                     priority: Annotated[str, Form()] = "urgent") -> Response:
    """Grant a trip urgent priority (or set another class), with a reason; the trip is named
    by its reference or its plate."""
    fresh = csrf_ok(request, csrf)
    who = _regulator(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    form = {"trip": trip, "priority_reason": reason}
    errors: dict[str, str] = {}
    if not trip.strip():
        errors["trip"] = fmt.gettext(N_("Give the trip's reference or plate."))
    if len(reason.strip()) < 3:
        errors["priority_reason"] = fmt.gettext(N_("Say why, in 3 characters or more."))

    def again(status: int, error: str) -> Response:
        return _console_view(request, ctx, db, who, status=status, error=error, form=form,
                             errors=errors, which="priority")

    if not fresh:
        return again(403, fmt.gettext(STALE_FORM))
    if errors:
        return again(422, fmt.gettext(N_("The priority was not granted: see the fields "
                                         "marked below.")))
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    row = trip_views.by_reference_or_plate(db, trip, who, network)
    if row is None:
        errors["trip"] = fmt.message(msg("No trip {trip} among those you may see.",
                                         trip=trip.strip()))
        return again(404, errors["trip"])
    try:
        trips.record(db, row.id, "trip.prioritised",
                     {"priority": priority, "reason": reason.strip()}, actor=who,
                     network=network, now=now, source="regulator")
    except AppError as exc:
        db.rollback()
        return again(exc.status_code, fmt.error(exc))
    return RedirectResponse(f"/console?done=priority&trip={quote(row.reference)}",
                            status_code=303)


@router.post("/console/controls/{control_id}/lift")
def console_lift(control_id: int, request: Request, ctx: Ctx, db: Db,
                 csrf: Annotated[str, Form()] = "") -> Response:
    """Lift a control (also the undo of one just applied); audited by the service, and
    lifting one already lifted changes nothing."""
    fresh = csrf_ok(request, csrf)
    who = _regulator(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    if not fresh:
        return _console_view(request, ctx, db, who, status=403, error=fmt.gettext(STALE_FORM))
    now = ctx.clock.now()
    try:
        controls.lift(db, networks.in_force(db, now), control_id, actor=who, now=now)
    except AppError as exc:
        db.rollback()
        return _console_view(request, ctx, db, who, status=exc.status_code,
                             error=fmt.error(exc))
    return RedirectResponse(f"/console?done=lifted&control={control_id}#controls",
                            status_code=303)


# --- plate reads to review -----------------------------------------------------------------------

READ_DONE = {"confirmed": N_("Read {plate} confirmed as {trip}."),
             "corrected": N_("Read {plate} corrected and confirmed as {trip}."),
             "dismissed": N_("Read {plate} rejected.")}
READ_STATUS = {"confirmed": N_("confirmed"), "dismissed": N_("rejected"),
               "matched": N_("matched automatically")}


def _reviewer(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(request, ctx, db,
                     lambda p: p.may("gate.control") and p.may("plate_read.review"),
                     N_("This page is for the control room."))


def _image(ref: str | None) -> dict[str, str] | None:
    """The camera's picture: shown when the platform serves it (a path here, or the picture
    itself), else a link to where the camera keeps it."""
    if not ref:
        return None
    if (ref.startswith("/") and not ref.startswith("//")) or ref.startswith("data:image/"):
        return {"src": ref}
    if ref.startswith(("https://", "http://")):
        return {"href": ref}
    return None


@router.get("/console/plate-reads", response_class=HTMLResponse)
def plate_reads_page(request: Request, ctx: Ctx, db: Db, done: str = "",
                     read: int | None = None) -> Response:
    """The plate reads no trip could be matched to: confirm one as its trip, correct the
    plate and confirm, or reject it."""
    who = _reviewer(request, ctx, db)
    if isinstance(who, Response):
        return who
    notice = None
    if done in READ_DONE and read is not None:
        try:
            row, _camera = cameras.get(db, read, actor=who)
        except AppError:
            row = None
        if row is not None and row.status in ("confirmed", "dismissed"):
            trip = _trip_of(db, row)
            notice = formatter(request).gettext(READ_DONE[done]).format(
                plate=row.raw_plate, trip=trip)
    return _plate_reads_view(request, ctx, db, who, notice=notice)


def _trip_of(db: Db, row: Any) -> str:
    found = cameras.read_out(db, row)
    return str(found.get("trip") or "—")


def _plate_reads_view(request: Request, ctx: Ctx, db: Db, who: Principal, *,
                      status: int = 200, notice: str | None = None, error: str | None = None,
                      failed: int | None = None, form: dict[str, str] | None = None
                      ) -> Response:
    now = ctx.clock.now()
    items = [{"id": r.id, "plate": r.raw_plate, "camera": c.code, "gate": r.gate,
              "at": r.read_at, "confidence": r.confidence, "reason": r.reason,
              "direction": r.direction, "image": _image(r.image_ref), "candidates": found}
             for r, c, found in cameras.review_queue(db, actor=who, limit=30)]
    return render(request, "console_plate_reads.html", status=status, user=who, reads=items,
                  notice=notice, error=error, failed=failed, form=form or {}, at=now,
                  **_common(request, now))


def _read_refused(request: Request, ctx: Ctx, db: Db, who: Principal, read_id: int,
                  exc: AppError, form: dict[str, str]) -> Response:
    """A review action refused: another reviewer came first (who and what they did), or the
    service's reason; the page again with what was typed."""
    db.rollback()
    fmt = formatter(request)
    error = fmt.error(exc)
    if isinstance(exc, cameras.AlreadyResolved):
        try:
            row, _camera = cameras.get(db, read_id, actor=who)
            error = fmt.gettext(N_("Another reviewer already handled read {plate}: "
                                   "{status} by {by}. Nothing was changed.")).format(
                plate=row.raw_plate, status=fmt.gettext(READ_STATUS.get(row.status, row.status)),
                by=row.resolved_by or "—")
        except AppError:
            pass
    return _plate_reads_view(request, ctx, db, who, status=exc.status_code, error=error,
                             failed=read_id, form=form)


@router.post("/console/plate-reads/{read_id}/confirm")
def plate_read_confirm(read_id: int, request: Request, ctx: Ctx, db: Db,
                       trip: Annotated[str, Form()] = "", plate: Annotated[str, Form()] = "",
                       action: Annotated[str, Form()] = "confirm",
                       csrf: Annotated[str, Form()] = "") -> Response:
    """Confirm a read as one of the trips it may be, or (``action=correct``) as the trip of
    the plate typed: the movement the camera saw is recorded on that trip."""
    fresh = csrf_ok(request, csrf)
    who = _reviewer(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    form = {"trip": trip, "plate": plate}
    if not fresh:
        return _plate_reads_view(request, ctx, db, who, status=403,
                                 error=fmt.gettext(STALE_FORM), failed=read_id, form=form)
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    note = None
    if action == "correct":
        found = trip_views.by_reference_or_plate(db, plate, who, network) \
            if plate.strip() else None
        if found is None:
            return _plate_reads_view(request, ctx, db, who, status=422, failed=read_id,
                                     form=form, error=fmt.gettext(N_(
                                         "No trip under way with the plate {plate}: check "
                                         "the plate.")).format(plate=plate.strip() or "—"))
        trip, note = found.reference, f"plate corrected to {plate.strip()}"
    elif not trip.strip():
        return _plate_reads_view(request, ctx, db, who, status=422, failed=read_id, form=form,
                                 error=fmt.gettext(N_("Choose the trip the read is.")))
    try:
        cameras.confirm(db, read_id, trip.strip(), actor=who, network=network, now=now,
                        note=note)
    except AppError as exc:
        return _read_refused(request, ctx, db, who, read_id, exc, form)
    done = "corrected" if action == "correct" else "confirmed"
    return RedirectResponse(f"/console/plate-reads?done={done}&read={read_id}",
                            status_code=303)


@router.post("/console/plate-reads/{read_id}/dismiss")
def plate_read_dismiss(read_id: int, request: Request, ctx: Ctx, db: Db,
                       reason: Annotated[str, Form()] = "",
                       csrf: Annotated[str, Form()] = "") -> Response:
    """Reject a read (not a vehicle on a trip, a misread, a repeat), with the reason."""
    fresh = csrf_ok(request, csrf)
    who = _reviewer(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    form = {"reason": reason}
    if not fresh:
        return _plate_reads_view(request, ctx, db, who, status=403,
                                 error=fmt.gettext(STALE_FORM), failed=read_id, form=form)
    if len(reason.strip()) < 3:
        return _plate_reads_view(request, ctx, db, who, status=422, failed=read_id, form=form,
                                 error=fmt.gettext(N_("Say why, in 3 characters or more.")))
    try:
        cameras.dismiss(db, read_id, reason.strip(), actor=who, now=ctx.clock.now())
    except AppError as exc:
        return _read_refused(request, ctx, db, who, read_id, exc, form)
    return RedirectResponse(f"/console/plate-reads?done=dismissed&read={read_id}",
                            status_code=303)
