"""Telemetry: GPS positions from drivers' phones and fleet systems, geofences, camera reads."""
