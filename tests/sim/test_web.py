"""The scenario lab page: for regulators and administrators, lists the scenario files and
compares the chosen ones; every figure it shows is translated."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from borderflow.config import Settings
from borderflow.sim import report
from borderflow.web import i18n
from tests.conftest import Database
from tests.web.test_driver import _csrf, _login

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return Settings(database_url=database.url, var_dir=tmp_path / "var",
                    secret_key="test-secret-key-that-is-long-enough-for-hs256",
                    log_level="WARNING", public_base_url="https://gate.example",
                    dispatch_interval_seconds=0, notify_interval_seconds=0,
                    telemetry_bus="inline", scenarios_dir=GOLDEN)


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
    assert "Road queue, max (trucks)" in done.text
    assert done.text.count('src="data:image/png;base64,') == 3
    refused = client.post("/sim", data={"scenario": ["../../secret.yaml"], "days": "2",
                                         "replications": "1", "csrf": token})
    assert refused.status_code == 422


def test_the_page_is_not_for_enterprises(client: TestClient) -> None:
    _login(client, "enterprise")
    assert client.get("/sim").status_code == 403


def test_every_figure_of_the_comparison_is_translated() -> None:
    texts = {label for label, *_ in report.ROWS} | {label for _, label in report.CLASS_ROWS}
    texts |= {unit for *_, unit, _ in report.ROWS if unit and unit != "km"}
    for lang in ("vi", "zh"):
        catalogue = i18n.translations(lang)
        assert [t for t in texts if catalogue.gettext(t) == t] == [], lang
