""""What would it take": the cheapest combinations of the province's levers (lanes and
inspection stations per gate, extended hours, goods spread over gates, the planned smart-gate
route, staging size) that meet a target (e.g. mean time in system at most 2 hours and no truck
on National Highway 1) at a given demand.

A levers spec (YAML, see docs/simulation.md) names the scenario, the demand levels, the target
(figures and their bounds, as :class:`borderflow.sim.fit.Target`) and each lever: its names
(vi, en, zh), its levels (each a change merged over the scenario document, level 0 being the
scenario as it is) and the cost of each level step (stated in the spec, in its ``cost_unit``).

The search, per demand level: greedy from nothing — at each step the lever whose next level
lowers the distance to the target most per unit of cost is raised — until the target is met
or no lever is left; then each lever is lowered back while the target stays met. Every
evaluation is a short run on the same random streams (common random numbers). The cheapest
combinations found that meet the target are confirmed with several replications on other
streams and reported with 95% confidence intervals. Pure: it reads and writes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from borderflow.domain.network import Network
from borderflow.sim import runner
from borderflow.sim import scenario as scenarios
from borderflow.sim.fit import Figures, Target, loss, value
from borderflow.sim.results import Estimate
from borderflow.sim.scenario import LocalText


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Lever(_Model):
    code: str
    name: LocalText
    levels: list[dict[str, Any]] = Field(min_length=1)
    """Level 1, 2, …: each a change merged over the scenario document."""
    level_names: list[LocalText] = []
    """What each level is (level 1, 2, …), for tables."""
    costs: list[Annotated[float, Field(ge=0)]]
    """Cost of each step up (level 0 → 1, 1 → 2, …)."""


class Spec(_Model):
    scenario: str
    """The scenario file, relative to the spec."""
    demand: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)
    """Trucks a day to answer for (each a separate search)."""
    target: list[Target] = Field(min_length=1)
    levers: list[Lever] = Field(min_length=1)
    cost_unit: LocalText = LocalText("cost units")
    days: Annotated[int, Field(ge=2, le=60)] = 7
    warmup_days: Annotated[int, Field(ge=0, le=14)] = 1
    seed: int = 1
    replications: Annotated[int, Field(ge=2, le=30)] = 3
    """Replications of each confirmed combination."""
    cheapest: Annotated[int, Field(ge=1, le=10)] = 3
    """Combinations confirmed and reported per demand level."""
    max_evaluations: Annotated[int, Field(ge=1, le=500)] = 60
    search_replications: Annotated[int, Field(ge=1, le=10)] = 1
    """Replications of each search run (on the same streams from run to run)."""


@dataclass(frozen=True)
class Option:
    """A combination of lever levels, its cost and its confirmed figures."""

    levels: tuple[int, ...]
    cost: float
    figures: list[Estimate]
    """Per target, the mean and 95% interval over the confirmation replications."""
    meets: bool
    """Every target's mean within its bounds in the confirmation."""


@dataclass(frozen=True)
class Answer:
    trucks_per_day: float
    options: list[Option]
    """The cheapest combinations that met the target in the search, confirmed (cheapest
    first); when none did, the closest to it (``meets`` false)."""
    baseline: Option
    """The scenario as it is (every lever at level 0), confirmed."""
    evaluations: int


def load_spec(path: Path) -> tuple[Spec, Path]:
    try:
        spec = Spec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except ValidationError as exc:
        raise scenarios.ScenarioError(str(path), [
            (".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]) from None
    for lever in spec.levers:
        if len(lever.costs) != len(lever.levels):
            raise scenarios.ScenarioError(str(path), [
                (f"levers.{lever.code}.costs", "one cost per level")])
    return spec, path.parent / spec.scenario


def cost_of(spec: Spec, levels: tuple[int, ...]) -> float:
    return sum(sum(lv.costs[:n]) for lv, n in zip(spec.levers, levels, strict=True))


def apply(spec: Spec, document: dict[str, Any], levels: tuple[int, ...], trucks: float
          ) -> dict[str, Any]:
    """The scenario document at ``trucks`` a day with each lever at its level."""
    out = copy.deepcopy(document)
    out["demand"] = {**out["demand"], "trucks_per_day": trucks}
    for lever, n in zip(spec.levers, levels, strict=True):
        for change in lever.levels[:n]:
            out = scenarios.merge(out, change)
    out["days"] = spec.days
    out["warmup_days"] = min(spec.warmup_days, spec.days - 1)
    return out


class _Search:
    def __init__(self, spec: Spec, document: dict[str, Any], network: Network, source: str,
                 trucks: float) -> None:
        self.spec, self.document, self.network = spec, document, network
        self.source, self.trucks = source, trucks
        self.seen: dict[tuple[int, ...], float] = {}

    def figures(self, levels: tuple[int, ...], replications: int, seed: int
                ) -> dict[str, list[Figures]]:
        doc = apply(self.spec, self.document, levels, self.trucks)
        sc = scenarios.parse(doc, self.source)
        scenarios.check_against(sc, self.network, self.source)
        res = runner.run([(sc, self.network, self.source)], replications=replications,
                         seed=seed)[0]
        return {"baseline": res.replications}

    def distance(self, levels: tuple[int, ...]) -> float:
        if levels not in self.seen:
            self.seen[levels] = loss(self.figures(levels, self.spec.search_replications,
                                                  self.spec.seed),
                                     self.spec.target, 0.0)
        return self.seen[levels]

    def greedy(self, progress: Callable[[int], None] | None) -> None:
        spec = self.spec
        now = tuple(0 for _ in spec.levers)
        while self.distance(now) > 0 and len(self.seen) < spec.max_evaluations:
            best: tuple[float, tuple[int, ...]] | None = None
            for i, lever in enumerate(spec.levers):
                if now[i] >= len(lever.levels):
                    continue
                up = (*now[:i], now[i] + 1, *now[i + 1:])
                gain = self.distance(up) - self.distance(now)
                step = max(lever.costs[now[i]], 1e-9)
                score = gain / step
                if best is None or score < best[0]:
                    best = (score, up)
                if progress is not None:
                    progress(len(self.seen))
            if best is None:
                break
            now = best[1]
        if self.distance(now) > 0:
            return
        for i in range(len(spec.levers)):  # lower back what is not needed
            while now[i] > 0 and len(self.seen) < spec.max_evaluations:
                down = (*now[:i], now[i] - 1, *now[i + 1:])
                if self.distance(down) > 0:
                    break
                now = down

    def confirm(self, levels: tuple[int, ...]) -> Option:
        figs = self.figures(levels, self.spec.replications, self.spec.seed + 1)
        estimates = [value(figs, t) for t in self.spec.target]
        meets = all(t.low <= e.mean <= t.high for t, e in
                    zip(self.spec.target, estimates, strict=True))
        return Option(levels, cost_of(self.spec, levels), estimates, meets)


def with_hours(spec: Spec, hours: float) -> Spec:
    """The spec with its time-in-system target (the first on a ``time_in_system`` figure) at
    most ``hours``."""
    target = list(spec.target)
    for i, t in enumerate(target):
        if t.figure.startswith("time_in_system"):
            target[i] = t.model_copy(update={"high": hours})
            break
    return spec.model_copy(update={"target": target})


def what_would_it_take(spec: Spec, document: dict[str, Any], network: Network,
                       source: str = "scenario",
                       progress: Callable[[float, int], None] | None = None) -> list[Answer]:
    """Per demand level of the spec, the cheapest lever combinations that meet its target."""
    out = []
    for trucks in spec.demand:
        search = _Search(spec, document, network, source, trucks)
        search.greedy(None if progress is None else _bind(progress, trucks))
        met = sorted((lv for lv, d in search.seen.items() if d <= 0),
                     key=lambda lv: (cost_of(spec, lv), sum(lv)))
        if not met:  # none met it: the closest ones, to show how far the levers go
            met = sorted(search.seen, key=lambda lv: (search.seen[lv], cost_of(spec, lv)))
        options = [search.confirm(lv) for lv in met[:spec.cheapest]]
        base = search.confirm(tuple(0 for _ in spec.levers))
        out.append(Answer(trucks, options, base, len(search.seen)))
    return out


def _bind(progress: Callable[[float, int], None], trucks: float) -> Callable[[int], None]:
    return lambda n: progress(trucks, n)


def describe(spec: Spec, levels: tuple[int, ...], lang: str = "en") -> list[str]:
    """Each lever raised, as ``name: level name`` in ``lang``."""
    out = []
    for lever, n in zip(spec.levers, levels, strict=True):
        if n == 0:
            continue
        level = (lever.level_names[n - 1].in_(lang) if n - 1 < len(lever.level_names)
                 else str(n))
        out.append(f"{lever.name.in_(lang)}: {level}")
    return out


