"""The enterprise portal: declarations made in a form with the API's rules and messages shown
next to each field, the trips with their status, fee and place in the queue, and paying a fee
online.

Every page reads and writes in the visitor's language: numbers typed as people write them
there (Vietnamese ``1.200`` is one thousand two hundred), labels instead of codes, messages in
that language. A form is checked in one round (field errors and the network's rules together,
:func:`borderflow.declaration.service.check_document`); implausible figures are shown as
warnings that the declarant confirms before the declaration is stored. A refusal shows a page
of the portal again with the message on top."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.account import directory
from borderflow.api.deps import Ctx, Db
from borderflow.declaration import service as declarations
from borderflow.dispatch import service as dispatch
from borderflow.domain.access import Principal, Role
from borderflow.domain.network import Network
from borderflow.errors import N_, AppError
from borderflow.fees import queries as fee_views
from borderflow.fees.online_endpoints import start_payment
from borderflow.network import service as networks
from borderflow.trip import service as trips
from borderflow.trip import views as trip_views
from borderflow.web import officer, pages, session

router = APIRouter(include_in_schema=False)


def _enterprise(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return pages.signed_in(request, ctx, db, lambda p: Role.ENTERPRISE in p.roles,
                           N_("This page is for enterprises."))


# --- "my declarations" ------------------------------------------------------------------------


@router.get("/portal", response_class=HTMLResponse)
def portal(request: Request, ctx: Ctx, db: Db, created: str = "") -> Response:
    """The enterprise's trips: status, fee, place in the queue."""
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    return _portal_page(request, ctx, db, who, created=created)


def _portal_page(request: Request, ctx: Ctx, db: Db, who: Principal, *, created: str = "",
                 error: str = "", status: int = 200) -> Response:
    """The list of the enterprise's trips, with a confirmation or a refusal on top."""
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    rows = trip_views.latest_in_scope(db, who, network, limit=50)
    bills = fee_views.current_views(db, [row.id for row in rows])
    shown = []
    for row in rows:
        place = dispatch.place_of(db, network, row, now) if row.status in (
            "at_staging", "called", "declared") else {}
        bill = bills.get(row.id)
        shown.append({"trip": row, "place": place, "invoice": bill.invoice if bill else None,
                      "due": bill.due if bill else 0})
    return pages.render(request, "portal.html", status=status, user=who, rows=shown,
                        confirmation=_confirmation(request, db, who, network, created),
                        error=error)


def _confirmation(request: Request, db: Db, who: Principal, network: Network,
                  reference: str) -> str:
    """What was stored, in the page's language: the declaration sent or amended, its goods,
    weight, value, vehicles, gate and day."""
    if not reference:
        return ""
    fmt = pages.formatter(request)
    try:
        decl = declarations.get(db, reference, actor=who, network=network)
    except AppError:
        return ""
    facts = {
        "reference": decl.reference, "revision": fmt.number(decl.revision),
        "lines": fmt.number(len(decl.goods)),
        "weight": fmt.number(decl.total_net_weight_kg),
        "value": fmt.usd_cents(decl.total_value_usd_cents),
        "vehicles": fmt.number(len(decl.vehicles)),
        "gate": fmt.label("gate", decl.requested_gate), "day": fmt.date(decl.requested_date),
    }
    if decl.revision > 1:
        template = N_("Declaration {reference} amended (revision {revision}): {lines} goods "
                      "line(s), {weight} kg net, {value}; {vehicles} vehicle(s) to {gate} on "
                      "{day}.")
    else:
        template = N_("Declaration {reference} sent: {lines} goods line(s), {weight} kg net, "
                      "{value}; {vehicles} vehicle(s) to {gate} on {day}.")
    return fmt.gettext(template).format(**facts)


@router.post("/portal/invoices/{number}/pay")
async def pay_invoice(number: str, request: Request, ctx: Ctx, db: Db) -> Response:
    """Pay online: off to the gateway's payment page. A refusal shows the page the button was
    on (the trip's, else the list) with the message on top."""
    form = await request.form()
    session.check_csrf(request, str(form.get("csrf") or ""))
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    try:
        url = start_payment(request, ctx, db, who, number)["payment_url"]
    except AppError as exc:
        db.rollback()
        message = pages.formatter(request).error(exc)
        trip = str(form.get("trip") or "")
        if trip:
            return _trip_page(request, ctx, db, who, trip, error=message,
                              status=exc.status_code)
        return _portal_page(request, ctx, db, who, error=message, status=exc.status_code)
    return RedirectResponse(url, status_code=303)


@router.get("/portal/trips/{reference}", response_class=HTMLResponse)
def portal_trip(reference: str, request: Request, ctx: Ctx, db: Db) -> Response:
    """One of the enterprise's trips: status, steps, place in the queue, fee and timeline."""
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    return _trip_page(request, ctx, db, who, reference)


def _trip_page(request: Request, ctx: Ctx, db: Db, who: Principal, reference: str, *,
               error: str = "", status: int = 200) -> Response:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    fmt = pages.formatter(request)
    try:
        row = trips.get(db, reference, actor=who, network=network)  # 404 unless theirs
    except AppError as exc:
        return _portal_page(request, ctx, db, who, error=fmt.error(exc), status=exc.status_code)
    bill = fee_views.current_view(db, row.id)
    timeline = trips.timeline(db, row)
    names = directory.people(db, {e["actor"] for e in timeline})
    return pages.render(request, "portal_trip.html", status=status, user=who, trip=row,
                        state=row.state, place=dispatch.place_of(db, network, row, now),
                        invoice=bill.invoice if bill else None, due=bill.due if bill else 0,
                        error=error,
                        timeline=[officer.entry(fmt, e, row.state, names) for e in timeline])


# --- reading the forms ------------------------------------------------------------------------
