"""Calibration to reported figures: fit the unknown capacities of a scenario (service-time
means, servers, hourly capacities — each a *knob* with its bounds) so that its simulated
figures fall inside the bands the province reports (trucks a day, clearance time, each gate's
share of the traffic, peak days).

A calibration spec (YAML, see docs/simulation.md) names the scenario, the knobs (a field path
in the scenario document, its bounds, whole or not), the targets (a figure, its band) and the
gates' reported daily counts. The fit:

1. matches the gates' shares by rescaling each gate's demand shares (both directions) by
   reported ÷ simulated share (a fixed-point step, ``share_rounds`` times);
2. minimises the distance of the figures outside their bands (plus a small pull towards each
   band's centre) over the knobs with scipy's bounded Nelder-Mead, in the unit cube, every
   evaluation a short run on the same random streams (common random numbers: the objective
   changes only with the knobs, not with the noise); whole-number knobs are rounded;
3. confirms the best point with a longer run of several replications on other streams, and
   reports each target's mean, 95% confidence interval and whether it is inside the band.

Pure: it reads and writes nothing (``write_*`` return new text).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from borderflow.domain.network import Network
from borderflow.sim import runner
from borderflow.sim import scenario as scenarios
from borderflow.sim.results import Estimate, ScenarioResult, estimate

Figures = dict[str, float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Knob(_Model):
    """An unknown of the scenario: a field path of its document (``stations.customs.service.
    mean``, ``gates.huu-nghi.vehicles_per_hour.import``) and the bounds it may take."""

    path: str
    low: float
    high: float
    integer: bool = False


class Target(_Model):
    """A reported figure: the simulated ``figure`` (a key of the run's figures, times
    ``factor``; ``share.<group>`` for a gate group's share of the traffic) in ``[low, high]``,
    in the ``baseline`` run or the ``peak`` run."""

    name: str
    figure: str
    low: float = -math.inf
    high: float = math.inf
    factor: float = 1.0
    run: str = "baseline"


class Peak(_Model):
    """The peak run: the scenario at ``trucks_per_day`` for ``days`` days."""

    trucks_per_day: Annotated[float, Field(gt=0)]
    days: Annotated[int, Field(ge=2, le=60)] = 7


class Spec(_Model):
    scenario: str
    """The scenario file, relative to the spec."""
    knobs: list[Knob]
    targets: list[Target]
    gates: dict[str, list[str]] = {}
    """Gate groups whose share is reported (``tan-thanh: [tan-thanh-dedicated, ...]``)."""
    reported: dict[str, float] = {}
    """Reported trucks a day per gate group: their shares are the targets' ``share.<group>``."""
    share_tolerance: Annotated[float, Field(gt=0, le=0.5)] = 0.03
    """A share is inside its band within this many points (0.03: three percentage points)."""
    share_rounds: Annotated[int, Field(ge=0, le=5)] = 2
    peak: Peak | None = None
    days: Annotated[int, Field(ge=2, le=120)] = 28
    warmup_days: Annotated[int, Field(ge=0, le=14)] = 2
    seed: int = 1
    evaluations: Annotated[int, Field(ge=1, le=1000)] = 60
    confirm_days: Annotated[int, Field(ge=2, le=366)] = 56
    confirm_replications: Annotated[int, Field(ge=2, le=30)] = 5
    pull: Annotated[float, Field(ge=0)] = 0.05
    """Weight of the pull towards each band's centre (0: any point inside the bands)."""


@dataclass(frozen=True)
class TargetFit:
    name: str
    low: float
    high: float
    value: Estimate

    @property
    def inside(self) -> bool:
        return self.low <= self.value.mean <= self.high


@dataclass
class FitResult:
    knobs: dict[str, float]
    """Fitted value of every knob (path → value)."""
    start: dict[str, float]
    shares: dict[str, dict[str, float]]
    """The demand's gate shares after matching (direction → gate → share)."""
    targets: list[TargetFit]
    evaluations: int
    objective: float
    document: dict[str, Any] = field(default_factory=dict)
    """The scenario document with the fit applied."""

    @property
    def inside(self) -> bool:
        return all(t.inside for t in self.targets)


def load_spec(path: Path) -> tuple[Spec, Path]:
    """A calibration spec and its scenario file's path."""
    try:
        spec = Spec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except ValidationError as exc:
        raise scenarios.ScenarioError(str(path), [
            (".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]) from None
    return spec, path.parent / spec.scenario


def get_path(document: Mapping[str, Any], path: str) -> Any:
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def set_path(document: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = document
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _with(document: dict[str, Any], values: Mapping[str, float], knobs: list[Knob]
          ) -> dict[str, Any]:
    out = copy.deepcopy(document)
    for k in knobs:
        v = values[k.path]
        set_path(out, k.path, round(v) if k.integer else float(round(v, 3)))
    return out


def shares_of(figures: Figures, groups: Mapping[str, list[str]]) -> Figures:
    """Each gate group's share of the measured throughput (``share.<group>``)."""
    per = {g: sum(figures.get(f"gate_throughput.{c}", 0.0) for c in codes)
           for g, codes in groups.items()}
    total = sum(per.values())
    return {f"share.{g}": (v / total if total else 0.0) for g, v in per.items()}


def targets_of(spec: Spec) -> list[Target]:
    """The spec's targets and one per reported gate group's share."""
    total = sum(spec.reported.values())
    out = list(spec.targets)
    for g, n in spec.reported.items():
        share = n / total
        out.append(Target(name=f"share of {g} ({n:g}/day)", figure=f"share.{g}",
                          low=share - spec.share_tolerance, high=share + spec.share_tolerance))
    return out


class Evaluator:
    """Runs a scenario document (and its peak run) on fixed random streams."""

    def __init__(self, spec: Spec, network: Network, source: str) -> None:
        self.spec = spec
        self.network = network
        self.source = source
        self.count = 0

    def loaded(self, document: dict[str, Any], days: int, trucks: float | None = None
               ) -> runner.Loaded:
        doc = copy.deepcopy(document)
        doc.update(days=days, warmup_days=min(self.spec.warmup_days, days - 1))
        if trucks is not None:
            doc["demand"] = {**doc["demand"], "trucks_per_day": trucks, "periods": []}
        sc = scenarios.parse(doc, self.source)
        scenarios.check_against(sc, self.network, self.source)
        return sc, self.network, self.source

    def run(self, document: dict[str, Any], *, days: int, replications: int, seed: int
            ) -> dict[str, list[Figures]]:
        """Per run (``baseline``, ``peak``), the figures of each replication."""
        self.count += 1
        jobs = [("baseline", self.loaded(document, days))]
        if self.spec.peak is not None:
            jobs.append(("peak", self.loaded(document, self.spec.peak.days,
                                             self.spec.peak.trucks_per_day)))
        results: list[ScenarioResult] = runner.run([j for _, j in jobs],
                                                   replications=replications, seed=seed)
        out = {}
        for (name, _), res in zip(jobs, results, strict=True):
            out[name] = [{**r, **shares_of(r, self.spec.gates)} for r in res.replications]
        return out


def value(figures: Mapping[str, list[Figures]], t: Target) -> Estimate:
    return estimate([r.get(t.figure, math.nan) * t.factor for r in figures.get(t.run, [])])


def loss(figures: Mapping[str, list[Figures]], targets: list[Target], pull: float) -> float:
    """Squared distance outside each band (in band widths, or of the bound when the band is
    open), plus ``pull`` × squared distance from the band's centre."""
    total = 0.0
    for t in targets:
        v = value(figures, t).mean
        finite = math.isfinite(t.low) and math.isfinite(t.high)
        scale = (t.high - t.low) if finite and t.high > t.low else \
            max(abs(t.low if math.isfinite(t.low) else t.high), 1e-9) * 0.1
        if not math.isfinite(v):
            total += 1e6
            continue
        out = max(t.low - v, 0.0, v - t.high) / scale
        total += out * out
        if finite and pull:
            total += pull * ((v - (t.low + t.high) / 2) / scale) ** 2
    return total


def match_shares(document: dict[str, Any], figures: Figures, spec: Spec) -> dict[str, Any]:
    """The demand's gate shares rescaled by reported ÷ simulated share of each group."""
    total = sum(spec.reported.values())
    out = copy.deepcopy(document)
    for direction, shares in out["demand"]["gates"].items():
        for g, codes in spec.gates.items():
            got = figures.get(f"share.{g}", 0.0)
            if g not in spec.reported or got <= 0:
                continue
            ratio = spec.reported[g] / total / got
            for c in codes:
                if c in shares:
                    shares[c] = round(shares[c] * ratio, 4)
        out["demand"]["gates"][direction] = shares
    return out


def calibrate(spec: Spec, document: dict[str, Any], network: Network, source: str = "scenario",
              progress: Callable[[int, float], None] | None = None) -> FitResult:
    """Fit the knobs of ``document`` (a scenario document) to the spec's targets (scipy is
    imported here, when a calibration runs, not with the lab)."""
    from scipy.optimize import minimize  # type: ignore[import-untyped]

    ev = Evaluator(spec, network, source)
    targets = targets_of(spec)
    doc = copy.deepcopy(document)
    for _ in range(spec.share_rounds if spec.reported else 0):
        figs = ev.run(doc, days=spec.days, replications=1, seed=spec.seed)["baseline"][0]
        doc = match_shares(doc, figs, spec)
    knobs = spec.knobs
    start = {k.path: float(get_path(doc, k.path) or k.low) for k in knobs}
    lo = np.array([k.low for k in knobs])
    width = np.array([k.high - k.low for k in knobs])
    cache: dict[tuple[float, ...], float] = {}

    def values(x: np.ndarray) -> dict[str, float]:
        raw = lo + np.clip(x, 0.0, 1.0) * width
        return {k.path: round(v) if k.integer else round(float(v), 3)
                for k, v in zip(knobs, raw, strict=True)}

    def objective(x: np.ndarray) -> float:
        vals = values(x)
        key = tuple(vals.values())
        if key not in cache:
            figs = ev.run(_with(doc, vals, knobs), days=spec.days, replications=1,
                          seed=spec.seed)
            cache[key] = loss(figs, targets, spec.pull)
            if progress is not None:
                progress(len(cache), min(cache.values()))
        return cache[key]

    best_x = np.clip((np.array([start[k.path] for k in knobs]) - lo) / width, 0.0, 1.0)
    if knobs:
        simplex = [best_x.copy()]
        for i in range(len(knobs)):
            p = best_x.copy()
            p[i] = p[i] + 0.25 if p[i] <= 0.75 else p[i] - 0.25
            simplex.append(p)
        res = minimize(objective, best_x, method="Nelder-Mead",
                       bounds=[(0.0, 1.0)] * len(knobs),
                       options={"maxfev": spec.evaluations, "initial_simplex": np.array(simplex),
                                "xatol": 0.01, "fatol": 1e-4})
        best_x = res.x
    fitted = values(best_x)
    final = _with(doc, fitted, knobs)
    confirm = ev.run(final, days=spec.confirm_days, replications=spec.confirm_replications,
                     seed=spec.seed + 1)
    return FitResult(
        knobs=fitted, start=start, shares=copy.deepcopy(final["demand"]["gates"]),
        targets=[TargetFit(t.name, t.low, t.high, value(confirm, t)) for t in targets],
        evaluations=ev.count, objective=loss(confirm, targets, spec.pull), document=final)


CALIBRATION_BLOCK = re.compile(r"^calibration:\n(?:[ #].*\n|\n)*", re.MULTILINE)


def network_block(result: FitResult, spec: Spec, *, on: date, scenario: str,
                  spec_file: str) -> str:
    """The ``calibration`` section of a network file recording the fit (see
    docs/network-format.md)."""
    document = {"calibration": {
        "date": on.isoformat(),
        "spec": spec_file,
        "scenario": scenario,
        "status": "inside every band" if result.inside else "outside some band",
        "fitted": result.knobs,
        "targets": [{"name": t.name, "low": _finite(t.low), "high": _finite(t.high),
                     "simulated": round(t.value.mean, 4),
                     "half_width": round(t.value.half_width, 4), "inside": t.inside}
                    for t in result.targets],
    }}
    head = ("# Calibrated: the scenario's unknown capacities were fitted so that its baseline\n"
            "# reproduces the reported figures below (`borderflow sim calibrate --targets`).\n")
    return head + yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100)


def _finite(v: float) -> float | None:
    return round(v, 4) if math.isfinite(v) else None


def write_network(text: str, block: str) -> str:
    """A network file's text with its ``calibration`` section replaced (or added at the end);
    the rest of the file, comments included, unchanged."""
    text = re.sub(r"^# Calibrated: .*\n(?:# .*\n)?(?=calibration:)", "", text,
                  flags=re.MULTILINE)
    text = CALIBRATION_BLOCK.sub("", text).rstrip("\n") + "\n"
    return text + "\n" + block
