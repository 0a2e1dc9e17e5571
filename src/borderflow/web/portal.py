"""The enterprise portal (role ``enterprise``, its own trips only, by tax code): the list of
its trips, found by plate, reference, status and day, sorted and paged with everything in the
address (a link or the back button keeps the search); one trip's page with the declaration,
the QR code to show at the gate, the booked slot, place in the queue, the fee with its
receipts, the steps and the timeline; paying a fee online. The declaration forms are in
:mod:`borderflow.web.portal_forms`.

Every page reads and writes in the visitor's language: days typed in the page's order
(Vietnamese 23/11/2026, Chinese 2026/11/23), numbers, money and dates formatted there, labels
instead of codes. A search that cannot be read comes back with its fields named; a refusal
shows a page of the portal again with the message on top."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from babel.dates import get_date_format
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.account import directory
from borderflow.api.deps import Ctx, Db
from borderflow.booking import service as bookings
from borderflow.clock import LOCAL_TZ
from borderflow.declaration import service as declarations
from borderflow.dispatch import service as dispatch
from borderflow.domain.access import Principal, Role
from borderflow.domain.network import Network
from borderflow.domain.trip import STATUSES
from borderflow.errors import N_, AppError
from borderflow.fees import queries as fee_views
from borderflow.fees.online_endpoints import start_payment
from borderflow.network import service as networks
from borderflow.trip import service as trips
from borderflow.trip import views as trip_views
from borderflow.web import i18n, officer, pages, session

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
"""Trips on one page of the list."""
PAGE_LINKS = 2
"""Page links shown on each side of the current page (the first and last are always shown)."""
MAX_PAGE = 100_000
"""A page number beyond any list (a longer one typed in the address is read as this one, then
as the last page)."""
QR_TITLE = N_("QR code of the trip, to show at the gate")
_NUMBERS = re.compile(r"\d+")


def _enterprise(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return pages.signed_in(request, ctx, db, lambda p: Role.ENTERPRISE in p.roles,
                           N_("This page is for enterprises."))


# --- reading the list's query string ---------------------------------------------------------


def _date_order(fmt: i18n.Formatter) -> tuple[str, str]:
    """The order of day, month and year in the page's short date (``dMy``, ``yMd``...) and
    its separator."""
    pattern = get_date_format("short", locale=fmt.locale).pattern
    order = "".join(dict.fromkeys(ch for ch in pattern if ch in "dMy"))
    sep = next((ch for ch in pattern if ch not in "dMy'"), "/")
    return order, sep


def day_text(fmt: i18n.Formatter, day: date) -> str:
    """A day as the list's date fields show it: the page's short order, the year in full
    (Vietnamese 23/11/2026, Chinese 2026/11/23)."""
    order, sep = _date_order(fmt)
    parts = {"d": str(day.day), "M": str(day.month), "y": str(day.year)}
    return sep.join(parts[ch] for ch in order)


def parse_day(fmt: i18n.Formatter, raw: str) -> date | None:
    """A day typed in the page's order (Vietnamese 23/11/2026 or 23/11/26, Chinese
    2026/11/23), or as an ISO date (2026-11-23, what a date picker sends); None when blank.
    Raises ValueError when it is not a day."""
    text = raw.strip()
    if not text:
        return None
    numbers = _NUMBERS.findall(text)
    if len(numbers) != 3 or _NUMBERS.sub("", text).strip(" /.-年月日") != "":
        raise ValueError(text)
    order, _sep = _date_order(fmt)
    if len(numbers[0]) == 4:
        order = "yMd"
    parts = dict(zip(order, (int(n) for n in numbers), strict=True))
    year = parts["y"] + 2000 if parts["y"] < 100 else parts["y"]
    return date(year, parts["M"], parts["d"])  # ValueError for 31/02


@dataclass
class ListQuery:
    """The list's filter, sort and page as the query string gives them, what was typed (kept
    in the form) and the fields that could not be read, with their message."""

    filter: trip_views.TripFilter
    page: int
    typed: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)


def read_query(request: Request, fmt: i18n.Formatter, today: date) -> ListQuery:
    """Search (q: plate or reference), status, from and to (days), sort (date, reference,
    status), order (asc, desc) and page, from the query string."""
    params = request.query_params
    typed = {k: params.get(k, "").strip() for k in ("q", "status", "from", "to", "sort",
                                                     "order")}
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for name in ("from", "to"):
        try:
            days[name] = parse_day(fmt, typed[name])
        except ValueError:
            days[name] = None
            errors[name] = fmt.gettext(N_("“{value}” is not a date; write it like {example}")
                                       ).format(value=typed[name],
                                                example=day_text(fmt, today))
    if days["from"] and days["to"] and days["to"] < days["from"]:
        errors["to"] = fmt.gettext(N_("The last day is before the first day."))
    status = typed["status"] or None
    if status is not None and status not in STATUSES:
        errors["status"] = fmt.gettext(N_("“{value}” is not a status of a trip; choose one "
                                          "from the list")).format(value=status)
        status = None
    sort = typed["sort"] if typed["sort"] in trip_views.SORTS else "date"
    descending = typed["order"] != "asc" if typed["order"] else sort != "reference"
    typed["sort"], typed["order"] = sort, "desc" if descending else "asc"
    page = params.get("page", "1")
    return ListQuery(trip_views.TripFilter(typed["q"], status, days["from"], days["to"], sort,
                                           descending),
                     min(int(page), MAX_PAGE) if page.isdigit() and int(page) > 0 else 1,
                     typed, errors)


def _href(typed: dict[str, str], **changes: str | int) -> str:
    """The list's address with the same search, sort and page but for ``changes``."""
    params = {**typed, **{k: str(v) for k, v in changes.items()}}
    kept = {k: v for k, v in params.items() if v and not (k == "page" and v == "1")}
    return "/portal" + ("?" + urlencode(kept) if kept else "")


def _sort_links(typed: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each sortable column: its link (the other way round when it is the current sort) and
    its aria-sort."""
    out = {}
    for key in trip_views.SORTS:
        current = typed["sort"] == key
        flip = "asc" if typed["order"] == "desc" else "desc"
        order = flip if current else ("asc" if key == "reference" else "desc")
        out[key] = {"href": _href(typed, sort=key, order=order, page=1),
                    "aria": ("descending" if typed["order"] == "desc" else "ascending")
                    if current else "none"}
    return out


def _page_links(typed: dict[str, str], page: int, pages_count: int) -> list[dict[str, Any]]:
    """Links to the first and last page, and to the pages around the current one (None for a
    gap)."""
    shown = sorted({1, pages_count, *range(max(1, page - PAGE_LINKS),
                                           min(pages_count, page + PAGE_LINKS) + 1)})
    out: list[dict[str, Any]] = []
    for n in shown:
        if out and n > out[-1]["number"] + 1:
            out.append({"number": n - 1, "gap": True})
        out.append({"number": n, "gap": False, "current": n == page,
                    "href": _href(typed, page=n)})
    return out


# --- "my declarations" ------------------------------------------------------------------------


@router.get("/portal", response_class=HTMLResponse)
def portal(request: Request, ctx: Ctx, db: Db, created: str = "") -> Response:
    """Enterprises only. The enterprise's trips (its own tax code's, never another's): found
    by plate, reference, status and day, sorted, a page of 25 at a time; status, fee and place
    in the queue of each."""
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    return _portal_page(request, ctx, db, who, created=created)


def _places(db: Db, network: Network, rows: list[Any], now: datetime
            ) -> dict[str, dict[str, Any]]:
    """Where each trip of a page stands: the queue read once for the trucks waiting in the
    park, the booking or the order for the others."""
    out: dict[str, dict[str, Any]] = {}
    if any(r.status == "at_staging" for r in rows):
        waiting: dict[tuple[str, str], int] = {}
        queue = dispatch.queue(db, network, now)
        for q in queue:
            waiting[(q["gate"], q["direction"])] = waiting.get((q["gate"], q["direction"]), 0) + 1
        for q in queue:
            out[q["trip"]] = {"position": q["position"],
                              "waiting": waiting[(q["gate"], q["direction"])],
                              "estimated_call": q["estimated_call"]}
    for r in rows:
        if r.status in ("called", "declared"):
            out[r.reference] = dispatch.place_of(db, network, r, now)
    return out


def _portal_page(request: Request, ctx: Ctx, db: Db, who: Principal, *, created: str = "",
                 error: str = "", status: int = 200) -> Response:
    """The list of the enterprise's trips, with a confirmation or a refusal on top; a search
    that cannot be read comes back with its fields named (422) and no list."""
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    fmt = pages.formatter(request)
    query = read_query(request, fmt, now.astimezone(LOCAL_TZ).date())
    found: list[tuple[Any, date]] = []
    total = 0
    if query.errors:
        status = 422 if status == 200 else status
    else:
        found, total = trip_views.page_in_scope(db, who, network, query.filter,
                                                page=query.page, size=PAGE_SIZE)
        last = max(1, -(-total // PAGE_SIZE))
        if query.page > last:  # past the end (fewer trips since the link was made)
            query.page = last
            found, total = trip_views.page_in_scope(db, who, network, query.filter,
                                                    page=last, size=PAGE_SIZE)
    rows = [r for r, _day in found]
    bills = fee_views.current_views(db, [r.id for r in rows])
    places = _places(db, network, rows, now)
    shown = [{"trip": r, "day": day, "place": places.get(r.reference, {}),
              "invoice": bills[r.id].invoice if r.id in bills else None,
              "due": bills[r.id].due if r.id in bills else 0} for r, day in found]
    pages_count = max(1, -(-total // PAGE_SIZE))
    return pages.render(
        request, "portal.html", status=status, user=who, rows=shown,
        confirmation=_confirmation(request, db, who, network, created), error=error,
        query=query, total=total, page=query.page, pages_count=pages_count,
        first=(query.page - 1) * PAGE_SIZE + 1, last=(query.page - 1) * PAGE_SIZE + len(rows),
        statuses=STATUSES, sorts=_sort_links(query.typed),
        page_links=_page_links(query.typed, query.page, pages_count),
        prev_href=_href(query.typed, page=query.page - 1) if query.page > 1 else "",
        next_href=_href(query.typed, page=query.page + 1) if query.page < pages_count else "",
        example=day_text(fmt, now.astimezone(LOCAL_TZ).date()),
        filtered=any(query.typed[k] for k in ("q", "status", "from", "to")))


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
    """Enterprises only, their own trips only (another's is not found). Everything about one
    trip: the declaration (goods, vehicles, drivers, quarantine certificates, gate, direction,
    day), the QR code to show at the gate, the booked slot, place in the queue and expected
    call, the fee with its lines, payments and receipts, the steps and the timeline."""
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    return _trip_page(request, ctx, db, who, reference)


def _line_text(line: dict[str, Any], lang: str) -> str:
    """An invoice line's description in the page's language."""
    return str(line.get(f"description_{lang}") or line.get("description") or line.get("code"))


def _goods(fmt: i18n.Formatter, goods: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The declaration's goods lines as the page shows them (the page's numbers)."""
    return [{"hs": str(g["hs_code"]), "description": str(g["description"]),
             "group": g.get("group") or "", "unit": str(g["unit"]),
             "quantity": fmt.number(Decimal(str(g["quantity"]))),
             "weight": fmt.number(int(g["net_weight_kg"])),
             "value": fmt.usd_cents(int(Decimal(str(g["value_usd"])) * 100))}
            for g in goods]


def _booking(db: Db, who: Principal, network: Network, reference: str) -> dict[str, Any]:
    """The trip's booked slot (start, end, place among the bookings), or nothing."""
    try:
        return bookings.status(db, reference, actor=who, network=network)
    except AppError:
        return {}


def _trip_page(request: Request, ctx: Ctx, db: Db, who: Principal, reference: str, *,
               error: str = "", status: int = 200) -> Response:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    fmt = pages.formatter(request)
    try:
        row = trips.get(db, reference, actor=who, network=network)  # 404 unless theirs
        decl = declarations.get(db, row.declaration_id, actor=who, network=network)
    except AppError as exc:
        return _portal_page(request, ctx, db, who, error=fmt.error(exc), status=exc.status_code)
    bill = fee_views.current_view(db, row.id)
    timeline = trips.timeline(db, row)
    names = directory.people(db, {e["actor"] for e in timeline})
    place = dispatch.place_of(db, network, row, now)
    order = place.get("order") or {}
    return pages.render(
        request, "portal_trip.html", status=status, user=who, trip=row, state=row.state,
        facts=row.state["facts"], decl=decl, goods=_goods(fmt, decl.goods), place=place,
        arrive_by=datetime.fromisoformat(order["arrive_by"]) if order.get("arrive_by") else None,
        booking=_booking(db, who, network, row.reference),
        qr=trip_views.gate_code_svg(row.reference, fmt.gettext(QR_TITLE)),
        invoice=bill.invoice if bill else None, due=bill.due if bill else 0,
        payments=bill.payments if bill else [],
        lines=[{"text": _line_text(x, fmt.lang), "amount": int(x["amount"])}
               for x in (bill.invoice.lines if bill else [])],
        error=error, timeline=[officer.entry(fmt, e, row.state, names) for e in timeline])
