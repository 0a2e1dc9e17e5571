"""Annual targets per indicator and the progress report against them."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.domain import report as stats
from borderflow.domain.access import Principal
from borderflow.domain.network import Network
from borderflow.errors import FieldError, ValidationFailed, msg
from borderflow.report import statistics
from borderflow.store.models import ReportTarget

# indicator -> (figure it is measured by, divisor to the target's unit)
TARGET_INDICATORS: dict[str, tuple[str, int]] = {
    "turnover_usd": ("turnover_usd_cents", 100),
    "vehicles_crossed": ("vehicles_crossed", 1),
    "tonnage_t": ("tonnage_kg", 1000),
    "fees_vnd": ("fees_vnd", 1),
    "declarations": ("declarations", 1),
}


def set_target(session: Session, network: Network, *, year: int, indicator: str, value: int,
               gate: str | None, note: str, actor: Principal, now: datetime) -> ReportTarget:
    """Set (or change) the target of one indicator for a year (audited)."""
    errors = []
    if indicator not in TARGET_INDICATORS:
        errors.append(FieldError("indicator", msg("one of {codes}",
                                                   codes=list(TARGET_INDICATORS))))
    if not 2000 <= year <= 2100:
        errors.append(FieldError("year", msg("between 2000 and 2100")))
    if value <= 0:
        errors.append(FieldError("value", msg("must be positive")))
    if gate and network.gate(gate) is None:
        errors.append(FieldError("gate", msg("no gate '{code}' in the network", code=gate)))
    if errors:
        raise ValidationFailed(errors)
    row = session.scalar(select(ReportTarget).where(
        ReportTarget.year == year, ReportTarget.indicator == indicator,
        ReportTarget.gate == (gate or "")))
    before = None if row is None else {"value": row.value, "note": row.note}
    if row is None:
        row = ReportTarget(year=year, indicator=indicator, gate=gate or "", value=value,
                           note=note, set_by=actor.username, set_at=now)
        session.add(row)
    else:
        row.value, row.note, row.set_by, row.set_at = value, note, actor.username, now
    session.flush()
    audit.record(session, actor=actor, action="report_target.set", target_type="target",
                 target_id=f"{year}/{indicator}/{gate or '*'}", at=now, before=before,
                 after={"value": value, "note": note})
    return row


def progress(session: Session, network: Network, *, year: int, as_of: date,
             gate: str | None) -> dict[str, Any]:
    """Each target of the year: achieved from 1 January to ``as_of``, its share of the
    target, and the average per remaining month needed to reach it."""
    if as_of.year != year:
        raise ValidationFailed([FieldError("as_of", msg("must be a day of {year}",
                                                        year=str(year)))])
    if gate and network.gate(gate) is None:
        raise ValidationFailed([FieldError("gate", msg("no gate '{code}' in the network",
                                                       code=gate))])
    targets = list(session.scalars(select(ReportTarget).where(
        ReportTarget.year == year, ReportTarget.gate == (gate or ""))
        .order_by(ReportTarget.indicator)))
    start = date(year, 1, 1)
    q = statistics.Query(start=start, end=as_of, gate=gate or None)
    now = statistics.indicators(session, network, q, active=False)[""]
    before = statistics.indicators(session, network, q.shifted(
        stats.shift_year(start), stats.shift_year(as_of)), active=False)[""]
    rows = []
    for t in targets:
        figure, unit = TARGET_INDICATORS[t.indicator]
        achieved = now.get(figure, 0) // unit
        rate = stats.run_rate(t.value, achieved, as_of)
        rows.append({"indicator": t.indicator, **asdict(rate),
                     "per_month_needed": None if rate.per_month_needed is None
                     else round(rate.per_month_needed, 1),
                     "previous_year": before.get(figure, 0) // unit,
                     "note": t.note, "set_by": t.set_by, "set_at": t.set_at.isoformat()})
    return {"report": "targets", "year": year, "as_of": as_of.isoformat(), "gate": gate,
            "rows": rows}
