"""What the admin's account pages and the account API read: a page of accounts found by name,
tax code or document, with whether each has a second factor; accounts and enterprises a
keyset page at a time (by username, by tax code); and the figures of the admin's home."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, String, cast, func, or_, select
from sqlalchemy.orm import Session

from borderflow.domain.access import Role
from borderflow.store import paging
from borderflow.store.models import Account, Enterprise, SecondFactor

PAGE_SIZE = 25


@dataclass(frozen=True)
class AccountRow:
    account: Account
    second_factor: bool


@dataclass(frozen=True)
class AccountPage:
    rows: list[AccountRow]
    total: int
    page: int
    pages: int


def _search(query: str) -> list[ColumnElement[bool]]:
    words = query.strip()
    if not words:
        return []
    like = f"%{words.lower()}%"
    return [or_(func.lower(Account.username).like(like),
                func.lower(Account.display_name).like(like),
                Account.enterprise_tax_code.like(like),
                func.lower(func.coalesce(Account.driver_document, "")).like(like))]


def accounts_page(session: Session, *, query: str = "", page: int = 1,
                  size: int = PAGE_SIZE) -> AccountPage:
    """The accounts whose username, name, tax code or driver document contains ``query``,
    by username, one page of them (users and machine clients alike)."""
    where = _search(query[:80])
    total = int(session.scalar(select(func.count()).select_from(Account).where(*where)) or 0)
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    found = list(session.scalars(select(Account).where(*where).order_by(Account.username)
                                 .offset((page - 1) * size).limit(size)))
    enrolled = set(session.scalars(select(SecondFactor.account_id).where(
        SecondFactor.account_id.in_([a.id for a in found]),
        SecondFactor.confirmed_at.is_not(None))))
    return AccountPage([AccountRow(a, a.id in enrolled) for a in found], total, page, pages)


def has_second_factor(session: Session, account_id: int) -> bool:
    return session.scalar(select(SecondFactor.account_id).where(
        SecondFactor.account_id == account_id, SecondFactor.confirmed_at.is_not(None))
    ) is not None


def account_counts(session: Session) -> tuple[int, int]:
    """All accounts and the active ones."""
    total = int(session.scalar(select(func.count()).select_from(Account)) or 0)
    active = int(session.scalar(select(func.count()).select_from(Account)
                                .where(Account.active.is_(True))) or 0)
    return total, active


ACCOUNT_KEYS = (paging.Key(Account.username, str),)
ENTERPRISE_KEYS = (paging.Key(Enterprise.tax_code, str),)


def with_role(role: Role) -> ColumnElement[bool]:
    """Accounts holding ``role``, in the database: the roles are a JSON list of names, and a
    name between quotes is found in its text on every backend."""
    return cast(Account.roles, String).like(f'%"{role.value}"%')


def accounts_after(session: Session, *, role: Role | None, cursor: str | None,
                   limit: int) -> paging.Page[Account]:
    """Accounts by username (unique), a page after ``cursor``; only those with ``role``."""
    query = select(Account).where(*([with_role(role)] if role else []))
    return paging.page(session, query, ACCOUNT_KEYS, cursor=cursor, limit=limit,
                       key_of=lambda a: (a.username,))


def enterprises_after(session: Session, *, cursor: str | None, limit: int
                      ) -> paging.Page[Enterprise]:
    """Enterprises by tax code (unique), a page after ``cursor``."""
    return paging.page(session, select(Enterprise), ENTERPRISE_KEYS, cursor=cursor,
                       limit=limit, key_of=lambda e: (e.tax_code,))
