"""Benchmark of the pages people keep open all day: the public board, the park's display board
and the regulator's console, with a year of history on PostgreSQL.

Run from the repository root::

    .venv/bin/python bench/pages.py               # a year of history, PostgreSQL
    .venv/bin/python bench/pages.py --days 30     # quicker

In a fresh schema of the local PostgreSQL (``BENCH_PG_URL``, default the ``test`` database) it
builds the platform as ``make run`` shows it on a Monday morning (the test seed, then the demo
traffic of ``tests.demo_data``: two and a half simulated hours of trucks declared, staged,
called, checked and crossed through the real API, a closed gate, a capacity cut, held and
urgent trips) and serves it on a local port. It then times each page (the median and the
worst of ``--repeat`` requests after a warm-up, measured at the client on 127.0.0.1 over a
kept-alive connection, so it is the server's time plus a loopback round trip): ``/board``,
``/board/panel``, ``/board?screen=large`` and its next screen, and ``/console`` and
``/console`` of one gate as a signed-in regulator.

The baseline, measured side by side in the same run, is the same pages on the same live day
before the history is loaded. Then a year of finished trips before today at Lang Son scale
(``bench/reports.py``'s loader: about 1,500 trucks a day, nine events each, their statistics
facts; COPY) goes in, the tables are analysed, and every page is timed again. The ratio says
what a year of history costs each page. The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
import reports as history  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from tests.conftest import PASSWORD, TODAY, Database, _seed_url  # noqa: E402
from tests.demo_data import START, Demo, demo_settings, populate, serving  # noqa: E402

from borderflow.clock import FixedClock  # noqa: E402
from borderflow.store.migrate import upgrade  # noqa: E402
from borderflow.store.session import make_engine  # noqa: E402

PG_BASE = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
LIMIT_MS = 300.0
"""What a page may take on the server with a year of history."""
PAGES = {
    "board": ("/board", None),
    "board_panel": ("/board/panel", None),
    "board_large": ("/board?screen=large", None),
    "board_large_next": ("/board/panel?screen=large&page=1", None),
    "console": ("/console", "regulator"),
    "console_gate": ("/console?gate=huu-nghi", "regulator"),
}
"""Page name -> (address, who is signed in)."""


def _schema_url(schema: str) -> str:
    url = make_url(PG_BASE)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)


def _signed_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    form = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]*)"', form)
    r = client.post("/login", data={"username": username, "password": PASSWORD,
                                     "csrf": csrf.group(1) if csrf else "", "next": ""})
    assert r.status_code in (200, 303), (r.status_code, r.text[:300])
    return client


def time_pages(base: str, repeat: int) -> dict[str, dict[str, float]]:
    clients = {None: httpx.Client(base_url=base, timeout=60)}
    out: dict[str, dict[str, float]] = {}
    try:
        for name, (path, who) in PAGES.items():
            if who not in clients:
                clients[who] = _signed_in(base, who)
            client = clients[who]
            first = client.get(path)  # warm-up
            assert first.status_code == 200, (path, first.status_code, first.text[:300])
            took = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                r = client.get(path)
                took.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, (path, r.status_code)
            out[name] = {"median": round(statistics.median(took), 1),
                         "worst": round(max(took), 1), "kb": round(len(first.content) / 1024, 1)}
    finally:
        for c in clients.values():
            c.close()
    return out


def load_year(url: str, days: int, per_day: int) -> dict[str, int]:
    periods = history.months(TODAY - timedelta(days=days), days)
    return history.load_history(url, periods, per_day, [])


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,  # noqa: S607
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--per-day", type=int, default=1500)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; commit {_commit()}; history {args.days} days at "
          f"about {args.per_day} trucks/day")
    schema = f"bench_pages_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_BASE)
    with admin.connect() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
        c.commit()
    url = _schema_url(schema)
    try:
        results, counts = _run(url, args)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            c.commit()
        admin.dispose()
    _report(results, counts)


def _run(url: str, args: argparse.Namespace
         ) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, int]]:
    upgrade(url)
    _seed_url(url)
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = demo_settings(Database(url, "postgresql"), Path(tmp))
        clock = FixedClock(START)
        with serving(settings, clock) as (app, client):
            demo = Demo(str(client.base_url), settings, clock)
            t0 = time.perf_counter()
            populate(demo, app, client)
            print(f"live morning built in {time.perf_counter() - t0:.0f} s", flush=True)
            results["live_day_only"] = time_pages(demo.base_url, args.repeat)
            t0 = time.perf_counter()
            counts = load_year(url, args.days, args.per_day)
            print(f"history loaded in {time.perf_counter() - t0:.0f} s: "
                  f"{counts['trips']:,} trips, {counts['events']:,} events", flush=True)
            results["with_year"] = time_pages(demo.base_url, args.repeat)
    return results, counts


def _report(results: dict[str, dict[str, dict[str, float]]], counts: dict[str, int]) -> None:
    before, after = results["live_day_only"], results["with_year"]
    print(f"\n{'page (ms, median / worst)':<28}{'live day only':>20}{'with a year':>20}"
          f"{'ratio':>8}{'KiB':>8}")
    summary: dict[str, Any] = {"trips": counts["trips"], "events": counts["events"]}
    for name in PAGES:
        b, a = before[name], after[name]
        ratio = a["median"] / max(b["median"], 0.01)
        print(f"{name:<28}{b['median']:>10.1f} / {b['worst']:<7.1f}{a['median']:>10.1f} / "
              f"{a['worst']:<7.1f}{ratio:>8.2f}{a['kb']:>8.1f}")
        summary[f"{name}_ms_pg"] = a["median"]
        summary[f"{name}_worst_ms_pg"] = a["worst"]
        summary[f"{name}_ms_baseline"] = b["median"]
        summary[f"{name}_history_ratio"] = round(ratio, 2)
    slowest = max(after[n]["median"] for n in PAGES)
    summary["max_page_ms_pg"] = slowest
    print(f"slowest page with a year of history: {slowest:.1f} ms (limit {LIMIT_MS:.0f} ms: "
          f"{'met' if slowest < LIMIT_MS else 'NOT met'})")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
