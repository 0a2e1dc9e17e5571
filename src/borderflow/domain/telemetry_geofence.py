"""Geofences from the reference network, with hysteresis. Pure: no clock, no database.

Every area of the network is a fence: ``staging:<code>``, ``gate_area:<gate>``,
``yard:<code>`` and ``corridor:<code>``. Geometry is projected to metres around the network
(an equirectangular projection is exact enough over a province) so that the hysteresis margin
is a distance: a device **enters** a fence when a fix falls inside its area, and **leaves** only
when a fix falls outside the area grown by ``margin_m``. A device wandering along a boundary
with GPS jitter smaller than the margin therefore never flaps in and out.

Membership is computed for many fixes at once (shapely 2's vectorised ``contains_xy``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from borderflow.domain.network import Area, Network, Point

EARTH_M_PER_DEG = 111_320.0
DEFAULT_MARGIN_M = 30.0
ORDER = {"corridor": 0, "staging": 1, "gate_area": 2, "yard": 3}
"""Nesting of fences: a yard lies inside its gate area. Entries are made outermost first and
exits innermost first, so a trip's location always moves through valid states."""


@dataclass(frozen=True)
class Transition:
    fence: str
    entered: bool


class Fences:
    """The network's fences, ready for fast membership tests."""

    def __init__(self, network: Network, margin_m: float = DEFAULT_MARGIN_M) -> None:
        areas: list[tuple[str, Area]] = [(f"staging:{s.code}", s.area)
                                         for s in network.staging_areas]
        for g in network.gates:
            areas.append((f"gate_area:{g.code}", g.area))
            areas += [(f"yard:{y.code}", y.area) for y in g.yards]
        areas += [(f"corridor:{c.code}", c.area) for c in network.corridors]
        points = [p for _, a in areas for p in (a.polygon or (a.center,)) if p is not None]
        self.lat0 = sum(p.lat for p in points) / len(points) if points else 0.0
        self.lon0 = sum(p.lon for p in points) / len(points) if points else 0.0
        self._kx = EARTH_M_PER_DEG * math.cos(math.radians(self.lat0))
        self.codes: tuple[str, ...] = tuple(code for code, _ in areas)
        self.margin_m = margin_m
        self._inner = [self._geometry(a) for _, a in areas]
        self._outer = [g.buffer(margin_m) for g in self._inner]
        for g in (*self._inner, *self._outer):
            shapely.prepare(g)
        self._centroids = {code: g.centroid for code, g in zip(self.codes, self._inner,
                                                                strict=True)}

    def xy(self, lat: NDArray[np.float64] | float, lon: NDArray[np.float64] | float
           ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        x = (np.asarray(lon, dtype=np.float64) - self.lon0) * self._kx
        y = (np.asarray(lat, dtype=np.float64) - self.lat0) * EARTH_M_PER_DEG
        return x, y

    def _geometry(self, area: Area) -> shapely.Geometry:
        if area.polygon:
            x, y = self.xy(np.array([p.lat for p in area.polygon]),
                           np.array([p.lon for p in area.polygon]))
            return shapely.Polygon(np.column_stack([x, y])).buffer(0)
        center, radius = area.center or Point(self.lat0, self.lon0), area.radius_m or 0.0
        cx, cy = self.xy(center.lat, center.lon)
        return shapely.Point(float(cx), float(cy)).buffer(radius, quad_segs=16)

    def membership(self, lat: Sequence[float], lon: Sequence[float]
                   ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """For n fixes: (inside each fence's area, inside each fence grown by the margin), both
        of shape (n, fences)."""
        x, y = self.xy(np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64))
        inner = np.column_stack([shapely.contains_xy(g, x, y) for g in self._inner]) \
            if self._inner else np.zeros((len(x), 0), dtype=np.bool_)
        outer = np.column_stack([shapely.contains_xy(g, x, y) for g in self._outer]) \
            if self._outer else np.zeros((len(x), 0), dtype=np.bool_)
        return inner, outer

    def distance_m(self, fence: str, point: Point) -> float:
        """Straight-line distance from a point to a fence's centre, in metres."""
        x, y = self.xy(point.lat, point.lon)
        return float(self._centroids[fence].distance(shapely.Point(float(x), float(y))))

    def step(self, inside: frozenset[str], inner: NDArray[np.bool_], outer: NDArray[np.bool_]
             ) -> tuple[frozenset[str], list[Transition]]:
        """One fix: the fences the device is in afterwards, and the transitions, exits
        (innermost first) before entries (outermost first)."""
        now_in = {c for c, hit in zip(self.codes, inner, strict=True) if hit}
        still = {c for c, hit in zip(self.codes, outer, strict=True) if hit and c in inside}
        after = frozenset(now_in | still)
        left = sorted(inside - after, key=lambda c: -ORDER.get(c.split(":")[0], 9))
        entered = sorted(after - inside, key=lambda c: ORDER.get(c.split(":")[0], 9))
        return after, [Transition(c, False) for c in left] + [Transition(c, True)
                                                               for c in entered]


def walk(fences: Fences, fixes: Iterable[tuple[float, float]],
         inside: frozenset[str] = frozenset()) -> tuple[frozenset[str], list[Transition]]:
    """Run a device's fixes (in time order) through the fences."""
    fixes = list(fixes)
    if not fixes:
        return inside, []
    inner, outer = fences.membership([f[0] for f in fixes], [f[1] for f in fixes])
    out: list[Transition] = []
    for i in range(len(fixes)):
        inside, transitions = fences.step(inside, inner[i], outer[i])
        out += transitions
    return inside, out
