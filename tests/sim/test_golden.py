"""Two small scenarios whose figures are pinned in files: any change to the model, the
dispatch policies or the random streams that moves them shows up here.

After an intended change, regenerate the pinned figures and review the diff::

    .venv/bin/python -m tests.sim.test_golden
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from borderflow.sim import runner

HERE = Path(__file__).parent / "golden"
SCENARIOS = ("small-regulated", "small-unregulated")
KEYS = ("trucks", "unfinished", "time_in_system.mean", "time_in_system.p50",
        "time_in_system.p95", "wait.mean", "wait.p95", "perishable_wait.mean",
        "throughput_per_day", "no_shows", "rerouted", "road.mean_trucks", "road.max_trucks",
        "staging.max_trucks", "partner_queue.max_trucks", "events")


def figures(name: str) -> list[dict[str, float]]:
    loaded = runner.load_all([HERE / f"{name}.yaml"])
    result = runner.run(loaded, replications=2, seed=11)[0]
    return [{k: round(r[k], 6) for k in KEYS if k in r} for r in result.replications]


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_small_scenario_gives_its_pinned_figures(name: str) -> None:
    pinned = json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))
    assert figures(name) == pinned


def regenerate() -> None:
    for name in SCENARIOS:
        (HERE / f"{name}.json").write_text(json.dumps(figures(name), indent=1) + "\n",
                                           encoding="utf-8")
        print(f"wrote {HERE / name}.json")


if __name__ == "__main__":
    regenerate()
