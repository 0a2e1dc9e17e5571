"""Keyset pages: at most ``limit`` rows after a cursor, in a stable order whose last key is
unique, so walking a list page by page sees every row once even while rows are added.

A cursor is the sort key of the last row of a page, as base64url JSON: opaque to clients,
checked when it comes back (a cursor that does not decode, or holds values of the wrong kind,
is refused naming the field ``cursor``)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from borderflow.errors import FieldError, ValidationFailed, msg

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_LIMIT = 50
"""Rows a page holds when the client does not say."""
MAX_LIMIT = 200
"""The most rows a page holds, whatever the client asks."""
MAX_CURSOR = 500
"""Characters a cursor may have: the keys of one row, never more."""
BAD_CURSOR = msg("is not a cursor this list gave: start again without it")


@dataclass(frozen=True)
class Key:
    """One column of a list's order: its kind (``str``, ``int``, ``date`` or ``datetime``)
    is what a cursor's value must decode to."""

    column: Any
    kind: type
    descending: bool = False


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    """The cursor of the following page; None on the last page."""
    prev_cursor: str | None = None
    """The cursor (to give as ``before``) of the page before; None on the first page, or when
    the page was not reached from another."""


def encode(values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, date | datetime) else v for v in values]
    text = json.dumps(plain, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _value(raw: Any, kind: type) -> Any:
    if kind is datetime:
        found = datetime.fromisoformat(raw)
        if found.tzinfo is None:
            raise ValueError("no time zone")
        return found
    if kind is date:
        return date.fromisoformat(raw)
    if kind is int and (isinstance(raw, bool) or not isinstance(raw, int)):
        raise ValueError("not a whole number")
    if kind is str and not isinstance(raw, str):
        raise ValueError("not a text")
    return raw


def decode(cursor: str, keys: Sequence[Key], field: str = "cursor") -> list[Any]:
    """The sort key a cursor holds, checked against the list's keys."""
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode())
        if not isinstance(raw, list) or len(raw) != len(keys):
            raise ValueError("not this list's keys")
        return [_value(v, k.kind) for v, k in zip(raw, keys, strict=True)]
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise ValidationFailed([FieldError(field, BAD_CURSOR)]) from None


def after(keys: Sequence[Key], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows that come after ``values`` in the order of ``keys`` (each ascending or
    descending): ``(a > x) or (a = x and b > y) or ...``, which every database reads through
    an index on the keys."""
    terms: list[ColumnElement[bool]] = []
    for i, key in enumerate(keys):
        same = [keys[j].column == values[j] for j in range(i)]
        beyond = key.column < values[i] if key.descending else key.column > values[i]
        terms.append(and_(*same, beyond))
    return or_(*terms)


def ordered(keys: Sequence[Key]) -> list[Any]:
    return [k.column.desc() if k.descending else k.column.asc() for k in keys]


def _flipped(keys: Sequence[Key]) -> tuple[Key, ...]:
    return tuple(Key(k.column, k.kind, not k.descending) for k in keys)


def page(session: Session, query: Select[Any], keys: Sequence[Key], *, cursor: str | None,
         limit: int, key_of: Callable[[R], Sequence[Any]], before: str | None = None
         ) -> Page[R]:
    """One page of ``query`` (one selected entity or column) in the order of ``keys``,
    after ``cursor`` (or the page that ends just before ``before``): ``limit + 1`` rows are
    read, in one query, to know whether another page follows."""
    return kept_page(session, query, keys, cursor=cursor, limit=limit, key_of=key_of,
                     keep=lambda row: row, batch=limit + 1, before=before)


def kept_page(session: Session, query: Select[Any], keys: Sequence[Key], *,
              cursor: str | None, limit: int, key_of: Callable[[R], Sequence[Any]],
              keep: Callable[[R], T | None], batch: int = 200, before: str | None = None
              ) -> Page[T]:
    """Like :func:`page` for a list a rule of the domain filters row by row after the
    query: rows are read in batches in the list's order until a page is full, and the
    cursors are the keys of the first and last rows kept."""
    backward = before is not None
    order = _flipped(keys) if backward else tuple(keys)
    start = before if backward else cursor
    values = decode(start, keys, "before" if backward else "cursor") if start else None
    kept: list[tuple[R, T]] = []
    more = False
    while not more:
        q = query.where(after(order, values)) if values is not None else query
        rows: list[R] = list(session.scalars(q.order_by(*ordered(order)).limit(batch)))
        for row in rows:
            found = keep(row)
            if found is not None:
                kept.append((row, found))
                more = len(kept) > limit
                if more:
                    break
        if len(rows) < batch:
            break
        values = list(key_of(rows[-1]))
    kept = kept[:limit][::-1] if backward else kept[:limit]
    if not kept:
        return Page([], None, None)
    first, last = encode(key_of(kept[0][0])), encode(key_of(kept[-1][0]))
    items = [v for _row, v in kept]
    if backward:
        return Page(items, last, first if more else None)
    return Page(items, last if more else None, first if cursor else None)
