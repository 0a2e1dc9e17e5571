"""The peak day that bench/load.py replays: which trucks come, when, to which gate, and the
habits of the people who move them (how long a truck takes to reach the park, how long the
driver takes to acknowledge a call and to drive in, how long an officer takes for each step).

Pure: no I/O, no clock; a ``numpy.random.Generator`` seeded from ``seed`` and the number of
trucks, so a day is the same at every run. What the platform decides (the calls, the steps
each trip still needs, the fee) it decides during the replay, through its API.

Times are game seconds from local midnight of the replayed day.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from borderflow.demo.traffic import EXPORT_SHARE, GATE_SHARES, HOURLY

DAY = 86_400.0
GPS_EVERY = 10.0
"""Game seconds between two positions of one truck's phone."""
CALL_POLL_EVERY = 30.0
"""Game seconds between two looks of the enterprise's dispatch office at its called trucks."""
BOOKING_SHARE = 0.3
"""Trucks through a staging park whose enterprise books a slot once declared."""
ONLINE_SHARE = 0.6
"""Fees paid online through the gateway (the rest at the counter)."""
MAX_STEPS = 12
"""Officers' visits planned for one truck (more than any procedure needs)."""
CHANNELS = ("green", "yellow", "red")
CHANNEL_WEIGHTS = (0.85, 0.12, 0.03)


@dataclass(frozen=True)
class TruckPlan:
    """One truck of the day and the habits of the people around it (game seconds)."""

    index: int
    gate: str
    flow: str
    group: str
    staged: bool
    """Through its gate's staging park, where it waits to be called by the dispatcher."""
    books: bool
    declare_at: float
    arrive_after: float
    """From the declaration to the park (staged), the gate (other exports) or the crossing
    (imports)."""
    ack_after: float
    """From the call being seen to the driver's acknowledgement."""
    drive_in: float
    """From the call being seen to the entry camera at the gate."""
    step_gaps: tuple[float, ...]
    """Before each officer's visit once the truck is at the gate."""
    pays_online: bool
    channel: str
    """The customs channel the officer gives."""


def hour_weights() -> np.ndarray:
    w = np.asarray(HOURLY, dtype=float)
    return w / w.sum()


def day(trucks: int, permitted: Mapping[tuple[str, str], Sequence[str]],
        staged_gates: frozenset[str], seed: int = 20260214) -> list[TruckPlan]:
    """``trucks`` trucks over one day, declared by the hourly profile of the demo traffic (the
    morning fruit peak), shared among the gates like the 2025 daily averages, about a quarter
    of them exports; ``permitted``: (gate, flow) -> goods groups the gate takes that way."""
    rng = np.random.default_rng([seed, trucks])
    hours = rng.choice(24, size=trucks, p=hour_weights())
    at = np.sort(hours * 3600.0 + rng.uniform(0, 3600, size=trucks))
    plans = []
    for i in range(trucks):
        flow = "export" if rng.random() < EXPORT_SHARE else "import"
        gates = [g for g in GATE_SHARES if permitted.get((g, flow))]
        if not gates:
            flow = "import" if flow == "export" else "export"
            gates = [g for g in GATE_SHARES if permitted.get((g, flow))]
        shares = np.asarray([GATE_SHARES[g] for g in gates], dtype=float)
        gate = gates[int(rng.choice(len(gates), p=shares / shares.sum()))]
        goods = list(permitted[(gate, flow)])
        group = goods[int(rng.integers(len(goods)))]
        staged = flow == "export" and gate in staged_gates
        plans.append(TruckPlan(
            index=i, gate=gate, flow=flow, group=group, staged=staged,
            books=staged and bool(rng.random() < BOOKING_SHARE),
            declare_at=float(at[i]),
            arrive_after=float(rng.uniform(20, 120) * 60),
            ack_after=float(rng.uniform(1, 5) * 60),
            drive_in=float(rng.uniform(8, 40) * 60),
            step_gaps=tuple(float(g) for g in rng.uniform(3, 20, size=MAX_STEPS) * 60),
            pays_online=bool(rng.random() < ONLINE_SHARE),
            channel=CHANNELS[int(rng.choice(3, p=CHANNEL_WEIGHTS))],
        ))
    return plans


def window(plans: Sequence[TruckPlan], start: float, seconds: float) -> list[TruckPlan]:
    """The trucks declared in ``[start, start + seconds)`` game seconds."""
    return [p for p in plans if start <= p.declare_at < start + seconds]


def phases(plan: TruckPlan) -> Iterator[tuple[str, str, float]]:
    """What happens to the truck, in order: (phase, what its time counts from, game seconds
    from that). ``declared``: from midnight; ``called``: from when the enterprise sees the
    dispatcher's call (staged trucks only; the platform decides when); ``at_gate``: from the
    truck's arrival at the gate, each officer's visit after the one before."""
    yield "declare", "midnight", plan.declare_at
    yield "bind", "declared", 0.0
    if plan.books:
        yield "book", "declared", 0.0
    if plan.staged:
        yield "enter_park", "declared", plan.arrive_after
        yield "acknowledge", "called", plan.ack_after
        yield "camera", "called", plan.drive_in
    elif plan.flow == "export":
        yield "camera", "declared", plan.arrive_after
    else:
        yield "cross", "declared", plan.arrive_after
    for n, gap in enumerate(plan.step_gaps):
        yield f"officer_{n}", "at_gate", gap
