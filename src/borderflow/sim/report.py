"""Side-by-side comparison of scenarios: a table, PNG plots and a self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from borderflow.domain import labels
from borderflow.domain.trip import PRIORITIES
from borderflow.errors import N_
from borderflow.sim.model import Road
from borderflow.sim.results import ScenarioResult

HOURS = 60.0

ROWS: tuple[tuple[str, str, str, float], ...] = (
    # (label, key, unit, divisor)
    ("Trucks arriving per day", "trucks", "", 0.0),
    ("Throughput per day", "throughput_per_day", "", 1.0),
    ("Time in system, mean", "time_in_system.mean", "h", HOURS),
    ("Time in system, p50", "time_in_system.p50", "h", HOURS),
    ("Time in system, p95", "time_in_system.p95", "h", HOURS),
    ("Time in system with unfinished trucks (time so far), mean",
     "time_in_system_with_unfinished.mean", "h", HOURS),
    ("Time in system with unfinished trucks (time so far), p95",
     "time_in_system_with_unfinished.p95", "h", HOURS),
    ("Wait before call-forward, mean", "wait.mean", "h", HOURS),
    ("Wait before call-forward, p95", "wait.p95", "h", HOURS),
    ("Perishable wait, mean", "perishable_wait.mean", "h", HOURS),
    ("Perishable wait, p95", "perishable_wait.p95", "h", HOURS),
    ("Road queue, all roads, mean", "road.mean_trucks", "trucks", 1.0),
    ("Road queue, all roads, max", "road.max_trucks", "trucks", 1.0),
    ("Road queue, all roads, mean", "road.mean_km", "km", 1.0),
    ("Road queue, all roads, max", "road.max_km", "km", 1.0),
    ("Staging area, max", "staging.max_trucks", "trucks", 1.0),
    ("Partner-side queue, max", "partner_queue.max_trucks", "trucks", 1.0),
    ("No-shows", "no_shows", "", 1.0),
    ("Re-routed", "rerouted", "", 1.0),
    ("Unfinished at the end", "unfinished", "", 1.0),
)


ROAD_ROWS: tuple[tuple[str, str, str], ...] = (
    # (label, figure of road_queue.<road>, unit)
    (N_("Queue on {road}, mean"), "mean_trucks", "trucks"),
    (N_("Queue on {road}, max"), "max_trucks", "trucks"),
    (N_("Queue on {road}, max"), "max_km", "km"),
)
"""The queue figures of each road (the road's name in the label)."""
ROAD_TO = N_("the road to {place}")
"""A road the network does not name: the road to the staging area or gate."""

BOOKING_ROWS: tuple[tuple[str, str, str, float], ...] = (
    ("Trucks with a booked slot", "booked", "", 1.0),
    ("Wait before call-forward, booked trucks, mean", "booked.wait.mean", "h", HOURS),
    ("Wait before call-forward, booked trucks, p95", "booked.wait.p95", "h", HOURS),
    ("Wait before call-forward, staged trucks without a booking, mean",
     "not_booked.wait.mean", "h", HOURS),
    ("Wait before call-forward, staged trucks without a booking, p95",
     "not_booked.wait.p95", "h", HOURS),
)
"""Shown when a scenario books slots (``dispatch.booked_share``)."""

CLASS_ROWS = (
    ("urgent", "Time in system: urgent"),
    ("aeo_perishable", "Time in system: AEO with perishables"),
    ("perishable", "Time in system: perishables"),
    ("aeo", "Time in system: AEO"),
    ("normal", "Time in system: ordinary"),
)


def _value(result: ScenarioResult, key: str, divisor: float) -> tuple[float, float] | None:
    est = result.estimate(key)
    if est.n == 0:
        return None
    if divisor == 0.0:  # per measured day
        days = max(1, result.days - result.warmup_days)
        return est.mean / days, est.half_width / days
    return est.mean / divisor, est.half_width / divisor


@dataclass(frozen=True)
class Cell:
    """One figure of one scenario: the mean over the replications, the half-width of its 95%
    confidence interval, and the decimals worth showing."""

    mean: float
    half_width: float
    places: int


def cell(value: tuple[float, float] | None) -> Cell | None:
    if value is None:
        return None
    mean, hw = value
    return Cell(mean, hw, 0 if abs(mean) >= 100 else (1 if abs(mean) >= 10 else 2))


def _fmt(value: tuple[float, float] | None) -> str:
    """A figure as plain text (English digits), for the command line and the HTML page."""
    found = cell(value)
    if found is None:
        return "–"
    text = f"{found.mean:,.{found.places}f}"
    return text + (f" ± {found.half_width:,.{found.places}f}" if found.half_width > 0 else "")


def rows(results: Sequence[ScenarioResult]) -> list[tuple[str, str, list[Cell | None]]]:
    """The comparison as numbers: (figure, unit, one cell per scenario: mean and 95%
    half-width, None when the scenario has no such figure). A page writes them in its
    locale; :func:`table` as plain text."""
    out: list[tuple[str, str, list[Cell | None]]] = []
    booking = any("booked" in rep for r in results for rep in r.replications)
    for label, key, unit, divisor in ROWS + (BOOKING_ROWS if booking else ()):
        out.append((label, unit, [cell(_value(r, key, divisor)) for r in results]))
    for cls, label in CLASS_ROWS:
        key = f"class.{cls}.time_in_system.mean"
        out.append((label, "h", [cell(_value(r, key, HOURS)) for r in results]))
    return out


def road_name(road: Road, lang: str = "en", gettext: Callable[[str], str] | None = None
              ) -> str:
    """The road's name in ``lang`` (a road the network does not name: the road to its place,
    in words through ``gettext``)."""
    name = str(getattr(road.name, lang, road.name.en))
    return name if road.named else (gettext or str)(ROAD_TO).format(place=name)


def road_rows(results: Sequence[ScenarioResult], lang: str = "en",
              gettext: Callable[[str], str] | None = None
              ) -> list[tuple[str, str, list[Cell | None]]]:
    """The queues per road (every road of any of the scenarios, National Highway 1 apart
    from the others): label with the road's name in ``lang`` (through ``gettext``), unit,
    one cell per scenario (None: the scenario's trucks never queue on that road)."""
    roads: dict[str, Road] = {}
    for r in results:
        for road in r.roads:
            roads.setdefault(road.key, road)
    say = gettext or str
    out: list[tuple[str, str, list[Cell | None]]] = []
    for road in roads.values():
        name = road_name(road, lang, gettext)
        for label, figure, unit in ROAD_ROWS:
            key = f"road_queue.{road.key}.{figure}"
            out.append((say(label).format(road=name), unit,
                        [cell(_value(r, key, 1.0)) for r in results]))
    return out


def _text(found: Cell | None) -> str:
    return "–" if found is None else _fmt((found.mean, found.half_width))


def table(results: Sequence[ScenarioResult]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the comparison as text."""
    header = ["Figure"] + [r.name for r in results]
    return header, [[f"{label} ({unit})" if unit else label, *[_text(c) for c in cells]]
                    for label, unit, cells in rows(results) + road_rows(results)]


def detail_rows(results: Sequence[ScenarioResult], prefix: str, suffixes: Sequence[str],
                divisor: float) -> list[tuple[str, list[str]]]:
    """Rows of figures whose key starts with ``prefix`` (per gate or per station), one cell
    per scenario and suffix."""
    names: dict[str, None] = {}
    for r in results:
        for key in r.figure_names():
            if key.startswith(prefix) and key.endswith(suffixes[0]):
                names[key[len(prefix):len(key) - len(suffixes[0])]] = None
    out = []
    for name in names:
        cells = []
        for r in results:
            for suffix in suffixes:
                cells.append(_fmt(_value(r, prefix + name + suffix, divisor)))
        out.append((name, cells))
    return out


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


PLOT_TEXTS = {
    "day": N_("day"),
    "road_km": N_("road queue (km)"),
    "road_title": N_("Queue on the Vietnamese roads, all together (first replication)"),
    "hours": N_("hours"),
    "mean": N_("mean"),
    "p95": N_("p95"),
    "time_title": N_("Time in system (arrival to leaving the gate area)"),
    "wait_title": N_("Wait before call-forward by priority class (mean)"),
}
"""The words of the plots (English; a page passes its catalogue's ``gettext``)."""


def plots(results: Sequence[ScenarioResult], *, lang: str = "en",
          gettext: Callable[[str], str] | None = None,
          names: Sequence[str] | None = None) -> dict[str, bytes]:
    """PNG images: road queue over time, time in system, waiting by priority class. Titles
    and axes through ``gettext``, priority classes by their labels in ``lang``, scenarios by
    ``names`` (default: their names)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    from borderflow.documents import FONT

    def say(key: str) -> str:
        return (gettext or str)(PLOT_TEXTS[key])

    shown = list(names) if names is not None else [r.name for r in results]
    font_manager.fontManager.addfont(str(FONT))
    family = font_manager.FontProperties(fname=str(FONT)).get_name()
    out: dict[str, bytes] = {}
    with plt.rc_context({"font.family": [family, "DejaVu Sans"]}):
        fig, ax = plt.subplots(figsize=(9, 3.8))
        for r, name in zip(results, shown, strict=True):
            days = [t / 1440.0 for t in r.series.t]
            spacing = _spacing(r)
            ax.plot(days, [q * spacing for q in r.series.road], label=name, linewidth=1.2)
        ax.set_xlabel(say("day"))
        ax.set_ylabel(say("road_km"))
        ax.set_title(say("road_title"))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        out["road_queue.png"] = _png(fig)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(9, 3.8))
        x = list(range(len(results)))
        for k, (key, label) in enumerate((("time_in_system.mean", "mean"),
                                          ("time_in_system.p95", "p95"))):
            vals = [_value(r, key, HOURS) or (0.0, 0.0) for r in results]
            ax.bar([i + (k - 0.5) * 0.38 for i in x], [v[0] for v in vals], width=0.38,
                   yerr=[v[1] for v in vals], label=say(label), capsize=3)
        ax.set_xticks(x, shown, rotation=15, ha="right", fontsize=8)
        ax.set_ylabel(say("hours"))
        ax.set_title(say("time_title"))
        ax.legend()
        ax.grid(axis="y", alpha=0.3)
        out["time_in_system.png"] = _png(fig)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(9, 3.8))
        width = 0.8 / max(1, len(results))
        for j, (r, name) in enumerate(zip(results, shown, strict=True)):
            vals = [_value(r, f"class.{c}.wait.mean", HOURS) or (0.0, 0.0) for c in PRIORITIES]
            ax.bar([i + (j - (len(results) - 1) / 2) * width for i in range(len(PRIORITIES))],
                   [v[0] for v in vals], width=width, yerr=[v[1] for v in vals], label=name,
                   capsize=2)
        classes = [labels.label("priority", c, lang) for c in PRIORITIES]
        ax.set_xticks(range(len(PRIORITIES)), [_wrap(c) for c in classes], fontsize=8)
        ax.set_ylabel(say("hours"))
        ax.set_title(say("wait_title"))
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        out["wait_by_class.png"] = _png(fig)
        plt.close(fig)
    return out


def _wrap(text: str, width: int = 22) -> str:
    """A long tick label on two lines (at a space or a comma near the middle)."""
    if len(text) <= width:
        return text
    cut = max(text.rfind(" ", 0, len(text) // 2 + 6), text.rfind("，", 0, len(text) // 2 + 6))
    if cut <= 0:
        cut = len(text) // 2
    return text[:cut + 1].rstrip() + "\n" + text[cut + 1:].strip()


def _spacing(r: ScenarioResult) -> float:
    est = r.estimate("road.max_km")
    trucks = r.estimate("road.max_trucks")
    if trucks.n and trucks.mean > 0:
        return est.mean / trucks.mean
    return 0.02


def page(results: Sequence[ScenarioResult], images: dict[str, bytes], *, seed: int,
         replications: int) -> str:
    """A self-contained HTML page (images embedded)."""
    header, rows = table(results)
    main = _html_table(header, rows)
    gates = _html_table(
        ["Gate / direction"] + [f"{r.name}: {k}" for r in results for k in ("mean", "p95")],
        [[name, *cells] for name, cells in detail_rows(
            results, "gate.", (".time_in_system.mean", ".time_in_system.p95"), HOURS)])
    util = _html_table(
        ["Station (gate / direction / step)"] + [r.name for r in results],
        [[name, *cells] for name, cells in detail_rows(results, "util.", ("",), 0.01)])
    imgs = "".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(data).decode()}"></figure>' for name, data in images.items())
    sources = "".join(f"<li>{html.escape(r.name)}: <code>{html.escape(r.source)}</code>, "
                      f"{r.days} days ({r.warmup_days} warm-up)</li>" for r in results)
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Borderflow scenario comparison</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;"
        "text-align:right}td:first-child,th:first-child{text-align:left}"
        "img{max-width:100%}</style></head><body>"
        "<h1>Scenario comparison</h1>"
        f"<p>{replications} replication(s), seed {seed}; mean ± half-width of the 95% "
        "confidence interval over replications.</p>"
        f"<ul>{sources}</ul>{main}{imgs}"
        "<h2>Time in system by gate and direction (h)</h2>" + gates
        + "<h2>Utilisation of the stations (% of the servers' open time, whole run)</h2>"
        + util + "</body></html>"
    )


def write(results: Sequence[ScenarioResult], out_dir: Path, *, seed: int,
          replications: int) -> list[Path]:
    """Plots, the HTML page and the raw figures (results.json) in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    images = plots(results)
    written = []
    for name, data in images.items():
        (out_dir / name).write_bytes(data)
        written.append(out_dir / name)
    index = out_dir / "index.html"
    index.write_text(page(results, images, seed=seed, replications=replications),
                     encoding="utf-8")
    raw = out_dir / "results.json"
    raw.write_text(json.dumps({"seed": seed, "replications": replications,
                               "scenarios": [asdict(r) for r in results]}, indent=1),
                   encoding="utf-8")
    return [index, raw, *written]
