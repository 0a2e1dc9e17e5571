"""The drawing of the regulator's console: a map of the network drawn from the reference data
(the border, the roads, parks and gates with counts, fill levels and closures; labels placed
so that none overlaps another), bar charts with axes, and how the console says a moment. The
figures it shows are read in borderflow.dispatch.views."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from babel.dates import format_skeleton

from borderflow.clock import LOCAL_TZ
from borderflow.dispatch.board import fill_percent
from borderflow.domain.network import Network, Point
from borderflow.errors import N_

WIDTH, HEIGHT, PAD = 720, 540, 28
FONT = 13
"""Text size on the map and the charts, in drawing units; both are never drawn narrower than
their width in CSS pixels, so text is never under 12 px."""
MARKER = 10.0
"""A place's marker radius."""
GAP = 2 * MARKER + 4
"""Least distance between two markers' centres: markers of places closer than that are pushed
apart, each with a leader line to where the place is."""
LINE = FONT + 4
"""Height of a line of a label."""
STOPPED = ("closure", "pause")
"""The controls drawn on the map: the gate marked closed, or its calls paused."""

Box = tuple[float, float, float, float]
"""x, y (top left), width, height."""
COUNTRY_NAMES: list[Box] = [(WIDTH - 160, 6, 154, 28), (6, HEIGHT - 34, 154, 28)]
"""Where the map writes CHINA (top right) and VIETNAM (bottom left): no label goes there."""


@dataclass(frozen=True)
class Node:
    code: str
    kind: str  # park | gate
    label: str
    x: float
    y: float
    vehicles: int
    capacity: int
    at_x: float = 0.0
    at_y: float = 0.0
    """Where the place is (the marker may be pushed aside from it)."""
    short: str = ""
    """The name on the map's label."""
    state: str = "open"
    """open, closure or pause: how the marker is drawn."""
    until: str = ""
    """The control in force and its end, as the page says it."""

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


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    w: float
    h: float
    lines: tuple[str, ...]
    ax: float
    ay: float
    """The marker's centre the label belongs to (a leader line joins them when apart)."""
    code: str = ""
    state: str = "open"

    @property
    def leader(self) -> bool:
        return _distance_to_box(self.ax, self.ay, self.box) > MARKER + 6

    @property
    def box(self) -> Box:
        return (self.x, self.y, self.w, self.h)


@dataclass(frozen=True)
class Line:
    code: str
    kind: str  # border | highway | road
    name: str
    d: str
    """The SVG path."""
    tx: float = 0.0
    ty: float = 0.0
    """Where the line's name may be written (its middle)."""


@dataclass(frozen=True)
class MapView:
    width: int
    height: int
    """The drawing's height, labels that did not fit beside their place included."""
    map_height: int
    nodes: list[Node]
    labels: list[Label]
    lines: list[Line]


def _distance_to_box(x: float, y: float, box: Box) -> float:
    bx, by, bw, bh = box
    dx = max(bx - x, 0.0, x - (bx + bw))
    dy = max(by - y, 0.0, y - (by + bh))
    return math.hypot(dx, dy)


def text_width(text: str, size: float = FONT) -> float:
    """How wide a line of text is drawn, near enough to keep labels apart: wide (Chinese)
    characters take the font size, others about six tenths of it."""
    return sum(size if unicodedata.east_asian_width(c) in "WF" else size * 0.62
               for c in text)


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and \
        b[1] < a[1] + a[3]


_DIRECTIONS = ((1, 0), (-1, 0), (0, -1), (0, 1), (1, -1), (1, 1), (-1, -1), (-1, 1))
_DISTANCES = (MARKER + 3, 22.0, 36.0, 56.0, 84.0, 120.0, 170.0, 240.0)


def _candidate(ax: float, ay: float, w: float, h: float, dx: int, dy: int, d: float) -> Box:
    k = d if dx == 0 or dy == 0 else d * 0.72
    x = ax + k if dx > 0 else ax - k - w if dx < 0 else ax - w / 2
    y = ay + k if dy > 0 else ay - k - h if dy < 0 else ay - h / 2
    return (x, y, w, h)


def place_labels(anchors: Sequence[tuple[float, float]], sizes: Sequence[tuple[float, float]],
                 width: float, height: float, avoid: Sequence[Box] = ()
                 ) -> tuple[list[Box], float]:
    """A box for each label, beside its anchor where there is room: the first of eight
    directions at growing distances that stays inside the drawing and crosses no label placed
    before nor anything in ``avoid`` (the markers). A label that finds no room goes to a row
    below the map. Returns the boxes and the drawing's height with those rows. No two boxes
    ever overlap."""
    placed: list[Box] = []
    spill: list[int] = []
    for i, ((ax, ay), (w, h)) in enumerate(zip(anchors, sizes, strict=True)):
        found = None
        for d in _DISTANCES:
            for dx, dy in _DIRECTIONS:
                box = _candidate(ax, ay, w, h, dx, dy, d)
                if box[0] < 1 or box[1] < 1 or box[0] + w > width - 1 or box[1] + h > height - 1:
                    continue
                if any(overlaps(box, o) for o in placed) or \
                        any(overlaps(box, o) for o in avoid):
                    continue
                found = box
                break
            if found is not None:
                break
        placed.append(found or (0.0, 0.0, 0.0, 0.0))
        if found is None:
            spill.append(i)
    x, y, row = 4.0, height + 6, 0.0
    for i in spill:  # rows under the map, left to right
        w, h = sizes[i]
        if x > 4 and x + w > width - 4:
            x, y, row = 4.0, y + row + 6, 0.0
        placed[i] = (x, y, w, h)
        x, row = x + w + 8, max(row, h)
    bottom = y + row + 4 if spill else height
    return placed, bottom


def _projection(points: Sequence[Point], width: float, height: float
                ) -> Callable[[Point], tuple[float, float]]:
    """Longitude and latitude to the drawing (equirectangular at the middle latitude, north
    up, the same scale both ways), fitted to ``points`` with a margin."""
    lat0 = sum(p.lat for p in points) / len(points)
    kx = math.cos(math.radians(lat0))
    xs = [p.lon * kx for p in points]
    ys = [p.lat for p in points]
    span_x = (max(xs) - min(xs)) or 0.01
    span_y = (max(ys) - min(ys)) or 0.01
    scale = min((width - 2 * PAD) / span_x, (height - 2 * PAD) / span_y)
    off_x = (width - span_x * scale) / 2
    off_y = (height - span_y * scale) / 2
    left, top = min(xs), max(ys)

    def at(p: Point) -> tuple[float, float]:
        return (round(off_x + (p.lon * kx - left) * scale, 1),
                round(off_y + (top - p.lat) * scale, 1))
    return at


def _path(points: Sequence[tuple[float, float]]) -> str:
    return "M" + " L".join(f"{x:.1f} {y:.1f}" for x, y in points)


def _lines(network: Network, at: Callable[[Point], tuple[float, float]],
           name: Callable[[Any], str]) -> list[Line]:
    if network.map is None:
        return []
    out = []
    found = ([network.map.border] if network.map.border else []) + list(network.map.roads)
    for line in found:
        pts = [at(p) for p in line.line]
        mid = pts[len(pts) // 2]
        out.append(Line(line.code, line.kind, name(line.name), _path(pts), mid[0], mid[1]))
    return out


def draw(network: Network, occupancy: list[dict[str, Any]], fmt: Any,
         controls: Sequence[Any], now: datetime) -> MapView:
    """The network's map: roads and the border from the reference data, parks and gates
    placed by their coordinates with counts and fill levels, closures and pauses marked, and a
    label for each place where it does not cover another."""
    counts = {o["area"]: o for o in occupancy}
    shorts = network.map.short_names if network.map else {}
    places = [(s.code, "park", s.name, s.location, s.capacity, f"staging:{s.code}")
              for s in network.staging_areas]
    places += [(g.code, "gate", g.name, g.location, sum(y.capacity for y in g.yards),
                f"gate_area:{g.code}") for g in network.gates]
    if not places:
        return MapView(WIDTH, HEIGHT, HEIGHT, [], [], [])
    extent = [p[3] for p in places]
    if network.map:
        extent += [p for r in network.map.roads for p in r.line]
    at = _projection(extent, WIDTH, HEIGHT)
    spots = [at(p[3]) for p in places]
    markers = spread(spots, width=WIDTH, height=HEIGHT)
    stopped = _stopped(controls, fmt, now)
    nodes = []
    for (code, kind, names, _loc, capacity, area), (x0, y0), (x, y) in zip(
            places, spots, markers, strict=True):
        state, until = stopped.get(code, ("open", ""))
        nodes.append(Node(code, kind, fmt.name(names), round(x, 1), round(y, 1),
                          int(counts.get(area, {}).get("vehicles", 0)), capacity,
                          at_x=x0, at_y=y0, short=fmt.name(shorts.get(code, names)),
                          state=state, until=until))
    texts = [_label_lines(n, fmt) for n in nodes]
    sizes = [(max(text_width(t) for t in lines) + 10, len(lines) * LINE + 6) for lines in texts]
    avoid = [(n.x - MARKER - 1, n.y - MARKER - 1, 2 * MARKER + 2, 2 * MARKER + 2) for n in nodes]
    avoid += COUNTRY_NAMES
    boxes, height = place_labels([(n.x, n.y) for n in nodes], sizes, WIDTH, HEIGHT, avoid)
    labels = [Label(round(b[0], 1), round(b[1], 1), round(b[2], 1), round(b[3], 1),
                    tuple(lines), n.x, n.y, n.code, n.state)
              for n, b, lines in zip(nodes, boxes, texts, strict=True)]
    return MapView(WIDTH, math.ceil(height), HEIGHT, nodes, labels,
                   _lines(network, at, fmt.name))


def _label_lines(node: Node, fmt: Any) -> list[str]:
    lines = [node.short or node.label,
             fmt.gettext(N_("{count} trucks")).format(count=fmt.number(node.vehicles))
             + (f" · {fmt.number(node.fill)}%" if node.capacity else "")]
    if node.until:
        lines.append(node.until)
    return lines


def _stopped(controls: Sequence[Any], fmt: Any, now: datetime) -> dict[str, tuple[str, str]]:
    """Per gate, the closure (else the pause) in force now and what the map says of it."""
    out: dict[str, tuple[str, str]] = {}
    for c in sorted(controls, key=lambda c: (c.kind != "closure", c.ends_at)):
        if c.kind not in STOPPED or c.starts_at > now or c.gate in out:
            continue
        said = fmt.gettext(N_("{control} until {time}")).format(
            control=fmt.label("control_kind", c.kind), time=when(fmt, c.ends_at, now))
        if c.direction:
            said += f" ({fmt.label('direction', c.direction)})"
        out[c.gate] = (c.kind, said)
    return out


def spread(points: list[tuple[float, float]], gap: float = GAP, rounds: int = 500,
           width: float = WIDTH, height: float = HEIGHT) -> list[tuple[float, float]]:
    """The points moved apart until every two are at least ``gap`` apart (as little as
    needed, pairwise, kept inside the drawing); the same input always gives the same output."""
    pts = [[x, y] for x, y in points]
    margin = MARKER + 2
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
            p[0] = min(max(p[0], margin), width - margin)
            p[1] = min(max(p[1], margin), height - margin)
        if not moved:
            break
    return [(x, y) for x, y in pts]


# --- charts ----------------------------------------------------------------------------------

CHART_W, CHART_H = 600, 230
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 10, 24, 44


@dataclass(frozen=True)
class Bar:
    hour: int
    value: int
    x: float
    y: float
    w: float
    h: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    """The plot area's edges."""
    bars: list[Bar]
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    peak: int


def nice_step(peak: int, most: int = 5) -> int:
    """The tick step for an axis from 0 to ``peak``: 1, 2 or 5 times a power of ten, with at
    most ``most`` steps."""
    step = 1
    while True:
        for k in (1, 2, 5):
            if peak <= most * step * k:
                return step * k
        step *= 10


def bar_chart(values: Sequence[int], fmt: Any) -> Chart:
    """24 hourly values as bars, with a value axis (ticks from 0, numbers in the page's
    language), hours under the bars every three hours and each value written on its bar."""
    step = nice_step(max(values, default=0) or 1)
    top_value = step * math.ceil((max(values, default=0) or 1) / step)
    left, top = float(_LEFT), float(_TOP)
    right, bottom = float(CHART_W - _RIGHT), float(CHART_H - _BOTTOM)
    slot = (right - left) / max(len(values), 1)

    def y_of(v: float) -> float:
        return round(bottom - v / top_value * (bottom - top), 1)

    bars = [Bar(i, v, round(left + i * slot + slot * 0.14, 1), y_of(v), round(slot * 0.72, 1),
                round(bottom - y_of(v), 1), str(fmt.number(v)))
            for i, v in enumerate(values)]
    y_ticks = [(y_of(v), str(fmt.number(v))) for v in range(0, top_value + 1, step)]
    x_ticks = [(round(left + i * slot + slot / 2, 1), f"{i:02d}")
               for i in range(0, len(values), 3)]
    return Chart(CHART_W, CHART_H, left, top, right, bottom, bars, y_ticks, x_ticks, top_value)


def when(fmt: Any, at: datetime | None, now: datetime) -> str:
    """A moment as the console and the board say it: the time alone today (Lang Son time),
    with the date on another day."""
    if at is None:
        return "—"
    if at.astimezone(LOCAL_TZ).date() == now.astimezone(LOCAL_TZ).date():
        return str(fmt.time(at))
    return f"{fmt.date(at, 'short')} {fmt.time(at)}"


# --- the forecast of the next days -----------------------------------------------------------


def day_label(fmt: Any, day: date) -> str:
    """A day as the forecast's columns and advice say it: weekday, day and month in the page's
    language ("Wed 9 Dec", "Th 4, 9 thg 12", "12月9日周三")."""
    return str(format_skeleton("MMMEd", day, locale=fmt.locale))


def gate_name(fmt: Any, code: str) -> str:
    """A gate's short name on the map where the network has one ("Huu Nghi"), else its
    name."""
    network = getattr(fmt, "network", None)
    shorts = network.map.short_names if network is not None and network.map else {}
    return str(fmt.name(shorts[code])) if code in shorts else str(fmt.label("gate", code))


def trucks(fmt: Any, value: float) -> str:
    """A forecast count of trucks: whole, in the page's language."""
    return str(fmt.number(round(value)))


def interval(fmt: Any, lo: float, hi: float) -> str:
    return f"{trucks(fmt, lo)}–{trucks(fmt, hi)}"


def _remedy_text(fmt: Any, r: Any, before: float) -> str:
    after = trucks(fmt, r.backlog or 0.0)
    was = trucks(fmt, before)
    if r.kind == "extra_hours":
        template = (N_("extend hours by {hours} h (backlog by midnight {after} instead of "
                       "{before})") if r.absorbs else
                    N_("extend hours by {hours} h (still {after} waiting at midnight instead "
                       "of {before})"))
        return str(fmt.gettext(template).format(hours=fmt.number(r.hours), after=after,
                                                before=was))
    moves = fmt.listing([fmt.gettext(N_("{trucks} to {gate}")).format(
        trucks=fmt.number(n), gate=gate_name(fmt, g)) for g, n in r.moves])
    template = (N_("send {moves} (backlog by midnight {after} instead of {before})")
                if r.absorbs else
                N_("send {moves} (still {after} waiting at midnight instead of {before})"))
    return str(fmt.gettext(template).format(moves=moves, after=after, before=was))


def advice_line(fmt: Any, advice: Any, lo80: float | None = None) -> str:
    """One day forecast over a gate's places and what would absorb it, in the page's
    language (the direction in lower case, as within a sentence): "Wed 9 Dec: Huu Nghi,
    export: forecast 340 trucks (80 %: 310–370) against 272 places: extend hours by 1 h
    (backlog by midnight 18 instead of 26), or send 40 to Chi Ma and 28 to Tan Thanh (...)"."""
    facts = fmt.gettext(N_("{day}: {gate}, {direction}: forecast {mean} trucks (80 %: "
                           "{interval}) against {capacity} places")).format(
        day=day_label(fmt, advice.day), gate=gate_name(fmt, advice.gate),
        direction=fmt.label("direction", advice.direction).lower(),
        mean=trucks(fmt, advice.mean),
        interval=interval(fmt, advice.mean if lo80 is None else lo80, advice.hi80),
        capacity=fmt.number(advice.capacity))
    # a remedy that leaves as many trucks waiting at midnight as none is no advice
    remedies = [_remedy_text(fmt, r, advice.backlog) for r in advice.remedies
                if r.backlog is not None and round(r.backlog) < round(advice.backlog)]
    if not remedies:
        return str(fmt.gettext(N_("{facts}: neither extra hours nor a shift to other gates "
                                  "leaves fewer trucks waiting at midnight ({before})")).format(
            facts=facts, before=trucks(fmt, advice.backlog)))
    said = remedies[0]
    for more in remedies[1:]:
        said = fmt.gettext(N_("{first}, or {second}")).format(first=said, second=more)
    return str(fmt.gettext(N_("{facts}: {remedies}")).format(facts=facts, remedies=said))
