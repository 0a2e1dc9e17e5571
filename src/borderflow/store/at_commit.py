"""Work a transaction keeps in its session until it commits.

Some writes touch rows that every writer shares: the audit chain's head, the statistics'
counters (one row per day, gate and kind). Written as they happen, each such row stays locked
from that moment to the end of the transaction, and every other writer queues behind it. So
what goes there is kept in the session (:func:`keep`) and written by the feature's own
``before_commit`` listener (:func:`take`), after the transaction's other changes: the shared
rows are held for the last few statements only, and every writer takes its own records' rows
before the shared ones, never after, so no two writers wait for each other.

What a savepoint kept goes with it when it is rolled back (a position that could not move its
trip); when it is released, it becomes its enclosing transaction's. A transaction rolled back
or closed without committing leaves nothing for the next one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

_KEPT = "borderflow.at_commit"


def keep(session: Session, kind: str, item: Any) -> None:
    """Keep ``item`` (of ``kind``) for the commit of the current transaction (begun now if
    none is: a rollback before any statement still takes the item with it)."""
    within = (session.get_nested_transaction() or session.get_transaction()
              or session.begin())
    session.info.setdefault(_KEPT, []).append((within, kind, item))


def take(session: Session, kind: str) -> list[Any]:
    """The items of ``kind`` the committing transaction kept, in the order kept (none while a
    savepoint is being released: they wait for the commit)."""
    if session.in_nested_transaction():
        return []
    kept = session.info.get(_KEPT)
    if not kept:
        return []
    session.info[_KEPT] = [k for k in kept if k[1] != kind]
    return [item for _, k, item in kept if k == kind]


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _released(session: Session) -> None:
    """A savepoint released: what it kept is now its enclosing transaction's."""
    savepoint = session.get_nested_transaction()
    kept = session.info.get(_KEPT)
    if savepoint is None or not kept:
        return
    session.info[_KEPT] = [(savepoint.parent if t is savepoint else t, kind, item)
                           for t, kind, item in kept]


def _rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    kept = session.info.get(_KEPT)
    if not kept:
        return
    if previous_transaction.parent is None:
        session.info.pop(_KEPT, None)
        return
    session.info[_KEPT] = [k for k in kept if not _within(k[0], previous_transaction)]


def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_KEPT, None)


# registered before the features' own listeners (they import this module), so a savepoint's
# items are handed to its enclosing transaction first
event.listen(Session, "before_commit", _released)
event.listen(Session, "after_soft_rollback", _rolled_back)
event.listen(Session, "after_transaction_end", _ended)
