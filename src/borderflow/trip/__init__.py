"""Trips: creation from declarations, checkpoint steps, movements, timeline and durations."""
