"""The driver's page: the current order, place in the queue, expected call and the phone's
GPS set-up."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.dispatch import service as dispatch
from borderflow.domain.access import (
    Principal,
    Role,
)
from borderflow.domain.trip import parse_time
from borderflow.errors import N_, AppError
from borderflow.network import service as networks
from borderflow.telemetry import service as telemetry
from borderflow.telemetry import views as telemetry_views
from borderflow.trip import service as trips
from borderflow.trip import views as trip_views
from borderflow.web.pages import (
    STALE_FORM,
    csrf_ok,
    formatter,
    render,
    signed_in,
)

router = APIRouter(include_in_schema=False)


# --- the driver's page ---------------------------------------------------------------------------

DRIVER_DONE = {"acknowledged": N_("Thank you: the control room knows you have seen the order."),
               "linked": N_("Phone linked: its positions now go with your trips.")}
"""``?done=`` after a driver's form: what the page confirms."""


def _driver(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(request, ctx, db,
                     lambda p: Role.DRIVER in p.roles and bool(p.driver_document),
                     N_("This page is for drivers."))


@router.get("/driver", response_class=HTMLResponse)
def driver_page(request: Request, ctx: Ctx, db: Db, done: str = "") -> Response:
    """The driver's phone: the current order, place in the queue, expected call, GPS set-up."""
    who = _driver(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    notice = fmt.gettext(DRIVER_DONE[done]) if done in DRIVER_DONE else None
    return _driver_view(request, ctx, db, who, notice=notice)


def _driver_view(request: Request, ctx: Ctx, db: Db, who: Principal, *, status: int = 200,
                 notice: str | None = None, error: str | None = None,
                 device_id: str = "", device_error: str | None = None,
                 error_trip: str | None = None) -> Response:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    rows = trip_views.under_way_for_driver(db, who.driver_document)
    shown = []
    for row in rows:
        place = dispatch.place_of(db, network, row, now)
        order = place["order"] or None
        shown.append({
            **place, "plate": row.state["facts"]["plate"],
            "arrive_by": parse_time(order["arrive_by"])
            if order and order.get("arrive_by") else None,
            "acknowledged_at": parse_time(order["acknowledged_at"])
            if order and order.get("acknowledged_at") else None})
    linked = telemetry_views.device_ids_of_driver(db, who.driver_document)
    return render(request, "driver.html", status=status, user=who, trips=shown,
                  linked=linked, notice=notice, error=error, error_trip=error_trip,
                  device_id=device_id, device_error=device_error, here="/driver",
                  gps_url=ctx.settings.public_base_url.rstrip("/") + "/api/v1/telemetry/osmand")



@router.post("/driver/trips/{reference}/acknowledge")
def driver_acknowledge(reference: str, request: Request, ctx: Ctx, db: Db,
                       csrf: Annotated[str, Form()] = "") -> Response:
    fresh = csrf_ok(request, csrf)
    who = _driver(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    if not fresh:
        return _driver_view(request, ctx, db, who, status=403, error=fmt.gettext(STALE_FORM),
                            error_trip=reference)
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    try:
        row = trips.get(db, reference, actor=who, network=network)
        trips.record(db, row.id, "trip.order_acknowledged", {}, actor=who, network=network,
                     now=now, source="api")
    except AppError as exc:
        db.rollback()
        return _driver_view(request, ctx, db, who, status=exc.status_code,
                            error=fmt.error(exc), error_trip=reference)
    return RedirectResponse("/driver?done=acknowledged", status_code=303)


@router.post("/driver/device")
def driver_device(request: Request, ctx: Ctx, db: Db, device_id: Annotated[str, Form()] = "",
                  csrf: Annotated[str, Form()] = "") -> Response:
    fresh = csrf_ok(request, csrf)
    who = _driver(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    typed = device_id.strip()
    if not fresh:
        return _driver_view(request, ctx, db, who, status=403, error=fmt.gettext(STALE_FORM),
                            device_id=typed)
    if not 0 < len(typed) <= 100:
        problem = fmt.gettext(N_("Type the device identifier shown in the app (1 to 100 "
                                 "characters)."))
        return _driver_view(request, ctx, db, who, status=422, error=problem,
                            device_id=typed, device_error=problem)
    try:
        telemetry.bind(db, typed, actor=who, now=ctx.clock.now(),
                       driver_document=who.driver_document)
    except AppError as exc:
        db.rollback()
        fields = fmt.field_errors(exc.fields)
        return _driver_view(request, ctx, db, who, status=exc.status_code,
                            error=fmt.error(exc), device_id=typed,
                            device_error=fields.get("device_id"))
    return RedirectResponse("/driver?done=linked", status_code=303)
