"""The driver's page: for each trip under way the instruction in force (go to the gate, wait in
the park, drive to the park for the booked slot), a banner when it changed (recalled, re-routed,
call delayed by a gate control), the gate and yard by name, booked slot, place in the queue and
expected call, the gate's closure or pause with its end, the QR code to show at the gate, the
fee; the driver's notifications; the phone's GPS set-up.

The trips part (``/driver/panel``) is polled every few seconds by the page (htmx), so a change
made by the control room shows without a reload. Drivers only, their own trips only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.dispatch import controls
from borderflow.dispatch import service as dispatch
from borderflow.domain.access import (
    Principal,
    Role,
)
from borderflow.domain.network import Network
from borderflow.domain.trip import parse_time
from borderflow.errors import N_, AppError
from borderflow.fees import queries as fee_views
from borderflow.network import service as networks
from borderflow.notify import service as notifications
from borderflow.telemetry import service as telemetry
from borderflow.telemetry import setup_codes
from borderflow.telemetry import views as telemetry_views
from borderflow.trip import service as trips
from borderflow.trip import views as trip_views
from borderflow.web import phone_setup
from borderflow.web.pages import (
    STALE_FORM,
    csrf_ok,
    formatter,
    render,
    signed_in,
)

router = APIRouter(include_in_schema=False)

PANEL_SECONDS = 5
"""How often the driver's open page asks for the trips part again."""

CHANGED = frozenset(
    {"order_withdrawn", "rerouted", "call_delayed", "booking_released", "no_show", "cancelled"}
)
"""Notification kinds that change what the driver was told to do: shown as a banner on the
trip until the driver says they have seen it."""

NOTICES_SHOWN = 10

DRIVER_DONE = {
    "acknowledged": N_("Thank you: the control room knows you have seen the order."),
    "linked": N_("Phone linked: its positions now go with your trips."),
    "seen": N_("Noted: the new instruction is marked as seen."),
}
"""``?done=`` after a driver's form: what the page confirms."""


def _driver(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(
        request,
        ctx,
        db,
        lambda p: Role.DRIVER in p.roles and bool(p.driver_document),
        N_("This page is for drivers."),
    )


@router.get("/driver", response_class=HTMLResponse)
def driver_page(request: Request, ctx: Ctx, db: Db, done: str = "") -> Response:
    """The driver's phone: the instruction in force per trip, notifications, GPS set-up."""
    who = _driver(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    notice = fmt.gettext(DRIVER_DONE[done]) if done in DRIVER_DONE else None
    return _driver_view(request, ctx, db, who, notice=notice)


@router.get("/driver/panel", response_class=HTMLResponse)
def driver_panel(request: Request, ctx: Ctx, db: Db) -> Response:
    """The trips part of the driver's page, for the page to poll."""
    who = _driver(request, ctx, db)
    if isinstance(who, Response):
        if who.status_code in (302, 303) and request.headers.get("hx-request"):
            # signed out meanwhile: the whole page goes to log in
            return Response(status_code=200, headers={"HX-Redirect": "/driver"})
        return who
    return render(request, "driver_panel.html", user=who, **_panel(ctx, db, who))


def _gate_stops(db: Db, now: Any) -> dict[str, list[Any]]:
    """Closures and pauses in force now, by gate."""
    out: dict[str, list[Any]] = {}
    for c in controls.active(db, now):
        if c.kind in ("closure", "pause") and c.starts_at <= now:
            out.setdefault(c.gate, []).append(c)
    return out


def qr_svg(reference: str, title: str) -> str:
    """The trip's QR code as inline SVG: it holds the trip reference, which the officer's
    search (and its camera scan) opens directly."""
    return trip_views.gate_code_svg(reference, title, scale=7)


def _trip(
    db: Db, network: Network, row: Any, now: Any, stops: dict[str, list[Any]], told: dict[str, Any]
) -> dict[str, Any]:
    place = dispatch.place_of(db, network, row, now)
    order = place["order"] or None
    gate = network.gate(row.gate)
    bill = fee_views.current_view(db, row.id)
    location = row.location or ""
    return {
        **place,
        "plate": row.state["facts"]["plate"],
        "driver_name": row.state["facts"]["driver"].get("name") or "",
        "arrive_by": parse_time(order["arrive_by"]) if order and order.get("arrive_by") else None,
        "acknowledged_at": parse_time(order["acknowledged_at"])
        if order and order.get("acknowledged_at")
        else None,
        "park": gate.staging_area if gate is not None else None,
        "location": location,
        "stops": [c for c in stops.get(row.gate, ()) if c.direction in (None, row.flow)],
        "invoice": bill.invoice if bill else None,
        "due": bill.due if bill else 0,
        "changed": told.get(row.reference),
    }


def _panel(ctx: Ctx, db: Db, who: Principal) -> dict[str, Any]:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    rows = trip_views.under_way_for_driver(db, who.driver_document)
    recent, _total = notifications.list_page(db, actor=who, page_size=NOTICES_SHOWN)
    told: dict[str, Any] = {}
    for row in rows:
        latest, _n = notifications.list_page(db, actor=who, trip=row.reference, page_size=1)
        if latest and latest[0].kind in CHANGED and latest[0].read_at is None:
            told[row.reference] = latest[0]
    stops = _gate_stops(db, now)
    shown = [_trip(db, network, row, now, stops, told) for row in rows]
    name = (
        who.display_name
        if who.display_name and who.display_name != who.username
        else (next((t["driver_name"] for t in shown if t["driver_name"]), who.display_name))
    )
    return {
        "trips": shown,
        "recent": recent,
        "driver_name": name or who.username,
        "qr": qr_svg,
        "refresh": PANEL_SECONDS,
    }


def _driver_view(
    request: Request,
    ctx: Ctx,
    db: Db,
    who: Principal,
    *,
    status: int = 200,
    notice: str | None = None,
    error: str | None = None,
    device_id: str = "",
    device_error: str | None = None,
    error_trip: str | None = None,
    token: str | None = None,
    bound_id: str | None = None,
) -> Response:
    linked = telemetry_views.device_ids_of_driver(db, who.driver_document)
    base = ctx.settings.public_base_url
    response = render(
        request,
        "driver.html",
        status=status,
        user=who,
        linked=linked,
        notice=notice,
        error=error,
        error_trip=error_trip,
        device_id=device_id,
        device_error=device_error,
        here="/driver",
        token=token,
        setup=phone_setup.shown(request, ctx.settings, bound_id, token),
        gps_url=base.rstrip("/") + setup_codes.OSMAND_PATH,
        **_panel(ctx, db, who),
    )
    if token:
        response.headers.update(phone_setup.NOT_STORED)
    return response


@router.post("/driver/trips/{reference}/acknowledge")
def driver_acknowledge(
    reference: str, request: Request, ctx: Ctx, db: Db, csrf: Annotated[str, Form()] = ""
) -> Response:
    fresh = csrf_ok(request, csrf)
    who = _driver(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    if not fresh:
        return _driver_view(
            request, ctx, db, who, status=403, error=fmt.gettext(STALE_FORM), error_trip=reference
        )
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    try:
        row = trips.get(db, reference, actor=who, network=network)
        trips.record(
            db,
            row.id,
            "trip.order_acknowledged",
            {},
            actor=who,
            network=network,
            now=now,
            source="api",
        )
    except AppError as exc:
        db.rollback()
        return _driver_view(
            request,
            ctx,
            db,
            who,
            status=exc.status_code,
            error=fmt.error(exc),
            error_trip=reference,
        )
    return RedirectResponse("/driver?done=acknowledged", status_code=303)


@router.post("/driver/notifications/{number}/read")
def driver_seen(
    number: int, request: Request, ctx: Ctx, db: Db, csrf: Annotated[str, Form()] = ""
) -> Response:
    """The driver has seen a changed instruction (audited; a second time changes nothing)."""
    fresh = csrf_ok(request, csrf)
    who = _driver(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    if not fresh:
        return _driver_view(request, ctx, db, who, status=403, error=fmt.gettext(STALE_FORM))
    try:
        notifications.mark_read(db, number, actor=who, now=ctx.clock.now())
    except AppError as exc:
        db.rollback()
        return _driver_view(request, ctx, db, who, status=exc.status_code, error=fmt.error(exc))
    return RedirectResponse("/driver?done=seen", status_code=303)


@router.post("/driver/device")
def driver_device(
    request: Request,
    ctx: Ctx,
    db: Db,
    device_id: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    fresh = csrf_ok(request, csrf)
    who = _driver(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    typed = device_id.strip()
    if not fresh:
        return _driver_view(
            request, ctx, db, who, status=403, error=fmt.gettext(STALE_FORM), device_id=typed
        )
    if not 0 < len(typed) <= 100:
        problem = fmt.gettext(
            N_("Type the device identifier shown in the app (1 to 100 characters).")
        )
        return _driver_view(
            request, ctx, db, who, status=422, error=problem, device_id=typed, device_error=problem
        )
    try:
        _device, token = telemetry.bind(
            db, typed, actor=who, now=ctx.clock.now(), driver_document=who.driver_document
        )
    except AppError as exc:
        db.rollback()
        fields = fmt.field_errors(exc.fields)
        return _driver_view(
            request,
            ctx,
            db,
            who,
            status=exc.status_code,
            error=fmt.error(exc),
            device_id=typed,
            device_error=fields.get("device_id"),
        )
    # the token is shown on this answer only (its hash is kept): no redirect to lose it on
    linked_notice = DRIVER_DONE["linked"]
    return _driver_view(
        request,
        ctx,
        db,
        who,
        status=201,
        notice=fmt.gettext(linked_notice),
        token=token,
        bound_id=_device.id,
    )
