"""Notification use cases: a caller's own notifications, marking one read, the deliveries an
admin watches and retries. Services never commit."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.domain.access import Principal, Role, declaration_scope
from borderflow.errors import Conflict, Forbidden, NotFound, msg
from borderflow.notify.channels import mask_phone
from borderflow.store import scoping
from borderflow.store.models import Notification, NotificationDelivery


def visible(actor: Principal) -> ColumnElement[bool]:
    """The notifications ``actor`` may see: regulators and admins all, a driver those to their
    document, an enterprise those to its tax code."""
    return scoping.recipient_clause(declaration_scope(actor, {}),
                                    kind_column=Notification.recipient_kind,
                                    key_column=Notification.recipient_key)


def is_recipient(actor: Principal, row: Notification) -> bool:
    if row.recipient_kind == "driver":
        return Role.DRIVER in actor.roles and actor.driver_document == row.recipient_key
    return (Role.ENTERPRISE in actor.roles and actor.enterprise_tax_code is not None
            and actor.enterprise_tax_code[:10] == row.recipient_key)


def deliveries_of(session: Session, ids: list[int]) -> dict[int, list[NotificationDelivery]]:
    out: dict[int, list[NotificationDelivery]] = defaultdict(list)
    if ids:
        for d in session.scalars(select(NotificationDelivery)
                                 .where(NotificationDelivery.notification_id.in_(ids))
                                 .order_by(NotificationDelivery.id)):
            out[d.notification_id].append(d)
    return out


def list_page(session: Session, *, actor: Principal, trip: str | None = None,
              unread: bool | None = None, kind: str | None = None, page: int = 1,
              page_size: int = 50) -> tuple[list[Notification], int]:
    """The caller's notifications, newest first."""
    query = select(Notification).where(visible(actor))
    if trip:
        key = trip.strip()
        query = query.where(or_(Notification.trip_id == key,
                                Notification.trip_reference == key.upper()))
    if unread is not None:
        query = query.where(Notification.read_at.is_(None) if unread
                            else Notification.read_at.is_not(None))
    if kind:
        query = query.where(Notification.kind == kind)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Notification.id.desc())
                           .offset((page - 1) * page_size).limit(page_size)).all()
    return list(rows), total


def mark_read(session: Session, notification_id: int, *, actor: Principal,
              now: datetime) -> Notification:
    """The recipient has seen it (a second call changes nothing)."""
    row = session.scalar(select(Notification).where(Notification.id == notification_id,
                                                    visible(actor)).with_for_update())
    if row is None:
        raise NotFound(msg("no notification {number} that you may see",
                           number=str(notification_id)))
    if not is_recipient(actor, row):
        raise Forbidden(msg("only its recipient marks a notification read"))
    if row.read_at is None:
        row.read_at = now
        session.flush()
        audit.record(session, actor=actor, action="notification.read",
                     target_type="notification", target_id=str(row.id), at=now,
                     after={"read_at": now.isoformat()})
    return row


def delivery_out(d: NotificationDelivery, n: Notification) -> dict[str, Any]:
    return {
        "id": d.id, "notification_id": n.id, "channel": d.channel, "status": d.status,
        "attempts": d.attempts, "last_error": d.last_error, "next_attempt_at": d.next_attempt_at,
        "sent_at": d.sent_at, "created_at": d.created_at, "trip": n.trip_reference,
        "event": n.event_type, "kind": n.kind, "recipient_kind": n.recipient_kind,
        "recipient_key": n.recipient_key, "phone": mask_phone(n.phone) if n.phone else None,
    }


def deliveries_page(session: Session, *, status: str | None = None, channel: str | None = None,
                    page: int = 1, page_size: int = 50) -> tuple[list[dict[str, Any]], int]:
    """Deliveries, newest first (``status=failed``: those that gave up)."""
    query = select(NotificationDelivery, Notification).join(
        Notification, Notification.id == NotificationDelivery.notification_id)
    if status:
        query = query.where(NotificationDelivery.status == status)
    if channel:
        query = query.where(NotificationDelivery.channel == channel)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(NotificationDelivery.id.desc())
                           .offset((page - 1) * page_size).limit(page_size)).all()
    return [delivery_out(d, n) for d, n in rows], total


def retry(session: Session, delivery_id: int, *, actor: Principal,
          now: datetime) -> dict[str, Any]:
    """Send a delivery again from now, with a fresh count of attempts."""
    found = session.execute(
        select(NotificationDelivery, Notification)
        .join(Notification, Notification.id == NotificationDelivery.notification_id)
        .where(NotificationDelivery.id == delivery_id)
        .with_for_update(of=NotificationDelivery)
    ).first()
    if found is None:
        raise NotFound(msg("no delivery {number}", number=str(delivery_id)))
    delivery, notification = found
    if delivery.status == "sent":
        raise Conflict(msg("delivery {number} was sent at {at}; nothing to retry",
                           number=str(delivery_id), at=delivery.sent_at),
                       code="already_sent")
    before = {"status": delivery.status, "attempts": delivery.attempts}
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = now
    session.flush()
    audit.record(session, actor=actor, action="notification_delivery.retry",
                 target_type="notification_delivery", target_id=str(delivery.id), at=now,
                 before=before, after={"status": "pending", "attempts": 0})
    return delivery_out(delivery, notification)
