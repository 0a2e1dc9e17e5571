"""The scenario lab page: pick scenario files, run a few replications of a short period, and
compare them side by side (the same table and plots as ``borderflow sim run``)."""

from __future__ import annotations

import base64
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.domain.access import Principal
from borderflow.errors import N_, msg
from borderflow.sim import levers, report, runner
from borderflow.sim import scenario as scenarios
from borderflow.web import i18n, session
from borderflow.web.pages import formatter, render, signed_in

router = APIRouter(include_in_schema=False)
log = structlog.get_logger("borderflow.web.sim")
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


def _whole(fmt: i18n.Formatter, name: str, raw: str,
           limits: dict[str, tuple[int, int]] = LIMITS) -> tuple[int | None, str | None]:
    """A whole number typed in a field, within its limits: (value, None) or (None, the
    problem in the page's language)."""
    low, high = limits[name]
    try:
        value = fmt.parse_number(raw, places=0)
    except i18n.NumberInputError as exc:
        return None, fmt.message(exc.text, "validation_failed")
    if value is None:
        return None, fmt.message(msg("This field is required."), "validation_failed")
    if not low <= value <= high:
        return None, fmt.message(msg(LIMIT_TEXTS.get(name, N_("from {low} to {high}")),
                                     low=low, high=high),
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



# --- "what would it take": a search run in a background thread, followed on its own page

LEVERS_SPEC = (Path(scenarios.__file__).resolve().parent.parent / "data" / "calibration"
               / "lang-son-levers.yaml")
"""The levers spec the page searches (levers, their levels and costs, the target)."""
MAX_JOBS = 10
LEVER_LIMITS = {"trucks": (100, 5000), "hours": (1, 24)}


@dataclass
class LeverJob:
    """One search: its inputs, runs done so far, and its answer (or failure)."""

    id: str
    trucks: int
    hours: int
    spec: levers.Spec
    runs: int = 0
    answer: levers.Answer | None = None
    failed: bool = False


_jobs: dict[str, LeverJob] = {}
_jobs_lock = threading.Lock()


def _running() -> LeverJob | None:
    with _jobs_lock:
        return next((j for j in _jobs.values() if j.answer is None and not j.failed), None)


def _search(job: LeverJob, document: dict[str, Any], network: Any, source: str) -> None:
    def progress(_trucks: float, n: int) -> None:
        job.runs = n

    try:
        job.answer = levers.what_would_it_take(job.spec, document, network, source,
                                               progress=progress)[0]
    except Exception:
        log.exception("sim.levers.failed", job=job.id)
        job.failed = True


def start_search(trucks: int, hours: int) -> LeverJob:
    """Start a search in a background thread (one at a time: a running one is returned)."""
    running = _running()
    if running is not None:
        return running
    spec, scenario_path = levers.load_spec(LEVERS_SPEC)
    spec = levers.with_hours(spec, float(hours)).model_copy(
        update={"demand": [float(trucks)]})
    _, network = scenarios.load(scenario_path)
    document = scenarios.read_document(scenario_path)
    job = LeverJob(uuid.uuid4().hex[:12], trucks, hours, spec)
    with _jobs_lock:
        _jobs[job.id] = job
        for old in list(_jobs)[:-MAX_JOBS]:
            del _jobs[old]
    threading.Thread(target=_search, args=(job, document, network, str(scenario_path)),
                     daemon=True, name=f"sim-levers-{job.id}").start()
    return job


def _lever_rows(job: LeverJob, lang: str) -> list[dict[str, Any]]:
    answer = job.answer
    if answer is None:
        return []
    rows: list[dict[str, Any]] = [{"label": None, "option": answer.baseline}]
    rows += [{"label": levers.describe(job.spec, o.levels, lang), "option": o}
             for o in answer.options]
    return rows


def _levers_page(request: Request, who: Principal, status: int = 200, **values: Any
                 ) -> Response:
    fmt = formatter(request)
    spec, _ = levers.load_spec(LEVERS_SPEC)
    return render(request, "sim_levers.html", status=status, user=who,
                  lever_names=[lv.name.in_(fmt.lang) for lv in spec.levers],
                  **{"errors": {}, "form": {"trucks": fmt.number_input(1600),
                                            "hours": fmt.number_input(2)}, "job": None,
                     "running": _running(), **values})


@router.get("/sim/levers", response_class=HTMLResponse)
def levers_page(request: Request, ctx: Ctx, db: Db) -> Response:
    """The form of a "what would it take" search."""
    who = _planner(request, ctx, db)
    if isinstance(who, Response):
        return who
    return _levers_page(request, who)


@router.post("/sim/levers", response_class=HTMLResponse)
def levers_start(request: Request, ctx: Ctx, db: Db, trucks: Annotated[str, Form()] = "",
                 hours: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = ""
                 ) -> Response:
    """Start a search in the background and go to its page."""
    session.check_csrf(request, csrf)
    who = _planner(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    form = {"trucks": trucks, "hours": hours}
    numbers: dict[str, int] = {}
    errors: dict[str, str] = {}
    for name, raw in form.items():
        value, problem = _whole(fmt, name, raw, LEVER_LIMITS)
        if problem is not None:
            errors[name] = problem
        elif value is not None:
            numbers[name] = value
    if errors:
        return _levers_page(request, who, status=422, errors=errors, form=form)
    job = start_search(numbers["trucks"], numbers["hours"])
    query = f"?lang={fmt.lang}" if request.query_params.get("lang") else ""
    return RedirectResponse(f"/sim/levers/{job.id}{query}", status_code=303)


@router.get("/sim/levers/{job_id}", response_class=HTMLResponse)
def levers_result(request: Request, ctx: Ctx, db: Db, job_id: str) -> Response:
    """A search's progress (the page reloads itself) or its answer."""
    who = _planner(request, ctx, db)
    if isinstance(who, Response):
        return who
    with _jobs_lock:
        job = _jobs.get(job_id)
    if job is None:
        return _levers_page(request, who, status=404, error=N_("No such search."))
    fmt = formatter(request)
    return _levers_page(request, who, job=job, rows=_lever_rows(job, fmt.lang),
                        form={"trucks": fmt.number_input(job.trucks),
                              "hours": fmt.number_input(job.hours)})
