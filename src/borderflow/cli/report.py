"""``borderflow report``: rebuild the statistics tables, import history files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from borderflow.cli.common import console, session_scope
from borderflow.clock import SystemClock
from borderflow.domain.access import SYSTEM
from borderflow.network import service as networks
from borderflow.report import facts, history

report_app = typer.Typer(help="Statistics and reports.", no_args_is_help=True)


@report_app.command("rebuild")
def report_rebuild() -> None:
    """Recompute every trip's statistics and the summary tables from the event log (imported
    history is kept). Reports are consistent again afterwards; run it after restoring a backup
    or changing the statistics rules."""
    with session_scope() as session:
        done = facts.rebuild(session, now=SystemClock().now())
    console.print(f"Rebuilt the statistics of {done['trips']:,} trips "
                  f"({done['history_facts']:,} imported history rows kept)")


@report_app.command("import-history")
def report_import_history(
    file: Annotated[Path, typer.Argument(help="CSV file", exists=True, dir_okay=False)],
    kind: Annotated[str, typer.Option(help="crossings (one row per vehicle) or daily (totals "
                                      "per day, gate and direction)")] = "crossings",
) -> None:
    """Import past crossings or daily totals (all rows or none; see docs/reports.md)."""
    with session_scope() as session:
        now = SystemClock().now()
        row = history.import_file(session, networks.in_force(session, now), kind=kind,
                                  data=file.read_bytes(), filename=file.name, actor=SYSTEM,
                                  now=now)
    console.print(f"Imported {row.rows:,} rows ({row.vehicles:,} vehicles, "
                  f"{row.period_from} to {row.period_to}) as import {row.id}")
