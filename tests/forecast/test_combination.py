"""The combination behind the forecaster: each series' weights chosen on its own history's
forecasts made without the day forecast, the components it weighs, and the calendar they
see."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from borderflow.forecast import core, model
from borderflow.forecast.calendar import day_features, lunar_offset
from borderflow.sim.synthetic import lang_son_history

RNG_SEED = 11


def _parts(n: int, exact: int) -> tuple[np.ndarray, np.ndarray]:
    """Actuals and four components' forecasts of them, the one at ``exact`` without error."""
    rng = np.random.default_rng(RNG_SEED)
    y = 1 + rng.normal(0, 0.2, n)
    parts = y[:, None] + rng.normal(0, 0.3, (n, 4))
    parts[:, exact] = y
    return y, parts


def rng_noise(n: int, sd: float) -> np.ndarray:
    return np.random.default_rng(RNG_SEED + 1).normal(0, sd, n)


def test_the_component_that_forecast_the_history_best_takes_the_weight() -> None:
    y, parts = _parts(200, exact=1)
    sid = np.zeros(200, dtype=int)
    w = model._combination_weights(y, parts, sid, 1, np.ones(200, dtype=bool), model.GRID)
    assert w[0].tolist() == [0.0, 1.0, 0.0, 0.0]


def test_the_weights_read_only_the_rows_they_are_chosen_on() -> None:
    """What lies outside the rows given (later days, festival days for the ordinary weights)
    changes nothing."""
    y, parts = _parts(300, exact=2)
    sid = np.repeat([0, 1], 150)
    chosen = np.tile(np.arange(150) < 100, 2)
    a = model._combination_weights(y, parts, sid, 2, chosen, model.GRID)
    changed = parts.copy()
    changed[~chosen] = 1e6
    y_changed = np.where(chosen, y, -5.0)
    b = model._combination_weights(y_changed, changed, sid, 2, chosen, model.GRID)
    assert (a == b).all()
    assert a[0].tolist() == [0.0, 0.0, 1.0, 0.0]


def test_near_festivals_only_the_model_and_the_calendar_regression_are_weighed() -> None:
    y, parts = _parts(200, exact=1)  # the smoothing perfect, but not allowed there
    parts[:, 3] = y + rng_noise(len(y), 0.01)
    w = model._combination_weights(y, parts, np.zeros(200, dtype=int), 1,
                                   np.ones(200, dtype=bool), model.GRID_SPECIAL)
    assert w[0, 1] == w[0, 2] == 0
    assert w[0, 3] == 1


def test_too_few_rows_leave_the_model_alone() -> None:
    y, parts = _parts(model.MIN_ERRORS - 1, exact=3)
    w = model._combination_weights(y, parts, np.zeros(len(y), dtype=int), 1,
                                   np.ones(len(y), dtype=bool), model.GRID)
    assert w[0].tolist() == model.ALONE.tolist()


def test_an_unknown_component_gives_its_weight_to_the_others() -> None:
    parts = np.array([[1.0, np.nan, 3.0, 5.0], [2.0, np.nan, np.nan, np.nan]])
    w = np.array([[0.5, 0.25, 0.25, 0.0], [0.0, 0.5, 0.5, 0.0]])
    out = model._combine(parts, w)
    assert out[0] == pytest.approx((0.5 * 1 + 0.25 * 3) / 0.75)
    assert out[1] == 2.0  # nothing else known: the model's


def test_the_calendar_counts_the_days_to_and_from_the_lunar_new_year() -> None:
    days = [date(2026, 2, 15) + timedelta(days=i) for i in range(4)]
    near = lunar_offset(days, ("VN", "CN"))
    assert near is not None
    assert near.tolist() == [-2, -1, 0, 1]
    far = lunar_offset([date(2026, 7, 1)], ("VN",))
    assert far is not None
    assert far[0] == 45
    assert lunar_offset(days, ("US-WA", "CA-BC")) is None
    _, names = day_features(days, ("US-WA", "CA-BC"))
    assert "lunar_new_year" not in names


def test_the_calendar_regression_learns_multiplicative_weekdays() -> None:
    days = pd.date_range("2025-01-06", periods=28 * 8, freq="D")
    factor = np.array([1.0, 1.1, 1.2, 1.0, 0.9, 0.6, 0.4])
    v = 200 * factor[days.dayofweek]
    x = model._regression_design(*day_features(list(days.date), ()), ())
    n = len(days) - 7
    f = model._regression(v[:n], x, np.ones(n, dtype=bool), np.arange(n, len(days)))
    assert f == pytest.approx(v[n:], rel=0.05)


def test_the_smoothing_from_an_earlier_origin_uses_only_the_days_before_it() -> None:
    """Its states at an earlier origin are those after the days before it: the days after
    that origin change its forecast from there only through the parameters, fitted on the
    history before the last origin."""
    rng = np.random.default_rng(RNG_SEED)
    v = 100 + 20 * np.sin(np.arange(400) * 2 * np.pi / 7) + rng.normal(0, 3, 400)
    skip = np.zeros(400, dtype=bool)
    origins = np.array([200, 300, 400])
    a = model._ets(v, skip, origins, 7)
    from statsforecast.models import AutoETS

    m = AutoETS(season_length=7, model=model.ETS_MODEL).fit(v[400 - model.ETS_DAYS:400])
    assert a[0] == pytest.approx(m.forward(y=v[:200], h=7)["mean"])
    assert a[-1] == pytest.approx(m.predict(h=7)["mean"])


@pytest.fixture(scope="module")
def lang_son() -> pd.DataFrame:
    rows = [r for r in lang_son_history(date(2024, 6, 1), 500, seed=5)
            if r["crossing"] == "huu-nghi"]
    df = pd.DataFrame(rows)
    df["date"] = pd.to_datetime(df["date"])
    df["trucks"] = df["trucks"].astype(float)
    return df


def test_the_weights_chosen_at_an_origin_ignore_every_day_from_it(
        lang_son: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen: list[np.ndarray] = []
    real = model._combination_weights

    def spy(*args: object, **kwargs: object) -> np.ndarray:
        w = real(*args, **kwargs)  # type: ignore[arg-type]
        chosen.append(w)
        return w

    monkeypatch.setattr(model, "_combination_weights", spy)
    origin = date(2025, 8, 4)
    future = lang_son.copy()
    future.loc[future["date"] >= pd.Timestamp(origin), "trucks"] *= 3
    ctx = core.Context(("VN", "CN"))
    a = model.forecast(lang_son, origin, 7, ctx)
    b = model.forecast(future, origin, 7, ctx)
    pd.testing.assert_frame_equal(a, b)
    assert len(chosen) == 4
    assert all((x == y).all() for x, y in zip(chosen[:2], chosen[2:], strict=True))
