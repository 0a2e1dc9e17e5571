"""Browser sessions kept server-side: the cookie holds a random token (256 bits), the table
its SHA-256. A session ends at its absolute lifetime, after its idle time without a request,
or the moment it is revoked (logout, "log out everywhere", password or role change, account
disabled, second factor reset)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.account import security
from borderflow.domain.access import Principal
from borderflow.errors import NotFound, msg
from borderflow.store.models import Account, WebSession

TOUCH_SECONDS = 60
"""``last_seen_at`` is written at most once a minute per session (idle time to the minute)."""


def open_session(session: Session, account: Account, *, now: datetime, hours: int,
                 idle_minutes: int, stage: str = "full", user_agent: str = "",
                 ip: str = "") -> tuple[WebSession, str]:
    """A new session row and the token for its cookie (shown once, never stored)."""
    token = secrets.token_urlsafe(32)
    row = WebSession(account_id=account.id, token_sha256=security.digest(token), stage=stage,
                     created_at=now, last_seen_at=now, expires_at=now + timedelta(hours=hours),
                     idle_seconds=idle_minutes * 60, revoked_at=None, revoked_reason=None,
                     user_agent=user_agent[:200], ip=ip[:45])
    session.add(row)
    session.flush()
    return row, token


def alive(row: WebSession, now: datetime) -> bool:
    return (row.revoked_at is None and row.expires_at > now
            and row.last_seen_at + timedelta(seconds=row.idle_seconds) > now)


@dataclass(frozen=True)
class Found:
    row: WebSession
    account: Account
    stale: bool
    """Whether ``last_seen_at`` should be written again (see TOUCH_SECONDS)."""


def find(session: Session, token: str, *, now: datetime) -> Found | None:
    """The live session of this cookie token and its active account, else None."""
    if not token or len(token) > 100:
        return None
    row = session.scalar(select(WebSession).where(
        WebSession.token_sha256 == security.digest(token)))
    if row is None or not alive(row, now):
        return None
    account = session.get(Account, row.account_id)
    if account is None or not account.active:
        return None
    stale = (now - row.last_seen_at).total_seconds() >= TOUCH_SECONDS
    return Found(row, account, stale)


def touch(session: Session, session_id: int, *, now: datetime) -> None:
    session.execute(update(WebSession).where(WebSession.id == session_id,
                                             WebSession.revoked_at.is_(None))
                    .values(last_seen_at=now))


def live_sessions(session: Session, account_id: int, *, now: datetime) -> list[WebSession]:
    """The account's sessions still running, newest first."""
    rows = session.scalars(select(WebSession).where(
        WebSession.account_id == account_id, WebSession.revoked_at.is_(None),
        WebSession.expires_at > now).order_by(WebSession.id.desc())).all()
    return [r for r in rows if alive(r, now)]


def revoke(session: Session, row: WebSession, *, actor: Principal, now: datetime,
           reason: str) -> None:
    """End one session at once (audited)."""
    if row.revoked_at is not None:
        return
    row.revoked_at, row.revoked_reason = now, reason
    audit.record(session, actor=actor, action="session.revoke", target_type="account",
                 target_id=str(row.account_id), at=now,
                 after={"session": row.id, "reason": reason})


def revoke_own(session: Session, account_id: int, session_id: int, *, actor: Principal,
               now: datetime) -> WebSession:
    row = session.get(WebSession, session_id)
    if row is None or row.account_id != account_id:
        raise NotFound(msg("no session {number}", number=str(session_id)))
    revoke(session, row, actor=actor, now=now, reason="revoked")
    return row


def revoke_all(session: Session, account: Account, *, actor: Principal, now: datetime,
               reason: str, keep: int | None = None, tokens: bool = True) -> int:
    """End every session of an account (but ``keep``), and with ``tokens`` also every API
    token issued so far (the account's token version goes up). One audit row."""
    rows = session.scalars(select(WebSession).where(
        WebSession.account_id == account.id, WebSession.revoked_at.is_(None))).all()
    ended = 0
    for row in rows:
        if row.id != keep:
            row.revoked_at, row.revoked_reason = now, reason
            ended += 1
    if tokens:
        account.token_version = (account.token_version or 0) + 1
    audit.record(session, actor=actor, action="session.revoke_all", target_type="account",
                 target_id=str(account.id), at=now,
                 after={"sessions": ended, "reason": reason, "api_tokens": tokens})
    return ended
