"""SMS about accounts (a password reset code, a registration's outcome, a new team member's
invitation): an outbox of their own, since the trip notifications' outbox is about trips.

A message is written in the transaction of what causes it (:func:`enqueue`) and sent after
commit (:func:`send_pending`), each in short transactions of its own, through the platform's
SMS gateway (``BORDERFLOW_SMS_GATEWAY``). A message that fails stays pending and is tried
again at the next pass, at most :data:`MAX_ATTEMPTS` times."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from borderflow.domain.account import language_of
from borderflow.domain.notify import Texts
from borderflow.store.models import AccountMessage

log = structlog.get_logger("borderflow.account")

MAX_ATTEMPTS = 5


class Gateway(Protocol):
    """The SMS provider (``borderflow.notify.channels.SmsGateway``)."""

    def send(self, phone: str, text: str, *, reference: str) -> None: ...


def enqueue(session: Session, *, kind: str, phone: str, language: str | None, texts: Texts,
            now: datetime, account_id: int | None = None,
            registration_id: int | None = None) -> AccountMessage:
    """An SMS to send after commit, in the recipient's language."""
    lang = language_of(language)
    row = AccountMessage(kind=kind, account_id=account_id, registration_id=registration_id,
                         phone=phone, language=lang, text=texts.get(lang), status="pending",
                         attempts=0, last_error=None, created_at=now, sent_at=None)
    session.add(row)
    session.flush()
    return row


def _claim(factory: sessionmaker[Session], limit: int) -> list[tuple[int, int, str, str]]:
    with factory() as session:
        rows = session.scalars(select(AccountMessage).where(
            AccountMessage.status == "pending", AccountMessage.attempts < MAX_ATTEMPTS)
            .order_by(AccountMessage.id).limit(limit)).all()
        claimed = []
        for row in rows:
            taken = session.execute(
                update(AccountMessage).where(AccountMessage.id == row.id,
                                             AccountMessage.status == "pending",
                                             AccountMessage.attempts == row.attempts)
                .values(attempts=row.attempts + 1)
                .execution_options(synchronize_session=False))
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append((row.id, row.attempts + 1, row.phone, row.text))
        session.commit()
    return claimed


def send_pending(factory: sessionmaker[Session], gateway: Gateway | None, now: datetime, *,
                 limit: int = 20) -> int:
    """Send what is pending through ``gateway`` (none: the SMS channel is off, the messages
    wait); the number sent."""
    if gateway is None:
        return 0
    sent = 0
    for message_id, attempt, phone, text in _claim(factory, limit):
        error: str | None = None
        try:
            gateway.send(phone, text, reference=f"account-message-{message_id}")
        except Exception as exc:  # a failed attempt is kept and tried again
            error = (str(exc) or type(exc).__name__)[:1000]
            log.warning("account SMS not sent", message=message_id, attempt=attempt,
                        error=error)
        if error is None:
            values: dict[str, object] = {"status": "sent", "sent_at": now, "last_error": None}
            sent += 1
        else:
            values = {"last_error": error,
                      "status": "failed" if attempt >= MAX_ATTEMPTS else "pending"}
        with factory() as session:
            session.execute(update(AccountMessage).where(AccountMessage.id == message_id)
                            .values(**values).execution_options(synchronize_session=False))
            session.commit()
    return sent
