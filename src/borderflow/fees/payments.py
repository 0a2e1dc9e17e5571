"""Payments: money received for an invoice, never edited.

Cashiers record cash and bank-transfer payments at their gates; online payments are recorded
by the gateway's server-to-server callback. A wrong entry is voided (with a reason) and a new
one recorded; a refund is recorded on the payment it gives back. Every change re-derives the
invoice's status and tells the trip.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.domain.access import Principal, Role
from borderflow.errors import Conflict, FieldError, NotFound, ValidationFailed, msg
from borderflow.fees import invoices
from borderflow.fees.gateway import PaymentGateway
from borderflow.store.models import Invoice, Payment

COUNTER_METHODS = ("cash", "bank_transfer")


def _may_act_at(actor: Principal, gate: str) -> bool:
    """A cashier works at the gates of their scope; regulators and admins anywhere."""
    if actor.roles & {Role.REGULATOR, Role.ADMIN}:
        return True
    return Role.CASHIER in actor.roles and (not actor.gate_scope or gate in actor.gate_scope)


def _new_payment(session: Session, invoice: Invoice, *, method: str, amount: int,
                 paid_at: datetime, actor: Principal, now: datetime,
                 reference: str | None = None, gateway: str | None = None,
                 txn_ref: str | None = None, transaction_no: str | None = None,
                 bank_code: str | None = None, corrects: Payment | None = None) -> Payment:
    row = Payment(receipt_number=f"TMP-{uuid.uuid4().hex[:20]}", invoice_id=invoice.id,
                  method=method, amount=amount, status="completed", gate=invoice.gate,
                  gateway=gateway, txn_ref=txn_ref, gateway_transaction_no=transaction_no,
                  bank_code=bank_code, reference=reference, paid_at=paid_at,
                  recorded_by=actor.username, recorded_at=now,
                  corrects_id=corrects.id if corrects else None,
                  verify_token=secrets.token_urlsafe(18))
    session.add(row)
    session.flush()
    row.receipt_number = f"BL-{paid_at.year}-{row.id:07d}"
    session.flush()
    audit.record(session, actor=actor, action="payment.recorded", target_type="payment",
                 target_id=row.receipt_number, at=now,
                 after={"invoice": invoice.number, "method": method, "amount": amount,
                        "reference": reference, "txn_ref": txn_ref,
                        "corrects": corrects.receipt_number if corrects else None})
    invoices.refresh(session, invoice, actor=actor, now=now)
    return row


def record_counter(session: Session, invoice: Invoice, *, method: str, amount: int,
                   reference: str | None, paid_at: datetime | None, actor: Principal,
                   now: datetime, corrects: Payment | None = None) -> Payment:
    """A cash or bank-transfer payment taken at a counter: the amount owed, in full."""
    if not _may_act_at(actor, invoice.gate):
        raise NotFound(msg("no invoice '{number}' that you may see", number=invoice.number))
    errors = []
    if method not in COUNTER_METHODS:
        errors.append(FieldError("method", msg("one of {method}",
                                              method=["cash", "bank_transfer"])))
    if method == "bank_transfer" and not (reference or "").strip():
        errors.append(FieldError("reference", msg("a bank transfer needs the bank's reference")))
    when = paid_at or now
    if when > now + timedelta(minutes=5):
        errors.append(FieldError("paid_at", msg("is in the future")))
    owed = invoices.due(session, invoice)
    if invoice.status in ("void", "waived", "refunded") or (owed == 0 and corrects is None):
        raise Conflict(msg("invoice {number} is {invoice_status}; nothing is owed",
                           number=invoice.number, invoice_status=invoice.status),
                       code="nothing_owed")
    if corrects is None and amount != owed:
        errors.append(FieldError("amount", msg("must be the amount owed: {amount} VND",
                                              amount=owed)))
    if errors:
        raise ValidationFailed(errors)
    return _new_payment(session, invoice, method=method, amount=amount, paid_at=when,
                        actor=actor, now=now, reference=(reference or "").strip() or None,
                        corrects=corrects)


def record_online(session: Session, invoice: Invoice, *, amount: int, txn_ref: str,
                  gateway: str, transaction_no: str | None, bank_code: str | None,
                  paid_at: datetime, actor: Principal, now: datetime) -> Payment:
    """A payment the gateway confirmed. Money taken is a fact: it is recorded even if the
    invoice was settled meanwhile (the overpayment then shows for a refund)."""
    return _new_payment(session, invoice, method="online", amount=amount, paid_at=paid_at,
                        actor=actor, now=now, gateway=gateway, txn_ref=txn_ref,
                        transaction_no=transaction_no, bank_code=bank_code)


def by_receipt(session: Session, number: str, *, for_update: bool = False) -> Payment:
    q = select(Payment).where(Payment.receipt_number == number.strip().upper())
    if for_update:
        q = q.with_for_update()
    row = session.scalar(q)
    if row is None:
        raise NotFound(msg("no payment '{number}'", number=number))
    return row


def void(session: Session, payment: Payment, reason: str, *, actor: Principal,
         now: datetime) -> Payment:
    """Cancel a wrong counter entry (the money was not taken, or not like that). Online
    payments are not voided: they are refunded."""
    if not _may_act_at(actor, payment.gate):
        raise NotFound(msg("no payment '{number}' that you may see",
                           number=payment.receipt_number))
    if payment.method not in COUNTER_METHODS:
        raise Conflict(msg("an online payment cannot be voided; refund it"),
                       code="not_voidable")
    if payment.status != "completed":
        number = payment.receipt_number
        raise Conflict(msg("payment {number} is voided", number=number)
                       if payment.status == "voided"
                       else msg("payment {number} is refunded", number=number)
                       if payment.status == "refunded"
                       else msg("payment {number} is not completed", number=number),
                       code="payment_not_completed")
    if len(reason.strip()) < 3:
        raise ValidationFailed([FieldError("reason", msg("say why the entry is wrong"))])
    payment.status = "voided"
    payment.voided_by = actor.username
    payment.voided_at = now
    payment.void_reason = reason.strip()
    session.flush()
    audit.record(session, actor=actor, action="payment.voided", target_type="payment",
                 target_id=payment.receipt_number, at=now, before={"status": "completed"},
                 after={"status": "voided", "reason": payment.void_reason})
    invoice = invoice_of(session, payment)
    invoices.refresh(session, invoice, actor=actor, now=now)
    return payment


def refund(session: Session, payment: Payment, amount: int | None, reason: str, *,
           actor: Principal, now: datetime, gateway: PaymentGateway | None = None,
           ip: str = "127.0.0.1") -> Payment:
    """Give money back (all of it by default, or part, e.g. an overpayment after the final
    amount came out lower). An online payment is refunded through its gateway first; a
    counter payment is handed back at the counter. Recorded on the payment; the invoice's
    status follows."""
    if payment.status != "completed" or payment.refunded_amount:
        number = payment.receipt_number
        raise Conflict(msg("payment {number} is voided and cannot be refunded", number=number)
                       if payment.status == "voided"
                       else msg("payment {number} has already been refunded and cannot be "
                                "refunded again", number=number)
                       if payment.status in ("completed", "refunded")
                       else msg("payment {number} is not completed and cannot be refunded",
                                number=number),
                       code="payment_not_refundable")
    invoice = invoice_of(session, payment)
    errors = []
    give = payment.amount if amount is None else amount
    if not 0 < give <= payment.amount:
        errors.append(FieldError("amount", msg("between 1 and {amount} VND",
                                              amount=payment.amount)))
    if len(reason.strip()) < 3:
        errors.append(FieldError("reason", msg("say why the money is given back")))
    if errors:
        raise ValidationFailed(errors)
    if payment.method == "online":
        if gateway is None or gateway.name != payment.gateway or not payment.txn_ref:
            raise Conflict(msg("payment {number} was made through {gateway}, which is not "
                               "configured here", number=payment.receipt_number,
                               gateway=str(payment.gateway)),
                           code="gateway_unavailable")
        result = gateway.refund(txn_ref=payment.txn_ref, amount=give,
                                full=give == payment.amount,
                                transaction_no=payment.gateway_transaction_no or "",
                                paid_at=payment.paid_at, reason=reason.strip()[:255],
                                by=actor.username, ip=ip, now=now,
                                request_id=uuid.uuid4().hex[:32])
        if not result.ok:
            raise Conflict(msg("the gateway refused the refund ({code}): {detail}",
                               code=result.code, detail=result.message),
                           code="refund_refused")
    payment.refunded_amount = give
    payment.refunded_by = actor.username
    payment.refunded_at = now
    payment.refund_reason = reason.strip()
    if give == payment.amount:
        payment.status = "refunded"
    session.flush()
    audit.record(session, actor=actor, action="payment.refunded", target_type="payment",
                 target_id=payment.receipt_number, at=now, before={"status": "completed"},
                 after={"status": payment.status, "refunded": give, "reason": reason.strip()})
    invoices.refresh(session, invoice, actor=actor, now=now)
    return payment


def invoice_of(session: Session, payment: Payment) -> Invoice:
    invoice = session.get(Invoice, payment.invoice_id)
    if invoice is None:  # a foreign key guards this
        raise NotFound(msg("payment {number} has no invoice", number=payment.receipt_number))
    return invoice


def of_invoice(session: Session, invoice: Invoice) -> list[Payment]:
    return list(session.scalars(select(Payment).where(Payment.invoice_id == invoice.id)
                                .order_by(Payment.id)))

