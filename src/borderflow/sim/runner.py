"""Replications of scenarios, in parallel processes, reproducibly.

Replication ``i`` of every scenario draws from ``SeedSequence(seed).spawn(n)[i]``: the results
depend on the seed and the number of replications, never on the number of processes, and the
scenarios of one run share their random streams replication by replication (common random
numbers, which sharpens their comparison).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from borderflow.domain.network import Network
from borderflow.sim import scenario as scenarios
from borderflow.sim.engine import simulate
from borderflow.sim.model import Road, compile_model
from borderflow.sim.results import ScenarioResult, Series, summarise
from borderflow.sim.scenario import Scenario

Loaded = tuple[Scenario, Network, str]
"""A checked scenario, its network and where it came from."""


@dataclass(frozen=True)
class Job:
    index: int
    """Position of the scenario in the run."""
    replication: int
    scenario: Scenario
    network: Network
    seed: np.random.SeedSequence


Done = tuple[int, int, dict[str, float], Series, float, list[Road]]
"""A replication done: scenario index, replication, figures, queues over time, seconds, and
the roads where its trucks may queue."""


def run_one(job: Job) -> Done:
    """One replication (a top-level function, so worker processes can run it)."""
    started = time.perf_counter()
    model = compile_model(job.scenario, job.network, np.random.default_rng(job.seed))
    figures, series = summarise(simulate(model))
    return (job.index, job.replication, figures, series, time.perf_counter() - started,
            model.roads)


def load_all(paths: Sequence[Path], days: int | None = None,
             documents: Mapping[str, Any] | None = None) -> list[Loaded]:
    """Scenario files (all checked before any runs), optionally with another length; a path
    whose name is among ``documents`` is that document instead (a scenario the platform made,
    such as the next days as forecast)."""
    out = []
    for path in paths:
        made = (documents or {}).get(path.name)
        sc, network = (scenarios.load(path) if made is None
                       else scenarios.load_document(made, path.name))
        if days is not None:
            # a made scenario's days are all it has demand for
            n = min(days, sc.days) if made is not None else days
            sc = sc.model_copy(update={"days": n, "warmup_days": min(sc.warmup_days, n - 1)})
        out.append((sc, network, str(path)))
    return out


def run(loaded: Sequence[Loaded], *, replications: int, seed: int,
        processes: int = 1, progress: Callable[[int, int], None] | None = None
        ) -> list[ScenarioResult]:
    """Every scenario ``replications`` times; ``progress(done, total)`` after each one."""
    seeds = np.random.SeedSequence(seed).spawn(replications)
    jobs = [Job(i, r, sc, network, seeds[r]) for i, (sc, network, _) in enumerate(loaded)
            for r in range(replications)]
    figures: dict[tuple[int, int], dict[str, float]] = {}
    series: dict[int, Series] = {}
    roads: dict[int, list[Road]] = {}
    seconds = [0.0] * len(loaded)
    total = len(jobs)

    def take(res: Done) -> None:
        i, r, fig, ser, secs, its_roads = res
        figures[(i, r)] = fig
        seconds[i] += secs
        if r == 0:
            series[i] = ser
            roads[i] = its_roads
        if progress is not None:
            progress(len(figures), total)

    if processes <= 1 or total == 1:
        for job in jobs:
            take(run_one(job))
    else:
        with ProcessPoolExecutor(max_workers=min(processes, total)) as pool:
            for res in pool.map(run_one, jobs):
                take(res)
    return [ScenarioResult(name=sc.name, source=source,
                           replications=[figures[(i, r)] for r in range(replications)],
                           series=series[i], days=sc.days, warmup_days=sc.warmup_days,
                           seconds=seconds[i], roads=roads[i])
            for i, (sc, _, source) in enumerate(loaded)]
