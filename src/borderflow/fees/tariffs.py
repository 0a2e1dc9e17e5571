"""Tariff use cases: parse and check documents, publish versions, read the one in force."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.domain import fees_diff
from borderflow.domain.access import Principal
from borderflow.domain.fees import Tariff
from borderflow.domain.network_diff import Change
from borderflow.errors import Conflict, FieldError, NotFound, ValidationFailed, msg
from borderflow.jsondoc import parse_checked, read_yaml_file
from borderflow.store.models import TariffVersion

_adapter: TypeAdapter[Tariff] = TypeAdapter(Tariff)
_cache: dict[int, Tariff] = {}
PAST_TOLERANCE = timedelta(minutes=5)


def parse(document: Any) -> Tariff:
    """A tariff document (as loaded from YAML or JSON) checked into a :class:`Tariff`."""
    return parse_checked(_adapter, document, "tariff")


def dump(tariff: Tariff) -> dict[str, Any]:
    data: dict[str, Any] = _adapter.dump_python(tariff, mode="json")
    return data


def read_file(path: Path) -> dict[str, Any]:
    return read_yaml_file(path)


def publish(session: Session, tariff: Tariff, *, actor: Principal, now: datetime,
            note: str = "", allow_past: bool = False) -> TariffVersion:
    """Store a new tariff version (audited). New versions may not start in the past, so a
    fee already charged never changes under a trip; the first one loaded may (``allow_past``)."""
    if not allow_past and tariff.effective_from < now - PAST_TOLERANCE:
        raise ValidationFailed([FieldError("effective_from", msg(
            "must not be in the past; fees already charged do not change"))])
    if session.scalar(select(TariffVersion.id).where(TariffVersion.version == tariff.version)):
        raise Conflict(msg("tariff version '{version}' exists already; give the new one its "
                           "own version", version=tariff.version), code="version_exists")
    document = dump(tariff)
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    row = TariffVersion(version=tariff.version, effective_from=tariff.effective_from,
                        effective_to=tariff.effective_to, document=document, sha256=digest,
                        note=note, created_at=now, created_by=actor.username)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="tariff.published", target_type="tariff",
                 target_id=tariff.version, at=now, before=None,
                 after={"id": row.id, "version": tariff.version,
                        "effective_from": tariff.effective_from.isoformat(),
                        "effective_to": (tariff.effective_to.isoformat()
                                         if tariff.effective_to else None),
                        "sha256": digest, "note": note})
    return row


def load(row: TariffVersion) -> Tariff:
    cached = _cache.get(row.id)
    if cached is None:
        cached = _cache[row.id] = _adapter.validate_python(row.document)
    return cached


def in_force_or_none(session: Session, at: datetime) -> tuple[TariffVersion, Tariff] | None:
    """The tariff in force at ``at``: the latest-starting version whose period covers it."""
    rows = session.scalars(select(TariffVersion).where(TariffVersion.effective_from <= at)
                           .order_by(TariffVersion.effective_from.desc(),
                                     TariffVersion.id.desc())).all()
    for row in rows:
        if row.effective_to is None or at < row.effective_to:
            return row, load(row)
    return None


def in_force(session: Session, at: datetime) -> tuple[TariffVersion, Tariff]:
    found = in_force_or_none(session, at)
    if found is None:
        raise NotFound(msg("no tariff is in force at {at}", at=at))
    return found


def versions(session: Session) -> list[TariffVersion]:
    return list(session.scalars(select(TariffVersion).order_by(TariffVersion.effective_from,
                                                               TariffVersion.id)))


def get(session: Session, version: str) -> TariffVersion:
    row = session.scalar(select(TariffVersion).where(TariffVersion.version == version))
    if row is None:
        raise NotFound(msg("no tariff version '{version}'", version=version))
    return row


# --- publishing from the admin's page: preview, confirm -----------------------------------------


def _digest(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Preview:
    """What publishing a fee schedule would change against the one in force now."""

    tariff: Tariff
    document: dict[str, Any]
    base: TariffVersion | None
    rates: list[fees_diff.RateChange]
    others: list[Change]


def preview(session: Session, document: Any, *, now: datetime) -> Preview:
    """Check a whole fee schedule and compare it with the one in force now; a version name
    already used is refused at ``version``."""
    tariff = parse(document)
    new = dump(tariff)
    found = in_force_or_none(session, now)
    base = found[0] if found else None
    old = base.document if base is not None else {}
    existing = session.scalar(select(TariffVersion).where(TariffVersion.version ==
                                                          tariff.version))
    if existing is not None and existing.sha256 != _digest(new):
        raise ValidationFailed([FieldError("version", msg(
            "tariff version '{version}' exists already; give the new one its own version",
            version=tariff.version))])
    if not allow_start(tariff, now):
        raise ValidationFailed([FieldError("effective_from", msg(
            "must not be in the past; fees already charged do not change"))])
    return Preview(tariff, new, base, fees_diff.rate_changes(old, new),
                   fees_diff.other_changes(fees_diff.diff(old, new)))


def allow_start(tariff: Tariff, now: datetime) -> bool:
    return tariff.effective_from >= now - PAST_TOLERANCE


def publish_previewed(session: Session, document: Any, *, actor: Principal, now: datetime,
                      note: str = "") -> tuple[TariffVersion, bool]:
    """Publish a previewed fee schedule. The same schedule sent again (a retry) publishes
    nothing and returns the version kept (False)."""
    tariff = parse(document)
    existing = session.scalar(select(TariffVersion).where(TariffVersion.version ==
                                                          tariff.version))
    if existing is not None and existing.sha256 == _digest(dump(tariff)):
        return existing, False
    seen = preview(session, document, now=now)
    return publish(session, seen.tariff, actor=actor, now=now, note=note), True
