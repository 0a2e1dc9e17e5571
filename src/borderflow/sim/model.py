"""A scenario and its network compiled into arrays: routes (gate × direction), stations,
working hours in simulated minutes, and the trucks that will arrive (drawn from a seeded
generator).

Simulated time is in minutes from local midnight of the scenario's first day (local time of
the network, Asia/Ho_Chi_Minh for Lang Son: no daylight saving).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays as holidays_lib
import numpy as np
from numpy.typing import NDArray

from borderflow.domain import booking as booking_rules
from borderflow.domain.dispatch import Policy
from borderflow.domain.network import FLOWS, WEEKDAYS, Flow, FlowCapacity, Gate, Names, Network
from borderflow.domain.procedure import Step
from borderflow.domain.trip import PRIORITIES, priority_class
from borderflow.sim.scenario import Demand, Distribution, Scenario, Station

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

SLOT_MINUTES = 30
SKIPPED_KINDS = ("declaration", "transport", "vehicle_control")
"""Procedure steps before the gate area: they are the call-forward itself, not stations."""
GOODS = ("fresh-fruit", "cassava-roots", "machinery")
"""Representative goods group of a perishable, a quarantine and an ordinary truck: which gates
may take it follows from the network's goods lists."""


def draw(rng: np.random.Generator, d: Distribution, n: int) -> FloatArray:
    """``n`` times (minutes) from a distribution."""
    if d.dist == "constant" or (d.dist != "exponential" and d.cv == 0.0):
        return np.full(n, d.mean)
    if d.dist == "exponential":
        return rng.exponential(d.mean, n)
    if d.dist == "gamma":
        shape = 1.0 / (d.cv * d.cv)
        return rng.gamma(shape, d.mean / shape, n)
    sigma2 = math.log1p(d.cv * d.cv)
    return rng.lognormal(math.log(d.mean) - sigma2 / 2.0, math.sqrt(sigma2), n)


@dataclass(frozen=True)
class Route:
    """One gate and direction: its stations (procedure steps after entry into the gate area)
    and how trucks reach it."""

    index: int
    gate: Gate
    direction: Flow
    steps: tuple[str, ...]
    kinds: tuple[str, ...]
    conditions: tuple[str, ...]
    """When each step applies (always, quarantine, transshipment, driver_crosses)."""
    staged: bool
    """Called forward from a staging area (otherwise trucks come straight to the gate)."""
    area: int
    """Index of the staging area, -1 when not staged."""
    yards: tuple[int, ...]
    policy: Policy


@dataclass(frozen=True)
class Road:
    """A road on the Vietnamese side where trucks queue: the road a staging area or a gate
    names in the network, else the road to that place."""

    key: str
    """The road's code in the network's map, or ``to:<place code>`` when the place names no
    road."""
    name: Names
    """The road's name, or the place's when the place names no road."""
    named: bool
    """False: ``name`` is the place's (the road to it)."""


def road_of(network: Network, place: str, road: str | None, name: Names) -> Road:
    """The road a place (a staging area or a gate) names, or the road to it."""
    roads = {r.code: r for r in network.map.roads} if network.map is not None else {}
    found = roads.get(road) if road is not None else None
    if found is None:
        return Road(f"to:{place}", name, named=False)
    return Road(found.code, found.name, named=True)


@dataclass(frozen=True)
class PartnerCounts:
    """The partner side's yard counts of one gate, oldest first: when (simulated minute),
    the vehicles counted and the yard's capacity; and how long each is used."""

    at: list[float]
    vehicles: list[int]
    capacity: list[int]
    report_hours: float


@dataclass
class Model:
    scenario: Scenario
    network: Network
    base: datetime
    """Simulated minute 0 (local midnight of the first day)."""
    horizon: float
    routes: list[Route]
    yard_codes: list[str]
    yard_capacity: IntArray
    area_codes: list[str]
    area_capacity: IntArray
    gate_codes: list[str]
    open_start: FloatArray
    open_end: FloatArray
    gate_off: IntArray
    """Open intervals of gate g: ``open_start[gate_off[g]:gate_off[g+1]]``."""
    slot_places: IntArray
    """(routes, slots): call-forward places of each 30-minute slot (0 when closed)."""
    pauses: list[list[booking_rules.Control]]
    """Per route, the regulator's pauses of call-forward (no truck called while one is in
    force, :func:`borderflow.domain.booking.paused`)."""
    partner_counts: dict[str, PartnerCounts]
    """Per gate code, the partner side's yard counts (exports; gates without any absent)."""
    route_station: IntArray
    route_prereq: IntArray
    route_nsteps: IntArray
    station_gate: IntArray
    station_servers: IntArray
    station_names: list[str]
    roads: list[Road]
    """The roads where trucks of the run may queue: the staging areas' (when full), then the
    gates' where exports come straight to the gate."""
    road_of_area: list[int]
    """Per staging area, its road (index in ``roads``; -1 when no route is staged there)."""
    road_of_route: list[int]
    """Per route, the road its trucks queue on while waiting to enter the gate area (exports
    not regulated through a staging area), -1 for the others."""
    # trucks, in arrival order
    arrival: FloatArray
    route: IntArray
    klass: IntArray
    perishable: BoolArray
    service: FloatArray
    applies: BoolArray
    travel: FloatArray
    no_show_draw: FloatArray
    quarantine: BoolArray
    """Goods that need quarantine (perishable goods always do)."""
    crosses: BoolArray
    """The driver crosses the border (the medical step applies)."""
    route_dists: list[list[Distribution]]
    """Per route, the service time of each step."""
    move_rng: np.random.Generator
    """Draws the service times of a truck moved to a gate with other steps (a stream of its
    own, so the replication's other draws do not change)."""
    booked_slot: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Per truck, the 30-minute slot it booked (index from minute 0), -1 when it did not book
    (``dispatch.booked_share``)."""

    @property
    def trucks(self) -> int:
        return int(self.arrival.shape[0])

    def at(self, minute: float) -> datetime:
        return self.base + timedelta(minutes=minute)


def _holidays(years: range) -> dict[str, frozenset[date]]:
    out = {}
    for country in ("VN", "CN"):
        found: set[date] = set()
        for y in years:
            found |= set(holidays_lib.country_holidays(country, years=y).keys())
        out[country] = frozenset(found)
    return out


def _open_intervals(scenario: Scenario, network: Network, gate: Gate, first: date, days: int,
                    hols: dict[str, frozenset[date]]) -> list[tuple[float, float]]:
    calendar = network.calendar(gate.calendar)
    change = scenario.gates.get(gate.code)
    if calendar is None or (change is not None and not change.open):
        return []
    out: list[tuple[float, float]] = []
    for d in range(days):
        day = first + timedelta(days=d)
        hours = calendar.hours_on(day, hols)
        spans = [(d * 1440.0 + r.start.hour * 60 + r.start.minute,
                  d * 1440.0 + r.end.hour * 60 + r.end.minute) for r in hours.intervals]
        if spans and change is not None:
            if change.lunch_through:
                spans = [(spans[0][0], spans[-1][1])]
            if change.extra_hours:
                a, b = spans[-1]
                spans[-1] = (a, min(b + change.extra_hours * 60.0, (d + 1) * 1440.0))
        out += spans
    tz = ZoneInfo(network.timezone)
    if change is not None:
        for c in change.closures:
            a = _minute(c.start, first, tz)
            out = _cut(out, a, a + c.hours * 60.0)
    # the regulator's controls of the whole gate (no direction) open or stop its gate area
    for control in scenario.controls:
        if control.gate != gate.code or control.direction is not None:
            continue
        a = _minute(control.start, first, tz)
        if control.kind == "closure":
            out = _cut(out, a, a + control.hours * 60.0)
        elif control.kind == "extended_hours":
            out = _union([*out, (a, a + control.hours * 60.0)])
    return out


def _minute(at: datetime, first: date, tz: ZoneInfo) -> float:
    """Simulated minute of a scenario time (local unless it names its offset)."""
    local = at.astimezone(tz) if at.tzinfo is not None else at
    return (local.date() - first).days * 1440.0 + local.hour * 60 + local.minute


def _cut(spans: list[tuple[float, float]], a: float, b: float) -> list[tuple[float, float]]:
    """Open intervals with ``[a, b)`` taken out."""
    out: list[tuple[float, float]] = []
    for s, e in spans:
        if e <= a or s >= b:
            out.append((s, e))
            continue
        if s < a:
            out.append((s, a))
        if e > b:
            out.append((b, e))
    return out


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Intervals sorted and merged where they touch or overlap."""
    out: list[tuple[float, float]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _open_before(starts: FloatArray, ends: FloatArray, at: FloatArray) -> FloatArray:
    """Open minutes before each instant of ``at`` (intervals sorted and disjoint)."""
    if starts.size == 0:
        return np.zeros(at.shape[0])
    cum = np.concatenate(([0.0], np.cumsum(ends - starts)))
    k = np.searchsorted(starts, at, side="right")
    past_end = np.where(k > 0, np.maximum(0.0, ends[np.maximum(k - 1, 0)] - at), 0.0)
    out: FloatArray = cum[k] - past_end
    return out


def _policy(scenario: Scenario, network: Network, gate: Gate) -> Policy:
    """The gate's dispatch policy, as the live dispatcher builds it from the network."""
    r = gate.regulation
    window = (r.green_window.start, r.green_window.end) if r.green_window else None
    kind = r.policy if scenario.dispatch.policy == "network" else scenario.dispatch.policy
    return Policy(kind=kind, cycle=r.cycle, grace_minutes=r.grace_minutes, green_window=window,
                  green_classes=r.green_classes, share_green_window=r.share_green_window,
                  timezone=network.timezone, reroute_after_minutes=r.reroute_after_minutes,
                  no_show=r.no_show)


def _station(scenario: Scenario, gate: Gate, step: str) -> Station | None:
    change = scenario.gates.get(gate.code)
    if change is not None and step in change.stations:
        return change.stations[step]
    return scenario.stations.get(step)


def compile_model(scenario: Scenario, network: Network, rng: np.random.Generator) -> Model:
    """Build the arrays of one replication: the gates' working hours and yards, the routes
    and their stations, then the trucks (drawn from ``rng``)."""
    tz = ZoneInfo(network.timezone)
    base = datetime.combine(scenario.start, datetime.min.time(), tz)
    area_codes = [a.code for a in network.staging_areas]
    area_capacity = np.array([scenario.staging_capacity if scenario.staging_capacity is not None
                              else a.capacity for a in network.staging_areas], dtype=np.int64)
    hours = _working_hours(scenario, network)
    yard_codes, yard_capacity = _yards(scenario, network)
    table = _routes(scenario, network, hours, area_codes, yard_codes)
    route_station, route_prereq, route_nsteps = _route_arrays(table)
    roads, road_of_area, road_of_route = _roads(network, table.routes)
    trucks = _trucks(scenario, table, rng)
    places = np.array(table.places_rows, dtype=np.int64).reshape(
        len(table.routes), scenario.days * 1440 // SLOT_MINUTES)
    move_rng = _own_stream(rng)  # drawn before the bookings' stream: moves keep their draws
    return Model(
        scenario=scenario, network=network, base=base, horizon=scenario.days * 1440.0,
        routes=table.routes, yard_codes=yard_codes,
        yard_capacity=np.array(yard_capacity, dtype=np.int64), area_codes=area_codes,
        area_capacity=area_capacity, gate_codes=[g.code for g in network.gates],
        open_start=hours.open_start, open_end=hours.open_end,
        gate_off=np.array(hours.gate_off, dtype=np.int64),
        slot_places=places, pauses=table.pauses,
        partner_counts=_partner_counts(scenario, network, base),
        route_station=route_station, route_prereq=route_prereq, route_nsteps=route_nsteps,
        station_gate=np.array(table.station_gate, dtype=np.int64),
        station_servers=np.array(table.station_servers, dtype=np.int64),
        station_names=table.station_names, roads=roads, road_of_area=road_of_area,
        road_of_route=road_of_route, arrival=trucks.arrival, route=trucks.route, klass=trucks.klass,
        perishable=trucks.perishable, service=trucks.service, applies=trucks.applies,
        travel=trucks.travel, no_show_draw=trucks.no_show_draw, quarantine=trucks.quarantine,
        crosses=trucks.crosses, route_dists=table.dists, move_rng=move_rng,
        booked_slot=_bookings(scenario, table.routes, trucks.route, trucks.arrival, places,
                              _own_stream(rng)))


def _own_stream(rng: np.random.Generator) -> np.random.Generator:
    """A generator of its own derived from ``rng``'s seed, drawing nothing from ``rng``."""
    seq = getattr(rng.bit_generator, "seed_seq", None)
    if isinstance(seq, np.random.SeedSequence):
        return np.random.default_rng(seq.spawn(1)[0])
    return np.random.default_rng(np.random.SeedSequence(0))  # pragma: no cover


def _bookings(scenario: Scenario, routes: list[Route], route: IntArray, arrival: FloatArray,
              places: IntArray, rng: np.random.Generator) -> IntArray:
    """The slot each truck books (-1: none). A share ``dispatch.booked_share`` of the trucks
    called forward from a staging area book, in the order they arrive, the first slot of their
    gate and direction with a free place from the slot in which they reach the staging area;
    a slot takes as many bookings as it has call-forward places, as the live booking service
    (a truck finding none to the end of the run does not book)."""
    n = arrival.shape[0]
    booked = np.full(n, -1, dtype=np.int64)
    share = scenario.dispatch.booked_share
    staged = np.array([r.staged for r in routes] + [False], dtype=np.bool_)[route]
    if share <= 0.0 or not staged.any():
        return booked
    books = staged & (rng.random(n) < share)
    rows = places.tolist()
    taken = [[0] * len(row) for row in rows]
    slots = places.shape[1]
    first = (arrival // SLOT_MINUTES).astype(np.int64).tolist()
    route_l = route.tolist()
    for i in np.flatnonzero(books).tolist():
        r = route_l[i]
        free, used = rows[r], taken[r]
        s = first[i]
        while s < slots and used[s] >= free[s]:
            s += 1
        if s < slots:
            used[s] += 1
            booked[i] = s
    return booked


def step_row(route: Route, dists: list[Distribution], quarantine: bool, crosses: bool,
             rng: np.random.Generator, width: int) -> tuple[FloatArray, BoolArray]:
    """One truck's service times and steps that apply on ``route`` (as
    :func:`_service_times` draws them), for a truck moved there from a gate with other
    steps."""
    service = np.zeros(width)
    applies = np.zeros(width, dtype=np.bool_)
    for j, condition in enumerate(route.conditions):
        service[j] = draw(rng, dists[j], 1)[0]
        applies[j] = (True if condition == "always" else quarantine if condition == "quarantine"
                      else route.gate.transshipment if condition == "transshipment"
                      else crosses)
    return service, applies


def _roads(network: Network, routes: list[Route]) -> tuple[list[Road], list[int], list[int]]:
    """The roads where trucks queue (see :attr:`Model.roads`), each once, and which staging
    area and route queue on which."""
    roads: list[Road] = []

    def index(road: Road) -> int:
        for i, r in enumerate(roads):
            if r.key == road.key:
                return i
        roads.append(road)
        return len(roads) - 1

    areas = network.staging_areas
    used = {r.area for r in routes if r.staged}
    road_of_area = [index(road_of(network, a.code, a.road, a.name)) if i in used else -1
                    for i, a in enumerate(areas)]
    road_of_route = [index(road_of(network, r.gate.code, r.gate.road, r.gate.name))
                     if not r.staged and r.direction == "export" else -1 for r in routes]
    return roads, road_of_area, road_of_route


# --- the gates: working hours and yards


@dataclass(frozen=True)
class _Hours:
    """The open intervals of every gate over the scenario, in simulated minutes."""

    open_start: FloatArray
    open_end: FloatArray
    gate_off: list[int]
    """Gate g's intervals are ``[gate_off[g], gate_off[g + 1])``."""

    def of_gate(self, g: int) -> tuple[FloatArray, FloatArray]:
        lo, hi = self.gate_off[g], self.gate_off[g + 1]
        return self.open_start[lo:hi], self.open_end[lo:hi]


def _working_hours(scenario: Scenario, network: Network) -> _Hours:
    """Every gate's open intervals over the scenario's days (its calendar, Vietnamese and
    Chinese holidays, and the scenario's changes to it)."""
    hols = _holidays(range(scenario.start.year - 1, scenario.start.year + 3))
    starts: list[float] = []
    ends: list[float] = []
    gate_off = [0]
    for gate in network.gates:
        spans = _open_intervals(scenario, network, gate, scenario.start, scenario.days, hols)
        starts += [a for a, _ in spans]
        ends += [b for _, b in spans]
        gate_off.append(len(starts))
    return _Hours(np.array(starts), np.array(ends), gate_off)


def _yards(scenario: Scenario, network: Network) -> tuple[list[str], list[int]]:
    """Every gate's yards, gate by gate, and their capacities (times the scenario's
    ``yard_factor`` of the gate)."""
    yard_codes: list[str] = []
    yard_capacity: list[int] = []
    for gate in network.gates:
        factor = scenario.gates[gate.code].yard_factor if gate.code in scenario.gates else 1.0
        for y in gate.yards:
            yard_codes.append(y.code)
            yard_capacity.append(round(y.capacity * factor))
    return yard_codes, yard_capacity


# --- the routes and their stations


@dataclass
class _RouteTable:
    """The routes (open gate × direction with a procedure) and, route by route, their
    stations."""

    routes: list[Route] = field(default_factory=list)
    station_gate: list[int] = field(default_factory=list)
    station_servers: list[int] = field(default_factory=list)
    station_names: list[str] = field(default_factory=list)
    dists: list[list[Distribution]] = field(default_factory=list)
    """Per route, the service time of each step."""
    prereqs: list[list[list[int]]] = field(default_factory=list)
    """Per route and step, the steps it waits for (-2: entry into the gate area)."""
    places_rows: list[IntArray] = field(default_factory=list)
    """Per route, the call-forward places of each slot."""
    pauses: list[list[booking_rules.Control]] = field(default_factory=list)
    """Per route, the regulator's pauses of call-forward."""


def _routes(scenario: Scenario, network: Network, hours: _Hours, area_codes: list[str],
            yard_codes: list[str]) -> _RouteTable:
    """Every gate and direction open in the scenario with a procedure: its stations (the
    procedure's steps after entry into the gate area), whether it is regulated through a
    staging area, its yards, its policy and its places per slot."""
    slots = scenario.days * 1440 // SLOT_MINUTES
    slot_edges = np.arange(slots + 1, dtype=np.float64) * SLOT_MINUTES
    table = _RouteTable()
    for gi, gate in enumerate(network.gates):
        change = scenario.gates.get(gate.code)
        for direction in FLOWS:
            flow = gate.capacity_for(direction)
            procedure = network.procedure_for(gate.code, direction)
            if flow is None or procedure is None or (change is not None and not change.open):
                continue
            steps = [s for s in procedure.steps if s.kind not in SKIPPED_KINDS]
            codes = tuple(s.code for s in steps)
            vph = (change.vehicles_per_hour.get(direction, flow.vehicles_per_hour)
                   if change is not None else flow.vehicles_per_hour)
            route_dists = []
            route_pre = []
            for s in steps:
                dist, servers = _station_service(scenario, gate, direction, s, flow, vph)
                table.station_gate.append(gi)
                table.station_servers.append(servers)
                table.station_names.append(f"{gate.code}/{direction}/{s.code}")
                route_dists.append(dist)
                pre = [codes.index(p) if p in codes else -2
                       for p in procedure.prerequisites(s.code)]
                route_pre.append(sorted(set(pre)) or [-2])
            staged = (scenario.regulation == "staging" and gate.staging_area is not None
                      and any(s.kind == "vehicle_control" for s in procedure.steps))
            area = area_codes.index(gate.staging_area) if staged and gate.staging_area else -1
            yards = tuple(yard_codes.index(y.code) for y in gate.yards
                          if direction in y.directions)
            table.routes.append(Route(len(table.routes), gate, direction, codes,
                                      tuple(s.kind for s in steps),
                                      tuple(s.applies for s in steps), staged, area, yards,
                                      _policy(scenario, network, gate)))
            table.dists.append(route_dists)
            table.prereqs.append(route_pre)
            rules = _controls(scenario, network, gate.code, direction)
            table.places_rows.append(_controlled_places(
                vph, *hours.of_gate(gi), slot_edges, [r for r in rules if r.kind != "pause"],
                datetime.combine(scenario.start, datetime.min.time(), ZoneInfo(network.timezone))))
            table.pauses.append([r for r in rules if r.kind == "pause"])
    return table


def _partner_counts(scenario: Scenario, network: Network, base: datetime
                    ) -> dict[str, PartnerCounts]:
    """The scenario's partner-side yard counts per gate, oldest first (a count without its
    capacity takes the network's)."""
    tz = ZoneInfo(network.timezone)
    rows: dict[str, list[tuple[float, int, int]]] = {}
    hours: dict[str, float] = {}
    for pc in scenario.partner_counts:
        gate = network.gate(pc.gate)
        capacity = pc.capacity if pc.capacity is not None else (
            gate.partner.yard_capacity if gate is not None else None)
        if gate is None or capacity is None:
            continue  # refused when the scenario is checked against its network
        at = pc.counted_at.astimezone(tz) if pc.counted_at.tzinfo is not None else \
            pc.counted_at.replace(tzinfo=tz)
        rows.setdefault(pc.gate, []).append(
            ((at - base).total_seconds() / 60.0, pc.vehicles, capacity))
        hours[pc.gate] = float(gate.regulation.partner_report_hours)
    out = {}
    for code, found in rows.items():
        found.sort(key=lambda r: r[0])
        out[code] = PartnerCounts([r[0] for r in found], [r[1] for r in found],
                                  [r[2] for r in found], hours[code])
    return out


def _controls(scenario: Scenario, network: Network, gate: str, direction: Flow
              ) -> list[booking_rules.Control]:
    """The scenario's controls of a gate and direction (or of the whole gate), in the order
    the scenario gives them, as the live rules read them."""
    tz = ZoneInfo(network.timezone)
    out = []
    for c in scenario.controls:
        if c.gate != gate or c.direction not in (None, direction):
            continue
        start = c.start.astimezone(tz) if c.start.tzinfo is not None else c.start.replace(
            tzinfo=tz)
        out.append(booking_rules.Control(c.kind, start, start + timedelta(hours=c.hours),
                                         c.vehicles_per_hour))
    return out


def _controlled_places(vph: int, open_start: FloatArray, open_end: FloatArray,
                       slot_edges: FloatArray, controls: list[booking_rules.Control],
                       base: datetime) -> IntArray:
    """Call-forward places per slot (:func:`_slot_places`), and in the slots the regulator's
    controls overlap, as the live booking service counts them
    (:func:`borderflow.domain.booking.controlled_places`)."""
    places = _slot_places(vph, open_start, open_end, slot_edges)
    if not controls:
        return places
    minutes = np.diff(_open_before(open_start, open_end, slot_edges)).astype(np.int64)
    last = len(places)
    for c in controls:
        a = (c.starts_at - base).total_seconds() / 60.0
        b = (c.ends_at - base).total_seconds() / 60.0
        for k in range(max(0, int(a // SLOT_MINUTES)), min(last, math.ceil(b / SLOT_MINUTES))):
            start = base + timedelta(minutes=float(slot_edges[k]))
            end = start + timedelta(minutes=SLOT_MINUTES)
            over = [r for r in controls if r.starts_at < end and r.ends_at > start]
            places[k] = booking_rules.controlled_places(vph, int(minutes[k]), start, over,
                                                        SLOT_MINUTES)
    return places


def _station_service(scenario: Scenario, gate: Gate, direction: Flow, step: Step,
                     flow: FlowCapacity, vph: int) -> tuple[Distribution, int]:
    """The service time and servers of a step's station at a gate: the partner side's pace
    for an export crossing when the scenario gives one; a minute on one server per lane when
    the scenario gives no station; else the scenario's, with enough servers for 1.25 times the
    gate's vehicles per hour unless it says how many."""
    change = scenario.gates.get(gate.code)
    st = _station(scenario, gate, step.code)
    if step.kind == "crossing" and direction == "export" and change is not None \
            and change.partner_per_hour is not None:
        return Distribution(dist="constant", mean=60.0 / change.partner_per_hour), 1
    if st is None:
        return Distribution(dist="constant", mean=1.0), max(1, flow.lanes)
    dist = st.service
    return dist, st.servers or max(1, math.ceil(1.25 * max(vph, 1) * dist.mean / 60.0))


def _slot_places(vph: int, open_start: FloatArray, open_end: FloatArray,
                 slot_edges: FloatArray) -> IntArray:
    """Call-forward places per slot: vehicles per hour over the open minutes (as
    ``domain.booking``)."""
    minutes = np.diff(_open_before(open_start, open_end, slot_edges))
    places: IntArray = (vph * minutes.astype(np.int64)) // 60
    return places


def _route_arrays(table: _RouteTable) -> tuple[IntArray, IntArray, IntArray]:
    """The routes as the station kernel reads them: ``route_station[r, j]`` the station of
    step j of route r, ``route_prereq[r, j, :]`` the steps it waits for (padded with -1), and
    ``route_nsteps[r]``."""
    routes = table.routes
    prereqs = table.prereqs
    n_routes = len(routes)
    max_steps = max(len(r.steps) for r in routes)
    max_pre = max(len(p) for pre in prereqs for p in pre)
    route_station = np.full((n_routes, max_steps), -1, dtype=np.int64)
    route_prereq = np.full((n_routes, max_steps, max_pre + 1), -1, dtype=np.int64)
    route_nsteps = np.array([len(r.steps) for r in routes], dtype=np.int64)
    next_station = 0
    for ri in range(n_routes):
        for j in range(len(routes[ri].steps)):
            route_station[ri, j] = next_station
            route_prereq[ri, j, :len(prereqs[ri][j])] = prereqs[ri][j]
            next_station += 1
    return route_station, route_prereq, route_nsteps


# --- the trucks


@dataclass(frozen=True)
class _Trucks:
    """The trucks of one replication, in arrival order (the ``Model``'s truck arrays)."""

    arrival: FloatArray
    route: IntArray
    klass: IntArray
    perishable: BoolArray
    service: FloatArray
    applies: BoolArray
    travel: FloatArray
    no_show_draw: FloatArray
    quarantine: BoolArray
    crosses: BoolArray


@dataclass(frozen=True)
class _Kinds:
    """What each truck carries and is: drawn per truck, in arrival order."""

    export: BoolArray
    perishable: BoolArray
    quarantine: BoolArray
    crosses: BoolArray
    """Its driver crosses the border."""
    klass: IntArray
    goods: IntArray
    """Index in ``GOODS`` of its representative goods group."""


def _trucks(scenario: Scenario, table: _RouteTable, rng: np.random.Generator) -> _Trucks:
    """Draw the trucks, in this order from ``rng``: arrivals, what each is, the route it
    prefers (trucks no open gate takes are dropped), its service times, travel time from the
    staging area and no-show draw."""
    d = scenario.demand
    day_factor, perish_factor, export_factor = _day_factors(scenario)
    gate: list[str] | None = None
    if d.forecast:
        arrival, direction, gate = _forecast_arrivals(scenario, rng)
        kinds = _kinds(d, arrival, scenario.days, perish_factor, export_factor, rng,
                       export=direction)
    else:
        arrival = _arrivals(d, day_factor, rng)
        kinds = _kinds(d, arrival, scenario.days, perish_factor, export_factor, rng)
    route = _preferred_routes(d, table.routes, kinds.export, kinds.goods, rng, gate=gate)
    keep = route >= 0
    arrival, route, klass, perishable, quarantine, crosses = (
        arrival[keep], route[keep], kinds.klass[keep], kinds.perishable[keep],
        kinds.quarantine[keep], kinds.crosses[keep])
    n = arrival.shape[0]
    service, applies = _service_times(table, route, quarantine, crosses, rng)
    travel = draw(rng, scenario.dispatch.travel, n)
    no_show_draw: FloatArray = rng.random(size=(n,))
    return _Trucks(arrival, route, klass, perishable, service, applies, travel, no_show_draw,
                   quarantine, crosses)


def _day_factors(scenario: Scenario) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per day: the demand factor (weekday, normalised to a mean of 1, times the factors of the
    periods the day is in), and the periods' perishable and export factors."""
    d = scenario.demand
    days = scenario.days
    wf = np.array([d.weekday_factors.get(w, 1.0) for w in WEEKDAYS])
    wf = wf / wf.mean() if wf.mean() > 0 else wf
    day_factor = np.empty(days)
    perish_factor = np.ones(days)
    export_factor = np.ones(days)
    for i in range(days):
        day = scenario.start + timedelta(days=i)
        f = wf[day.weekday()]
        for p in d.periods:
            if p.start <= day <= p.end:
                f *= p.factor
                perish_factor[i] *= p.perishable_factor
                export_factor[i] *= p.export_factor
        day_factor[i] = f
    return day_factor, perish_factor, export_factor


def _arrivals(d: Demand, day_factor: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Arrival times, sorted: Poisson counts per hour (the day's factor times the hourly
    profile), uniform within the hour."""
    days = day_factor.shape[0]
    profile = np.asarray(d.hourly_profile, dtype=np.float64)
    profile = profile / profile.sum()
    rate = (d.trucks_per_day * day_factor[:, None] * profile[None, :]).ravel()
    counts = rng.poisson(rate)
    hour = np.repeat(np.arange(days * 24), counts)
    arrival: FloatArray = np.sort(hour * 60.0 + rng.random(hour.shape[0]) * 60.0)
    return arrival


def _forecast_arrivals(scenario: Scenario, rng: np.random.Generator
                       ) -> tuple[FloatArray, BoolArray, list[str]]:
    """Arrival times (sorted), direction (export) and gate of each truck, from the forecast
    days: per day and series a probability drawn, the trucks at that probability (rounded at
    random), spread over the hours by the hourly profile, uniform within the hour."""
    d = scenario.demand
    profile = np.asarray(d.hourly_profile, dtype=np.float64)
    profile = profile / profile.sum()
    times: list[FloatArray] = []
    export: list[BoolArray] = []
    gates: list[str] = []
    for f in sorted(d.forecast, key=lambda f: (f.date, f.gate, f.direction)):
        day = (f.date - scenario.start).days
        if not 0 <= day < scenario.days:
            continue
        value = f.quantile(float(rng.random()))
        n = int(value) + int(rng.random() < value - int(value))
        hours = np.repeat(np.arange(24), rng.multinomial(n, profile))
        times.append(day * 1440.0 + hours * 60.0 + rng.random(n) * 60.0)
        export.append(np.full(n, f.direction == "export"))
        gates.extend([f.gate] * n)
    if not times:
        return np.zeros(0), np.zeros(0, dtype=bool), []
    t = np.concatenate(times)
    order = np.argsort(t, kind="stable")
    return t[order], np.concatenate(export)[order], [gates[i] for i in order]


def _kinds(d: Demand, arrival: FloatArray, days: int, perish_factor: FloatArray,
           export_factor: FloatArray, rng: np.random.Generator,
           export: BoolArray | None = None) -> _Kinds:
    """Each truck's direction (unless given), goods (perishable, quarantine), AEO and urgent
    status, hence its priority class (as ``domain.trip.priority_class``), and whether its
    driver crosses."""
    n = arrival.shape[0]
    day_of = np.minimum((arrival // 1440).astype(np.int64), days - 1)
    drawn = rng.random(n) < np.minimum(d.export_share * export_factor[day_of], 1.0)
    export = drawn if export is None else export
    p_share = np.where(export, d.perishable_share.get("export", 0.0),
                       d.perishable_share.get("import", 0.0))
    perishable = rng.random(n) < np.minimum(p_share * perish_factor[day_of], 1.0)
    quarantine = perishable | (rng.random(n) < d.quarantine_share)
    aeo = rng.random(n) < d.aeo_share
    urgent = rng.random(n) < d.urgent_share
    crosses = rng.random(n) < np.where(export, d.driver_crosses.get("export", 0.3),
                                       d.driver_crosses.get("import", 1.0))
    klass = np.array([PRIORITIES.index(priority_class(p, a)) for p in (False, True)
                      for a in (False, True)], dtype=np.int64)[perishable * 2 + aeo]
    klass = np.where(urgent, PRIORITIES.index("urgent"), klass)
    goods = np.where(perishable, 0, np.where(quarantine, 1, 2))
    return _Kinds(export, perishable, quarantine, crosses, klass, goods)


def _preferred_routes(d: Demand, routes: list[Route], export: BoolArray, goods: IntArray,
                      rng: np.random.Generator, gate: list[str] | None = None) -> IntArray:
    """Each truck's route: drawn from its direction's gate shares among the open gates that
    permit its goods (equal shares when none of them has a share); -1 when no open gate
    permits them. A truck given its gate (``gate``: the forecast's) takes that gate's route
    when the gate permits its goods."""
    n = export.shape[0]
    route = np.full(n, -1, dtype=np.int64)
    pick: FloatArray = rng.random(size=(n,))
    for direction in FLOWS:
        shares = d.gates.get(direction, {})
        for gk, group in enumerate(GOODS):
            cand = [r for r in routes if r.direction == direction
                    and r.gate.permits_group(group) and shares.get(r.gate.code, 0.0) > 0]
            mask = (export == (direction == "export")) & (goods == gk)
            if not cand:
                cand = [r for r in routes if r.direction == direction
                            and r.gate.permits_group(group)]
                if not cand:
                    continue
                weights = np.ones(len(cand))
            else:
                weights = np.array([shares[c.gate.code] for c in cand])
            cum = np.cumsum(weights / weights.sum())
            idx = np.minimum(np.searchsorted(cum, pick[mask], side="right"), len(cand) - 1)
            route[mask] = np.array([r.index for r in cand], dtype=np.int64)[idx]
    if gate is not None:
        own: dict[tuple[str, bool, int], int] = {}
        for r in routes:
            for gk, group in enumerate(GOODS):
                if r.gate.permits_group(group):
                    own.setdefault((r.gate.code, r.direction == "export", gk), r.index)
        for i, code in enumerate(gate):
            j = own.get((code, bool(export[i]), int(goods[i])))
            if j is not None:
                route[i] = j
    return route


def _service_times(table: _RouteTable, route: IntArray, quarantine: BoolArray,
                   crosses: BoolArray, rng: np.random.Generator) -> tuple[FloatArray, BoolArray]:
    """Per truck and step of its route, the service time (drawn route by route, step by step)
    and whether the step applies to it (always, quarantine goods, a transshipment gate, a
    driver who crosses)."""
    n = route.shape[0]
    max_steps = max(len(r.steps) for r in table.routes)
    service = np.zeros((n, max_steps))
    applies = np.zeros((n, max_steps), dtype=np.bool_)
    for r in table.routes:
        mine = np.flatnonzero(route == r.index)
        # the route's rows filled column by column, then put in place at once (a scatter of
        # whole rows, not of each column)
        times = np.zeros((mine.shape[0], max_steps))
        ok = np.zeros((mine.shape[0], max_steps), dtype=np.bool_)
        for j, condition in enumerate(r.conditions):
            times[:, j] = draw(rng, table.dists[r.index][j], mine.shape[0])
            if condition == "always":
                ok[:, j] = True
            elif condition == "quarantine":
                ok[:, j] = quarantine[mine]
            elif condition == "transshipment":
                ok[:, j] = r.gate.transshipment
            else:
                ok[:, j] = crosses[mine]
        service[mine] = times
        applies[mine] = ok
    return service, applies
