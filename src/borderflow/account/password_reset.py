"""Passwords people manage themselves: a change (the current password, the policy, every
other session ended) and the reset of a forgotten one with a one-time code sent by SMS to the
account's phone.

The code is six digits, kept as its Argon2 hash, valid :data:`~borderflow.domain.accounts.
RESET_CODE_MINUTES` minutes, used once, refused after a few wrong tries; asking for a new one
ends the earlier ones. Whether the username exists is never told: the request answers the same
either way, and a code for an unknown username is simply wrong."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.account import messages, passwords, security, sessions
from borderflow.account.principals import to_principal
from borderflow.domain import account as rules
from borderflow.domain.access import ANONYMOUS, Principal
from borderflow.errors import FieldError, ValidationFailed, msg
from borderflow.store.models import Account, AccountContact, PasswordResetCode

WRONG_CODE = msg("wrong or expired code; ask for a new one if it keeps failing")


def contact_of(session: Session, account_id: int) -> AccountContact | None:
    return session.get(AccountContact, account_id)


def set_contact(session: Session, account: Account, phone: str, language: str, *,
                actor: Principal, now: datetime, team_tax_code: str | None = None) -> None:
    """Record (or change) the phone the account's messages go to. Audited."""
    row = session.get(AccountContact, account.id)
    before = None if row is None else {"phone": row.phone, "language": row.language}
    if row is None:
        row = AccountContact(account_id=account.id, phone=phone, language=language,
                             team_tax_code=team_tax_code, updated_at=now)
        session.add(row)
    else:
        row.phone, row.language, row.updated_at = phone, language, now
        if team_tax_code is not None:
            row.team_tax_code = team_tax_code
    session.flush()
    audit.record(session, actor=actor, action="account.contact", target_type="account",
                 target_id=str(account.id), at=now, before=before,
                 after={"phone": phone, "language": language})


def _new_password_problems(account: Account, new: str, field: str) -> list[FieldError]:
    return [FieldError(field, r) for r in passwords.problems(new, account.username)]


def change_password(session: Session, account: Account, current: str, new: str, *,
                    actor: Principal, now: datetime, keep_session: int | None = None) -> int:
    """Check the current password and the new one against the policy, store it, end every
    other browser session and every API token issued so far. Audited. The number of sessions
    ended."""
    errors: list[FieldError] = []
    if not security.verify_password(account.password_hash, current):
        errors.append(FieldError("current_password", msg("wrong password")))
    errors += _new_password_problems(account, new, "new_password")
    if not errors and security.verify_password(account.password_hash, new):
        errors.append(FieldError("new_password",
                                 msg("must differ from the current password")))
    if errors:
        raise ValidationFailed(errors)
    account.password_hash = security.hash_password(new)
    account.updated_at = now
    audit.record(session, actor=actor, action="account.password_change", target_type="account",
                 target_id=str(account.id), at=now, after={"by": "self"})
    return sessions.revoke_all(session, account, actor=actor, now=now,
                               reason="password_change", keep=keep_session)


def _live_codes(session: Session, account_id: int, now: datetime) -> list[PasswordResetCode]:
    rows = session.scalars(select(PasswordResetCode).where(
        PasswordResetCode.account_id == account_id, PasswordResetCode.used_at.is_(None),
        PasswordResetCode.expires_at > now).order_by(PasswordResetCode.id.desc())).all()
    return list(rows)


def request_reset(session: Session, username: str, *, now: datetime) -> bool:
    """Send a new code to the phone of the active user account of that name (earlier codes
    stop working). Audited either way; whether a code went out is returned for the audit and
    the tests only: callers answer the same."""
    name = username.strip()[:80]
    account = session.scalar(select(Account).where(Account.username == name))
    contact = contact_of(session, account.id) if account is not None else None
    if account is None or not account.active or account.kind != "user" or contact is None:
        audit.record(session, actor=ANONYMOUS, action="password_reset.request",
                     target_type="account", target_id=str(account.id) if account else "-",
                     at=now, after={"username": name, "sent": False})
        return False
    session.execute(update(PasswordResetCode).where(
        PasswordResetCode.account_id == account.id, PasswordResetCode.used_at.is_(None),
        PasswordResetCode.expires_at > now).values(expires_at=now)
        .execution_options(synchronize_session=False))
    code = rules.new_reset_code()
    session.add(PasswordResetCode(account_id=account.id, code_hash=security.hash_password(code),
                                  created_at=now, expires_at=rules.reset_expiry(now),
                                  used_at=None, attempts=0))
    messages.enqueue(session, kind="password_reset_code", phone=contact.phone,
                     language=contact.language, texts=rules.reset_code_sms(code), now=now,
                     account_id=account.id)
    audit.record(session, actor=ANONYMOUS, action="password_reset.request",
                 target_type="account", target_id=str(account.id), at=now,
                 after={"username": name, "sent": True})
    return True


def check_code(session: Session, username: str, code: str, *, now: datetime) -> Account:
    """The account whose live code this is; a wrong code counts as a try on the live code (the
    caller commits before answering, so that the try stays counted)."""
    account = session.scalar(select(Account).where(Account.username == username.strip()[:80]))
    live = _live_codes(session, account.id, now) if account is not None else []
    typed = rules.normal_code(code)
    latest = live[0] if live else None
    usable = latest is not None and rules.code_usable(
        expires_at=latest.expires_at, used_at=latest.used_at, attempts=latest.attempts,
        now=now)
    if latest is None or not usable or not security.verify_password(latest.code_hash, typed):
        if latest is not None and usable:
            latest.attempts += 1
        security.verify_password(None, typed)  # the same cost whether or not a code exists
        audit.record(session, actor=ANONYMOUS, action="password_reset.wrong_code",
                     target_type="account", target_id=str(account.id) if account else "-",
                     at=now, after={"username": username.strip()[:80],
                                    "tries": latest.attempts if latest else 0})
        raise ValidationFailed([FieldError("code", WRONG_CODE)])
    assert account is not None  # noqa: S101  (a live code has its account)
    return account


def complete_reset(session: Session, username: str, code: str, new: str, *,
                   now: datetime) -> int:
    """Set the new password with the code (used up), end every session and API token of the
    account. Audited. The number of sessions ended."""
    account = check_code(session, username, code, now=now)
    problems = _new_password_problems(account, new, "new_password")
    if problems:
        raise ValidationFailed(problems)
    for row in _live_codes(session, account.id, now):
        row.used_at = now
    account.password_hash = security.hash_password(new)
    account.updated_at = now
    who = to_principal(account)
    audit.record(session, actor=who, action="account.password_reset", target_type="account",
                 target_id=str(account.id), at=now, after={"by": "sms_code"})
    return sessions.revoke_all(session, account, actor=who, now=now, reason="password_reset")
