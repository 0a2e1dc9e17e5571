"""Statistics over any period, read from the summary tables (see ``domain/report.py``).

Every report takes a period (local days, both ends included), optional filters (gate, route,
direction, goods group, enterprise) and an optional breakdown by one of those dimensions. The
traffic report compares each figure with the same period a year earlier and gives the
month-to-date and year-to-date figures at the period's end, as the provincial reports do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from borderflow.domain import report as stats
from borderflow.domain.network import Network
from borderflow.errors import FieldError, ValidationFailed, msg
from borderflow.report.facts import TZ
from borderflow.store.models import (
    ReportFact,
    StatCount,
    StatDuration,
    StatEnterpriseCount,
    StatHour,
    StatReason,
)

Dimension = Literal["gate", "route", "direction", "goods_group", "enterprise"]
DIMENSIONS: tuple[Dimension, ...] = ("gate", "route", "direction", "goods_group", "enterprise")
MAX_DAYS = 3 * 366 + 1

INDICATORS = ("vehicles_declared", "vehicles_called", "vehicles_crossed", "vehicles_rejected",
              "vehicles_cancelled", "no_shows", "export_crossed", "import_crossed",
              "tonnage_kg", "turnover_usd_cents", "declarations", "active_enterprises",
              "fees_vnd")


@dataclass(frozen=True)
class Query:
    start: date
    end: date
    gate: str | None = None
    route: str | None = None
    direction: str | None = None
    goods_group: str | None = None
    enterprise: str | None = None
    by: Dimension | None = None

    def filters(self) -> dict[str, str]:
        return {k: v for k in DIMENSIONS if (v := getattr(self, k)) is not None}

    def shifted(self, start: date, end: date) -> Query:
        return replace(self, start=start, end=end)


def check(q: Query, network: Network) -> Query:
    """Refuse what cannot be answered, naming the field."""
    errors: list[FieldError] = []
    if q.end < q.start:
        errors.append(FieldError("to", msg("is before 'from'")))
    elif (q.end - q.start).days >= MAX_DAYS:
        errors.append(FieldError("to", msg("a period is at most {days} days", days=MAX_DAYS)))
    if q.gate is not None and network.gate(q.gate) is None:
        errors.append(FieldError("gate", msg("no gate '{code}' in the network", code=q.gate)))
    kinds = {g.kind for g in network.gates}
    if q.route is not None and q.route not in kinds:
        errors.append(FieldError("route", msg("one of {codes}", codes=sorted(kinds))))
    if q.direction is not None and q.direction not in ("export", "import"):
        errors.append(FieldError("direction", msg("one of {direction}",
                                                   direction=["export", "import"])))
    if q.by is not None and q.by not in DIMENSIONS:
        errors.append(FieldError("by", msg("one of {codes}", codes=list(DIMENSIONS))))
    if q.enterprise is not None and not (q.enterprise.isdigit() and len(q.enterprise) >= 10):
        errors.append(FieldError("enterprise", msg("a tax code (10 digits)")))
    if errors:
        raise ValidationFailed(errors)
    if q.enterprise is not None:
        q = replace(q, enterprise=q.enterprise[:10])
    return q


# --- reading the tables ---------------------------------------------------------------------------


def _periods(model: Any, start: date, end: date) -> ColumnElement[bool]:
    cov = stats.cover(start, end)
    parts: list[ColumnElement[bool]] = []
    if cov.years is not None:
        parts.append(and_(model.grain == "y", model.period.between(*cov.years)))
    parts.extend(and_(model.grain == "m", model.period.between(a, b)) for a, b in cov.months)
    parts.extend(and_(model.grain == "d", model.period.between(a, b)) for a, b in cov.days)
    return or_(*parts)


def _rows(session: Session, stmt: Any) -> list[Any]:
    return list(session.execute(stmt))


def _gates_of_route(network: Network, route: str) -> list[str]:
    return [g.code for g in network.gates if g.kind == route]


def _dimensions(model: Any, q: Query, network: Network) -> list[ColumnElement[bool]]:
    """The filters on gate, route, direction and goods group."""
    out: list[ColumnElement[bool]] = []
    if q.gate is not None:
        out.append(model.gate == q.gate)
    if q.route is not None:
        out.append(model.gate.in_(_gates_of_route(network, q.route)))
    if q.direction is not None:
        out.append(model.direction == q.direction)
    if q.goods_group is not None:
        out.append(model.goods_group == q.goods_group)
    return out


def _where(model: Any, q: Query, network: Network) -> list[ColumnElement[bool]]:
    out = _dimensions(model, q, network)
    if hasattr(model, "enterprise"):
        if q.enterprise is not None:
            out.append(model.enterprise == q.enterprise)
        # per-enterprise figures are kept for all gates and goods groups together as well
        out.append(model.gate == stats.ALL if _all_gates_and_groups(q) else
                   model.gate != stats.ALL)
        out.append(model.direction != stats.ALL)
    return out


def _all_gates_and_groups(q: Query) -> bool:
    return q.gate is None and q.route is None and q.goods_group is None \
        and q.by not in ("gate", "route", "goods_group")


def _active_where(q: Query, network: Network) -> list[ColumnElement[bool]]:
    """The ``active`` rows to count enterprises from: the smallest level the query allows."""
    m = StatEnterpriseCount
    out: list[ColumnElement[bool]] = [m.kind == "active"]
    if q.enterprise is not None:
        out.append(m.enterprise == q.enterprise)
    if q.direction is not None or q.goods_group is not None \
            or q.by in ("direction", "goods_group"):
        return [*out, m.gate != stats.ALL, m.direction != stats.ALL,
                *_dimensions(m, q, network)]
    if q.gate is not None or q.route is not None or q.by in ("gate", "route"):
        out.append(m.gate != stats.ALL)
        out.extend(_dimensions(m, q, network))
    else:
        out.append(m.gate == stats.ALL)
    return [*out, m.direction == stats.ALL]  # (a gate or all gates) x all directions, groups


def _counts_model(q: Query) -> Any:
    """All enterprises' counts, or per enterprise when one is asked for or broken down."""
    return StatEnterpriseCount if q.enterprise is not None or q.by == "enterprise" \
        else StatCount


def _by_column(model: Any, by: Dimension | None) -> Any:
    if by is None:
        return None
    return getattr(model, "gate" if by == "route" else by)


def _label(by: Dimension | None, value: Any, network: Network) -> str:
    if by == "route":
        gate = network.gate(str(value))
        return gate.kind if gate is not None else str(value)
    return str(value)


def _empty() -> dict[str, int]:
    return dict.fromkeys(INDICATORS, 0)


def indicators(session: Session, network: Network, q: Query, *, active: bool = True
               ) -> dict[str, dict[str, int]]:
    """Every indicator for the period, in total ("") and per value of ``q.by`` (active
    enterprises only with ``active``)."""
    m = _counts_model(q)
    by_col = _by_column(m, q.by)
    cols = [m.kind, m.direction, func.sum(m.vehicles), func.sum(m.declarations),
            func.sum(m.weight_kg), func.sum(m.value_usd_cents), func.sum(m.fee_vnd)]
    group = [m.kind, m.direction]
    if by_col is not None:
        cols.append(by_col)
        group.append(by_col)
    stmt = (select(*cols).where(_periods(m, q.start, q.end), m.kind != "active",
                                *_where(m, q, network))
            .group_by(*group))
    out: dict[str, dict[str, int]] = defaultdict(_empty)
    for row in _rows(session, stmt):
        kind, direction = row[0], row[1]
        vehicles, decls, weight, value, fee = (int(x or 0) for x in row[2:7])
        keys = [""] if by_col is None else ["", _label(q.by, row[7], network)]
        for key in keys:
            fig = out[key]
            if kind == "declared":
                fig["vehicles_declared"] += vehicles
                fig["declarations"] += decls
            elif kind == "crossed":
                fig["vehicles_crossed"] += vehicles
                fig[f"{direction}_crossed"] += vehicles
                fig["tonnage_kg"] += weight
                fig["turnover_usd_cents"] += value
            elif kind == "fee":
                fig["fees_vnd"] += fee
            elif kind == "no_show":
                fig["no_shows"] += vehicles
            else:
                fig[f"vehicles_{kind}"] += vehicles
    out[""]
    if q.by == "enterprise":  # each row is one enterprise: active if it declared or crossed
        active_rows = [k for k, f in out.items() if k and (f["vehicles_declared"]
                                                           or f["vehicles_crossed"])]
        for k in active_rows:
            out[k]["active_enterprises"] = 1
        out[""]["active_enterprises"] = len(active_rows)
    elif active:
        for key, count in _active_enterprises(session, network, q).items():
            out[key]["active_enterprises"] = count
    return dict(out)


def _active_enterprises(session: Session, network: Network, q: Query, *,
                        total: bool = True) -> dict[str, int]:
    """Enterprises that declared or crossed in the period (in total, and per ``q.by``)."""
    m = StatEnterpriseCount
    base = [_periods(m, q.start, q.end), *_active_where(q, network)]
    out: dict[str, int] = {}
    if total:
        ids = select(m.enterprise).where(*base).group_by(m.enterprise).subquery()
        out[""] = int(session.scalar(select(func.count()).select_from(ids)) or 0)
    by_col = _by_column(m, q.by)
    if by_col is not None:
        if q.by == "route":
            kinds = {g.code: g.kind for g in network.gates}
            pairs = _rows(session, select(m.gate, m.enterprise).where(*base)
                          .group_by(m.gate, m.enterprise))
            routes: dict[str, set[str]] = defaultdict(set)
            for gate_code, enterprise in pairs:
                routes[kinds.get(gate_code, gate_code)].add(enterprise)
            out.update({route: len(ents) for route, ents in routes.items()})
        else:
            pairs_q = select(by_col.label("key"), m.enterprise).where(*base) \
                .group_by(by_col, m.enterprise).subquery()
            out.update({str(k): int(n) for k, n in _rows(session, select(
                pairs_q.c.key, func.count()).group_by(pairs_q.c.key))})
    return out


def _active_totals(session: Session, network: Network, q: Query,
                   spans: list[tuple[date, date]]) -> list[int]:
    """Active enterprises in each of several periods, in one pass over the rows."""
    m = StatEnterpriseCount
    flags = [func.max(case((_periods(m, a, b), 1), else_=0)).label(f"s{i}")
             for i, (a, b) in enumerate(spans)]
    per_enterprise = (select(m.enterprise, *flags)
                      .where(or_(*(_periods(m, a, b) for a, b in spans)),
                             *_active_where(replace(q, by=None), network))
                      .group_by(m.enterprise).subquery())
    row = session.execute(select(*(func.coalesce(func.sum(per_enterprise.c[f"s{i}"]), 0)
                                   for i in range(len(spans))))).one()
    return [int(v or 0) for v in row]


def _comparisons(now: dict[str, int], before: dict[str, int]) -> dict[str, dict[str, Any]]:
    out = {}
    for k in INDICATORS:
        value, previous = now.get(k, 0), before.get(k, 0)
        out[k] = {"value": value, "previous": previous, "change": value - previous,
                  "change_pct": stats.change_pct(value, previous)}
    return out


def traffic(session: Session, network: Network, q: Query) -> dict[str, Any]:
    """Vehicles, goods, declarations, enterprises and fees for the period, each against the
    same period a year earlier, with month-to-date and year-to-date figures at its end."""
    q = check(q, network)
    prev_q = q.shifted(stats.shift_year(q.start), stats.shift_year(q.end))
    current = indicators(session, network, q, active=False)
    previous = indicators(session, network, prev_q, active=False)
    spans = {"month_to_date": stats.month_start(q.end),
             "year_to_date": q.end.replace(month=1, day=1)}
    figures: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
    for name, start in spans.items():
        figures[name] = (
            indicators(session, network, replace(q, start=start, by=None), active=False)[""],
            indicators(session, network, replace(q, start=stats.shift_year(start),
                                                 end=stats.shift_year(q.end), by=None),
                       active=False)[""])
    # active enterprises: every period's total in one pass, the breakdown in another
    if q.by != "enterprise":
        windows = [(q.start, q.end), (prev_q.start, prev_q.end)]
        for start in spans.values():
            windows += [(start, q.end), (stats.shift_year(start), stats.shift_year(q.end))]
        counts = _active_totals(session, network, q, windows)
        current[""]["active_enterprises"], previous[""]["active_enterprises"] = counts[:2]
        for i, name in enumerate(spans):
            figures[name][0]["active_enterprises"] = counts[2 + 2 * i]
            figures[name][1]["active_enterprises"] = counts[3 + 2 * i]
        if q.by is not None:
            for figs, query in ((current, q), (previous, prev_q)):
                for key, n in _active_enterprises(session, network, query,
                                                  total=False).items():
                    figs.setdefault(key, _empty())["active_enterprises"] = n
    rows = []
    for key in sorted(k for k in current if k):
        rows.append({"key": key, **_comparisons(current[key], previous.get(key, {}))})
    periods = {name: {"from": start.isoformat(), "to": q.end.isoformat(),
                      **_comparisons(*figures[name])} for name, start in spans.items()}
    return {
        "report": "traffic",
        "from": q.start.isoformat(), "to": q.end.isoformat(),
        "previous_from": stats.shift_year(q.start).isoformat(),
        "previous_to": stats.shift_year(q.end).isoformat(),
        "filters": q.filters(), "by": q.by,
        "total": _comparisons(current[""], previous.get("", {})),
        "rows": rows,
        **periods,
    }


# --- time spent -----------------------------------------------------------------------------------


def _summary(hist: dict[int, int], seconds: int) -> dict[str, Any]:
    n = sum(hist.values())
    p50, p90 = stats.percentile(hist, 0.5), stats.percentile(hist, 0.9)
    return {"n": n,
            "mean_minutes": None if n == 0 else round(seconds / n / 60, 1),
            "p50_minutes": None if p50 is None else round(p50 / 60, 1),
            "p90_minutes": None if p90 is None else round(p90 / 60, 1)}


def times(session: Session, network: Network, q: Query) -> dict[str, Any]:
    """Time in the system, waiting before the call and in each step: mean, p50, p90 (minutes),
    of the vehicles that crossed in the period, each with the same period a year earlier."""
    q = check(q, network)
    groups = _time_groups(session, network, q)
    before = _time_groups(session, network, replace(
        q, start=stats.shift_year(q.start), end=stats.shift_year(q.end), by=None)).get("", {})
    total = groups.get("", {})
    for measure, summary in total.items():
        was = before.get(measure, {})
        summary["previous_n"] = was.get("n", 0)
        for name in ("mean_minutes", "p50_minutes", "p90_minutes"):
            summary[f"previous_{name}"] = was.get(name)
        now_mean, was_mean = summary["mean_minutes"], was.get("mean_minutes")
        summary["mean_change_pct"] = None if not was_mean or now_mean is None \
            else round((now_mean - was_mean) * 100 / was_mean, 1)
    return {"report": "times", "from": q.start.isoformat(), "to": q.end.isoformat(),
            "previous_from": stats.shift_year(q.start).isoformat(),
            "previous_to": stats.shift_year(q.end).isoformat(),
            "filters": q.filters(), "by": q.by, "total": total,
            "rows": [{"key": k, "measures": groups[k]} for k in sorted(groups) if k]}


def _time_groups(session: Session, network: Network, q: Query
                 ) -> dict[str, dict[str, dict[str, Any]]]:
    hists: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    sums: dict[tuple[str, str], int] = defaultdict(int)
    if q.enterprise is not None or q.by == "enterprise":
        for key, measure, seconds in _fact_durations(session, network, q):
            for k in ("", key) if q.by else ("",):
                hists[(k, measure)][stats.bucket(seconds)] += 1
                sums[(k, measure)] += seconds
    else:
        m = StatDuration
        by_col = _by_column(m, q.by)
        cols = [m.measure, m.bucket, func.sum(m.n), func.sum(m.seconds)]
        group = [m.measure, m.bucket]
        if by_col is not None:
            cols.append(by_col)
            group.append(by_col)
        stmt = select(*cols).where(_periods(m, q.start, q.end), *_where(m, q, network)) \
            .group_by(*group)
        for row in _rows(session, stmt):
            measure, band, n, seconds = row[:4]
            keys = [""] if by_col is None else ["", _label(q.by, row[4], network)]
            for k in keys:
                hists[(k, measure)][band] += int(n)
                sums[(k, measure)] += int(seconds)
    groups: dict[str, dict[str, Any]] = defaultdict(dict)
    for (k, measure), hist in hists.items():
        groups[k][measure] = _summary(hist, sums[(k, measure)])
    return dict(groups)


def _fact_durations(session: Session, network: Network, q: Query
                    ) -> Iterable[tuple[str, str, int]]:
    """(breakdown key, measure, seconds) of one enterprise's crossings, read from the facts
    (the summary tables keep durations without the enterprise)."""
    lo = datetime.combine(q.start, time.min, TZ)
    hi = datetime.combine(q.end + timedelta(days=1), time.min, TZ)
    stmt = select(ReportFact.fact).where(ReportFact.crossed_at >= lo, ReportFact.crossed_at < hi)
    if q.enterprise is not None:
        stmt = stmt.where(ReportFact.enterprise == q.enterprise)
    routes = set(_gates_of_route(network, q.route)) if q.route else None
    for fact in session.scalars(stmt):
        if (q.gate and fact["gate"] != q.gate) \
                or (routes is not None and fact["gate"] not in routes) \
                or (q.direction and fact["direction"] != q.direction) \
                or (q.goods_group and fact["goods_group"] != q.goods_group):
            continue
        key = "" if q.by is None else _label(q.by, fact["gate"] if q.by == "route"
                                             else fact[q.by], network)
        for measure, seconds in stats.measures(fact).items():
            for _ in range(int(fact.get("vehicles", 1))):
                yield key, measure, seconds


# --- holds, rejections and no-shows ---------------------------------------------------------------


def holds(session: Session, network: Network, q: Query) -> dict[str, Any]:
    """Holds and rejections by step and reason code, and no-shows, in the period."""
    q = check(q, network)
    if q.goods_group is not None or q.enterprise is not None or q.by in ("goods_group",
                                                                            "enterprise"):
        raise ValidationFailed([FieldError("goods_group" if q.goods_group or q.by ==
                                           "goods_group" else "enterprise",
                                           msg("holds and rejections are kept by gate, route "
                                               "and direction only"))])
    m = StatReason
    by_col = _by_column(m, q.by)
    cols = [m.kind, m.step, m.reason_code, func.sum(m.n)]
    group = [m.kind, m.step, m.reason_code]
    if by_col is not None:
        cols.append(by_col)
        group.append(by_col)
    stmt = select(*cols).where(_periods(m, q.start, q.end), *_where(m, q, network)) \
        .group_by(*group)
    out: dict[str, list[dict[str, Any]]] = {"hold": [], "reject": []}
    for row in _rows(session, stmt):
        kind, step, reason, n = row[:4]
        item = {"step": step, "reason_code": reason, "count": int(n)}
        if by_col is not None:
            item[q.by or ""] = _label(q.by, row[4], network)
        out[kind].append(item)
    for items in out.values():
        items.sort(key=lambda i: (-i["count"], i["step"], i["reason_code"]))
    figures = indicators(session, network, replace(q, by=None), active=False)[""]
    before_q = replace(q, start=stats.shift_year(q.start), end=stats.shift_year(q.end), by=None)
    before = {kind: int(n or 0) for kind, n in _rows(session, select(m.kind, func.sum(m.n)).where(
        _periods(m, before_q.start, before_q.end), *_where(m, before_q, network))
        .group_by(m.kind))}
    no_shows_before = indicators(session, network, before_q, active=False)[""]["no_shows"]
    totals = {"total_holds": sum(i["count"] for i in out["hold"]),
              "total_rejections": sum(i["count"] for i in out["reject"]),
              "no_shows": figures["no_shows"]}
    return {"report": "holds", "from": q.start.isoformat(), "to": q.end.isoformat(),
            "previous_from": before_q.start.isoformat(),
            "previous_to": before_q.end.isoformat(),
            "filters": q.filters(), "by": q.by,
            "holds": out["hold"], "rejections": out["reject"], **totals,
            "compared": {
                "total_holds": asdict(stats.compare(totals["total_holds"],
                                                    before.get("hold", 0))),
                "total_rejections": asdict(stats.compare(totals["total_rejections"],
                                                         before.get("reject", 0))),
                "no_shows": asdict(stats.compare(totals["no_shows"], no_shows_before))}}


# --- peaks ----------------------------------------------------------------------------------------


def peaks(session: Session, network: Network, q: Query) -> dict[str, Any]:
    """The busiest day and the busiest hour of the period (vehicles crossed), and vehicles
    crossed per clock hour on average over the period's days."""
    q = check(q, network)
    if q.goods_group is not None or q.enterprise is not None:
        raise ValidationFailed([FieldError("goods_group" if q.goods_group else "enterprise",
                                           msg("peaks are kept by gate, route and direction "
                                               "only"))])
    m = StatCount
    day_rows = session.execute(
        select(m.period, func.sum(m.vehicles)).where(
            m.grain == "d", m.period.between(q.start, q.end), m.kind == "crossed",
            *_where(m, q, network))
        .group_by(m.period).order_by(func.sum(m.vehicles).desc(), m.period).limit(1)).first()
    h = StatHour
    hour_where = [h.day.between(q.start, q.end), *_where(h, replace(q, goods_group=None),
                                                         network)]
    hour_row = session.execute(
        select(h.day, h.hour, func.sum(h.vehicles)).where(*hour_where)
        .group_by(h.day, h.hour).order_by(func.sum(h.vehicles).desc(), h.day, h.hour)
        .limit(1)).first()
    days = (q.end - q.start).days + 1
    per_hour = dict.fromkeys(range(24), 0)
    for hour, n in _rows(session, select(h.hour, func.sum(h.vehicles)).where(*hour_where)
                                   .group_by(h.hour)):
        per_hour[int(hour)] = int(n)
    return {
        "report": "peaks", "from": q.start.isoformat(), "to": q.end.isoformat(),
        "filters": q.filters(),
        "peak_day": None if day_rows is None else {"date": day_rows[0].isoformat(),
                                                   "vehicles": int(day_rows[1])},
        "peak_hour": None if hour_row is None else {
            "date": hour_row[0].isoformat(), "hour": int(hour_row[1]),
            "vehicles": int(hour_row[2])},
        "busiest_hour_of_day": None if not any(per_hour.values())
        else max(per_hour, key=lambda k: (per_hour[k], -k)),
        "average_per_hour": [{"hour": k, "vehicles": round(v / days, 1)}
                             for k, v in per_hour.items()],
    }
