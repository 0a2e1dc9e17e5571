"""The regulator's advice kept with each forecast run, and the forecast of the next days as the
console and the public board read it.

For the run's next :data:`DAYS` days, every gate and direction forecast gets the gate's
call-forward places that day (the planner's capacity, :func:`borderflow.sim.advice.capacities`);
a day whose forecast mean exceeds them gets the backlog simulated without a remedy and the
remedies checked in the scenario lab (:func:`borderflow.sim.advice.advise`: the least extended
hours that absorb the extra trucks, and the shift of the extra trucks to the other gates with
room). The lab runs the packaged Lang Son baseline's service times and dispatch rules on the
network in force. It takes seconds: it runs with the refresh that made the run, never in a
page's request; the pages read what it stored.

:func:`store_advice` computes and stores in one go, from a stored run. A caller that fits in a
read transaction and writes afterwards can compute from the prepared rows first
(:func:`compute_advice`, reads nothing) and store with the run (:func:`save_advice`), so that
the write lock is never held while the lab runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from borderflow.clock import LOCAL_TZ
from borderflow.config import DEFAULT_SCENARIOS_DIR
from borderflow.domain.network import Network
from borderflow.sim import advice as lab
from borderflow.sim import scenario as scenarios
from borderflow.sim.scenario import ForecastDay, Scenario
from borderflow.store.models import Forecast, ForecastAdvice, ForecastRun

DAYS = 7
"""Days of a run the advice covers (and the console and board show), from tomorrow."""
BASELINE = DEFAULT_SCENARIOS_DIR / "lang-son-baseline.yaml"
"""The scenario whose service times and dispatch rules the remedies are checked with."""
FIELDS = ("gate", "direction", "day", "mean", "lo80", "hi80", "lo95", "hi95")
"""What the advice reads of a forecast row (a stored one, or a prepared run's)."""


def _tomorrow(now: datetime) -> date:
    return now.astimezone(LOCAL_TZ).date() + timedelta(days=1)


def lab_scenario(network: Network) -> Scenario:
    """The baseline scenario fitted to ``network`` (the network in force): its per-gate
    changes and demand shares kept only for the gates and directions the network has, so that
    the lab runs on the gates the platform runs."""
    scenario, _packaged = scenarios.load(BASELINE)
    gates = {code: change for code, change in scenario.gates.items()
             if network.gate(code) is not None}
    shares: dict[str, dict[str, float]] = {}
    for direction, by_gate in scenario.demand.gates.items():
        kept = {code: share for code, share in by_gate.items()
                if (g := network.gate(code)) is not None and g.permits_direction(direction)}
        shares[direction] = kept or {g.code: 1.0 for g in network.gates
                                     if g.permits_direction(direction)}
    demand = scenario.demand.model_copy(update={"gates": shares})
    return scenario.model_copy(update={"gates": gates, "demand": demand})


def forecast_day(row: Mapping[str, Any]) -> ForecastDay:
    """A forecast row as the lab's demand (bounds put in order around the mean, which
    rounding may have left a hair outside them)."""
    mean = max(0.0, float(row["mean"]))
    lo80 = max(0.0, min(float(row["lo80"]), mean))
    hi80 = max(float(row["hi80"]), mean)
    return ForecastDay(date=row["day"], gate=row["gate"], direction=row["direction"],
                       mean=mean, lo80=lo80, hi80=hi80,
                       lo95=max(0.0, min(float(row["lo95"]), lo80)),
                       hi95=max(float(row["hi95"]), hi80))


@dataclass(frozen=True)
class Computed:
    """The advice of a run's next days, computed and not stored yet."""

    rows: tuple[Mapping[str, Any], ...]
    """The forecasts of those days (gate, direction, day, mean, bounds)."""
    capacities: Mapping[tuple[date, str, str], int]
    advice: tuple[lab.Advice, ...]


def compute_advice(network: Network, rows: Sequence[Mapping[str, Any]], *, origin: date,
                   now: datetime) -> Computed:
    """Reads and writes nothing: of a run's forecast rows (from ``origin``, its first day),
    those of the next :data:`DAYS` days from tomorrow on the network's gates and directions,
    each day's places per gate and direction, and the advice for the days over them."""
    first = max(origin, _tomorrow(now))
    last = first + timedelta(days=DAYS - 1)
    keys = {(g.code, d) for g in network.gates for d in g.directions}
    kept = tuple(sorted(
        ({k: r[k] for k in FIELDS} for r in rows
         if first <= r["day"] <= last and (r["gate"], r["direction"]) in keys),
        key=lambda r: (r["day"], r["gate"], r["direction"])))
    if not kept:
        return Computed((), {}, ())
    scenario = lab_scenario(network)
    caps = lab.capacities(scenario, network, sorted({r["day"] for r in kept}))
    return Computed(kept, caps, tuple(lab.advise(scenario, network,
                                                 [forecast_day(r) for r in kept])))


def _remedy_json(r: lab.Remedy) -> dict[str, Any]:
    return {"kind": r.kind, "hours": r.hours, "moves": [[g, n] for g, n in r.moves],
            "backlog": None if r.backlog is None else [round(r.backlog.mean, 2),
                                                       round(r.backlog.half_width, 2)],
            "absorbs": r.absorbs}


def save_advice(session: Session, run_id: int, computed: Computed) -> int:
    """Keep computed advice with its run (replacing any kept before): a row per day, gate and
    direction with the gate's places that day, and the backlog and remedies of the days
    forecast over them. Returns how many days are over."""
    over = {(a.day, a.gate, a.direction): a for a in computed.advice}
    session.execute(delete(ForecastAdvice).where(ForecastAdvice.run_id == run_id))
    values = []
    for r in computed.rows:
        key = (r["day"], r["gate"], r["direction"])
        a = over.get(key)
        values.append({
            "run_id": run_id, "day": r["day"], "gate": r["gate"], "direction": r["direction"],
            "mean": r["mean"], "hi80": r["hi80"], "capacity": computed.capacities.get(key, 0),
            "backlog_mean": None if a is None else round(a.backlog.mean, 2),
            "backlog_half_width": None if a is None else round(a.backlog.half_width, 2),
            "remedies": [] if a is None else [_remedy_json(m) for m in a.remedies]})
    if values:
        session.execute(insert(ForecastAdvice), values)
    session.flush()
    return len(computed.advice)


def store_advice(session: Session, network: Network, run: ForecastRun, *,
                 now: datetime) -> int:
    """Compute and keep the advice of a stored run (:func:`compute_advice` on its forecasts,
    then :func:`save_advice`). Returns how many days are over a gate's places."""
    first = max(run.origin, _tomorrow(now))
    rows = [{k: getattr(f, k) for k in FIELDS} for f in session.scalars(
        select(Forecast).where(Forecast.run_id == run.id, Forecast.day >= first,
                               Forecast.day <= first + timedelta(days=DAYS - 1)))]
    return save_advice(session, run.id, compute_advice(network, rows, origin=run.origin,
                                                       now=now))


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Remedy:
    kind: str
    """``extra_hours`` or ``shift``."""
    hours: float
    moves: tuple[tuple[str, int], ...]
    """For a shift: (gate, trucks) sent there."""
    backlog: float | None
    backlog_half_width: float | None
    absorbs: bool


@dataclass(frozen=True)
class Advice:
    """A day forecast over a gate's places, with the remedies checked."""

    run_id: int
    day: date
    gate: str
    direction: str
    mean: float
    hi80: float
    capacity: int
    backlog: float
    backlog_half_width: float
    remedies: tuple[Remedy, ...]

    @property
    def extra(self) -> int:
        return max(0, round(self.mean - self.capacity))

    @property
    def hours(self) -> Remedy | None:
        """The least extended hours that absorb the extra trucks (else the most tried)."""
        return next((r for r in self.remedies if r.kind == "extra_hours"), None)

    @property
    def shift(self) -> Remedy | None:
        return next((r for r in self.remedies if r.kind == "shift"), None)


def _remedy(data: dict[str, Any]) -> Remedy:
    backlog = data.get("backlog") or [None, None]
    return Remedy(kind=str(data["kind"]), hours=float(data.get("hours") or 0),
                  moves=tuple((str(g), int(n)) for g, n in data.get("moves") or []),
                  backlog=backlog[0], backlog_half_width=backlog[1],
                  absorbs=bool(data.get("absorbs")))


def _advice(row: ForecastAdvice) -> Advice:
    return Advice(row.run_id, row.day, row.gate, row.direction, row.mean, row.hi80,
                  row.capacity, float(row.backlog_mean or 0.0),
                  float(row.backlog_half_width or 0.0),
                  tuple(_remedy(r) for r in row.remedies or []))


def advice_for(session: Session, run_id: int) -> list[Advice]:
    """The days of a run forecast over a gate's places, with their remedies, by day, gate and
    direction (empty when none is, or while its advice is not computed)."""
    return [_advice(r) for r in session.scalars(
        select(ForecastAdvice).where(ForecastAdvice.run_id == run_id,
                                     ForecastAdvice.backlog_mean.is_not(None))
        .order_by(ForecastAdvice.day, ForecastAdvice.gate, ForecastAdvice.direction))]


@dataclass(frozen=True)
class Day:
    """One day's forecast at a gate in a direction, as the pages show it; ``capacity``: the
    gate's places that day when the run's advice has it (None: not known)."""

    day: date
    mean: float
    lo80: float
    hi80: float
    lo95: float
    hi95: float
    capacity: int | None = None

    @property
    def over(self) -> bool:
        return self.capacity is not None and self.mean > self.capacity


@dataclass(frozen=True)
class Series:
    gate: str
    direction: str
    days: tuple[Day, ...]

    def on(self, day: date) -> Day | None:
        return next((d for d in self.days if d.day == day), None)


@dataclass(frozen=True)
class Week:
    """The newest run's forecasts of the next :data:`DAYS` days, per gate and direction in
    the network's order, and (for officials) its advice."""

    run_id: int
    created_at: datetime
    days: tuple[date, ...]
    series: tuple[Series, ...]
    advice: tuple[Advice, ...] = ()


def _days(now: datetime) -> tuple[date, ...]:
    first = _tomorrow(now)
    return tuple(first + timedelta(days=i) for i in range(DAYS))


def _series(network: Network, found: dict[tuple[str, str], list[Day]]) -> tuple[Series, ...]:
    return tuple(Series(g.code, d, tuple(found[(g.code, d)]))
                 for g in network.gates for d in ("export", "import")
                 if (g.code, d) in found)


def week(session: Session, network: Network, *, now: datetime) -> Week | None:
    """The newest run's forecasts of the :data:`DAYS` days from tomorrow, without capacities
    or advice (the public board): one query. None before the first run, or when the newest
    run has none of those days."""
    days = _days(now)
    newest = select(ForecastRun.id).order_by(ForecastRun.id.desc()).limit(1).scalar_subquery()
    found: dict[tuple[str, str], list[Day]] = {}
    run: tuple[int, datetime] | None = None
    for f, created_at in session.execute(
            select(Forecast, ForecastRun.created_at)
            .join(ForecastRun, ForecastRun.id == Forecast.run_id)
            .where(Forecast.run_id == newest, Forecast.day >= days[0],
                   Forecast.day <= days[-1])
            .order_by(Forecast.gate, Forecast.direction, Forecast.day)):
        run = (f.run_id, created_at)
        found.setdefault((f.gate, f.direction), []).append(
            Day(f.day, f.mean, f.lo80, f.hi80, f.lo95, f.hi95))
    if run is None:
        return None
    return Week(run[0], run[1], days, _series(network, found))


def week_with_advice(session: Session, network: Network, *, now: datetime) -> Week | None:
    """:func:`week` with each day's places where the run's advice has them and the advice
    for the days over them (the console)."""
    plain = week(session, network, now=now)
    if plain is None:
        return None
    stored = list(session.scalars(select(ForecastAdvice).where(
        ForecastAdvice.run_id == plain.run_id, ForecastAdvice.day >= plain.days[0],
        ForecastAdvice.day <= plain.days[-1]).order_by(
            ForecastAdvice.day, ForecastAdvice.gate, ForecastAdvice.direction)))
    caps = {(r.day, r.gate, r.direction): r.capacity for r in stored if r.capacity > 0}
    series = tuple(
        Series(s.gate, s.direction, tuple(
            Day(d.day, d.mean, d.lo80, d.hi80, d.lo95, d.hi95,
                caps.get((d.day, s.gate, s.direction))) for d in s.days))
        for s in plain.series)
    order = {(s.gate, s.direction): i for i, s in enumerate(series)}
    advice = sorted((_advice(r) for r in stored if r.backlog_mean is not None),
                    key=lambda a: (a.day, order.get((a.gate, a.direction), len(order))))
    return Week(plain.run_id, plain.created_at, plain.days, series, tuple(advice))


def gates_of(series: Sequence[Series]) -> list[str]:
    """The gates in ``series``, in their order."""
    return list(dict.fromkeys(s.gate for s in series))
