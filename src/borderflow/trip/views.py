"""Lists of trips the pages read: an enterprise's trips found by plate, reference, status and
day (a page of them and their count), a driver's trips under way, the code a trip shows at
the gate. Read models only; the pages shape them."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import segno
from sqlalchemy import ColumnElement, Select, case, func, or_, select
from sqlalchemy.orm import Session

from borderflow.domain.access import Principal
from borderflow.domain.network import Network
from borderflow.domain.trip import STATUSES, TERMINAL
from borderflow.domain.values import parse_plate, plate_key
from borderflow.errors import AppError
from borderflow.store.models import Declaration, Trip
from borderflow.trip import service as trips

SORTS = ("date", "reference", "status")
"""What a list of trips may be sorted by: the trip's day (the declaration's requested date),
its reference, its status in the order a trip goes through them."""
_REFERENCE = re.compile(r"BF-[0-9A-Z]{4}-[0-9A-Z]{4}(?:-\d+)?", re.IGNORECASE)


@dataclass(frozen=True)
class TripFilter:
    """Which trips a list shows and in which order (every field optional)."""

    text: str = ""
    """A plate (any spelling, or part of it) or a trip or declaration reference."""
    status: str | None = None
    since: date | None = None
    """First day (the trip's requested date), inclusive."""
    until: date | None = None
    """Last day, inclusive."""
    sort: str = "date"
    descending: bool = True


def _text_clause(text: str) -> ColumnElement[bool] | None:
    text = text.strip()
    if not text:
        return None
    ref = _REFERENCE.search(text)
    if ref:
        found = ref.group(0).upper()
        return (Trip.reference == found if found.count("-") == 3
                else Trip.reference.like(f"{found}-%"))
    try:
        key = parse_plate(text).key
    except ValueError:
        key = plate_key(text)
    if not key:
        return None
    return or_(Trip.plate_key.contains(key, autoescape=True),
               Trip.reference.contains(text.upper(), autoescape=True))


def _filtered(actor: Principal, network: Network | None, f: TripFilter) -> Select[Any]:
    query = select(Trip).join(Declaration, Declaration.id == Trip.declaration_id) \
        .where(trips.scope_clause(actor, network))
    found = _text_clause(f.text)
    if found is not None:
        query = query.where(found)
    if f.status:
        query = query.where(Trip.status == f.status)
    if f.since:
        query = query.where(Declaration.requested_date >= f.since)
    if f.until:
        query = query.where(Declaration.requested_date <= f.until)
    return query


def page_in_scope(session: Session, actor: Principal, network: Network | None, f: TripFilter,
                  *, page: int, size: int) -> tuple[list[tuple[Trip, date]], int]:
    """One page of the caller's trips (an enterprise its own) that the filter finds, each with
    its day, and how many there are in all: two queries, whatever the number of trips."""
    query = _filtered(actor, network, f)
    total = session.scalar(select(func.count()).select_from(
        query.with_only_columns(Trip.id).order_by(None).subquery())) or 0
    lifecycle = case({s: i for i, s in enumerate(STATUSES)}, value=Trip.status, else_=99)
    keys: dict[str, tuple[Any, ...]] = {
        "date": (Declaration.requested_date, Trip.created_at, Trip.reference),
        "reference": (Trip.reference,),
        "status": (lifecycle, Declaration.requested_date, Trip.reference),
    }
    order = [k.desc() if f.descending else k.asc() for k in keys.get(f.sort, keys["date"])]
    rows = session.execute(query.add_columns(Declaration.requested_date).order_by(*order)
                           .offset(max(page - 1, 0) * size).limit(size)).all()
    return [(row[0], row[1]) for row in rows], total


def gate_code_svg(reference: str, title: str, *, scale: int = 1) -> str:
    """The code a trip shows at the gate, as an inline SVG QR code (drawn here, nothing
    fetched), named for screen readers: the trip's reference, which the officers' and
    cashiers' search fields and scanners read. ``scale`` 1 leaves the size to the page's
    styles."""
    qr = segno.make(reference, error="m")
    svg: str = qr.svg_inline(scale=scale, border=4, title=title, omitsize=scale == 1,
                             light="#fff")
    named = f'<svg role="img" aria-label="{html.escape(title)} {reference}" '
    return svg.replace("<svg ", named, 1)


def under_way_for_driver(session: Session, driver_document: str | None) -> list[Trip]:
    """A driver's trips not finished yet, oldest first (declared in the same instant: in the
    order of their references, so the page lists them the same way at every refresh)."""
    return list(session.scalars(select(Trip).where(
        Trip.driver_document == driver_document,
        Trip.status.notin_((*TERMINAL, "completed"))).order_by(Trip.created_at,
                                                              Trip.reference)))


def by_reference_or_plate(session: Session, text: str, actor: Principal,
                          network: Network) -> Trip | None:
    """The trip a reference names, else the one trip under way that a plate search finds
    (None when there is none or more than one)."""
    try:
        return trips.get(session, text, actor=actor, network=network)
    except AppError:
        pass
    found, _total = trips.search(session, text, actor=actor, network=network, status=None,
                                 gate=None, limit=2, offset=0)
    live = [t for t in found if t.status not in (*TERMINAL, "completed")]
    return live[0] if len(live) == 1 else None


def plate_in_scope(session: Session, plate_key: str, actor: Principal,
                   network: Network | None) -> bool:
    """Whether a trip of the caller's scope carries this plate (its normalised key)."""
    return session.scalar(select(Trip.id).where(
        Trip.plate_key == plate_key, trips.scope_clause(actor, network)).limit(1)) is not None
