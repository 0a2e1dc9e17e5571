"""A local payment gateway that speaks VNPay's protocol over real HTTP, for the demo and tests.

It shows the payer a payment page for a signed payment URL, and when the payer pays (or
cancels) it calls the merchant's IPN URL server to server with a signed callback, retrying
while the merchant does not confirm, then sends the browser back to the return URL. It also
answers refund requests (VNPay's ``refund`` command with its checksum) and serves a daily
statement as CSV for reconciliation. Transactions live in memory.

Endpoints (relative to where it is mounted, ``/sandbox/vnpay`` in the demo):

- ``GET /paymentv2/vpcpay.html?vnp_...&vnp_SecureHash=...``: the payment page;
- ``POST /paymentv2/confirm`` (form: ``query``, ``outcome`` = ``pay`` | ``cancel``): pay or
  cancel; redirects to the return URL (or answers JSON when asked with
  ``Accept: application/json``);
- ``POST /paymentv2/replay/{txn_ref}``: send the last callback of a transaction again;
- ``POST /merchant_webapi/api/transaction``: refund;
- ``GET /merchant_webapi/statement.csv?from=YYYY-MM-DD&to=YYYY-MM-DD``: the statement.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import itertools
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from borderflow.fees.gateway import (
    REFUND_FIELDS,
    REFUND_RESPONSE_FIELDS,
    VN_TIME,
    checksum,
    sign,
    signature_ok,
    vnp_time,
)


@dataclass
class Transaction:
    txn_ref: str
    amount: int  # VND
    order_info: str
    return_url: str
    status: str  # "00" paid, "24" cancelled by the payer
    transaction_no: str
    paid_at: datetime
    refunded: int = 0
    callback: dict[str, str] = field(default_factory=dict)
    ipn_answers: list[str] = field(default_factory=list)


class SandboxGateway:
    def __init__(self, tmn_code: str, hash_secret: str, ipn_url: str, *,
                 retries: int = 3, retry_delay: float = 0.2,
                 clock: Any = None) -> None:
        self.tmn_code = tmn_code
        self.hash_secret = hash_secret
        self.ipn_url = ipn_url
        self.retries = retries
        self.retry_delay = retry_delay
        self.clock = clock
        self.transactions: dict[str, Transaction] = {}
        self._numbers = itertools.count(14000001)
        self.app = Starlette(routes=[
            Route("/paymentv2/vpcpay.html", self.page, methods=["GET"]),
            Route("/paymentv2/confirm", self.confirm, methods=["POST"]),
            Route("/paymentv2/replay/{txn_ref}", self.replay, methods=["POST"]),
            Route("/merchant_webapi/api/transaction", self.api, methods=["POST"]),
            Route("/merchant_webapi/statement.csv", self.statement, methods=["GET"]),
        ])

    def _now(self) -> datetime:
        now: datetime = self.clock.now() if self.clock is not None else datetime.now(VN_TIME)
        return now.astimezone(VN_TIME)

    # --- paying ---------------------------------------------------------------------------

    def _check(self, params: dict[str, str]) -> str | None:
        if not signature_ok(params, self.hash_secret):
            return "Sai chữ ký / invalid signature"
        if params.get("vnp_TmnCode") != self.tmn_code:
            return "Mã website không tồn tại / unknown merchant"
        if not params.get("vnp_Amount", "").isdigit() or not params.get("vnp_TxnRef"):
            return "Thiếu tham số / missing amount or order reference"
        return None

    async def page(self, request: Request) -> Response:
        params = dict(request.query_params)
        problem = self._check(params)
        if problem:
            return HTMLResponse(f"<h1>{html.escape(problem)}</h1>", status_code=400)
        amount = int(params["vnp_Amount"]) // 100
        query = html.escape(str(request.url.query), quote=True)
        return HTMLResponse(f"""<!doctype html><html lang="vi"><meta charset="utf-8">
<title>Cổng thanh toán thử nghiệm</title>
<link rel="stylesheet" href="/static/plain.css">
<body>
<h1>Cổng thanh toán thử nghiệm (sandbox)</h1>
<p>Đơn hàng / Order: <b>{html.escape(params["vnp_TxnRef"])}</b></p>
<p>{html.escape(params.get("vnp_OrderInfo", ""))}</p>
<p>Số tiền / Amount: <b>{amount:,} VND</b></p>
<form method="post" action="confirm">
<input type="hidden" name="query" value="{query}">
<button name="outcome" value="pay">Thanh toán / Pay</button>
<button name="outcome" value="cancel">Hủy / Cancel</button>
</form></body></html>""")

    async def confirm(self, request: Request) -> Response:
        form = await request.form()
        params = dict(parse_qsl(str(form.get("query", "")), keep_blank_values=True))
        problem = self._check(params)
        if problem:
            return HTMLResponse(f"<h1>{html.escape(problem)}</h1>", status_code=400)
        ref = params["vnp_TxnRef"]
        tx = self.transactions.get(ref)
        if tx is None:
            paid = form.get("outcome") == "pay"
            tx = Transaction(txn_ref=ref, amount=int(params["vnp_Amount"]) // 100,
                             order_info=params.get("vnp_OrderInfo", ""),
                             return_url=params.get("vnp_ReturnUrl", ""),
                             status="00" if paid else "24",
                             transaction_no=str(next(self._numbers)), paid_at=self._now())
            tx.callback = self._callback(tx)
            self.transactions[ref] = tx
            await self._notify(tx)
        target = f"{tx.return_url}?{urlencode(tx.callback)}" if tx.return_url else ""
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"txn_ref": ref, "transaction_no": tx.transaction_no,
                                 "ipn_answers": tx.ipn_answers, "return_url": target})
        return RedirectResponse(target or "/", status_code=303)

    def _callback(self, tx: Transaction) -> dict[str, str]:
        params = {
            "vnp_Amount": str(tx.amount * 100), "vnp_BankCode": "NCB",
            "vnp_BankTranNo": f"VNP{tx.transaction_no}", "vnp_CardType": "ATM",
            "vnp_OrderInfo": tx.order_info, "vnp_PayDate": vnp_time(tx.paid_at),
            "vnp_ResponseCode": tx.status, "vnp_TmnCode": self.tmn_code,
            "vnp_TransactionNo": tx.transaction_no, "vnp_TransactionStatus":
                "00" if tx.status == "00" else "02",
            "vnp_TxnRef": tx.txn_ref, "vnp_SecureHashType": "HmacSHA512",
        }
        params["vnp_SecureHash"] = sign(params, self.hash_secret)
        return params

    async def _notify(self, tx: Transaction) -> None:
        """Call the merchant's IPN until it confirms (00) or says it already has (02)."""
        async with httpx.AsyncClient(timeout=10.0) as client:
            for attempt in range(self.retries):
                try:
                    r = await client.get(self.ipn_url, params=tx.callback)
                    answer = str(r.json().get("RspCode", "??"))
                except (httpx.HTTPError, ValueError, AttributeError):
                    answer = "unreachable"
                tx.ipn_answers.append(answer)
                if answer in ("00", "02"):
                    return
                if attempt + 1 < self.retries:
                    await asyncio.sleep(self.retry_delay)

    async def replay(self, request: Request) -> Response:
        tx = self.transactions.get(request.path_params["txn_ref"])
        if tx is None:
            return JSONResponse({"error": "unknown transaction"}, status_code=404)
        await self._notify(tx)
        return JSONResponse({"ipn_answers": tx.ipn_answers})

    # --- refunds and statements -------------------------------------------------------------

    def _answer(self, request_id: str, code: str, message: str, body: dict[str, str],
                tx: Transaction | None) -> JSONResponse:
        out = {
            "vnp_ResponseId": request_id, "vnp_Command": "refund", "vnp_ResponseCode": code,
            "vnp_Message": message, "vnp_TmnCode": self.tmn_code,
            "vnp_TxnRef": body.get("vnp_TxnRef", ""), "vnp_Amount": body.get("vnp_Amount", ""),
            "vnp_BankCode": "NCB" if tx else "", "vnp_PayDate": vnp_time(self._now()),
            "vnp_TransactionNo": tx.transaction_no if tx else "",
            "vnp_TransactionType": body.get("vnp_TransactionType", ""),
            "vnp_TransactionStatus": "05" if code == "00" else "",
            "vnp_OrderInfo": body.get("vnp_OrderInfo", ""),
        }
        out["vnp_SecureHash"] = checksum([out[f] for f in REFUND_RESPONSE_FIELDS],
                                         self.hash_secret)
        return JSONResponse(out)

    async def api(self, request: Request) -> Response:
        try:
            body = {k: str(v) for k, v in (await request.json()).items()}
        except (ValueError, AttributeError):
            return JSONResponse({"vnp_ResponseCode": "03", "vnp_Message": "Invalid data"},
                                status_code=400)
        request_id = body.get("vnp_RequestId", "")
        expected = checksum([body.get(f, "") for f in REFUND_FIELDS], self.hash_secret)
        if body.get("vnp_SecureHash", "").lower() != expected:
            return self._answer(request_id, "97", "Invalid checksum", body, None)
        tx = self.transactions.get(body.get("vnp_TxnRef", ""))
        if tx is None or tx.status != "00":
            return self._answer(request_id, "91", "Transaction not found", body, None)
        amount = int(body.get("vnp_Amount", "0") or 0) // 100
        if amount <= 0 or tx.refunded + amount > tx.amount:
            return self._answer(request_id, "94", "Refund amount exceeds the transaction",
                                body, tx)
        tx.refunded += amount
        return self._answer(request_id, "00", "Refund success", body, tx)

    async def statement(self, request: Request) -> Response:
        try:
            start = date.fromisoformat(request.query_params.get("from", "2000-01-01"))
            end = date.fromisoformat(request.query_params.get("to", "2999-12-31"))
        except ValueError:
            return Response("from and to are dates (YYYY-MM-DD)", status_code=400)
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(STATEMENT_COLUMNS)
        for tx in self.transactions.values():
            if tx.status != "00" or not start <= tx.paid_at.date() <= end:
                continue
            w.writerow([tx.txn_ref, tx.transaction_no, tx.amount, vnp_time(tx.paid_at), "NCB",
                        "refunded" if tx.refunded else "success", tx.refunded])
        return Response(out.getvalue(), media_type="text/csv")


STATEMENT_COLUMNS = ("txn_ref", "transaction_no", "amount", "pay_date", "bank_code", "status",
                     "refunded")
"""The statement's columns (the reconciliation import reads the same)."""
