"""Personal data: who needs to see it, how it is masked for everyone else, and when it is due
for purging (Vietnam's Decree 13/2023/ND-CP on personal data protection as the reference).
Pure: no I/O, time passed in."""

from __future__ import annotations

import copy
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from borderflow.domain.access import Principal, Role

PERSONAL_DATA_ROLES = frozenset({Role.ADMIN, Role.CUSTOMS, Role.BORDER_GUARD, Role.HEALTH,
                                 Role.TRAFFIC_POLICE, Role.ENTERPRISE, Role.DRIVER})
"""Roles that see drivers' document numbers and phones in full: the officers who check a
driver's identity or health at the gate, the enterprise that declared the driver (it sees only
its own declarations) and the driver (only their own). Every other role sees them masked."""

FINISHED_TRIP = frozenset({"completed", "rejected", "cancelled"})
"""Trip statuses after which a driver's identity is no longer needed to run the trip."""

PURGED = "purged"
"""The name left in place of a driver's name once the trip's personal data is purged."""


def needs_personal_data(actor: Principal) -> bool:
    return bool(actor.roles & PERSONAL_DATA_ROLES)


def mask_document(number: str) -> str:
    """A document number with its middle hidden: ``001088012345`` -> ``0010****2345``;
    short numbers keep less (``B1234567`` -> ``B1****67``; 4 characters or fewer: all hidden).
    Masking a masked number gives it back unchanged."""
    n = len(number)
    if n <= 4:
        return "*" * n
    keep = 4 if n >= 10 else 2
    return number[:keep] + "****" + number[-keep:]


def mask_phone(phone: str) -> str:
    """A phone number with only its last three digits: ``+84912345678`` -> ``*********678``."""
    return "*" * max(0, len(phone) - 3) + phone[-3:]


def is_masked(value: str) -> bool:
    return "****" in value or value.startswith("*")


def mask_driver(driver: dict[str, Any]) -> dict[str, Any]:
    """A declaration's or trip's driver with the document number and phone masked (the name
    and the document's type stay: the yard calls drivers by name)."""
    out = dict(driver)
    if out.get("document_number"):
        out["document_number"] = mask_document(str(out["document_number"]))
    if out.get("phone"):
        out["phone"] = mask_phone(str(out["phone"]))
    return out


def anonymise_driver(driver: dict[str, Any]) -> dict[str, Any]:
    """The driver as kept once the retention period is over: the document masked, the name
    replaced by ``purged`` and the phone emptied (statistics never use them)."""
    out = dict(driver)
    if out.get("document_number"):
        out["document_number"] = mask_document(str(out["document_number"]))
    if "name" in out:
        out["name"] = PURGED
    if "phone" in out:
        out["phone"] = ""
    return out


def masked_facts(facts: dict[str, Any]) -> dict[str, Any]:
    """A trip's facts with the driver masked."""
    out = copy.copy(facts)
    if isinstance(out.get("driver"), dict):
        out["driver"] = mask_driver(out["driver"])
    return out


def masked_vehicles(vehicles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A declaration's vehicles with their drivers masked."""
    return [{**v, "driver": mask_driver(v["driver"])} if isinstance(v.get("driver"), dict)
            else v for v in vehicles]


LOG_KEYS = {"driver_document": mask_document, "document_number": mask_document,
            "phone": mask_phone, "to": mask_phone}
"""Fields of log events masked on their way out (structlog processor :func:`mask_log_event`)."""


def mask_log_event(_logger: Any, _name: str, event: MutableMapping[str, Any]
                   ) -> MutableMapping[str, Any]:
    """A structlog processor: personal data in well-known fields is masked in every log line."""
    for key, mask in LOG_KEYS.items():
        value = event.get(key)
        if isinstance(value, str) and value and not is_masked(value):
            event[key] = mask(value)
    return event


@dataclass(frozen=True)
class Retention:
    """How long each kind of personal data is kept, in days."""

    positions_days: int = 90
    driver_days: int = 180
    camera_images_days: int = 30
    notification_contacts_days: int = 90

    def cutoffs(self, now: datetime) -> dict[str, datetime]:
        """For each kind, the time before which its data is due for purging."""
        return {
            "positions": now - timedelta(days=self.positions_days),
            "drivers": now - timedelta(days=self.driver_days),
            "camera_images": now - timedelta(days=self.camera_images_days),
            "notification_contacts": now - timedelta(days=self.notification_contacts_days),
        }


def due(at: datetime | None, cutoff: datetime) -> bool:
    """Whether data stamped ``at`` is past its period (exactly at the cutoff: not yet)."""
    return at is not None and at < cutoff
