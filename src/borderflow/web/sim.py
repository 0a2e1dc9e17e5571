"""The scenario lab pages: pick scenario files, run a few replications of a short period, and
compare them side by side (the same table and plots as ``borderflow sim run``); "what would it
take" searches. The pages only queue the runs (:mod:`borderflow.sim_jobs`): a pool of the
background work runs them, and the run's page follows its progress (it reloads itself) until
it shows the results, or why it failed, in the page's language."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.demand import lab
from borderflow.demand import service as demand
from borderflow.domain.access import Principal
from borderflow.errors import N_, msg
from borderflow.sim import levers, report, runner
from borderflow.sim import scenario as scenarios
from borderflow.sim_jobs import service as jobs
from borderflow.sim_jobs import work
from borderflow.web import i18n, session
from borderflow.web.pages import formatter, render, signed_in

router = APIRouter(include_in_schema=False)
log = structlog.get_logger("borderflow.sim")
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
REFRESH_SECONDS = 3
"""A run's page reloads itself this often until the run has finished."""


def _planner(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(request, ctx, db, lambda p: p.may("sim.run"),
                     N_("This page is for regulators and administrators."))


def scenario_files(folder: Path, lang: str = "en") -> list[dict[str, Any]]:
    """The scenario files of the folder with their names and descriptions in ``lang`` (files
    that do not load are listed with their problems); read again only when a file changed,
    so a run's page reloading itself does not parse them every time."""
    paths = sorted(folder.glob("*.yaml"))
    stamp = tuple((p.name, st.st_mtime_ns, st.st_size) for p in paths for st in (p.stat(),))
    return [dict(f) for f in _scenario_files(folder, stamp, lang)]


@functools.lru_cache(maxsize=16)
def _scenario_files(folder: Path, stamp: tuple[tuple[str, int, int], ...], lang: str
                    ) -> tuple[dict[str, Any], ...]:
    out = []
    for path in (folder / name for name, _, _ in stamp):
        try:
            sc = scenarios.parse(scenarios.read_document(path), str(path))
            out.append({"file": path.name, "name": sc.name.in_(lang),
                        "description": sc.description.in_(lang), "days": sc.days,
                        "problems": []})
        except scenarios.ScenarioError as exc:
            out.append({"file": path.name, "name": path.stem, "description": "",
                        "days": None, "problems": exc.messages()})
    return tuple(out)


def _forecast(request: Request, db: Db) -> dict[str, Any] | None:
    """The next days as the newest forecast run has them, as a scenario document (None
    before the first run)."""
    today = demand.local_today(request.app.state.ctx.clock.now())
    return lab.document(db, today=today, days=lab.MAX_DAYS)


def _offered(request: Request, db: Db, folder: Path, lang: str
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The scenario files, and first the next days as forecast when a run covers them; the
    made documents by name."""
    files = scenario_files(folder, lang)
    doc = _forecast(request, db)
    if doc is None:
        return files, {}
    try:
        sc = scenarios.parse(doc, lab.NAME)
    except scenarios.ScenarioError as exc:  # a stored run the lab cannot use: offer the files
        log.warning("forecast scenario unusable", problems=exc.messages()[:5])
        return files, {}
    entry = {"file": lab.NAME, "name": sc.name.in_(lang), "made": True,
             "description": sc.description.in_(lang), "days": sc.days, "problems": []}
    return [entry, *files], {lab.NAME: doc}


def _page(request: Request, who: Principal, folder: Path, db: Db, status: int = 200,
          **values: Any) -> Response:
    lang = formatter(request).lang
    files, _documents = _offered(request, db, folder, lang)
    names = {f["file"]: f["name"] for f in files}
    runs = [{"id": r.id, "status": r.status, "done": r.runs_done, "total": r.runs_total,
             "at": r.created_at,
             "scenarios": [names.get(n, n) for n in r.params.get("scenarios", [])]}
            for r in jobs.recent(db, who, "compare")]
    return render(request, "sim.html", status=status, user=who, files=files,
                  max_days=MAX_DAYS, max_replications=MAX_REPLICATIONS,
                  max_scenarios=MAX_SCENARIOS, runs=runs, refresh=REFRESH_SECONDS,
                  **{"errors": {}, "road_rows": [], "run": None,
                     "form": {"days": "7", "replications": "2", "seed": "1"},
                     **values})


def _failure(fmt: i18n.Formatter, job: jobs.Job) -> tuple[str | None, list[Any]]:
    """A failed run's reason in the page's language, and the problems of a scenario file
    that cannot be used (messages the page says)."""
    error = job.error or {}
    if error.get("code") == "scenario_invalid":
        return None, work.json_text(error.get("problems") or [])
    return fmt.gettext(jobs.FAILURES.get(str(error.get("code")), jobs.FAILURES["failed"])), []


def _run_values(fmt: i18n.Formatter, job: jobs.Job) -> dict[str, Any]:
    """What the page shows of a comparison run: its state, and when done its table and
    plots in the page's language (drawn by the run in each language)."""
    params = job.params
    values: dict[str, Any] = {
        "run": job, "chosen": list(params.get("scenarios", [])),
        "form": {k: fmt.number_input(params[k]) for k in ("days", "replications", "seed")}}
    if job.status == "failed":
        values["failure"], values["problems"] = _failure(fmt, job)
    if job.status != "done" or job.result is None:
        return values
    results = work.compared(job.result)
    plots = job.result["plots"].get(fmt.lang) or job.result["plots"]["en"]
    values.update(
        results=results, names=job.result["names"].get(fmt.lang, job.result["names"]["en"]),
        rows=report.rows(results),
        road_rows=report.road_rows(results, fmt.lang, fmt.gettext),
        images=[(fmt.gettext(report.PLOT_TEXTS[PLOT_TITLES[file]]) if file in PLOT_TITLES
                 else file, data) for file, data in plots.items()])
    return values


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
def sim_page(request: Request, ctx: Ctx, db: Db, run: str | None = None) -> Response:
    """The scenario files on offer, the form to compare them and the visitor's latest runs;
    with ``run``, that run's progress (the page reloads itself) or its comparison."""
    who = _planner(request, ctx, db)
    if isinstance(who, Response):
        return who
    folder = ctx.settings.scenarios_dir
    if run is None:
        return _page(request, who, folder, db)
    job = jobs.get(db, who, run, "compare")
    if job is None:
        return _page(request, who, folder, db, status=404, error=N_("No such run."))
    return _page(request, who, folder, db, **_run_values(formatter(request), job))


def _plot_texts() -> dict[str, dict[str, str]]:
    """The words of the plots in each language, for the run to draw them with."""
    return {lang: {key: i18n.translations(lang).gettext(text)
                   for key, text in report.PLOT_TEXTS.items()} for lang in work.LANGS}


def _query(request: Request, fmt: i18n.Formatter, first: str = "?") -> str:
    return f"{first}lang={fmt.lang}" if request.query_params.get("lang") else ""


@router.post("/sim", response_class=HTMLResponse)
def sim_run(request: Request, ctx: Ctx, db: Db,
            scenario: Annotated[list[str] | None, Form()] = None,
            days: Annotated[str, Form()] = "7", replications: Annotated[str, Form()] = "2",
            seed: Annotated[str, Form()] = "1", csrf: Annotated[str, Form()] = "") -> Response:
    """Queue a comparison of the chosen scenarios (checked first) and go to its page: the
    background work's pool runs it, never this request."""
    session.check_csrf(request, csrf)
    who = _planner(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    folder = ctx.settings.scenarios_dir
    files, documents = _offered(request, db, folder, fmt.lang)
    offered = {f["file"] for f in files}
    chosen = [name for name in scenario or [] if name in offered]
    documents = {k: v for k, v in documents.items() if k in chosen}
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
        return _page(request, who, folder, db, status=422, error=error, errors=errors,
                     chosen=chosen, form=form)
    try:
        runner.load_all([folder / name for name in chosen], numbers["days"],
                        documents)  # checked now
    except scenarios.ScenarioError as exc:
        return _page(request, who, folder, db, status=422, problems=exc.messages(),
                     chosen=chosen, form=form)
    if len(jobs.unfinished(db, who)) >= jobs.MAX_UNFINISHED:
        return _page(request, who, folder, db, status=429, error=jobs.TOO_MANY, chosen=chosen,
                     form=form)
    params = {"scenarios": chosen, **numbers}
    job = jobs.submit(db, actor=who, kind="compare",
                      params={**params, "plot_texts": _plot_texts(), "documents": documents},
                      runs_total=work.compare_runs(params), now=ctx.clock.now(),
                      audited=params)
    return RedirectResponse(f"/sim?run={job.id}{_query(request, fmt, '&')}", status_code=303)



# --- "what would it take": a search queued for the pool, followed on its own page

LEVERS_SPEC = work.LEVERS_SPEC
"""The levers spec the page searches (levers, their levels and costs, the target)."""
LEVER_LIMITS = {"trucks": (100, 5000), "hours": (1, 24)}


def _lever_rows(job: jobs.Job, spec: levers.Spec, lang: str) -> list[dict[str, Any]]:
    if job.status != "done" or job.result is None:
        return []
    answer = work.answer(job.result)
    rows: list[dict[str, Any]] = [{"label": None, "option": answer.baseline}]
    rows += [{"label": levers.describe(spec, o.levels, lang), "option": o}
             for o in answer.options]
    return rows


def _levers_page(request: Request, who: Principal, db: Db, status: int = 200,
                 **values: Any) -> Response:
    fmt = formatter(request)
    spec = work.levers_spec()
    searches = [{"id": r.id, "status": r.status, "done": r.runs_done, "total": r.runs_total,
                 "at": r.created_at, "trucks": r.params.get("trucks"),
                 "hours": r.params.get("hours")}
                for r in jobs.recent(db, who, "levers")]
    running = jobs.unfinished(db, who, "levers")
    return render(request, "sim_levers.html", status=status, user=who,
                  lever_names=[lv.name.in_(fmt.lang) for lv in spec.levers],
                  searches=searches, refresh=REFRESH_SECONDS,
                  **{"errors": {}, "form": {"trucks": fmt.number_input(1600),
                                            "hours": fmt.number_input(2)}, "job": None,
                     "running": running[0] if running else None, "spec": spec, **values})


@router.get("/sim/levers", response_class=HTMLResponse)
def levers_page(request: Request, ctx: Ctx, db: Db) -> Response:
    """The form of a "what would it take" search and the visitor's latest searches."""
    who = _planner(request, ctx, db)
    if isinstance(who, Response):
        return who
    return _levers_page(request, who, db)


@router.post("/sim/levers", response_class=HTMLResponse)
def levers_start(request: Request, ctx: Ctx, db: Db, trucks: Annotated[str, Form()] = "",
                 hours: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = ""
                 ) -> Response:
    """Queue a search for the background work's pool and go to its page (the visitor's
    search still waiting or running, if any: one at a time each)."""
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
        return _levers_page(request, who, db, status=422, errors=errors, form=form)
    running = jobs.unfinished(db, who, "levers")
    if running:
        job = running[0]
    elif len(jobs.unfinished(db, who)) >= jobs.MAX_UNFINISHED:
        return _levers_page(request, who, db, status=429, error=jobs.TOO_MANY, form=form)
    else:
        job = jobs.submit(db, actor=who, kind="levers", params=numbers,
                          runs_total=work.levers_runs(numbers), now=ctx.clock.now())
    return RedirectResponse(f"/sim/levers/{job.id}{_query(request, fmt)}", status_code=303)


@router.get("/sim/levers/{job_id}", response_class=HTMLResponse)
def levers_result(request: Request, ctx: Ctx, db: Db, job_id: str) -> Response:
    """A search's progress (the page reloads itself), its answer, or why it failed."""
    who = _planner(request, ctx, db)
    if isinstance(who, Response):
        return who
    job = jobs.get(db, who, job_id, "levers")
    if job is None:
        return _levers_page(request, who, db, status=404, error=N_("No such search."))
    fmt = formatter(request)
    spec = work.levers_spec(job.params["hours"], job.params["trucks"])
    failure, problems = _failure(fmt, job) if job.status == "failed" else (None, [])
    return _levers_page(request, who, db, job=job, spec=spec,
                        rows=_lever_rows(job, spec, fmt.lang), failure=failure,
                        problems=problems,
                        form={"trucks": fmt.number_input(job.params["trucks"]),
                              "hours": fmt.number_input(job.params["hours"])})
