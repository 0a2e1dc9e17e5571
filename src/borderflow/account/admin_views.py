"""What the admin's account pages read: a page of accounts found by name, tax code or
document, with whether each has a second factor; and the figures of the admin's home."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from borderflow.store.models import Account, SecondFactor

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
