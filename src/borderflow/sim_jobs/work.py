"""What a job of the scenario lab computes, through the lab's entry points (``runner.run`` for
a comparison, ``levers.what_would_it_take`` for a search), and its results as they are stored:
JSON that a page turns back into the lab's own objects to show them in its language.

A comparison's results keep every replication's figures and each scenario's name in the three
languages; its plots are drawn once, by the runner, in the three languages (from the words a
page gave with the job), so that showing a finished comparison draws nothing. A search keeps
its answer (each combination's levels, cost, figures and verdict)."""

from __future__ import annotations

import base64
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from borderflow.domain.network import Names
from borderflow.errors import Text
from borderflow.sim import levers, report, runner
from borderflow.sim import scenario as scenarios
from borderflow.sim.model import Road
from borderflow.sim.results import Estimate, ScenarioResult, Series

LANGS = ("vi", "en", "zh")
LEVERS_SPEC = (Path(scenarios.__file__).resolve().parent.parent / "data" / "calibration"
               / "lang-son-levers.yaml")
"""The levers spec the "what would it take" page searches (levers, levels, costs, target)."""

Progress = Callable[[int, int], None]
"""Called with (runs done, runs in all) as a job goes."""

_plotting = threading.Lock()  # matplotlib's pyplot is not safe across threads


class Invalid(Exception):
    """A job that cannot run as asked (a scenario file that no longer loads): its problems,
    as messages a page says in its language."""

    def __init__(self, problems: list[Text]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# --- plain JSON for what the lab computes (no NaN or infinity: PostgreSQL's JSON has none)

def _number(value: float) -> float | str:
    return value if math.isfinite(value) else repr(value)


def _float(value: float | str) -> float:
    return float(value)


def text_json(value: Any) -> Any:
    """A message (:class:`Text`, possibly with messages among its parameters) as JSON."""
    if isinstance(value, Text):
        return {"template": value.template, "english": str(value),
                "params": {k: text_json(v) for k, v in value.params.items()}}
    if isinstance(value, (list, tuple)):
        return [text_json(v) for v in value]
    return value


def json_text(value: Any) -> Any:
    """The message :func:`text_json` wrote."""
    if isinstance(value, dict) and "template" in value and "params" in value:
        return Text(value["english"], value["template"],
                    {k: json_text(v) for k, v in value["params"].items()})
    if isinstance(value, list):
        return [json_text(v) for v in value]
    return value


def failure(exc: BaseException) -> dict[str, Any]:
    """A failed job's error as stored: a code the page says in words, and details."""
    if isinstance(exc, Invalid):
        return {"code": "scenario_invalid", "problems": text_json(exc.problems)}
    return {"code": "failed", "kind": type(exc).__name__}


# --- a comparison of scenario files

def compare_runs(params: Mapping[str, Any]) -> int:
    return len(params["scenarios"]) * int(params["replications"])


def _load(folder: Path, params: Mapping[str, Any]) -> list[runner.Loaded]:
    try:
        return runner.load_all([folder / name for name in params["scenarios"]],
                               int(params["days"]), params.get("documents"))
    except scenarios.ScenarioError as exc:
        raise Invalid(exc.messages()) from None


def _result_json(r: ScenarioResult) -> dict[str, Any]:
    out = asdict(r)
    out["series"] = None  # drawn already; the table needs the figures only
    out["replications"] = [{k: _number(v) for k, v in rep.items()} for rep in r.replications]
    return out


def run_compare(folder: Path, params: Mapping[str, Any], progress: Progress
                ) -> dict[str, Any]:
    """Run the chosen scenario files and keep what the page shows: the figures, the names
    and the plots in each language."""
    loaded = _load(folder, params)
    results = runner.run(loaded, replications=int(params["replications"]),
                         seed=int(params["seed"]), progress=progress)
    names = {lang: [sc.name.in_(lang) for sc, _, _ in loaded] for lang in LANGS}
    words: Mapping[str, Mapping[str, str]] = params.get("plot_texts") or {}
    plots: dict[str, dict[str, str]] = {}
    with _plotting:
        for lang in LANGS:
            said = {english: words.get(lang, {}).get(key, english)
                    for key, english in report.PLOT_TEXTS.items()}
            drawn = report.plots(results, lang=lang, gettext=_say(said), names=names[lang])
            plots[lang] = {file: base64.b64encode(data).decode()
                           for file, data in drawn.items()}
    return {"names": names, "results": [_result_json(r) for r in results], "plots": plots}


def _say(words: Mapping[str, str]) -> Callable[[str], str]:
    """A ``gettext`` over the words given (the English where none is)."""
    return lambda text: words.get(text, text)


def compared(result: Mapping[str, Any]) -> list[ScenarioResult]:
    """The stored figures of a comparison, as the lab's results (without queues over
    time), for the lab's tables."""
    out = []
    for r in result["results"]:
        roads = [Road(road["key"], Names(**road["name"]), road["named"]) for road in r["roads"]]
        out.append(ScenarioResult(
            name=r["name"], source=r["source"],
            replications=[{k: _float(v) for k, v in rep.items()} for rep in r["replications"]],
            series=Series([], [], [], []), days=r["days"], warmup_days=r["warmup_days"],
            seconds=r["seconds"], extra=r.get("extra") or {}, roads=roads))
    return out


# --- "what would it take"

def levers_spec(hours: float | None = None, trucks: float | None = None) -> levers.Spec:
    """The spec the page searches, with its time-in-system bound and demand when given."""
    spec, _ = levers.load_spec(LEVERS_SPEC)
    if hours is not None:
        spec = levers.with_hours(spec, float(hours))
    if trucks is not None:
        spec = spec.model_copy(update={"demand": [float(trucks)]})
    return spec


def levers_runs(params: Mapping[str, Any]) -> int:
    """The search runs at most (the confirmations come after)."""
    return levers_spec().max_evaluations


def run_levers(params: Mapping[str, Any], progress: Progress) -> dict[str, Any]:
    """The search for the page's demand and hours."""
    try:
        spec = levers_spec(params["hours"], params["trucks"])
        _, scenario_path = levers.load_spec(LEVERS_SPEC)
        _, network = scenarios.load(scenario_path)
        document = scenarios.read_document(scenario_path)
    except scenarios.ScenarioError as exc:
        raise Invalid(exc.messages()) from None
    total = spec.max_evaluations
    answer = levers.what_would_it_take(spec, document, network, str(scenario_path),
                                       progress=lambda _t, n: progress(n, total))[0]
    return {"answer": {"trucks_per_day": answer.trucks_per_day,
                       "evaluations": answer.evaluations,
                       "baseline": _option_json(answer.baseline),
                       "options": [_option_json(o) for o in answer.options]}}


def _option_json(option: levers.Option) -> dict[str, Any]:
    return {"levels": list(option.levels), "cost": _number(option.cost),
            "meets": option.meets,
            "figures": [{"mean": _number(e.mean), "half_width": _number(e.half_width),
                         "n": e.n} for e in option.figures]}


def _option(data: Mapping[str, Any]) -> levers.Option:
    return levers.Option(tuple(data["levels"]), _float(data["cost"]),
                         [Estimate(_float(e["mean"]), _float(e["half_width"]), e["n"])
                          for e in data["figures"]], bool(data["meets"]))


def answer(result: Mapping[str, Any]) -> levers.Answer:
    """The stored answer of a search, as the lab's."""
    a = result["answer"]
    return levers.Answer(float(a["trucks_per_day"]), [_option(o) for o in a["options"]],
                         _option(a["baseline"]), int(a["evaluations"]))


# --- one entry for the pool

def runs_total(kind: str, params: Mapping[str, Any]) -> int:
    return compare_runs(params) if kind == "compare" else levers_runs(params)


def run(kind: str, params: Mapping[str, Any], folder: Path, progress: Progress
        ) -> dict[str, Any]:
    """Compute a job; raises :class:`Invalid` for a job that cannot run as asked."""
    if kind == "compare":
        return run_compare(folder, params, progress)
    if kind == "levers":
        return run_levers(params, progress)
    raise ValueError(f"unknown kind {kind!r}")
