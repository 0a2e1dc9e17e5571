"""The scenario lab page: for regulators and administrators, lists the scenario files and
compares the chosen ones; every figure it shows is translated."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from borderflow.config import Settings
from borderflow.sim import report, runner
from borderflow.web import i18n
from tests.conftest import Database
from tests.web.test_driver import _csrf, _login

GOLDEN = Path(__file__).parent / "golden"
TRILINGUAL = """extends: small-regulated.yaml
name: {vi: Nhỏ có điều tiết, en: Small regulated in three languages, zh: 小规模调控}
description: {vi: Hai ngày thử, en: A two-day trial, zh: 两天试运行}
"""


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
    done = client.post("/sim", params={"lang": "en"}, data={
        "scenario": ["small-regulated.yaml", "small-unregulated.yaml"], "days": "2",
        "replications": "2", "seed": "3", "csrf": token})
    assert done.status_code == 200
    assert "Road queue, all roads, max (trucks)" in done.text
    # the queue per road, by the road's name (the park's road is National Highway 1A)
    assert "Queue on National Highway 1A, max (trucks)" in done.text
    assert "Time in system with unfinished trucks (time so far), mean (h)" in done.text
    assert done.text.count('src="data:image/png;base64,') == 3
    refused = client.post("/sim", data={"scenario": ["../../secret.yaml"], "days": "2",
                                         "replications": "1", "csrf": token})
    assert refused.status_code == 422


def test_the_page_is_not_for_enterprises(client: TestClient) -> None:
    _login(client, "enterprise")
    assert client.get("/sim").status_code == 403


def test_every_figure_of_the_comparison_is_translated() -> None:
    texts = {label for label, *_ in report.ROWS} | {label for _, label in report.CLASS_ROWS}
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
    done = client.post("/sim", params={"lang": "zh"}, data=form)
    assert done.status_code == 200, done.text
    assert '<th scope="col">小规模调控</th>' in done.text
    assert "越南一侧各条道路上的排队车辆合计（第一次重复运行）" in done.text  # a plot's title
    assert "1A号国道上的排队车辆（最大）" in done.text  # a road by its Chinese name
    assert "ql1a" not in done.text  # never a road's code
    assert "to:huu-nghi" not in done.text
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
        page = done.text if lang == "zh" else client.post(
            "/sim", params={"lang": "vi"}, data=form).text
        assert _cells(page) == want, lang
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
