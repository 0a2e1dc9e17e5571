"""Keeping the statistics tables up to date with the trips.

Every trip event updates the trip's fact and adds the change of its contributions to the
summary tables, in the same transaction (so a report never sees half a change); the summary
tables' rows are written when the transaction commits (:func:`add_at_commit`). The tables can
also be rebuilt from scratch from the trips' event logs (``borderflow report rebuild``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from borderflow.clock import LOCAL_TZ
from borderflow.domain import report as stats
from borderflow.domain import trip as domain
from borderflow.store import at_commit
from borderflow.store.models import (
    ReportFact,
    StatCount,
    StatDuration,
    StatEnterpriseCount,
    StatHour,
    StatReason,
    Trip,
    TripEvent,
)
from borderflow.trip.events import TripChange

TZ = LOCAL_TZ

_MODELS: dict[str, Any] = {stats.COUNTS: StatCount, stats.ENTERPRISES: StatEnterpriseCount,
                           stats.DURATIONS: StatDuration, stats.HOURS: StatHour,
                           stats.REASONS: StatReason}
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    stats.COUNTS: ("grain", "period", "kind", "gate", "direction", "goods_group"),
    stats.ENTERPRISES: ("grain", "period", "kind", "gate", "direction", "goods_group",
                        "enterprise"),
    stats.DURATIONS: ("grain", "period", "gate", "direction", "goods_group", "measure", "bucket"),
    stats.HOURS: ("day", "hour", "gate", "direction"),
    stats.REASONS: ("grain", "period", "kind", "gate", "direction", "step", "reason_code"),
}
VALUE_COLUMNS: dict[str, tuple[str, ...]] = {
    stats.COUNTS: ("vehicles", "declarations", "weight_kg", "value_usd_cents", "fee_vnd",
                   "seconds"),
    stats.ENTERPRISES: ("vehicles", "declarations", "weight_kg", "value_usd_cents", "fee_vnd",
                        "seconds"),
    stats.DURATIONS: ("n", "seconds"),
    stats.HOURS: ("vehicles",),
    stats.REASONS: ("n",),
}


STAT_CHANGES = "statistics changes"
"""What :func:`add_at_commit` keeps for the commit (:mod:`borderflow.store.at_commit`)."""


def add(session: Session, changes: stats.Contributions) -> None:
    """Add ``changes`` to the summary tables now (insert or add to the existing row): for
    bulk work (imports, a rebuild) that reads the tables again in its own transaction."""
    if changes:
        _upsert(session, stats.summed([changes]))


def add_at_commit(session: Session, changes: stats.Contributions) -> None:
    """Add ``changes`` to the summary tables when the transaction commits (a trip event's):
    the counters are rows every writer shares (one per day, gate and kind), so they are locked
    for the commit's last statements only, all of a transaction's changes summed into one
    statement per table, in the same order for every writer. Until then the transaction does
    not see them in the tables."""
    if changes:
        at_commit.keep(session, STAT_CHANGES, changes)


def _write_kept(session: Session) -> None:
    kept: list[stats.Contributions] = at_commit.take(session, STAT_CHANGES)
    if kept:
        with session.no_autoflush:  # the audit rows, added by now or not, are written after
            _upsert(session, stats.summed(kept))


def _upsert(session: Session, changes: stats.Contributions) -> None:
    by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (table, key), values in changes.items():
        row = dict(zip(KEY_COLUMNS[table], key, strict=True))
        row.update(zip(VALUE_COLUMNS[table], values, strict=True))
        by_table[table].append(row)
    dialect = session.get_bind().dialect.name
    for table in stats.TABLES:
        rows = by_table.get(table)
        if not rows:
            continue
        model = _MODELS[table]
        ins: Any = (postgresql.insert(model) if dialect == "postgresql"
                    else sqlite.insert(model))
        ins = ins.on_conflict_do_update(
            index_elements=list(KEY_COLUMNS[table]),
            set_={c: getattr(model.__table__.c, c) + getattr(ins.excluded, c)
                  for c in VALUE_COLUMNS[table]},
        )
        session.execute(ins, rows)


def put_fact(session: Session, key: str, new: Mapping[str, Any] | None, *, now: datetime,
             trip_id: str | None = None, import_id: int | None = None) -> None:
    """Replace the fact under ``key`` (None removes it) and carry the change to the tables."""
    row = session.get(ReportFact, key)
    old = row.fact if row is not None else None
    add_at_commit(session, stats.delta(old, new, TZ))
    if new is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(fact_row(key, new, now=now, trip_id=trip_id, import_id=import_id))
    else:
        row.fact = dict(new)
        for name, value in _columns(new).items():
            setattr(row, name, value)
        row.updated_at = now
    session.flush()


def _columns(fact: Mapping[str, Any]) -> dict[str, Any]:
    return {"gate": fact["gate"], "enterprise": fact.get("enterprise") or "",
            "arrived_at": stats.fact_time(fact, "arrived_at"),
            "crossed_at": stats.fact_time(fact, "crossed_at"),
            "finished_at": stats.finished_at(fact)}


def fact_row(key: str, fact: Mapping[str, Any], *, now: datetime, trip_id: str | None = None,
             import_id: int | None = None) -> ReportFact:
    return ReportFact(key=key, trip_id=trip_id, import_id=import_id, fact=dict(fact),
                      updated_at=now, **_columns(fact))


def load(session: Session, facts: Iterable[tuple[str, Mapping[str, Any]]], *, now: datetime,
         import_id: int | None = None) -> int:
    """Add many new facts at once (keys not yet used): imported history, synthetic data."""
    rows = list(facts)
    session.add_all(fact_row(key, fact, now=now, import_id=import_id) for key, fact in rows)
    add(session, stats.total((f for _k, f in rows), TZ))
    session.flush()
    return len(rows)


def after_trip_change(change: TripChange) -> None:
    """Trip handler (after every event, the creation included): the trip's summary row."""
    on_trip_change(change.session, change.row, change.event, now=change.now)


def on_trip_change(session: Session, trip: Trip, event: domain.Event, *, now: datetime) -> None:
    """Bring the trip's summary row up to date with ``event``, in the same transaction."""
    row = session.get(ReportFact, trip.id)
    previous = row.fact if row is not None else None
    fact = stats.trip_fact(trip.state, previous, _event_dict(event))
    if fact != previous:
        put_fact(session, trip.id, fact, now=now, trip_id=trip.id)


def _event_dict(event: domain.Event | TripEvent) -> dict[str, Any]:
    return {"type": event.type, "occurred_at": event.occurred_at,
            "payload": dict(event.payload)}


def facts_from_log(states_and_events: Iterable[tuple[Mapping[str, Any], list[Any]]]
                   ) -> Iterable[dict[str, Any]]:
    """Facts replayed from each trip's events (for a rebuild)."""
    for _state, events in states_and_events:
        state: dict[str, Any] | None = None
        fact: dict[str, Any] | None = None
        for ev in events:
            state = domain.apply(state, domain.Event(ev.type, ev.occurred_at, ev.actor_name,
                                                     dict(ev.payload)))
            fact = stats.trip_fact(state, fact, _event_dict(ev))
        if fact is not None:
            yield fact


def rebuild(session: Session, *, now: datetime, batch: int = 2000) -> dict[str, int]:
    """Recompute every trip's fact from its event log and every summary table from the facts
    (imported history is kept). Returns counts of what was rebuilt."""
    for model in _MODELS.values():
        session.execute(delete(model))
    session.execute(delete(ReportFact).where(ReportFact.trip_id.is_not(None)))
    history = [r.fact for r in session.scalars(select(ReportFact))]
    add(session, stats.total(history, TZ))
    trips = 0
    ids = list(session.scalars(select(Trip.id).order_by(Trip.id)))
    for i in range(0, len(ids), batch):
        chunk = ids[i:i + batch]
        events: dict[str, list[TripEvent]] = defaultdict(list)
        for ev in session.scalars(select(TripEvent).where(TripEvent.trip_id.in_(chunk))
                                  .order_by(TripEvent.trip_id, TripEvent.seq)):
            events[ev.trip_id].append(ev)
        facts = []
        for trip_id in chunk:
            fact = next(iter(facts_from_log([({}, events[trip_id])])), None)
            if fact is not None:
                facts.append(fact)
                session.add(fact_row(trip_id, fact, now=now, trip_id=trip_id))
        add(session, stats.total(facts, TZ))
        trips += len(facts)
        session.flush()
    return {"trips": trips, "history_facts": len(history)}


event.listen(Session, "before_commit", _write_kept)
