"""Benchmark of the reports on a year of history at Lang Son scale.

Run from the repository root::

    .venv/bin/python bench/reports.py                 # a year, SQLite and PostgreSQL
    .venv/bin/python bench/reports.py --days 60       # quicker

For each database (a fresh SQLite file, and a fresh schema in the local PostgreSQL,
``BENCH_PG_URL``) it migrates an empty database, then loads a synthetic year: about 1,500 trucks
a day over Huu Nghi, Tan Thanh, Chi Ma and Coc Nam (``borderflow.report.synthetic``: seasonal,
27 % export, morning peaks, holds, rejections, no-shows, fees), i.e. about 550,000 trips with
nine events each (about 5 million rows in ``trip_events``), their statistics facts, and the
summary tables built from those facts by the same rules the live service applies to each event
(``domain/report.py``). PostgreSQL is loaded with COPY, SQLite with executemany.

Then it times each report the API serves (the service functions, on a warm connection; the
median of ``--repeat`` runs after one warm-up): traffic for the year by gate, by enterprise and
for one enterprise; a quarter's exports by goods group; times for the year by gate and for one
enterprise; holds for the year by gate; peaks of the year; progress against a target; one
gate's situation report. As the baseline, measured side by side, the year's traffic by gate
is also computed the way it would be without summary tables: one GROUP BY over the per-trip
facts (``report_facts``). The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from borderflow.clock import LOCAL_TZ  # noqa: E402
from borderflow.config import DEFAULT_NETWORK_FILE  # noqa: E402
from borderflow.domain import report as stats  # noqa: E402
from borderflow.domain.access import SYSTEM  # noqa: E402
from borderflow.network import service as networks  # noqa: E402
from borderflow.report import facts as report_facts  # noqa: E402
from borderflow.report import situation, synthetic, targets  # noqa: E402
from borderflow.report import statistics as reports  # noqa: E402
from borderflow.report.facts import KEY_COLUMNS, VALUE_COLUMNS  # noqa: E402
from borderflow.store.migrate import upgrade  # noqa: E402
from borderflow.store.models import ReportTarget  # noqa: E402
from borderflow.store.session import make_engine, make_session_factory  # noqa: E402

PG_BASE = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
EVENT_TYPES = ("trip.created", "area.entered", "trip.called", "area.entered", "step.passed",
               "step.passed", "fee.settled", "step.passed", "step.passed")
TABLE_NAMES = {stats.COUNTS: "stat_counts", stats.ENTERPRISES: "stat_enterprise_counts",
               stats.DURATIONS: "stat_durations",
               stats.HOURS: "stat_hours", stats.REASONS: "stat_reasons"}


def months(start: date, days: int) -> list[tuple[date, int]]:
    """(first day, number of days) of each month-or-part in the period."""
    out = []
    end = start + timedelta(days=days)
    d = start
    while d < end:
        nxt = min(stats.month_end(d) + timedelta(days=1), end)
        out.append((d, (nxt - d).days))
        d = nxt
    return out


def month_facts(first: date, days: int, per_day: int) -> list[dict[str, Any]]:
    return list(synthetic.facts(first, days, seed=first.toordinal(), per_day=per_day,
                                tz=LOCAL_TZ))


def month_totals(args: tuple[date, int, int]) -> stats.Contributions:
    return stats.total(month_facts(*args), LOCAL_TZ)


# --- loading -------------------------------------------------------------------------------


class Loader:
    """Bulk rows into one database: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.pg = self.engine.dialect.name == "postgresql"

    def rows(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            if not self.pg:
                cur.execute("PRAGMA synchronous=OFF")
            if self.pg:
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:  # type: ignore[attr-defined]
                    for row in rows:
                        cp.write_row(row)
            else:
                marks = ", ".join("?" for _ in columns)
                cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                                rows)
            raw.commit()
        finally:
            raw.close()


def load(url: str, periods: list[tuple[date, int]], per_day: int,
         totals: list[stats.Contributions]) -> dict[str, int]:
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        networks.publish(s, networks.parse(networks.read_file(DEFAULT_NETWORK_FILE)),
                         actor=SYSTEM, now=NOW - timedelta(days=800),
                         note="benchmark")
        s.execute(text(
            "INSERT INTO report_targets (year, indicator, gate, value, note, set_by, set_at) "
            "VALUES (2025, 'turnover_usd', '', 65000000000, '', 'bench', :t)"), {"t": NOW})
        s.commit()
    engine.dispose()
    return load_history(url, periods, per_day, totals)


def load_history(url: str, periods: list[tuple[date, int]], per_day: int,
                 totals: list[stats.Contributions]) -> dict[str, int]:
    """A synthetic history of finished trips, their events and statistics facts, and the
    summary tables, into a migrated database that holds a network."""
    loader = Loader(url)
    sessions = make_session_factory(loader.engine)
    with sessions() as s:
        s.execute(text(
            "INSERT INTO declarations (id, reference, status, revision, direction, flow, "
            "enterprise_tax_code, enterprise_name, requested_gate, requested_date, perishable, "
            "quarantine_kind, goods, vehicles, quarantine, total_net_weight_kg, "
            "total_value_usd_cents, created_at, updated_at) VALUES ('bench', 'BF-BENCH', "
            "'submitted', 1, 'export', 'export', '0100000000', 'Bench', 'huu-nghi', "
            "'2025-01-01', false, 'none', '[]', '[]', '[]', 0, 0, :t, :t)"), {"t": NOW})
        s.commit()
    trips = events = 0
    fact_cols = ("key", "trip_id", "import_id", "gate", "enterprise", "arrived_at",
                 "crossed_at", "finished_at", "fact", "updated_at")
    trip_cols = ("id", "declaration_id", "position", "reference", "gate", "flow", "direction",
                 "status", "priority", "plate_key", "driver_document", "enterprise_tax_code",
                 "location", "on_hold", "version", "state", "created_at", "updated_at")
    event_cols = ("trip_id", "seq", "type", "actor_name", "source", "occurred_at",
                  "recorded_at", "payload")
    for first, days in periods:
        trip_rows, event_rows, fact_rows = [], [], []
        for f in month_facts(first, days, per_day):
            tid = str(uuid.uuid4())
            declared = stats.fact_time(f, "declared_at") or NOW
            trips += 1
            trip_rows.append((tid, "bench", trips, f"BF-B{trips:09d}-1", f["gate"],
                              f["direction"], f["direction"], f["status"], f["priority"],
                              f"29C{trips:07d}", "001089012345", f["enterprise"],
                              f["location"], False, len(EVENT_TYPES),
                              json.dumps({"synthetic": True}), declared, declared))
            for seq, kind in enumerate(EVENT_TYPES, start=1):
                at = declared + timedelta(minutes=30 * seq)
                event_rows.append((tid, seq, kind, "bench", "api", at, at, "{}"))
            cols = report_facts._columns(f)
            fact_rows.append((tid, tid, None, cols["gate"], cols["enterprise"],
                              cols["arrived_at"], cols["crossed_at"], cols["finished_at"],
                              json.dumps(f), NOW))
        events += len(event_rows)
        loader.rows("trips", trip_cols, trip_rows)
        loader.rows("trip_events", event_cols, event_rows)
        loader.rows("report_facts", fact_cols, fact_rows)
        print(f"  {first:%Y-%m}: {trips:,} trips, {events:,} events", flush=True)
    for part in totals:
        by_table: dict[str, list[tuple[Any, ...]]] = {t: [] for t in stats.TABLES}
        for (table, key), values in part.items():
            by_table[table].append((*key, *values))
        for table, rows in by_table.items():
            loader.rows(TABLE_NAMES[table], KEY_COLUMNS[table] + VALUE_COLUMNS[table], rows)
    with loader.engine.connect() as c:
        for table in ("trips", "trip_events", "report_facts", *TABLE_NAMES.values()):
            c.execute(text(f"ANALYZE {table}"))
        c.commit()
    loader.engine.dispose()
    return {"trips": trips, "events": events}


# --- timing -------------------------------------------------------------------------------


def _reports(enterprise: str) -> dict[str, Callable[[Any, Any], Any]]:
    year = reports.Query(date(2025, 1, 1), date(2025, 12, 31))

    def q(**kw: Any) -> reports.Query:
        return reports.Query(**{**year.__dict__, **kw})

    return {
        "traffic_year_by_gate": lambda s, n: reports.traffic(s, n, q(by="gate")),
        "traffic_year_by_enterprise": lambda s, n: reports.traffic(s, n, q(by="enterprise")),
        "traffic_year_one_enterprise": lambda s, n: reports.traffic(s, n, q(
            enterprise=enterprise)),
        "traffic_quarter_exports_by_goods": lambda s, n: reports.traffic(s, n, q(
            start=date(2025, 4, 1), end=date(2025, 6, 30), direction="export",
            by="goods_group")),
        "times_year_by_gate": lambda s, n: reports.times(s, n, q(by="gate")),
        "times_year_one_enterprise": lambda s, n: reports.times(s, n, q(enterprise=enterprise)),
        "holds_year_by_gate": lambda s, n: reports.holds(s, n, q(by="gate")),
        "peaks_year": lambda s, n: reports.peaks(s, n, year),
        "targets_2025": lambda s, n: targets.progress(s, n, year=2025, as_of=date(2025, 12, 31),
                                                      gate=None),
        "situation_huu_nghi": lambda s, n: situation.build(s, n, gate="huu-nghi",
                                                           day=date(2025, 7, 15), now=NOW),
    }


def baseline_sql(pg: bool) -> str:
    """The year's traffic by gate and direction straight from the per-trip facts."""
    if pg:
        get = "fact->>'{}'"
        num = "(fact->>'{}')::bigint"
    else:
        get = "json_extract(fact, '$.{}')"
        num = "json_extract(fact, '$.{}')"
    return (f"SELECT gate, {get.format('direction')} AS d, count(*), "
            f"sum({num.format('weight_kg')}), sum({num.format('value_usd_cents')}), "
            f"count(DISTINCT enterprise) FROM report_facts "
            f"WHERE crossed_at >= :a AND crossed_at < :b GROUP BY gate, d")


def time_reports(url: str, repeat: int, enterprise: str) -> dict[str, float]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    network = networks.parse(networks.read_file(DEFAULT_NETWORK_FILE))
    out: dict[str, float] = {}
    with sessions() as s:
        assert s.get(ReportTarget, 1) is not None
        for name, run in [*_reports(enterprise).items()]:
            run(s, network)  # warm-up
            took = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                run(s, network)
                took.append((time.perf_counter() - t0) * 1000)
            out[name] = round(statistics.median(took), 1)
        sql = text(baseline_sql(engine.dialect.name == "postgresql"))
        args = {"a": datetime(2025, 1, 1, tzinfo=LOCAL_TZ), "b": datetime(2026, 1, 1,
                                                                        tzinfo=LOCAL_TZ)}
        s.execute(sql, args).all()
        took = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            s.execute(sql, args).all()
            took.append((time.perf_counter() - t0) * 1000)
        out["baseline_facts_groupby"] = round(statistics.median(took), 1)
    engine.dispose()
    return out


# --- main ---------------------------------------------------------------------------------


def _pg_url(schema: str) -> str:
    url = make_url(PG_BASE)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)


def _databases(backends: list[str], tmp: Path, keep: bool = False
               ) -> Iterator[tuple[str, str, Callable[[], None]]]:
    if "pg" in backends:
        schema = f"bench_reports_{uuid.uuid4().hex[:8]}"
        admin = make_engine(PG_BASE)
        with admin.connect() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
            c.commit()

        def drop() -> None:
            if keep:
                print(f"kept: {_pg_url(schema)}")
                return
            with admin.connect() as c:
                c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                c.commit()
            admin.dispose()

        yield "pg", _pg_url(schema), drop
    if "sqlite" in backends:
        path = tmp / "reports.db"
        yield "sqlite", f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--per-day", type=int, default=1500)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--backends", default="sqlite,pg")
    ap.add_argument("--keep", action="store_true",
                    help="keep the PostgreSQL schema (its URL is printed) to look at queries")
    args = ap.parse_args()
    backends = args.backends.split(",")
    periods = months(date(2025, 1, 1), args.days)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {args.days} days at about {args.per_day} trucks/day")
    t0 = time.perf_counter()
    merged: stats.Contributions = {}
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for part in pool.map(month_totals, [(f, d, args.per_day) for f, d in periods]):
            for k, v in part.items():  # a month's trucks declared the month before
                row = merged.get(k)
                merged[k] = v if row is None else tuple(a + b for a, b in zip(row, v,
                                                                             strict=True))
    totals = [merged]
    print(f"summary tables computed in {time.perf_counter() - t0:.0f} s "
          f"({sum(len(t) for t in totals):,} rows)")
    enterprise = month_facts(periods[0][0], 1, args.per_day)[0]["enterprise"]
    figures: dict[str, Any] = {}
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, url, cleanup in _databases(backends, Path(tmp), args.keep):
            try:
                print(f"{name}: loading", flush=True)
                t1 = time.perf_counter()
                counts = load(url, periods, args.per_day, totals)
                print(f"{name}: loaded in {time.perf_counter() - t1:.0f} s", flush=True)
                figures.update(counts)
                results[name] = time_reports(url, args.repeat, enterprise)
            finally:
                cleanup()
    names = list(next(iter(results.values())))
    print(f"\n{'report (median ms)':<36}" + "".join(f"{b:>12}" for b in results))
    for n in names:
        print(f"{n:<36}" + "".join(f"{results[b][n]:>12.1f}" for b in results))
    summary: dict[str, Any] = {"trips": figures.get("trips"), "events": figures.get("events")}
    for b, label in (("pg", "pg"), ("sqlite", "sqlite")):
        if b in results:
            worst = max(v for k, v in results[b].items() if k != "baseline_facts_groupby")
            summary[f"max_report_ms_{label}"] = worst
            base = results[b]["baseline_facts_groupby"]
            ratio = base / max(results[b]["traffic_year_by_gate"], 0.01)
            print(f"{b}: slowest report {worst:.1f} ms; the year's traffic by gate from the "
                  f"summary tables {results[b]['traffic_year_by_gate']:.1f} ms against "
                  f"{base:.1f} ms for one GROUP BY over the per-trip facts ({ratio:.1f}x)")
            summary[f"baseline_ms_{label}"] = base
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
