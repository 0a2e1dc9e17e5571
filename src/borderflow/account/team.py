"""An enterprise's own team: the users of its tax code and the drivers it added. An
enterprise adds a user (role enterprise, its own tax code, never another) or a driver (role
driver, a document number and a phone), and disables them; each act is audited.

A new member gets no password from the enterprise: an SMS tells them their username and to
set their password with "Forgot your password?" (a code sent to their own phone), so nobody
but them ever knows it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.account import messages, registration
from borderflow.account.password_reset import set_contact
from borderflow.account.service import AccountSpec, check_spec, snapshot, update_account
from borderflow.domain.access import Principal, Role
from borderflow.domain.notify import Texts
from borderflow.domain.values import parse_phone, parse_tax_code, tax_code_head
from borderflow.errors import FieldError, Forbidden, NotFound, ValidationFailed, msg, reason_of
from borderflow.store.models import Account, AccountContact

DOCUMENT = re.compile(r"^[A-Z0-9]{5,20}$")


@dataclass(frozen=True)
class Member:
    """A person an enterprise adds."""

    kind: Literal["user", "driver"]
    username: str
    display_name: str
    phone: str
    driver_document: str = ""
    language: str = "vi"
    enterprise_tax_code: str = ""
    """A user's tax code: the enterprise's own (a branch of it at most); blank is its own."""


def _tax_of(actor: Principal) -> str:
    if Role.ENTERPRISE not in actor.roles or not actor.enterprise_tax_code:
        raise Forbidden(msg("only an enterprise manages its team"))
    return actor.enterprise_tax_code


def members(session: Session, actor: Principal) -> list[tuple[Account, AccountContact | None]]:
    """The accounts of the actor's enterprise (its tax code, branches included) and the
    drivers it added, with their contact, by username."""
    head = tax_code_head(_tax_of(actor))
    rows = session.execute(
        select(Account, AccountContact)
        .outerjoin(AccountContact, AccountContact.account_id == Account.id)
        .where(or_(Account.enterprise_tax_code.like(f"{head}%"),
                   AccountContact.team_tax_code.like(f"{head}%")))
        .order_by(Account.username)).all()
    return [(row[0], row[1]) for row in rows]


def _tax_code(member: Member, own: str) -> tuple[str, list[FieldError]]:
    """The tax code a new user is scoped to: the enterprise's own, or one of its branches;
    never another enterprise's."""
    typed = member.enterprise_tax_code.strip()
    if member.kind != "user" or not typed:
        return own, []
    try:
        tax = parse_tax_code(typed)
    except ValueError as exc:
        return own, [FieldError("enterprise_tax_code", reason_of(exc))]
    if tax_code_head(tax) != tax_code_head(own):
        return own, [FieldError("enterprise_tax_code", msg(
            "you can add users of your own enterprise only ({tax_code})", tax_code=own))]
    return tax, []


def _check(session: Session, member: Member) -> tuple[Member, list[FieldError]]:
    errors = [FieldError("username", r)
              for r in registration.username_problems(member.username.strip())]
    if not errors and registration.username_taken(session, member.username.strip()):
        errors.append(FieldError("username", msg("this username is taken; choose another")))
    name = member.display_name.strip()
    if not 2 <= len(name) <= 200:
        errors.append(FieldError("display_name", msg("must be 2 to 200 characters")))
    phone = member.phone.strip()
    try:
        phone = parse_phone(phone)
    except ValueError as exc:
        errors.append(FieldError("phone", reason_of(exc)))
    document = re.sub(r"[\s-]", "", member.driver_document).upper()
    if member.kind == "driver":
        if not DOCUMENT.match(document):
            errors.append(FieldError("driver_document", msg(
                "a driver's document number: 5 to 20 letters and digits")))
        elif session.scalar(select(Account.id).where(Account.driver_document == document)):
            errors.append(FieldError("driver_document", msg(
                "a driver account with this document number exists already")))
    return Member(member.kind, member.username.strip(), name, phone, document,
                  member.language, member.enterprise_tax_code), errors


def invitation(username: str) -> Texts:
    return Texts(
        vi=f"Borderflow: doanh nghiệp của bạn đã tạo tài khoản {username} cho bạn. Để đặt "
           "mật khẩu, mở trang đăng nhập, chọn \"Quên mật khẩu?\" và nhập tên đăng nhập.",
        en=f"Borderflow: your enterprise created the account {username} for you. To set your "
           "password, open the login page, choose \"Forgot your password?\" and give the "
           "username.",
        zh=f"Borderflow：您的企业已为您创建账户 {username}。设置密码：打开登录页，选择"
           "“忘记密码？”并输入用户名。",
    )


def add_member(session: Session, member: Member, *, actor: Principal,
               now: datetime) -> Account:
    """A user of the actor's own tax code or a driver, with no password yet (an SMS invites
    them to set one: until then no password opens the account). Audited."""
    own = _tax_of(actor)
    tax, errors = _tax_code(member, own)
    member, more = _check(session, member)
    errors += more
    if errors:
        raise ValidationFailed(errors)
    role = Role.ENTERPRISE if member.kind == "user" else Role.DRIVER
    spec = AccountSpec(username=member.username, display_name=member.display_name,
                       roles=(role,), enterprise_tax_code=tax if role is Role.ENTERPRISE
                       else None, driver_document=member.driver_document or None)
    spec, problems = check_spec(spec, None)
    if problems:
        raise ValidationFailed(problems)
    account = Account(kind="user", username=spec.username, display_name=spec.display_name,
                      password_hash=None, roles=[role.value],
                      enterprise_tax_code=spec.enterprise_tax_code,
                      driver_document=spec.driver_document, gate_scope=[], yard_scope=[],
                      active=True, created_at=now, updated_at=now)
    session.add(account)
    session.flush()
    audit.record(session, actor=actor, action="account.create", target_type="account",
                 target_id=str(account.id), at=now, after=snapshot(account))
    set_contact(session, account, member.phone, member.language, actor=actor, now=now,
                team_tax_code=own)
    audit.record(session, actor=actor, action="team.add", target_type="account",
                 target_id=str(account.id), at=now, after={"team": own, **snapshot(account)})
    messages.enqueue(session, kind="team_invitation", phone=member.phone,
                     language=member.language, texts=invitation(member.username), now=now,
                     account_id=account.id)
    return account


def disable_member(session: Session, account_id: int, *, actor: Principal,
                   now: datetime) -> Account:
    """Disable one of the team (never oneself): its sessions and tokens end. Audited."""
    found = {a.id: a for a, _ in members(session, actor)}
    account = found.get(account_id)
    if account is None:
        raise NotFound(msg("no account {number}", number=str(account_id)))
    if account.id == actor.id:
        raise ValidationFailed([FieldError("active", msg("you cannot disable your own account"))])
    if account.active:
        update_account(session, account, {"active": False}, actor=actor, now=now, network=None)
        audit.record(session, actor=actor, action="team.disable", target_type="account",
                     target_id=str(account.id), at=now,
                     after={"enterprise_tax_code": _tax_of(actor)})
    return account
