"""Who people are, as pages name them: display names and roles by username."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow.store.models import Account


def people(session: Session, usernames: set[str | None]) -> dict[str, tuple[str, list[str]]]:
    """Accounts' display names and roles by username, people only (machine clients are named
    by what they are), in one query."""
    wanted = {u for u in usernames if u}
    if not wanted:
        return {}
    rows = session.execute(select(Account.username, Account.display_name, Account.roles,
                                  Account.kind).where(Account.username.in_(wanted))).all()
    return {u: (name, list(roles or [])) for u, name, roles, kind in rows if kind == "user"}
