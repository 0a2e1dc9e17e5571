"""``borderflow sim``: run and compare scenarios of the scenario lab, fit service times."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from borderflow.cli.common import session_scope
from borderflow.sim import calibrate as calibration
from borderflow.sim import report, runner
from borderflow.sim.scenario import ScenarioError

sim_app = typer.Typer(help="The scenario lab: simulate the border system, compare scenarios.",
                      no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def _load(paths: list[Path], days: int | None) -> list[runner.Loaded]:
    try:
        return runner.load_all(paths, days)
    except ScenarioError as exc:
        err.print(f"[red]error:[/red] {exc.source}")
        for field, reason in exc.problems:
            err.print(f"  {field}: {reason}")
        raise typer.Exit(code=1) from None


@sim_app.command("run")
def sim_run(
    scenarios: Annotated[list[Path], typer.Argument(help="Scenario files (YAML)")],
    replications: Annotated[int, typer.Option(min=1, max=1000, help="Replications each")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the random streams")] = 1,
    processes: Annotated[int, typer.Option(min=0, help="Worker processes (0: one per CPU)")]
    = 0,
    days: Annotated[int | None, typer.Option(min=1, help="Simulate this many days instead")]
    = None,
    out: Annotated[Path, typer.Option(help="Folder for the plots, HTML page and figures")]
    = Path("var/sim"),
) -> None:
    """Run scenarios side by side: comparison table, plots (PNG) and an HTML page."""
    loaded = _load(scenarios, days)
    workers = processes or max(1, os.cpu_count() or 1)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err) as bar:
        task = bar.add_task("simulating", total=len(loaded) * replications)
        results = runner.run(loaded, replications=replications, seed=seed, processes=workers,
                             progress=lambda done, _total: bar.update(task, completed=done))
    header, rows = report.table(results)
    table = Table(*header, title=f"{replications} replication(s), seed {seed} "
                                 "(mean ± 95% confidence half-width)")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    written = report.write(results, out, seed=seed, replications=replications)
    console.print("written: " + ", ".join(str(p) for p in written))


@sim_app.command("validate")
def sim_validate(
    scenarios: Annotated[list[Path], typer.Argument(help="Scenario files (YAML)")],
) -> None:
    """Check scenario files (fields and their cross-references to the network)."""
    for sc, _, source in _load(scenarios, None):
        console.print(f"{source}: ok ({sc.name}, {sc.days} days)")


@sim_app.command("calibrate")
def sim_calibrate(
    scenario: Annotated[Path, typer.Argument(help="Scenario file to write the fits into")],
    since: Annotated[datetime | None, typer.Option(help="Only trips created from (UTC)")]
    = None,
    min_samples: Annotated[int, typer.Option(min=2, help="Fewer samples: no fit")] = 5,
    demand: Annotated[bool, typer.Option(help="Also fit the demand from the arrivals")] = True,
    write: Annotated[bool, typer.Option(help="Write the fits into the scenario file")]
    = False,
) -> None:
    """Fit service times per gate, direction and step, and the demand (trucks per day, hours,
    weekdays, gate shares), from the recorded trips."""
    from sqlalchemy import select

    from borderflow.store.models import Trip

    loaded = _load([scenario], None)[0]
    with session_scope() as session:
        query = select(Trip.status, Trip.state).where(
            Trip.status.in_(("at_staging", "called", "in_gate_area", "completed")))
        if since is not None:
            query = query.where(Trip.created_at >= since.replace(tzinfo=since.tzinfo or UTC))
        rows = session.execute(query).all()
    finished = [state for status, state in rows if status in ("in_gate_area", "completed")]
    fits = calibration.fit(finished, min_samples)
    table = Table("gate", "direction", "step", "samples", "mean (min)", "cv")
    for f in fits:
        table.add_row(f.gate, f.direction, f.step, str(f.samples), f"{f.mean:.1f}",
                      f"{f.cv:.2f}")
    console.print(table if fits else f"no step with {min_samples} samples in "
                                     f"{len(finished)} trips")
    arrivals = (calibration.demand_from([state for _, state in rows],
                                        loaded[1].timezone) if demand else {})
    if arrivals:
        console.print(f"demand from {len(rows)} trips: {arrivals['trucks_per_day']} trucks/day, "
                      f"{arrivals['export_share']:.0%} export")
    if write and (fits or arrivals):
        document = yaml.safe_load(scenario.read_text(encoding="utf-8"))
        merged = calibration.merge_into(document, calibration.scenario_section(fits))
        if arrivals:
            merged["demand"] = {**(merged.get("demand") or {}), **arrivals}
        scenario.write_text(yaml.safe_dump(merged, allow_unicode=True, sort_keys=False,
                                           width=100), encoding="utf-8")
        _load([scenario], None)
        console.print(f"written into {scenario}")
