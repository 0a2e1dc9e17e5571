"""Online payment over real HTTP: the platform served by uvicorn, the sandbox gateway speaking
VNPay's protocol, its server-to-server callbacks (IPN) checked in the gateway's order, replays,
tampering, failures and refunds through the gateway."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from borderflow import config
from borderflow.config import Settings
from borderflow.fees.gateway import sign
from borderflow.store.models import GatewayCallback, Payment
from tests import factories
from tests.conftest import Peek
from tests.fees.conftest import pay as _pay
from tests.fees.conftest import start as _start
from tests.fees.conftest import trip as _trip

IPN = "/api/v1/payments/vnpay/ipn"


def _signed(params: dict[str, str], secret: str) -> dict[str, str]:
    out = {k: v for k, v in params.items() if k != "vnp_SecureHash"}
    out["vnp_SecureHash"] = sign(out, secret)
    return out


def test_a_payment_confirmed_by_the_gateway_settles_the_invoice_once(
    live: httpx.Client, auth: Any, db: Peek, settings: Settings
) -> None:
    ref, inv = _trip(live, auth)
    assert inv["status"] == "open"
    started = _start(live, auth, inv["number"])
    assert started["amount"] == inv["due"]
    query = dict(parse_qsl(urlsplit(started["payment_url"]).query))
    assert query["vnp_Amount"] == str(inv["due"] * 100)  # VND x 100
    assert query["vnp_TxnRef"] == started["txn_ref"]

    done = _pay(live, started["payment_url"])
    assert done["ipn_answers"] == ["00"]
    paid = live.get(f"/api/v1/invoices/{inv['number']}", headers=auth("enterprise")).json()
    assert paid["status"] == "paid"
    assert paid["due"] == 0
    [payment] = paid["payments"]
    assert (payment["method"], payment["amount"], payment["gateway"]) == (
        "online", inv["total"], "vnpay")
    assert payment["gateway_transaction_no"] == done["transaction_no"]
    trip = live.get(f"/api/v1/trips/{ref}", headers=auth("enterprise")).json()
    assert trip["fee"]["status"] == "paid"

    # the browser's return shows the result
    back = live.get(done["return_url"])
    assert back.status_code == 200
    assert "Payment received" in back.text
    assert payment["receipt_number"] in back.text

    # the gateway sends the same callback again: already confirmed, nothing changes
    again = live.post(f"/sandbox/vnpay/paymentv2/replay/{started['txn_ref']}").json()
    assert again["ipn_answers"] == ["00", "02"]
    assert db.scalar(select(func.count()).select_from(Payment)) == 1
    # a callback replayed by someone else is answered the same way
    callback = dict(parse_qsl(urlsplit(done["return_url"]).query))
    assert live.get(IPN, params=callback).json() == {"RspCode": "02",
                                                     "Message": "Order already confirmed"}
    assert db.scalar(select(func.count()).select_from(GatewayCallback)) == 3


def test_callbacks_are_checked_in_the_gateways_order(
    live: httpx.Client, auth: Any, db: Peek, settings: Settings
) -> None:
    _, inv = _trip(live, auth)
    started = _start(live, auth, inv["number"])
    secret = config.secret(settings.vnpay_hash_secret) or ""
    good = {"vnp_Amount": str(inv["due"] * 100), "vnp_BankCode": "NCB",
            "vnp_PayDate": "20261123081500", "vnp_ResponseCode": "00",
            "vnp_TmnCode": settings.vnpay_tmn_code, "vnp_TransactionNo": "99000001",
            "vnp_TransactionStatus": "00", "vnp_TxnRef": started["txn_ref"]}

    def answer(params: dict[str, str]) -> str:
        return str(live.get(IPN, params=params).json()["RspCode"])

    tampered = dict(_signed(good, secret), vnp_Amount="100")  # amount changed after signing
    assert answer(tampered) == "97"
    assert answer(_signed(good, "someone-elses-secret")) == "97"
    assert answer(_signed(dict(good, vnp_TmnCode="OTHER"), secret)) == "97"
    assert answer(_signed(dict(good, vnp_TxnRef="INV20260000000NOPE"), secret)) == "01"
    # unknown order and a wrong amount both: the order is checked first
    assert answer(_signed(dict(good, vnp_TxnRef="NOPE", vnp_Amount="100"), secret)) == "01"
    assert answer(_signed(dict(good, vnp_Amount=str(inv["due"] * 100 - 100)), secret)) == "04"
    assert answer(_signed(dict(good, vnp_Amount="12abc"), secret)) == "04"
    assert db.scalar(select(func.count()).select_from(Payment)) == 0  # none of them paid
    assert answer(_signed(good, secret)) == "00"
    # out of order: a late failure for the same order after its success changes nothing
    assert answer(_signed(dict(good, vnp_ResponseCode="24"), secret)) == "02"
    # a wrong amount is still a wrong amount after confirmation
    assert answer(_signed(dict(good, vnp_Amount="100"), secret)) == "04"
    invoice = live.get(f"/api/v1/invoices/{inv['number']}", headers=auth("enterprise")).json()
    assert invoice["status"] == "paid"
    assert len(invoice["payments"]) == 1
    answers = db.scalars(select(GatewayCallback.answer).order_by(GatewayCallback.id))
    assert list(answers) == ["97", "97", "97", "01", "01", "04", "04", "00", "02", "04"]


def test_a_cancelled_payment_leaves_the_invoice_open_and_can_be_tried_again(
    live: httpx.Client, auth: Any
) -> None:
    _, inv = _trip(live, auth)
    first = _pay(live, _start(live, auth, inv["number"])["payment_url"], outcome="cancel")
    assert first["ipn_answers"] == ["00"]  # the failure is confirmed too
    assert "not completed" in live.get(first["return_url"]).text
    assert live.get(f"/api/v1/invoices/{inv['number']}",
                    headers=auth("enterprise")).json()["status"] == "open"
    second = _pay(live, _start(live, auth, inv["number"])["payment_url"])
    assert second["ipn_answers"] == ["00"]
    assert live.get(f"/api/v1/invoices/{inv['number']}",
                    headers=auth("enterprise")).json()["status"] == "paid"
    # nothing is owed any more: no new payment can be started
    r = live.post(f"/api/v1/invoices/{inv['number']}/pay-online", json={},
                  headers=auth("enterprise"))
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "nothing_owed"


def test_an_online_payment_is_refunded_through_the_gateway(
    live: httpx.Client, auth: Any
) -> None:
    ref, inv = _trip(live, auth)
    started = _start(live, auth, inv["number"])
    _pay(live, started["payment_url"])
    receipt = live.get(f"/api/v1/invoices/{inv['number']}",
                       headers=auth("regulator")).json()["payments"][0]["receipt_number"]
    declaration = ref.rsplit("-", 1)[0]
    assert live.post(f"/api/v1/declarations/{declaration}/cancel", json={"reason": "sold off"},
                     headers=auth("enterprise")).status_code == 200
    void = live.post(f"/api/v1/payments/{receipt}/void", json={"reason": "typed wrong"},
                     headers=auth("regulator"))
    assert void.status_code == 409  # online payments are refunded, not voided
    too_much = live.post(f"/api/v1/payments/{receipt}/refund",
                         json={"amount": inv["total"] + 1, "reason": "trip cancelled"},
                         headers=auth("regulator"))
    assert too_much.status_code == 422
    r = live.post(f"/api/v1/payments/{receipt}/refund", json={"reason": "trip cancelled"},
                  headers=auth("regulator"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "refunded"
    assert r.json()["refunded_amount"] == inv["total"]
    invoice = live.get(f"/api/v1/invoices/{inv['number']}", headers=auth("regulator")).json()
    assert (invoice["status"], invoice["due"]) == ("refunded", 0)  # the trip was cancelled
    statement = live.get("/sandbox/vnpay/merchant_webapi/statement.csv").text
    assert f"{started['txn_ref']}," in statement
    assert ",refunded," in statement


def test_only_the_payer_side_starts_payments_and_bad_links_show_nothing(
    live: httpx.Client, auth: Any
) -> None:
    _, inv = _trip(live, auth)
    assert live.post(f"/api/v1/invoices/{inv['number']}/pay-online", json={},
                     headers=auth("enterprise2")).status_code == 404
    assert live.post(f"/api/v1/invoices/{inv['number']}/pay-online", json={},
                     headers=auth("customs")).status_code == 403
    assert live.post(f"/api/v1/invoices/{inv['number']}/pay-online",
                     json={"locale": "fr"}, headers=auth("enterprise")).status_code == 422
    bogus = live.get("/api/v1/payments/vnpay/return", params={"vnp_TxnRef": "X"})
    assert bogus.status_code == 400
    tampered_page = live.get("/sandbox/vnpay/paymentv2/vpcpay.html",
                             params={"vnp_Amount": "100", "vnp_SecureHash": "00"})
    assert tampered_page.status_code == 400


def test_an_unexpected_failure_is_answered_99_and_writes_nothing(
    client: Any, auth: Any, db: Peek, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from borderflow.fees import payments
    from borderflow.store.models import PaymentAttempt

    d = client.post("/api/v1/declarations", json=factories.declaration(),
                    headers=auth("enterprise")).json()
    inv = client.get(f"/api/v1/trips/{d['reference']}-1/invoice",
                     headers=auth("enterprise")).json()
    started = client.post(f"/api/v1/invoices/{inv['number']}/pay-online", json={},
                          headers=auth("enterprise")).json()
    params = _signed({"vnp_Amount": str(inv["due"] * 100), "vnp_ResponseCode": "00",
                      "vnp_TmnCode": settings.vnpay_tmn_code, "vnp_TransactionNo": "1",
                      "vnp_TransactionStatus": "00", "vnp_TxnRef": started["txn_ref"],
                      "vnp_PayDate": "20261123081500"},
                     config.secret(settings.vnpay_hash_secret) or "")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(payments, "record_online", broken)
    assert client.get(IPN, params=params).json() == {"RspCode": "99",
                                                     "Message": "Unknown error"}
    assert db.scalar(select(func.count()).select_from(Payment)) == 0
    attempt = db.scalar(select(PaymentAttempt).where(
        PaymentAttempt.txn_ref == started["txn_ref"]))
    assert attempt.status == "pending"  # the gateway's retry will be processed
    monkeypatch.undo()
    assert client.get(IPN, params=params).json()["RspCode"] == "00"
    assert db.scalar(select(func.count()).select_from(Payment)) == 1
