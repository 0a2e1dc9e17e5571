"""What the fees API reads: invoices with what they still owe and their payments (one query
for the payments of a whole page of invoices), invoices and payments within the caller's
scope, and receipts. Read models only; the endpoints shape them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from borderflow.domain import fees as fee_rules
from borderflow.domain.access import Principal
from borderflow.fees import invoices, payments, receipts
from borderflow.network import service as networks
from borderflow.store.models import Invoice, Payment, Trip
from borderflow.trip import service as trips

"""Invoice statuses that owe nothing, whatever was paid."""


@dataclass(frozen=True)
class InvoiceView:
    invoice: Invoice
    due: int
    """VND still owed."""
    payments: list[Payment]
    """Oldest first."""


def views(session: Session, rows: Sequence[Invoice]) -> list[InvoiceView]:
    """The invoices with what each still owes and its payments, in the order given; the
    payments of all of them in one query."""
    by_invoice: dict[int, list[Payment]] = {inv.id: [] for inv in rows}
    if by_invoice:
        for p in session.scalars(select(Payment).where(Payment.invoice_id.in_(by_invoice))
                                 .order_by(Payment.id)):
            by_invoice[p.invoice_id].append(p)
    return [InvoiceView(inv, fee_rules.owed(inv.total, inv.status,
                                            fee_rules.kept(by_invoice[inv.id])),
                        by_invoice[inv.id])
            for inv in rows]


def invoice(session: Session, invoice_id: int) -> Invoice | None:
    """An invoice by its id (as a payment or a payment attempt names it)."""
    return session.get(Invoice, invoice_id)


def view(session: Session, invoice: Invoice) -> InvoiceView:
    return views(session, [invoice])[0]


def current_view(session: Session, trip_id: str) -> InvoiceView | None:
    """The trip's latest invoice, if it has one."""
    inv = invoices.current(session, trip_id)
    return None if inv is None else view(session, inv)


def current_views(session: Session, trip_ids: Sequence[str]) -> dict[str, InvoiceView]:
    """Each trip's latest invoice (trips without one left out): two queries for them all."""
    if not trip_ids:
        return {}
    latest = select(func.max(Invoice.id)).where(Invoice.trip_id.in_(trip_ids)) \
        .group_by(Invoice.trip_id)
    rows = list(session.scalars(select(Invoice).where(Invoice.id.in_(latest))))
    return {v.invoice.trip_id: v for v in views(session, rows)}


def listed(session: Session, actor: Principal, *, now: datetime, status: str | None,
           gate: str | None, limit: int) -> list[InvoiceView]:
    """Invoices within the caller's scope, newest first."""
    network = networks.in_force_or_none(session, now)
    q = (select(Invoice).join(Trip, Trip.id == Invoice.trip_id)
         .where(trips.scope_clause(actor, network)).order_by(Invoice.id.desc()).limit(limit))
    if status:
        q = q.where(Invoice.status == status)
    if gate:
        q = q.where(Invoice.gate == gate)
    return views(session, list(session.scalars(q)))


def visible_invoice(session: Session, actor: Principal, number: str, *, now: datetime,
                    for_update: bool = False) -> Invoice:
    """An invoice by number, as a NotFound outside the caller's scope."""
    inv = invoices.by_number(session, number, for_update=for_update)
    network = networks.in_force_or_none(session, now)
    trips.get(session, inv.trip_id, actor=actor, network=network)  # 404 outside the scope
    return inv


def visible_payment(session: Session, actor: Principal, receipt: str, *, now: datetime,
                    for_update: bool = True) -> Payment:
    """A payment by receipt number, as a NotFound outside the caller's scope."""
    row = payments.by_receipt(session, receipt, for_update=for_update)
    visible_invoice(session, actor, payments.invoice_of(session, row).number, now=now)
    return row


def receipt(session: Session, payment: Payment, *, now: datetime,
            base_url: str) -> receipts.Receipt:
    """What a payment's receipt says, with the network in force naming the gate."""
    return receipts.load(session, payment, networks.in_force_or_none(session, now), base_url)


def receipt_by_token(session: Session, token: str, *, now: datetime,
                     base_url: str) -> receipts.Receipt:
    """The receipt a QR code's token names."""
    return receipt(session, receipts.by_token(session, token), now=now, base_url=base_url)
