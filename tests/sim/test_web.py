"""The scenario lab page: for regulators and administrators, lists the scenario files and
compares the chosen ones (queued by the page, run by the background work's pool, followed on
the run's page); every figure it shows is translated."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from borderflow.config import Settings
from borderflow.sim import report, runner
from borderflow.web import i18n
from tests.conftest import Database
from tests.web.test_driver import _csrf, _login

# What the page shows and refuses does not depend on the database: the queue of runs, its
# leases and its pool run on PostgreSQL in tests/sim/test_jobs.py, so the PostgreSQL pass
# leaves this module out.
pytestmark = pytest.mark.any_database

GOLDEN = Path(__file__).parent / "golden"
TRILINGUAL = """extends: small-regulated.yaml
name: {vi: Nhỏ có điều tiết, en: Small regulated in three languages, zh: 小规模调控}
description: {vi: Hai ngày thử, en: A two-day trial, zh: 两天试运行}
"""


def finished(client: TestClient, where: str, seconds: float = 90) -> str:
    """The run's page once the run has finished (until then it reloads itself)."""
    deadline = time.monotonic() + seconds
    while True:
        shown = client.get(where).text
        if 'http-equiv="refresh"' not in shown:
            return shown
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.2)


def submitted(client: TestClient, lang: str, data: dict[str, object]) -> str:
    """Ask for a comparison on the page: the address of the run's page."""
    asked = client.post("/sim", params={"lang": lang}, data=data, follow_redirects=False)
    assert asked.status_code == 303, asked.text
    where = asked.headers["location"]
    assert where.startswith("/sim?run=")
    return str(where)


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for path in GOLDEN.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    (folder / "three-languages.yaml").write_text(TRILINGUAL, encoding="utf-8")
    return Settings(database_url=database.url, var_dir=tmp_path / "var",
                    secret_key="test-secret-key-that-is-long-enough-for-hs256",
                    log_level="WARNING", public_base_url="https://gate.example",
                    dispatch_interval_seconds=0, notify_interval_seconds=0,
                    telemetry_bus="inline", scenarios_dir=folder)


def test_a_regulator_compares_scenarios_on_the_page(client: TestClient) -> None:
    _login(client, "regulator")
    page = client.get("/sim", params={"lang": "en"}).text
    assert "Small regulated" in page
    assert "Small unregulated" in page
    token = _csrf(client, "/sim")
    where = submitted(client, "en", {
        "scenario": ["small-regulated.yaml", "small-unregulated.yaml"], "days": "2",
        "replications": "2", "seed": "3", "csrf": token})
    done = finished(client, where)
    assert "Road queue, all roads, max (trucks)" in done
    # the queue per road, by the road's name (the park's road is National Highway 1A)
    assert "Queue on National Highway 1A, max (trucks)" in done
    assert "Time in system with unfinished trucks (time so far), mean (h)" in done
    assert done.count('src="data:image/png;base64,') == 3
    assert "Done" in done  # the run's state by its label
    refused = client.post("/sim", data={"scenario": ["../../secret.yaml"], "days": "2",
                                         "replications": "1", "csrf": token})
    assert refused.status_code == 422


def test_the_page_is_not_for_enterprises(client: TestClient) -> None:
    _login(client, "enterprise")
    assert client.get("/sim").status_code == 403


def test_every_figure_of_the_comparison_is_translated() -> None:
    texts = {label for label, *_ in report.ROWS + report.BOOKING_ROWS}
    texts |= {label for _, label in report.CLASS_ROWS}
    texts |= {label for label, *_ in report.ROAD_ROWS} | {report.ROAD_TO}
    texts |= {unit for *_, unit, _ in report.ROWS if unit and unit != "km"}
    for lang in ("vi", "zh"):
        catalogue = i18n.translations(lang)
        assert [t for t in texts if catalogue.gettext(t) == t] == [], lang


def _cells(html: str) -> list[str]:
    table = html.split('<table class="sim-table">', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<td>([^<]*)</td>", table)


def test_the_lab_in_chinese_names_the_scenarios_and_writes_the_figures_the_chinese_way(
        client: TestClient, settings: Settings) -> None:
    _login(client, "regulator")
    page = client.get("/sim", params={"lang": "zh"}).text
    assert "小规模调控" in page
    assert "两天试运行" in page
    assert "Small regulated in three languages" not in page
    token = _csrf(client, "/sim")
    form = {"scenario": ["three-languages.yaml", "small-unregulated.yaml"], "days": "2",
            "replications": "2", "seed": "3", "csrf": token}
    where = submitted(client, "zh", form)
    done = finished(client, where)
    assert '<th scope="col">小规模调控</th>' in done
    assert "越南一侧各条道路上的排队车辆合计（第一次重复运行）" in done  # a plot's title
    assert "1A号国道上的排队车辆（最大）" in done  # a road by its Chinese name
    assert "ql1a" not in done  # never a road's code
    assert "to:huu-nghi" not in done
    assert "已完成" in done  # the run's state by its label, never its code
    assert ">done<" not in done
    # every figure as Babel writes it in Chinese, from the same run
    loaded = runner.load_all([settings.scenarios_dir / "three-languages.yaml",
                              settings.scenarios_dir / "small-unregulated.yaml"], 2)
    results = runner.run(loaded, replications=2, seed=3)
    figures = report.rows(results) + report.road_rows(results)
    for lang in ("zh", "vi"):
        fmt = i18n.Formatter(lang)
        want = ["–" if c is None else fmt.number(c.mean, c.places)
                + (f" ± {fmt.number(c.half_width, c.places)}" if c.half_width > 0 else "")
                for _, _, cells in figures for c in cells]
        # the same run's page in Vietnamese: the stored figures written the Vietnamese way
        page = done if lang == "zh" else client.get(where.replace("lang=zh", "lang=vi")).text
        assert _cells(page) == want, lang
    vi = client.get(where.replace("lang=zh", "lang=vi")).text
    assert "Nhỏ có điều tiết" in vi  # the scenario's name in Vietnamese
    assert "Đã xong" in vi  # and the run's state
    assert any("," in c for c in want)  # Vietnamese decimals take a comma


def test_wrong_numbers_are_shown_again_with_a_message_in_vietnamese(
        client: TestClient) -> None:
    _login(client, "regulator")
    token = _csrf(client, "/sim")
    bad = client.post("/sim", params={"lang": "vi"}, data={
        "scenario": ["small-regulated.yaml"], "days": "40", "replications": "hai",
        "seed": "-1", "csrf": token})
    assert bad.status_code == 422
    html = bad.text
    assert 'name="days" type="text" inputmode="numeric" autocomplete="off" value="40"' in html
    assert 'value="hai"' in html
    assert '<p class="error" id="s-days-error">từ 1 đến 31 ngày</p>' in html
    assert '<p class="error" id="s-seed-error">một số nguyên từ 0 đến 4.294.967.295</p>' in html
    assert '<p class="error" id="s-reps-error">hai không phải là số</p>' in html
    assert 'value="small-regulated.yaml"  checked' in html  # the choice is kept
    none = client.post("/sim", params={"lang": "zh"}, data={
        "days": "2", "replications": "1", "seed": "1", "csrf": token})
    assert none.status_code == 422
    assert "请选择一至四个情景。" in none.text


def test_a_broken_scenario_file_says_why_in_the_page_language(
        client: TestClient, settings: Settings) -> None:
    (settings.scenarios_dir / "broken.yaml").write_text(
        "extends: small-regulated.yaml\nname: {vi: Hỏng, fr: Cassé}\n", encoding="utf-8")
    _login(client, "regulator")
    page = client.get("/sim", params={"lang": "vi"}).text
    assert "broken.yaml, name: ngôn ngữ là vi, en và zh, không phải fr" in page
