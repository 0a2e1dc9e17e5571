"""The telemetry processor: store positions once, follow each device through the geofences and
turn its movements into trip events. Services never commit; the caller does.

A device is bound to a driver (document number) or a vehicle (plate); its active trip is that
driver's or vehicle's latest trip that is neither finished nor cancelled. Binding gives the device
an unguessable token, which the phone sends as its id; only the token's SHA-256 is kept, and a
position is the device's (and may move its trip) only when it comes under that token. Positions
under ids nobody has bound are stored and the device is listed as unknown, never silently dropped,
and move no trip; positions under a bound device's plain id (which anyone could guess) or under a
revoked device's token are rejected with the reason (kept for diagnosis) and move no trip.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar, cast

import numpy as np
import orjson
import structlog
from sqlalchemy import String, Table, bindparam, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from borderflow.domain.access import Principal, Role
from borderflow.domain.network import Network, Point
from borderflow.domain.telemetry_geofence import Fences, Transition
from borderflow.domain.values import parse_plate
from borderflow.errors import AppError, FieldError, NotFound, ValidationFailed, msg, reason_of
from borderflow.store import paging
from borderflow.store.models import Device, Position, RejectedPosition, Trip
from borderflow.telemetry.decoders import (
    UNSTORABLE_DEVICE_PREFIX,
    Fix,
    Rejection,
    json_safe,
    storable,
    unstorable,
)
from borderflow.trip import service as trips

log = structlog.get_logger("borderflow.telemetry")

GPS = Principal(id=None, username="gps", kind="client", roles=frozenset({Role.REGULATOR}))
"""Whom a trip's movement is authorised as; recorded under the device (:func:`device_actor`)."""
TOKEN_BYTES = 24
"""A device token's random bytes (192 bits; 32 URL-safe characters)."""
REVOKED = "device revoked: bind it again for a new token"
PLAIN_ID = "device is bound: it sends the token binding gave it as its id, not this id"
DEVICES_CHANGED = "borderflow.devices_changed"
"""Set in ``session.info`` by a write that binds, unbinds or revokes a device: ingestion's
snapshots of the devices (:mod:`borderflow.telemetry.directory`) are loaded again once that
session commits."""


TOKEN_HASH = re.compile(r"[0-9a-f]{64}")
"""A token's SHA-256, hex: a device's MQTT user name (``owntracks/<hash>/<device>``), which the
broker authenticates (:mod:`borderflow.telemetry.mqtt_accounts`); HTTP ingestion refuses ids
made of it."""


def token_hash(token: str) -> str:
    """What is kept of a device token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def device_actor(device_id: str, label: str = "") -> Principal:
    """The identity a device's trip events are recorded under (``device:<label or id>``),
    with the rights of the telemetry processor that records them."""
    name = f"device:{(label or device_id)[:40]}"
    return replace(GPS, username=name)
TRIP_FENCES = ("staging", "gate_area", "yard")
"""Fences that are trip locations; corridors are watched but move no trip."""
ACTIVE = ("declared", "at_staging", "called", "in_gate_area")


@dataclass
class IngestReport:
    accepted: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    unknown_devices: list[str] = field(default_factory=list)
    late: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)


class Bound(Protocol):
    id: str
    driver_document: str | None
    plate_key: str | None


def _active_trip(session: Session, device: Bound) -> Trip | None:
    return _active_trips(session, [device]).get(device.id)


def _active_trips(session: Session, devices: Sequence[Bound]) -> dict[str, Trip]:
    """Each bound device's active trip, in one query."""
    clauses = _trip_clauses(devices)
    if not clauses:
        return {}
    return _match(devices, session.scalars(select(Trip).where(
        or_(*clauses), Trip.status.in_(ACTIVE)).order_by(Trip.created_at)))


TripT = TypeVar("TripT", Trip, "TripRef")


def _trip_clauses(devices: Sequence[Bound]) -> list[Any]:
    docs = {d.driver_document for d in devices if d.driver_document}
    plates = {d.plate_key for d in devices if d.plate_key}
    clauses = []
    if docs:
        clauses.append(Trip.driver_document.in_(sorted(docs)))
    if plates:
        clauses.append(Trip.plate_key.in_(sorted(plates)))
    return clauses


def _match(devices: Sequence[Bound], trips: Iterable[TripT]) -> dict[str, TripT]:
    """Each device's trip among ``trips`` (oldest first: the latest of a driver or vehicle
    wins), by its driver first, then its vehicle."""
    by_doc: dict[str, TripT] = {}
    by_plate: dict[str, TripT] = {}
    for trip in trips:
        by_doc[trip.driver_document] = trip  # the latest wins
        by_plate[trip.plate_key] = trip
    out: dict[str, TripT] = {}
    for d in devices:
        found = (by_doc.get(d.driver_document) if d.driver_document else None) or (
            by_plate.get(d.plate_key) if d.plate_key else None)
        if found is not None:
            out[d.id] = found
    return out


@dataclass(slots=True)
class TripRef:
    """What the processor needs of an active trip: who it is, where it is (kept current as
    the batch moves it). Read without the trip's document, which only a movement needs."""

    id: str
    reference: str
    location: str | None
    driver_document: str
    plate_key: str


def _trip_refs(session: Session, devices: Sequence[Bound]) -> dict[str, TripRef]:
    """:func:`_active_trips` for the processor: the same trips, in one query of a few
    columns (one object per trip, shared by the devices of the same trip)."""
    if session.get_bind().dialect.name != "postgresql":
        clauses = _trip_clauses(devices)
        if not clauses:
            return {}
        return _match(devices, (TripRef(*row) for row in session.execute(
            select(Trip.id, Trip.reference, Trip.location, Trip.driver_document,
                   Trip.plate_key)
            .where(or_(*clauses), Trip.status.in_(ACTIVE)).order_by(Trip.created_at))))
    docs = sorted({d.driver_document for d in devices if d.driver_document})
    plates = sorted({d.plate_key for d in devices if d.plate_key})
    if not docs and not plates:
        return {}
    dbapi = session.connection().connection.driver_connection
    with dbapi.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(_TRIP_REFS, (_texts(docs), _texts(plates), list(ACTIVE)))
        return _match(devices, [TripRef(*row) for row in cur.fetchall()])


_TRIP_REFS = (
    "SELECT id, reference, location, driver_document, plate_key FROM trips "
    "WHERE (driver_document IN (SELECT json_array_elements_text(%s::json)) "
    "OR plate_key IN (SELECT json_array_elements_text(%s::json))) "
    "AND status = ANY(%s) ORDER BY created_at")
_RESOLVE = (
    "SELECT id, token_sha256, label, revoked_at IS NOT NULL, bound_at IS NOT NULL "
    "FROM devices WHERE token_sha256 IN (SELECT json_array_elements_text(%s::json)) "
    "OR id IN (SELECT json_array_elements_text(%s::json))")


def _texts(values: list[str]) -> str:
    """PostgreSQL: a list of texts as one JSON parameter, read back as a set by
    ``IN (SELECT json_array_elements_text(%s::json))``. The driver would write an array
    parameter value by value (a third of the time of looking up a batch's thousands of
    ids), and ``IN`` over a set lets the database hash it."""
    return orjson.dumps(values).decode()


_PARTITIONS: set[str] = set()
"""Day partitions known to exist in this process (PostgreSQL)."""
_MISSING: set[str] = set()
"""Day partitions found missing by this process (said once in the log)."""
PARTITION_DAYS_AHEAD = 7
"""Days ahead the background work creates the day partitions of ``positions`` for."""


def partition_name(day: date) -> str:
    return f"positions_{day:%Y%m%d}"


def ensure_partitions(session: Session, days: set[date]) -> None:
    """PostgreSQL, on the ingestion path: look whether the day partitions the fixes fall in
    exist (a catalogue read, once per day and process). Ingestion never creates one: DDL on
    ``positions`` would lock the table every writer uses; the background work creates them
    days ahead (:func:`prepare_partitions`). A day without its partition goes to the default
    partition (logged once), where it stays."""
    for day in sorted(days):
        name = partition_name(day)
        if name in _PARTITIONS or name in _MISSING:
            continue
        if session.scalar(text("SELECT to_regclass(:n)"), {"n": name}) is not None:
            _PARTITIONS.add(name)
        else:
            _MISSING.add(name)
            log.warning("no day partition; rows of the day go to the default partition "
                        "(the background work creates them ahead: is `borderflow worker` "
                        "running?)", partition=name)


def prepare_partitions(session: Session, today: date,
                       days_ahead: int = PARTITION_DAYS_AHEAD) -> list[str]:
    """PostgreSQL: create the missing day partitions of ``positions`` from ``today`` to
    ``days_ahead`` days ahead; run by the background work with the purges, never by
    ingestion. Returns the partitions created. A day whose rows already went to the default
    partition keeps them there (logged)."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    created = []
    for offset in range(days_ahead + 1):
        day = today + timedelta(days=offset)
        name = partition_name(day)
        if session.scalar(text("SELECT to_regclass(:n)"), {"n": name}) is not None:
            continue
        try:
            with session.begin_nested():
                session.execute(text(
                    f"CREATE TABLE {name} PARTITION OF positions FOR VALUES "
                    f"FROM ('{day.isoformat()}') TO ('{(day + timedelta(days=1)).isoformat()}')"))
            created.append(name)
            _MISSING.discard(name)
        except DBAPIError as exc:  # another worker at the same moment, or rows in default
            if session.scalar(text("SELECT to_regclass(:n)"), {"n": name}) is None:
                log.warning("day partition not created; rows stay in the default partition",
                            partition=name, reason=str(exc.orig)[:200])
    return created


def prune(session: Session, before: datetime) -> int:
    """Delete positions older than ``before`` (the retention setting); on PostgreSQL whole day
    partitions are dropped. Returns the number of rows deleted from non-partitioned storage."""
    if session.get_bind().dialect.name == "postgresql":
        names = session.scalars(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'positions'")).all()
        for name in names:
            if name.startswith("positions_") and name[10:].isdigit() and \
                    name[10:] < f"{before:%Y%m%d}":
                session.execute(text(f"DROP TABLE {name}"))
                _PARTITIONS.discard(name)
    result = session.execute(delete(Position).where(Position.fix_time < before))
    session.execute(delete(RejectedPosition).where(RejectedPosition.received_at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _insert(session: Session, rows: list[tuple[Any, ...]]) -> int:
    """Store positions (columns in :data:`POSITION_COLUMNS` order), skipping any already
    stored; returns how many were new."""
    if not rows:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        return _insert_text(session, copy_rows(rows), len(rows), {r[1].date() for r in rows})
    stmt = sqlite_insert(Position).on_conflict_do_nothing(index_elements=["device_id",
                                                                         "fix_time"])
    new = session.execute(stmt.returning(Position.device_id), [
        {**dict(zip(POSITION_COLUMNS, r, strict=True)), "attributes": json_safe(dict(r[11]))}
        for r in rows]).all()
    return len(new)


def _insert_text(session: Session, data: str, rows: int, days: set[date]) -> int:
    """PostgreSQL: store ``rows`` positions given as COPY text, skipping any already stored;
    returns how many were new. ``COPY`` goes straight into the table (the common case: nothing
    of the batch is stored yet); if a position is already there, that is undone and the batch
    goes through a temporary table and one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``."""
    import psycopg

    if not rows:
        return 0
    ensure_partitions(session, days)
    dbapi = session.connection().connection.driver_connection
    with dbapi.cursor() as cur:  # type: ignore[union-attr]
        cur.execute("SAVEPOINT bf_positions")
        try:
            with cur.copy(f"COPY positions ({_COLUMN_LIST}) FROM STDIN") as copy:
                copy.write(data)
        except psycopg.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT bf_positions")
        else:
            cur.execute("RELEASE SAVEPOINT bf_positions")
            return rows
    _copy(session, "bf_positions_in", POSITION_COLUMNS, data)
    return int(session.execute(text(POSITION_MERGE)).rowcount or 0)  # type: ignore[attr-defined]


def reject(session: Session, rejections: list[Rejection], now: datetime) -> None:
    for r in rejections:
        session.add(RejectedPosition(received_at=now, device_id=r.device_id,
                                     protocol=r.protocol, reason=r.reason, excerpt=r.excerpt))


@dataclass
class DeviceState:
    """What the processor needs of a device: its binding and where it was after its last
    fix."""

    id: str
    driver_document: str | None = None
    plate_key: str | None = None
    inside: list[str] = field(default_factory=list)
    last_fix_at: datetime | None = None


class DeviceMemo:
    """The fences each device was in after its last fix, as a processor last wrote them, so
    that the next batch need not read them back. An entry is used only while the device row's
    ``last_fix_at`` (read under the row lock at every batch) is still the one it was written
    with; anything else (another processor, a rolled-back batch) reads the row again."""

    def __init__(self, limit: int = 1_000_000) -> None:
        self.limit = limit
        self._inside: dict[str, tuple[datetime, list[str]]] = {}

    def get(self, device_id: str, last_fix_at: datetime | None) -> list[str] | None:
        """``last_fix_at`` naive, in UTC (compared without time zone arithmetic)."""
        got = self._inside.get(device_id)
        if got is None or last_fix_at is None or got[0] != last_fix_at:
            return None
        return got[1]

    def put(self, device_id: str, last_fix_at: datetime, inside: list[str]) -> None:
        if len(self._inside) >= self.limit:
            self._inside.clear()  # a bound on memory; entries are only a shortcut
        if last_fix_at.tzinfo is not UTC:
            last_fix_at = last_fix_at.astimezone(UTC)
        self._inside[device_id] = (last_fix_at.replace(tzinfo=None), inside)


def _device_states(session: Session, ids: list[str], memo: DeviceMemo | None = None
                   ) -> dict[str, DeviceState]:
    """The devices of a batch, locked until the batch commits (one processor at a time per
    device). PostgreSQL takes the ids as one array parameter, not thousands of them. The fences
    a device is in come from ``memo`` when it is still current, else from the row."""
    if session.get_bind().dialect.name == "postgresql":
        dbapi = session.connection().connection.driver_connection
        with dbapi.cursor() as cur:  # type: ignore[union-attr]
            # locked in id order, as every processor does: two never wait on each other
            cur.execute("SELECT id, driver_document, plate_key, last_fix_at AT TIME ZONE 'UTC' "
                        "FROM devices WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (ids,))
            rows = cur.fetchall()
    else:
        rows = [(i, d, p, None if t is None else t.astimezone(UTC).replace(tzinfo=None))
                for i, d, p, t in session.execute(
                    select(Device.id, Device.driver_document, Device.plate_key,
                           Device.last_fix_at).where(Device.id.in_(ids)).with_for_update())]
    states: dict[str, DeviceState] = {}
    unknown: list[str] = []
    for device_id, document, plate, last in rows:  # last: naive UTC
        inside = memo.get(device_id, last) if memo is not None else None
        if inside is None:
            unknown.append(device_id)
            inside = []
        states[device_id] = DeviceState(device_id, document, plate, inside,
                                        None if last is None else last.replace(tzinfo=UTC))
    if unknown:
        for device_id, inside in session.execute(
                select(Device.id, Device.inside).where(_id_in(session, unknown))):
            states[device_id].inside = list(inside or [])
    return states


def _id_in(session: Session, ids: list[str]) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return Device.id == func.any(bindparam("ids", ids, type_=ARRAY(String)))
    return Device.id.in_(ids)


def ingest(session: Session, network: Network, fences: Fences, items: list[Fix | Rejection],
           *, now: datetime, received_at: datetime | Sequence[datetime] | None = None,
           memo: DeviceMemo | None = None) -> IngestReport:
    """Store a batch of decoded positions and apply what they mean to trips.

    ``received_at`` is when ingestion took the positions: one time for all, or one per item.
    ``memo`` keeps devices' fences between batches (see :class:`DeviceMemo`)."""
    report = IngestReport()
    items, trusted = _resolve(session, storable_items(items))
    rejections = [i for i in items if isinstance(i, Rejection)]
    reject(session, rejections, now)
    report.rejected = [{"device_id": r.device_id, "reason": r.reason} for r in rejections]
    received: dict[int, datetime] = {}
    if received_at is not None and not isinstance(received_at, datetime):
        received = {id(item): at for item, at in zip(items, received_at, strict=True)}
        received_at = None
    fixes = [i for i in items if isinstance(i, Fix)]
    report.accepted = len(fixes)
    by_device: dict[str, dict[datetime, Fix]] = defaultdict(dict)
    for fix in fixes:
        by_device[fix.device_id].setdefault(fix.fix_time, fix)
    ids = sorted(by_device)
    if not ids:
        return report
    states = _device_states(session, ids, memo)
    for i in ids:
        if i not in states:
            states[i] = DeviceState(i)
    trips_of = _trip_refs(session, [s for s in states.values() if s.id in trusted
                                    and (s.driver_document or s.plate_key)])
    report.unknown_devices = [i for i in ids if i not in trips_of]
    groups = [(device_id, trips_of[device_id].id if device_id in trips_of else None,
               by_device[device_id].values()) for device_id in ids]
    report.stored = _store_positions(session, groups, report.accepted, received,
                                     received_at or now, now)
    report.duplicates = len(fixes) - report.stored
    fresh, report.late = _fresh_fixes(ids, states, by_device)
    moved = _follow_fences(session, network, fences, fresh, states, trips_of, now=now,
                           report=report, memo=memo, labels=trusted)
    updates = []
    for device_id in ids:
        mine_all = by_device[device_id]
        got = moved.get(device_id)
        updates.append(DeviceUpdate(device_id, next(iter(mine_all.values())).protocol,
                                    len(mine_all), *(got or (None, None))))
    _save_devices(session, updates, now)
    return report


def _resolve(session: Session, items: list[Fix | Rejection]
             ) -> tuple[list[Fix | Rejection], dict[str, str]]:
    """Each fix under a live device token put under that device's id; each under a revoked
    token, or under the plain id of a bound device (anyone may guess it), rejected with the
    reason. An OwnTracks id (``<user>/<device>``) is the device's when its user is the
    device's token; so is one whose user is the token's hash, as the device's MQTT account
    publishes (only the broker, which checked its password, sends those: HTTP ingestion
    refuses them). Returns the items and the devices found by their token (id: label),
    the only ones whose positions may move a trip."""
    sent = {i.device_id for i in items if isinstance(i, Fix)}
    if not sent:
        return items, {}
    # OwnTracks sends `<user>/<device>`: its user (the token) identifies the device
    hashes: dict[str, list[str]] = defaultdict(list)
    for i in sent:
        hashes[_hash_of(i)].append(i)
        if "/" in i:
            user = i.split("/", 1)[0]
            hashes[_hash_of(user)].append(i)
            if TOKEN_HASH.fullmatch(user):  # MQTT: the broker checked the device's password
                hashes[user].append(i)
    rows: Iterable[tuple[str, str | None, str, bool, bool]]
    if session.get_bind().dialect.name == "postgresql":
        dbapi = session.connection().connection.driver_connection
        with dbapi.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(_RESOLVE, (_texts(list(hashes)), _texts(list(sent))))
            rows = cur.fetchall()
    else:
        rows = [(i, d, label, r is not None, b is not None) for i, d, label, r, b in
                session.execute(select(Device.id, Device.token_sha256, Device.label,
                                       Device.revoked_at, Device.bound_at).where(or_(
                    Device.token_sha256.in_(list(hashes)), Device.id.in_(sorted(sent)))))]
    by_token: dict[str, tuple[str, str, bool]] = {}
    claimed: set[str] = set()
    for device_id, digest, label, revoked, bound in rows:
        if digest in hashes:
            for i in hashes[digest]:
                by_token[i] = (device_id, label, revoked)
        if device_id in sent and (bound or digest is not None):
            claimed.add(device_id)
    if not by_token and not claimed:
        return items, {}
    trusted: dict[str, str] = {}
    out: list[Fix | Rejection] = []
    for item in items:
        if not isinstance(item, Fix):
            out.append(item)
        elif item.device_id in by_token:
            device_id, label, is_revoked = by_token[item.device_id]
            if is_revoked:
                out.append(Rejection(item.protocol, REVOKED, device_id, _excerpt(item)))
            else:
                trusted[device_id] = label
                out.append(Fix(device_id, item.fix_time, item.lat, item.lon, item.protocol,
                               item.speed_mps, item.bearing, item.altitude, item.accuracy,
                               item.battery, item.attributes))
        elif item.device_id in claimed:
            out.append(Rejection(item.protocol, PLAIN_ID, item.device_id, _excerpt(item)))
        else:
            out.append(item)
    return out, trusted


_HASHES: dict[str, str] = {}
"""Ids sent and their SHA-256 (a token's hash never changes; the devices it names are read
from the database at every batch)."""
HASHES_KEPT = 200_000


def _hash_of(sent: str) -> str:
    got = _HASHES.get(sent)
    if got is None:
        if len(_HASHES) >= HASHES_KEPT:
            _HASHES.clear()  # a bound on memory; entries are only a shortcut
        got = _HASHES[sent] = token_hash(sent)
    return got


def _excerpt(fix: Fix) -> str:
    return f"{fix.lat:.6f},{fix.lon:.6f} at {fix.fix_time.isoformat()}"


def _clean(text: str) -> bool:
    return (text.isascii() and "\x00" not in text) or not unstorable(text)


def storable_items(items: list[Fix | Rejection]) -> list[Fix | Rejection]:
    """The items as the store takes them, whatever reached the processor (ingestion cleans
    them at the edge; a message from elsewhere on the bus may not be): a fix whose device id
    holds NUL (or a lone surrogate) becomes a rejection, such characters are taken out of
    rejections' texts (extra fields: :func:`copy_text`, :func:`_insert`). A cheap test per
    text when all is well."""
    for n, item in enumerate(items):  # noqa: B007 - n is used after the loop
        if item.__class__ is Fix:  # extra fields are made storable where they are written
            d = item.device_id
            if not (d.isascii() and "\x00" not in d) and not _clean(d):
                break
        elif not (_clean(item.reason) and _clean(item.excerpt)  # type: ignore[union-attr]
                  and _clean(item.device_id or "")):
            break
    else:
        return items
    return items[:n] + [_storable(i) for i in items[n:]]


def _storable(item: Fix | Rejection) -> Fix | Rejection:
    if isinstance(item, Fix):
        if not _clean(item.device_id):
            return Rejection(item.protocol, f"{UNSTORABLE_DEVICE_PREFIX} (device id)", None,
                             storable(item.device_id)[:300])
        return item
    device = item.device_id if item.device_id is None or _clean(item.device_id) else None
    return Rejection(item.protocol, storable(item.reason), device, storable(item.excerpt))


def _store_positions(session: Session, groups: Sequence[tuple[str, str | None, Iterable[Fix]]],
                     accepted: int, received: dict[int, datetime], default_received: datetime,
                     now: datetime) -> int:
    """Store each device's fixes once, with the trip they belong to; return how many were
    new. PostgreSQL takes them as COPY text, other databases as rows."""
    if session.get_bind().dialect.name == "postgresql":
        data, days = _position_text(groups, received, default_received, now)
        return _insert_text(session, data, accepted, days)
    return _insert(session, [
        (device_id, fix.fix_time, trip_id, fix.lat, fix.lon, fix.speed_mps, fix.bearing,
         fix.altitude, fix.accuracy, fix.battery, fix.protocol, fix.attributes,
         received.get(id(fix), default_received) if received else default_received, now)
        for device_id, trip_id, mine in groups for fix in mine])


def _fresh_fixes(ids: Sequence[str], states: dict[str, DeviceState],
                 by_device: dict[str, dict[datetime, Fix]]) -> tuple[dict[str, list[Fix]], int]:
    """Each device's fixes newer than its last one, in time order, and how many came late
    (at or before the device's last fix: stored, but they move nothing)."""
    fresh: dict[str, list[Fix]] = {}
    late = 0
    for device_id in ids:
        last = states[device_id].last_fix_at
        mine_all = by_device[device_id]
        if len(mine_all) == 1:
            only = next(iter(mine_all.values()))
            if last is None or only.fix_time > last:
                fresh[device_id] = [only]
            else:
                late += 1
            continue
        mine = sorted((f for f in mine_all.values() if last is None or f.fix_time > last),
                      key=lambda f: f.fix_time)
        late += len(mine_all) - len(mine)
        if mine:
            fresh[device_id] = mine
    return fresh, late


def _follow_fences(session: Session, network: Network, fences: Fences,
                   fresh: dict[str, list[Fix]], states: dict[str, DeviceState],
                   trips_of: dict[str, TripRef], *, now: datetime, report: IngestReport,
                   memo: DeviceMemo | None, labels: dict[str, str] | None = None
                   ) -> dict[str, tuple[list[str], Fix]]:
    """The fences, for every fresh fix of the batch at once; then each device in time order,
    its trip moved by what it entered and left. Returns per device the fences it is in after
    its last fix, and that fix."""
    moved: dict[str, tuple[list[str], Fix]] = {}
    flat = [f for mine in fresh.values() for f in mine]
    if not flat:
        return moved
    inner, outer = fences.membership([f.lat for f in flat], [f.lon for f in flat])
    near = cast(list[bool], (inner | outer).any(axis=1).tolist()) if outer.shape[1] else \
        [False] * len(flat)
    # each fix's row of memberships as bytes: a batch has few distinct (fences the device
    # is in, row) pairs, so each step is worked out once per batch
    packed = np.packbits(np.hstack([inner, outer]), axis=1)
    rows = cast(list[bytes], packed.view(f"V{packed.shape[1]}").ravel().tolist()) \
        if packed.shape[1] else [b""] * len(flat)
    steps: dict[tuple[frozenset[str], bytes], tuple[frozenset[str], list[Transition]]] = {}
    row = 0
    empty: frozenset[str] = frozenset()
    for device_id, mine in fresh.items():
        trip = trips_of.get(device_id)
        actor: Principal | None = None  # made when the device first moves its trip
        was = states[device_id].inside
        inside = frozenset(was) if was else empty
        for fix in mine:
            if not inside and not near[row]:  # far from every fence: nothing changes
                row += 1
                continue
            key = (inside, rows[row])
            got = steps.get(key)
            if got is None:
                got = steps[key] = fences.step(inside, inner[row], outer[row])
            inside, transitions = got
            row += 1
            if trip is None:
                continue
            for t in transitions:
                if t.fence.split(":")[0] in TRIP_FENCES:
                    if actor is None:
                        actor = device_actor(device_id, (labels or {}).get(device_id, ""))
                    _move(session, network, trip, t.fence, t.entered, fix, device_id, now,
                          report, actor)
        now_inside = sorted(inside) if inside else []
        moved[device_id] = (now_inside, mine[-1])
        if memo is not None:
            memo.put(device_id, mine[-1].fix_time, now_inside)
    return moved


def _position_text(groups: Sequence[tuple[str, str | None, Iterable[Fix]]],
                   received: dict[int, datetime], default_received: datetime, now: datetime
                   ) -> tuple[str, set[date]]:
    """The batch's positions as PostgreSQL COPY text (columns of :data:`POSITION_COLUMNS`),
    and the days their fixes fall on. Written out by hand: it runs for every position."""
    times: dict[datetime, str] = {}
    stored = now.isoformat()
    default = default_received.isoformat()
    null = "\\N"
    out: list[str] = []
    append = out.append
    for device_id, trip_id, fixes in groups:
        head = (device_id.translate(_ESCAPES) if _SPECIAL.search(device_id) else device_id)
        trip = null if trip_id is None else trip_id
        for f in fixes:
            t = f.fix_time
            ft = times.get(t)
            if ft is None:
                ft = times[t] = t.isoformat()
            if received:
                r = received.get(id(f), default_received)
                rt = times.get(r)
                if rt is None:
                    rt = times[r] = r.isoformat()
            else:
                rt = default
            append(f"{head}\t{ft}\t{trip}\t{f.lat!r}\t{f.lon!r}\t"
                   f"{null if f.speed_mps is None else repr(f.speed_mps)}\t"
                   f"{null if f.bearing is None else repr(f.bearing)}\t"
                   f"{null if f.altitude is None else repr(f.altitude)}\t"
                   f"{null if f.accuracy is None else repr(f.accuracy)}\t"
                   f"{null if f.battery is None else repr(f.battery)}\t"
                   f"{f.protocol}\t{copy_text(dict(f.attributes)) if f.attributes else '{}'}\t"
                   f"{rt}\t{stored}\n")
    return "".join(out), {t.date() for t in times}


@dataclass(slots=True)
class DeviceUpdate:
    """A device after a batch: positions added, and (with fresh fixes) its fences and last
    fix."""

    id: str
    protocol: str
    positions: int
    inside: list[str] | None = None
    last_fix: Fix | None = None


def _save_devices(session: Session, updates: list[DeviceUpdate], now: datetime) -> None:
    """Create the new devices and bring the others up to date, in one statement (PostgreSQL:
    copied into a temporary table, then one upsert) or a few (SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        seen_at = now.isoformat()
        insides: dict[tuple[str, ...], str] = {}  # a few distinct lists of fences a batch
        out: list[str] = []
        for u in updates:
            head = f"{copy_text(u.id)}\t{u.protocol}\t{seen_at}\t{u.positions}\t"
            fix = u.last_fix
            if fix is None:
                out.append(head + "\\N\t\\N\t\\N\t\\N\n")
                continue
            key = tuple(u.inside or ())
            inside = insides.get(key)
            if inside is None:
                inside = insides[key] = copy_text(list(key))
            out.append(f"{head}{inside}\t{fix.fix_time.isoformat()}\t{fix.lat!r}\t"
                       f"{fix.lon!r}\n")
        _copy(session, "bf_devices_in", DEVICE_IN_COLUMNS, "".join(out))
        session.execute(text(DEVICE_UPSERT))
        return
    session.execute(sqlite_insert(Device).on_conflict_do_nothing(index_elements=["id"]), [
        {"id": u.id, "protocol": u.protocol, "label": "", "first_seen_at": now, "positions": 0,
         "inside": []} for u in updates])
    seen = [{"b_id": u.id, "b_add": u.positions} for u in updates]
    core = session.connection()  # plain executemany of one statement, no ORM bookkeeping
    devices = cast(Table, Device.__table__)
    core.execute(update(devices).where(devices.c.id == bindparam("b_id")).values(
        last_seen_at=now, positions=devices.c.positions + bindparam("b_add")), seen)
    moved = [{"b_id": u.id, "b_inside": u.inside, "b_at": u.last_fix.fix_time,
              "b_lat": u.last_fix.lat, "b_lon": u.last_fix.lon}
             for u in updates if u.last_fix is not None]
    if moved:
        core.execute(update(devices).where(devices.c.id == bindparam("b_id")).values(
            inside=bindparam("b_inside", type_=devices.c.inside.type),
            last_fix_at=bindparam("b_at"), last_lat=bindparam("b_lat"),
            last_lon=bindparam("b_lon")), moved)


POSITION_COLUMNS = ("device_id", "fix_time", "trip_id", "lat", "lon", "speed_mps", "bearing",
                    "altitude", "accuracy", "battery", "protocol", "attributes", "received_at",
                    "stored_at")
DEVICE_IN_COLUMNS = ("id", "protocol", "seen_at", "positions", "inside", "last_fix_at",
                     "last_lat", "last_lon")
_TEMP_TABLES = {
    "bf_positions_in":
        "CREATE TEMP TABLE IF NOT EXISTS bf_positions_in (LIKE positions) ON COMMIT DELETE ROWS",
    "bf_devices_in":
        "CREATE TEMP TABLE IF NOT EXISTS bf_devices_in (id varchar(100), protocol varchar(20), "
        "seen_at timestamptz, positions integer, inside jsonb, last_fix_at timestamptz, "
        "last_lat double precision, last_lon double precision) ON COMMIT DELETE ROWS",
}
DEVICE_UPSERT = """
INSERT INTO devices (id, label, protocol, first_seen_at, last_seen_at, positions, inside,
                     last_fix_at, last_lat, last_lon)
SELECT id, '', protocol, seen_at, seen_at, positions, COALESCE(inside, '[]'::jsonb),
       last_fix_at, last_lat, last_lon
FROM bf_devices_in
ON CONFLICT (id) DO UPDATE SET
    last_seen_at = EXCLUDED.last_seen_at,
    positions = devices.positions + EXCLUDED.positions,
    inside = CASE WHEN EXCLUDED.last_fix_at IS NULL THEN devices.inside ELSE EXCLUDED.inside END,
    last_fix_at = COALESCE(EXCLUDED.last_fix_at, devices.last_fix_at),
    last_lat = CASE WHEN EXCLUDED.last_fix_at IS NULL THEN devices.last_lat
                    ELSE EXCLUDED.last_lat END,
    last_lon = CASE WHEN EXCLUDED.last_fix_at IS NULL THEN devices.last_lon
                    ELSE EXCLUDED.last_lon END
"""
_COLUMN_LIST = ", ".join(POSITION_COLUMNS)
POSITION_MERGE = (
    f"INSERT INTO positions ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} "  # noqa: S608 - constants
    "FROM bf_positions_in ON CONFLICT (device_id, fix_time) DO NOTHING")


def _copy(session: Session, table: str, columns: tuple[str, ...],
          data: str | Iterable[tuple[Any, ...]]) -> None:
    """PostgreSQL ``COPY`` of rows (or their COPY text) into one of the processor's temporary
    tables (emptied at each commit)."""
    if not isinstance(data, str):
        data = copy_rows(data)
    dbapi = session.connection().connection.driver_connection
    with dbapi.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(_TEMP_TABLES[table])
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            copy.write(data)


def copy_rows(rows: Iterable[tuple[Any, ...]]) -> str:
    """Rows in PostgreSQL's COPY text format, at once."""
    memo: dict[Any, str] = {}  # times repeat (received, stored); empty attributes are common

    def text_of(value: Any) -> str:
        kind = value.__class__
        if kind is float:
            return repr(value)
        if kind is str:
            return copy_text(value)
        if value is None:
            return "\\N"
        if kind is datetime:
            got = memo.get(value)
            if got is None:
                got = memo[value] = value.isoformat()
            return got
        return copy_text(value)

    return "".join(["\t".join(map(text_of, row)) + "\n" for row in rows])


_SPECIAL = re.compile(r"[\\\t\n\r]")
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: Any) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_ESCAPES) if _SPECIAL.search(value) else value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        if not value:
            return "{}" if isinstance(value, dict) else "[]"
        try:
            text = orjson.dumps(value, default=str).decode()
        except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits, a lone surrogate
            text = json.dumps(json_safe(value), ensure_ascii=False, separators=(",", ":"),
                              default=str)
        if "\\u0000" in text:  # NUL, which jsonb refuses (rarely: a backslash before u0000)
            text = orjson.dumps(json_safe(value), default=str).decode()
        return text.translate(_ESCAPES)
    return str(value)


def _move(session: Session, network: Network, trip: TripRef, fence: str, entered: bool,
          fix: Fix, device_id: str, now: datetime, report: IngestReport,
          actor: Principal = GPS) -> None:
    """Record the movement on the trip unless its state says it cannot be (e.g. the truck
    passes another gate's area on the road): such fixes move nothing and are logged."""
    kind: Literal["area.entered", "area.left"] = "area.entered" if entered else "area.left"
    location = trip.location
    if entered and location == fence:
        return
    if not entered and location != fence and not (
            fence.startswith("gate_area:") and location and location.startswith("yard:")):
        return  # nothing to leave: the trip is not there
    try:
        with session.begin_nested():
            row, _changed = trips.record(
                session, trip.id, kind, {"area": fence}, actor=actor, network=network,
                now=now, source="gps", occurred_at=min(fix.fix_time, now),
                idempotency_key=f"gps:{device_id}:{kind}:{fence}:{fix.fix_time.isoformat()}")
            trip.location = row.location
    except AppError as exc:
        log.info("position moves no trip", device=device_id, trip=trip.reference,
                 fence=fence, entered=entered, reason=exc.message)
        return
    report.events.append({"trip": trip.reference, "event": kind, "area": fence,
                          "at": fix.fix_time})


# --- devices -------------------------------------------------------------------------------------


def bind(session: Session, device_id: str, *, actor: Principal, now: datetime,
         driver_document: str | None = None, plate: str | None = None, label: str = ""
         ) -> tuple[Device, str]:
    """Bind a device to a driver or a vehicle (a driver binds their own phone). Returns the
    device and its new token, which the phone sends as its id from now on: shown once, only
    its hash is kept; binding again issues a new one (the old one stops working)."""
    device_id = device_id.strip()
    if not device_id or len(device_id) > 100:
        raise ValidationFailed([FieldError("device_id", msg("1 to 100 characters"))])
    if (driver_document is None) == (plate is None):
        raise ValidationFailed([FieldError("driver_document",
                                           msg("give either a driver's document number or "
                                               "a plate"))])
    own_only = Role.DRIVER in actor.roles and not actor.roles & {Role.REGULATOR, Role.ADMIN}
    if own_only and (plate is not None or driver_document != actor.driver_document):
        raise ValidationFailed([FieldError(
            "driver_document", msg("a driver binds a device to their own document number"))])
    key = None
    if plate is not None:
        try:
            key = parse_plate(plate).key
        except ValueError as exc:
            raise ValidationFailed([FieldError("plate", reason_of(exc))]
                                   ) from None
    device = session.get(Device, device_id, with_for_update=True)
    if device is None:
        device = Device(id=device_id, protocol="unknown", positions=0, inside=[])
        session.add(device)
    elif own_only and device.bound_at is not None and \
            device.driver_document != actor.driver_document:
        raise ValidationFailed([FieldError("device_id", msg("this device is bound to someone "
                                                            "else; ask the regulator"))])
    before = {"driver_document": device.driver_document, "plate_key": device.plate_key}
    device.driver_document = driver_document
    device.plate_key = key
    device.label = label.strip()[:120]
    device.bound_at = now
    device.bound_by = actor.username
    token = secrets.token_urlsafe(TOKEN_BYTES)
    device.token_sha256 = token_hash(token)
    device.revoked_at = None
    session.flush()
    session.info[DEVICES_CHANGED] = True
    from borderflow import audit

    audit.record(session, actor=actor, action="device.bind", target_type="device",
                 target_id=device_id, at=now, before=before,
                 after={"driver_document": driver_document, "plate_key": key,
                        "token": "issued"})
    return device, token


def unbind(session: Session, device_id: str, *, actor: Principal, now: datetime) -> Device:
    """Take a device off its driver or vehicle: its positions go to no trip any more
    (audited; an admin's or the regulator's act)."""
    device = session.get(Device, device_id, with_for_update=True)
    if device is None:
        raise NotFound(msg("no device '{code}'", code=device_id))
    before = {"driver_document": device.driver_document, "plate_key": device.plate_key}
    device.driver_document = None
    device.plate_key = None
    device.bound_at = None
    device.bound_by = actor.username
    device.token_sha256 = None
    session.flush()
    session.info[DEVICES_CHANGED] = True
    from borderflow import audit

    audit.record(session, actor=actor, action="device.unbind", target_type="device",
                 target_id=device_id, at=now, before=before, after=None)
    return device


def revoke(session: Session, device_id: str, *, actor: Principal, now: datetime) -> Device:
    """Revoke a device's token: its positions then change no trip (rejected with the reason,
    kept for diagnosis) until it is bound again, which issues a new token (audited)."""
    device = session.get(Device, device_id, with_for_update=True)
    if device is None:
        raise NotFound(msg("no device '{code}'", code=device_id))
    if device.token_sha256 is None:
        raise ValidationFailed([FieldError("device_id", msg(
            "this device has no token to revoke; it moves no trip"))])
    if device.revoked_at is None:
        device.revoked_at = now
        session.flush()
        session.info[DEVICES_CHANGED] = True
        from borderflow import audit

        audit.record(session, actor=actor, action="device.revoke", target_type="device",
                     target_id=device_id, at=now, before={"token": "live"},
                     after={"token": "revoked"})
    return device


def device_out(session: Session, d: Device, now: datetime, silent_after: timedelta
               ) -> dict[str, Any]:
    return _device_row(d, _active_trip(session, d), now, silent_after)


def _device_row(d: Device, trip: Trip | None, now: datetime, silent_after: timedelta
                ) -> dict[str, Any]:
    silent = d.last_seen_at is None or now - d.last_seen_at > silent_after
    return {"id": d.id, "protocol": d.protocol, "label": d.label,
            "driver_document": d.driver_document, "plate_key": d.plate_key,
            "bound": d.bound_at is not None, "trip": trip.reference if trip else None,
            "revoked_at": d.revoked_at,
            "first_seen_at": d.first_seen_at, "last_seen_at": d.last_seen_at,
            "last_fix_at": d.last_fix_at, "positions": d.positions, "inside": d.inside or [],
            "silent": silent}


NEVER = datetime(1970, 1, 1, tzinfo=UTC)
"""Where a device never heard from sorts (last) in the list of devices."""
DEVICE_KEYS = (paging.Key(func.coalesce(Device.last_seen_at, NEVER), datetime, descending=True),
               paging.Key(Device.id, str))
"""The order of the list of devices: latest heard first, then by id."""


def device_key(d: Device) -> tuple[datetime, str]:
    return (d.last_seen_at or NEVER, d.id)


def _on_active_trip() -> Any:
    """Devices whose driver or vehicle has an active trip (their positions go to one)."""
    return select(Trip.id).where(Trip.status.in_(ACTIVE), or_(
        (Device.driver_document.is_not(None)) & (Trip.driver_document == Device.driver_document),
        (Device.plate_key.is_not(None)) & (Trip.plate_key == Device.plate_key))).exists()


def devices(session: Session, *, now: datetime, silent_after: timedelta,
            unknown_only: bool = False, cursor: str | None = None,
            limit: int = paging.DEFAULT_LIMIT) -> paging.Page[dict[str, Any]]:
    """A page of the devices, latest heard first (``unknown_only``: those whose positions go
    to no trip), each with its active trip: two queries a page."""
    q = select(Device)
    if unknown_only:
        q = q.where(~_on_active_trip())
    found = paging.page(session, q, DEVICE_KEYS, cursor=cursor, limit=limit, key_of=device_key)
    trips = _active_trips(session, found.items)  # one query for every device's trip
    return paging.Page([_device_row(d, trips.get(d.id), now, silent_after)
                        for d in found.items], found.next_cursor, found.prev_cursor)


def silent_devices(session: Session, *, now: datetime, silent_after: timedelta
                   ) -> list[dict[str, Any]]:
    """Devices of active trips that have not reported for ``silent_after``: the regulator
    should call the driver."""
    rows = list(session.scalars(select(Device).where(Device.bound_at.is_not(None))))
    trips = _active_trips(session, rows)  # one query for every device's trip
    out = []
    for d in rows:
        info = _device_row(d, trips.get(d.id), now, silent_after)
        if info["trip"] and info["silent"]:
            out.append(info)
    return out


# --- reading back --------------------------------------------------------------------------------


def track(session: Session, row: Trip, limit: int = 5000) -> list[dict[str, Any]]:
    q = select(Position).where(Position.trip_id == row.id).order_by(Position.fix_time) \
        .limit(limit)
    return [_position(p) for p in session.scalars(q)]


def _position(p: Position) -> dict[str, Any]:
    return {"device_id": p.device_id, "time": p.fix_time, "lat": p.lat, "lon": p.lon,
            "speed_kmh": None if p.speed_mps is None else round(p.speed_mps * 3.6, 1),
            "bearing": p.bearing, "accuracy": p.accuracy, "battery": p.battery}


def latest(session: Session) -> list[dict[str, Any]]:
    """The latest position of every truck on an active trip (for the console map)."""
    out = []
    rows = session.execute(select(Device, Trip).join(
        Trip, or_(Trip.driver_document == Device.driver_document,
                  Trip.plate_key == Device.plate_key)).where(
        Trip.status.in_(ACTIVE), Device.last_fix_at.is_not(None))).all()
    seen: set[str] = set()
    for device, trip in sorted(rows, key=lambda r: r[1].created_at, reverse=True):
        if trip.id in seen:
            continue
        seen.add(trip.id)
        out.append({"trip": trip.reference, "plate": trip.state["facts"]["plate"],
                    "gate": trip.gate, "status": trip.status, "location": trip.location,
                    "device_id": device.id, "time": device.last_fix_at,
                    "lat": device.last_lat, "lon": device.last_lon})
    return sorted(out, key=lambda x: x["trip"])


def eta_to_staging(session: Session, network: Network, fences: Fences, row: Trip,
                   now: datetime) -> dict[str, Any]:
    """When the truck should reach its staging area, from its last positions: the straight-line
    distance over its recent average speed (at least 20 km/h once it moves; a road is longer
    than a straight line, so this is a lower bound and is labelled as such)."""
    gate = network.gate(row.gate)
    staging = gate.staging_area if gate else None
    if staging is None:
        raise NotFound(msg("the trip's gate has no staging area"))
    recent = list(session.scalars(select(Position).where(Position.trip_id == row.id)
                                  .order_by(Position.fix_time.desc()).limit(10)))
    if not recent:
        raise NotFound(msg("no positions for this trip yet"))
    fence = f"staging:{staging}"
    last = recent[0]
    distance = fences.distance_m(fence, Point(last.lat, last.lon))
    speeds = [p.speed_mps for p in recent if p.speed_mps is not None]
    speed = max(sum(speeds) / len(speeds), 20 / 3.6) if speeds else 40 / 3.6
    arrive = last.fix_time + timedelta(seconds=distance / speed)
    return {"trip": row.reference, "staging_area": staging, "from": _position(last),
            "distance_km": round(distance / 1000, 2),
            "speed_kmh": round(speed * 3.6, 1), "eta": max(arrive, now),
            "already_there": row.location == fence}


def stats(session: Session, since: datetime) -> dict[str, Any]:
    stored = session.scalar(select(func.count()).select_from(Position).where(
        Position.stored_at >= since)) or 0
    rejected = session.execute(select(RejectedPosition.reason, func.count()).where(
        RejectedPosition.received_at >= since).group_by(RejectedPosition.reason)).all()
    return {"since": since, "stored": stored,
            "rejected": sum(n for _, n in rejected),
            "rejected_by_reason": dict(sorted(rejected, key=lambda x: -x[1])[:20]),
            "unknown_devices": session.scalar(select(func.count()).select_from(Device).where(
                Device.bound_at.is_(None))) or 0}


def haversine_m(a: Point, b: Point) -> float:
    r = 6_371_000.0
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))
