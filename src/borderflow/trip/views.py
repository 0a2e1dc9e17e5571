"""Lists of trips the pages read: an enterprise's latest trips, a driver's trips under way.
Read models only; the pages shape them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow.domain.access import Principal
from borderflow.domain.network import Network
from borderflow.domain.trip import TERMINAL
from borderflow.errors import AppError
from borderflow.store.models import Trip
from borderflow.trip import service as trips


def latest_in_scope(session: Session, actor: Principal, network: Network | None,
                    limit: int = 50) -> list[Trip]:
    """The caller's trips (an enterprise its own), newest first."""
    return list(session.scalars(select(Trip).where(trips.scope_clause(actor, network))
                                .order_by(Trip.created_at.desc()).limit(limit)))


def under_way_for_driver(session: Session, driver_document: str | None) -> list[Trip]:
    """A driver's trips not finished yet, oldest first."""
    return list(session.scalars(select(Trip).where(
        Trip.driver_document == driver_document,
        Trip.status.notin_((*TERMINAL, "completed"))).order_by(Trip.created_at)))


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
