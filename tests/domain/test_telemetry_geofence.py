"""Geofences of the reference network: entries and exits in a valid order, and no flapping
at a boundary."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderflow.config import DEFAULT_NETWORK_FILE
from borderflow.domain.telemetry_geofence import Fences, Transition, walk
from borderflow.network import service as networks

NETWORK = networks.parse(networks.read_file(DEFAULT_NETWORK_FILE))
FENCES = Fences(NETWORK, margin_m=30)
PARK = "staging:viettel-logistics-park"


def park_edge() -> tuple[float, float, float]:
    """A point on the park's western edge (lat, lon) and metres per degree of longitude."""
    polygon = NETWORK.staging_areas[0].area.polygon
    lat = (polygon[0].lat + polygon[-1].lat) / 2 if len(polygon) > 3 else polygon[0].lat
    west = min(p.lon for p in polygon)
    return lat, west, 111_320 * math.cos(math.radians(lat))


def test_driving_into_the_park_and_out_again() -> None:
    lat, west, per_deg = park_edge()
    path = [(lat, west - 500 / per_deg), (lat, west + 50 / per_deg), (lat, west - 500 / per_deg)]
    inside, moves = walk(FENCES, path)
    assert moves == [Transition(PARK, True), Transition(PARK, False)]
    assert inside == frozenset()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-25, 25), min_size=2, max_size=40))
def test_jitter_smaller_than_the_margin_never_flaps(offsets_m: list[float]) -> None:
    lat, west, per_deg = park_edge()
    path = [(lat, west + 60 / per_deg)] + [(lat, west + d / per_deg) for d in offsets_m]
    _, moves = walk(FENCES, path)
    assert moves == [Transition(PARK, True)]  # in once, never out


def test_a_yard_is_entered_after_its_gate_area_and_left_before_it() -> None:
    gate = NETWORK.gate("huu-nghi")
    assert gate is not None
    yard = gate.yards[0]
    poly = yard.area.polygon
    centre = (sum(p.lat for p in poly) / len(poly), sum(p.lon for p in poly) / len(poly))
    far = (centre[0] - 0.05, centre[1])
    _, moves = walk(FENCES, [far, centre, far])
    codes = [(m.fence, m.entered) for m in moves if m.fence.startswith(("gate_area", "yard"))]
    assert codes == [("gate_area:huu-nghi", True), (f"yard:{yard.code}", True),
                     (f"yard:{yard.code}", False), ("gate_area:huu-nghi", False)]


@pytest.mark.parametrize("margin", [0.0, 30.0, 100.0])
def test_membership_is_vectorised_and_matches_single_fixes(margin: float) -> None:
    fences = Fences(NETWORK, margin_m=margin)
    lat, west, per_deg = park_edge()
    lats = [lat] * 5
    lons = [west + d / per_deg for d in (-200, -20, 0.5, 20, 200)]
    inner, outer = fences.membership(lats, lons)
    for i in range(5):
        one_in, one_out = fences.membership([lats[i]], [lons[i]])
        assert (one_in[0] == inner[i]).all()
        assert (one_out[0] == outer[i]).all()
    assert (outer | ~inner).all()  # the grown area contains the area
