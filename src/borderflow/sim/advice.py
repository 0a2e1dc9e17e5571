"""Advice for the regulator from the demand forecast: the days on which a gate is forecast more
trucks than it can take, and what would absorb them — extended hours at that gate, or part of
its trucks sent to another gate of the same direction that has room — each checked in the
scenario lab on the forecast days, not by a rule of thumb.

A gate's **capacity** on a day is the planner's: the call-forward places of its slots that day
(vehicles per hour over the open minutes, as ``domain.booking`` and the live dispatcher count
them). A day is **over capacity** when the forecast mean exceeds it.

Each remedy is simulated on that day alone, with the forecast of every gate for the day as the
demand (:attr:`borderflow.sim.scenario.Demand.forecast`), over several replications on common
random numbers, with the live dispatch rules (re-routing included). The figure compared is the
gate's **backlog**: the trucks forecast for it that day that have not left a gate area by
midnight (wherever the dispatcher re-routed them). A remedy **absorbs** the extra trucks when
the backlog it leaves is no more than the backlog of the same gate on a day forecast exactly at
its capacity, plus a tenth of the extra trucks. Extended hours are tried from one hour up, the
least that absorbs is advised; a shift sends the extra trucks to the other gates in proportion
to their room that day. Pure: it reads and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from borderflow.domain.network import Network
from borderflow.sim.engine import simulate
from borderflow.sim.model import SLOT_MINUTES, compile_model
from borderflow.sim.results import Estimate, estimate
from borderflow.sim.scenario import ForecastDay, GateChange, Scenario

MAX_EXTRA_HOURS = 4
REPLICATIONS = 4
Key = tuple[str, str]  # gate, direction


@dataclass(frozen=True)
class Remedy:
    kind: str
    """``extra_hours`` or ``shift``."""
    hours: float = 0.0
    moves: tuple[tuple[str, int], ...] = ()
    """For a shift: (gate, trucks) sent there."""
    backlog: Estimate | None = None
    absorbs: bool = False


@dataclass(frozen=True)
class Advice:
    day: date
    gate: str
    direction: str
    mean: float
    hi80: float
    capacity: int
    backlog: Estimate
    """The gate's trucks of the day not gone by midnight without any remedy."""
    remedies: tuple[Remedy, ...]

    @property
    def extra(self) -> int:
        return max(0, round(self.mean - self.capacity))


def capacities(scenario: Scenario, network: Network, days: Sequence[date]
               ) -> dict[tuple[date, str, str], int]:
    """Per day, gate and direction: the call-forward places of the day's slots."""
    out: dict[tuple[date, str, str], int] = {}
    if not days:
        return out
    first = min(days)
    n = (max(days) - first).days + 1
    sc = _window(scenario, first, n, [])
    m = compile_model(sc, network, np.random.default_rng(0))
    per_day = 1440 // SLOT_MINUTES
    for r in m.routes:
        places = m.slot_places[r.index]
        for i in range(n):
            key = (first + timedelta(days=i), r.gate.code, r.direction)
            out[key] = out.get(key, 0) + int(places[i * per_day:(i + 1) * per_day].sum())
    return out


def _window(scenario: Scenario, first: date, days: int, forecast: list[ForecastDay],
            gates: dict[str, GateChange] | None = None) -> Scenario:
    demand = scenario.demand.model_copy(update={"forecast": forecast, "periods": []})
    return scenario.model_copy(update={
        "start": first, "days": days, "warmup_days": 0, "demand": demand,
        "gates": gates if gates is not None else scenario.gates})


def _backlog(scenario: Scenario, network: Network, key: Key, seed: int) -> Estimate:
    values = []
    for rep in range(REPLICATIONS):
        trace = simulate(compile_model(scenario, network,
                                       np.random.default_rng([seed, rep])))
        m = trace.model
        on = np.array([r.gate.code == key[0] and r.direction == key[1] for r in m.routes]
                      + [False])[m.route]  # the gate they were forecast for
        late = ~np.isfinite(trace.leave) | (trace.leave > 1440.0)
        values.append(float((on & (m.arrival < 1440.0) & late).sum()))
    return estimate(values)


def _scaled(f: ForecastDay, factor: float) -> ForecastDay:
    return f.model_copy(update={k: getattr(f, k) * factor
                                for k in ("mean", "lo80", "hi80", "lo95", "hi95")})


def _with_extra_hours(scenario: Scenario, gate: str, hours: float) -> dict[str, GateChange]:
    gates = dict(scenario.gates)
    change = gates.get(gate, GateChange())
    gates[gate] = change.model_copy(update={"extra_hours": change.extra_hours + hours})
    return gates


def advise(scenario: Scenario, network: Network, forecast: Sequence[ForecastDay], *,
           seed: int = 1) -> list[Advice]:
    """Every (day, gate, direction) forecast over capacity, with the remedies checked."""
    days = sorted({f.date for f in forecast})
    caps = capacities(scenario, network, days)
    out: list[Advice] = []
    for f in sorted(forecast, key=lambda f: (f.date, f.gate, f.direction)):
        cap = caps.get((f.date, f.gate, f.direction))
        if cap is None or cap <= 0 or f.mean <= cap:
            continue
        same_day = [g for g in forecast if g.date == f.date]
        key = (f.gate, f.direction)

        def run(demand: list[ForecastDay], gates: dict[str, GateChange] | None = None,
                day: date = f.date, key: Key = key) -> Estimate:
            return _backlog(_window(scenario, day, 1, demand, gates), network, key, seed)

        backlog = run(same_day)
        at_capacity = [g if g is not f else _scaled(f, cap / f.mean) for g in same_day]
        allowed = run(at_capacity).mean + 0.1 * (f.mean - cap)
        remedies: list[Remedy] = []
        for hours in range(1, MAX_EXTRA_HOURS + 1):
            after = run(same_day, _with_extra_hours(scenario, f.gate, hours))
            remedies.append(Remedy("extra_hours", hours=hours, backlog=after,
                                   absorbs=after.mean <= allowed))
            if after.mean <= allowed:
                break
        remedies = [r for r in remedies if r.absorbs] or remedies[-1:]
        shift = _shift(f, same_day, caps)
        if shift:
            moved = _apply_shift(f, same_day, shift)
            after = run(moved)
            remedies.append(Remedy("shift", moves=tuple(shift), backlog=after,
                                   absorbs=after.mean <= allowed))
        out.append(Advice(f.date, f.gate, f.direction, f.mean, f.hi80, cap, backlog,
                          tuple(remedies)))
    return out


def _shift(f: ForecastDay, same_day: list[ForecastDay],
           caps: dict[tuple[date, str, str], int]) -> list[tuple[str, int]]:
    """The extra trucks spread over the other gates of the direction in proportion to their
    room that day (only as many as they have room for)."""
    extra = f.mean - caps[(f.date, f.gate, f.direction)]
    room: dict[str, float] = {}
    for g in same_day:
        cap = caps.get((g.date, g.gate, g.direction))
        if g.gate != f.gate and g.direction == f.direction and cap and cap > g.mean:
            room[g.gate] = cap - g.mean
    total = sum(room.values())
    if total <= 0:
        return []
    send = min(extra, total)
    return [(gate, round(send * r / total)) for gate, r in sorted(room.items())
            if round(send * r / total) > 0]


def _apply_shift(f: ForecastDay, same_day: list[ForecastDay],
                 moves: list[tuple[str, int]]) -> list[ForecastDay]:
    sent = sum(n for _, n in moves)
    gets = dict(moves)
    out = []
    for g in same_day:
        if g is f:
            out.append(_scaled(g, (g.mean - sent) / g.mean))
        elif g.direction == f.direction and g.gate in gets and g.mean > 0:
            out.append(_scaled(g, (g.mean + gets[g.gate]) / g.mean))
        else:
            out.append(g)
    return out
