"""``borderflow forecast backtest`` on the two kinds of history the forecaster is benchmarked
on: a synthetic Lang Son history and a cut of the real Peace Arch counts. The last line holds the
figures, the forecasts written are one row per origin, series and target day, and the MASE
printed is the one recomputed from them and the history."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from borderflow.cli.main import app
from borderflow.sim.synthetic import lang_son_history

ROOT = Path(__file__).resolve().parents[2]
PEACE_ARCH = ROOT / "bench" / "data" / "peace-arch-cars" / "history.csv"
KEYS = {"series", "days", "horizon", "mase", "mase_seasonal_naive", "mase_best_baseline",
        "coverage_80", "coverage_95", "seconds"}
COLUMNS = ["origin", "date", "crossing", "direction", "horizon", "mean", "lo80", "hi80", "lo95",
           "hi95"]
HOLDOUT, HORIZON = 28, 7
cli = CliRunner()


def synthetic_file(path: Path) -> Path:
    rows = [r for r in lang_son_history(date(2025, 1, 6), 371, seed=3)
            if r["crossing"] in ("huu-nghi", "chi-ma")]
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["date", "crossing", "direction", "trucks"])
        w.writeheader()
        w.writerows(rows)
    return path


def peace_arch_file(path: Path) -> Path:
    lines = PEACE_ARCH.read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    last = max(date.fromisoformat(r[:10]) for r in rows)
    first = last - timedelta(days=399)
    path.write_text("\n".join([header, *(r for r in rows
                                          if date.fromisoformat(r[:10]) >= first)]) + "\n",
                    encoding="utf-8")
    return path


def mase_from(forecasts: pd.DataFrame, history: pd.DataFrame) -> float:
    """MASE recomputed from the forecasts written and the history: each series' mean absolute
    error over the scored targets, over the in-sample error of the same weekday a week earlier
    before the holdout; averaged over series."""
    holdout_start = history["date"].max() - pd.Timedelta(days=HOLDOUT - 1)
    out = []
    for (crossing, direction), h in history.groupby(["crossing", "direction"]):
        s = h.set_index("date")["trucks"].sort_index()
        before = s[s.index < holdout_start].to_numpy(dtype=float)
        d = np.abs(before[7:] - before[:-7])
        scale = float(np.nanmean(d))
        f = forecasts[(forecasts["crossing"] == crossing)
                      & (forecasts["direction"] == direction)]
        actual = s.reindex(f["date"]).to_numpy(dtype=float)
        err = np.abs(actual - f["mean"].to_numpy())
        out.append(float(np.nanmean(err)) / scale)
    return float(np.mean(out))


@pytest.mark.slow
@pytest.mark.parametrize(("make", "countries", "series"),
                         [(synthetic_file, "VN,CN", 4), (peace_arch_file, "US-WA,CA-BC", 3)],
                         ids=["synthetic-lang-son", "peace-arch"])
def test_backtest_prints_the_figures_and_writes_every_forecast(
        tmp_path: Path, make: object, countries: str, series: int) -> None:
    assert callable(make)
    history_file = make(tmp_path / "history.csv")
    output = tmp_path / "forecasts.csv"
    result = cli.invoke(app, ["forecast", "backtest", str(history_file), "--horizon",
                              str(HORIZON), "--holdout-days", str(HOLDOUT), "--countries",
                              countries, "--output", str(output), "--processes", "1"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(figures) == KEYS
    assert figures["series"] == series
    assert figures["days"] == HOLDOUT
    assert figures["horizon"] == HORIZON
    assert 0 <= figures["coverage_80"] <= figures["coverage_95"] <= 1
    assert figures["mase_best_baseline"] <= figures["mase_seasonal_naive"]

    text = output.read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(COLUMNS)
    forecasts = pd.read_csv(io.StringIO(text), parse_dates=["origin", "date"])
    history = pd.read_csv(history_file, parse_dates=["date"])
    last = history["date"].max()
    origins = [last - pd.Timedelta(days=HOLDOUT - 1 - k) for k in range(0, HOLDOUT, 7)]
    assert sorted(forecasts["origin"].unique()) == origins
    # one row per origin, series and target day, every target day of the holdout once
    assert not forecasts.duplicated(["origin", "crossing", "direction", "date"]).any()
    assert len(forecasts) == series * HOLDOUT
    assert ((forecasts["date"] - forecasts["origin"]).dt.days + 1
            == forecasts["horizon"]).all()
    assert forecasts["horizon"].between(1, HORIZON).all()
    assert (forecasts["lo95"] <= forecasts["lo80"]).all()
    assert (forecasts["lo80"] <= forecasts["mean"] + 0.01).all()
    assert (forecasts["mean"] <= forecasts["hi80"] + 0.01).all()
    assert (forecasts["hi80"] <= forecasts["hi95"]).all()
    assert mase_from(forecasts, history) == pytest.approx(figures["mase"], abs=2e-3)
