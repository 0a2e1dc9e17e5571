"""Sending pending deliveries after commit, each in short transactions of its own.

A pass (:func:`deliver_pending`) works in three steps so that no transaction is open while a
message is being sent (a webhook that hangs never holds a database lock):

1. **claim** the due deliveries in one short transaction: each claim is a conditional update
   (``attempts = attempts + 1`` where ``attempts`` is still what was read), so of several senders
   (API workers on PostgreSQL) exactly one gets each delivery; the claim also moves
   ``next_attempt_at`` past a lease, so a sender that dies mid-send leaves the delivery to be
   retried when the lease runs out;
2. **send** each claimed message through its channel, outside any transaction;
3. **record** each outcome in its own transaction: ``sent``, or another attempt after an
   exponential backoff (1, 2, 4 … minutes, at most an hour), or ``failed`` for good after
   :data:`MAX_ATTEMPTS` attempts, listed for admins.

Delivery is at least once: a receiver may see a message twice (after a lease ran out) and
recognises it by its idempotency key.
"""

from __future__ import annotations

from collections.abc import Mapping
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
           now: datetime, limit: int) -> list[_Claim]:
    with session_factory() as session:
        due = session.execute(
            select(NotificationDelivery, Notification)
            .join(Notification, Notification.id == NotificationDelivery.notification_id)
            .where(NotificationDelivery.status == "pending",
                   NotificationDelivery.channel.in_(sorted(channels)),
                   NotificationDelivery.next_attempt_at <= now)
            .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
            .limit(limit)
        ).all()
        claims = []
        for delivery, notification in due:
            taken = session.execute(
                update(NotificationDelivery)
                .where(NotificationDelivery.id == delivery.id,
                       NotificationDelivery.status == "pending",
                       NotificationDelivery.attempts == delivery.attempts)
                .values(attempts=delivery.attempts + 1, next_attempt_at=now + LEASE)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                claims.append(_Claim(delivery.id, delivery.channel, delivery.attempts + 1,
                                     Message.of(notification)))
        session.commit()
    return claims


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


def deliver_pending(session_factory: sessionmaker[Session], channels: Mapping[str, Notifier],
                    now: datetime, *, limit: int = BATCH) -> DeliveryReport:
    """Send the deliveries due at ``now`` on ``channels``; deliveries on other channels wait."""
    report = DeliveryReport()
    if not channels:
        return report
    for claim in _claim(session_factory, channels, now, limit):
        error: str | None = None
        try:
            channels[claim.channel].send(claim.message)
        except Exception as exc:  # any failure of a channel is a failed attempt, kept and retried
            error = str(exc) or type(exc).__name__
            log.warning("notification not delivered", delivery=claim.delivery_id,
                        channel=claim.channel, attempt=claim.attempt, error=error)
        status = _record(session_factory, claim, error, now)
        if status == "sent":
            report.sent.append(claim.delivery_id)
        elif status == "failed":
            report.failed.append(claim.delivery_id)
        else:
            report.retrying.append(claim.delivery_id)
    return report
