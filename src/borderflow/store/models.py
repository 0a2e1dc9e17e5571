"""Tables. Every feature's rows live here so migrations see one metadata."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from borderflow.store.base import Base, JSONType, UTCDateTime


class Account(Base):
    """A person (user) or a machine client, with roles and server-side scopes."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # user | client
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    roles: Mapped[list[str]] = mapped_column(JSONType)
    enterprise_tax_code: Mapped[str | None] = mapped_column(String(14), nullable=True, index=True)
    driver_document: Mapped[str | None] = mapped_column(String(40), nullable=True)
    gate_scope: Mapped[list[str]] = mapped_column(JSONType, default=list)
    yard_scope: Mapped[list[str]] = mapped_column(JSONType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Raised when the account's password, roles or active flag change, or on "log out
    everywhere": API tokens carrying an older version are refused."""


class WebSession(Base):
    """A browser session. The cookie holds a random token; only its SHA-256 is kept, so the
    session ends the moment its row is revoked (logout, password change, an admin)."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    stage: Mapped[str] = mapped_column(String(10))  # full | enrol (second factor to set up)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # purged after
    idle_seconds: Mapped[int] = mapped_column(Integer)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    ip: Mapped[str] = mapped_column(String(45), default="")


class SecondFactor(Base):
    """An account's TOTP secret (RFC 6238, 30 s, 6 digits); confirmed once a first code was
    typed. ``last_step`` is the last time step accepted: a code is never accepted twice."""

    __tablename__ = "second_factors"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)


class RecoveryCode(Base):
    """A one-time recovery code of a second factor (Argon2 hash only)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiKey(Base):
    """A machine client's key. Only a SHA-256 digest of the secret part is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditEntry(Base):
    """Who did what to which record, when, with the record before and after. Never updated or
    deleted (database triggers refuse it); each row chained to the previous by hash."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    actor_name: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(80), index=True)
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(80))
    before: Mapped[Any] = mapped_column(JSONType, nullable=True)
    after: Mapped[Any] = mapped_column(JSONType, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    """Place in the hash chain: 1, 2, 3… (see ``borderflow.audit``)."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)


class AuditChainHead(Base):
    """The last link of the audit chain (one row, id 1): locked by each writer of audit rows
    until its transaction ends, so that concurrent writers append one after another."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class NetworkVersion(Base):
    """One complete snapshot of the reference network, in force from ``effective_from``."""

    __tablename__ = "network_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(40))
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONType)
    sha256: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(80))


class Declaration(Base):
    """A pre-arrival declaration (goods, vehicles with their drivers, quarantine)."""

    __tablename__ = "declarations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    direction: Mapped[str] = mapped_column(String(40))
    flow: Mapped[str] = mapped_column(String(10))
    enterprise_tax_code: Mapped[str] = mapped_column(String(14), index=True)
    enterprise_name: Mapped[str] = mapped_column(String(200))
    customs_agent_tax_code: Mapped[str | None] = mapped_column(
        String(14), nullable=True, index=True
    )
    requested_gate: Mapped[str] = mapped_column(String(40), index=True)
    requested_date: Mapped[date] = mapped_column(Date, index=True)
    perishable: Mapped[bool] = mapped_column(Boolean)
    quarantine_kind: Mapped[str] = mapped_column(String(10))
    goods: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    vehicles: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    quarantine: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    total_net_weight_kg: Mapped[int] = mapped_column(Integer)
    total_value_usd_cents: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


Index("ix_declarations_enterprise_head", func.substr(Declaration.enterprise_tax_code, 1, 10))
Index("ix_declarations_agent_head", func.substr(Declaration.customs_agent_tax_code, 1, 10))


class DeclarationVehicle(Base):
    """Lookup index: which declarations carry a plate or a driver (officers search by plate)."""

    __tablename__ = "declaration_vehicles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    declaration_id: Mapped[str] = mapped_column(
        ForeignKey("declarations.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    plate_key: Mapped[str] = mapped_column(String(20), index=True)
    driver_document: Mapped[str] = mapped_column(String(40), index=True)

    __table_args__ = (UniqueConstraint("declaration_id", "position"),)


class IdempotencyRecord(Base):
    """The first response to a write carrying an ``Idempotency-Key``, replayed on retries."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[Any] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # purged by age

    __table_args__ = (UniqueConstraint("account_id", "key"),)


class Trip(Base):
    """Projection of a trip's events: its current state, with indexed columns for queries.

    Written only together with a new row in ``trip_events`` (same transaction, version + 1).
    """

    __tablename__ = "trips"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    declaration_id: Mapped[str] = mapped_column(ForeignKey("declarations.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    gate: Mapped[str] = mapped_column(String(40), index=True)
    flow: Mapped[str] = mapped_column(String(10))
    direction: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), index=True)
    priority: Mapped[str] = mapped_column(String(20))
    plate_key: Mapped[str] = mapped_column(String(20), index=True)
    driver_document: Mapped[str] = mapped_column(String(40), index=True)
    enterprise_tax_code: Mapped[str] = mapped_column(String(14), index=True)
    customs_agent_tax_code: Mapped[str | None] = mapped_column(String(14), nullable=True)
    location: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    on_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    """When the trip's earliest unmet deadline falls due (``domain/trip.py::next_due``)."""
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("declaration_id", "position"),)


# An enterprise's trips and declarations by the 10-digit head of its tax code, declarant or
# customs agent (store/scoping.py): without these every enterprise page reads every row.
Index("ix_trips_enterprise_head", func.substr(Trip.enterprise_tax_code, 1, 10))
Index("ix_trips_agent_head", func.substr(Trip.customs_agent_tax_code, 1, 10))
# The trips on hold, oldest first (the control room's alerts): a few among a year of trips.
Index("ix_trips_on_hold", Trip.updated_at, postgresql_where=text("on_hold = true"),
      sqlite_where=text("on_hold = 1"))


class TripEvent(Base):
    """The append-only event log. Rows are never updated or deleted (database triggers refuse
    it); corrections are new events."""

    __tablename__ = "trip_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trip_id: Mapped[str] = mapped_column(ForeignKey("trips.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(30), index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_name: Mapped[str] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (
        UniqueConstraint("trip_id", "seq"),
        UniqueConstraint("trip_id", "idempotency_key", name="uq_trip_events_idempotency"),
    )


class GateSlot(Base):
    """Places in one time slot of a gate for one direction: its capacity and how many are
    booked. Booking is one conditional UPDATE (``booked < capacity``), safe under contention."""

    __tablename__ = "gate_slots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gate: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(10))
    slot_start: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("gate", "direction", "slot_start"),
        CheckConstraint("booked >= 0 AND booked <= capacity", name="booked_within_capacity"),
    )


class Booking(Base):
    """A trip's place in a gate's time slot. At most one active booking per vehicle."""

    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    """Increasing: among bookings of one slot, a lower id booked first."""
    trip_id: Mapped[str] = mapped_column(ForeignKey("trips.id"), index=True)
    plate_key: Mapped[str] = mapped_column(String(20))
    gate: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(10))
    slot_start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # active | cancelled
    kind: Mapped[str] = mapped_column(String(20))  # requested | planned
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(80))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("uq_bookings_one_active_per_vehicle", "plate_key", unique=True,
              postgresql_where=text("status = 'active'"), sqlite_where=text("status = 'active'")),
    )


class Enterprise(Base):
    """An enterprise known to the platform, by the 10-digit head of its tax code; an
    authorised economic operator (AEO) gets priority in the virtual queue while its status is
    valid."""

    __tablename__ = "enterprises"

    tax_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    aeo: Mapped[bool] = mapped_column(Boolean, default=False)
    aeo_valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GateControl(Base):
    """A regulator's control over a gate for a period: closure, capacity, or paused calls."""

    __tablename__ = "gate_controls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gate: Mapped[str] = mapped_column(String(40), index=True)
    direction: Mapped[str | None] = mapped_column(String(10), nullable=True)  # null = both
    kind: Mapped[str] = mapped_column(String(20))  # closure | capacity | pause | extended_hours
    vehicles_per_hour: Mapped[int | None] = mapped_column(Integer, nullable=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PartnerYardCount(Base):
    """How many vehicles the partner side reported in its yard at a gate, for one direction
    (export: our trucks waiting on their side; import: theirs waiting to come to us). Every
    report is kept; the latest one counts."""

    __tablename__ = "partner_yard_counts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gate: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(10))
    vehicles: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    counted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(20))  # regulator | bulletin
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(80))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_partner_yard_counts_gate_direction_counted", "gate", "direction",
                            "counted_at"),)


class VehicleOffence(Base):
    """A no-show or a late cancellation by a vehicle (plate). Enough of them within the rules'
    window bar the vehicle from booking for a period; a regulator may pardon one."""

    __tablename__ = "vehicle_offences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plate_key: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # no_show | late_cancellation
    trip_id: Mapped[str | None] = mapped_column(ForeignKey("trips.id"), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    detail: Mapped[str] = mapped_column(Text, default="")
    pardoned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    pardoned_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    pardon_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Notification(Base):
    """One message about one trip event for one recipient (the trip's driver or its declaring
    enterprise), written in the same transaction as the event: the outbox. Read in the app;
    sent on other channels by ``notification_deliveries``."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trip_id: Mapped[str] = mapped_column(ForeignKey("trips.id"), index=True)
    trip_reference: Mapped[str] = mapped_column(String(20))
    event_seq: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(30))
    kind: Mapped[str] = mapped_column(String(30))
    recipient_kind: Mapped[str] = mapped_column(String(10))  # driver | enterprise
    recipient_key: Mapped[str] = mapped_column(String(40))  # document number | tax code head
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    language: Mapped[str] = mapped_column(String(2))  # vi | en | zh
    message_vi: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str] = mapped_column(Text)
    message_zh: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint("trip_id", "event_seq", "recipient_kind"),
        Index("ix_notifications_recipient", "recipient_kind", "recipient_key"),
    )


class NotificationDelivery(Base):
    """Sending one notification on one channel (in_app, sms, webhook): pending until sent, retried
    with backoff, ``failed`` for good after the last attempt."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10))  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("notification_id", "channel"),
        Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
    )


class Device(Base):
    """A GPS source (a driver's phone app, a fleet system's unit), by the identifier it sends.
    Bound to a driver (document number) or a vehicle (plate), and from there to the active
    trip. Devices never bound are kept too: their positions are reported, not dropped."""

    __tablename__ = "devices"
    __table_args__ = ({"postgresql_with": {"fillfactor": 50}},)  # updated in place (HOT)

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    driver_document: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    plate_key: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    protocol: Mapped[str] = mapped_column(String(20))  # osmand | traccar | owntracks | batch
    first_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_fix_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    positions: Mapped[int] = mapped_column(Integer, default=0)
    inside: Mapped[list[str]] = mapped_column(JSONType, default=list)
    """The fences the device is in after its latest fix (for hysteresis across batches)."""
    bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    bound_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    token_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    """SHA-256 (hex) of the token binding gave the device: the phone sends the token as its
    id, and its positions are found to be this device's by the hash. The token is not kept."""
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When the regulator revoked the device's token: its positions then change no trip."""


class Position(Base):
    """One GPS fix. A device reports a given fix time once: a repeat is the same position
    (stored once). Speed is kept in metres per second whatever the protocol sent. On
    PostgreSQL the table is partitioned by day of ``fix_time``."""

    __tablename__ = "positions"

    device_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    fix_time: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True, index=True)
    trip_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    speed_mps: Mapped[float | None] = mapped_column(Float, nullable=True)
    bearing: Mapped[float | None] = mapped_column(Float, nullable=True)
    altitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    battery: Mapped[float | None] = mapped_column(Float, nullable=True)
    protocol: Mapped[str] = mapped_column(String(20))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = ({"postgresql_partition_by": "RANGE (fix_time)"},)


class RejectedPosition(Base):
    """A position or message that could not be used, with the reason: counted and kept for a
    while so a driver's broken app setting can be found."""

    __tablename__ = "rejected_positions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    device_id: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    protocol: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    excerpt: Mapped[str] = mapped_column(Text, default="")


class TelemetryDeadLetter(Base):
    """A message of positions the processor could not store after its retries, set aside
    with the reason so that the rest goes on; listed for the operator, who can send it
    through again once the cause is fixed."""

    __tablename__ = "telemetry_dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    source: Mapped[str] = mapped_column(String(20))  # nats | memory
    subject: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sequence: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    deliveries: Mapped[int] = mapped_column(Integer)
    positions: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    retried_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Camera(Base):
    """A plate-reading (ANPR) camera at a checkpoint of a gate. It posts its reads as its own
    machine client (``account_id``, role ``camera``): revoking that client's API key stops it."""

    __tablename__ = "cameras"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    gate: Mapped[str] = mapped_column(String(40), index=True)
    checkpoint: Mapped[str] = mapped_column(String(20))  # gate_in | gate_out
    direction: Mapped[str | None] = mapped_column(String(10), nullable=True)  # export | import
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(80))


class PlateRead(Base):
    """One plate a camera read: as read, its normalised key, and what became of it — matched to
    an expected trip (the movement recorded), or left for an officer to confirm or dismiss."""

    __tablename__ = "plate_reads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id"), index=True)
    gate: Mapped[str] = mapped_column(String(40))
    checkpoint: Mapped[str] = mapped_column(String(20))
    raw_plate: Mapped[str] = mapped_column(String(64))
    plate_key: Mapped[str] = mapped_column(String(64), index=True)
    confidence: Mapped[float] = mapped_column(Float)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    matches: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    direction: Mapped[str | None] = mapped_column(String(3), nullable=True)  # in | out
    image_ref: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(10))  # matched | review | confirmed | dismissed
    reason: Mapped[str] = mapped_column(Text, default="")
    trip_id: Mapped[str | None] = mapped_column(ForeignKey("trips.id"), nullable=True, index=True)
    events: Mapped[list[str]] = mapped_column(JSONType, default=list)
    repeat_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolution_note: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_plate_reads_queue", "status", "gate", "read_at"),)


# --- fees and payments ---------------------------------------------------------------------------


class TariffVersion(Base):
    """One complete version of the fee schedule, in force from ``effective_from`` (to
    ``effective_to`` if set). A later version in force at the same time wins."""

    __tablename__ = "tariff_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(60), unique=True)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    effective_to: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONType)
    sha256: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(80))


class Invoice(Base):
    """The fee invoice of one trip: an estimate at declaration, final at gate entry. Money is
    integer VND. Status: open, paid, waived, refunded, void."""

    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(30), unique=True)
    trip_id: Mapped[str] = mapped_column(ForeignKey("trips.id"), index=True)
    trip_reference: Mapped[str] = mapped_column(String(40))
    gate: Mapped[str] = mapped_column(String(40), index=True)
    direction: Mapped[str] = mapped_column(String(10))
    enterprise_tax_code: Mapped[str] = mapped_column(String(14), index=True)
    plate: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(10))  # estimate | final
    status: Mapped[str] = mapped_column(String(10), index=True)
    total: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="VND")
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    tariff_version: Mapped[str] = mapped_column(String(60))
    vehicle_category: Mapped[str] = mapped_column(String(40))
    goods_class: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finalised_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    waived_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    waiver_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    void_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (CheckConstraint("total >= 0", name="total_not_negative"),)


class Payment(Base):
    """Money received for an invoice: online (through a gateway), cash or bank transfer at a
    counter. Never edited: a correction voids it and records a new one; a refund is recorded
    on it (amount and reason)."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    receipt_number: Mapped[str] = mapped_column(String(30), unique=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    method: Mapped[str] = mapped_column(String(20))  # online | cash | bank_transfer
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), index=True)  # completed | voided | refunded
    gate: Mapped[str] = mapped_column(String(40), index=True)
    gateway: Mapped[str | None] = mapped_column(String(20), nullable=True)
    txn_ref: Mapped[str | None] = mapped_column(String(40), nullable=True, unique=True)
    gateway_transaction_no: Mapped[str | None] = mapped_column(String(40), nullable=True)
    bank_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(80), nullable=True)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    recorded_by: Mapped[str] = mapped_column(String(80))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), nullable=True)
    voided_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    void_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    refunded_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    refunded_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    refund_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    verify_token: Mapped[str] = mapped_column(String(40), unique=True)

    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)


class PaymentAttempt(Base):
    """One online payment started by a payer: the order reference sent to the gateway
    (``txn_ref``) and what the gateway's server-to-server callback said about it."""

    __tablename__ = "payment_attempts"

    txn_ref: Mapped[str] = mapped_column(String(40), primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    gateway: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10))  # pending | succeeded | failed
    response_code: Mapped[str | None] = mapped_column(String(4), nullable=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class GatewayCallback(Base):
    """Every server-to-server callback a payment gateway sent, as received, and our answer."""

    __tablename__ = "gateway_callbacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gateway: Mapped[str] = mapped_column(String(20))
    txn_ref: Mapped[str | None] = mapped_column(String(60), nullable=True, index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType)
    answer: Mapped[str] = mapped_column(String(4))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    remote: Mapped[str | None] = mapped_column(String(60), nullable=True)


class Reconciliation(Base):
    """One gateway statement imported and compared with our payments."""

    __tablename__ = "reconciliations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gateway: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    report: Mapped[dict[str, Any]] = mapped_column(JSONType)
    imported_by: Mapped[str] = mapped_column(String(80))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- statistics and reports ---------------------------------------------------------------------


class ReportFact(Base):
    """One trip's statistics fact (see ``domain/report.py``), or one row of imported history.
    The summary tables below are always the sum of every fact's contributions."""

    __tablename__ = "report_facts"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    trip_id: Mapped[str | None] = mapped_column(String(36), nullable=True, unique=True)
    import_id: Mapped[int | None] = mapped_column(
        ForeignKey("history_imports.id", ondelete="CASCADE"), nullable=True, index=True)
    gate: Mapped[str] = mapped_column(String(40), index=True)
    enterprise: Mapped[str] = mapped_column(String(14), index=True)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    crossed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    fact: Mapped[dict[str, Any]] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_report_facts_gate_arrived", "gate", "arrived_at"),
                      Index("ix_report_facts_gate_finished", "gate", "finished_at"))


class CountFigures:
    """The figures of the count tables: vehicles, declarations, goods, fees, seconds."""

    vehicles: Mapped[int] = mapped_column(BigInteger, default=0)
    declarations: Mapped[int] = mapped_column(BigInteger, default=0)
    weight_kg: Mapped[int] = mapped_column(BigInteger, default=0)
    value_usd_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    fee_vnd: Mapped[int] = mapped_column(BigInteger, default=0)
    seconds: Mapped[int] = mapped_column(BigInteger, default=0)


class StatCount(CountFigures, Base):
    """Vehicles and their goods, declarations, fees and seconds, per day or month, for all
    enterprises together."""

    __tablename__ = "stat_counts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    grain: Mapped[str] = mapped_column(String(1))  # d | m
    period: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(12))
    gate: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(10))
    goods_group: Mapped[str] = mapped_column(String(60))

    __table_args__ = (UniqueConstraint("grain", "period", "kind", "gate", "direction",
                                       "goods_group", name="uq_stat_counts_key"),)


class StatEnterpriseCount(CountFigures, Base):
    """The same figures per enterprise (tax code head), and its days of activity."""

    __tablename__ = "stat_enterprise_counts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    grain: Mapped[str] = mapped_column(String(1))
    period: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(12))
    gate: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(10))
    goods_group: Mapped[str] = mapped_column(String(60))
    enterprise: Mapped[str] = mapped_column(String(14))

    __table_args__ = (UniqueConstraint("grain", "period", "kind", "gate", "direction",
                                       "goods_group", "enterprise",
                                       name="uq_stat_enterprise_counts_key"),
                      Index("ix_stat_enterprise_counts_enterprise", "enterprise", "grain",
                            "period"),
                      Index("ix_stat_enterprise_counts_kind", "kind", "grain", "period",
                            "enterprise"))


class StatDuration(Base):
    """Histograms of time in the system, waiting and each step (bands of ``domain/stats``)."""

    __tablename__ = "stat_durations"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    grain: Mapped[str] = mapped_column(String(1))
    period: Mapped[date] = mapped_column(Date)
    gate: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(10))
    goods_group: Mapped[str] = mapped_column(String(60))
    measure: Mapped[str] = mapped_column(String(40))
    bucket: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(BigInteger, default=0)
    seconds: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (UniqueConstraint("grain", "period", "gate", "direction", "goods_group",
                                       "measure", "bucket", name="uq_stat_durations_key"),)


class StatHour(Base):
    """Vehicles crossed per local clock hour."""

    __tablename__ = "stat_hours"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    hour: Mapped[int] = mapped_column(Integer)
    gate: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(10))
    vehicles: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (UniqueConstraint("day", "hour", "gate", "direction",
                                       name="uq_stat_hours_key"),)


class StatReason(Base):
    """Holds and rejections by step and reason code."""

    __tablename__ = "stat_reasons"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    grain: Mapped[str] = mapped_column(String(1))
    period: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(10))  # hold | reject
    gate: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(10))
    step: Mapped[str] = mapped_column(String(40))
    reason_code: Mapped[str] = mapped_column(String(60))
    n: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (UniqueConstraint("grain", "period", "kind", "gate", "direction", "step",
                                       "reason_code", name="uq_stat_reasons_key"),)


class ReportTarget(Base):
    """An annual target for one indicator (all gates, or one gate)."""

    __tablename__ = "report_targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    indicator: Mapped[str] = mapped_column(String(40))
    gate: Mapped[str] = mapped_column(String(40), default="")  # "" = all gates
    value: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, default="")
    set_by: Mapped[str] = mapped_column(String(80))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("year", "indicator", "gate", name="uq_report_targets"),)


class SituationReport(Base):
    """A gate's daily situation report as generated at the scheduled time (kept as sent)."""

    __tablename__ = "situation_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gate: Mapped[str] = mapped_column(String(40))
    day: Mapped[date] = mapped_column(Date, index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONType)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    generated_by: Mapped[str] = mapped_column(String(80))

    __table_args__ = (UniqueConstraint("gate", "day", name="uq_situation_reports_gate_day"),)


class HistoryImport(Base):
    """A file of past crossings or daily totals, imported whole or not at all."""

    __tablename__ = "history_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # crossings | daily
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    rows: Mapped[int] = mapped_column(Integer)
    vehicles: Mapped[int] = mapped_column(BigInteger)
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    imported_by: Mapped[str] = mapped_column(String(80))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ExchangeKey(Base):
    """A partner side's Ed25519 public key, registered by an admin: bulletins signed with it
    are accepted from that side until it is revoked."""

    __tablename__ = "exchange_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    side: Mapped[str] = mapped_column(String(2))
    public_key: Mapped[str] = mapped_column(String(64))  # base64 of the 32 raw bytes
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Bulletin(Base):
    """One version of a side's daily bulletin, as signed: ours as published, the partner's as
    received. A different content for the same side and day is a new version; the same content
    again is the same row."""

    __tablename__ = "bulletins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    side: Mapped[str] = mapped_column(String(2))
    day: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    signature: Mapped[dict[str, Any]] = mapped_column(JSONType)
    origin: Mapped[str] = mapped_column(String(10))  # published | received
    source: Mapped[str] = mapped_column(String(10))  # publish | api | upload | cli
    fed: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("side", "day", "version", name="uq_bulletins_side_day_version"),
        UniqueConstraint("side", "day", "sha256", name="uq_bulletins_side_day_sha256"),
    )


# --- the cashier desk (till closings) ---


class TillClosing(Base):
    """A cashier's till closed for a day (Lang Son date): the cash the payments recorded say
    should be there, the cash counted, and the difference (counted less expected); the day's
    takings per method as they were at closing. One per cashier and day; never edited."""

    __tablename__ = "till_closings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cashier: Mapped[str] = mapped_column(String(80))
    day: Mapped[date] = mapped_column(Date)
    expected_cash: Mapped[int] = mapped_column(BigInteger)
    counted_cash: Mapped[int] = mapped_column(BigInteger)
    difference: Mapped[int] = mapped_column(BigInteger)
    takings: Mapped[dict[str, Any]] = mapped_column(JSONType)
    note: Mapped[str] = mapped_column(Text, default="")
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("cashier", "day", name="uq_till_closings_cashier_day"),
        CheckConstraint("counted_cash >= 0", name="counted_cash_not_negative"),
    )


# --- accounts that serve themselves (registration, password reset) ---


class EnterpriseRegistration(Base):
    """An enterprise's request for an account, waiting for an admin: the password is kept as
    its Argon2 hash; a confirmation creates the account (``account_id``)."""

    __tablename__ = "enterprise_registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tax_code: Mapped[str] = mapped_column(String(14), index=True)
    enterprise_name: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20))
    username: Mapped[str] = mapped_column(String(80), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(2))  # vi | en | zh
    status: Mapped[str] = mapped_column(String(10), index=True)  # pending|confirmed|refused
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True)


class AccountContact(Base):
    """A person's phone and language for the messages about their account (the password reset
    code, the outcome of a registration)."""

    __tablename__ = "account_contacts"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(2))
    team_tax_code: Mapped[str | None] = mapped_column(String(14), nullable=True, index=True)
    """The enterprise whose team the person was added to (its users and drivers)."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PasswordResetCode(Base):
    """A one-time code sent by SMS to reset a forgotten password: its Argon2 hash, valid ten
    minutes, used once, a few wrong tries at most."""

    __tablename__ = "password_reset_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # purged after
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class AccountMessage(Base):
    """The outbox of SMS about accounts (not about a trip): written in the transaction of what
    causes it, sent after commit, retried while pending."""

    __tablename__ = "account_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True, index=True)
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("enterprise_registrations.id", ondelete="CASCADE"), nullable=True)
    phone: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(2))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_account_messages_status", "status", "created_at"),)


class SimJob(Base):
    """A run of the scenario lab asked for on its pages (a comparison of scenario files, or a
    "what would it take" search), run by a pool of the background work, never in the request:
    ``queued``, then ``running`` under a lease its runner renews (``attempts`` the claim's
    fencing token: only the runner holding the current one writes progress or the outcome),
    then ``done`` with its results or ``failed`` with the reason. A job whose runner died is
    claimed again once its lease has run out; finished jobs are purged after
    ``BORDERFLOW_SIM_JOB_RETENTION_DAYS``."""

    __tablename__ = "sim_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # compare | levers
    status: Mapped[str] = mapped_column(String(10))  # queued | running | done | failed
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), nullable=True,
                                                   index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType)
    runs_done: Mapped[int] = mapped_column(Integer, default=0)
    runs_total: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    runner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint("kind IN ('compare', 'levers')", name="kind"),
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        Index("ix_sim_jobs_claim", "status", "created_at"),
        Index("ix_sim_jobs_finished_at", "finished_at"),
    )


class ForecastRun(Base):
    """One refresh of the demand forecasts: every gate and direction, ``horizon`` days from
    ``origin`` (the Lang Son day after the refresh), by the model ``model_version`` fitted on
    the daily counts ``trained_from`` .. ``trained_to``. ``trigger`` is ``daily`` (the
    background refresh, once per origin day) or ``on_demand``. Only the newest runs are kept
    (``borderflow.demand.service.KEEP_RUNS``)."""

    __tablename__ = "forecast_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    model_version: Mapped[str] = mapped_column(String(40))
    origin: Mapped[date] = mapped_column(Date)
    horizon: Mapped[int] = mapped_column(Integer)
    trained_from: Mapped[date] = mapped_column(Date)
    trained_to: Mapped[date] = mapped_column(Date)
    series: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Float)
    trigger: Mapped[str] = mapped_column(String(10))  # daily | on_demand
    actor: Mapped[str] = mapped_column(String(80))

    __table_args__ = (
        CheckConstraint("trigger IN ('daily', 'on_demand')", name="trigger"),
        # one daily refresh per origin day, whichever worker gets there first
        Index("uq_forecast_runs_daily_origin", "origin", unique=True,
              postgresql_where=text("trigger = 'daily'"), sqlite_where=text("trigger = 'daily'")),
    )


class Forecast(Base):
    """A run's forecast of trucks crossing at one gate in one direction on one local day, with
    its 80 % and 95 % prediction intervals and the trucks declared for that day when it was
    made."""

    __tablename__ = "forecasts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"))
    gate: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(10))
    day: Mapped[date] = mapped_column(Date)
    horizon: Mapped[int] = mapped_column(Integer)
    mean: Mapped[float] = mapped_column(Float)
    lo80: Mapped[float] = mapped_column(Float)
    hi80: Mapped[float] = mapped_column(Float)
    lo95: Mapped[float] = mapped_column(Float)
    hi95: Mapped[float] = mapped_column(Float)
    declared: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("run_id", "gate", "direction", "day",
                                       name="uq_forecasts_run_gate_direction_day"),)


class ForecastWeather(Base):
    """Weather of one Lang Son day, past or forecast, imported from a file: rain in mm and
    whether a storm warning was in force. A later import replaces a day's row."""

    __tablename__ = "forecast_weather"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rain_mm: Mapped[float | None] = mapped_column(Float, nullable=True)
    storm: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(200))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    imported_by: Mapped[str] = mapped_column(String(80))


class ForecastAdvice(Base):
    """What a forecast run advises the regulator for one of its next days at one gate and
    direction: the forecast (mean, upper 80 % bound), the gate's call-forward places that
    day (``capacity``) and, when the mean exceeds them, the trucks of the day still waiting
    at midnight without a remedy (``backlog_mean`` ± ``backlog_half_width``, simulated) and the
    remedies checked in the scenario lab (``remedies``: kind ``extra_hours`` or ``shift``,
    ``hours``, ``moves`` as ``[gate, trucks]`` pairs, ``backlog`` ``[mean, half_width]``,
    ``absorbs``). A day within its places has no backlog and no remedy."""

    __tablename__ = "forecast_advice"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    gate: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(10))
    mean: Mapped[float] = mapped_column(Float)
    hi80: Mapped[float] = mapped_column(Float)
    capacity: Mapped[int] = mapped_column(Integer)
    backlog_mean: Mapped[float | None] = mapped_column(Float, nullable=True)
    backlog_half_width: Mapped[float | None] = mapped_column(Float, nullable=True)
    remedies: Mapped[list[Any]] = mapped_column(JSONType, default=list)

    __table_args__ = (UniqueConstraint("run_id", "day", "gate", "direction",
                                       name="uq_forecast_advice_run_day_gate_direction"),)
