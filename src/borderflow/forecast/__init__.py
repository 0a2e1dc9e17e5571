"""Demand forecasting: trucks per crossing, direction and day, with prediction intervals.

Pure: frames in, frames out; no database, no clock. :mod:`.core` holds the shapes and the
baselines, :mod:`.calendar` the calendar features, :mod:`.model` the forecaster and
:mod:`.backtest` the rolling-origin backtest.
"""
