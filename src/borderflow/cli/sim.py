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
from rich.table import Column, Table

from borderflow.cli.common import session_scope
from borderflow.sim import calibrate as calibration
from borderflow.sim import fit, levers, report, runner
from borderflow.sim import scenario as scenarios
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
    scenario: Annotated[Path | None, typer.Argument(
        help="Scenario file to write the fits into (not with --targets)")] = None,
    targets: Annotated[Path | None, typer.Option(
        help="Calibration spec: fit the scenario it names to reported figures instead")]
    = None,
    since: Annotated[datetime | None, typer.Option(help="Only trips created from (UTC)")]
    = None,
    min_samples: Annotated[int, typer.Option(min=2, help="Fewer samples: no fit")] = 5,
    demand: Annotated[bool, typer.Option(help="Also fit the demand from the arrivals")] = True,
    write: Annotated[bool, typer.Option(help="Write the fits into the scenario file")]
    = False,
) -> None:
    """Fit service times per gate, direction and step, and the demand (trucks per day, hours,
    weekdays, gate shares), from the recorded trips; or, with --targets, fit a scenario's
    unknown capacities to the figures the province reports."""
    if targets is not None:
        _calibrate_to_targets(targets, write)
        return
    if scenario is None:
        err.print("[red]error:[/red] give a scenario file, or --targets SPEC")
        raise typer.Exit(code=2)
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


def _calibrate_to_targets(spec_path: Path, write: bool) -> None:
    """Fit the knobs of the spec's scenario to its targets, print the fit, and with ``write``
    put the fitted values into the scenario file and the calibration into its network file."""
    try:
        spec, scenario_path = fit.load_spec(spec_path)
        _, network = scenarios.load(scenario_path)
        document = scenarios.read_document(scenario_path)
    except ScenarioError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=1) from None
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err) as bar:
        task = bar.add_task("fitting", total=spec.evaluations)
        result = fit.calibrate(spec, document, network, str(scenario_path),
                               progress=lambda n, best: bar.update(
                                   task, completed=n, description=f"fitting (best {best:.3g})"))
    console.print(fit_table(result, spec))
    if not write:
        return
    text = scenario_path.read_text(encoding="utf-8")
    own = yaml.safe_load(text)
    for path, value in result.knobs.items():
        fit.set_path(own, path, value)
    own["demand"]["gates"] = result.shares
    lines = text.splitlines()
    leading = [ln for ln in lines[:next((i for i, ln in enumerate(lines)
                                           if not ln.startswith("#")), len(lines))]
               if not ln.startswith("# Calibrated")]
    head = "".join(f"{ln}\n" for ln in leading) + (
        f"# Calibrated to reported figures on {datetime.now(UTC).date()} "
        f"(`borderflow sim calibrate --targets {spec_path.name}`).\n")
    scenario_path.write_text(head + yaml.safe_dump(own, allow_unicode=True, sort_keys=False,
                                                   width=100, default_flow_style=None),
                             encoding="utf-8")
    network_path = (scenario_path.parent / own["network"]) if own.get("network") \
        else scenarios.PACKAGED_NETWORK
    block = fit.network_block(result, spec, on=datetime.now(UTC).date(),
                              scenario=os.path.relpath(scenario_path, network_path.parent),
                              spec_file=os.path.relpath(spec_path, network_path.parent))
    network_path.write_text(fit.write_network(network_path.read_text(encoding="utf-8"), block),
                            encoding="utf-8")
    console.print(f"written into {scenario_path} and {network_path}")


def fit_table(result: fit.FitResult, spec: fit.Spec) -> Table:
    """Each target: its band, the simulated mean with its 95% interval, inside or not; and the
    fitted knobs."""
    table = Table(Column("target", overflow="fold"), "band", "simulated (95% CI)", "inside",
                  title=f"fit: {result.evaluations} evaluations, confirmed on "
                        f"{spec.confirm_replications} × {spec.confirm_days} days")
    for t in result.targets:
        low = "" if t.low == float("-inf") else f"{t.low:,.4g}"
        high = "" if t.high == float("inf") else f"{t.high:,.4g}"
        v = t.value
        table.add_row(t.name, f"{low} – {high}", f"{v.mean:,.4g} ± {v.half_width:,.2g}",
                      "yes" if t.inside else "NO")
    table.add_section()
    for path, value in result.knobs.items():
        table.add_row(path, "fitted", f"{value:g} (was {result.start[path]:g})", "")
    return table


@sim_app.command("what-would-it-take")
def sim_what_would_it_take(
    spec: Annotated[Path, typer.Argument(help="Levers spec (YAML): scenario, target, levers")],
    demand: Annotated[list[float] | None, typer.Option(
        help="Trucks a day to answer for (repeat; default: the spec's)")] = None,
    hours: Annotated[float | None, typer.Option(
        min=0.1, help="Mean time in system at most this many hours (default: the spec's)")]
    = None,
    markdown: Annotated[bool, typer.Option(help="Print Markdown tables")] = False,
) -> None:
    """The cheapest combinations of levers (lanes, hours, goods spread, smart-gate route,
    staging size) that meet the spec's target at each demand level, with 95% intervals."""
    try:
        loaded_spec, scenario_path = levers.load_spec(spec)
        _, network = scenarios.load(scenario_path)
        document = scenarios.read_document(scenario_path)
    except ScenarioError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=1) from None
    if demand:
        loaded_spec = loaded_spec.model_copy(update={"demand": demand})
    if hours is not None:
        loaded_spec = levers.with_hours(loaded_spec, hours)
    with Progress("[progress.description]{task.description}", TimeElapsedColumn(),
                  console=err) as bar:
        task = bar.add_task("searching")
        answers = levers.what_would_it_take(
            loaded_spec, document, network, str(scenario_path),
            progress=lambda trucks, n: bar.update(
                task, description=f"searching {trucks:,.0f} trucks/day: {n} runs"))
    for answer in answers:
        table = levers_table(loaded_spec, answer)
        console.print(_markdown(table) if markdown else table, soft_wrap=markdown)


def _markdown(table: Table) -> str:
    """A Rich table as a Markdown table (title and caption as lines around it)."""
    cells = [[str(c) for c in col._cells] for col in table.columns]
    lines = [f"**{table.title}**", "",
             "| " + " | ".join(str(c.header) for c in table.columns) + " |",
             "|" + " --- |" * len(table.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in zip(*cells, strict=True)]
    if table.caption:
        lines += ["", str(table.caption)]
    return "\n".join(lines) + "\n"


def levers_table(spec: levers.Spec, answer: levers.Answer) -> Table:
    """One demand level: the scenario as it is, then the cheapest combinations meeting the
    target, each target figure as mean ± 95% half-width."""
    names = [t.name for t in spec.target]
    table = Table("option", f"cost ({spec.cost_unit})", *names, "meets",
                  title=f"{answer.trucks_per_day:,.0f} trucks a day: {answer.evaluations} "
                        f"search runs of {spec.days} days, {spec.replications} replications "
                        "each shown (mean ± 95% half-width)")
    rows = [("as it is", answer.baseline), *(
        ("; ".join(levers.describe(spec, o.levels)), o) for o in answer.options)]
    for label, option in rows:
        table.add_row(label, f"{option.cost:g}",
                      *(f"{e.mean:,.2f} ± {e.half_width:,.2f}" for e in option.figures),
                      "yes" if option.meets else "no")
    if not any(o.meets for o in answer.options):
        table.caption = ("no combination of the levers met the target in the search: the "
                         "closest ones are shown")
    return table
