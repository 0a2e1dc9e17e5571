"""``borderflow forecast``: backtest the demand forecaster on any history."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from borderflow.cli.common import console, err, session_scope
from borderflow.clock import SystemClock
from borderflow.config import get_settings
from borderflow.demand import advice
from borderflow.demand import service as demand
from borderflow.domain.access import SYSTEM
from borderflow.errors import AppError
from borderflow.network import service as networks
from borderflow.store.session import make_engine, make_session_factory

LABELS = {"borderflow": "Borderflow", "seasonal_naive": "seasonal naive",
          "mean_last_4_weeks": "mean of 4 weeks", "auto_ets": "AutoETS"}

forecast_app = typer.Typer(help="Demand forecasts: trucks per crossing, direction and day.",
                           no_args_is_help=True)


def _countries(raw: str) -> tuple[str, ...]:
    from borderflow.forecast.calendar import parse_country

    codes = tuple(c.strip().upper() for c in raw.split(",") if c.strip())
    if not codes:
        raise typer.BadParameter("name at least one country, e.g. VN,CN")
    for c in codes:
        try:
            parse_country(c)
        except ValueError:
            raise typer.BadParameter(f"'{c}' is not a country (or subdivision) the holidays "
                                     "package knows, e.g. VN, CN, US, CA, US-WA") from None
    return codes


@forecast_app.command("backtest")
def forecast_backtest(
    history: Annotated[Path, typer.Argument(help="CSV: date,crossing,direction,trucks",
                                            exists=True, dir_okay=False)],
    horizon: Annotated[int, typer.Option(min=1, max=28, help="Days ahead")] = 7,
    holdout_days: Annotated[int, typer.Option(min=1, help="Last days of the history scored")]
    = 56,
    countries: Annotated[str, typer.Option(help="Both sides' ISO codes for public holidays "
                                           "(a subdivision after '-': US-WA)")] = "VN,CN",
    step: Annotated[int, typer.Option(min=1, help="Days between forecast origins")] = 7,
    output: Annotated[Path | None, typer.Option(help="Write every forecast made to this CSV")]
    = None,
    processes: Annotated[int, typer.Option(min=0, help="Processes the forecasts run in (0: "
                                           "one per CPU)")] = 0,
    baselines: Annotated[bool, typer.Option(help="Also score the baselines (seasonal naive, "
                                            "mean of the last 4 weeks, AutoETS)")] = True,
) -> None:
    """Fit on the history before the holdout, forecast rolling origins through it, and score
    Borderflow's forecaster against the baselines. The last line is the figures as JSON."""
    # the forecaster's libraries (pandas, LightGBM) load here, not with every command
    from borderflow.forecast import backtest as backtesting
    from borderflow.forecast import core

    codes = _countries(countries)
    try:
        data = backtesting.read_history(history.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        err.print(f"{history}: not a UTF-8 text file")
        raise typer.Exit(code=1) from None
    except AppError as exc:
        err.print(f"{history}: {exc.message}")
        for f in exc.fields:
            err.print(f"  {f.field}: {f.reason}")
        raise typer.Exit(code=1) from None
    methods = backtesting.default_methods()
    if not baselines:
        methods = {"borderflow": methods["borderflow"], "seasonal_naive": core.seasonal_naive}
    try:
        bt = backtesting.run(data, horizon=horizon, holdout_days=holdout_days, step=step,
                             context=core.Context(codes), methods=methods,
                             processes=processes or os.cpu_count() or 1,
                             progress=lambda name, origin: err.print(
                                 f"{name}: origin {origin}", highlight=False))
    except AppError as exc:
        for f in exc.fields:
            err.print(f"--{f.field.replace('_', '-')}: {f.reason}")
        raise typer.Exit(code=1) from None
    scores = bt.scores()
    table = Table("crossing", "direction", "days scored", *[f"MASE {LABELS.get(m, m)}"
                                                           for m in methods],
                  "cover 80 %", "cover 95 %",
                  title=f"Backtest {bt.holdout_start}..{bt.holdout_end}, horizon {horizon} "
                        f"days, origins every {step} days")
    wide = scores.pivot_table(index=["crossing", "direction"], columns="method",
                              values="mase")
    mine = scores[scores["method"] == "borderflow"].set_index(["crossing", "direction"])
    for (crossing, direction), row in wide.iterrows():
        m = mine.loc[(crossing, direction)]
        table.add_row(str(crossing), str(direction), str(int(m["targets"])),
                      *[f"{row.get(name, float('nan')):.3f}" for name in methods],
                      f"{m['coverage_80']:.0%}", f"{m['coverage_95']:.0%}")
    console.print(table)
    if output is not None:
        output.write_text(backtesting.forecasts_csv(bt), encoding="utf-8")
        err.print(f"wrote {output}")
    print(json.dumps(bt.summary()))


@forecast_app.command("refresh")
def forecast_refresh() -> None:
    """Forecast every gate and direction for the 28 days from tomorrow now, from the traffic
    recorded and imported up to yesterday, and store the run (the API answers from it at
    once). The fit runs in a read transaction; only storing the run writes."""
    now = SystemClock().now()
    engine = make_engine(get_settings().database_url)
    try:
        with make_session_factory(engine, write=False)() as read:
            network = networks.in_force(read, now)
            prepared = demand.prepare(read, network, now=now)
            computed = advice.compute_advice(network, prepared.rows, origin=prepared.origin,
                                             now=now)
    except AppError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(code=1) from None
    finally:
        engine.dispose()
    with session_scope() as session:
        run = demand.save(session, prepared, now=now, actor=SYSTEM, trigger="on_demand")
        over = advice.save_advice(session, run.id, computed)
    console.print(f"Run {run.id}: {run.series} series, {len(prepared.rows):,} forecasts from "
                  f"{run.origin} for {run.horizon} days, model {run.model_version} trained on "
                  f"{run.trained_from}..{run.trained_to} ({run.seconds:.1f} s); "
                  f"{over} day(s) of the next week over a gate's places")


@forecast_app.command("import-weather")
def forecast_import_weather(
    file: Annotated[Path, typer.Argument(help="CSV: date,rain_mm,storm, or Open-Meteo's daily "
                                         "export as it is", exists=True, dir_okay=False)],
) -> None:
    """Import daily rain and storm warnings (all rows or none; see docs/forecasting.md)."""
    with session_scope() as session:
        done = demand.import_weather(session, file.read_bytes(), actor=SYSTEM,
                                     now=SystemClock().now(), source=file.name)
    console.print(f"Imported {done.days:,} days of weather ({done.format}, {done.first} to "
                  f"{done.last}: {done.rain_days:,} with rain, {done.storm_days:,} with a storm "
                  "warning)")
