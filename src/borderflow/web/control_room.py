"""The regulator's console: the network's figures, gate controls and urgent priority."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.dispatch import controls
from borderflow.dispatch import service as dispatch
from borderflow.dispatch import views as control_room
from borderflow.domain.access import (
    Principal,
)
from borderflow.errors import N_, AppError, msg
from borderflow.network import service as networks
from borderflow.trip import service as trips
from borderflow.trip import views as trip_views
from borderflow.web import console, i18n
from borderflow.web.pages import (
    STALE_FORM,
    csrf_ok,
    formatter,
    render,
    signed_in,
)

router = APIRouter(include_in_schema=False)


# --- the regulator's console ---------------------------------------------------------------------

CONSOLE_DONE = {"control": N_("Control applied."), "lifted": N_("Control lifted."),
                "priority": N_("Urgent priority granted.")}
"""``?done=`` after a console form (the control's id or the trip's reference make it exact)."""
CONTROL_KINDS = ("pause", "closure", "capacity", "extended_hours")


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


def _console_notice(request: Request, ctx: Ctx, db: Db, who: Principal, done: str,
                    control_id: int | None, reference: str) -> str | None:
    """The confirmation of the last console form, from the records (never text from the
    address)."""
    if done not in CONSOLE_DONE:
        return None
    fmt = formatter(request)
    now = ctx.clock.now()
    if done == "control" and control_id is not None:
        found = next((c for c in controls.active(db, now) if c.id == control_id), None)
        if found is not None:
            return fmt.gettext(N_("Control applied: {gate}, {control} until {time}.")).format(
                gate=fmt.label("gate", found.gate), control=fmt.label("control_kind", found.kind),
                time=console.when(fmt, found.ends_at, now))
    if done == "priority" and reference:
        try:
            row = trips.get(db, reference, actor=who, network=networks.in_force(db, now))
        except AppError:
            row = None
        if row is not None:
            return fmt.gettext(N_("Urgent priority granted to {trip}.")).format(
                trip=row.reference)
    return fmt.gettext(CONSOLE_DONE[done])


def _console_view(request: Request, ctx: Ctx, db: Db, who: Principal, *, gate: str = "",
                  status: int = 200, notice: str | None = None, error: str | None = None,
                  form: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                  which: str = "") -> Response:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    fmt = formatter(request)
    hours = control_room.crossings_per_hour(db, now)
    defaults = {"gate": "", "kind": "", "direction": "", "hours": "1", "vehicles_per_hour": "",
                "reason": "", "trip": "", "priority_reason": ""}
    return render(
        request, "console.html", status=status, user=who, gate=gate, gates=network.gates,
        nodes=console.schematic(network, trips.occupancy(db, network), fmt.name),
        width=console.WIDTH, height=console.HEIGHT,
        queue=dispatch.queue(db, network, now, gate or None),
        orders=control_room.recent_orders(db, now),
        alerts=control_room.alerts(db, actor=who, now=now, silent_after=timedelta(
            minutes=ctx.settings.device_silent_minutes)),
        controls=controls.active(db, now), hours=hours, peak=max(hours) or 1,
        park=(park := control_room.park_queue_by_hour(db, now)), park_peak=max(park) or 1,
        kinds=CONTROL_KINDS, notice=notice, error=error, which=which,
        form={**defaults, **(form or {})}, errors=errors or {},
        when=lambda at: console.when(fmt, at, now),
        here="/console" + (f"?gate={quote(gate)}" if gate else ""))


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
    return RedirectResponse(f"/console?done=control&control={made.id}", status_code=303)


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
    return RedirectResponse("/console?done=lifted", status_code=303)
