"""Reconciliation with a gateway's statement, and the daily revenue summary."""

from __future__ import annotations

import csv
import hashlib
import io
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.clock import LOCAL_TZ
from borderflow.domain.access import Principal
from borderflow.domain.fees import Entry, reconcile
from borderflow.errors import FieldError, NotFound, ValidationFailed, msg
from borderflow.fees.gateway import parse_vnp_time
from borderflow.fees.sandbox import STATEMENT_COLUMNS
from borderflow.store.models import Invoice, Payment, Reconciliation

MAX_STATEMENT_BYTES = 20 * 1024 * 1024


def local_day_window(first: date, last: date) -> tuple[datetime, datetime]:
    """[first 00:00, last + 1 day 00:00) in Lang Son time."""
    start = datetime.combine(first, time(0), tzinfo=LOCAL_TZ)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=LOCAL_TZ)
    return start, end


def parse_statement(data: bytes) -> list[tuple[Entry, date]]:
    """The statement's rows, or a 422 naming every bad line (nothing is imported then)."""
    if len(data) > MAX_STATEMENT_BYTES:
        raise ValidationFailed([FieldError("file", msg("larger than {size} MB", size=20))])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed([FieldError("file", msg("is not UTF-8 text"))]) from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in STATEMENT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationFailed([FieldError("file", msg(
            "missing columns: {columns} (expected {known})", columns=missing,
            known=list(STATEMENT_COLUMNS)))])
    rows: list[tuple[Entry, date]] = []
    errors: list[FieldError] = []
    for line, row in enumerate(reader, start=2):
        ref = (row.get("txn_ref") or "").strip()
        amount, refunded = (row.get("amount") or "").strip(), (row.get("refunded") or "0").strip()
        paid = parse_vnp_time((row.get("pay_date") or "").strip())
        problems = []
        if not ref:
            problems.append(msg("txn_ref is empty"))
        if not amount.isdigit():
            problems.append(msg("amount '{value}' is not a whole number of VND", value=amount))
        if not (refunded or "0").isdigit():
            problems.append(msg("refunded '{value}' is not a whole number of VND",
                                value=refunded))
        if paid is None:
            problems.append(msg("pay_date is not yyyyMMddHHmmss"))
        if problems or paid is None:
            errors += [FieldError(f"file.line{line}", p) for p in problems]
            continue
        rows.append((Entry(ref, int(amount), int(refunded or 0),
                           (row.get("transaction_no") or "").strip()), paid.date()))
    if errors:
        lines = len({e.field for e in errors})
        raise ValidationFailed(errors[:50], message=msg(
            "{count} lines of the statement are invalid; nothing was imported", count=lines))
    return rows


def run(session: Session, data: bytes, filename: str, first: date, last: date, *,
        gateway: str, actor: Principal, now: datetime) -> Reconciliation:
    if last < first:
        raise ValidationFailed([FieldError("to", msg("must not be before from"))])
    if (last - first).days > 92:
        raise ValidationFailed([FieldError("to", msg("a statement covers at most {days} days",
                                                     days=93))])
    rows = parse_statement(data)
    theirs = [e for e, day in rows if first <= day <= last]
    start, end = local_day_window(first, last)
    ours = [Entry(p.txn_ref or "", p.amount, p.refunded_amount or 0,
                  p.gateway_transaction_no or "")
            for p in session.scalars(select(Payment).where(
                Payment.method == "online", Payment.gateway == gateway,
                Payment.paid_at >= start, Payment.paid_at < end))]
    report: dict[str, Any] = reconcile(theirs, ours)
    report["summary"] = {k: len(v) for k, v in report.items()}
    report["summary"]["statement_rows"] = len(theirs)
    report["summary"]["outside_period"] = len(rows) - len(theirs)
    row = Reconciliation(gateway=gateway, filename=filename[:200],
                         sha256=hashlib.sha256(data).hexdigest(), period_from=first,
                         period_to=last, report=report, imported_by=actor.username,
                         imported_at=now)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="reconciliation.run", target_type="reconciliation",
                 target_id=str(row.id), at=now,
                 after={"filename": row.filename, "sha256": row.sha256,
                        "period": [first.isoformat(), last.isoformat()],
                        "summary": report["summary"]})
    return row


def get(session: Session, rid: int) -> Reconciliation:
    row = session.get(Reconciliation, rid)
    if row is None:
        raise NotFound(msg("no reconciliation {number}", number=str(rid)))
    return row


def daily_revenue(session: Session, day: date, gates: frozenset[str] | None = None
                  ) -> dict[str, Any]:
    """Fee revenue of one day (Lang Son time): money kept (payments less refunds, voided
    entries left out), by gate, vehicle category and payment method, with counts."""
    start, end = local_day_window(day, day)
    q = (select(Payment, Invoice.vehicle_category)
         .join(Invoice, Invoice.id == Payment.invoice_id)
         .where(Payment.paid_at >= start, Payment.paid_at < end, Payment.status != "voided"))
    if gates:
        q = q.where(Payment.gate.in_(gates))
    by: dict[str, dict[str, dict[str, int]]] = {
        "gate": defaultdict(lambda: {"payments": 0, "amount": 0}),
        "vehicle_category": defaultdict(lambda: {"payments": 0, "amount": 0}),
        "method": defaultdict(lambda: {"payments": 0, "amount": 0}),
    }
    total = {"payments": 0, "amount": 0, "refunded": 0}
    for payment, category in session.execute(q).all():
        kept = payment.amount - (payment.refunded_amount or 0)
        for key, value in (("gate", payment.gate), ("vehicle_category", category),
                           ("method", payment.method)):
            by[key][value]["payments"] += 1
            by[key][value]["amount"] += kept
        total["payments"] += 1
        total["amount"] += kept
        total["refunded"] += payment.refunded_amount or 0
    return {"date": day.isoformat(), "currency": "VND", "total": total,
            **{f"by_{k}": dict(sorted(v.items())) for k, v in by.items()}}
