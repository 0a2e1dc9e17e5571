"""HTTP API of the scenario lab's runs: ask for a comparison of scenario files or a "what would
it take" search (queued for the background work's pool, never run in the request), then
follow it: its state, runs done, and its figures when done or why it failed. The same jobs as
the pages `/sim` and `/sim/levers`, with the same limits and scoping."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from borderflow.api.deps import Ctx, Db, require, roles_doc
from borderflow.api.errors import ERROR_RESPONSES, ErrorResponse
from borderflow.api.idempotency import Idem
from borderflow.demand import lab
from borderflow.demand import service as demand
from borderflow.domain.access import Principal
from borderflow.errors import FieldError, NotFound, TooManyRequests, ValidationFailed, msg
from borderflow.sim import runner
from borderflow.sim import scenario as scenarios
from borderflow.sim_jobs import service, work

router = APIRouter(prefix="/api/v1/sim", tags=["scenario lab"], responses=ERROR_RESPONSES)
Planner = Annotated[Principal, Depends(require("sim.run"))]
QUEUED_DOC = ("Answers 202 at once with the run, `queued`: a pool of the background work "
              "(`borderflow worker`, or the API process itself with "
              "`BORDERFLOW_BACKGROUND=all`) runs it; follow it with "
              "`GET /api/v1/sim/jobs/{job_id}` (its `Location`). A caller has at most three "
              "runs waiting or running (429 beyond). Audited. Accepts `Idempotency-Key`.")


class ComparisonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenarios: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=4,
        description="One to four scenario files of the lab (`BORDERFLOW_SCENARIOS_DIR`), by "
        "file name, e.g. `lang-son-baseline.yaml`; `forecast`: the next days as the newest "
        "demand forecast has them (the baseline's settings, each replication drawing the "
        "days' trucks from the forecast; at most its 28 days).")
    days: int = Field(default=7, ge=1, le=31, description="Days each scenario runs.")
    replications: int = Field(default=2, ge=1, le=5,
                              description="Replications of each scenario.")
    seed: int = Field(default=1, ge=0, le=2**32 - 1, description="Seed of the random streams.")


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trucks: int = Field(ge=100, le=5000, description="Trucks a day to answer for.")
    hours: int = Field(ge=1, le=24,
                       description="The mean time in system to stay within, in hours.")


class ErrorOut(BaseModel):
    code: str = Field(description="`scenario_invalid` (a scenario file no longer loads: "
                      "`problems`), `runner_lost` (the processes running it stopped every "
                      "time) or `failed` (anything else; the worker's log says why).")
    message: str
    problems: list[str] = []


class JobOut(BaseModel):
    id: str
    kind: Literal["compare", "levers"] = Field(
        description="`compare` (a comparison of scenario files) or `levers` (a \"what would "
        "it take\" search).")
    status: Literal["queued", "running", "done", "failed"]
    runs_done: int = Field(description="Replications (compare) or search runs (levers) done.")
    runs_total: int = Field(description="Replications in all (compare), or the search runs at "
                            "most (levers; the confirmations follow).")
    params: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: ErrorOut | None = None
    result: dict[str, Any] | None = Field(
        default=None,
        description="When done. compare: per scenario its names (vi, en, zh), source, days "
        "and every figure's mean, 95% half-width and replications (`figures`; times in "
        "minutes, as `results.json` of `borderflow sim run`); levers: the answer (the "
        "scenario as it is and the combinations found: lever levels, cost, each target's "
        "figure, whether it meets the target).")


def _error(job: service.Job) -> ErrorOut | None:
    if job.status != "failed" or not job.error:
        return None
    code = str(job.error.get("code", "failed"))
    if code == "scenario_invalid":
        problems = [str(p) for p in work.json_text(job.error.get("problems") or [])]
        return ErrorOut(code=code, message="A scenario file cannot be used.",
                        problems=problems)
    return ErrorOut(code=code, message=service.FAILURES.get(code, service.FAILURES["failed"]))


def _result(job: service.Job) -> dict[str, Any] | None:
    if job.status != "done" or job.result is None:
        return None
    if job.kind == "levers":
        return dict(job.result["answer"])
    out = []
    for i, r in enumerate(work.compared(job.result)):
        out.append({
            "names": {lang: job.result["names"][lang][i] for lang in work.LANGS},
            "source": r.source.rsplit("/", 1)[-1], "days": r.days,
            "warmup_days": r.warmup_days,
            "figures": {key: {"mean": _plain(e.mean), "half_width": _plain(e.half_width),
                              "n": e.n}
                        for key in r.figure_names() for e in (r.estimate(key),)}})
    return {"scenarios": out}


def _plain(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None


def job_out(job: service.Job) -> dict[str, Any]:
    params = {k: v for k, v in job.params.items() if k != "plot_texts"}
    return JobOut(id=job.id, kind=job.kind, status=job.status,
                  runs_done=job.runs_done, runs_total=job.runs_total, params=params,
                  created_at=job.created_at, started_at=job.started_at,
                  finished_at=job.finished_at, error=_error(job),
                  result=_result(job)).model_dump(mode="json")


def _room(db: Db, actor: Principal) -> None:
    if len(service.unfinished(db, actor)) >= service.MAX_UNFINISHED:
        raise TooManyRequests(msg(service.TOO_MANY), retry_after_seconds=60)


def _queued(idem: Idem, job: service.Job) -> Any:
    answer = idem.respond(job_out(job), status_code=202)
    answer.headers["Location"] = f"/api/v1/sim/jobs/{job.id}"
    return answer


@router.post("/comparisons", response_model=JobOut, status_code=202,
             summary="Ask for a comparison of scenario files",
             description="The same comparison as the page `/sim` and `borderflow sim run`: "
             "each scenario `replications` times on common random streams. The files are "
             "checked first (422 naming the problems). " + QUEUED_DOC + roles_doc("sim.run"))
def ask_comparison(body: ComparisonIn, ctx: Ctx, db: Db, actor: Planner, idem: Idem) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    folder = ctx.settings.scenarios_dir
    offered = {p.name for p in folder.glob("*.yaml")}
    documents: dict[str, Any] = {}
    if lab.NAME in body.scenarios:
        doc = lab.document(db, today=demand.local_today(ctx.clock.now()), days=lab.MAX_DAYS)
        if doc is not None:
            documents[lab.NAME] = doc
            offered.add(lab.NAME)
    unknown = [name for name in body.scenarios if name not in offered]
    if unknown or len(set(body.scenarios)) != len(body.scenarios):
        raise ValidationFailed([FieldError("scenarios", msg(
            "not a scenario file of the lab, or named twice: {files}", files=unknown
            or body.scenarios))])
    try:
        runner.load_all([folder / name for name in body.scenarios], body.days, documents)
    except scenarios.ScenarioError as exc:
        raise ValidationFailed([FieldError("scenarios", m) for m in exc.messages()]) from None
    _room(db, actor)
    params = body.model_dump()
    job = service.submit(db, actor=actor, kind="compare",
                         params={**params, "documents": documents},
                         runs_total=work.compare_runs(params), now=ctx.clock.now(),
                         audited=params)
    return _queued(idem, job)


@router.post("/searches", response_model=JobOut, status_code=202,
             summary="Ask what it would take to meet a target",
             description="The search of the page `/sim/levers` and `borderflow sim "
             "what-would-it-take` on the shipped Lang Son levers: the cheapest combinations "
             "of levers that keep the mean time in system within `hours` with no truck on "
             "National Highway 1A at `trucks` a day. One search at a time per caller: while "
             "theirs waits or runs, it is answered instead. " + QUEUED_DOC
             + roles_doc("sim.run"))
def ask_search(body: SearchIn, ctx: Ctx, db: Db, actor: Planner, idem: Idem) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    running = service.unfinished(db, actor, "levers")
    if running:
        return _queued(idem, running[0])
    _room(db, actor)
    params = body.model_dump()
    job = service.submit(db, actor=actor, kind="levers", params=params,
                         runs_total=work.levers_runs(params), now=ctx.clock.now())
    return _queued(idem, job)


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A run: its state and results",
            responses={404: {"model": ErrorResponse, "description": "No such run (or "
                             "another caller's)"}},
            description="Its state (`queued`, `running`, `done`, `failed`), the runs done so "
            "far (written by the runner after each replication or search run), and when done "
            "its figures, or when failed why. A caller sees the runs they asked for; an "
            "administrator every run; another's is 404." + roles_doc("sim.run"))
def get_job(job_id: Annotated[str, Path(max_length=32)], db: Db, actor: Planner) -> Any:
    for kind in service.KINDS:
        job = service.get(db, actor, job_id, kind)
        if job is not None:
            return job_out(job)
    raise NotFound(msg("no run {job}", job=job_id))
