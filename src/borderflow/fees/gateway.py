"""Payment gateways: the interface the platform pays through, and VNPay's protocol.

A gateway makes a signed payment URL for the payer's browser, checks the signature of its
server-to-server callback (IPN) and parses it, and refunds. Only the IPN changes money state;
the browser's return only shows a result.

VNPay (API 2.1.0): parameters ``vnp_*``; the signature ``vnp_SecureHash`` is the HMAC-SHA512,
hex, keyed with the merchant's secret, of the parameters other than ``vnp_SecureHash`` and
``vnp_SecureHashType``, sorted by name, each ``name=value`` with the value URL-encoded
(``quote_plus``), joined with ``&``. Amounts are VND × 100. The merchant answers an IPN with
``{"RspCode": ..., "Message": ...}``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

VN_TIME = ZoneInfo("Asia/Ho_Chi_Minh")
VNPAY_VERSION = "2.1.0"
IPN_MESSAGES = {
    "00": "Confirm Success",
    "01": "Order not found",
    "02": "Order already confirmed",
    "04": "Invalid amount",
    "97": "Invalid signature",
    "99": "Unknown error",
}
SIGNATURE_FIELDS = ("vnp_SecureHash", "vnp_SecureHashType")


@dataclass(frozen=True)
class Callback:
    """What a gateway callback says, once its signature is checked."""

    signed: bool
    txn_ref: str | None
    amount: int | None
    """VND (whole), or None when missing or not a whole number of VND."""
    success: bool
    response_code: str | None
    transaction_no: str | None
    bank_code: str | None
    paid_at: datetime | None


@dataclass(frozen=True)
class RefundResult:
    ok: bool
    code: str
    message: str


class PaymentGateway(Protocol):
    """What the platform needs from a payment gateway (see docs/fees.md to add one)."""

    name: str

    def payment_url(self, *, txn_ref: str, amount: int, order_info: str, return_url: str,
                    ip: str, created_at: datetime, expires_at: datetime,
                    locale: str = "vn") -> str: ...

    def parse_callback(self, params: Mapping[str, str]) -> Callback: ...

    def refund(self, *, txn_ref: str, amount: int, full: bool, transaction_no: str,
               paid_at: datetime, reason: str, by: str, ip: str, now: datetime,
               request_id: str) -> RefundResult: ...


def vnp_time(at: datetime) -> str:
    return at.astimezone(VN_TIME).strftime("%Y%m%d%H%M%S")


def parse_vnp_time(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=VN_TIME)
    except (TypeError, ValueError):
        return None


def hash_data(params: Mapping[str, str]) -> str:
    """The text VNPay signs: the ``vnp_*`` parameters but the signature, sorted by name."""
    return "&".join(f"{k}={quote_plus(str(v))}" for k, v in sorted(params.items())
                    if k.startswith("vnp_") and k not in SIGNATURE_FIELDS)


def sign(params: Mapping[str, str], secret: str) -> str:
    return hmac.new(secret.encode(), hash_data(params).encode(), hashlib.sha512).hexdigest()


def signature_ok(params: Mapping[str, str], secret: str) -> bool:
    given = params.get("vnp_SecureHash") or ""
    return hmac.compare_digest(given.lower(), sign(params, secret))


def checksum(fields: list[str], secret: str) -> str:
    """VNPay's API checksum: HMAC-SHA512 of the fields joined with ``|``."""
    return hmac.new(secret.encode(), "|".join(fields).encode(), hashlib.sha512).hexdigest()


REFUND_FIELDS = ("vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode",
                 "vnp_TransactionType", "vnp_TxnRef", "vnp_Amount", "vnp_TransactionNo",
                 "vnp_TransactionDate", "vnp_CreateBy", "vnp_CreateDate", "vnp_IpAddr",
                 "vnp_OrderInfo")
REFUND_RESPONSE_FIELDS = ("vnp_ResponseId", "vnp_Command", "vnp_ResponseCode", "vnp_Message",
                          "vnp_TmnCode", "vnp_TxnRef", "vnp_Amount", "vnp_BankCode",
                          "vnp_PayDate", "vnp_TransactionNo", "vnp_TransactionType",
                          "vnp_TransactionStatus", "vnp_OrderInfo")


class VNPay:
    """A VNPay merchant account (or the local sandbox, which speaks the same protocol)."""

    name = "vnpay"

    def __init__(self, tmn_code: str, hash_secret: str, pay_url: str, api_url: str,
                 http_timeout: float = 10.0) -> None:
        self.tmn_code = tmn_code
        self.hash_secret = hash_secret
        self.pay_url = pay_url
        self.api_url = api_url
        self.http_timeout = http_timeout

    def payment_url(self, *, txn_ref: str, amount: int, order_info: str, return_url: str,
                    ip: str, created_at: datetime, expires_at: datetime,
                    locale: str = "vn") -> str:
        params = {
            "vnp_Version": VNPAY_VERSION, "vnp_Command": "pay", "vnp_TmnCode": self.tmn_code,
            "vnp_Amount": str(amount * 100), "vnp_CurrCode": "VND", "vnp_TxnRef": txn_ref,
            "vnp_OrderInfo": order_info, "vnp_OrderType": "other", "vnp_Locale": locale,
            "vnp_ReturnUrl": return_url, "vnp_IpAddr": ip,
            "vnp_CreateDate": vnp_time(created_at), "vnp_ExpireDate": vnp_time(expires_at),
        }
        return f"{self.pay_url}?{hash_data(params)}&vnp_SecureHash={sign(params, self.hash_secret)}"

    def parse_callback(self, params: Mapping[str, str]) -> Callback:
        signed = signature_ok(params, self.hash_secret) and \
            params.get("vnp_TmnCode") == self.tmn_code
        raw = params.get("vnp_Amount", "")
        amount = int(raw) // 100 if raw.isdigit() and int(raw) % 100 == 0 else None
        code = params.get("vnp_ResponseCode")
        return Callback(
            signed=signed, txn_ref=params.get("vnp_TxnRef") or None, amount=amount,
            success=code == "00" and params.get("vnp_TransactionStatus", "00") == "00",
            response_code=code, transaction_no=params.get("vnp_TransactionNo") or None,
            bank_code=params.get("vnp_BankCode") or None,
            paid_at=parse_vnp_time(params.get("vnp_PayDate", "")))

    def refund_request(self, *, txn_ref: str, amount: int, full: bool, transaction_no: str,
                       paid_at: datetime, reason: str, by: str, ip: str, now: datetime,
                       request_id: str) -> dict[str, str]:
        body = {
            "vnp_RequestId": request_id, "vnp_Version": VNPAY_VERSION,
            "vnp_Command": "refund", "vnp_TmnCode": self.tmn_code,
            "vnp_TransactionType": "02" if full else "03", "vnp_TxnRef": txn_ref,
            "vnp_Amount": str(amount * 100), "vnp_TransactionNo": transaction_no,
            "vnp_TransactionDate": vnp_time(paid_at), "vnp_CreateBy": by,
            "vnp_CreateDate": vnp_time(now), "vnp_IpAddr": ip, "vnp_OrderInfo": reason,
        }
        body["vnp_SecureHash"] = checksum([body[f] for f in REFUND_FIELDS], self.hash_secret)
        return body

    def refund(self, *, txn_ref: str, amount: int, full: bool, transaction_no: str,
               paid_at: datetime, reason: str, by: str, ip: str, now: datetime,
               request_id: str) -> RefundResult:
        import httpx

        body = self.refund_request(txn_ref=txn_ref, amount=amount, full=full,
                                   transaction_no=transaction_no, paid_at=paid_at,
                                   reason=reason, by=by, ip=ip, now=now,
                                   request_id=request_id)
        try:
            r = httpx.post(self.api_url, json=body, timeout=self.http_timeout)
            answer = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            return RefundResult(False, "unreachable", f"the gateway did not answer: {exc}")
        if not isinstance(answer, dict):
            return RefundResult(False, "malformed", "the gateway's answer is not an object")
        expected = checksum([str(answer.get(f, "")) for f in REFUND_RESPONSE_FIELDS],
                            self.hash_secret)
        if not hmac.compare_digest(str(answer.get("vnp_SecureHash", "")).lower(), expected):
            return RefundResult(False, "bad_signature", "the gateway's answer is not signed "
                                                        "with our secret")
        code = str(answer.get("vnp_ResponseCode", ""))
        return RefundResult(code == "00", code, str(answer.get("vnp_Message", "")))


def expiry(now: datetime, minutes: int = 15) -> datetime:
    return now + timedelta(minutes=minutes)
