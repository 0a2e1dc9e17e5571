"""The scenario lab page: pick scenario files, run a few replications of a short period, and
compare them side by side (the same table and plots as ``borderflow sim run``)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.domain.access import Principal
from borderflow.errors import N_, msg
from borderflow.sim import report, runner
from borderflow.sim import scenario as scenarios
from borderflow.web import i18n, session
from borderflow.web.pages import formatter, render, signed_in

router = APIRouter(include_in_schema=False)
MAX_SCENARIOS = 4
MAX_DAYS = 31
MAX_REPLICATIONS = 5
MAX_SEED = 2**32 - 1
LIMITS = {"days": (1, MAX_DAYS), "replications": (1, MAX_REPLICATIONS), "seed": (0, MAX_SEED)}
LIMIT_TEXTS = {
    "days": N_("from {low} to {high} days"),
    "replications": N_("from {low} to {high} replications"),
    "seed": N_("a whole number from {low} to {high}"),
}
PLOT_TITLES = {"road_queue.png": "road_title", "time_in_system.png": "time_title",
               "wait_by_class.png": "wait_title"}


def _planner(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(request, ctx, db, lambda p: p.may("sim.run"),
                     N_("This page is for regulators and administrators."))


def scenario_files(folder: Path, lang: str = "en") -> list[dict[str, Any]]:
    """The scenario files of the folder with their names and descriptions in ``lang`` (files
    that do not load are listed with their problems)."""
    out = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            sc = scenarios.parse(scenarios.read_document(path), str(path))
            out.append({"file": path.name, "name": sc.name.in_(lang),
                        "description": sc.description.in_(lang), "days": sc.days,
                        "problems": []})
        except scenarios.ScenarioError as exc:
            out.append({"file": path.name, "name": path.stem, "description": "",
                        "days": None, "problems": exc.messages()})
    return out


def _page(request: Request, who: Principal, folder: Path, status: int = 200,
          **values: Any) -> Response:
    lang = formatter(request).lang
    return render(request, "sim.html", status=status, user=who,
                  files=scenario_files(folder, lang), max_days=MAX_DAYS,
                  max_replications=MAX_REPLICATIONS, max_scenarios=MAX_SCENARIOS,
                  **{"errors": {}, "road_rows": [],
                     "form": {"days": "7", "replications": "2", "seed": "1"},
                     **values})


def _whole(fmt: i18n.Formatter, name: str, raw: str) -> tuple[int | None, str | None]:
    """A whole number typed in a field, within its limits: (value, None) or (None, the
    problem in the page's language)."""
    low, high = LIMITS[name]
    try:
        value = fmt.parse_number(raw, places=0)
    except i18n.NumberInputError as exc:
        return None, fmt.message(exc.text, "validation_failed")
    if value is None:
        return None, fmt.message(msg("This field is required."), "validation_failed")
    if not low <= value <= high:
        return None, fmt.message(msg(LIMIT_TEXTS[name], low=low, high=high),
                                 "validation_failed")
    return int(value), None


@router.get("/sim", response_class=HTMLResponse)
def sim_page(request: Request, ctx: Ctx, db: Db) -> Response:
    """The scenario files on offer and the form to compare them."""
    who = _planner(request, ctx, db)
    if isinstance(who, Response):
        return who
    return _page(request, who, ctx.settings.scenarios_dir)


@router.post("/sim", response_class=HTMLResponse)
def sim_run(request: Request, ctx: Ctx, db: Db,
            scenario: Annotated[list[str] | None, Form()] = None,
            days: Annotated[str, Form()] = "7", replications: Annotated[str, Form()] = "2",
            seed: Annotated[str, Form()] = "1", csrf: Annotated[str, Form()] = "") -> Response:
    """Run the chosen scenarios (in this process, a few replications) and show the
    comparison."""
    session.check_csrf(request, csrf)
    who = _planner(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    folder = ctx.settings.scenarios_dir
    offered = {f["file"] for f in scenario_files(folder)}
    chosen = [name for name in scenario or [] if name in offered]
    form = {"days": days, "replications": replications, "seed": seed}
    numbers: dict[str, int] = {}
    errors: dict[str, str] = {}
    for name, raw in form.items():
        value, problem = _whole(fmt, name, raw)
        if problem is not None:
            errors[name] = problem
        elif value is not None:
            numbers[name] = value
    error: str | None = None
    if not chosen or len(chosen) > MAX_SCENARIOS:
        error = N_("Choose between one and four scenarios.")
    if error or errors:
        return _page(request, who, folder, status=422, error=error, errors=errors,
                     chosen=chosen, form=form)
    try:
        loaded = runner.load_all([folder / name for name in chosen], numbers["days"])
    except scenarios.ScenarioError as exc:
        return _page(request, who, folder, status=422, problems=exc.messages(),
                     chosen=chosen, form=form)
    results = runner.run(loaded, replications=numbers["replications"], seed=numbers["seed"])
    names = [sc.name.in_(fmt.lang) for sc, _, _ in loaded]
    plots = report.plots(results, lang=fmt.lang, gettext=fmt.gettext, names=names)
    images = [(fmt.gettext(report.PLOT_TEXTS[PLOT_TITLES[file]]) if file in PLOT_TITLES
               else file, base64.b64encode(data).decode()) for file, data in plots.items()]
    return _page(request, who, folder, results=results, names=names,
                 rows=report.rows(results),
                 road_rows=report.road_rows(results, fmt.lang, fmt.gettext), images=images,
                 chosen=chosen,
                 form={k: fmt.number_input(v) for k, v in numbers.items()})

