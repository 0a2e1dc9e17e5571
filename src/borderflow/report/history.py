"""Importing past traffic from CSV files, so a gate that starts using the platform has its
history for reports, forecasting and calibrating the simulator.

Two kinds of file (UTF-8, comma-separated, a header row naming the columns; extra columns are
refused so a misspelt optional column is not silently ignored):

* ``crossings``: one row per vehicle crossed. Columns in :data:`COLUMNS`.
* ``daily``: one row per day, gate and direction with the number of vehicles crossed.

Every row is checked first; a file with any bad row is refused whole, each bad row and field
named, and nothing is imported. The same file (by content) is imported once. An import can be
removed again, which takes its figures out of every report.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.domain import report as stats
from borderflow.domain.access import Principal
from borderflow.domain.network import Network
from borderflow.errors import Conflict, FieldError, NotFound, Text, ValidationFailed, msg
from borderflow.report.facts import TZ, add, load
from borderflow.store.models import HistoryImport, ReportFact

MAX_BYTES = 50 * 1024 * 1024
MAX_ERRORS = 200
KINDS = ("crossings", "daily")

COLUMNS: dict[str, dict[str, str]] = {
    "crossings": {
        "crossed_at": "required: when the vehicle crossed, ISO 8601 with offset, or "
                      "'YYYY-MM-DD HH:MM[:SS]' in Lang Son time",
        "gate": "required: gate code in the network",
        "direction": "required: export or import",
        "goods_group": "goods group code in the network's catalogue (empty: unknown)",
        "enterprise_tax_code": "the declaring enterprise's tax code (10 or 13 digits)",
        "weight_kg": "net weight in kg (whole number)",
        "value_usd": "declared value in USD (at most 2 decimals, '.' as decimal point)",
        "time_in_system_minutes": "minutes from arrival to crossing",
    },
    "daily": {
        "date": "required: YYYY-MM-DD (Lang Son day)",
        "gate": "required: gate code in the network",
        "direction": "required: export or import",
        "vehicles": "required: vehicles crossed that day (whole number)",
        "goods_group": "goods group code (empty: unknown)",
        "weight_kg": "net weight in kg",
        "value_usd": "declared value in USD",
        "declarations": "declarations lodged that day",
    },
}
REQUIRED = {k: [c for c, d in cols.items() if d.startswith("required")]
            for k, cols in COLUMNS.items()}


class _Row:
    def __init__(self, line: int, data: dict[str, str], errors: list[FieldError]) -> None:
        self.line, self.data, self.errors = line, data, errors

    def error(self, column: str, reason: Text) -> None:
        self.errors.append(FieldError(f"line {self.line}: {column}", reason))

    def text(self, column: str) -> str:
        return (self.data.get(column) or "").strip()

    def integer(self, column: str, *, required: bool = False) -> int:
        raw = self.text(column)
        if not raw:
            if required:
                self.error(column, msg("required"))
            return 0
        if not raw.isdigit():
            self.error(column, msg("'{value}' is not a whole number >= 0", value=raw[:20]))
            return 0
        return int(raw)

    def cents(self, column: str) -> int:
        raw = self.text(column)
        if not raw:
            return 0
        try:
            value = Decimal(raw)
        except InvalidOperation:
            self.error(column, msg("'{value}' is not a number (use '.' as decimal point)",
                                  value=raw[:20]))
            return 0
        if value < 0 or value.as_tuple().exponent < -2:  # type: ignore[operator]
            self.error(column, msg("must be >= 0 with at most 2 decimals"))
            return 0
        return int(value * 100)


def _parse_time(raw: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=TZ)


def _common(row: _Row, network: Network, groups: set[str]) -> dict[str, Any]:
    gate = row.text("gate")
    if not gate:
        row.error("gate", msg("required"))
    elif network.gate(gate) is None:
        row.error("gate", msg("no gate '{code}' in the network", code=gate[:40]))
    direction = row.text("direction").lower()
    if direction not in ("export", "import"):
        row.error("direction", msg("one of {direction}", direction=["export", "import"]))
    group = row.text("goods_group") or "unknown"
    if group != "unknown" and group not in groups:
        row.error("goods_group", msg("no goods group '{code}' in the catalogue",
                                      code=group[:40]))
    return {"gate": gate, "direction": direction, "goods_group": group,
            "weight_kg": row.integer("weight_kg"), "value_usd_cents": row.cents("value_usd"),
            "holds": [], "no_shows": [], "steps": {}, "fee_vnd": 0, "fee_at": None,
            "declaration": False, "source": "history"}


def _crossing(row: _Row, network: Network, groups: set[str], now: datetime) -> dict[str, Any]:
    fact = _common(row, network, groups)
    raw = row.text("crossed_at")
    at = _parse_time(raw) if raw else None
    if not raw:
        row.error("crossed_at", msg("required"))
    elif at is None:
        row.error("crossed_at", msg("'{value}' is not a date and time", value=raw[:30]))
    elif at > now:
        row.error("crossed_at", msg("is in the future"))
    tax = row.text("enterprise_tax_code").replace("-", "")
    if tax and not (tax.isdigit() and len(tax) in (10, 13)):
        row.error("enterprise_tax_code", msg("10 or 13 digits"))
    minutes = row.text("time_in_system_minutes")
    fact.update(vehicles=1, enterprise=tax[:10], crossed_at=at.isoformat() if at else None,
                system_seconds=row.integer("time_in_system_minutes") * 60 if minutes else None)
    return fact


def _daily(row: _Row, network: Network, groups: set[str], now: datetime) -> dict[str, Any]:
    fact = _common(row, network, groups)
    raw = row.text("date")
    day: date | None = None
    if not raw:
        row.error("date", msg("required"))
    else:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            row.error("date", msg("'{value}' is not YYYY-MM-DD", value=raw[:30]))
    if day is not None and day > now.astimezone(TZ).date():
        row.error("date", msg("is in the future"))
    noon = datetime.combine(day, time(12), TZ) if day else None
    fact.update(vehicles=row.integer("vehicles", required=True), enterprise="",
                crossed_at=noon.isoformat() if noon else None, hourly=False,
                declarations=row.integer("declarations"))
    return fact


_PARSERS: dict[str, Callable[[_Row, Network, set[str], datetime], dict[str, Any]]] = {
    "crossings": _crossing, "daily": _daily}


def import_file(session: Session, network: Network, *, kind: str, data: bytes, filename: str,
                actor: Principal, now: datetime) -> HistoryImport:
    """Check every row, then import all of them (or none)."""
    if kind not in KINDS:
        raise ValidationFailed([FieldError("kind", msg("crossings or daily"))])
    if len(data) > MAX_BYTES:
        raise ValidationFailed([FieldError("file", msg("larger than {size} MB",
                                                       size=MAX_BYTES // 2**20))])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed([FieldError("file", msg("is not UTF-8 text"))]) from None
    digest = hashlib.sha256(data).hexdigest()
    earlier = session.scalar(select(HistoryImport).where(HistoryImport.sha256 == digest))
    if earlier is not None:
        raise Conflict(msg("this file was imported already (import {number}, {at} UTC by "
                           "{by})", number=str(earlier.id),
                           at=f"{earlier.imported_at:%Y-%m-%d %H:%M}", by=earlier.imported_by),
                       code="already_imported")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    errors: list[FieldError] = []
    missing = [c for c in REQUIRED[kind] if c not in header]
    unknown = [c for c in header if c not in COLUMNS[kind]]
    if missing:
        errors.append(FieldError("header", msg("missing column(s): {columns}",
                                              columns=missing)))
    if unknown:
        errors.append(FieldError("header", msg("unknown column(s): {columns}; the columns are "
                                               "{known}", columns=unknown,
                                               known=list(COLUMNS[kind]))))
    if errors:
        raise ValidationFailed(errors)
    reader.fieldnames = header
    groups = {g.code for g in network.goods}
    facts: list[dict[str, Any]] = []
    for line, data_row in enumerate(reader, start=2):
        if None in data_row:
            errors.append(FieldError(f"line {line}", msg("has more cells than the header")))
            continue
        row = _Row(line, data_row, errors)
        facts.append(_PARSERS[kind](row, network, groups, now))
        if len(errors) >= MAX_ERRORS:
            break
    if not facts and not errors:
        errors.append(FieldError("file", msg("has no rows")))
    if errors:
        raise ValidationFailed(errors[:MAX_ERRORS])
    days = [datetime.fromisoformat(f["crossed_at"]).astimezone(TZ).date() for f in facts]
    record = HistoryImport(kind=kind, filename=filename[:200], sha256=digest, rows=len(facts),
                           vehicles=sum(int(f["vehicles"]) for f in facts),
                           period_from=min(days), period_to=max(days),
                           imported_by=actor.username, imported_at=now)
    session.add(record)
    session.flush()
    load(session, ((f"h{record.id}:{i}", f) for i, f in enumerate(facts, start=1)), now=now,
         import_id=record.id)
    audit.record(session, actor=actor, action="history.imported", target_type="history_import",
                 target_id=str(record.id), at=now, before=None,
                 after={"kind": kind, "filename": record.filename, "rows": record.rows,
                        "vehicles": record.vehicles, "sha256": digest})
    return record


def remove(session: Session, import_id: int, *, actor: Principal, now: datetime) -> None:
    """Take an import's figures out of every report and forget it (audited)."""
    record = session.get(HistoryImport, import_id)
    if record is None:
        raise NotFound(msg("no history import {number}", number=str(import_id)))
    facts = list(session.scalars(select(ReportFact).where(ReportFact.import_id == import_id)))
    totals = stats.total([f.fact for f in facts], TZ)
    add(session, {k: tuple(-x for x in v) for k, v in totals.items()})
    session.execute(delete(ReportFact).where(ReportFact.import_id == import_id))
    audit.record(session, actor=actor, action="history.removed", target_type="history_import",
                 target_id=str(import_id), at=now,
                 before={"kind": record.kind, "filename": record.filename, "rows": record.rows,
                         "vehicles": record.vehicles}, after=None)
    session.delete(record)
    session.flush()


def listing(session: Session) -> list[HistoryImport]:
    return list(session.scalars(select(HistoryImport).order_by(HistoryImport.id.desc())))


def period_days(record: HistoryImport) -> int:
    return (record.period_to - record.period_from + timedelta(days=1)).days
