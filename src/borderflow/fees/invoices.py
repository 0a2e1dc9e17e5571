"""Invoices: one per trip, an estimate at declaration and final at gate entry.

The amount comes from the tariff in force at the time (:func:`borderflow.domain.fees.assess`):
when the trip is declared for the estimate, when it enters the gate area for the final amount.
The invoice's status follows from its total and the money received (:func:`status_of`); every
change of it is mirrored on the trip as a ``fee.*`` event, so the trip's fee step passes only
when the invoice is paid or waived.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.domain import fees as fee_rules
from borderflow.domain import trip as domain
from borderflow.domain.access import Principal
from borderflow.domain.fees import Assessment, NoRate, Tariff, assess
from borderflow.errors import Conflict, FieldError, NotFound, ValidationFailed, msg
from borderflow.fees import tariffs
from borderflow.store.models import Invoice, Payment, Trip
from borderflow.trip import service as trips
from borderflow.trip.events import TripChange

log = structlog.get_logger("borderflow.fees")

def assess_trip(tariff: Tariff, state: dict[str, Any]) -> Assessment:
    facts = state["facts"]
    return assess(tariff, payload_tonnes=Decimal(str(facts["payload_tonnes"])),
                  container=facts.get("container") or "none",
                  goods_groups=facts.get("goods_groups") or [], regime=state["direction"],
                  flow=state["flow"], procedure=state["procedure"]["code"])


def received(session: Session, invoice: Invoice) -> int:
    """Money kept for the invoice (:func:`borderflow.domain.fees.kept`)."""
    return fee_rules.kept(session.scalars(select(Payment).where(
        Payment.invoice_id == invoice.id)))


def status_of(total: int, kept: int, *, waived: bool, void: bool, refunded: bool,
              still_needed: bool = True) -> str:
    """An invoice's status from its total and the money kept for it. Money given back in full
    makes it ``refunded`` once the trip no longer needs the fee (cancelled, rejected or past
    its fee); while the trip is under way the fee is simply owed again (``open``)."""
    if void:
        return "void"
    if waived:
        return "waived"
    if kept >= total:
        return "paid"
    if refunded and kept == 0 and not still_needed:
        return "refunded"
    return "open"


def fee_still_needed(trip: Trip | None) -> bool:
    """Whether the trip can still pay its fee: not cancelled or rejected, and the steps that
    need the fee (crossing, exit) not passed yet."""
    if trip is None or trip.status in domain.TERMINAL or trip.status == "completed":
        return False
    fee_step = next((d for d in trip.state["procedure"]["steps"] if d["kind"] == "fee"), None)
    if fee_step is None:
        return False
    needs = domain.dependents(trip.state, fee_step["code"])
    return not any(trip.state["steps"][d]["status"] == "passed" for d in needs)


def due(session: Session, invoice: Invoice) -> int:
    """What is still owed (0 when settled, waived, void or refunded)."""
    if invoice.status in fee_rules.UNOWED:
        return 0
    return fee_rules.owed(invoice.total, invoice.status, received(session, invoice))


def _refunded(session: Session, invoice: Invoice) -> bool:
    return session.scalar(select(Payment.id).where(
        Payment.invoice_id == invoice.id, Payment.refunded_amount.is_not(None)).limit(1)
    ) is not None


def current(session: Session, trip_id: str) -> Invoice | None:
    return session.scalar(select(Invoice).where(Invoice.trip_id == trip_id)
                          .order_by(Invoice.id.desc()).limit(1))


def by_number(session: Session, number: str, *, for_update: bool = False) -> Invoice:
    q = select(Invoice).where(Invoice.number == number.strip().upper())
    if for_update:
        q = q.with_for_update()
    row = session.scalar(q)
    if row is None:
        raise NotFound(msg("no invoice '{number}'", number=number))
    return row


def _mirror(session: Session, trip: Trip, invoice: Invoice, *, actor: Principal, now: datetime,
            assessed: bool) -> None:
    """Tell the trip what it owes: a fee.assessed event on a new amount, fee.settled or
    fee.unsettled when the status crosses between owed and settled."""
    if trip.status in domain.TERMINAL:
        return
    fee = trip.state.get("fee")
    settled_now = invoice.status in domain.FEE_SETTLED
    if assessed or not fee or fee["invoice"] != invoice.number:
        trips.append_event(session, trip, domain.Event(
            "fee.assessed", now, actor.username,
            {"invoice": invoice.number, "stage": invoice.stage, "total": invoice.total,
             "status": invoice.status}), actor=actor, source="system", now=now)
        return
    settled_before = fee["status"] in domain.FEE_SETTLED
    if settled_now and not settled_before:
        trips.append_event(session, trip, domain.Event(
            "fee.settled", now, actor.username,
            {"invoice": invoice.number, "how": invoice.status}),
            actor=actor, source="system", now=now)
    elif settled_before and not settled_now:
        trips.append_event(session, trip, domain.Event(
            "fee.unsettled", now, actor.username,
            {"invoice": invoice.number, "status": invoice.status}),
            actor=actor, source="system", now=now)


def refresh(session: Session, invoice: Invoice, *, actor: Principal, now: datetime,
            trip: Trip | None = None) -> str:
    """Recompute the invoice's status from the money kept and tell its trip."""
    before = invoice.status
    row = trip or session.get(Trip, invoice.trip_id)
    status = status_of(invoice.total, received(session, invoice),
                       waived=invoice.waived_by is not None,
                       void=invoice.void_reason is not None,
                       refunded=_refunded(session, invoice),
                       still_needed=fee_still_needed(row))
    if status != before:
        invoice.status = status
        invoice.version += 1
        if status in ("paid", "waived") and invoice.settled_at is None:
            invoice.settled_at = now
        if status == "open":
            invoice.settled_at = None
        session.flush()
    if row is not None:
        _mirror(session, row, invoice, actor=actor, now=now, assessed=False)
    return status


def _assessment(session: Session, trip: Trip, at: datetime) -> Assessment | None:
    found = tariffs.in_force_or_none(session, at)
    if found is None:
        log.warning("no tariff in force; trip not invoiced", trip=trip.reference)
        return None
    try:
        return assess_trip(found[1], trip.state)
    except NoRate as exc:
        log.warning("no rate for trip", trip=trip.reference, reason=str(exc))
        return None


def _apply(invoice: Invoice, a: Assessment) -> None:
    invoice.total = a.total
    invoice.lines = [asdict(line) for line in a.lines]
    invoice.tariff_version = a.tariff_version
    invoice.vehicle_category = a.vehicle_category
    invoice.goods_class = a.goods_class


def estimate(session: Session, trip: Trip, *, actor: Principal, now: datetime
             ) -> Invoice | None:
    """The invoice of a newly declared trip, or its estimate updated after an amendment or a
    re-route (only while open and not final)."""
    a = _assessment(session, trip, now)
    if a is None:
        return None
    facts = trip.state["facts"]
    invoice = current(session, trip.id)
    if invoice is not None:
        if invoice.stage == "final" or invoice.status != "open":
            return invoice
        before = (invoice.total, invoice.gate)
        _apply(invoice, a)
        invoice.gate = trip.gate
        invoice.plate = facts["plate"]
        if (invoice.total, invoice.gate) == before:
            return invoice
        invoice.version += 1
        session.flush()
        _mirror(session, trip, invoice, actor=actor, now=now, assessed=True)
        return invoice
    invoice = Invoice(number=f"TMP-{uuid.uuid4().hex[:20]}", trip_id=trip.id,
                      trip_reference=trip.reference, gate=trip.gate, direction=trip.flow,
                      enterprise_tax_code=facts["enterprise_tax_code"], plate=facts["plate"],
                      stage="estimate", status="open", currency="VND", created_at=now,
                      total=0, lines=[], tariff_version="", vehicle_category="", goods_class="")
    _apply(invoice, a)
    session.add(invoice)
    session.flush()
    invoice.number = f"INV-{now.year}-{invoice.id:07d}"
    session.flush()
    audit.record(session, actor=actor, action="invoice.created", target_type="invoice",
                 target_id=invoice.number, at=now,
                 after={"trip": trip.reference, "total": invoice.total, "stage": "estimate",
                        "tariff": invoice.tariff_version})
    _mirror(session, trip, invoice, actor=actor, now=now, assessed=True)
    return invoice


def finalise(session: Session, trip: Trip, *, actor: Principal, now: datetime
             ) -> Invoice | None:
    """The final amount, with the tariff in force as the trip enters the gate area. Money
    already received counts: if the final amount is higher, the rest is owed; if lower, the
    difference is for the regulator to refund."""
    invoice = current(session, trip.id)
    if invoice is None:
        invoice = estimate(session, trip, actor=actor, now=now)
        if invoice is None:
            return None
    if invoice.stage == "final" or invoice.status in ("waived", "void"):
        return invoice
    a = _assessment(session, trip, now)
    if a is None:
        return invoice
    before = {"total": invoice.total, "tariff": invoice.tariff_version}
    _apply(invoice, a)
    invoice.stage = "final"
    invoice.finalised_at = now
    invoice.version += 1
    session.flush()
    audit.record(session, actor=actor, action="invoice.finalised", target_type="invoice",
                 target_id=invoice.number, at=now, before=before,
                 after={"total": invoice.total, "tariff": invoice.tariff_version})
    invoice.status = status_of(invoice.total, received(session, invoice), waived=False,
                               void=False, refunded=_refunded(session, invoice))
    session.flush()
    _mirror(session, trip, invoice, actor=actor, now=now, assessed=True)
    return invoice


def void_if_unpaid(session: Session, trip: Trip, reason: str, *, actor: Principal,
                   now: datetime) -> None:
    """A cancelled trip's open invoice with nothing received is void; money received stays
    until a regulator refunds it."""
    invoice = current(session, trip.id)
    if invoice is None or invoice.status != "open" or received(session, invoice) > 0:
        return
    invoice.void_reason = reason
    invoice.status = "void"
    invoice.version += 1
    session.flush()
    audit.record(session, actor=actor, action="invoice.voided", target_type="invoice",
                 target_id=invoice.number, at=now, after={"reason": reason})


def waive(session: Session, invoice: Invoice, reason: str, *, actor: Principal,
          now: datetime) -> Invoice:
    """A regulator waives what is owed (with a reason): the fee step can pass."""
    if invoice.status != "open":
        raise Conflict(msg("invoice {number} is {invoice_status}; only an open invoice can be "
                           "waived", number=invoice.number, invoice_status=invoice.status),
                       code="invoice_not_open")
    if len(reason.strip()) < 3:
        raise ValidationFailed([FieldError("reason", msg("say why the fee is waived"))])
    invoice.waived_by = actor.username
    invoice.waiver_reason = reason.strip()
    refresh(session, invoice, actor=actor, now=now)
    audit.record(session, actor=actor, action="invoice.waived", target_type="invoice",
                 target_id=invoice.number, at=now, before={"status": "open"},
                 after={"status": invoice.status, "reason": invoice.waiver_reason})
    return invoice


def after_trip_change(change: TripChange) -> None:
    """Trip handler (after the event): a new trip's invoice, then kept in step with the trip."""
    if change.before is None:
        estimate(change.session, change.row, actor=change.actor, now=change.now)
    else:
        on_trip_change(change.session, change.row, change.before, change.event,
                       actor=change.actor, now=change.now)


def on_trip_change(session: Session, trip: Trip, before: Mapping[str, Any], event: domain.Event,
                   *, actor: Principal, now: datetime) -> None:
    """Keep the trip's invoice in step with the trip (called after each trip event)."""
    if event.type.startswith("fee."):
        return
    state = trip.state
    if state["status"] == "cancelled" and before["status"] != "cancelled":
        void_if_unpaid(session, trip, f"trip cancelled: {event.payload.get('reason', '')}",
                       actor=actor, now=now)
    elif ("gate_area_entered" in state["milestones"]
          and "gate_area_entered" not in before["milestones"]):
        finalise(session, trip, actor=actor, now=now)
    elif event.type in ("trip.amended", "trip.rerouted"):
        estimate(session, trip, actor=actor, now=now)
