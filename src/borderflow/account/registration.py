"""An enterprise registers itself: the application waits for an admin, who confirms it (the
enterprise account is created, scoped to the tax code) or refuses it with a reason; the
applicant is told by SMS either way. Until then the username cannot sign in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.account import messages, passwords, security
from borderflow.account.service import snapshot
from borderflow.domain import account as rules
from borderflow.domain.access import ANONYMOUS, Principal, Role
from borderflow.domain.values import parse_phone, parse_tax_code, tax_code_head
from borderflow.errors import Conflict, FieldError, NotFound, ValidationFailed, msg, reason_of
from borderflow.store.models import Account, AccountContact, Enterprise, EnterpriseRegistration

USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-")


@dataclass(frozen=True)
class Application:
    """What an enterprise gives to register."""

    enterprise_name: str
    tax_code: str
    contact_name: str
    phone: str
    username: str
    password: str
    language: str = "vi"


def username_problems(username: str) -> list[str]:
    if not 3 <= len(username) <= 80:
        return [msg("must be 3 to 80 characters")]
    if not set(username) <= USERNAME_CHARS:
        return [msg("letters without accents, digits and . _ @ - only")]
    return []


def username_taken(session: Session, username: str) -> bool:
    """An account, or a registration still waiting, has this username (any case)."""
    name = username.casefold()
    if session.scalar(select(Account.id).where(func.lower(Account.username) == name)):
        return True
    return session.scalar(select(EnterpriseRegistration.id).where(
        func.lower(EnterpriseRegistration.username) == name,
        EnterpriseRegistration.status == rules.PENDING)) is not None


def _tax_code_problem(session: Session, tax: str) -> str | None:
    """Why a (valid) tax code cannot register: it has an enterprise account already, or a
    registration waiting."""
    head = tax_code_head(tax)
    holders = session.scalars(select(Account).where(
        Account.enterprise_tax_code.like(f"{head}%"), Account.active.is_(True))).all()
    if any(Role.ENTERPRISE.value in a.roles for a in holders):
        return msg("this enterprise is already registered: ask the person who manages its "
                   "account to add you")
    waiting = session.scalar(select(EnterpriseRegistration.id).where(
        EnterpriseRegistration.tax_code.like(f"{head}%"),
        EnterpriseRegistration.status == rules.PENDING))
    if waiting is not None:
        return msg("a registration of this enterprise is already waiting for confirmation")
    return None


def check(session: Session, app: Application) -> tuple[Application, list[FieldError]]:
    """The application in canonical form and every field that is wrong."""
    errors: list[FieldError] = []
    name, contact, username = (app.enterprise_name.strip(), app.contact_name.strip(),
                               app.username.strip())
    if not 2 <= len(name) <= 200:
        errors.append(FieldError("enterprise_name", msg("must be 2 to 200 characters")))
    if not 2 <= len(contact) <= 200:
        errors.append(FieldError("contact_name", msg("must be 2 to 200 characters")))
    tax = app.tax_code.strip()
    try:
        tax = parse_tax_code(tax)
    except ValueError as exc:
        errors.append(FieldError("tax_code", reason_of(exc)))
    else:
        if (problem := _tax_code_problem(session, tax)) is not None:
            errors.append(FieldError("tax_code", problem))
    phone = app.phone.strip()
    try:
        phone = parse_phone(phone)
    except ValueError as exc:
        errors.append(FieldError("phone", reason_of(exc)))
    errors += [FieldError("username", r) for r in username_problems(username)]
    if not any(e.field == "username" for e in errors) and username_taken(session, username):
        errors.append(FieldError("username", msg("this username is taken; choose another")))
    errors += [FieldError("password", r) for r in passwords.problems(app.password, username)]
    return Application(name, tax, contact, phone, username, app.password,
                       rules.language_of(app.language)), errors


def register(session: Session, app: Application, *, now: datetime) -> EnterpriseRegistration:
    """Record an application (audited); it waits for an admin."""
    app, errors = check(session, app)
    if errors:
        raise ValidationFailed(errors)
    row = EnterpriseRegistration(
        tax_code=app.tax_code, enterprise_name=app.enterprise_name,
        contact_name=app.contact_name, phone=app.phone, username=app.username,
        password_hash=security.hash_password(app.password), language=app.language,
        status=rules.PENDING, reason=None, created_at=now, decided_at=None, decided_by=None,
        account_id=None)
    session.add(row)
    session.flush()
    audit.record(session, actor=ANONYMOUS, action="registration.submit",
                 target_type="registration", target_id=str(row.id), at=now,
                 after=summary(row))
    return row


def summary(row: EnterpriseRegistration) -> dict[str, Any]:
    """The audited view of a registration (never the password hash)."""
    return {"tax_code": row.tax_code, "enterprise_name": row.enterprise_name,
            "contact_name": row.contact_name, "username": row.username,
            "status": row.status, "reason": row.reason, "account_id": row.account_id}


def listed(session: Session, status: str | None = rules.PENDING) -> list[EnterpriseRegistration]:
    """Registrations in that state (all: None), oldest first."""
    query = select(EnterpriseRegistration).order_by(EnterpriseRegistration.id)
    if status is not None:
        query = query.where(EnterpriseRegistration.status == status)
    return list(session.scalars(query).all())


def get(session: Session, registration_id: int) -> EnterpriseRegistration:
    row = session.get(EnterpriseRegistration, registration_id)
    if row is None:
        raise NotFound(msg("no registration {number}", number=str(registration_id)))
    return row


def _decide(session: Session, registration_id: int, status: str, *, actor: Principal,
            now: datetime, reason: str | None = None) -> EnterpriseRegistration:
    """Move a waiting registration to ``status``, once: of two admins deciding at the same
    time, the second is told it was decided."""
    row = get(session, registration_id)
    taken = session.execute(
        update(EnterpriseRegistration)
        .where(EnterpriseRegistration.id == row.id,
               EnterpriseRegistration.status == rules.PENDING)
        .values(status=status, decided_at=now, decided_by=actor.username, reason=reason)
        .execution_options(synchronize_session=False))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(msg("this registration was already decided"))
    session.refresh(row)
    return row


def confirm(session: Session, registration_id: int, *, actor: Principal,
            now: datetime) -> Account:
    """Create the enterprise account (role enterprise, scoped to the tax code), register the
    enterprise if it is new, and tell the applicant by SMS. Audited."""
    row = _decide(session, registration_id, rules.CONFIRMED, actor=actor, now=now)
    if session.scalar(select(Account.id).where(
            func.lower(Account.username) == row.username.casefold())) is not None:
        raise Conflict(msg("username '{username}' is taken", username=row.username),
                       field="username")
    account = Account(
        kind="user", username=row.username, display_name=row.contact_name,
        password_hash=row.password_hash, roles=[Role.ENTERPRISE.value],
        enterprise_tax_code=row.tax_code, driver_document=None, gate_scope=[],
        yard_scope=[], active=True, created_at=now, updated_at=now)
    session.add(account)
    session.flush()
    row.account_id = account.id
    session.add(AccountContact(account_id=account.id, phone=row.phone, language=row.language,
                               team_tax_code=row.tax_code, updated_at=now))
    head = tax_code_head(row.tax_code)
    if session.get(Enterprise, head) is None:
        session.add(Enterprise(tax_code=head, name=row.enterprise_name, aeo=False,
                               aeo_valid_until=None, updated_at=now))
    audit.record(session, actor=actor, action="account.create", target_type="account",
                 target_id=str(account.id), at=now, after=snapshot(account))
    audit.record(session, actor=actor, action="registration.confirm",
                 target_type="registration", target_id=str(row.id), at=now,
                 after=summary(row))
    messages.enqueue(session, kind="registration_confirmed", phone=row.phone,
                     language=row.language, now=now, account_id=account.id,
                     registration_id=row.id,
                     texts=rules.registration_confirmed_sms(row.enterprise_name, row.username))
    return account


def refuse(session: Session, registration_id: int, reason: str, *, actor: Principal,
           now: datetime) -> EnterpriseRegistration:
    """Refuse with a reason the applicant reads in the SMS. Audited."""
    text = " ".join(reason.split())
    if not 3 <= len(text) <= rules.REFUSAL_REASON_MAX:
        raise ValidationFailed([FieldError("reason", msg(
            "say why, in {count} characters at most", count=rules.REFUSAL_REASON_MAX))])
    row = _decide(session, registration_id, rules.REFUSED, actor=actor, now=now, reason=text)
    audit.record(session, actor=actor, action="registration.refuse",
                 target_type="registration", target_id=str(row.id), at=now,
                 after=summary(row))
    messages.enqueue(session, kind="registration_refused", phone=row.phone,
                     language=row.language, now=now, registration_id=row.id,
                     texts=rules.registration_refused_sms(row.enterprise_name, text))
    return row


def awaiting(session: Session, username: str, password: str) -> bool:
    """Whether this username and password belong to a registration still waiting (the login
    then says so, rather than "wrong password")."""
    row = session.scalar(select(EnterpriseRegistration).where(
        EnterpriseRegistration.username == username.strip(),
        EnterpriseRegistration.status == rules.PENDING))
    return row is not None and security.verify_password(row.password_hash, password)
