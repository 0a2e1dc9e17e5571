"""The drawing of the regulator's console: a schematic of the network placed from the
reference data, with counts and fill levels, and how the console says a moment. The figures it
shows are read in borderflow.dispatch.views."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from borderflow.clock import LOCAL_TZ
from borderflow.dispatch.board import fill_percent
from borderflow.domain.network import Network

WIDTH, HEIGHT, PAD = 640, 420, 40
GAP = 48.0
"""Least distance between two markers' centres (a marker is 32 px across, its key letter sits
above it): markers of places closer than that on the map are pushed apart, each with a leader
line to where the place is."""
KEYS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Node:
    code: str
    kind: str  # park | gate
    label: str
    x: float
    y: float
    vehicles: int
    capacity: int
    key: str = ""
    """The letter of the place on the map and in its legend."""
    at_x: float = 0.0
    at_y: float = 0.0
    """Where the place is (the marker may be pushed aside from it)."""

    @property
    def displaced(self) -> bool:
        return math.hypot(self.x - self.at_x, self.y - self.at_y) > 3

    @property
    def fill(self) -> int:
        return fill_percent(self.vehicles, self.capacity)

    @property
    def level(self) -> str:
        """low, high or full: the colour of the node on the map."""
        return "full" if self.fill >= 90 else "high" if self.fill >= 60 else "low"


def schematic(network: Network, occupancy: list[dict[str, Any]],
              name: Any) -> list[Node]:
    """Parks and gates placed by their coordinates (no map tiles), with counts and fill
    levels. ``name`` turns a vi/en/zh name into the page's language."""
    counts = {o["area"]: o for o in occupancy}
    places = [(f"staging:{s.code}", "park", name(s.name), s.location.lat, s.location.lon,
               s.capacity) for s in network.staging_areas]
    places += [(f"gate_area:{g.code}", "gate", name(g.name), g.location.lat, g.location.lon,
                sum(y.capacity for y in g.yards)) for g in network.gates]
    if not places:
        return []
    lats = [p[3] for p in places]
    lons = [p[4] for p in places]
    span_lat = (max(lats) - min(lats)) or 1.0
    span_lon = (max(lons) - min(lons)) or 1.0
    at = [(PAD + (lon - min(lons)) / span_lon * (WIDTH - 2 * PAD),
           PAD + (max(lats) - lat) / span_lat * (HEIGHT - 2 * PAD))
          for _a, _k, _l, lat, lon, _c in places]
    markers = spread(at)
    out = []
    for i, ((area, kind, label, _lat, _lon, capacity), (x0, y0), (x, y)) in enumerate(
            zip(places, at, markers, strict=True)):
        out.append(Node(area.split(":", 1)[1], kind, label, round(x, 1), round(y, 1),
                        int(counts.get(area, {}).get("vehicles", 0)), capacity,
                        key=KEYS[i] if i < len(KEYS) else str(i + 1),
                        at_x=round(x0, 1), at_y=round(y0, 1)))
    return out


def spread(points: list[tuple[float, float]], gap: float = GAP, rounds: int = 500
           ) -> list[tuple[float, float]]:
    """The points moved apart until every two are at least ``gap`` apart (as little as
    needed, pairwise, kept inside the drawing); the same input always gives the same output."""
    pts = [[x, y] for x, y in points]
    margin = PAD / 2
    for _ in range(rounds):
        moved = False
        for i in range(len(pts)):
            for j in range(i + 1, len(pts)):
                dx, dy = pts[j][0] - pts[i][0], pts[j][1] - pts[i][1]
                d = math.hypot(dx, dy)
                if d >= gap - 0.01:
                    continue
                if d < 1e-6:  # the same spot: part them along a fixed, distinct angle
                    angle = (i * 7 + j) * 2.399963
                    dx, dy, d = math.cos(angle), math.sin(angle), 1.0
                push = (gap - d) / 2 + 0.05
                ux, uy = dx / d, dy / d
                pts[i][0] -= ux * push
                pts[i][1] -= uy * push
                pts[j][0] += ux * push
                pts[j][1] += uy * push
                moved = True
        for p in pts:
            p[0] = min(max(p[0], margin), WIDTH - margin)
            p[1] = min(max(p[1], margin), HEIGHT - margin)
        if not moved:
            break
    return [(x, y) for x, y in pts]


def when(fmt: Any, at: datetime | None, now: datetime) -> str:
    """A moment as the console and the board say it: the time alone today (Lang Son time),
    with the date on another day."""
    if at is None:
        return "—"
    if at.astimezone(LOCAL_TZ).date() == now.astimezone(LOCAL_TZ).date():
        return str(fmt.time(at))
    return f"{fmt.date(at, 'short')} {fmt.time(at)}"
