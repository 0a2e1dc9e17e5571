"""The daily situation report of a gate: vehicles cleared, vehicles remaining in the staging
park and the gate area by direction, working hours, closures and other controls, holds and
rejections of the day, and the partner side's latest yard counts.

Generated on demand for any day (figures at the end of the day, or now for today) and, at the
time set by ``BORDERFLOW_SITUATION_REPORT_TIME``, for every gate, kept as generated.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from borderflow.domain import report as stats
from borderflow.domain.network import Network
from borderflow.errors import FieldError, NotFound, ValidationFailed, msg
from borderflow.network.holidays import around
from borderflow.report.facts import TZ
from borderflow.store.models import (
    GateControl,
    PartnerYardCount,
    ReportFact,
    SituationReport,
    StatCount,
    StatReason,
)

DIRECTIONS = ("export", "import")
LONGEST_STAY = timedelta(days=14)
"""For a past day, vehicles still in the system at its end are looked for among those arrived
in the 14 days before (the vehicles in the system now are always all counted)."""


def _where_at(fact: dict[str, Any], at: datetime) -> str:
    for name, place in (("gate_area_at", "gate_area"), ("staging_at", "staging"),
                        ("called_at", "called")):
        t = stats.fact_time(fact, name)
        if t is not None and t <= at:
            return place
    return "staging"


def build(session: Session, network: Network, *, gate: str, day: date, now: datetime
          ) -> dict[str, Any]:
    g = network.gate(gate)
    if g is None:
        raise ValidationFailed([FieldError("gate", msg("no gate '{code}' in the network",
                                                       code=gate))])
    today = now.astimezone(TZ).date()
    if day > today:
        raise ValidationFailed([FieldError("date", msg("is in the future"))])
    start = datetime.combine(day, time.min, TZ)
    end = start + timedelta(days=1)
    cut = min(now, end)

    cleared = dict.fromkeys(DIRECTIONS, 0)
    declared = dict.fromkeys(DIRECTIONS, 0)
    for kind, direction, n in session.execute(
            select(StatCount.kind, StatCount.direction, func.sum(StatCount.vehicles)).where(
                StatCount.grain == "d", StatCount.period == day, StatCount.gate == gate,
                StatCount.kind.in_(("crossed", "declared")))
            .group_by(StatCount.kind, StatCount.direction)):
        (cleared if kind == "crossed" else declared)[direction] = int(n)

    remaining: Counter[tuple[str, str]] = Counter()
    for fact in session.scalars(select(ReportFact.fact).where(
            ReportFact.gate == gate, ReportFact.arrived_at <= cut,
            or_(ReportFact.finished_at.is_(None),
                and_(ReportFact.finished_at > cut,
                     ReportFact.arrived_at >= cut - LONGEST_STAY)))):
        remaining[(_where_at(fact, cut), fact["direction"])] += int(fact.get("vehicles", 1))

    events: dict[str, list[dict[str, Any]]] = {"hold": [], "reject": []}
    for kind, step, reason, n in session.execute(
            select(StatReason.kind, StatReason.step, StatReason.reason_code, StatReason.n)
            .where(StatReason.grain == "d", StatReason.period == day, StatReason.gate == gate,
                   StatReason.n > 0)
            .order_by(StatReason.n.desc(), StatReason.step, StatReason.reason_code)):
        events[kind].append({"step": step, "reason_code": reason, "count": int(n)})

    controls = [
        {"kind": c.kind, "direction": c.direction, "starts_at": c.starts_at.isoformat(),
         "ends_at": c.ends_at.isoformat(), "reason": c.reason,
         "vehicles_per_hour": c.vehicles_per_hour,
         "lifted_at": c.lifted_at.isoformat() if c.lifted_at else None}
        for c in session.scalars(select(GateControl).where(
            GateControl.gate == gate, GateControl.starts_at < end, GateControl.ends_at > start,
            or_(GateControl.lifted_at.is_(None), GateControl.lifted_at > start))
            .order_by(GateControl.starts_at))]
    calendar = network.calendar(g.calendar)
    hours = calendar.hours_on(day, around(day)) if calendar else None

    partner = []
    for d in DIRECTIONS:
        row = session.scalar(select(PartnerYardCount).where(
            PartnerYardCount.gate == gate, PartnerYardCount.direction == d,
            PartnerYardCount.counted_at <= cut).order_by(PartnerYardCount.counted_at.desc())
            .limit(1))
        if row is not None:
            partner.append({"direction": d, "vehicles": row.vehicles, "capacity": row.capacity,
                            "counted_at": row.counted_at.isoformat(), "source": row.source})
    return {
        "report": "situation", "gate": gate, "gate_name": g.name.vi, "date": day.isoformat(),
        "as_of": cut.isoformat(),
        "cleared": cleared, "declared": declared,
        "remaining": {place: {d: remaining[(place, d)] for d in DIRECTIONS}
                      for place in ("staging", "called", "gate_area")},
        "working_hours": {
            "kind": hours.kind if hours else "closed",
            "intervals": [[r.start.strftime("%H:%M"), r.end.strftime("%H:%M")]
                          for r in hours.intervals] if hours else [],
            "note": (hours.reason if hours else None) or None,
        },
        "controls": controls,
        "closed": any(c["kind"] == "closure" for c in controls),
        "holds": events["hold"], "rejections": events["reject"],
        "partner_yard": partner,
    }


def generate_due(session: Session, network: Network, *, at: time | None, now: datetime,
                 by: str = "system") -> list[SituationReport]:
    """Keep today's report of every gate once the local time reaches ``at`` (each gate's
    report is generated once: a second worker doing the same finds it there)."""
    if at is None:
        return []
    local = now.astimezone(TZ)
    if local.time() < at:
        return []
    made = []
    for g in network.gates:
        if session.scalar(select(SituationReport.id).where(
                SituationReport.gate == g.code, SituationReport.day == local.date())):
            continue
        doc = build(session, network, gate=g.code, day=local.date(), now=now)
        row = SituationReport(gate=g.code, day=local.date(), document=doc, generated_at=now,
                              generated_by=by)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            continue
        made.append(row)
    return made


def kept(session: Session, *, gate: str, day: date) -> SituationReport:
    row = session.scalar(select(SituationReport).where(
        and_(SituationReport.gate == gate, SituationReport.day == day)))
    if row is None:
        raise NotFound(msg("no situation report was generated for {gate} on {date}", gate=gate,
                           date=day))
    return row
