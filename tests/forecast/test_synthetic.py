"""The synthetic Lang Son history: the scenario lab's calibrated demand over the calendar."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from borderflow.sim import synthetic
from borderflow.sim.model import GOODS
from borderflow.sim.synthetic import calendar_periods, lang_son_history, lunar_new_year

# March 2026 (the baseline's own fortnight) to March 2027: a fruit season, Golden Week, Tet.
START = date(2026, 3, 1)
DAYS = 400


@pytest.fixture(scope="module")
def year() -> list[dict[str, object]]:
    return lang_son_history(START, DAYS, seed=7)


def per_day(rows: list[dict[str, object]], direction: str | None = None) -> Counter[date]:
    out: Counter[date] = Counter()
    for r in rows:
        if direction is None or r["direction"] == direction:
            day = r["date"]
            assert isinstance(day, date)
            out[day] += int(str(r["trucks"]))
    return out


def mean(days: Counter[date], first: date, n: int) -> float:
    return sum(days[first + timedelta(days=i)] for i in range(n)) / n


def test_rows_are_the_history_format(year: list[dict[str, object]]) -> None:
    assert {tuple(r) for r in year} == {("date", "crossing", "direction", "trucks")}
    assert {r["direction"] for r in year} == {"import", "export"}
    gates = synthetic._baseline().scenario.demand.gates
    for direction in ("import", "export"):
        shown = {r["crossing"] for r in year if r["direction"] == direction}
        assert shown == set(gates[direction])
    assert len(year) == DAYS * (len(gates["import"]) + len(gates["export"]))
    assert all(isinstance(r["trucks"], int) and r["trucks"] >= 0 for r in year)


def test_the_same_seed_gives_the_same_history() -> None:
    a = lang_son_history(date(2027, 1, 1), 40, seed=3)
    assert a == lang_son_history(date(2027, 1, 1), 40, seed=3)
    assert a != lang_son_history(date(2027, 1, 1), 40, seed=4)


def test_ordinary_weeks_are_near_the_baseline(year: list[dict[str, object]]) -> None:
    days = per_day(year)
    exports = per_day(year, "export")
    for week in range(1, 4):  # 9 to 29 March 2026, no holiday on either side
        first = date(2026, 3, 2) + timedelta(weeks=week)
        assert 1300 <= mean(days, first, 7) <= 1600
        assert 0.22 <= mean(exports, first, 7) / mean(days, first, 7) <= 0.32
    # the weekday pattern: Mondays busier than Sundays
    mondays = sum(days[date(2026, 3, 9) + timedelta(weeks=k)] for k in range(3))
    sundays = sum(days[date(2026, 3, 15) + timedelta(weeks=k)] for k in range(3))
    assert mondays > 1.2 * sundays


def test_tet_collapses_after_a_surge(year: list[dict[str, object]]) -> None:
    days = per_day(year)
    tet = lunar_new_year(2027)
    assert tet == date(2027, 2, 6)
    ordinary = mean(days, date(2026, 11, 9), 28)
    before = mean(days, tet - timedelta(days=17), 14)
    during = mean(days, tet, 7)
    assert before > 1.15 * ordinary
    assert during < 0.35 * before
    assert mean(days, tet + timedelta(days=21), 14) > 0.9 * ordinary  # recovered


def test_tet_follows_the_lunar_calendar() -> None:
    for year in (2024, 2025, 2028):
        tet = lunar_new_year(year)
        periods = calendar_periods(date(year - 1, 11, 1), 150)
        collapse = [p for p in periods if p.start <= tet <= p.end]
        assert len(collapse) == 1
        assert collapse[0].factor == pytest.approx(0.25)
        assert collapse[0].start <= tet - timedelta(days=2)
        surge = [p for p in periods if p.end < collapse[0].start and p.factor >= 1.2]
        assert surge
        assert surge[-1].export_factor == pytest.approx(1.2)
    golden = [p for p in calendar_periods(date(2028, 9, 20), 30) if p.factor == 0.55]
    assert golden
    assert golden[0].start <= date(2028, 10, 1)
    assert golden[-1].end >= date(2028, 10, 7)


def test_gate_shares_are_the_baselines(year: list[dict[str, object]]) -> None:
    """The baseline's shares, as the lab applies them: a truck goes to a gate that permits its
    goods (the routes that take no machinery get none of the ordinary trucks)."""
    base = synthetic._baseline()
    d = base.scenario.demand
    for direction in ("export", "import"):
        perishable = d.perishable_share[direction]
        groups = {"fresh-fruit": perishable,
                  "cassava-roots": (1 - perishable) * d.quarantine_share,
                  "machinery": (1 - perishable) * (1 - d.quarantine_share)}
        shares = d.gates[direction]
        expected: dict[str, float] = {}
        for group, p in groups.items():
            takers = [r.gate.code for r in base.routes if r.direction == direction
                      and r.gate.code in shares and r.gate.permits_group(group)]
            total = sum(shares[g] for g in takers)
            for g in takers:
                expected[g] = expected.get(g, 0.0) + p * shares[g] / total
        got: Counter[str] = Counter()
        for r in year:
            day = r["date"]
            assert isinstance(day, date)
            if r["direction"] == direction and date(2026, 3, 9) <= day < date(2026, 4, 1):
                got[str(r["crossing"])] += int(str(r["trucks"]))
        n = sum(got.values())
        for gate, share in expected.items():
            assert got[gate] / n == pytest.approx(share, abs=0.015), gate
        assert max(got, key=lambda g: got[g]) == max(shares, key=lambda g: shares[g])


def test_a_fruit_season_raises_perishable_exports() -> None:
    rows = lang_son_history(date(2026, 3, 9), 120, seed=5, goods=True)
    assert set(GOODS) == {r["goods_group"] for r in rows}
    fruit: Counter[int] = Counter()
    exports: Counter[int] = Counter()
    for r in rows:
        day = r["date"]
        assert isinstance(day, date)
        if r["direction"] == "export":
            exports[day.month] += int(str(r["trucks"]))
            if r["goods_group"] == "fresh-fruit":
                fruit[day.month] += int(str(r["trucks"]))
    march = exports[3] / 23
    june = exports[6] / 30
    assert june > 1.3 * march
    assert fruit[6] / 30 > 1.6 * fruit[3] / 23
    assert sum(exports.values()) == sum(per_day(rows, "export").values())
