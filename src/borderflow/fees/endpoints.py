"""HTTP API of fees: the tariff, invoices, counter payments, voids, refunds, waivers and
receipts."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request, Response, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from borderflow.account import service as accounts
from borderflow.account import sessions
from borderflow.api.bounds import Code, Instant
from borderflow.api.context import AppContext
from borderflow.api.deps import Authenticated, Ctx, Db, ReadDb, require, roles_doc
from borderflow.api.errors import ERROR_RESPONSES, ErrorResponse
from borderflow.api.idempotency import Idem
from borderflow.clock import LOCAL_TZ
from borderflow.domain.access import ANONYMOUS, Principal, Role, roles_for
from borderflow.domain.fees import NoRate, assess
from borderflow.errors import (
    AppError,
    FieldError,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationFailed,
    reason_of,
)
from borderflow.fees import invoices, payments, queries, receipts, reconcile, tariffs, tills
from borderflow.fees.sandbox import STATEMENT_COLUMNS
from borderflow.network import service as networks
from borderflow.trip import service as trips

router = APIRouter(prefix="/api/v1", tags=["fees"], responses=ERROR_RESPONSES)

TariffReader = Annotated[Principal, Depends(require("tariff.read"))]
TariffWriter = Annotated[Principal, Depends(require("tariff.write"))]
InvoiceReader = Annotated[Principal, Depends(require("invoice.read"))]
Waiver = Annotated[Principal, Depends(require("invoice.waive"))]
Cashier = Annotated[Principal, Depends(require("payment.record"))]
Voider = Annotated[Principal, Depends(require("payment.void"))]
Refunder = Annotated[Principal, Depends(require("payment.refund"))]
Verifier = Annotated[Principal, Depends(require("receipt.verify"))]


# --- tariff --------------------------------------------------------------------------------------


class TariffVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: str
    effective_from: datetime
    effective_to: datetime | None
    sha256: str
    note: str
    created_at: datetime
    created_by: str


class TariffOut(TariffVersionOut):
    document: dict[str, Any]


class TariffIn(BaseModel):
    document: dict[str, Any] = Field(description="A complete fee schedule in the tariff file "
                                     "format (see docs/fees.md).")
    note: str = Field(default="", max_length=2000)


class QuoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payload_tonnes: Decimal = Field(gt=0, le=100)
    container: Literal["none", "20ft", "40ft"] = "none"
    goods_groups: list[Code] = Field(default_factory=list, max_length=50)
    regime: Literal["export", "import", "transit", "temporary_import_reexport",
                    "temporary_export_reimport", "transshipment"]
    flow: Literal["export", "import"]
    procedure: str = Field(default="", max_length=60)
    at: Instant | None = Field(default=None, description="Default: now.")


class LineOut(BaseModel):
    code: str
    description: str
    amount: int = Field(description="VND, whole.")
    description_vi: str = ""
    description_zh: str = ""


class QuoteOut(BaseModel):
    tariff_version: str
    vehicle_category: str
    goods_class: str
    lines: list[LineOut]
    total: int = Field(description="VND.")


@router.get("/tariffs", response_model=list[TariffVersionOut], summary="Fee schedule versions",
            description="Every version, oldest first." + roles_doc("tariff.read"))
def list_tariffs(db: Db, _caller: TariffReader) -> list[TariffVersionOut]:
    return [TariffVersionOut.model_validate(v) for v in tariffs.versions(db)]


@router.get("/tariffs/current", response_model=TariffOut, summary="The fee schedule in force",
            responses={404: {"model": ErrorResponse,
                             "description": "No fee schedule was in force at `at`"}},
            description="The version in force now (or at `at`)." + roles_doc("tariff.read"))
def current_tariff(ctx: Ctx, db: Db, _caller: TariffReader,
                   at: datetime | None = None) -> TariffOut:
    return TariffOut.model_validate(tariffs.in_force(db, at or ctx.clock.now())[0])


@router.get("/tariffs/{version}", response_model=TariffOut, summary="One fee schedule version",
            description=roles_doc("tariff.read"))
def read_tariff(version: str, db: Db, _caller: TariffReader) -> TariffOut:
    return TariffOut.model_validate(tariffs.get(db, version))


@router.post("/tariffs", response_model=TariffVersionOut, status_code=201,
             summary="Publish a new fee schedule version",
             description="Checked like the tariff file; it must start now or later (fees "
             "already charged never change) and carry its own version. Audited."
             + roles_doc("tariff.write"))
def publish_tariff(body: TariffIn, ctx: Ctx, db: Db, actor: TariffWriter) -> TariffVersionOut:
    tariff = tariffs.parse(body.document)
    return TariffVersionOut.model_validate(
        tariffs.publish(db, tariff, actor=actor, now=ctx.clock.now(), note=body.note))


@router.post("/tariffs/quote", response_model=QuoteOut, summary="What a trip would pay",
             responses={404: {"model": ErrorResponse,
                              "description": "No fee schedule was in force at `at`"}},
             description="The fee for a vehicle and load under the schedule in force."
             + roles_doc("tariff.read"))
def quote(body: QuoteIn, ctx: Ctx, db: ReadDb, _caller: TariffReader) -> dict[str, Any]:
    _, tariff = tariffs.in_force(db, body.at or ctx.clock.now())
    try:
        a = assess(tariff, payload_tonnes=body.payload_tonnes, container=body.container,
                   goods_groups=body.goods_groups, regime=body.regime, flow=body.flow,
                   procedure=body.procedure)
    except NoRate as exc:
        raise ValidationFailed([FieldError("payload_tonnes", reason_of(exc))]) from None
    return {"tariff_version": a.tariff_version, "vehicle_category": a.vehicle_category,
            "goods_class": a.goods_class, "total": a.total,
            "lines": [asdict(x) for x in a.lines]}


# --- invoices and payments ---------------------------------------------------------------------


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    receipt_number: str
    method: str
    amount: int
    status: str
    gate: str
    gateway: str | None
    gateway_transaction_no: str | None
    reference: str | None
    paid_at: datetime
    recorded_by: str
    void_reason: str | None
    refunded_amount: int | None
    refund_reason: str | None


class InvoiceOut(BaseModel):
    number: str
    trip: str
    gate: str
    direction: str
    plate: str
    stage: Literal["estimate", "final"]
    status: Literal["open", "paid", "waived", "refunded", "void"]
    currency: str
    total: int = Field(description="VND, whole.")
    due: int = Field(description="VND still owed.")
    lines: list[LineOut]
    tariff_version: str
    vehicle_category: str
    goods_class: str
    created_at: datetime
    finalised_at: datetime | None
    settled_at: datetime | None
    waived_by: str | None
    waiver_reason: str | None
    payments: list[PaymentOut]


def _out(view: queries.InvoiceView) -> dict[str, Any]:
    inv = view.invoice
    return {"number": inv.number, "trip": inv.trip_reference, "gate": inv.gate,
            "direction": inv.direction, "plate": inv.plate, "stage": inv.stage,
            "status": inv.status, "currency": inv.currency, "total": inv.total,
            "due": view.due, "lines": inv.lines,
            "tariff_version": inv.tariff_version, "vehicle_category": inv.vehicle_category,
            "goods_class": inv.goods_class, "created_at": inv.created_at,
            "finalised_at": inv.finalised_at, "settled_at": inv.settled_at,
            "waived_by": inv.waived_by, "waiver_reason": inv.waiver_reason,
            "payments": [PaymentOut.model_validate(p) for p in view.payments]}


@router.get("/trips/{trip}/invoice", response_model=InvoiceOut, summary="A trip's invoice",
            description="Line items, total, what is still owed and the payments."
            + roles_doc("invoice.read"))
def trip_invoice(trip: str, ctx: Ctx, db: Db, actor: InvoiceReader) -> dict[str, Any]:
    network = networks.in_force_or_none(db, ctx.clock.now())
    row = trips.get(db, trip, actor=actor, network=network)
    found = queries.current_view(db, row.id)
    if found is None:
        raise ValidationFailed([FieldError("trip", "the trip has no invoice: no fee schedule "
                                                   "was in force or no rate fits the vehicle")])
    return _out(found)


@router.get("/invoices", response_model=list[InvoiceOut], summary="Invoices",
            description="Newest first, within the caller's scope (an enterprise its own, a "
            "cashier their gates)." + roles_doc("invoice.read"))
def list_invoices(ctx: Ctx, db: Db, actor: InvoiceReader,
                  status: Literal["open", "paid", "waived", "refunded", "void"] | None = None,
                  gate: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100,
                  ) -> list[dict[str, Any]]:
    return [_out(v) for v in queries.listed(db, actor, now=ctx.clock.now(), status=status,
                                            gate=gate, limit=limit)]


@router.get("/invoices/{number}", response_model=InvoiceOut, summary="One invoice",
            description=roles_doc("invoice.read"))
def read_invoice(number: str, ctx: Ctx, db: Db, actor: InvoiceReader) -> dict[str, Any]:
    return _out(queries.view(db, queries.visible_invoice(db, actor, number,
                                                         now=ctx.clock.now())))


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=2000)


@router.post("/invoices/{number}/waive", response_model=InvoiceOut,
             summary="Waive what an invoice still owes",
             description="With a reason; the trip's fee step can then pass. Audited."
             + roles_doc("invoice.waive"))
def waive_invoice(number: str, body: ReasonIn, ctx: Ctx, db: Db, actor: Waiver
                  ) -> dict[str, Any]:
    inv = queries.visible_invoice(db, actor, number, now=ctx.clock.now(), for_update=True)
    invoices.waive(db, inv, body.reason, actor=actor, now=ctx.clock.now())
    return _out(queries.view(db, inv))


class CounterPaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["cash", "bank_transfer"]
    amount: int = Field(gt=0, le=10**12, description="VND, whole: the amount owed.")
    reference: str | None = Field(default=None, max_length=80,
                                  description="The bank's reference (required for transfers).")
    paid_at: Instant | None = Field(default=None, description="Default: now.")


@router.post("/invoices/{number}/payments", response_model=PaymentOut, status_code=201,
             summary="Record a cash or bank-transfer payment at a counter",
             description="The amount owed, in full; the trip's fee step passes when the "
             "invoice is paid. Send an `Idempotency-Key`: a retry gives the same receipt. "
             "Cashiers record at the gates of their scope. Audited."
             + roles_doc("payment.record"))
def pay_at_counter(number: str, body: CounterPaymentIn, ctx: Ctx, db: Db, actor: Cashier,
                   idem: Idem) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    inv = queries.visible_invoice(db, actor, number, now=ctx.clock.now(), for_update=True)
    row = payments.record_counter(db, inv, method=body.method, amount=body.amount,
                                  reference=body.reference, paid_at=body.paid_at, actor=actor,
                                  now=ctx.clock.now())
    return idem.respond(PaymentOut.model_validate(row).model_dump(mode="json"), 201)


@router.post("/payments/{receipt}/void", response_model=PaymentOut,
             summary="Void a wrong counter entry",
             description="Corrections are a void and a new entry, never an edit. Online "
             "payments are refunded instead. Audited." + roles_doc("payment.void"))
def void_payment(receipt: str, body: ReasonIn, ctx: Ctx, db: Db, actor: Voider) -> PaymentOut:
    row = queries.visible_payment(db, actor, receipt, now=ctx.clock.now())
    return PaymentOut.model_validate(
        payments.void(db, row, body.reason, actor=actor, now=ctx.clock.now()))


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int | None = Field(default=None, gt=0, le=10**12,
                               description="VND; default: the whole payment.")
    reason: str = Field(min_length=3, max_length=2000)


@router.post("/payments/{receipt}/refund", response_model=PaymentOut,
             summary="Refund a payment, in full or in part",
             description="E.g. a cancelled trip, or an overpayment when the final amount "
             "came out lower. An online payment is refunded through its gateway first (the "
             "gateway's refusal is a 409). Audited." + roles_doc("payment.refund"))
def refund_payment(receipt: str, body: RefundIn, request: Request, ctx: Ctx, db: Db,
                   actor: Refunder) -> PaymentOut:
    row = queries.visible_payment(db, actor, receipt, now=ctx.clock.now())
    return PaymentOut.model_validate(payments.refund(
        db, row, body.amount, body.reason, actor=actor, now=ctx.clock.now(),
        gateway=request.app.state.gateway,
        ip=request.client.host if request.client else "127.0.0.1"))


# --- receipts ------------------------------------------------------------------------------------


class VerifiedOut(BaseModel):
    receipt: str
    status: Literal["completed", "voided", "refunded"]
    amount: int = Field(description="VND.")
    refunded: int = Field(description="VND given back.")
    paid_at: datetime
    gate: str
    gate_name: str
    plate: str = Field(description="Masked: enough to recognise one's own truck.")


def _receipt(ctx: Ctx, db: Db, receipt: str, actor: Principal) -> receipts.Receipt:
    """A payment's receipt, as a NotFound outside the caller's scope."""
    row = payments.by_receipt(db, receipt)
    now = ctx.clock.now()
    queries.visible_invoice(db, actor, payments.invoice_of(db, row).number, now=now)
    return queries.receipt(db, row, now=now, base_url=ctx.settings.public_base_url)


SESSION_COOKIE = "bf_session"
"""The browser session's cookie (``borderflow.web.session``): the receipt links of the pages
open with it, for the same people as with an API token."""


def _session_principal(ctx: AppContext, token: str) -> Principal:
    """The signed-in user of a browser session cookie (a session still at its second factor,
    expired, idle or ended is nobody)."""
    with ctx.read_sessions() as session:
        found = sessions.find(session, token, now=ctx.clock.now())
        if found is None or found.row.stage != "full":
            return ANONYMOUS
        return accounts.to_principal(found.account)


def require_or_session(action: str) -> Any:
    """Like :func:`require`, but a caller with no API token or key may be the signed-in
    browser session (the receipt links of the pages: the owner's enterprise, the driver named
    on the trip, the officials and cashiers who may read the invoice). The roles and the scope
    are the API's either way."""
    allowed = roles_for(action)

    async def check(ctx: Ctx, request: Request, found: Authenticated) -> Principal:
        if isinstance(found, Principal) and found.kind == "anonymous" \
                and (token := request.cookies.get(SESSION_COOKIE)):
            async with ctx.admission.enter(request, write=False):
                found = await run_in_threadpool(_session_principal, ctx, token)
        if isinstance(found, AppError):
            raise found
        if found.roles & allowed:
            return found
        if found.kind == "anonymous":
            raise Unauthorized("log in to do this (Authorization: Bearer <token> or "
                               "X-API-Key)")
        raise Forbidden(f"your role may not do '{action}'")

    return check


ReceiptReader = Annotated[Principal, Depends(require_or_session("invoice.read"))]
SESSION_DOC = (" Opens with an API token or key, or with the browser session of a signed-in "
               "user (the receipt links of the web pages).")


@router.get("/payments/{receipt}/receipt.pdf", response_class=Response,
            summary="The e-receipt of a payment, as PDF",
            description="In Vietnamese (default), Chinese or English (`lang`), with a QR code "
            "to the public verification page." + SESSION_DOC + roles_doc("invoice.read"),
            responses={200: {"content": {"application/pdf": {}}}})
def receipt_pdf(receipt: str, ctx: Ctx, db: Db, actor: ReceiptReader,
                lang: receipts.Lang = "vi") -> Response:
    found = _receipt(ctx, db, receipt, actor)
    return Response(receipts.to_pdf(found, lang), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{found.number}.pdf"'})


@router.get("/payments/{receipt}/receipt.html", response_class=HTMLResponse,
            summary="The e-receipt of a payment, as HTML",
            description="In Vietnamese (default), Chinese or English (`lang`), laid out for an "
            "A4 page (default) or an 80 mm thermal receipt printer (`layout=thermal`); the "
            "page has a print button and prints in its layout." + SESSION_DOC
            + roles_doc("invoice.read"))
def receipt_html(receipt: str, ctx: Ctx, db: Db, actor: ReceiptReader,
                 lang: receipts.Lang = "vi", layout: receipts.Layout = "a4") -> HTMLResponse:
    return HTMLResponse(receipts.to_html(_receipt(ctx, db, receipt, actor), lang, layout))


@router.get("/receipts/{token}/verify", response_model=VerifiedOut,
            summary="Verify a receipt from its QR code",
            description="Amount, date, gate, masked plate and status; nothing personal."
            + roles_doc("receipt.verify"))
def verify_receipt(token: str, ctx: Ctx, db: Db, _caller: Verifier) -> dict[str, Any]:
    return receipts.public_view(queries.receipt_by_token(
        db, token, now=ctx.clock.now(), base_url=ctx.settings.public_base_url))


verify_router = APIRouter(tags=["fees"])


@verify_router.get("/verify/{token}", response_class=HTMLResponse, include_in_schema=False)
def verify_page(token: str, ctx: Ctx, db: Db) -> HTMLResponse:
    """Where a scanned receipt QR code lands: a page for a phone, in Vietnamese, Chinese and
    English."""
    try:
        found = queries.receipt_by_token(db, token, now=ctx.clock.now(),
                                         base_url=ctx.settings.public_base_url)
    except NotFound:
        return HTMLResponse(receipts.verify_html(None), status_code=404)
    return HTMLResponse(receipts.verify_html(found))


# --- reconciliation and revenue ----------------------------------------------------------------

Reconciler = Annotated[Principal, Depends(require("reconciliation.run"))]
RevenueReader = Annotated[Principal, Depends(require("revenue.read"))]


class ReconciliationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    gateway: str
    filename: str
    sha256: str
    period_from: date
    period_to: date
    report: dict[str, Any] = Field(
        description="matched, missing_ours (the gateway took money we have no payment for), "
        "missing_theirs (our payment is not on the statement), amount_mismatch, duplicates, "
        "and a summary of their counts.")
    imported_by: str
    imported_at: datetime


@router.post("/reconciliations", response_model=ReconciliationOut, status_code=201,
             summary="Reconcile a gateway statement (CSV) with our payments",
             description="Columns: " + ", ".join(STATEMENT_COLUMNS) + " (amounts in whole "
             "VND, pay_date as yyyyMMddHHmmss, Lang Son time). Rows dated outside the period "
             "are counted and left out. A file with a bad line is refused whole, every bad "
             "line named. The report is kept. Audited." + roles_doc("reconciliation.run"))
async def upload_statement(ctx: Ctx, db: Db, actor: Reconciler, file: UploadFile,
                           period_from: Annotated[date, Form(alias="from")],
                           period_to: Annotated[date, Form(alias="to")]) -> ReconciliationOut:
    data = await file.read(reconcile.MAX_STATEMENT_BYTES + 1)
    return ReconciliationOut.model_validate(reconcile.run(
        db, data, file.filename or "statement.csv", period_from, period_to, gateway="vnpay",
        actor=actor, now=ctx.clock.now()))


@router.get("/reconciliations/{rid}", response_model=ReconciliationOut,
            summary="One reconciliation report", description=roles_doc("reconciliation.run"))
def read_reconciliation(rid: int, db: Db, _caller: Reconciler) -> ReconciliationOut:
    return ReconciliationOut.model_validate(reconcile.get(db, rid))


class RevenueOut(BaseModel):
    date: date
    currency: str
    total: dict[str, int]
    by_gate: dict[str, dict[str, int]]
    by_vehicle_category: dict[str, dict[str, int]]
    by_method: dict[str, dict[str, int]]


@router.get("/revenue/daily", response_model=RevenueOut, summary="Fee revenue of one day",
            description="Money kept (payments less refunds; voided entries left out) by gate, "
            "vehicle category and payment method, for a day in Lang Son time. A cashier sees "
            "the gates of their scope." + roles_doc("revenue.read"))
def daily_revenue(ctx: Ctx, db: Db, actor: RevenueReader,
                  day: Annotated[date | None, Query(alias="date")] = None) -> dict[str, Any]:
    when = day or ctx.clock.now().astimezone(LOCAL_TZ).date()
    gates = actor.gate_scope if (Role.CASHIER in actor.roles and not actor.is_official) \
        else None
    return reconcile.daily_revenue(db, when, gates or None)


# --- the cashier's till ---------------------------------------------------------------------

TillCloser = Annotated[Principal, Depends(require("payment.record"))]
Day = date
"""A field called ``date`` hides the type in its class: this name does not."""


class MethodTakingsOut(BaseModel):
    count: int = Field(description="Payments recorded and not voided.")
    total: int = Field(description="VND.")


class TillClosingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    expected_cash: int = Field(description="VND: the cash payments of the day, not voided.")
    counted_cash: int = Field(description="VND: the cash the cashier counted.")
    difference: int = Field(description="VND: counted less expected (negative: cash short).")
    takings: dict[str, MethodTakingsOut] = Field(description="As they were at closing.")
    note: str
    closed_at: datetime


class TillOut(BaseModel):
    cashier: str
    date: Day
    takings: dict[str, MethodTakingsOut] = Field(
        description="Per method (`cash`, `bank_transfer`): the payments the cashier recorded "
        "that day (Lang Son time) and did not void.")
    expected_cash: int = Field(description="VND.")
    closed: bool
    closing: TillClosingOut | None


class TillCloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: Day | None = Field(default=None, description="Lang Son date; default: today.")
    counted_cash: int = Field(ge=0, le=10**12, description="VND counted in the till.")
    note: str = Field(default="", max_length=2000)


def _till_out(t: tills.Till) -> dict[str, Any]:
    return {"cashier": t.cashier, "date": t.day, "takings": t.takings,
            "expected_cash": t.expected_cash, "closed": t.closed,
            "closing": TillClosingOut.model_validate(t.closing) if t.closing else None}


@router.get("/tills", response_model=list[TillOut], summary="The tills of a day",
            description="Each cashier's takings of a day (Lang Son date, default today) per "
            "method, count and total of the counter payments they recorded and did not void, "
            "and the till's closing if it is closed. A cashier sees their own till; officials "
            "every cashier's." + roles_doc("revenue.read"))
def list_tills(ctx: Ctx, db: Db, actor: RevenueReader,
               day: Annotated[date | None, Query(alias="date")] = None
               ) -> list[dict[str, Any]]:
    when = day or tills.local_day(ctx.clock.now())
    return [_till_out(t) for t in tills.tills(db, actor, when)]


@router.post("/tills/close", response_model=TillOut, status_code=201,
             summary="Close one's till for the day with the cash counted",
             description="Stores the cash expected (the day's cash payments not voided), the "
             "cash counted and the difference, with the takings per method. Once per cashier "
             "and day: a second closing is a 409 (`till_closed`). Audited."
             + roles_doc("payment.record"))
def close_till(body: TillCloseIn, ctx: Ctx, db: Db, actor: TillCloser) -> dict[str, Any]:
    now = ctx.clock.now()
    when = body.date or tills.local_day(now)
    tills.close(db, when, body.counted_cash, body.note, actor=actor, now=now)
    return _till_out(tills.till(db, actor.username, when))
