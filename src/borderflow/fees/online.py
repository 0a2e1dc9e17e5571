"""Online payment: start a payment at the gateway, take its server-to-server callback (IPN).

The IPN is the only thing that changes money state for online payments. It is checked in the
gateway's order and answered with the gateway's codes:

1. ``97`` the signature does not verify (or the merchant code is not ours);
2. ``01`` no payment was started with that order reference;
3. ``04`` the amount is not the one the payment was started with;
4. ``02`` the order was already confirmed (a repeated or replayed callback: nothing changes,
   the same answer every time);
5. ``00`` confirmed: a successful payment is recorded (receipt, invoice paid, fee step), a
   failed one closes the attempt;
6. ``99`` anything unexpected (nothing is written).

Every callback is kept as received, with our answer.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow.domain.access import Principal, Role
from borderflow.errors import Conflict
from borderflow.fees import invoices, payments
from borderflow.fees.gateway import IPN_MESSAGES, PaymentGateway, expiry
from borderflow.store.models import GatewayCallback, Invoice, Payment, PaymentAttempt

log = structlog.get_logger("borderflow.fees")

GATEWAY_ACTOR = Principal(id=None, username="payment-gateway", kind="client",
                          roles=frozenset({Role.CASHIER}))
"""The gateway, as the actor of the payments its callbacks record."""


def start(session: Session, invoice: Invoice, gateway: PaymentGateway, *, actor: Principal,
          return_url: str, ip: str, now: datetime, locale: str = "vn"
          ) -> tuple[PaymentAttempt, str]:
    """A payment attempt for what the invoice owes now, and the URL to send the payer to."""
    owed = invoices.due(session, invoice)
    if invoice.status != "open" or owed <= 0:
        raise Conflict(f"invoice {invoice.number} is {invoice.status}; nothing is owed",
                       code="nothing_owed")
    txn_ref = f"{invoice.number.replace('-', '')}{secrets.token_hex(4).upper()}"
    attempt = PaymentAttempt(txn_ref=txn_ref, invoice_id=invoice.id, gateway=gateway.name,
                             amount=owed, status="pending", created_by=actor.username,
                             created_at=now)
    session.add(attempt)
    session.flush()
    url = gateway.payment_url(
        txn_ref=txn_ref, amount=owed, return_url=return_url, ip=ip, created_at=now,
        expires_at=expiry(now), locale=locale,
        order_info=f"Phi ha tang cua khau {invoice.number} xe {invoice.plate}")
    return attempt, url


def _answer(code: str) -> dict[str, str]:
    return {"RspCode": code, "Message": IPN_MESSAGES[code]}


def _decide(session: Session, gateway: PaymentGateway, params: Mapping[str, str],
            now: datetime) -> str:
    cb = gateway.parse_callback(params)
    if not cb.signed:
        return "97"
    attempt = session.get(PaymentAttempt, cb.txn_ref, with_for_update=True) if cb.txn_ref \
        else None
    if attempt is None or attempt.gateway != gateway.name:
        return "01"
    if cb.amount != attempt.amount:
        return "04"
    if attempt.status != "pending":
        return "02"
    attempt.response_code = cb.response_code
    attempt.completed_at = now
    if not cb.success:
        attempt.status = "failed"
        return "00"
    attempt.status = "succeeded"
    invoice = session.get(Invoice, attempt.invoice_id, with_for_update=True)
    if invoice is None:
        return "99"
    payments.record_online(session, invoice, amount=attempt.amount, txn_ref=attempt.txn_ref,
                           gateway=gateway.name, transaction_no=cb.transaction_no,
                           bank_code=cb.bank_code, paid_at=cb.paid_at or now,
                           actor=GATEWAY_ACTOR, now=now)
    return "00"


def handle_ipn(session: Session, gateway: PaymentGateway, params: Mapping[str, str], *,
               now: datetime, remote: str | None) -> dict[str, str]:
    """Process one IPN in its own transaction (commits) and answer it; never raises."""
    try:
        code = _decide(session, gateway, params, now)
        if code not in ("00",):
            session.rollback()  # nothing but the log is written for a refused callback
    except Exception:  # the gateway must get an answer, whatever went wrong
        log.exception("payment callback failed", gateway=gateway.name)
        session.rollback()
        code = "99"
    session.add(GatewayCallback(gateway=gateway.name, txn_ref=str(params.get("vnp_TxnRef"))[:60]
                                if params.get("vnp_TxnRef") else None,
                                params=dict(params), answer=code, received_at=now,
                                remote=remote))
    session.commit()
    log.info("payment callback", gateway=gateway.name, answer=code,
             txn_ref=params.get("vnp_TxnRef"))
    return _answer(code)


def attempt_status(session: Session, txn_ref: str) -> PaymentAttempt | None:
    return session.get(PaymentAttempt, txn_ref)


def payment_of_attempt(session: Session, txn_ref: str) -> Payment | None:
    return session.scalar(select(Payment).where(Payment.txn_ref == txn_ref))
