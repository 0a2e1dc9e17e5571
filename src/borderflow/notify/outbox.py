"""The outbox: notifications written in the same transaction as the trip event that causes
them, so they commit or roll back with it and are never lost.

The trip service calls :func:`enqueue` after every event it appends; which events notify whom
is decided by the pure :func:`borderflow.domain.notify.notices_for`. Each notification gets one
pending delivery per channel that applies to it among the channels the application sends on
(carried by its sessions, see :func:`bind_channels`). Nothing is sent here: the sender does
that after commit, in its own transactions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from borderflow.domain import notify as notices
from borderflow.domain.access import Principal
from borderflow.domain.trip import Event
from borderflow.network import service as networks
from borderflow.store.models import Notification, NotificationDelivery, Trip
from borderflow.trip.events import TripChange

CHANNELS_INFO = "borderflow.notify_channels"
DEFAULT_CHANNELS: tuple[str, ...] = ("in_app", "sms")


def bind_channels(factory: sessionmaker[Session], channels: Iterable[str]) -> None:
    """Sessions from ``factory`` create deliveries on ``channels`` (the application's setting);
    sessions without it use :data:`DEFAULT_CHANNELS`."""
    factory.configure(info={CHANNELS_INFO: tuple(channels)})


def channels_for(notice: notices.Notice, enabled: Iterable[str]) -> list[str]:
    """In the app always; SMS when a phone is known; the webhook for enterprises."""
    wanted = set(enabled)
    out = []
    if "in_app" in wanted:
        out.append("in_app")
    if "sms" in wanted and notice.phone:
        out.append("sms")
    if "webhook" in wanted and notice.recipient == "enterprise":
        out.append("webhook")
    return out


def after_trip_change(change: TripChange) -> None:
    """Trip handler (after each event on an existing trip; a trip's creation notifies no
    one): the notifications the event gives rise to."""
    if change.before is not None:
        enqueue(change.session, change.row, change.event, actor=change.actor,
                before=change.before, now=change.now)


def enqueue(session: Session, row: Trip, event: Event, *, actor: Principal | None = None,
            before: Mapping[str, Any] | None = None, now: datetime) -> list[Notification]:
    """Add the notifications (and their pending deliveries) that ``event``, just applied to
    ``row``, gives rise to. Cheap for events that notify no one."""
    if event.type not in notices.NOTIFYING:
        return []
    network = networks.in_force_or_none(session, now)
    found = notices.notices_for(event, before, row.state, actor=actor, network=network)
    if not found:
        return []
    return _store(session, row, row.version, event.type, found, now=now)


def _store(session: Session, row: Trip, seq: int, event_type: str,
           found: list[notices.Notice], *, now: datetime) -> list[Notification]:
    enabled = session.info.get(CHANNELS_INFO, DEFAULT_CHANNELS)
    added = []
    for notice in found:
        record = Notification(
            trip_id=row.id, trip_reference=row.reference, event_seq=seq,
            event_type=event_type, kind=notice.kind, recipient_kind=notice.recipient,
            recipient_key=notice.key, phone=notice.phone, language=notice.language,
            message_vi=notice.text.vi, message_en=notice.text.en, message_zh=notice.text.zh,
            payload=notice.payload, created_at=now,
        )
        session.add(record)
        added.append((record, notice))
    session.flush()
    for record, notice in added:
        for channel in channels_for(notice, enabled):
            session.add(NotificationDelivery(
                notification_id=record.id, channel=channel, status="pending", attempts=0,
                next_attempt_at=now, created_at=now,
            ))
    return [record for record, _ in added]


def enqueue_control(session: Session, row: Trip, control: notices.Control,
                    queued: notices.Queued, *, now: datetime) -> list[Notification]:
    """Tell a waiting truck's driver that ``control`` moved its expected call (the notices of
    :func:`borderflow.domain.notify.control_notices`), once: filed under the control's own
    sequence number for the trip, so applying or re-applying the control never tells twice."""
    seq = notices.control_seq(control.id)
    if session.scalar(select(Notification.id).where(
            Notification.trip_id == row.id, Notification.event_seq == seq).limit(1)) is not None:
        return []
    network = networks.in_force_or_none(session, now)
    found = notices.control_notices(control, queued, row.state, network=network)
    return _store(session, row, seq, f"gate_control.{control.kind}", found, now=now)
