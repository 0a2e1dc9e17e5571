"""Purging personal data past its retention period, and exporting everything stored about one
driver. The rules (who sees what, masking, periods) are in :mod:`borderflow.domain.privacy`.

What stays: the trip event log and the audit log are append-only records (triggers refuse
changes); they keep what they recorded and are read only by roles that need them (views mask
the rest). Statistics never hold personal data, so purging leaves every figure unchanged."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.domain import privacy
from borderflow.domain.access import Principal
from borderflow.store.models import (
    Account,
    ApiKey,
    AuditEntry,
    Declaration,
    DeclarationVehicle,
    Device,
    Notification,
    PlateRead,
    Position,
    Trip,
    TripEvent,
)
from borderflow.telemetry import service as telemetry

# --- retention ---------------------------------------------------------------------------------


def purge(session: Session, retention: privacy.Retention, *, now: datetime,
          actor: Principal) -> dict[str, int]:
    """Delete or anonymise what is past its period; the counts of each kind. One audit row
    when anything was purged."""
    cut = retention.cutoffs(now)
    done = {
        "positions": telemetry.prune(session, cut["positions"]),
        "device_last_fixes": _device_fixes(session, cut["positions"]),
        "trips": _trips(session, cut["drivers"]),
        "declarations": _declarations(session, cut["drivers"]),
        "camera_images": _camera_images(session, cut["camera_images"]),
        "notification_contacts": _notification_contacts(session,
                                                        cut["notification_contacts"]),
    }
    if any(done.values()):
        audit.record(session, actor=actor, action="privacy.purge", target_type="retention",
                     target_id=now.date().isoformat(), at=now,
                     after={"purged": done, "before": {k: v.isoformat() for k, v in cut.items()}})
    return done


def _device_fixes(session: Session, cutoff: datetime) -> int:
    """A device's last known place, once older than the positions' period."""
    result = session.execute(
        update(Device).where(Device.last_fix_at < cutoff, Device.last_lat.is_not(None))
        .values(last_lat=None, last_lon=None))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _trips(session: Session, cutoff: datetime) -> int:
    """Finished trips: the driver anonymised in the projection (the event log keeps its
    record, see the module's note)."""
    rows = session.scalars(select(Trip).where(
        Trip.status.in_(privacy.FINISHED_TRIP), Trip.updated_at < cutoff,
        Trip.driver_document.not_like("%****%"))).all()
    for row in rows:
        state = dict(row.state)
        facts = dict(state["facts"])
        facts["driver"] = privacy.anonymise_driver(facts["driver"])
        state["facts"] = facts
        row.state = state
        row.driver_document = privacy.mask_document(row.driver_document)
    return len(rows)


def _declarations(session: Session, cutoff: datetime) -> int:
    """Declarations whose trips are all finished and past the period (or that never made a
    trip and were last changed before it): their drivers anonymised."""
    candidates = session.scalars(select(Declaration).where(Declaration.updated_at < cutoff)).all()
    done = 0
    for row in candidates:
        if all(v.get("driver", {}).get("name") == privacy.PURGED for v in row.vehicles):
            continue
        open_trip = session.scalar(select(Trip.id).where(
            Trip.declaration_id == row.id,
            or_(Trip.status.not_in(privacy.FINISHED_TRIP), Trip.updated_at >= cutoff)).limit(1))
        if open_trip is not None:
            continue
        row.vehicles = [{**v, "driver": privacy.anonymise_driver(v["driver"])}
                        for v in row.vehicles]
        for index in session.scalars(select(DeclarationVehicle).where(
                DeclarationVehicle.declaration_id == row.id)):
            index.driver_document = privacy.mask_document(index.driver_document)
        done += 1
    return done


def _camera_images(session: Session, cutoff: datetime) -> int:
    result = session.execute(
        update(PlateRead).where(PlateRead.read_at < cutoff, PlateRead.image_ref.is_not(None))
        .values(image_ref=None))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _notification_contacts(session: Session, cutoff: datetime) -> int:
    """Notifications keep their text; the phone goes and a driver's document is masked."""
    rows = session.scalars(select(Notification).where(
        Notification.created_at < cutoff,
        or_(Notification.phone.is_not(None),
            (Notification.recipient_kind == "driver")
            & Notification.recipient_key.not_like("%****%")))).all()
    for row in rows:
        row.phone = None
        if row.recipient_kind == "driver":
            row.recipient_key = privacy.mask_document(row.recipient_key)
    return len(rows)


# --- the data-subject export -------------------------------------------------------------------


def _plain(row: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}


def export_driver(session: Session, document: str, *, actor: Principal, now: datetime
                  ) -> dict[str, Any]:
    """Everything stored about the driver with this document number: accounts (without
    password hashes), declarations naming them, trips with their events, devices with their
    positions, notifications, and the audit rows about any of these. Audited."""
    accounts = session.scalars(select(Account).where(Account.driver_document == document)).all()
    account_ids = [a.id for a in accounts]
    decl_ids = session.scalars(select(DeclarationVehicle.declaration_id).where(
        DeclarationVehicle.driver_document == document).distinct()).all()
    declarations = session.scalars(select(Declaration).where(Declaration.id.in_(decl_ids))
                                   .order_by(Declaration.created_at)).all()
    trips = session.scalars(select(Trip).where(Trip.driver_document == document)
                            .order_by(Trip.created_at)).all()
    trip_ids = [t.id for t in trips]
    events = session.scalars(select(TripEvent).where(TripEvent.trip_id.in_(trip_ids))
                             .order_by(TripEvent.trip_id, TripEvent.seq)).all()
    devices = session.scalars(select(Device).where(Device.driver_document == document)).all()
    device_ids = [d.id for d in devices]
    positions = session.scalars(select(Position).where(Position.device_id.in_(device_ids))
                                .order_by(Position.device_id, Position.fix_time)).all()
    notifications = session.scalars(select(Notification).where(
        Notification.recipient_kind == "driver", Notification.recipient_key == document)
        .order_by(Notification.id)).all()
    keys = session.scalars(select(ApiKey).where(ApiKey.account_id.in_(account_ids))).all()
    targets = or_(
        (AuditEntry.target_type == "account") & AuditEntry.target_id.in_(map(str, account_ids)),
        (AuditEntry.target_type == "declaration") & AuditEntry.target_id.in_(decl_ids),
        (AuditEntry.target_type == "trip") & AuditEntry.target_id.in_(trip_ids),
        (AuditEntry.target_type == "device") & AuditEntry.target_id.in_(device_ids),
        AuditEntry.actor_id.in_(account_ids),
    )
    audit_rows = session.scalars(select(AuditEntry).where(targets).order_by(AuditEntry.seq)
                                 ).all()
    export = {
        "driver_document": document,
        "exported_at": now,
        "exported_by": actor.username,
        "accounts": [_plain(a, ("password_hash",)) for a in accounts],
        "api_keys": [_plain(k, ("secret_sha256",)) for k in keys],
        "declarations": [{**_plain(d), "vehicles": [v for v in d.vehicles
                                                   if _names(v, document)]}
                         for d in declarations],
        "trips": [{**_plain(t), "events": [_plain(e) for e in events if e.trip_id == t.id]}
                  for t in trips],
        "devices": [_plain(d) for d in devices],
        "positions": [_plain(p) for p in positions],
        "notifications": [_plain(n) for n in notifications],
        "audit": [{**_plain(r), "before": _scrub(r.before, document),
                   "after": _scrub(r.after, document)} for r in audit_rows],
    }
    counts = {k: len(v) for k, v in export.items() if isinstance(v, list)}
    audit.record(session, actor=actor, action="privacy.export", target_type="driver",
                 target_id=privacy.mask_document(document), at=now, after={"counts": counts})
    return export


def _scrub(value: Any, document: str) -> Any:
    """A recorded value with every other driver in it masked and unnamed (a declaration's
    snapshot names all its drivers)."""
    if isinstance(value, list):
        return [_scrub(v, document) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _scrub(v, document) for k, v in value.items()}
    if out.get("document_number") not in (None, document):
        out = privacy.mask_driver(out)
        if out.get("name"):
            out["name"] = "***"
    if isinstance(out.get("driver_document"), str) and out["driver_document"] != document:
        out["driver_document"] = privacy.mask_document(out["driver_document"])
    return out


def _names(vehicle: dict[str, Any], document: str) -> bool:
    """Whether a declaration's vehicle has this driver (only their own vehicle is exported:
    the declaration's other drivers are someone else's data)."""
    return bool(vehicle.get("driver", {}).get("document_number") == document)
