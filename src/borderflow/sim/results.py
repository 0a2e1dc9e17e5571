"""Figures of one replication, and their summary over replications with confidence intervals.

All times are in minutes. Statistics of trucks count the trucks that arrived after the warm-up
and before the end; a truck still in the system at the end is counted as unfinished, not in
the time-in-system figures, but in ``time_in_system_with_unfinished`` with its time so far
(arrival to the end of the run). Queue figures are time averages and maxima over the dispatch
cycles after the warm-up, on all the Vietnamese roads together (``road``) and per road
(``road_queue.<road>``, the road's key in ``Model.roads``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from borderflow.domain.trip import PRIORITIES
from borderflow.sim.engine import Trace
from borderflow.sim.model import Road

PERISHABLE = (PRIORITIES.index("perishable"), PRIORITIES.index("aeo_perishable"))

# two-sided 95% Student t quantiles for 1..30 degrees of freedom
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def _stats(prefix: str, values: NDArray[np.float64], out: dict[str, float]) -> None:
    out[f"{prefix}.n"] = float(values.shape[0])
    if values.shape[0] == 0:
        return
    out[f"{prefix}.mean"] = float(values.mean())
    # nearest rank, the platform's one percentile definition (domain/report.py::percentile_rank)
    p50, p95 = np.percentile(values, (50, 95), method="inverted_cdf")
    out[f"{prefix}.p50"] = float(p50)
    out[f"{prefix}.p95"] = float(p95)


@dataclass
class Series:
    """Queues over time (one replication): cycle start (minutes), trucks on the Vietnamese
    road, in the staging area, and import trucks waiting on the partner side."""

    t: list[float]
    road: list[int]
    staging: list[int]
    partner: list[int]


def summarise(trace: Trace) -> tuple[dict[str, float], Series]:
    """The figures of one replication (flat ``name → value``) and its queue series."""
    m = trace.model
    sc = m.scenario
    lo = sc.warmup_days * 1440.0
    hi = m.horizon
    measured_days = sc.days - sc.warmup_days
    arr = m.arrival
    mine = (arr >= lo) & (arr < hi)
    finished = mine & np.isfinite(trace.leave) & (trace.leave <= hi)
    tis = trace.leave - arr
    wait = trace.called_at - arr
    called = mine & np.isfinite(trace.called_at)
    out: dict[str, float] = {}
    out["trucks"] = float(mine.sum())
    out["unfinished"] = float((mine & ~finished).sum())
    _stats("time_in_system", tis[finished], out)
    # every truck of the window, an unfinished one with its time so far
    so_far = np.where(finished, tis, hi - arr)
    _stats("time_in_system_with_unfinished", so_far[mine], out)
    _stats("wait", wait[called], out)
    perish = np.isin(m.klass, PERISHABLE)
    _stats("perishable_wait", wait[called & perish], out)
    for k, name in enumerate(PRIORITIES):
        _stats(f"class.{name}.time_in_system", tis[finished & (m.klass == k)], out)
        _stats(f"class.{name}.wait", wait[called & (m.klass == k)], out)
    for r in m.routes:
        code = f"{r.gate.code}/{r.direction}"
        on = trace.route == r.index
        if not (on & mine).any():
            continue
        _stats(f"gate.{code}.time_in_system", tis[finished & on], out)
        _stats(f"gate.{code}.wait", wait[called & on], out)
    left = np.isfinite(trace.leave) & (trace.leave >= lo) & (trace.leave < hi)
    out["throughput_per_day"] = float(left.sum()) / measured_days
    # per gate (both directions), and the busiest measured day, for calibration to reports
    for gate in m.gate_codes:
        # (the extra False: a route of -1, never a gate's)
        through = np.array([r.gate.code == gate for r in m.routes] + [False])[trace.route]
        out[f"gate_throughput.{gate}"] = float((left & through).sum()) / measured_days
    day = (trace.leave[left] // 1440.0).astype(np.int64)
    per_day = np.bincount(day - sc.warmup_days, minlength=measured_days)
    out["throughput_max_day"] = float(per_day.max()) if per_day.size else 0.0
    out["no_shows"] = float((trace.no_show & mine).sum())
    out["rerouted"] = float((trace.rerouted & mine).sum())
    if sc.dispatch.booked_share > 0.0:
        _bookings(trace, mine, wait, called, out)
    after = trace.sample_t >= lo
    _queues(trace, after, out)
    # utilisation: busy time over the servers' open time, per station
    open_minutes = np.array([float((m.open_end[m.gate_off[g]:m.gate_off[g + 1]]
                                    - m.open_start[m.gate_off[g]:m.gate_off[g + 1]]).sum())
                             for g in range(len(m.gate_codes))])
    for st, name in enumerate(m.station_names):
        capacity = open_minutes[m.station_gate[st]] * m.station_servers[st]
        if capacity > 0:
            out[f"util.{name}"] = float(trace.busy[st] / capacity)
    # Little's law over the measurement window: L = lambda W
    entered = mine & np.isfinite(trace.leave)
    stay = np.clip(np.minimum(trace.leave[entered], hi) - arr[entered], 0, None)
    out["little.L"] = float(stay.sum() / (hi - lo))
    out["little.lambda"] = float(entered.sum() / (hi - lo))
    out["little.W"] = float(stay.mean()) if stay.size else 0.0
    # trucks in the system over time, sampled at every cycle (for Little's law)
    left_times = np.sort(np.where(np.isfinite(trace.leave), trace.leave, np.inf))
    t = trace.sample_t[after]
    inside = (np.searchsorted(arr, t, side="right")
              - np.searchsorted(left_times, t, side="right"))
    out["in_system.mean_trucks"] = float(inside.mean()) if inside.size else 0.0
    out["events"] = float(trace.events)
    keep = after.nonzero()[0]
    step = max(1, len(keep) // 2000)
    idx = keep[::step]
    series_out = Series(t=trace.sample_t[idx].tolist(), road=trace.road_trucks[idx].tolist(),
                        staging=trace.staging[idx].tolist(),
                        partner=trace.partner_queue[idx].tolist())
    return out, series_out


def _bookings(trace: Trace, mine: NDArray[np.bool_], wait: NDArray[np.float64],
              called: NDArray[np.bool_], out: dict[str, float]) -> None:
    """The trucks that booked a slot, and the wait before the call of those and of the staged
    trucks without a booking."""
    booked = trace.model.booked_slot >= 0
    out["booked"] = float((booked & mine).sum())
    _stats("booked.wait", wait[called & booked], out)
    _stats("not_booked.wait", wait[called & ~booked & np.isfinite(trace.staged_at)], out)


def _queues(trace: Trace, after: NDArray[np.bool_], out: dict[str, float]) -> None:
    """Mean and maximum of the queues sampled ``after`` the warm-up: on the Vietnamese roads
    (all together, and per road), in the staging areas and on the partner side."""
    spacing_km = trace.model.scenario.truck_spacing_m / 1000.0
    queues = [("road", trace.road_trucks), ("staging", trace.staging),
              ("partner_queue", trace.partner_queue)]
    queues += [(f"road_queue.{road.key}", q)
               for road, q in zip(trace.model.roads, trace.road_queues, strict=True)]
    for name, series in queues:
        s = series[after]
        out[f"{name}.mean_trucks"] = float(s.mean()) if s.size else 0.0
        out[f"{name}.max_trucks"] = float(s.max()) if s.size else 0.0
        if name.startswith("road"):
            out[f"{name}.mean_km"] = out[f"{name}.mean_trucks"] * spacing_km
            out[f"{name}.max_km"] = out[f"{name}.max_trucks"] * spacing_km


@dataclass
class Estimate:
    mean: float
    half_width: float
    """Half-width of the 95% confidence interval over replications (0 with one)."""
    n: int


def estimate(values: list[float]) -> Estimate:
    n = len(values)
    if n == 0:
        return Estimate(math.nan, math.nan, 0)
    mean = float(np.mean(values))
    if n == 1:
        return Estimate(mean, 0.0, 1)
    sd = float(np.std(values, ddof=1))
    t = _T95[n - 2] if n - 1 <= len(_T95) else 1.96
    return Estimate(mean, t * sd / math.sqrt(n), n)


@dataclass
class ScenarioResult:
    name: str
    source: str
    replications: list[dict[str, float]]
    series: Series
    """Queues over time of the first replication."""
    days: int
    warmup_days: int
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    roads: list[Road] = field(default_factory=list)
    """The roads where its trucks may queue (the keys of its ``road_queue.<road>`` figures)."""

    def estimate(self, key: str) -> Estimate:
        return estimate([r[key] for r in self.replications if key in r])

    def figure_names(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.replications:
            seen.update(dict.fromkeys(r))
        return list(seen)
