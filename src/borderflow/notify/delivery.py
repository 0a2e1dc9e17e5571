"""Sending pending deliveries after commit, each in short transactions of its own.

A pass (:func:`deliver_pending`) keeps at most ``concurrency`` messages in flight (each sent on
a thread of its own) and no transaction open while a message is being sent (a webhook that
hangs never holds a database lock):

1. **claim** a due delivery only when a place is free to send it, in one short transaction:
   each claim is a conditional update (``attempts = attempts + 1`` where ``attempts`` is still
   what was read; on PostgreSQL the rows are read ``FOR UPDATE SKIP LOCKED``, so concurrent
   senders pass each other by), so of several senders exactly one gets each delivery. The
   attempt number is the claim's fencing token: only the sender holding the current one may
   renew the lease or record the outcome. The claim moves ``next_attempt_at`` one lease ahead,
   so a sender that dies mid-send leaves the delivery to be retried when the lease runs out;
2. **send** each claimed message through its channel, outside any transaction, while the
   sender **renews the lease** of every message in flight every third of the lease: a slow
   webhook keeps its claim for as long as it takes and no other sender sends it meanwhile;
3. **record** each outcome in its own transaction: ``sent``, or another attempt after an
   exponential backoff (1, 2, 4 … minutes, at most an hour), or ``failed`` for good after
   :data:`MAX_ATTEMPTS` attempts, listed for admins.

Delivery is at least once: only a sender that stalls for longer than a whole lease (or dies
after the receiver took the message but before the outcome was recorded) lets the message
go out again, and the receiver recognises it by its idempotency key.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from borderflow.notify.channels import Message, Notifier
from borderflow.store.models import Notification, NotificationDelivery

log = structlog.get_logger("borderflow.notify")

MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
LEASE = timedelta(minutes=5)
"""How long a claimed delivery is left to its sender before another may take it."""
BATCH = 100


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 1, 2, 4, 8 … minutes, capped."""
    wait: timedelta = BACKOFF_BASE * (2 ** max(0, attempts - 1))
    return min(wait, BACKOFF_CAP)


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        return len(self.sent) + len(self.retrying) + len(self.failed)


@dataclass(frozen=True)
class _Claim:
    delivery_id: int
    channel: str
    attempt: int
    message: Message


def _claim(session_factory: sessionmaker[Session], channels: Mapping[str, Notifier],
           now: datetime, limit: int, lease: timedelta = LEASE) -> list[_Claim]:
    with session_factory() as session:
        # claims whose senders died every time: given up like failed attempts, never resent
        session.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.status == "pending",
                   NotificationDelivery.channel.in_(sorted(channels)),
                   NotificationDelivery.attempts >= MAX_ATTEMPTS,
                   NotificationDelivery.next_attempt_at <= now)
            .values(status="failed", last_error=f"no outcome after {MAX_ATTEMPTS} claims "
                                                "(each sender stopped or lost its lease)")
            .execution_options(synchronize_session=False))
        due = session.execute(
            select(NotificationDelivery, Notification)
            .join(Notification, Notification.id == NotificationDelivery.notification_id)
            .where(NotificationDelivery.status == "pending",
                   NotificationDelivery.channel.in_(sorted(channels)),
                   NotificationDelivery.next_attempt_at <= now)
            .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=NotificationDelivery)
        ).all()
        claims = []
        for delivery, notification in due:
            taken = session.execute(
                update(NotificationDelivery)
                .where(NotificationDelivery.id == delivery.id,
                       NotificationDelivery.status == "pending",
                       NotificationDelivery.attempts == delivery.attempts)
                .values(attempts=delivery.attempts + 1, next_attempt_at=now + lease)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                claims.append(_Claim(delivery.id, delivery.channel, delivery.attempts + 1,
                                     Message.of(notification)))
        session.commit()
    return claims


def _renew(session_factory: sessionmaker[Session], claims: Iterable[_Claim],
           until: datetime) -> list[int]:
    """Move the lease of each claim still held (same attempt, still pending) to ``until``;
    the deliveries whose claim was lost."""
    lost = []
    with session_factory() as session:
        for claim in claims:
            kept = session.execute(
                update(NotificationDelivery)
                .where(NotificationDelivery.id == claim.delivery_id,
                       NotificationDelivery.status == "pending",
                       NotificationDelivery.attempts == claim.attempt)
                .values(next_attempt_at=until)
                .execution_options(synchronize_session=False))
            if kept.rowcount != 1:  # type: ignore[attr-defined]
                lost.append(claim.delivery_id)
        session.commit()
    for delivery_id in lost:
        log.warning("notification lease lost while sending", delivery=delivery_id)
    return lost


def _record(session_factory: sessionmaker[Session], claim: _Claim, error: str | None,
            now: datetime) -> str:
    if error is None:
        status, values = "sent", {"status": "sent", "sent_at": now, "last_error": None}
    elif claim.attempt >= MAX_ATTEMPTS:
        status, values = "failed", {"status": "failed", "last_error": error[:1000]}
    else:
        status, values = "pending", {"next_attempt_at": now + backoff(claim.attempt),
                                     "last_error": error[:1000]}
    with session_factory() as session:
        session.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.id == claim.delivery_id,
                   NotificationDelivery.status == "pending",
                   NotificationDelivery.attempts == claim.attempt)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    return status


def _send(channels: Mapping[str, Notifier], claim: _Claim) -> str | None:
    """Send one claimed message; the error, or ``None`` when it got through."""
    try:
        channels[claim.channel].send(claim.message)
    except Exception as exc:  # any failure of a channel is a failed attempt, kept and retried
        error = str(exc) or type(exc).__name__
        log.warning("notification not delivered", delivery=claim.delivery_id,
                    channel=claim.channel, attempt=claim.attempt, error=error)
        return error
    return None


class _Pass:
    """One pass's bookkeeping: what is in flight, when leases were last renewed, the time."""

    def __init__(self, now: datetime, lease: timedelta) -> None:
        self.now = now
        self.lease = lease
        self.started = time.monotonic()
        self.renewed = self.started
        self.in_flight: dict[Future[str | None], _Claim] = {}
        self.claimed = 0
        self.exhausted = False

    def at(self) -> datetime:
        """The pass's time now: its start plus what has elapsed since (leases are measured
        from the moment they are taken or renewed)."""
        return self.now + timedelta(seconds=time.monotonic() - self.started)

    def until_renewal(self) -> float:
        return max(0.0, self.renewed + self.lease.total_seconds() / 3 - time.monotonic())


def deliver_pending(session_factory: sessionmaker[Session], channels: Mapping[str, Notifier],
                    now: datetime, *, limit: int = BATCH, concurrency: int = 1,
                    lease: timedelta = LEASE) -> DeliveryReport:
    """Send up to ``limit`` deliveries due at ``now`` on ``channels``, at most ``concurrency``
    at once; deliveries on other channels wait. Outcomes are recorded at ``now``."""
    report = DeliveryReport()
    if not channels:
        return report
    run = _Pass(now, lease)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="notify") as pool:
        while True:
            free = min(concurrency - len(run.in_flight), limit - run.claimed)
            if free > 0 and not run.exhausted:
                claims = _claim(session_factory, channels, run.at(), free, lease)
                run.claimed += len(claims)
                run.exhausted = len(claims) < free
                for claim in claims:
                    run.in_flight[pool.submit(_send, channels, claim)] = claim
            if not run.in_flight:
                return report
            done, _ = wait(run.in_flight, timeout=run.until_renewal(),
                           return_when=FIRST_COMPLETED)
            for future in done:
                claim = run.in_flight.pop(future)
                _tally(report, claim, _record(session_factory, claim, future.result(), now))
            if run.in_flight and run.until_renewal() == 0:
                _renew(session_factory, run.in_flight.values(), run.at() + lease)
                run.renewed = time.monotonic()


def _tally(report: DeliveryReport, claim: _Claim, status: str) -> None:
    if status == "sent":
        report.sent.append(claim.delivery_id)
    elif status == "failed":
        report.failed.append(claim.delivery_id)
    else:
        report.retrying.append(claim.delivery_id)
