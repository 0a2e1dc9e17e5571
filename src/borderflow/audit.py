"""The audit log: every write records who did what to which record, when, before and after.

Rows are chained by hash (tamper-evident) and never updated or deleted (database triggers)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Connection, event, func, insert, select, update
from sqlalchemy.orm import Session

from borderflow.domain.access import Principal
from borderflow.store import at_commit
from borderflow.store.models import AuditChainHead, AuditEntry


def record(
    session: Session,
    *,
    actor: Principal,
    action: str,
    target_type: str,
    target_id: str,
    at: datetime,
    before: Any = None,
    after: Any = None,
) -> AuditEntry:
    """Add an audit row to the current transaction (it commits or rolls back with the write;
    a savepoint rolled back takes its rows with it). The row is written, and takes its place
    in the chain, when the transaction commits (see the hash chain below)."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    entry = AuditEntry(
        at=at,
        actor_id=actor.id,
        actor_name=actor.username,
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=_as_stored(before),  # as it is now, whatever the caller changes later
        after=_as_stored(after),
        request_id=request_id,
    )
    at_commit.keep(session, AUDIT_ROWS, entry)
    return entry


def search(
    session: Session,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    size: int = 100,
) -> tuple[list[AuditEntry], int]:
    """Audit rows, newest first, with the total matching the filters."""
    q = select(AuditEntry)
    if target_type:
        q = q.where(AuditEntry.target_type == target_type)
    if target_id:
        q = q.where(AuditEntry.target_id == target_id)
    if actor:
        q = q.where(AuditEntry.actor_name == actor)
    if action:
        q = q.where(AuditEntry.action == action)
    if since:
        q = q.where(AuditEntry.at >= since)
    if until:
        q = q.where(AuditEntry.at < until)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(
        q.order_by(AuditEntry.id.desc()).offset((page - 1) * size).limit(size)
    ).all()
    return list(rows), total


# --- the hash chain ------------------------------------------------------------------------------
#
# Every audit row carries ``seq`` (its place in the chain, 1, 2, 3… without gaps), ``prev_hash``
# (the previous row's ``hash``; 64 zeros for the first row) and ``hash``, the SHA-256 (hex,
# lower case) of the row's canonical form:
#
#   the UTF-8 bytes of the JSON object
#     {"v": 1, "seq", "at", "actor_id", "actor_name", "action", "target_type", "target_id",
#      "before", "after", "request_id", "prev_hash"}
#   written with keys sorted, no whitespace (separators "," and ":"), non-ASCII characters as
#   themselves (not \u escapes); "at" as UTC "YYYY-MM-DDTHH:MM:SS.ffffffZ"; "before" and
#   "after" as the JSON values stored in the row (their own keys sorted too); absent values null.
#
# The last row's seq and hash are also kept in ``audit_chain_head`` (one row, id 1). A writer
# first updates that row (a row lock on PostgreSQL, the database's write lock on SQLite) and
# keeps it locked until its transaction ends, so concurrent writers append one after another
# and the chain never forks. Removing rows from the end shows as a head ahead of the last row.
#
# A transaction's audit rows wait in the session until it commits (borderflow.store.at_commit);
# then its other changes are written first, and only then is the head locked, the rows chained
# and inserted, and the transaction committed. The head is held for those few statements, not
# for the whole transaction: writers of different records (two officers' steps, a phone's trip
# event) run side by side and queue only for their last moment.

CHAIN_VERSION = 1
GENESIS = "0" * 64
HEAD_ID = 1


def canonical(row: Mapping[Any, Any]) -> bytes:
    """The bytes an audit row's hash is taken over (see the comment above)."""
    at = row["at"]
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("audit time without a timezone")
        at = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    doc = {
        "v": CHAIN_VERSION,
        "seq": row["seq"],
        "at": at,
        "actor_id": row.get("actor_id"),
        "actor_name": row.get("actor_name"),
        "action": row.get("action"),
        "target_type": row.get("target_type"),
        "target_id": row.get("target_id"),
        "before": row.get("before"),
        "after": row.get("after"),
        "request_id": row.get("request_id"),
        "prev_hash": row["prev_hash"],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def row_hash(row: Mapping[Any, Any]) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


def _as_stored(value: Any) -> Any:
    """A JSON value as it reads back from the database (tuples become lists and so on)."""
    return None if value is None else json.loads(json.dumps(value, default=str))


def _fields(entry: AuditEntry) -> dict[str, Any]:
    return {c: getattr(entry, c) for c in CHAINED}


CHAINED = ("seq", "at", "actor_id", "actor_name", "action", "target_type", "target_id",
           "before", "after", "request_id", "prev_hash")
"""The columns an audit row's hash covers."""


def _chain_new_entries(session: Session, _context: Any, _instances: Any) -> None:
    """Before a flush: give the transaction's new audit rows their place in the chain."""
    # session.new keeps the order rows were added in: they are chained in that order
    new = [o for o in session.new if isinstance(o, AuditEntry) and o.hash is None]
    if not new:
        return
    conn = session.connection()
    head = AuditChainHead
    # Lock the head first: from here to the end of the transaction no other writer appends.
    # (one statement: the head locked, moved and read; its hash is still the previous row's)
    take = (update(head).where(head.id == HEAD_ID).values(seq=head.seq + len(new))
            .returning(head.seq, head.hash))
    taken = conn.execute(take).first()
    if taken is None:
        _start_chain(conn)
        taken = conn.execute(take).one()
    seq, prev = taken
    seq -= len(new)
    for entry in new:
        seq += 1
        entry.seq = seq
        entry.prev_hash = prev  # before and after were made as stored by record()
        entry.hash = prev = row_hash(_fields(entry))
    conn.execute(update(head).where(head.id == HEAD_ID).values(hash=prev))


def _start_chain(conn: Connection) -> None:
    """A chain head for an empty audit log (after the tables were emptied wholesale)."""
    if conn.execute(select(AuditEntry.id).limit(1)).first() is not None:
        raise RuntimeError("audit_chain_head is missing while audit rows exist: the audit "
                           "log was tampered with (see `borderflow audit verify`)")
    conn.execute(insert(AuditChainHead).values(id=HEAD_ID, seq=0, hash=GENESIS))


AUDIT_ROWS = "audit rows"
"""What :func:`record` keeps for the commit (:mod:`borderflow.store.at_commit`)."""


def _write_kept(session: Session) -> None:
    """Before a commit: the transaction's other changes are flushed, then its audit rows are
    added, and the commit's own flush chains them (:func:`_chain_new_entries`) last."""
    entries = at_commit.take(session, AUDIT_ROWS)
    if not entries:
        return
    session.flush()
    session.add_all(entries)


event.listen(Session, "before_flush", _chain_new_entries)
event.listen(Session, "before_commit", _write_kept)


@dataclass(frozen=True)
class Break:
    """The first place the chain does not hold."""

    seq: int
    row_id: int | None
    reason: str


@dataclass(frozen=True)
class Verification:
    rows: int
    last_seq: int
    broken: Break | None


def verify(session: Session, *, batch: int = 2000) -> Verification:
    """Recompute the chain from its first row; stop at the first broken link."""
    table = AuditEntry.__table__
    q = select(table.c.id, table.c.hash, *(table.c[c] for c in CHAINED)).order_by(table.c.seq)
    rows = session.execute(q.execution_options(yield_per=batch)).mappings()
    head = session.get(AuditChainHead, HEAD_ID)
    return check(rows, None if head is None else (head.seq, head.hash))


def check(rows: Iterable[Mapping[Any, Any]], head: tuple[int, str] | None) -> Verification:
    """The chain of ``rows`` (in seq order, each with id, hash and the chained columns) and the
    head recorded for it: where it first breaks, if anywhere."""
    expected_seq, prev, count = 1, GENESIS, 0
    for row in rows:
        count += 1
        if row["seq"] != expected_seq:
            what = (f"row {expected_seq} is missing" if row["seq"] > expected_seq
                    else f"seq {row['seq']} appears again")
            return Verification(count, expected_seq - 1, Break(
                expected_seq, row["id"], f"{what} (next row found: id {row['id']}, "
                f"seq {row['seq']})"))
        if row["prev_hash"] != prev:
            return Verification(count, expected_seq - 1, Break(
                expected_seq, row["id"], f"prev_hash {row['prev_hash']} is not the previous "
                f"row's hash {prev}"))
        computed = row_hash(row)
        if row["hash"] != computed:
            return Verification(count, expected_seq - 1, Break(
                expected_seq, row["id"], f"content does not match its hash: stored "
                f"{row['hash']}, computed {computed} (a field was changed)"))
        prev = row["hash"]
        expected_seq += 1
    last = expected_seq - 1
    if head is not None and head != (last, prev):
        if head[0] > last:
            return Verification(count, last, Break(
                last + 1, None, f"row {last + 1} is missing: the chain ends at {last} but "
                f"its head records {head[0]} rows (rows removed from the end)"))
        return Verification(count, last, Break(
            head[0], None, f"the chain head (seq {head[0]}, hash {head[1]}) does not "
            f"match the last row (seq {last}, hash {prev})"))
    return Verification(count, last, None)
