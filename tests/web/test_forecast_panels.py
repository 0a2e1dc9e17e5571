"""The forecast of the next seven days on the regulator's console (per gate and direction, with
the 80 % and 95 % intervals, the gate's places, the days over them marked) with the advice for
those days, and on the public board (per gate and direction, the 80 % interval, no advice):
gate names, never codes, and numbers and days in the page's language."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from borderflow.config import DEFAULT_NETWORK_FILE, Settings
from borderflow.demand import advice, service
from borderflow.domain.access import SYSTEM
from borderflow.network import service as networks
from borderflow.report import history
from borderflow.store.models import Forecast, ForecastAdvice, ForecastRun
from borderflow.store.session import make_engine, make_session_factory
from borderflow.web import console
from borderflow.web.i18n import Formatter
from tests.conftest import NOW, TODAY
from tests.web.test_driver import _login, visible

WEEK = [TODAY + timedelta(days=i) for i in range(1, 8)]
WED = date(2026, 11, 25)
CODES = ("huu-nghi", "chi-ma", "tan-thanh-dedicated")


def noisy_history(days: int = 150, seed: int = 7) -> str:
    """Daily totals up to yesterday: Huu Nghi exports above the gate's places (about 340 a
    weekday against some 270), its imports and Chi Ma's exports well within theirs."""
    rng = np.random.default_rng(seed)
    lines = ["date,gate,direction,vehicles"]
    for i in range(days):
        day = TODAY - timedelta(days=days - i)
        week = 1.0 if day.weekday() < 5 else 0.85
        lines.append(f"{day},huu-nghi,export,{round(rng.normal(345 * week, 22))}")
        lines.append(f"{day},huu-nghi,import,{round(rng.normal(620 * week, 40))}")
        lines.append(f"{day},chi-ma,export,{round(rng.normal(42 * week, 5))}")
    return "\n".join(lines) + "\n"


def forecast_with_advice(settings: Settings) -> int:
    """A history imported, a forecast run made and its advice stored, as the refresh does;
    returns the run's id."""
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as s:
            network = networks.in_force(s, NOW)
            history.import_file(s, network, kind="daily", data=noisy_history().encode(),
                                filename="daily.csv", actor=SYSTEM, now=NOW)
            s.commit()
            # the refresh stores the run's advice with it
            run = service.refresh(s, network, now=NOW, actor=SYSTEM, trigger="on_demand")
            s.commit()
            return run.id
    finally:
        engine.dispose()


def _session(settings: Settings) -> tuple[Any, Session]:
    engine = make_engine(settings.database_url)
    return engine, make_session_factory(engine)()


def stored_week(settings: Settings) -> int:
    """A run written directly, with round figures: Huu Nghi imports forecast 1,234.4 (80 %:
    1,100.2 - 1,380.4) every day, over its places on Wednesday 25 November, with the advice
    for that day; Chi Ma exports 56 (48 - 63)."""
    engine, s = _session(settings)
    try:
        run = ForecastRun(created_at=NOW, model_version="test", origin=WEEK[0], horizon=28,
                          trained_from=TODAY - timedelta(days=100),
                          trained_to=TODAY - timedelta(days=1), series=2, seconds=1.0,
                          trigger="on_demand", actor="system")
        s.add(run)
        s.flush()
        rows = []
        for i, day in enumerate(WEEK):
            rows.append({"run_id": run.id, "gate": "huu-nghi", "direction": "import",
                         "day": day, "horizon": i + 1, "mean": 1234.4, "lo80": 1100.2,
                         "hi80": 1380.4, "lo95": 1020.0, "hi95": 1460.0, "declared": 0})
            rows.append({"run_id": run.id, "gate": "chi-ma", "direction": "export",
                         "day": day, "horizon": i + 1, "mean": 56.0, "lo80": 48.0,
                         "hi80": 63.0, "lo95": 44.0, "hi95": 67.0, "declared": 0})
        s.execute(insert(Forecast), rows)
        places = []
        for day in WEEK:
            over = day == WED
            places.append({
                "run_id": run.id, "day": day, "gate": "huu-nghi", "direction": "import",
                "mean": 1234.4, "hi80": 1380.4, "capacity": 992 if over else 1300,
                "backlog_mean": 260.0 if over else None,
                "backlog_half_width": 12.0 if over else None,
                "remedies": [
                    {"kind": "extra_hours", "hours": 2.0, "moves": [], "backlog": [18.0, 4.0],
                     "absorbs": True},
                    {"kind": "shift", "hours": 0.0,
                     "moves": [["chi-ma", 40], ["tan-thanh-dedicated", 28]],
                     "backlog": [30.0, 5.0], "absorbs": False}] if over else []})
            places.append({"run_id": run.id, "day": day, "gate": "chi-ma",
                           "direction": "export", "mean": 56.0, "hi80": 63.0, "capacity": 88,
                           "backlog_mean": None, "backlog_half_width": None, "remedies": []})
        s.execute(insert(ForecastAdvice), places)
        s.commit()
        return run.id
    finally:
        s.close()
        engine.dispose()


def _console(client: TestClient, lang: str) -> str:
    page = client.get("/console", params={"lang": lang})
    assert page.status_code == 200, page.text[:300]
    return str(page.text)


def _panel(html: str) -> str:
    start = html.index('id="forecast"')
    return html[start:html.index("</section>", start)]


def _no_codes(text: str) -> None:
    for code in CODES:
        assert code not in text, code


def test_without_a_forecast_the_console_says_so_and_the_board_shows_none(
        client: TestClient) -> None:
    _login(client, "regulator")
    for lang, sentence in (("vi", "Chưa có dự báo"), ("zh", "尚无预测"),
                           ("en", "No forecast has been made yet")):
        panel = _panel(_console(client, lang))
        assert 'id="forecast-none"' in panel
        assert sentence in visible(f"<main>{panel}</main>")
        assert "<table" not in panel
    client.cookies.clear()
    board = client.get("/board", params={"lang": "vi"}).text
    assert 'class="forecast"' not in board


def test_the_console_shows_the_week_in_the_pages_language_and_the_advice(
        client: TestClient, settings: Settings) -> None:
    stored_week(settings)
    _login(client, "regulator")
    vi = _panel(_console(client, "vi"))
    said = visible(f"<main>{vi}</main>")
    _no_codes(said)
    assert "Dự báo 7 ngày tới" in said
    # the seven days, in Vietnamese
    assert re.findall(r'<th scope="col" data-day="([\d-]+)">', vi) == [
        d.isoformat() for d in WEEK]
    assert "Th 4, 25 thg 11" in said
    # per gate and direction, by name; counts the Vietnamese way (1.234, not 1,234)
    row = vi[vi.index('id="forecast-huu-nghi-import"'):]
    row = row[:row.index("</tr>")]
    assert "Hữu Nghị" in row
    assert "Nhập khẩu" in row
    assert '<b data-figure="mean">1.234</b>' in row
    assert '<span class="band" data-figure="interval80">1.100–1.380</span>' in row
    assert "95%: 1.020–1.460" in row
    # Wednesday is over the gate's 992 places, the other days within their 1.300
    cells = {day: kind for kind, day in re.findall(r'<td class="(\w*)" data-day="([\d-]+)"',
                                                     row)}
    assert cells == {d.isoformat(): ("over" if d == WED else "") for d in WEEK}
    assert "992 chỗ" in row
    assert "vượt năng lực" in row
    # the advice line for Wednesday: extra hours and the shift to gates with room, by name
    [line] = re.findall(r"<li>(.*?)</li>", vi[vi.index('id="forecast-advice"'):], re.S)
    assert line == (
        "Th 4, 25 thg 11: Hữu Nghị, nhập khẩu: dự báo 1.234 xe (80%: 1.100–1.380) so với "
        "992 chỗ: kéo dài giờ làm việc thêm 2 giờ (tồn đọng lúc nửa đêm 18 thay vì 260), "
        "hoặc chuyển 40 xe sang Chi Ma và 28 xe sang Tân Thanh (chuyên dụng) (vẫn còn 30 "
        "xe chờ lúc nửa đêm thay vì 260)")

    zh = _panel(_console(client, "zh"))
    said = visible(f"<main>{zh}</main>")
    _no_codes(said)
    assert "未来7天预测" in said
    assert '<b data-figure="mean">1,234</b>' in zh  # Chinese groups with a comma
    [line] = re.findall(r"<li>(.*?)</li>", zh[zh.index('id="forecast-advice"'):], re.S)
    assert line.startswith("11月25日周三：友谊，进口：预测1,234辆（80%：1,100–1,380），车位992个：")
    assert "延长通关时间2小时（午夜积压18辆，而非260辆）" in line
    assert "或分流40辆转至支马和28辆转至新清（专用道）" in line

    en = _panel(_console(client, "en"))
    [line] = re.findall(r"<li>(.*?)</li>", en[en.index('id="forecast-advice"'):], re.S)
    assert line.startswith("Wed 25 Nov: Huu Nghi, import: forecast 1,234 trucks (80 %: "
                           "1,100–1,380) against 992 places: extend hours by 2 h (backlog by "
                           "midnight 18 instead of 260), or send 40 to Chi Ma and 28 to Tan "
                           "Thanh (dedicated)")


def test_the_advice_is_computed_with_the_run_and_shown_for_an_over_capacity_day(
        client: TestClient, settings: Settings) -> None:
    run_id = forecast_with_advice(settings)
    engine, s = _session(settings)
    try:
        found = advice.advice_for(s, run_id)
        kept = s.scalars(select(ForecastAdvice).where(ForecastAdvice.run_id == run_id)).all()
    finally:
        s.close()
        engine.dispose()
    # every day of the week ahead of the three forecast series has its places
    assert {(r.gate, r.direction) for r in kept} == {
        ("huu-nghi", "export"), ("huu-nghi", "import"), ("chi-ma", "export")}
    assert {r.day for r in kept} == set(WEEK)
    assert all(r.capacity > 0 for r in kept)
    # Huu Nghi's exports are over its places: extra hours that absorb them, and Chi Ma's room
    assert found
    assert {(a.gate, a.direction) for a in found} == {("huu-nghi", "export")}
    for a in found:
        assert a.mean > a.capacity
        assert a.hours is not None
        assert a.hours.hours >= 1
        assert a.hours.backlog is not None
        assert a.hours.backlog < a.backlog
        assert a.shift is not None
        assert [g for g, _ in a.shift.moves] == ["chi-ma"]
    first = found[0]

    _login(client, "regulator")
    for lang, day, gate in (("vi", "thg 11", "Hữu Nghị"), ("zh", "11月", "友谊")):
        panel = _panel(_console(client, lang))
        said = visible(f"<main>{panel}</main>")
        _no_codes(said)
        lines = re.findall(r"<li>(.*?)</li>", panel[panel.index('id="forecast-advice"'):],
                           re.S)
        assert len(lines) == len(found)
        assert day in lines[0]
        assert gate in lines[0]
        assert ("Chi Ma" if lang == "vi" else "支马") in lines[0]
        assert f'data-day="{first.day.isoformat()}"' in panel
        over = re.findall(r'<td class="over" data-day="([\d-]+)"', panel)
        assert sorted(over) == sorted(a.day.isoformat() for a in found)


def test_the_board_shows_the_week_per_gate_with_the_interval_and_no_advice(
        client: TestClient, settings: Settings) -> None:
    before = client.get("/board", params={"lang": "vi"})
    stored_week(settings)
    vi = client.get("/board", params={"lang": "vi"})
    assert vi.headers["etag"] != before.headers["etag"]  # a new run is a new drawing
    html = vi.text
    card = html[html.index('id="gate-huu-nghi"'):]
    card = card[:card.index("</article>")]
    table = card[card.index('id="forecast-huu-nghi"'):]
    said = visible(f"<main>{table}</main>")
    assert "Dự báo 7 ngày tới" in said
    assert "Nhập khẩu" in said
    assert "Th 4, 25 thg 11" in said
    assert "1.234 (1.100–1.380)" in said
    assert len(re.findall(r'data-direction="import"', table)) == 7
    assert "chỗ" not in said  # places and advice are for the control room
    assert 'id="forecast-advice"' not in html
    _no_codes(visible(html))
    chi_ma = html[html.index('id="forecast-chi-ma"'):]
    assert "56 (48–63)" in visible(f"<main>{chi_ma[:chi_ma.index('</table>')]}</main>")
    # a gate without a forecast shows no table
    assert 'id="forecast-coc-nam"' not in html

    zh = client.get("/board/panel", params={"lang": "zh"}).text
    said = visible(f"<main>{zh}</main>")
    assert "未来7天预测" in said
    assert "1,234 (1,100–1,380)" in said
    assert "11月25日周三" in said
    _no_codes(said)


def test_a_remedy_that_shortens_nothing_is_not_advised() -> None:
    network = networks.parse(yaml.safe_load(DEFAULT_NETWORK_FILE.read_text(encoding="utf-8")))
    fmt = Formatter("en", network)
    same = advice.Remedy("shift", 0.0, (("chi-ma", 18),), 36.2, 3.0, True)
    hours = advice.Remedy("extra_hours", 1.0, (), 28.0, 3.0, True)
    day = advice.Advice(1, WED, "huu-nghi", "export", 290.0, 319.0, 272, 36.0, 4.0,
                        (hours, same))
    line = console.advice_line(fmt, day, 265.0)
    assert line == ("Wed 25 Nov: Huu Nghi, export: forecast 290 trucks (80 %: 265–319) "
                    "against 272 places: extend hours by 1 h (backlog by midnight 28 instead "
                    "of 36)")
    nothing = replace(day, remedies=(same,))
    assert console.advice_line(Formatter("vi", network), nothing, 265.0).endswith(
        "đều không giảm số xe còn chờ lúc nửa đêm (36)")


def test_advice_computed_before_the_run_is_stored_is_the_same_as_from_the_stored_run(
        settings: Settings) -> None:
    engine, s = _session(settings)
    try:
        network = networks.in_force(s, NOW)
        history.import_file(s, network, kind="daily", data=noisy_history().encode(),
                            filename="daily.csv", actor=SYSTEM, now=NOW)
        s.commit()
        # fitted and advised while only reading, then stored with the run
        prepared = service.prepare(s, network, now=NOW)
        computed = advice.compute_advice(network, prepared.rows, origin=prepared.origin,
                                         now=NOW)
        run = service.save(s, prepared, now=NOW, actor=SYSTEM, trigger="on_demand")
        over = advice.save_advice(s, run.id, computed)
        s.commit()
        first = advice.advice_for(s, run.id)
        assert over == len(first) > 0
        assert {r["day"] for r in computed.rows} == set(WEEK)
        # the same from the stored run
        assert advice.store_advice(s, network, run, now=NOW) == over
        s.commit()
        assert advice.advice_for(s, run.id) == first
    finally:
        s.close()
        engine.dispose()
