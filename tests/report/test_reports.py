"""Reports reproduce, from a generated log with known contents, every figure: vehicles by
gate and direction, goods, declarations, enterprises, fees, times, holds, peaks, each against
the year before, month-to-date, year-to-date, and the run rate against a target."""

from __future__ import annotations

import io
import math
from collections import Counter, defaultdict
from datetime import date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader

from borderflow.clock import LOCAL_TZ
from borderflow.config import Settings
from borderflow.domain import report as stats
from borderflow.report import exports, facts, synthetic
from borderflow.store.session import make_engine, make_session_factory
from tests.conftest import NOW

FIRST, DAYS = date(2025, 1, 1), 90  # 2025 Q1, and the same in 2026 (NOW is November 2026)


def _load(settings: Settings) -> list[dict[str, Any]]:
    engine = make_engine(settings.database_url)
    out: list[dict[str, Any]] = []
    with make_session_factory(engine)() as session:
        for year, seed in ((2025, 1), (2026, 2)):
            rows = list(synthetic.facts(FIRST.replace(year=year), DAYS, seed=seed, per_day=12,
                                        enterprises=15, tz=LOCAL_TZ))
            facts.load(session, ((f"s{year}:{i}", f) for i, f in enumerate(rows)), now=NOW)
            out.extend(rows)
        session.commit()
    engine.dispose()
    return out


@pytest.fixture
def log(settings: Settings) -> list[dict[str, Any]]:
    return _load(settings)


def _day(value: str | None) -> date | None:
    return None if value is None else datetime.fromisoformat(value).astimezone(LOCAL_TZ).date()


def _expected(log: list[dict[str, Any]], start: date, end: date, **only: str
              ) -> dict[str, int]:
    """The figures counted the plain way, fact by fact."""
    out: Counter[str] = Counter()
    enterprises = set()
    for f in log:
        if any(f[k] != v for k, v in only.items()):
            continue

        def within(name: str, fact: dict[str, Any] = f) -> bool:
            d = _day(fact[name])
            return d is not None and start <= d <= end

        if within("declared_at"):
            out["vehicles_declared"] += 1
            out["declarations"] += int(f["declaration"])
            enterprises.add(f["enterprise"])
        if within("called_at"):
            out["vehicles_called"] += 1
        if within("crossed_at"):
            out["vehicles_crossed"] += 1
            out[f"{f['direction']}_crossed"] += 1
            out["tonnage_kg"] += f["weight_kg"]
            out["turnover_usd_cents"] += f["value_usd_cents"]
            enterprises.add(f["enterprise"])
        if within("rejected_at"):
            out["vehicles_rejected"] += 1
        if f["fee_at"] and within("fee_at"):
            out["fees_vnd"] += f["fee_vnd"]
        out["no_shows"] += sum(1 for t in f["no_shows"] if start <= _day(t) <= end)  # type: ignore[operator]
    out["active_enterprises"] = len(enterprises)
    return dict(out)


def _pct(now: int, before: int) -> float | None:
    return None if before == 0 else round((now - before) * 100 / before, 1)


def test_traffic_report_reproduces_the_log(client: TestClient, auth: Any,
                                           log: list[dict[str, Any]]) -> None:
    r = client.get("/api/v1/reports/traffic", params={"from": "2026-02-10", "to": "2026-03-20",
                                                      "by": "gate"},
                   headers=auth("regulator"))
    assert r.status_code == 200, r.text
    doc = r.json()
    now = _expected(log, date(2026, 2, 10), date(2026, 3, 20))
    before = _expected(log, date(2025, 2, 10), date(2025, 3, 20))
    assert now["vehicles_crossed"] > 300  # the log is not trivially empty
    for name, fig in doc["total"].items():
        assert fig["value"] == now.get(name, 0), name
        assert fig["previous"] == before.get(name, 0), name
        assert fig["change"] == now.get(name, 0) - before.get(name, 0), name
        assert fig["change_pct"] == _pct(now.get(name, 0), before.get(name, 0)), name
    for row in doc["rows"]:
        gate_now = _expected(log, date(2026, 2, 10), date(2026, 3, 20), gate=row["key"])
        assert row["vehicles_crossed"]["value"] == gate_now["vehicles_crossed"]
        assert row["active_enterprises"]["value"] == gate_now["active_enterprises"]
    assert sum(r["vehicles_crossed"]["value"] for r in doc["rows"]) \
        == doc["total"]["vehicles_crossed"]["value"]
    # month to date and year to date at the period's end, against the year before
    mtd = _expected(log, date(2026, 3, 1), date(2026, 3, 20))
    ytd, ytd_before = (_expected(log, date(2026, 1, 1), date(2026, 3, 20)),
                       _expected(log, date(2025, 1, 1), date(2025, 3, 20)))
    assert doc["month_to_date"]["vehicles_crossed"]["value"] == mtd["vehicles_crossed"]
    assert doc["year_to_date"]["turnover_usd_cents"]["value"] == ytd["turnover_usd_cents"]
    assert doc["year_to_date"]["turnover_usd_cents"]["change_pct"] == _pct(
        ytd["turnover_usd_cents"], ytd_before["turnover_usd_cents"])


def test_filters_and_breakdowns_agree(client: TestClient, auth: Any,
                                      log: list[dict[str, Any]]) -> None:
    params = {"from": "2025-01-01", "to": "2025-03-31", "direction": "export",
              "goods_group": "fresh-fruit", "by": "enterprise"}
    doc = client.get("/api/v1/reports/traffic", params=params, headers=auth("customs")).json()
    want = _expected(log, date(2025, 1, 1), date(2025, 3, 31), direction="export",
                     goods_group="fresh-fruit")
    assert doc["total"]["vehicles_crossed"]["value"] == want["vehicles_crossed"]
    assert doc["total"]["active_enterprises"]["value"] == want["active_enterprises"]
    per_enterprise = Counter(f["enterprise"] for f in log
                             if f["direction"] == "export" and f["goods_group"] == "fresh-fruit"
                             and _day(f["crossed_at"]) is not None
                             and date(2025, 1, 1) <= _day(f["crossed_at"]) <= date(2025, 3, 31))  # type: ignore[operator]
    got = {r["key"]: r["vehicles_crossed"]["value"] for r in doc["rows"]
           if r["vehicles_crossed"]["value"]}
    assert got == dict(per_enterprise)
    for by, only in (("gate", {"direction": "import"}), ("direction", {}),
                     ("goods_group", {"gate": "huu-nghi"}), (None, {"gate": "chi-ma"})):
        doc = client.get("/api/v1/reports/traffic", params={
            "from": "2025-02-01", "to": "2025-03-31", **({"by": by} if by else {}), **only},
            headers=auth("regulator")).json()
        want = _expected(log, date(2025, 2, 1), date(2025, 3, 31), **only)
        assert doc["total"]["active_enterprises"]["value"] == want["active_enterprises"], by
        for row in doc["rows"]:
            got = _expected(log, date(2025, 2, 1), date(2025, 3, 31), **only,
                            **{str(by): row["key"]})
            assert row["active_enterprises"]["value"] == got["active_enterprises"], (by, row)
    routes = client.get("/api/v1/reports/traffic", params={
        "from": "2025-01-01", "to": "2025-03-31", "by": "route"},
        headers=auth("regulator")).json()
    kinds = {r["key"] for r in routes["rows"]}
    assert kinds == {"international", "dedicated_route", "main", "clearance_route"}


def test_an_enterprise_gets_only_its_own_figures(client: TestClient, auth: Any,
                                                 log: list[dict[str, Any]],
                                                 settings: Settings) -> None:
    me = client.get("/api/v1/me", headers=auth("enterprise")).json()
    mine = me.get("enterprise_tax_code") or ""
    other = next(f["enterprise"] for f in log if f["enterprise"] != mine[:10])
    doc = client.get("/api/v1/reports/traffic", params={
        "from": "2025-01-01", "to": "2025-03-31", "enterprise": other, "by": "enterprise"},
        headers=auth("enterprise")).json()
    assert doc["filters"]["enterprise"] == mine[:10]
    assert all(r["key"] == mine[:10] for r in doc["rows"])
    assert doc["total"]["vehicles_crossed"]["value"] == 0  # the generated log is not theirs
    denied = client.get("/api/v1/reports/holds", params={"from": "2025-01-01",
                                                         "to": "2025-03-31"},
                        headers=auth("enterprise"))
    assert denied.status_code == 403


def _nearest_rank(values: list[int], q: float) -> int:
    return sorted(values)[max(1, math.ceil(q * len(values))) - 1]


def test_times_report_means_and_percentiles(client: TestClient, auth: Any,
                                            log: list[dict[str, Any]]) -> None:
    doc = client.get("/api/v1/reports/times", params={"from": "2025-03-01", "to": "2025-03-31",
                                                      "gate": "huu-nghi"},
                     headers=auth("regulator")).json()
    crossed = [f for f in log if f["gate"] == "huu-nghi" and _day(f["crossed_at"])
               and date(2025, 3, 1) <= _day(f["crossed_at"]) <= date(2025, 3, 31)]  # type: ignore[operator]
    customs = [f["steps"]["customs"] for f in crossed if "customs" in f["steps"]]
    got = doc["total"]["customs"]
    assert got["n"] == len(customs)
    assert got["mean_minutes"] == round(sum(customs) / len(customs) / 60, 1)
    exact = _nearest_rank(customs, 0.5)
    assert exact < 3600  # below an hour: within a minute
    assert abs(got["p50_minutes"] * 60 - exact) <= 60
    system = [int((datetime.fromisoformat(f["left_at"])
                   - datetime.fromisoformat(f["arrived_at"])).total_seconds()) for f in crossed
              if f["left_at"]]
    assert doc["total"]["system"]["mean_minutes"] == round(sum(system) / len(system) / 60, 1)
    p90 = _nearest_rank(system, 0.9)
    band = stats.bucket_width(stats.bucket(p90))
    assert abs(doc["total"]["system"]["p90_minutes"] * 60 - p90) <= band / 2


def test_holds_and_peaks(client: TestClient, auth: Any, log: list[dict[str, Any]]) -> None:
    span = {"from": "2025-01-01", "to": "2025-03-31"}
    doc = client.get("/api/v1/reports/holds", params=span, headers=auth("borderguard")).json()
    q1 = [f for f in log if f["declared_at"] < "2025-04"]
    holds = Counter((h["step"], h["reason"]) for f in q1 for h in f["holds"]
                    if date(2025, 1, 1) <= _day(h["at"]) <= date(2025, 3, 31))  # type: ignore[operator]
    assert {(h["step"], h["reason_code"]): h["count"] for h in doc["holds"]} == dict(holds)
    rejects = Counter((f["reject_step"], f["reject_reason"]) for f in q1
                      if f["rejected_at"] and date(2025, 1, 1) <= _day(f["rejected_at"])  # type: ignore[operator]
                      <= date(2025, 3, 31))
    assert {(h["step"], h["reason_code"]): h["count"] for h in doc["rejections"]} \
        == dict(rejects)
    peaks = client.get("/api/v1/reports/peaks", params=span, headers=auth("regulator")).json()
    per_day = Counter(_day(f["crossed_at"]) for f in log if f["crossed_at"])
    per_hour: Counter[tuple[date, int]] = Counter()
    for f in log:
        if f["crossed_at"]:
            at = datetime.fromisoformat(f["crossed_at"]).astimezone(LOCAL_TZ)
            per_hour[(at.date(), at.hour)] += 1
    best_day = max((d for d in per_day if d is not None and d.year == 2025),
                   key=lambda d: (per_day[d], -d.toordinal()))
    assert peaks["peak_day"] == {"date": best_day.isoformat(), "vehicles": per_day[best_day]}
    best_hour = max((k for k in per_hour if k[0].year == 2025),
                    key=lambda k: (per_hour[k], -k[0].toordinal(), -k[1]))
    assert peaks["peak_hour"] == {"date": best_hour[0].isoformat(), "hour": best_hour[1],
                                  "vehicles": per_hour[best_hour]}


def test_targets_and_run_rate(client: TestClient, auth: Any, log: list[dict[str, Any]]) -> None:
    put = client.put("/api/v1/reports/targets/2025/turnover_usd",
                     json={"value": 65_000_000, "note": "provincial target"},
                     headers=auth("regulator"))
    assert put.status_code == 200, put.text
    refused = client.put("/api/v1/reports/targets/2025/happiness", json={"value": 1},
                         headers=auth("regulator"))
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "indicator"
    assert client.put("/api/v1/reports/targets/2025/turnover_usd", json={"value": 5},
                      headers=auth("customs")).status_code == 403
    doc = client.get("/api/v1/reports/targets", params={"year": 2025, "as_of": "2025-03-31"},
                     headers=auth("regulator")).json()
    achieved = _expected(log, date(2025, 1, 1), date(2025, 3, 31))["turnover_usd_cents"] // 100
    row = doc["rows"][0]
    assert (row["indicator"], row["target"], row["achieved"]) == ("turnover_usd", 65_000_000,
                                                                  achieved)
    assert row["months_left"] == 9
    assert row["per_month_needed"] == round((65_000_000 - achieved) / 9, 1)
    assert row["share_pct"] == round(achieved * 100 / 65_000_000, 1)


def test_bad_report_requests_name_the_field(client: TestClient, auth: Any) -> None:
    cases = [({"from": "2026-03-01", "to": "2026-02-01"}, "to"),
             ({"from": "2026-03-01", "to": "2026-03-02", "gate": "nowhere"}, "gate"),
             ({"from": "2026-03-01", "to": "2026-03-02", "by": "colour"}, "by"),
             ({"from": "2026-03-01", "to": "2026-03-02", "format": "docx"}, "format"),
             ({"from": "yesterday", "to": "2026-03-02"}, "from"),
             ({"from": "2020-01-01", "to": "2026-03-02"}, "to")]
    for params, field in cases:
        r = client.get("/api/v1/reports/traffic", params=params, headers=auth("regulator"))
        assert r.status_code == 422, (params, r.text)
        assert field in [f["field"] for f in r.json()["error"]["fields"]], (params, r.json())
    assert client.get("/api/v1/reports/traffic", params={"from": "2026-03-01",
                                                         "to": "2026-03-02"}).status_code == 401


def test_reports_as_files_in_three_languages(client: TestClient, auth: Any,
                                             log: list[dict[str, Any]]) -> None:
    span = {"from": "2026-01-01", "to": "2026-03-31", "by": "gate"}
    csv_r = client.get("/api/v1/reports/traffic", params={**span, "format": "csv", "lang": "en"},
                       headers=auth("regulator"))
    assert csv_r.headers["content-type"].startswith("text/csv")
    text = csv_r.content.decode("utf-8-sig")
    assert "Traffic and goods report" in text
    assert "Vehicles crossed" in text
    xlsx = client.get("/api/v1/reports/traffic", params={**span, "format": "xlsx", "lang": "vi"},
                      headers=auth("regulator"))
    book = load_workbook(io.BytesIO(xlsx.content))
    assert len(book.sheetnames) == 4
    sheet = book[book.sheetnames[0]]
    assert sheet["A1"].value == "Báo cáo lưu lượng phương tiện và hàng hóa"
    crossed_row = next(r for r in sheet.iter_rows(values_only=True)
                       if r[0] == "Xe đã qua cửa khẩu")
    want = _expected(log, date(2026, 1, 1), date(2026, 3, 31))["vehicles_crossed"]
    assert crossed_row[1] == want  # a number, not text
    pdf = client.get("/api/v1/reports/traffic", params={**span, "format": "pdf", "lang": "zh"},
                     headers=auth("regulator"))
    assert pdf.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.content))
    page = reader.pages[0].extract_text()
    assert "车辆与货物流量报告" in page
    assert any(reader.pages[0].images)  # the chart


def test_csv_cells_never_run_as_formulas() -> None:
    doc = {"report": "holds", "from": "2026-01-01", "to": "2026-01-02", "filters": {},
           "by": None, "holds": [{"step": "=HYPERLINK(\"http://x\")", "reason_code": "+1",
                                  "count": 3}],
           "rejections": [{"step": "@SUM(A1)", "reason_code": "-2", "count": 1}],
           "total_holds": 3, "total_rejections": 1, "no_shows": 0}
    text = exports.to_csv(doc, "en").decode("utf-8-sig")
    for cell in ("'=HYPERLINK", "'+1", "'@SUM", "'-2"):
        assert cell in text
    assert "'+1,3," in text  # numbers stay numbers


def test_rebuild_from_the_event_log_gives_the_same_tables(
        client: TestClient, auth: Any, settings: Settings) -> None:
    """A trip through the procedure, then the tables rebuilt from its events are the same."""
    from sqlalchemy import select

    from borderflow.store.models import StatCount, StatDuration, StatEnterpriseCount, StatReason
    from tests.report.test_trip_reports import run_trip

    run_trip(client, auth)
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)

    def snapshot() -> dict[str, Any]:
        with sessions() as s:
            out: dict[str, Any] = defaultdict(set)
            for model in (StatCount, StatEnterpriseCount, StatDuration, StatReason):
                for row in s.scalars(select(model)):
                    values = {c.name: getattr(row, c.name) for c in model.__table__.columns
                              if c.name != "id"}
                    if any(v for k, v in values.items() if k in ("vehicles", "n", "seconds",
                                                                  "declarations")):
                        out[model.__tablename__].add(tuple(sorted(values.items())))
            return dict(out)

    before = snapshot()
    assert before["stat_counts"]
    with sessions() as s:
        report = facts.rebuild(s, now=NOW)
        s.commit()
    assert report["trips"] == 1
    assert snapshot() == before
    engine.dispose()


def test_times_and_holds_against_the_year_before(client: TestClient, auth: Any,
                                                 log: list[dict[str, Any]]) -> None:
    span = {"from": "2026-01-01", "to": "2026-03-31"}
    doc = client.get("/api/v1/reports/times", params=span, headers=auth("regulator")).json()

    def mean_customs(year: int) -> float:
        vals = [f["steps"]["customs"] for f in log if "customs" in f["steps"]
                and f["crossed_at"] and _day(f["crossed_at"]).year == year]  # type: ignore[union-attr]
        return round(sum(vals) / len(vals) / 60, 1)

    customs = doc["total"]["customs"]
    assert customs["mean_minutes"] == mean_customs(2026)
    assert customs["previous_mean_minutes"] == mean_customs(2025)
    assert customs["mean_change_pct"] == round(
        (mean_customs(2026) - mean_customs(2025)) * 100 / mean_customs(2025), 1)
    holds = client.get("/api/v1/reports/holds", params=span, headers=auth("regulator")).json()
    before = sum(1 for f in log for h in f["holds"] if _day(h["at"]).year == 2025)  # type: ignore[union-attr]
    now = sum(1 for f in log for h in f["holds"] if _day(h["at"]).year == 2026)  # type: ignore[union-attr]
    assert holds["compared"]["total_holds"] == {"value": now, "previous": before,
                                                "change": now - before,
                                                "change_pct": _pct(now, before)}
