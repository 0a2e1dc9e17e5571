"""HTTP API of online payment: start a payment, the gateway's IPN, the browser's return."""

from __future__ import annotations

import html
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from borderflow.api.deps import Ctx, Db, require, roles_doc
from borderflow.api.errors import ERROR_RESPONSES
from borderflow.config import Settings, secret
from borderflow.domain.access import Principal
from borderflow.fees import online, queries
from borderflow.fees.gateway import VNPay

router = APIRouter(prefix="/api/v1", tags=["fees"], responses=ERROR_RESPONSES)

Payer = Annotated[Principal, Depends(require("payment.pay_online"))]
Callback = Annotated[Principal, Depends(require("payment.callback"))]

IPN_PATH = "/api/v1/payments/vnpay/ipn"
RETURN_PATH = "/api/v1/payments/vnpay/return"


def build_gateway(settings: Settings) -> VNPay:
    pay_url, api_url = settings.gateway_urls()
    return VNPay(settings.vnpay_tmn_code, secret(settings.vnpay_hash_secret) or "", pay_url,
                 api_url)


def gateway_of(request: Request) -> VNPay:
    gateway: VNPay = request.app.state.gateway
    return gateway


class OnlineIn(BaseModel):
    locale: str = Field(default="vn", pattern="^(vn|en)$")


class OnlineOut(BaseModel):
    txn_ref: str
    amount: int = Field(description="VND: what the invoice owes now.")
    payment_url: str = Field(description="Send the payer's browser here.")


@router.post("/invoices/{number}/pay-online", response_model=OnlineOut, status_code=201,
             summary="Start paying an invoice online",
             description="A signed payment URL at the gateway for what the invoice owes. The "
             "payment counts only when the gateway confirms it server to server (IPN); the "
             "browser comes back to a page that shows the result." + roles_doc(
                 "payment.pay_online"))
def pay_online(number: str, body: OnlineIn, request: Request, ctx: Ctx, db: Db,
               actor: Payer) -> dict[str, Any]:
    return start_payment(request, ctx, db, actor, number, body.locale)


def start_payment(request: Request, ctx: Ctx, db: Db, actor: Principal, number: str,
                  locale: str = "vn") -> dict[str, Any]:
    """A payment of what an invoice the payer may see owes (404 otherwise): its reference,
    amount and the URL of the gateway's payment page (``OnlineOut``); shared by the API and
    the enterprise portal."""
    now = ctx.clock.now()
    inv = queries.visible_invoice(db, actor, number, now=now, for_update=True)
    attempt, url = online.start(
        db, inv, gateway_of(request), actor=actor,
        return_url=ctx.settings.public_base_url.rstrip("/") + RETURN_PATH,
        ip=request.client.host if request.client else "127.0.0.1", now=now, locale=locale)
    return {"txn_ref": attempt.txn_ref, "amount": attempt.amount, "payment_url": url}


@router.get("/payments/vnpay/ipn", summary="The gateway's payment callback (IPN)",
            description="Server to server, signed by the gateway (HMAC-SHA512). Answers "
            "`{\"RspCode\", \"Message\"}` with VNPay's codes, checked in this order: `97` bad "
            "signature, `01` unknown order, `04` wrong amount, `02` already confirmed, `00` "
            "confirmed, `99` unexpected. Idempotent: a repeated callback changes nothing."
            + roles_doc("payment.callback"))
def ipn(request: Request, ctx: Ctx, _caller: Callback) -> dict[str, str]:
    params = dict(request.query_params.items())
    with ctx.sessions() as session:
        return online.handle_ipn(session, gateway_of(request), params, now=ctx.clock.now(),
                                 remote=request.client.host if request.client else None)


@router.get("/payments/vnpay/return", response_class=HTMLResponse,
            summary="Where the payer's browser comes back",
            description="Shows the result; changes nothing (only the IPN does)."
            + roles_doc("payment.return"))
def browser_return(request: Request, db: Db, _caller: Callback) -> HTMLResponse:
    params = dict(request.query_params.items())
    cb = gateway_of(request).parse_callback(params)
    attempt = online.attempt_status(db, cb.txn_ref) if cb.signed and cb.txn_ref else None
    invoice = queries.invoice(db, attempt.invoice_id) if attempt is not None else None
    if attempt is None:
        title, text, status = ("Không xác định / Unknown payment",
                               "The link is not a valid payment result.", 400)
    elif attempt.status == "succeeded":
        payment = online.payment_of_attempt(db, attempt.txn_ref)
        receipt = payment.receipt_number if payment else ""
        title, text, status = ("Thanh toán thành công / Payment received",
                               f"{attempt.amount:,} VND. Receipt {receipt}.", 200)
    elif attempt.status == "failed":
        title, text, status = ("Thanh toán không thành công / Payment not completed",
                               f"The gateway answered {attempt.response_code}. Nothing was "
                               "charged; you can try again.", 200)
    else:
        title, text, status = ("Đang chờ xác nhận / Waiting for the gateway",
                               "The gateway has not confirmed the payment yet; reload this "
                               "page in a moment.", 200)
    return HTMLResponse(
        f"<!doctype html><html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<link rel='stylesheet' href='/static/plain.css'><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
        f"{_ways_back(invoice.trip_reference if invoice else None)}</body></html>",
        status_code=status)


def _ways_back(trip_reference: str | None) -> str:
    """Links from the result back into the enterprise portal: the trip paid for, the portal."""
    links = []
    if trip_reference:
        href = f"/portal/trips/{quote(trip_reference, safe='')}"
        links.append(f"<a href='{html.escape(href)}'>Xem chuyến {html.escape(trip_reference)}"
                     f" / View trip {html.escape(trip_reference)}</a>")
    links.append("<a href='/portal'>Cổng doanh nghiệp / Enterprise portal</a>")
    return "<nav><ul>" + "".join(f"<li>{link}</li>" for link in links) + "</ul></nav>"

