"""Goods-group seasons: a gate whose goods are in season gets an index above 1 in their weeks,
a gate of other goods about 1, a mixed gate in between; a day's index never uses its own
year's counts; too short a history learns no season."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from borderflow.forecast.goods import goods_season

START = date(2023, 1, 1)


def history(years: int = 3, fruit_scale: float = 1.0) -> pd.DataFrame:
    rows = []
    for i in range((date(START.year + years, 1, 1) - START).days):
        day = START + timedelta(days=i)
        june = day.month == 6
        fruit = (40.0 if june else 10.0) * fruit_scale
        rows += [(day, "fruit-gate", "export", "fresh-fruit", fruit),
                 (day, "machine-gate", "export", "machinery", 30.0),
                 (day, "mixed-gate", "export", "fresh-fruit", fruit),
                 (day, "mixed-gate", "export", "machinery", 30.0),
                 (day, "mixed-gate", "export", "unknown", 500.0)]
    return pd.DataFrame(rows, columns=["date", "crossing", "direction", "goods_group", "trucks"])


def index(frame: pd.DataFrame, gate: str, day: date) -> float:
    row = frame[(frame.crossing == gate) & (frame.date == pd.Timestamp(day))]
    return float(row["goods_season"].iloc[0])


def test_a_gate_of_in_season_goods_is_above_one_in_their_weeks_and_below_out_of_them() -> None:
    ahead = [date(2026, 6, 15), date(2026, 12, 10), date(2026, 3, 10)]
    frame = goods_season(history(), ahead)
    assert set(frame.columns) == {"date", "crossing", "direction", "goods_season"}
    fruit_june = index(frame, "fruit-gate", ahead[0])
    assert fruit_june > 2.5  # four times the trucks in June, smoothed over its edges
    assert index(frame, "fruit-gate", ahead[1]) < 0.9
    for day in ahead:
        assert abs(index(frame, "machine-gate", day) - 1.0) < 1e-9  # flat goods: no season
    mixed = index(frame, "mixed-gate", ahead[0])
    assert 1.0 < mixed < fruit_june  # its mix weighs both (the unknown trucks left out)


def test_a_days_index_does_not_use_its_own_years_counts() -> None:
    days = [date(2024, 6, 15), date(2024, 12, 10)]
    plain = goods_season(history(), days)
    changed_hist = history()
    in_2024 = pd.to_datetime(changed_hist["date"]).dt.year == 2024
    changed_hist.loc[in_2024 & (changed_hist.goods_group == "fresh-fruit"), "trucks"] *= 7.0
    changed = goods_season(changed_hist, days)
    fruit = plain.crossing == "fruit-gate"
    np.testing.assert_allclose(plain[fruit]["goods_season"].to_numpy(),
                               changed[changed.crossing == "fruit-gate"]["goods_season"]
                               .to_numpy())


def test_one_year_of_history_learns_no_season_and_nothing_gives_nothing() -> None:
    frame = goods_season(history(years=1), [date(2024, 6, 15)])
    assert (frame["goods_season"] == 1.0).all()
    empty = goods_season(history().iloc[0:0], [date(2024, 6, 15)])
    assert empty.empty
    assert list(empty.columns) == ["date", "crossing", "direction", "goods_season"]
