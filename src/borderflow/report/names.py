"""How reports name enterprises: by tax code, as registered or as their declarations give it."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from borderflow.store.models import Declaration, Enterprise


def enterprise_names(session: Session, codes: Iterable[str]) -> dict[str, str]:
    """Tax code (its 10-digit head, as the reports keep it) -> the enterprise's name: as
    registered, else as its latest declaration gives it."""
    wanted = sorted({c for c in codes if c})
    if not wanted:
        return {}
    found = {str(code): str(name) for code, name in session.execute(
        select(Enterprise.tax_code, Enterprise.name).where(Enterprise.tax_code.in_(wanted)))}
    missing = [c for c in wanted if c not in found]
    if missing:
        head = func.substr(Declaration.enterprise_tax_code, 1, 10)
        for code, name in session.execute(
                select(head, Declaration.enterprise_name).where(head.in_(missing))
                .order_by(Declaration.id)):
            found[str(code)] = str(name)  # the latest declaration's name wins
    return found
