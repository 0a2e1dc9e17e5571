"""What the pages read of telemetry: the devices bound to a driver."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow.store.models import Device


def device_ids_of_driver(session: Session, driver_document: str | None) -> list[str]:
    """The ids of the devices bound to a driver."""
    return list(session.scalars(select(Device.id).where(
        Device.driver_document == driver_document)))
