"""The forecasting benchmark (bench/forecast.py): Prophet's holidays cover both sides with the
lunar new year as one wide holiday, and a quick run ends with its figures as one JSON line."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "forecast.py"
KEYS = {
    "synthetic_mase", "synthetic_mase_seasonal_naive", "synthetic_mase_best_baseline",
    "synthetic_coverage_80", "synthetic_coverage_95", "public_mase",
    "public_mase_seasonal_naive", "public_mase_best_baseline", "public_coverage_80",
    "public_coverage_95", "tet_mase", "tet_mase_seasonal_naive", "lang_son_28_day_seconds",
    "holdout_mase", "holdout_mase_seasonal_naive",
}


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_forecast", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_forecast", module)  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def test_prophets_holidays_are_both_sides_with_one_wide_lunar_new_year() -> None:
    frame = _bench().holiday_frame(("VN", "CN"), 2025, 2026)
    lunar = frame[frame["holiday"] == "lunar new year"]
    assert list(lunar["ds"]) == [pd.Timestamp("2025-01-29"), pd.Timestamp("2026-02-17")]
    assert set(lunar["lower_window"]) == {-21}
    assert set(lunar["upper_window"]) == {14}
    others = frame[frame["holiday"] != "lunar new year"]
    assert not others["holiday"].str.contains("Lunar|Chinese New Year").any()
    assert {"VN: National Day", "CN: National Day", "CN: day off"} <= set(others["holiday"])
    assert not frame.duplicated(["holiday", "ds"]).any()
    sides = _bench().holiday_frame(("US-WA", "CA-BC"), 2019, 2019)
    assert {"US-WA: Independence Day", "CA-BC: British Columbia Day"} <= set(sides["holiday"])


@pytest.mark.slow
def test_a_quick_run_ends_with_its_figures_as_one_json_line(tmp_path: Path) -> None:
    plot = tmp_path / "tet.png"
    done = subprocess.run(  # noqa: S603 - the benchmark, with fixed arguments
        [sys.executable, str(SCRIPT), "--quick", "--no-prophet", "--plot", str(plot)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(last) >= KEYS
    for key in KEYS - {"holdout_mase", "holdout_mase_seasonal_naive"}:
        assert isinstance(last[key], float), key
        assert last[key] >= 0, key
    assert last["holdout_mase"] is None  # the held-out data is never read by a quick run
    assert 0 <= last["synthetic_coverage_80"] <= last["synthetic_coverage_95"] <= 1
    assert "MASE per series" in done.stdout
    assert "Tet 2026-02-17" in done.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
