"""The reports page in a browser, on a generated quarter of traffic and the same quarter a
year before: each report is saved as a screenshot (docs/reports.md shows them)."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Browser

from borderflow.config import Settings
from tests.e2e.test_browser import SHOTS, _login, _page, site  # noqa: F401
from tests.report.test_reports import _load


def test_reports_page_with_charts_and_files(browser: Browser, site: httpx.Client,  # noqa: F811
                                            settings: Settings, auth: Any) -> None:
    _load(settings)
    site.put("/api/v1/reports/targets/2026/turnover_usd", json={"value": 4_000_000},
             headers=auth("regulator")).raise_for_status()
    site.put("/api/v1/reports/targets/2026/vehicles_crossed", json={"value": 5_000},
             headers=auth("regulator")).raise_for_status()
    page = _page(browser, site, "en")
    _login(page, "regulator")
    page.goto("/reports?from=2026-01-01&to=2026-03-31&by=gate&gate=&lang=en")
    page.wait_for_selector("#traffic-h")
    assert page.locator("table.figures").first.is_visible()
    assert page.locator("svg.chart.bars rect").count() > 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    for section in ("traffic", "times", "peaks", "holds", "targets"):
        page.locator(f"section[aria-labelledby='{section}-h']").screenshot(
            path=str(SHOTS / f"report-{section}.png"))
    page.goto("/reports?from=2026-03-01&to=2026-03-31&gate=huu-nghi&lang=vi")
    page.locator("section[aria-labelledby='situation-h']").screenshot(
        path=str(SHOTS / "report-situation.png"))
    # the files come in the page's language
    with page.expect_download() as dl:
        page.locator("section[aria-labelledby='traffic-h'] a", has_text="PDF").click()
    assert dl.value.suggested_filename == "traffic-2026-03-01-2026-03-31.pdf"
    # keyboard: the filter form is reachable and submits with Enter
    page.goto("/reports?lang=en")
    page.focus("select[name=gate]")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "direction"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Show"


def test_reports_and_lab_speak_vietnamese_and_chinese(browser: Browser,
                                                     site: httpx.Client,  # noqa: F811
                                                     settings: Settings, auth: Any) -> None:
    _load(settings)
    site.put("/api/v1/reports/targets/2026/vehicles_crossed", json={"value": 5_000},
             headers=auth("regulator")).raise_for_status()
    page = _page(browser, site, "vi")
    _login(page, "regulator")
    page.goto("/reports?from=2026-01-01&to=2026-03-31&by=goods_group&gate=huu-nghi&lang=vi")
    page.wait_for_selector("#traffic-h")
    main = page.locator("main")
    text = main.inner_text()
    assert "1 thg 1, 2026 – 31 thg 3, 2026" in text  # dates the Vietnamese way
    for code in ("fresh-fruit", "huu-nghi", "documents-missing", "2026-01-01"):
        assert code not in text, code
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "reports-vi.png"), full_page=True)
    # a wrong period: the filters stay, the message is Vietnamese and next to its field
    page.fill("input[name=to]", "2025-12-01")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("#to-error")
    assert "trước ngày bắt đầu" in page.locator("#to-error").inner_text()
    assert page.locator("select[name=gate]").input_value() == "huu-nghi"
    # the scenario lab in Chinese, with a comparison
    page.goto("/sim?lang=zh")
    page.check("input[value='lang-son-baseline.yaml']")
    page.check("input[value='priority-off.yaml']")
    page.fill("#s-days", "2")
    page.fill("#s-reps", "1")
    page.click("form.sim button[type=submit]")
    page.wait_for_selector("#cmp-h")
    lab = page.locator("main").inner_text()
    assert "谅山基准情景" in lab
    assert "取消优先" in lab
    assert "Lang Son baseline" not in lab
    page.screenshot(path=str(SHOTS / "sim-zh.png"), full_page=True)
