"""What the pages read of telemetry: the devices bound to a driver; the devices and how many
are bound or silent, for the admin's pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from borderflow.store import paging
from borderflow.store.models import Device
from borderflow.telemetry.service import DEVICE_KEYS, device_key


def device_ids_of_driver(session: Session, driver_document: str | None) -> list[str]:
    """The ids of the devices bound to a driver."""
    return list(session.scalars(select(Device.id).where(
        Device.driver_document == driver_document)))


@dataclass(frozen=True)
class DeviceSummary:
    total: int
    bound: int
    stale: int
    """Devices that have not reported for the silent time (or never)."""


def device_summary(session: Session, *, now: datetime, silent_minutes: int) -> DeviceSummary:
    since = now - timedelta(minutes=silent_minutes)
    total = int(session.scalar(select(func.count()).select_from(Device)) or 0)
    bound = int(session.scalar(select(func.count()).select_from(Device)
                               .where(Device.bound_at.is_not(None))) or 0)
    fresh = int(session.scalar(select(func.count()).select_from(Device)
                               .where(Device.last_seen_at >= since)) or 0)
    return DeviceSummary(total, bound, total - fresh)


@dataclass(frozen=True)
class DeviceRow:
    id: str
    label: str
    protocol: str
    driver_document: str | None
    plate_key: str | None
    bound: bool
    last_seen_at: datetime | None
    positions: int
    stale: bool
    revocable: bool = False
    """It has a live token the regulator may revoke."""


PAGE = 50
"""Devices a page of the admin's list shows."""


def device_page(session: Session, *, now: datetime, silent_minutes: int, query: str = "",
                cursor: str | None = None, before: str | None = None, limit: int = PAGE
                ) -> paging.Page[DeviceRow]:
    """A page of the devices, latest heard first (those matching ``query`` in their id,
    label, driver document or plate), with whether each is stale; after ``cursor``, or the
    page before ``before``."""
    since = now - timedelta(minutes=silent_minutes)
    q = select(Device)
    words = query.strip().lower()[:100]
    if words:
        like = f"%{words}%"
        q = q.where(func.lower(Device.id).like(like) | func.lower(Device.label).like(like)
                    | func.lower(func.coalesce(Device.driver_document, "")).like(like)
                    | func.lower(func.coalesce(Device.plate_key, "")).like(like))
    found = paging.page(session, q, DEVICE_KEYS, cursor=cursor, before=before, limit=limit,
                        key_of=device_key)
    return paging.Page([DeviceRow(d.id, d.label, d.protocol, d.driver_document, d.plate_key,
                                  d.bound_at is not None, d.last_seen_at, d.positions,
                                  d.last_seen_at is None or d.last_seen_at < since,
                                  d.token_sha256 is not None and d.revoked_at is None)
                        for d in found.items], found.next_cursor, found.prev_cursor)
