"""The enterprise's gate slots and the cancelling of a declaration, in the browser.

``/portal/bookings`` (enterprises; their own trips only): the trips that may still be booked
with their current booking; for a chosen trip, the slots of its gate and direction on a day
(capacity, booked, free places, in the page's time format) with a button to book one, or to
move the booking there (one step for the user, one transaction and one audited change), and a
button to cancel the booking. A full slot or a closed gate is refused with the service's message
and the fresh list. Sending a form twice (a double click, a reload) books once: a slot already
held by the trip is a success, not a second booking.

``/portal/declarations/{reference}/cancel`` (enterprises; their own declarations): what
cancelling does (each trip's booking released, each fee voided or kept for a refund, a late
cancellation counted against a vehicle), then the cancellation with a required reason; refused,
with the reason in the page's language, in the states the service refuses.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.booking import queries
from borderflow.booking import service as booking
from borderflow.clock import LOCAL_TZ
from borderflow.declaration import service as declarations
from borderflow.domain.access import Principal, Role, may_change_declaration
from borderflow.domain.booking import is_late_cancellation
from borderflow.domain.declaration import AMENDABLE
from borderflow.domain.network import Network
from borderflow.errors import N_, AppError
from borderflow.fees import queries as fee_views
from borderflow.network import service as networks
from borderflow.trip import service as trips
from borderflow.web import i18n, pages, session

router = APIRouter(include_in_schema=False)
DAYS_AHEAD = booking.MAX_DAYS_AHEAD
SLOTS_PER_DAY = 24 * 60 // booking.SLOT_MINUTES
SHOWN = 30
"""Trips listed at most; a search by plate or reference finds the others."""
DONE = {
    "booked": N_("Slot booked for {trip}: {slot}."),
    "moved": N_("Booking of {trip} moved to {slot}."),
    "cancelled": N_("Booking of {trip} cancelled; the place is free again."),
}
"""What a page says after a form succeeded (``?done=``)."""


def _enterprise(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return pages.signed_in(request, ctx, db, lambda p: Role.ENTERPRISE in p.roles,
                           N_("This page is for enterprises."))


def _today(ctx: Ctx) -> date:
    return ctx.clock.now().astimezone(LOCAL_TZ).date()


def _slot_text(fmt: i18n.Formatter, start: datetime) -> str:
    """A slot as people read it: its day, and its start and end times in the page's format."""
    end = start + timedelta(minutes=booking.SLOT_MINUTES)
    return f"{fmt.date(start)} {fmt.time(start)}–{fmt.time(end)}"


# --- the slots page ---------------------------------------------------------------------------


def _day(text: str, item: queries.BookableTrip, today: date) -> date:
    """The day whose slots are shown: the one asked for, else the booked one, else the
    trip's requested date; within the booking window."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        if item.booking is not None:
            day = item.booking.slot_start.astimezone(LOCAL_TZ).date()
        else:
            day = date.fromisoformat(str(item.trip.state["facts"].get("requested_date")
                                         or today.isoformat()))
    return min(max(day, today), today + timedelta(days=DAYS_AHEAD))


def _slots(fmt: i18n.Formatter, db: Db, network: Network, item: queries.BookableTrip,
           day: date, now: datetime) -> list[dict[str, Any]]:
    """The open slots of the trip's gate and direction on the day that are not over yet."""
    midnight = datetime.combine(day, time(0), tzinfo=LOCAL_TZ)
    held = item.booking.slot_start if item.booking is not None else None
    out = []
    for s in booking.free_slots(db, network, item.trip.gate, item.trip.flow, midnight,
                                SLOTS_PER_DAY):
        start: datetime = s["slot_start"]
        if s["capacity"] == 0 or start + timedelta(minutes=booking.SLOT_MINUTES) <= now:
            continue
        end = start + timedelta(minutes=booking.SLOT_MINUTES)
        out.append({"value": start.isoformat(), "id": f"slot-{start.astimezone(LOCAL_TZ):%H%M}",
                    "time": f"{fmt.time(start)}–{fmt.time(end)}",
                    "capacity": fmt.number(s["capacity"]), "booked": fmt.number(s["booked"]),
                    "free": s["free"], "free_text": fmt.number(s["free"]),
                    "mine": held is not None and held == start})
    return out


def _trip_view(fmt: i18n.Formatter, item: queries.BookableTrip) -> dict[str, Any]:
    facts = item.trip.state["facts"]
    return {"reference": item.trip.reference, "plate": facts["plate"],
            "gate": item.trip.gate, "flow": item.trip.flow, "status": item.trip.status,
            "declaration": item.trip.reference.rsplit("-", 1)[0],
            "day": fmt.date(facts.get("requested_date")),
            "slot": _slot_text(fmt, item.booking.slot_start) if item.booking else ""}


def _matches(item: queries.BookableTrip, q: str) -> bool:
    """Whether a trip's plate or reference contains what was typed (letters and digits
    only, any case: ``29c89941`` finds 29C-899.41)."""
    def key(text: str) -> str:
        return "".join(c for c in text.upper() if c.isalnum())

    wanted = key(q)
    return not wanted or wanted in key(item.trip.state["facts"]["plate"]) \
        or wanted in key(item.trip.reference)


def _page(request: Request, ctx: Ctx, db: Db, who: Principal, trip_ref: str = "",
          day_text: str = "", *, done: str = "", error: str = "", status: int = 200,
          q: str = "") -> Response:
    """The slots page: the trips, and the chosen trip's slots on a day, with a confirmation
    or a refusal on top."""
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    fmt = pages.formatter(request)
    today = _today(ctx)
    items = queries.bookable(db, who, network)
    chosen = next((x for x in items if x.trip.reference == trip_ref), None)
    if trip_ref and chosen is None and not error:
        error = fmt.gettext(N_("Trip {trip} is not one of yours that can still be booked: "
                               "a slot is booked only before the truck enters the gate."))
        error, status = error.format(trip=trip_ref), 404
    view: dict[str, Any] = {}
    if chosen is not None:
        day = _day(day_text, chosen, today)
        view = {"trip": _trip_view(fmt, chosen), "day": day.isoformat(),
                "day_text": fmt.date(day), "slots": _slots(fmt, db, network, chosen, day, now),
                "prev": (day - timedelta(days=1)).isoformat() if day > today else "",
                "next": (day + timedelta(days=1)).isoformat()
                if day < today + timedelta(days=DAYS_AHEAD) else "",
                "min": today.isoformat(),
                "max": (today + timedelta(days=DAYS_AHEAD)).isoformat()}
    found = [x for x in items if _matches(x, q)]
    return pages.render(request, "bookings.html", status=status, user=who, q=q,
                        trips=[_trip_view(fmt, x) for x in found[:SHOWN]], chosen=view,
                        total=len(found), shown=min(SHOWN, len(found)), any_trip=bool(items),
                        confirmation=_confirmation(fmt, items, trip_ref, done), error=error)


def _confirmation(fmt: i18n.Formatter, items: list[queries.BookableTrip], trip_ref: str,
                  done: str) -> str:
    template = DONE.get(done)
    item = next((x for x in items if x.trip.reference == trip_ref), None)
    if template is None or item is None:
        return ""
    slot = _slot_text(fmt, item.booking.slot_start) if item.booking else ""
    return fmt.gettext(template).format(trip=trip_ref, slot=slot)


@router.get("/portal/bookings", response_class=HTMLResponse)
def bookings_page(request: Request, ctx: Ctx, db: Db, trip: str = "", day: str = "",
                  done: str = "", q: str = "") -> Response:
    """Enterprises: their trips that may be booked (found by plate or reference), and a
    trip's slots on a day."""
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    return _page(request, ctx, db, who, trip, day, done=done, q=q[:40])


def _back(trip: str, day: str, done: str) -> RedirectResponse:
    query = urlencode({k: v for k, v in (("trip", trip), ("day", day), ("done", done)) if v})
    return RedirectResponse(f"/portal/bookings?{query}", status_code=303)


def _slot_of(form: dict[str, str]) -> datetime | None:
    try:
        start = datetime.fromisoformat(form.get("slot") or "")
    except ValueError:
        return None
    return start if start.tzinfo is not None else None


@router.post("/portal/bookings/{trip}/book")
async def take_slot(trip: str, request: Request, ctx: Ctx, db: Db) -> Response:
    """Enterprises, their own trips: book the slot, or move the trip's booking there (one
    transaction: if the new slot is refused the old booking stays). A slot the trip already
    holds is a success, so a form sent twice books once."""
    form = {k: str(x) for k, x in (await request.form()).items()}
    session.check_csrf(request, form.get("csrf"))
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    fmt = pages.formatter(request)
    day = form.get("day", "")
    start = _slot_of(form)
    if start is None:
        return _page(request, ctx, db, who, trip, day, status=422,
                     error=fmt.gettext(N_("Choose one of the slots below.")))
    try:
        row = trips.get(db, trip, actor=who, network=network)
        held = queries.active_booking(db, row.id)
        if held is not None and held.slot_start == start:
            return _back(trip, day, "booked")
        if held is None:
            booking.book(db, trip, start, actor=who, network=network, now=now)
        else:
            booking.move(db, trip, start, actor=who, network=network, now=now)
    except AppError as exc:
        db.rollback()
        if _holds(db, who, network, trip, start):  # the same form, sent twice at once
            return _back(trip, day, "booked")
        return _page(request, ctx, db, who, trip, day, error=fmt.error(exc),
                     status=exc.status_code)
    return _back(trip, day, "booked" if held is None else "moved")


def _holds(db: Db, who: Principal, network: Network, trip: str, start: datetime) -> bool:
    """Whether the trip holds that slot now."""
    try:
        row = trips.get(db, trip, actor=who, network=network)
    except AppError:
        return False
    held = queries.active_booking(db, row.id)
    return held is not None and held.slot_start == start


@router.post("/portal/bookings/{trip}/cancel")
async def cancel_slot(trip: str, request: Request, ctx: Ctx, db: Db) -> Response:
    """Enterprises, their own trips: give the booked place back. A trip with no booking left
    (the form sent twice) is a success."""
    form = {k: str(x) for k, x in (await request.form()).items()}
    session.check_csrf(request, form.get("csrf"))
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    day = form.get("day", "")
    try:
        row = trips.get(db, trip, actor=who, network=network)
        if queries.active_booking(db, row.id) is not None:
            booking.cancel(db, trip, actor=who, network=network, now=now,
                           reason="cancelled by " + who.username)
    except AppError as exc:
        db.rollback()
        return _page(request, ctx, db, who, trip, day, status=exc.status_code,
                     error=pages.formatter(request).error(exc))
    return _back(trip, day, "cancelled")


# --- cancelling a declaration -----------------------------------------------------------------


def _why_not(db: Db, who: Principal, decl: Any) -> str | Any | None:
    """Why the declaration cannot be cancelled (a text to translate, or a service's
    message), or None when it can."""
    if decl.status == "cancelled":
        return N_("This declaration is already cancelled.")
    if not may_change_declaration(who, decl.enterprise_tax_code, decl.customs_agent_tax_code):
        return N_("Only the declaring enterprise or its customs agent may cancel this "
                  "declaration.")
    if decl.status not in AMENDABLE:
        return N_("This declaration can no longer be cancelled.")
    try:
        trips.check_not_started(db, decl)
    except AppError as exc:
        return exc
    return None


def _consequences(fmt: i18n.Formatter, db: Db, network: Network, decl: Any,
                  now: datetime) -> list[dict[str, Any]]:
    """Each trip of the declaration with what cancelling does to it."""
    out = []
    rules = network.booking_rules
    for row in trips.trips_of(db, decl.id):
        if row.status == "cancelled":
            continue
        effects = []
        held = queries.active_booking(db, row.id)
        if held is not None:
            effects.append(fmt.gettext(N_("The booked slot {slot} is released.")).format(
                slot=_slot_text(fmt, held.slot_start)))
            if is_late_cancellation(held.slot_start, now, rules):
                effects.append(fmt.gettext(N_(
                    "The slot starts in less than {minutes} minutes: this counts as a late "
                    "cancellation against vehicle {plate}.")).format(
                    minutes=fmt.number(rules.late_cancellation_minutes),
                    plate=row.state["facts"]["plate"]))
        bill = fee_views.current_view(db, row.id)
        if bill is not None and bill.invoice.status == "open" and not bill.payments:
            effects.append(fmt.gettext(N_("The fee of {amount} is voided.")).format(
                amount=fmt.vnd(bill.invoice.total)))
        elif bill is not None and bill.payments:
            effects.append(fmt.gettext(N_(
                "{amount} already paid stays on invoice {number} until a regulator refunds "
                "it.")).format(amount=fmt.vnd(bill.invoice.total - bill.due),
                               number=bill.invoice.number))
        out.append({"reference": row.reference, "plate": row.state["facts"]["plate"],
                    "status": row.status, "effects": effects})
    return out


def _cancel_page(request: Request, ctx: Ctx, db: Db, who: Principal, reference: str, *,
                 reason: str = "", error: str = "", status: int = 200, done: bool = False
                 ) -> Response:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    fmt = pages.formatter(request)
    try:
        decl = declarations.get(db, reference, actor=who, network=network)  # 404 unless theirs
    except AppError as exc:
        return pages.message_page(request, exc, exc.status_code, exc.code, back="/portal")
    why = _why_not(db, who, decl)
    done = done and decl.status == "cancelled"
    refusal = "" if why is None or done else (fmt.error(why) if isinstance(why, AppError)
                                      else fmt.gettext(why))
    return pages.render(request, "declaration_cancel.html", status=status, user=who,
                        decl=decl, refusal=refusal, reason=reason, error=error, done=done,
                        trips=_consequences(fmt, db, network, decl, now),
                        gate=decl.requested_gate, day=fmt.date(decl.requested_date))


@router.get("/portal/declarations/{reference}/cancel", response_class=HTMLResponse)
def cancel_page(reference: str, request: Request, ctx: Ctx, db: Db, done: str = ""
                ) -> Response:
    """Enterprises, their own declarations: what cancelling does, and the form to do it (or
    why it cannot be done)."""
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    return _cancel_page(request, ctx, db, who, reference, done=done == "1")


@router.post("/portal/declarations/{reference}/cancel")
async def cancel_declaration(reference: str, request: Request, ctx: Ctx, db: Db) -> Response:
    """Cancel with a reason (at least 3 characters), as ``POST /api/v1/declarations/{id}/
    cancel``: the trips are cancelled, their bookings released, unpaid fees voided; audited.
    Cancelling twice is harmless."""
    form = {k: str(x) for k, x in (await request.form()).items()}
    session.check_csrf(request, form.get("csrf"))
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = pages.formatter(request)
    reason = (form.get("reason") or "").strip()
    if len(reason) < 3 or len(reason) > 500:
        return _cancel_page(request, ctx, db, who, reference, reason=reason, status=422,
                            error=fmt.gettext(N_("Say why the declaration is cancelled "
                                                 "(3 to 500 characters).")))
    now = ctx.clock.now()
    try:
        decl = declarations.get(db, reference, actor=who,
                                network=networks.in_force(db, now))
        why = _why_not(db, who, decl) if decl.status != "cancelled" else None
        if why is not None:
            message = fmt.error(why) if isinstance(why, AppError) else fmt.gettext(why)
            return _cancel_page(request, ctx, db, who, reference, reason=reason,
                                error=message, status=409)
        declarations.cancel(db, reference, reason, actor=who, now=now,
                            network=networks.in_force_or_none(db, now))
    except AppError as exc:
        db.rollback()
        return _cancel_page(request, ctx, db, who, reference, reason=reason,
                            error=fmt.error(exc), status=exc.status_code)
    return RedirectResponse(f"/portal/declarations/{reference}/cancel?done=1", status_code=303)
