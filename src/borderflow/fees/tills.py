"""The cashier's till: what a cashier took at the counter in a day, and the till closed with
the cash counted.

A day is a Lang Son calendar day; a cashier's takings are the counter payments (cash and bank
transfer) they recorded that day and did not void, counted and summed per method
(:func:`tally`). Closing the till stores the cash expected (the cash takings), the cash
counted and the difference (counted less expected), with the takings as they were; a till is
closed once per cashier and day, never edited, and the closing is audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.clock import LOCAL_TZ
from borderflow.domain.access import Principal, Role
from borderflow.errors import Conflict, FieldError, Forbidden, ValidationFailed, msg
from borderflow.fees.payments import COUNTER_METHODS
from borderflow.store.models import Payment, TillClosing

MAX_COUNTED = 10**12
"""VND: more cash than any till holds is a typing mistake."""


class PaymentLike(Protocol):
    @property
    def method(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def status(self) -> str: ...


def tally(payments: Iterable[PaymentLike]) -> dict[str, dict[str, int]]:
    """Count and total (VND) per counter method of the payments not voided. Pure."""
    out = {m: {"count": 0, "total": 0} for m in COUNTER_METHODS}
    for p in payments:
        if p.status == "voided" or p.method not in out:
            continue
        out[p.method]["count"] += 1
        out[p.method]["total"] += p.amount
    return out


def local_day(at: datetime) -> date:
    """The Lang Son calendar day of a moment."""
    return at.astimezone(LOCAL_TZ).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The moments a Lang Son day starts and ends (end excluded)."""
    start = datetime.combine(day, time(0), tzinfo=LOCAL_TZ)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class Till:
    """One cashier's day: the payments recorded, the takings per method, the closing."""

    cashier: str
    day: date
    payments: list[Payment] = field(default_factory=list)
    closing: TillClosing | None = None

    @property
    def takings(self) -> dict[str, dict[str, int]]:
        return tally(self.payments)

    @property
    def expected_cash(self) -> int:
        return self.takings["cash"]["total"]

    @property
    def closed(self) -> bool:
        return self.closing is not None


def _payments(session: Session, day: date, *, cashier: str | None = None,
              gates: frozenset[str] | None = None) -> list[Payment]:
    start, end = day_bounds(day)
    q = (select(Payment).where(Payment.method.in_(COUNTER_METHODS),
                               Payment.recorded_at >= start, Payment.recorded_at < end)
         .order_by(Payment.id))
    if cashier is not None:
        q = q.where(Payment.recorded_by == cashier)
    if gates:
        q = q.where(Payment.gate.in_(gates))
    return list(session.scalars(q))


def closing_of(session: Session, cashier: str, day: date) -> TillClosing | None:
    return session.scalar(select(TillClosing).where(TillClosing.cashier == cashier,
                                                    TillClosing.day == day))


def till(session: Session, cashier: str, day: date) -> Till:
    """A cashier's till for a day."""
    return Till(cashier, day, _payments(session, day, cashier=cashier),
                closing_of(session, cashier, day))


def tills(session: Session, actor: Principal, day: date) -> list[Till]:
    """The tills of a day the caller may read: a cashier their own; officials every
    cashier's (those who recorded a payment or closed their till), by name."""
    if Role.CASHIER in actor.roles and not actor.is_official:
        return [till(session, actor.username, day)]
    by_cashier: dict[str, list[Payment]] = {}
    for p in _payments(session, day):
        by_cashier.setdefault(p.recorded_by, []).append(p)
    closings = {c.cashier: c for c in session.scalars(
        select(TillClosing).where(TillClosing.day == day))}
    return [Till(name, day, by_cashier.get(name, []), closings.get(name))
            for name in sorted(set(by_cashier) | set(closings))]


def close(session: Session, day: date, counted_cash: int, note: str = "", *,
          actor: Principal, now: datetime) -> TillClosing:
    """Close the caller's till for ``day`` with the cash counted: stores expected, counted
    and the difference. Audited. A till closes once a day (409 after)."""
    if Role.CASHIER not in actor.roles:
        raise Forbidden(msg("only a cashier closes their own till"))
    errors = []
    if day > local_day(now):
        errors.append(FieldError("date", msg("is in the future")))
    if not 0 <= counted_cash <= MAX_COUNTED:
        errors.append(FieldError("counted_cash",
                                 msg("must be a whole, non-negative number of VND")))
    if len(note) > 2000:
        errors.append(FieldError("note", msg("a note of at most {count} characters", count=2000)))
    if errors:
        raise ValidationFailed(errors)
    current = till(session, actor.username, day)
    if current.closing is not None:
        raise _closed(day)
    expected = current.expected_cash
    row = TillClosing(cashier=actor.username, day=day, expected_cash=expected,
                      counted_cash=counted_cash, difference=counted_cash - expected,
                      takings=current.takings, note=note.strip(), closed_at=now)
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise _closed(day) from None
    audit.record(session, actor=actor, action="till.closed", target_type="till",
                 target_id=f"{actor.username}:{day.isoformat()}", at=now,
                 after={"expected_cash": expected, "counted_cash": counted_cash,
                        "difference": row.difference, "takings": row.takings})
    return row


def _closed(day: date) -> Conflict:
    return Conflict(msg("the till of {day} is already closed", day=day), code="till_closed")

