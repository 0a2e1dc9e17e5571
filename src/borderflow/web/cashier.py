"""The cashier desk: find a trip by plate, reference or scanned QR code, read its invoice,
take a cash or bank-transfer payment, void a wrong entry with a reason, print the receipt (A4
or an 80 mm thermal printer), and see the day's takings and close the till with the cash
counted. For cashiers, at the gates of their scope; the rules, scoping and audit are the API's
(``borderflow.fees``)."""

from __future__ import annotations

import json
import secrets
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.api.idempotency import Idempotency
from borderflow.domain.access import Principal, Role
from borderflow.errors import N_, AppError, FieldError, ValidationFailed, msg
from borderflow.fees import payments, queries, tills
from borderflow.network import service as networks
from borderflow.trip import service as trips
from borderflow.web.i18n import NumberInputError
from borderflow.web.pages import (
    STALE_FORM,
    csrf_ok,
    formatter,
    message_page,
    render,
    signed_in,
)

router = APIRouter(include_in_schema=False)

DONE = {"paid": N_("Payment recorded: receipt {receipt}."),
        "voided": N_("Payment voided: receipt {receipt}."),
        "closed": N_("Till closed for today.")}
"""``?done=...&receipt=...`` after a form: what the desk confirms."""


def _cashier(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(request, ctx, db, lambda p: Role.CASHIER in p.roles,
                     N_("This page is for cashiers."))


def _today(ctx: Ctx) -> date:
    return tills.local_day(ctx.clock.now())


def _trip_url(reference: str, **query: str) -> str:
    return f"/cashier/trips/{quote(reference)}" + (f"?{urlencode(query)}" if query else "")


def _desk(request: Request, ctx: Ctx, db: Db, who: Principal, *, status: int = 200,
          trip: Any = None, q: str = "", found: list[Any] | None = None,
          error: str | None = None, fields: dict[str, str] | None = None,
          form: dict[str, str] | None = None, notice: str | None = None) -> Response:
    """The desk: the search, the trip's invoice and payments when one is open, the till."""
    fmt = formatter(request)
    view = queries.current_view(db, trip.id) if trip is not None else None
    till = tills.till(db, who.username, _today(ctx))
    shown = dict(form or {})
    if view is not None and "amount" not in shown:
        shown["amount"] = fmt.number_input(view.due) if view.due else ""
    shown.setdefault("key", secrets.token_urlsafe(16))
    lines = [] if view is None else [
        {"text": str(line.get(f"description_{fmt.lang}") or line.get("description")
                     or fmt.gettext(N_("Fee"))), "amount": int(line["amount"])}
        for line in view.invoice.lines]
    return render(request, "cashier_desk.html", status=status, user=who, q=q,
                  found=found or [], trip=trip, view=view, lines=lines, till=till,
                  methods=payments.COUNTER_METHODS, error=error, fields=fields or {},
                  form=shown, notice=notice)


@router.get("/cashier", response_class=HTMLResponse)
def cashier_desk(request: Request, ctx: Ctx, db: Db, q: str = "", done: str = "",
                 receipt: str = "") -> Response:
    """Find a trip by plate, declaration or trip reference, or a scanned QR code (one match
    opens it); the day's takings and the till."""
    who = _cashier(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    notice = fmt.gettext(DONE[done]).format(receipt=receipt) if done in DONE else None
    if not q.strip():
        return _desk(request, ctx, db, who, notice=notice)
    network = networks.in_force_or_none(db, ctx.clock.now())
    found, _total = trips.search(db, q, actor=who, network=network, limit=20)
    if len(found) == 1:
        return RedirectResponse(_trip_url(found[0].reference), status_code=303)
    return _desk(request, ctx, db, who, q=q, found=found)


def _open_trip(request: Request, ctx: Ctx, db: Db, who: Principal, reference: str
               ) -> Any:
    """The trip, or the page saying it is not one the cashier may see (404)."""
    network = networks.in_force_or_none(db, ctx.clock.now())
    try:
        return trips.get(db, reference, actor=who, network=network)
    except AppError as exc:
        return message_page(request, exc, exc.status_code, exc.code, back="/cashier")


@router.get("/cashier/trips/{reference}", response_class=HTMLResponse)
def cashier_trip(reference: str, request: Request, ctx: Ctx, db: Db, done: str = "",
                 receipt: str = "") -> Response:
    """A trip's invoice, its payments with their receipts, and the payment form."""
    who = _cashier(request, ctx, db)
    if isinstance(who, Response):
        return who
    row = _open_trip(request, ctx, db, who, reference)
    if isinstance(row, Response):
        return row
    fmt = formatter(request)
    notice = fmt.gettext(DONE[done]).format(receipt=receipt) if done in DONE else None
    return _desk(request, ctx, db, who, trip=row, q=row.reference, notice=notice)


def _amount(fmt: Any, raw: str) -> tuple[int | None, str | None]:
    """The amount typed in the page's language, or why it cannot be read."""
    try:
        value = fmt.parse_number(raw, places=0)
    except NumberInputError as exc:
        return None, str(fmt.message(exc.text))
    if value is None:
        return None, fmt.gettext(N_("Type the amount received."))
    return int(value), None


@router.post("/cashier/trips/{reference}/payments")
def cashier_pay(reference: str, request: Request, ctx: Ctx, db: Db,
                method: Annotated[str, Form()] = "", amount: Annotated[str, Form()] = "",
                bank_reference: Annotated[str, Form()] = "",
                key: Annotated[str, Form()] = "",
                csrf: Annotated[str, Form()] = "") -> Response:
    """Take a cash or bank-transfer payment: the amount owed, typed in the page's language.
    The form's key makes a double submit record one payment (the second lands on the same
    receipt)."""
    fresh = csrf_ok(request, csrf)
    who = _cashier(request, ctx, db)
    if isinstance(who, Response):
        return who
    row = _open_trip(request, ctx, db, who, reference)
    if isinstance(row, Response):
        return row
    fmt = formatter(request)
    form = {"method": method, "amount": amount, "bank_reference": bank_reference, "key": key}

    def again(status: int, error: str, fields: dict[str, str] | None = None) -> Response:
        return _desk(request, ctx, db, who, status=status, trip=row, q=row.reference,
                     error=error, fields=fields, form=form)

    if not fresh:
        return again(403, fmt.gettext(STALE_FORM))
    value, problem = _amount(fmt, amount)
    if problem is not None or value is None:
        return again(422, problem or "", {"amount": problem or ""})
    if tills.till(db, who.username, _today(ctx)).closed:
        return again(409, fmt.gettext(N_("Your till is closed for today: no more payments "
                                         "can be taken at this desk today.")))
    try:
        number = _record(ctx, db, who, row, method, value, bank_reference, key)
    except AppError as exc:
        db.rollback()
        fields = fmt.field_errors(exc.fields)
        if "reference" in fields:
            fields["bank_reference"] = fields.pop("reference")
        return again(exc.status_code, fmt.error(exc), fields)
    return RedirectResponse(_trip_url(row.reference, done="paid", receipt=number),
                            status_code=303)


def _record(ctx: Ctx, db: Db, who: Principal, trip: Any, method: str, amount: int,
            bank_reference: str, key: str) -> str:
    """Record the payment once per form key; the receipt number (the first one on a
    repeat)."""
    now = ctx.clock.now()
    body = json.dumps({"method": method, "amount": amount, "reference": bank_reference},
                      sort_keys=True).encode()
    idem = Idempotency(db, who, f"cashier-desk:{key}" if key else None, "POST",
                       f"/cashier/trips/{trip.reference}/payments", body, now)
    replayed = idem.replay()
    if replayed is not None:
        return str(json.loads(bytes(replayed.body))["receipt_number"])
    view = queries.current_view(db, trip.id)
    if view is None:
        raise ValidationFailed([FieldError("amount", msg(
            "the trip has no invoice: no fee schedule was in force or no rate fits the "
            "vehicle"))])
    invoice = queries.visible_invoice(db, who, view.invoice.number, now=now, for_update=True)
    paid = payments.record_counter(db, invoice, method=method, amount=amount,
                                   reference=bank_reference or None, paid_at=None,
                                   actor=who, now=now)
    idem.respond({"receipt_number": paid.receipt_number}, 201)
    return paid.receipt_number


@router.post("/cashier/payments/{receipt}/void")
def cashier_void(receipt: str, request: Request, ctx: Ctx, db: Db,
                 trip: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "",
                 csrf: Annotated[str, Form()] = "") -> Response:
    """Void a wrong counter entry, with the reason (required)."""
    fresh = csrf_ok(request, csrf)
    who = _cashier(request, ctx, db)
    if isinstance(who, Response):
        return who
    row = _open_trip(request, ctx, db, who, trip)
    if isinstance(row, Response):
        return row
    fmt = formatter(request)
    form = {"void": receipt, "reason": reason}

    def again(status: int, error: str, fields: dict[str, str] | None = None) -> Response:
        return _desk(request, ctx, db, who, status=status, trip=row, q=row.reference,
                     error=error, fields=fields, form=form)

    if not fresh:
        return again(403, fmt.gettext(STALE_FORM))
    if len(reason.strip()) < 3:
        problem = fmt.gettext(N_("Say why the entry is wrong (at least 3 characters)."))
        return again(422, problem, {"reason": problem})
    now = ctx.clock.now()
    try:
        paid = queries.visible_payment(db, who, receipt, now=now)
        payments.void(db, paid, reason, actor=who, now=now)
    except AppError as exc:
        db.rollback()
        return again(exc.status_code, fmt.error(exc), fmt.field_errors(exc.fields))
    return RedirectResponse(_trip_url(row.reference, done="voided",
                                      receipt=paid.receipt_number), status_code=303)


@router.post("/cashier/till/close")
def cashier_close(request: Request, ctx: Ctx, db: Db,
                  counted_cash: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "",
                  csrf: Annotated[str, Form()] = "") -> Response:
    """Close the till for today with the cash counted (once a day)."""
    fresh = csrf_ok(request, csrf)
    who = _cashier(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    form = {"counted_cash": counted_cash, "note": note}

    def again(status: int, error: str, fields: dict[str, str] | None = None) -> Response:
        return _desk(request, ctx, db, who, status=status, error=error, fields=fields,
                     form=form)

    if not fresh:
        return again(403, fmt.gettext(STALE_FORM))
    value, problem = _amount(fmt, counted_cash)
    if problem is not None or value is None:
        said = problem if problem and counted_cash.strip() else \
            fmt.gettext(N_("Type the cash counted in the till."))
        return again(422, said, {"counted_cash": said})
    try:
        tills.close(db, _today(ctx), value, note, actor=who, now=ctx.clock.now())
    except AppError as exc:
        db.rollback()
        return again(exc.status_code, fmt.error(exc), fmt.field_errors(exc.fields))
    return RedirectResponse("/cashier?done=closed", status_code=303)
