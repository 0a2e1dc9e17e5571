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
from borderflow.errors import N_
from borderflow.sim import report, runner
from borderflow.sim import scenario as scenarios
from borderflow.web import session
from borderflow.web.pages import render, signed_in

router = APIRouter(include_in_schema=False)
MAX_SCENARIOS = 4
MAX_DAYS = 31
MAX_REPLICATIONS = 5


def _planner(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(request, ctx, db, lambda p: p.may("sim.run"),
                     N_("This page is for regulators and administrators."))


def scenario_files(folder: Path) -> list[dict[str, Any]]:
    """The scenario files of the folder with their names (files that do not load are listed
    with their problem)."""
    out = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            sc = scenarios.parse(scenarios.read_document(path), str(path))
            out.append({"file": path.name, "name": sc.name, "description": sc.description,
                        "days": sc.days, "problem": None})
        except scenarios.ScenarioError as exc:
            out.append({"file": path.name, "name": path.stem, "description": "",
                        "days": None, "problem": str(exc)})
    return out


def _page(request: Request, who: Principal, folder: Path, status: int = 200,
          **values: Any) -> Response:
    return render(request, "sim.html", status=status, user=who, files=scenario_files(folder),
                  max_days=MAX_DAYS, max_replications=MAX_REPLICATIONS,
                  max_scenarios=MAX_SCENARIOS, **values)


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
            days: Annotated[int, Form()] = 7, replications: Annotated[int, Form()] = 2,
            seed: Annotated[int, Form()] = 1, csrf: Annotated[str, Form()] = "") -> Response:
    """Run the chosen scenarios (in this process, a few replications) and show the
    comparison."""
    session.check_csrf(request, csrf)
    who = _planner(request, ctx, db)
    if isinstance(who, Response):
        return who
    folder = ctx.settings.scenarios_dir
    offered = {f["file"] for f in scenario_files(folder)}
    chosen = [name for name in scenario or [] if name in offered]
    if not chosen or len(chosen) > MAX_SCENARIOS:
        return _page(request, who, folder, status=422,
                     error=N_("Choose between one and four scenarios."))
    if not (1 <= days <= MAX_DAYS and 1 <= replications <= MAX_REPLICATIONS):
        return _page(request, who, folder, status=422,
                     error=N_("Days must be 1 to 31 and replications 1 to 5."))
    try:
        loaded = runner.load_all([folder / name for name in chosen], days)
    except scenarios.ScenarioError as exc:
        return _page(request, who, folder, status=422, problem=str(exc))
    results = runner.run(loaded, replications=replications, seed=seed)
    images = {name: base64.b64encode(data).decode()
              for name, data in report.plots(results).items()}
    return _page(request, who, folder, results=results, rows=report.rows(results),
                 images=images, chosen=chosen, days=days, replications=replications,
                 seed=seed)
