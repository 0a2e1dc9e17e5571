"""Synthetic trip facts at Lang Son scale, for the reports benchmark, demos and tests.

Deterministic for a seed: trucks per day around the 2025 daily averages of the four gates
(Huu Nghi about 870, Tan Thanh about 580, Chi Ma about 230, Coc Nam about 76), about 27 %
export, morning peaks, holds, rejections, no-shows and fees. Each fact has the shape of
:func:`borderflow.domain.report.trip_fact`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

GATE_SHARES = {"huu-nghi": 870, "tan-thanh-dedicated": 580, "chi-ma": 230, "coc-nam": 76}
GROUPS = ("fresh-fruit", "fresh-vegetables", "cassava-roots", "wood", "minerals-ores",
          "plastics-rubber", "prepared-foods", "nuts-dried-fruit")
PERISHABLE = {"fresh-fruit", "fresh-vegetables"}
STEPS = ("vehicle_control", "medical", "border_guard", "quarantine", "customs", "fee",
         "crossing")
HOLD_REASONS = (("quarantine", "sampling"), ("customs", "documents-missing"),
                ("border_guard", "vehicle-defect"))
REJECT_REASONS = (("quarantine", "quarantine-failed"), ("customs", "goods-prohibited"))
"""Reason codes of the packaged network (``reason_codes``), as officers give them."""
EVENTS_PER_TRIP = 9
"""About as many events as a trip through the whole procedure has."""


def _hour_weights() -> np.ndarray:
    w = np.array([0.2] * 6 + [1.5, 2.5, 2.8, 2.4, 1.8, 1.0, 0.6, 1.4, 1.8, 1.7, 1.4, 1.0]
                 + [0.6] * 6)
    return np.asarray(w / w.sum())


def facts(start: date, days: int, *, seed: int = 20261201, per_day: int = 1500,
          enterprises: int = 2600, tz: ZoneInfo) -> Iterator[dict[str, Any]]:
    """Facts of every truck that crossed (or tried to) over ``days`` days from ``start``."""
    rng = np.random.default_rng(seed)
    gates = list(GATE_SHARES)
    shares = np.array([GATE_SHARES[g] for g in gates], dtype=float)
    shares /= shares.sum()
    hours = _hour_weights()
    tax_codes = [f"{1_000_000_000 + i * 7919:010d}" for i in range(enterprises)]
    # enterprises trade mostly one goods group through one gate
    home_gate = rng.choice(len(gates), enterprises, p=shares)
    home_group = rng.integers(0, len(GROUPS), enterprises)
    for d in range(days):
        day = start + timedelta(days=d)
        season = 1.0 + 0.25 * np.cos(2 * np.pi * (day.timetuple().tm_yday - 20) / 365)
        n = int(rng.poisson(per_day * season))
        ent = rng.integers(0, enterprises, n)
        usual = rng.random(n) < 0.85
        g = np.where(usual, home_gate[ent], rng.choice(len(gates), n, p=shares))
        export = rng.random(n) < 0.27
        hour = rng.choice(24, n, p=hours)
        minute = rng.integers(0, 60, n)
        group = np.where(usual, home_group[ent], rng.integers(0, len(GROUPS), n))
        wait = rng.gamma(2.0, 40.0, n)  # minutes in the staging park
        to_gate = rng.integers(20, 90, n)
        step_min = rng.gamma(2.0, 8.0, (n, len(STEPS)))
        weight = rng.integers(8000, 32000, n)
        value = rng.integers(5_000_00, 80_000_00, n)
        u = rng.random((n, 4))
        for i in range(n):
            at = datetime.combine(day, time(int(hour[i]), int(minute[i])), tz)
            steps = {s: int(step_min[i, j] * 60) for j, s in enumerate(STEPS)}
            busy = timedelta(seconds=sum(steps.values()))
            called: datetime | None = None
            staging: datetime | None = None
            if export[i]:  # park, call, gate area, steps, crossing (at the drawn time)
                crossed = left = at
                in_area = crossed - busy
                called = in_area - timedelta(minutes=int(to_gate[i]))
                staging = called - timedelta(minutes=float(wait[i]))
                arrived = staging
            else:  # crossing into the gate area, steps, leaving inland
                crossed = in_area = arrived = at
                left = at + busy
            declared = arrived - timedelta(hours=6)
            fact: dict[str, Any] = {
                "vehicles": 1, "gate": gates[g[i]],
                "direction": "export" if export[i] else "import",
                "goods_group": GROUPS[group[i]], "enterprise": tax_codes[ent[i]],
                "priority": "perishable" if GROUPS[group[i]] in PERISHABLE else "normal",
                "perishable": GROUPS[group[i]] in PERISHABLE,
                "declaration": bool(u[i, 3] < 0.8),
                "declared_at": declared.isoformat(),
                "called_at": called.isoformat() if called else None,
                "arrived_at": arrived.isoformat(),
                "staging_at": staging.isoformat() if staging else None,
                "gate_area_at": in_area.isoformat(), "crossed_at": crossed.isoformat(),
                "ended_at": left.isoformat(), "left_at": left.isoformat(),
                "rejected_at": None, "cancelled_at": None,
                "reject_step": None, "reject_reason": None, "holds": [], "no_shows": [],
                "steps": steps, "weight_kg": int(weight[i]),
                "value_usd_cents": int(value[i]), "fee_vnd": 900_000 if export[i] else 600_000,
                "fee_at": (in_area + timedelta(minutes=30)).isoformat(), "on_hold": False,
                "location": "partner" if export[i] else None, "status": "completed",
            }
            if u[i, 0] < 0.05:
                step, reason = HOLD_REASONS[int(u[i, 1] * len(HOLD_REASONS))]
                fact["holds"] = [{"step": step, "reason": reason,
                                  "at": (in_area + timedelta(minutes=10)).isoformat()}]
            if u[i, 2] < 0.02 and called is not None:
                fact["no_shows"] = [(called + timedelta(hours=1)).isoformat()]
            if u[i, 0] > 0.99:
                step, reason = REJECT_REASONS[int(u[i, 1] * len(REJECT_REASONS))]
                fact.update(crossed_at=None if export[i] else fact["crossed_at"],
                            ended_at=None, left_at=None, steps={}, fee_vnd=0, fee_at=None,
                            rejected_at=(in_area + timedelta(minutes=40)).isoformat(),
                            reject_step=step, reject_reason=reason, status="rejected",
                            location=None)
            yield fact
