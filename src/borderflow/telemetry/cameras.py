"""Plate-reading cameras (ANPR) at checkpoints, and what they read.

A camera is a machine client of its own (role ``camera``, one API key), registered at one
checkpoint of one gate. Each read is stored; a read that is confidently one of the trips
expected at the checkpoint records that trip's movement through the trip service (source
``camera``, the camera as actor); any other read waits in the review queue until an officer
confirms it for a trip or dismisses it. Services never commit; the caller does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.account import service as accounts
from borderflow.domain import telemetry_plates as plates
from borderflow.domain import trip as domain
from borderflow.domain.access import Principal, Role
from borderflow.domain.network import Flow, Network
from borderflow.errors import (
    AppError,
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    ValidationFailed,
    msg,
)
from borderflow.store.models import Account, ApiKey, Camera, PlateRead, Trip
from borderflow.trip import service as trips

USERNAME_PREFIX = "camera."
OPEN = "review"
"""The status of a read waiting for an officer."""
RESOLVED = ("matched", "confirmed")
"""Statuses of reads that stand for a trip."""
CANDIDATES_SHOWN = 5


class AlreadyResolved(Conflict):
    code = "already_resolved"


# --- cameras -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraSpec:
    code: str
    name: str
    gate: str
    checkpoint: str
    direction: Flow | None = None


def register(session: Session, spec: CameraSpec, *, actor: Principal, network: Network,
             now: datetime) -> tuple[Camera, str]:
    """Register a camera with its machine client and API key; the key is returned once."""
    errors: list[FieldError] = []
    gate = network.gate(spec.gate)
    if gate is None:
        errors.append(FieldError("gate", msg("unknown gate '{code}'; gates: {gates}",
                                             code=spec.gate,
                                             gates=[g.code for g in network.gates])))
    if spec.checkpoint not in plates.CHECKPOINTS:
        errors.append(FieldError("checkpoint", msg("one of {checkpoints}",
                                                    checkpoints=list(plates.CHECKPOINTS))))
    if spec.direction is not None and gate is not None and \
            not gate.permits_direction(spec.direction):
        errors.append(FieldError("direction", msg("gate {gate} has no {direction} traffic",
                                                  gate=gate.code, direction=spec.direction)))
    if errors:
        raise ValidationFailed(errors)
    username = USERNAME_PREFIX + spec.code
    if session.scalar(select(Camera.id).where(Camera.code == spec.code)) is not None or \
            session.scalar(select(Account.id).where(Account.username == username)) is not None:
        raise Conflict(msg("a camera '{code}' is already registered", code=spec.code),
                       field="code")
    account = accounts.create_account(
        session,
        accounts.AccountSpec(username=username, display_name=spec.name, roles=(Role.CAMERA,),
                             kind="client", gate_scope=(spec.gate,)),
        actor=actor, now=now, network=network,
    )
    camera = Camera(code=spec.code, name=spec.name, gate=spec.gate, checkpoint=spec.checkpoint,
                    direction=spec.direction, account_id=account.id, created_at=now,
                    created_by=actor.username)
    session.add(camera)
    session.flush()
    _, key = accounts.create_api_key(session, account, f"camera {spec.code}", actor=actor,
                                     now=now)
    audit.record(session, actor=actor, action="camera.create", target_type="camera",
                 target_id=camera.code, at=now, after=_camera_snapshot(camera))
    return camera, key


def _camera_snapshot(c: Camera) -> dict[str, Any]:
    return {"code": c.code, "name": c.name, "gate": c.gate, "checkpoint": c.checkpoint,
            "direction": c.direction, "account_id": c.account_id}


def cameras(session: Session, *, gate: str | None = None, code: str | None = None
            ) -> list[dict[str, Any]]:
    """The cameras (of a gate, or the one with ``code``) with their client, their keys (a
    camera without a live key is disabled) and when each last sent a read."""
    q = select(Camera).order_by(Camera.gate, Camera.code)
    if gate is not None:
        q = q.where(Camera.gate == gate)
    if code is not None:
        q = q.where(Camera.code == code)
    rows = list(session.scalars(q))
    ids = [c.account_id for c in rows]
    clients = {a.id: a for a in session.scalars(select(Account).where(Account.id.in_(ids)))}
    keys: dict[int, list[ApiKey]] = {i: [] for i in ids}
    for k in accounts.api_keys_of(session, ids):
        keys[k.account_id].append(k)
    last = dict(session.execute(select(PlateRead.camera_id, func.max(PlateRead.received_at))
                                .group_by(PlateRead.camera_id)).all())
    out = []
    for c in rows:
        client = clients[c.account_id]
        mine = sorted(keys[c.account_id], key=lambda k: k.id)
        out.append({
            **_camera_snapshot(c), "username": client.username,
            "active": client.active and any(k.revoked_at is None for k in mine),
            "keys": [{"id": k.id, "prefix": k.prefix, "created_at": k.created_at,
                      "revoked_at": k.revoked_at} for k in mine],
            "last_read_at": last.get(c.id), "created_at": c.created_at,
            "created_by": c.created_by,
        })
    return out


def camera_of(session: Session, actor: Principal) -> Camera:
    """The camera whose client is calling."""
    camera = session.scalar(select(Camera).where(Camera.account_id == actor.id))
    if camera is None:
        raise Forbidden(msg("this API key belongs to no registered camera"))
    return camera


# --- taking a read -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadIn:
    """A read as the camera sent it (already parsed)."""

    camera: str
    plate: str
    confidence: float
    read_at: datetime
    candidates: tuple[plates.Reading, ...] = ()
    direction: str | None = None
    image_ref: str | None = None


def _readings(row: PlateRead) -> list[plates.Reading]:
    return [plates.Reading(row.raw_plate, row.confidence),
            *(plates.Reading(c["plate"], c["confidence"]) for c in row.candidates)]


def _expected(session: Session, camera: Camera, keys: set[str]) -> list[Trip]:
    """The trips with one of these plate keys that the camera's checkpoint can expect now."""
    checkpoint = plates.CHECKPOINTS[camera.checkpoint]
    q = select(Trip).where(Trip.gate == camera.gate, Trip.plate_key.in_(sorted(keys)))
    if checkpoint.sense == "in":
        q = q.where(Trip.status.in_(("called", "declared")))
    else:
        q = q.where(Trip.location.is_not(None))
    return [t for t in session.scalars(q.order_by(Trip.id))
            if plates.is_expected(t.state, checkpoint, camera.gate, camera.direction)]


def _match_out(matches: Sequence[plates.Match], by_id: dict[str, Trip]) -> list[dict[str, Any]]:
    return [{"trip_id": m.trip, "reference": by_id[m.trip].reference,
             "plate": by_id[m.trip].state["facts"]["plate"], "cost": m.cost,
             "confidence": m.confidence, "read_as": m.read_as} for m in matches]


def _move(session: Session, trip: Trip, camera: Camera, read: PlateRead, *, actor: Principal,
          source: str, now: datetime) -> list[str]:
    """Record on the trip the movements the read stands for; the trip's rules may refuse."""
    if read.read_at < trip.created_at:
        raise domain.InvalidTransition(msg("the plate was read before the trip was declared"))
    checkpoint = plates.CHECKPOINTS[camera.checkpoint]
    done = []
    for event_type, area in plates.events_for(trip.state, checkpoint, camera.gate):
        payload = {"area": area, "gate": camera.gate, "camera": camera.code,
                   "plate_read": read.id}
        trips.append_event(session, trip,
                           domain.Event(event_type, read.read_at, actor.username, payload),
                           actor=actor, source=source, now=now)
        done.append(f"{event_type} {area}")
    return done


def _take(session: Session, row: PlateRead, camera: Camera, trip_id: str, *,
          actor: Principal, now: datetime) -> None:
    """Record the confident match, or leave the read for review saying why it could not be."""
    checkpoint = plates.CHECKPOINTS[camera.checkpoint]
    trip = session.scalar(select(Trip).where(Trip.id == trip_id).with_for_update()
                          .execution_options(populate_existing=True))
    if trip is None or not plates.is_expected(trip.state, checkpoint, camera.gate,
                                              camera.direction):
        row.reason = "the trip changed while the read was taken"
        return
    try:
        with session.begin_nested():
            events = _move(session, trip, camera, row, actor=actor, source="camera", now=now)
    except AppError as exc:
        row.reason = f"not recorded: {exc.message}"
        return
    row.status, row.trip_id, row.events, row.reason = "matched", trip.id, events, ""


def _repeat(session: Session, row: PlateRead, readings: Sequence[plates.Reading],
            keys: set[str], window: timedelta) -> None:
    """A read of a plate the same checkpoint already matched moments ago records nothing."""
    q = (select(PlateRead, Trip).join(Trip, Trip.id == PlateRead.trip_id)
         .where(PlateRead.gate == row.gate, PlateRead.checkpoint == row.checkpoint,
                PlateRead.status.in_(RESOLVED), PlateRead.id != row.id,
                PlateRead.read_at >= row.read_at - window,
                PlateRead.read_at <= row.read_at + window,
                Trip.plate_key.in_(sorted(keys)))
         .order_by(PlateRead.read_at.desc(), PlateRead.id.desc()))
    for earlier, trip in session.execute(q):
        if plates.match(readings, [(trip.id, trip.plate_key)], plates.MAX_CONFIDENT_COST):
            first = earlier.repeat_of or earlier.id
            row.status, row.trip_id, row.repeat_of = "matched", trip.id, first
            row.reason = f"repeat of read {first} of {trip.reference}"
            return


def submit(session: Session, read: ReadIn, *, actor: Principal, now: datetime,
           min_confidence: float, repeat_window: timedelta) -> PlateRead:
    """Store a camera's read and act on it: record the movement of the one expected trip it
    confidently is, note a repeat, or leave it for an officer."""
    camera = camera_of(session, actor)
    if read.camera != camera.code:
        raise Forbidden(msg("this key belongs to camera '{code}'; it posts only its own reads",
                            code=camera.code), field="camera")
    errors: list[FieldError] = []
    key = plates.normalise(read.plate)
    if not key:
        errors.append(FieldError("plate", msg("no letter or digit was read")))
    errors += [FieldError(f"candidates[{i}].plate", msg("no letter or digit was read"))
               for i, c in enumerate(read.candidates) if not plates.normalise(c.text)]
    if read.read_at > now + trips.FUTURE_TOLERANCE:
        errors.append(FieldError("time", msg("is in the future; check the camera's clock")))
    if errors:
        raise ValidationFailed(errors)
    row = PlateRead(
        camera_id=camera.id, gate=camera.gate, checkpoint=camera.checkpoint,
        raw_plate=read.plate, plate_key=key, confidence=read.confidence,
        candidates=[{"plate": c.text, "confidence": c.confidence} for c in read.candidates],
        matches=[], read_at=read.read_at, received_at=now, direction=read.direction,
        image_ref=read.image_ref, status=OPEN, reason="", events=[],
    )
    session.add(row)
    session.flush()
    readings = _readings(row)
    keys = plates.keys_of(readings)
    conflict = plates.sense_conflict(plates.CHECKPOINTS[camera.checkpoint], read.direction)
    if conflict is not None:
        row.reason = conflict
    else:
        expected = _expected(session, camera, keys)
        decision = plates.decide(readings, [(t.id, t.plate_key) for t in expected],
                                 min_confidence)
        row.matches = _match_out(decision.matches, {t.id: t for t in expected})
        row.reason = decision.reason
        if decision.trip is not None:
            _take(session, row, camera, decision.trip, actor=actor, now=now)
        if row.status == OPEN and (decision.trip is not None or not decision.matches):
            _repeat(session, row, readings, keys, repeat_window)
    session.flush()
    audit.record(session, actor=actor, action="plate_read.received", target_type="plate_read",
                 target_id=str(row.id), at=now, after=snapshot(row))
    return row


def read_out(session: Session, row: PlateRead) -> dict[str, Any]:
    """A read as the API shows it."""
    camera = session.get(Camera, row.camera_id)
    trip = session.get(Trip, row.trip_id) if row.trip_id else None
    return {
        "id": row.id, "camera": camera.code if camera else None, "gate": row.gate,
        "checkpoint": row.checkpoint, "plate": row.raw_plate, "plate_key": row.plate_key,
        "plate_display": plates.display(row.plate_key), "confidence": row.confidence,
        "candidates": row.candidates, "matches": row.matches, "read_at": row.read_at,
        "received_at": row.received_at, "direction": row.direction,
        "image_ref": row.image_ref, "status": row.status, "reason": row.reason,
        "trip": trip.reference if trip else None, "trip_id": row.trip_id,
        "events": row.events, "repeat_of": row.repeat_of, "resolved_by": row.resolved_by,
        "resolved_at": row.resolved_at, "resolution_note": row.resolution_note,
    }


def snapshot(row: PlateRead) -> dict[str, Any]:
    """The audited view of a read."""
    return {"camera_id": row.camera_id, "plate_key": row.plate_key,
            "confidence": row.confidence, "read_at": row.read_at.isoformat(),
            "status": row.status, "trip_id": row.trip_id, "events": list(row.events),
            "reason": row.reason, "resolved_by": row.resolved_by,
            "resolution_note": row.resolution_note}


# --- the review queue --------------------------------------------------------------------------


def _in_scope(actor: Principal, gate: str) -> bool:
    """Officers with a gate scope review the reads of those gates; others every gate."""
    return not actor.gate_scope or gate in actor.gate_scope


def candidates(session: Session, row: PlateRead, camera: Camera) -> list[dict[str, Any]]:
    """The trips the read may be, as they are now: those the checkpoint expects first, then
    the fewest characters changed and the most confident reading."""
    readings = _readings(row)
    found = list(session.scalars(select(Trip).where(
        Trip.plate_key.in_(sorted(plates.keys_of(readings))),
        Trip.status.notin_(("completed", "cancelled")))))
    by_id = {t.id: t for t in found}
    checkpoint = plates.CHECKPOINTS[camera.checkpoint]
    out = []
    for m in plates.match(readings, [(t.id, t.plate_key) for t in found]):
        t = by_id[m.trip]
        out.append({"trip_id": t.id, "reference": t.reference,
                    "plate": t.state["facts"]["plate"], "gate": t.gate, "status": t.status,
                    "location": t.location, "cost": m.cost, "confidence": m.confidence,
                    "read_as": m.read_as,
                    "expected": plates.is_expected(t.state, checkpoint, camera.gate,
                                                   camera.direction)})
    out.sort(key=lambda c: (not c["expected"], c["cost"], -c["confidence"], c["reference"]))
    return out[:CANDIDATES_SHOWN]


def review_queue(session: Session, *, actor: Principal, gate: str | None = None,
                 limit: int = 100) -> list[tuple[PlateRead, Camera, list[dict[str, Any]]]]:
    """Reads waiting for an officer at the gates the caller works at, oldest first, each with
    the trips it may be."""
    q = (select(PlateRead, Camera).join(Camera, Camera.id == PlateRead.camera_id)
         .where(PlateRead.status == OPEN))
    if gate:
        q = q.where(PlateRead.gate == gate)
    if actor.gate_scope:
        q = q.where(PlateRead.gate.in_(sorted(actor.gate_scope)))
    rows = session.execute(q.order_by(PlateRead.read_at, PlateRead.id).limit(limit))
    return [(r, c, candidates(session, r, c)) for r, c in rows]


def get(session: Session, read_id: int, *, actor: Principal, for_update: bool = False
        ) -> tuple[PlateRead, Camera]:
    """A read the caller may review (404 otherwise)."""
    q = (select(PlateRead, Camera).join(Camera, Camera.id == PlateRead.camera_id)
         .where(PlateRead.id == read_id))
    if for_update:
        q = q.with_for_update(of=PlateRead)
    found = session.execute(q).first()
    if found is None or not _in_scope(actor, found[0].gate):
        raise NotFound(msg("no plate read {number} that you may review", number=str(read_id)))
    return found


def _open(session: Session, read_id: int, actor: Principal) -> tuple[PlateRead, Camera]:
    row, camera = get(session, read_id, actor=actor, for_update=True)
    if row.status != OPEN:
        if row.resolved_by:
            raise AlreadyResolved(msg("plate read {number} is already {status} by {by}",
                                      number=str(read_id), status=row.status,
                                      by=row.resolved_by))
        raise AlreadyResolved(msg("plate read {number} is already {status}",
                                  number=str(read_id), status=row.status))
    return row, camera


def confirm(session: Session, read_id: int, trip_ref: str, *, actor: Principal,
            network: Network, now: datetime, note: str | None = None) -> PlateRead:
    """An officer says which trip the read is: its movement is recorded (the officer as actor,
    at the time of the read)."""
    row, camera = _open(session, read_id, actor)
    trip = trips.get(session, trip_ref, actor=actor, network=network, for_update=True)
    if trip.gate != row.gate:
        raise ValidationFailed([FieldError("trip", msg(
            "{reference} goes through gate {gate}; the camera is at {camera_gate}",
            reference=trip.reference, gate=trip.gate, camera_gate=msg("{gate}", gate=row.gate)))])
    before = snapshot(row)
    row.events = _move(session, trip, camera, row, actor=actor, source="officer_screen",
                       now=now)
    row.status, row.trip_id = "confirmed", trip.id
    row.resolved_by, row.resolved_at, row.resolution_note = actor.username, now, note
    session.flush()
    audit.record(session, actor=actor, action="plate_read.confirm", target_type="plate_read",
                 target_id=str(row.id), at=now, before=before, after=snapshot(row))
    return row


def dismiss(session: Session, read_id: int, reason: str, *, actor: Principal, now: datetime
            ) -> PlateRead:
    """An officer sets a read aside (not a vehicle, a repeat, a vehicle not on any trip...)."""
    if not reason.strip():
        raise ValidationFailed([FieldError("reason", msg("say why the read is dismissed"))])
    row, _camera = _open(session, read_id, actor)
    before = snapshot(row)
    row.status = "dismissed"
    row.resolved_by, row.resolved_at, row.resolution_note = actor.username, now, reason.strip()
    session.flush()
    audit.record(session, actor=actor, action="plate_read.dismiss", target_type="plate_read",
                 target_id=str(row.id), at=now, before=before, after=snapshot(row))
    return row
