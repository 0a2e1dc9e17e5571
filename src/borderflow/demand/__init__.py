"""Demand forecasts kept for the platform: trucks per gate, direction and day, refreshed daily
from the recorded and imported traffic, read through the API."""
