"""The forecaster and its backtest: the history file, the calendar it sees, and what a planner
relies on — forecasts that follow holidays the seasonal naive cannot, honest intervals, no
peeking past the origin."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from borderflow.errors import ValidationFailed
from borderflow.forecast import backtest, core, model
from borderflow.forecast.calendar import day_features, holiday_days, parse_country, side_features
from borderflow.sim.synthetic import lang_son_history


def history_text(rows: list[tuple[str, str, str, str]]) -> str:
    return "date,crossing,direction,trucks\n" + "".join(",".join(r) + "\n" for r in rows)


# --- the history file ------------------------------------------------------------------------

def test_an_empty_cell_is_no_data_and_zero_is_zero() -> None:
    df = backtest.read_history(history_text([("2026-01-01", "A", "import", ""),
                                             ("2026-01-02", "A", "import", "0"),
                                             ("2026-01-03", "A", "import", "12")]))
    assert np.isnan(df["trucks"].iloc[0])
    assert df["trucks"].iloc[1:].tolist() == [0.0, 12.0]


def test_a_bad_file_is_refused_whole_with_each_row_and_field_named() -> None:
    text = history_text([("2026-01-01", "A", "import", "5"),
                         ("2026-13-01", "A", "import", "5"),
                         ("2026-01-03", "", "sideways", "-2"),
                         ("2026-01-01", "A", "import", "7")])
    with pytest.raises(ValidationFailed) as exc:
        backtest.read_history(text)
    fields = {f.field for f in exc.value.fields}
    assert fields == {"line 3: date", "line 4: crossing", "line 4: direction", "line 4: trucks",
                      "line 5: date"}


def test_a_header_without_the_columns_names_them() -> None:
    with pytest.raises(ValidationFailed) as exc:
        backtest.read_history("day,crossing,direction,trucks,notes\n2026-01-01,A,import,5,x\n")
    assert {f.field for f in exc.value.fields} == {"date", "day", "notes"}


# --- the calendar ----------------------------------------------------------------------------

def test_tet_is_one_block_with_the_days_before_counted_down() -> None:
    days = [date(2026, 1, 20) + timedelta(days=i) for i in range(45)]
    f = side_features("VN", days)
    cols = dict(zip(("holiday", "off", "to_next", "next_len", "since_prev", "prev_len",
                     "bridge"), f.T, strict=True))
    i_eve = days.index(date(2026, 2, 13))
    assert cols["to_next"][i_eve] == 1
    assert cols["next_len"][i_eve] >= 5
    tet = days.index(date(2026, 2, 17))  # the first day of the Year of the Horse
    assert cols["holiday"][tet] == 1
    assert cols["off"][tet] == 1
    after = days.index(date(2026, 3, 2))
    assert cols["off"][after] == 0
    assert 0 < cols["since_prev"][after] < 15


def test_a_working_day_between_a_holiday_and_the_weekend_is_a_bridge() -> None:
    # 2026-01-01 is a Thursday: Friday 2 January joins it to the weekend in Vietnam
    f = side_features("VN", [date(2026, 1, 2)])
    assert f[0, 1] == 1
    assert f[0, 6] == 1
    assert f[0, 0] == 0


def test_any_country_and_subdivision_the_holidays_package_knows() -> None:
    assert parse_country("us-wa") == ("US", "WA")
    assert date(2019, 2, 18) in holiday_days("CA-BC", date(2019, 1, 1), date(2019, 12, 31))
    with pytest.raises(ValueError, match="XX"):
        parse_country("XX")
    x, names = day_features([date(2026, 7, 1)], ["US", "CA"])
    assert x.shape == (1, len(names))
    assert "CA_holiday" in names


# --- the forecaster --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lang_son() -> pd.DataFrame:
    rows = [r for r in lang_son_history(date(2024, 1, 1), 800, seed=3)
            if r["crossing"] in ("huu-nghi", "chi-ma")]
    df = pd.DataFrame(rows)
    df["date"] = pd.to_datetime(df["date"])
    df["trucks"] = df["trucks"].astype(float)
    return df


def test_forecasts_every_series_each_day_with_ordered_intervals(lang_son: pd.DataFrame) -> None:
    origin = date(2025, 11, 3)
    f = model.forecast(lang_son, origin, 28, core.Context(("VN", "CN")))
    assert len(f) == 4 * 28
    assert set(zip(f["crossing"], f["direction"], strict=True)) == {
        (c, d) for c in ("huu-nghi", "chi-ma") for d in ("import", "export")}
    assert (f["date"].min(), f["date"].max()) == (pd.Timestamp(origin),
                                                  pd.Timestamp(origin + timedelta(days=27)))
    assert ((f["lo95"] <= f["lo80"]) & (f["lo80"] <= f["mean"]) & (f["mean"] <= f["hi80"])
            & (f["hi80"] <= f["hi95"]) & (f["lo95"] >= 0)).all()


finite = st.floats(min_value=-500, max_value=5000, allow_nan=False)


@given(st.lists(st.tuples(finite, finite, finite, finite, finite), min_size=1, max_size=10))
def test_bounds_always_hold_the_mean_in_order_and_never_go_negative(
        rows: list[tuple[float, float, float, float, float]]) -> None:
    """Whatever the model and its error quantiles give (a biased model's quantiles can all
    lie above or below zero), a forecast's bounds hold its mean, in order, from zero up:
    the scenario lab and the bulletin refuse any other."""
    mean, lo80, hi80, lo95, hi95 = (np.array(c) for c in zip(*rows, strict=True))
    f = core.frame(("a", "import"), pd.date_range("2026-01-01", periods=len(rows)),
                   mean, lo80, hi80, lo95, hi95)
    assert ((f["lo95"] >= 0) & (f["lo95"] <= f["lo80"]) & (f["lo80"] <= f["mean"])
            & (f["mean"] <= f["hi80"]) & (f["hi80"] <= f["hi95"])).all()
    assert f["mean"].tolist() == np.maximum(mean, 0).tolist()


def test_nothing_on_or_after_the_origin_is_seen(lang_son: pd.DataFrame) -> None:
    origin = date(2025, 9, 1)
    future_changed = lang_son.copy()
    future_changed.loc[future_changed["date"] >= pd.Timestamp(origin), "trucks"] *= 10
    ctx = core.Context(("VN", "CN"))
    a = model.forecast(lang_son, origin, 7, ctx)
    b = model.forecast(future_changed, origin, 7, ctx)
    pd.testing.assert_frame_equal(a, b)


def test_tet_is_foreseen_where_last_week_cannot_be(lang_son: pd.DataFrame) -> None:
    """From the Monday before Tet 2026, the forecaster expects the collapse; the seasonal
    naive repeats the surge of the week before."""
    origin = date(2026, 2, 16)
    hist = lang_son[lang_son["date"] < pd.Timestamp(origin)]
    f = model.forecast(hist, origin, 7, core.Context(("VN", "CN")))
    big = f[(f["crossing"] == "huu-nghi") & (f["direction"] == "import")]
    last_week = hist[(hist["crossing"] == "huu-nghi") & (hist["direction"] == "import")
                     ].tail(7)["trucks"].mean()
    assert big["mean"].mean() < 0.6 * last_week


def test_a_short_or_empty_series_falls_back_to_the_seasonal_naive() -> None:
    days = pd.date_range("2026-01-01", periods=30)
    df = pd.DataFrame({"date": days, "crossing": "new-gate", "direction": "import",
                       "trucks": np.arange(30) % 7 * 10.0})
    f = model.forecast(df, date(2026, 1, 31), 7, core.Context())
    expected = core.seasonal_naive(df, date(2026, 1, 31), 7, core.Context())
    assert f["mean"].tolist() == expected["mean"].tolist()


def test_a_series_too_short_to_leave_a_block_out_still_gets_intervals(
        lang_son: pd.DataFrame) -> None:
    one = lang_son[(lang_son["crossing"] == "huu-nghi") & (lang_son["direction"] == "import")]
    short = one[one["date"] >= pd.Timestamp("2025-01-06")].head(110)
    origin = (short["date"].max() + pd.Timedelta(days=1)).date()
    f = model.forecast(short, origin, 7, core.Context(("VN", "CN")))
    assert (f["hi80"] - f["lo80"] > 0).all()
    assert (f["hi95"] - f["lo95"] > f["hi80"] - f["lo80"]).all()


def test_backtest_scores_and_the_forecasts_file_agree(lang_son: pd.DataFrame) -> None:
    hist = lang_son[lang_son["crossing"] == "chi-ma"]
    bt = backtest.run(hist, horizon=7, holdout_days=28, context=core.Context(("VN", "CN")),
                      methods={"borderflow": model.forecast,
                               "seasonal_naive": core.seasonal_naive})
    csv = pd.read_csv(pd.io.common.StringIO(backtest.forecasts_csv(bt)))
    assert list(csv.columns) == ["origin", "date", "crossing", "direction", "horizon", "mean",
                                 "lo80", "hi80", "lo95", "hi95"]
    assert len(csv) == 4 * 2 * 7  # four origins, two series, seven days
    # MASE recomputed from the file and the history
    actual = hist.assign(date=hist["date"].dt.strftime("%Y-%m-%d"))
    merged = csv.merge(actual, on=["date", "crossing", "direction"])
    before = hist[hist["date"] < pd.Timestamp(bt.holdout_start)]
    mases = []
    for (c, d), g in merged.groupby(["crossing", "direction"]):
        s = before[(before["crossing"] == c) & (before["direction"] == d)]["trucks"].to_numpy()
        scale = np.nanmean(np.abs(s[7:] - s[:-7]))
        mases.append(np.abs(g["trucks"] - g["mean"]).mean() / scale)
    summary = bt.summary()
    assert summary["mase"] == pytest.approx(np.mean(mases), abs=1e-3)
    assert set(summary) == {"series", "days", "horizon", "mase", "mase_seasonal_naive",
                            "mase_best_baseline", "coverage_80", "coverage_95", "seconds"}


def test_a_holdout_that_leaves_no_history_is_refused(lang_son: pd.DataFrame) -> None:
    with pytest.raises(ValidationFailed) as exc:
        backtest.run(lang_son, horizon=7, holdout_days=795,
                     methods={"seasonal_naive": core.seasonal_naive})
    assert exc.value.fields[0].field == "holdout_days"
