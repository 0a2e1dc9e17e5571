"""Officials' second factor: TOTP (RFC 6238: 30-second steps, 6 digits, SHA-1, as every
authenticator app reads it) with ten one-time recovery codes stored as Argon2 hashes.

A code is accepted for the step it names and one step either side (clock drift); the step
accepted is remembered, so a code (or an older one) is never accepted twice."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.account import security
from borderflow.account.principals import to_principal
from borderflow.config import Settings
from borderflow.domain.access import Principal, Role
from borderflow.errors import Conflict, FieldError, NotFound, ValidationFailed, msg
from borderflow.store.models import Account, RecoveryCode, SecondFactor

ISSUER = "Borderflow"
STEP_SECONDS = 30
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i

REQUIRED_FOR = frozenset({
    Role.ADMIN, Role.REGULATOR, Role.CASHIER, Role.CUSTOMS, Role.BORDER_GUARD,
    Role.QUARANTINE, Role.HEALTH, Role.YARD_OPERATOR,
})
"""Roles that must log in with a second factor when it is required (officials)."""


def required(settings: Settings, roles: frozenset[Role] | set[Role]) -> bool:
    """Whether an account with these roles must use a second factor under these settings."""
    if not (frozenset(roles) & REQUIRED_FOR):
        return False
    if settings.second_factor == "auto":
        return str(getattr(settings, "env", "development")) == "production"
    return settings.second_factor == "required"


def roles_of(account: Account) -> frozenset[Role]:
    return frozenset(Role(r) for r in account.roles)


def confirmed(session: Session, account_id: int) -> SecondFactor | None:
    row = session.get(SecondFactor, account_id)
    return row if row is not None and row.confirmed_at is not None else None


def _step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, now: datetime, after: int) -> int | None:
    """The time step (within one of now) whose code this is, if later than ``after``."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = _step(now)
    for step in (current - 1, current, current + 1):
        if step > after and hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str

    def qr_svg(self, title: str = "QR code") -> str:
        """The otpauth address as an inline SVG QR code (drawn here, nothing fetched)."""
        svg: str = segno.make(self.uri, error="m").svg_inline(scale=4, border=2, title=title)
        return svg


def _enrolment(account: Account, secret: str) -> Enrolment:
    uri = pyotp.TOTP(secret).provisioning_uri(name=account.username, issuer_name=ISSUER)
    return Enrolment(secret, uri)


def start(session: Session, account: Account, *, now: datetime) -> Enrolment:
    """A new secret waiting for its first code (replaces an unconfirmed one)."""
    if confirmed(session, account.id) is not None:
        raise Conflict(msg("a second factor is already set up; an admin can reset it"))
    row = session.get(SecondFactor, account.id)
    secret = pyotp.random_base32()
    if row is None:
        session.add(SecondFactor(account_id=account.id, secret=secret, created_at=now,
                                 confirmed_at=None, last_step=0))
    else:
        row.secret, row.created_at, row.last_step = secret, now, 0
    session.flush()
    return _enrolment(account, secret)


def pending(session: Session, account: Account) -> Enrolment | None:
    """The enrolment started and not yet confirmed, if any."""
    row = session.get(SecondFactor, account.id)
    if row is None or row.confirmed_at is not None:
        return None
    return _enrolment(account, row.secret)


def new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def confirm(session: Session, account: Account, code: str, *, actor: Principal,
            now: datetime) -> list[str]:
    """Check the first code of a started enrolment; return the recovery codes (shown once)."""
    row = session.get(SecondFactor, account.id)
    if row is None or row.confirmed_at is not None:
        raise Conflict(msg("start setting up the second factor first"))
    step = matching_step(row.secret, code, now, row.last_step)
    if step is None:
        raise ValidationFailed([FieldError("code", msg("wrong or expired code"))])
    row.confirmed_at, row.last_step = now, step
    codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
    session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account.id))
    session.add_all(RecoveryCode(account_id=account.id, code_hash=security.hash_password(c),
                                 used_at=None) for c in codes)
    audit.record(session, actor=actor, action="mfa.enrol", target_type="account",
                 target_id=str(account.id), at=now, after={"recovery_codes": len(codes)})
    return codes


def check(session: Session, account: Account, code: str, *, now: datetime) -> str | None:
    """Whether ``code`` (a TOTP code or an unused recovery code) passes for this account's
    confirmed second factor: ``"totp"``, ``"recovery"`` or None. A passing code is used up
    (the step is remembered; the recovery code is marked used and audited)."""
    row = confirmed(session, account.id)
    if row is None:
        return None
    text = code.strip()
    step = matching_step(row.secret, text, now, row.last_step)
    if step is not None:
        row.last_step = step
        return "totp"
    normal = text.lower().replace(" ", "")
    if len(normal) == 10:
        normal = f"{normal[:5]}-{normal[5:]}"
    if len(normal) != 11:
        return None
    unused = session.scalars(select(RecoveryCode).where(
        RecoveryCode.account_id == account.id, RecoveryCode.used_at.is_(None))).all()
    for rc in unused:
        if security.verify_password(rc.code_hash, normal):
            rc.used_at = now
            audit.record(session, actor=to_principal(account), action="mfa.recovery_code_used",
                         target_type="account", target_id=str(account.id), at=now,
                         after={"left": len(unused) - 1})
            return "recovery"
    return None


def reset(session: Session, account_id: int, *, actor: Principal, now: datetime) -> bool:
    """Remove an account's second factor and recovery codes (an admin's act; audited)."""
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(msg("no account {number}", number=str(account_id)))
    row = session.get(SecondFactor, account_id)
    had = row is not None and row.confirmed_at is not None
    if row is not None:
        session.delete(row)
    session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
    audit.record(session, actor=actor, action="mfa.reset", target_type="account",
                 target_id=str(account_id), at=now, after={"was_enrolled": had})
    return had


