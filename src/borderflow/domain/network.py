"""The reference network: gates, routes, yards, staging areas, calendars and the goods catalogue.

A network is an immutable snapshot. The data file (YAML) is parsed into these dataclasses by the
network service; nothing here reads files or the clock. Times of day are local to the
calendar's timezone (Asia/Ho_Chi_Minh for Lang Son).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from borderflow.domain.procedure import Procedure, ReasonCode
from borderflow.errors import FieldError

FORMAT_VERSION = 1

Flow = Literal["export", "import"]
"""Physical direction of a vehicle at a gate: ``export`` leaves Vietnam, ``import`` enters it."""

FLOWS: tuple[Flow, ...] = ("export", "import")

GateKind = Literal[
    "international",  # international border gate (cửa khẩu quốc tế)
    "main",  # main / bilateral border gate (cửa khẩu chính)
    "secondary",  # secondary border gate (cửa khẩu phụ)
    "dedicated_route",  # dedicated goods road (đường chuyên dụng vận chuyển hàng hóa)
    "clearance_route",  # goods clearance route (lối mở / đường thông quan hàng hóa)
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

QuarantineKind = Literal["none", "plant", "animal"]


@dataclass(frozen=True)
class Names:
    """A name in Vietnamese, English and Chinese."""

    vi: str
    en: str
    zh: str

    def __post_init__(self) -> None:
        for lang in ("vi", "en", "zh"):
            if not getattr(self, lang).strip():
                raise ValueError(f"name in '{lang}' must not be empty")


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not -90.0 <= self.lat <= 90.0:
            raise ValueError("lat must be between -90 and 90")
        if not -180.0 <= self.lon <= 180.0:
            raise ValueError("lon must be between -180 and 180")


@dataclass(frozen=True)
class Area:
    """A geofence: a polygon (list of [lat, lon] vertices) or a circle (centre and radius)."""

    polygon: tuple[Point, ...] = ()
    center: Point | None = None
    radius_m: float | None = None

    def __post_init__(self) -> None:
        if self.polygon and self.center is not None:
            raise ValueError("an area is either a polygon or a circle, not both")
        if self.polygon:
            if len(self.polygon) < 3:
                raise ValueError("a polygon needs at least 3 vertices")
        elif self.center is None or self.radius_m is None or self.radius_m <= 0:
            raise ValueError("an area needs a polygon, or a center with a positive radius_m")


@dataclass(frozen=True)
class TimeRange:
    start: time
    end: time

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("end must be after start")

    def contains(self, t: time) -> bool:
        return self.start <= t < self.end


@dataclass(frozen=True)
class WeeklyHours:
    """Regular opening hours on the given weekdays, with breaks (e.g. lunch)."""

    days: tuple[Weekday, ...]
    open: time
    close: time
    breaks: tuple[TimeRange, ...] = ()

    def __post_init__(self) -> None:
        if not self.days:
            raise ValueError("days must name at least one weekday")
        if self.close <= self.open:
            raise ValueError("close must be after open")
        for b in self.breaks:
            if b.start < self.open or b.end > self.close:
                raise ValueError("breaks must lie within opening hours")


@dataclass(frozen=True)
class HolidayRule:
    """Which countries' public holidays close (or shorten) the gate.

    ``observe`` lists ISO country codes (``VN``, ``CN``); a day that is a public holiday on
    either side gets ``hours`` (``None`` means closed).
    """

    observe: tuple[str, ...] = ("VN", "CN")
    open: time | None = None
    close: time | None = None

    def __post_init__(self) -> None:
        if (self.open is None) != (self.close is None):
            raise ValueError("holiday hours need both open and close, or neither (closed)")
        if self.open is not None and self.close is not None and self.close <= self.open:
            raise ValueError("close must be after open")


@dataclass(frozen=True)
class ExtendedHours:
    """A dated period of extended hours (peak seasons), optionally working through lunch."""

    start_date: date
    end_date: date
    open: time
    close: time
    reason: str
    days: tuple[Weekday, ...] = WEEKDAYS
    include_holidays: bool = False
    lunch_through: bool = True

    def __post_init__(self) -> None:
        if self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        if self.close <= self.open:
            raise ValueError("close must be after open")
        if not self.reason.strip():
            raise ValueError("reason must not be empty")

    def covers(self, day: date) -> bool:
        return self.start_date <= day <= self.end_date and WEEKDAYS[day.weekday()] in self.days


@dataclass(frozen=True)
class DatedException:
    """One date with its own hours, or closed (``open``/``close`` omitted)."""

    day: date
    reason: str
    open: time | None = None
    close: time | None = None
    breaks: tuple[TimeRange, ...] = ()

    def __post_init__(self) -> None:
        if (self.open is None) != (self.close is None):
            raise ValueError("give both open and close, or neither (closed all day)")
        if self.open is not None and self.close is not None:
            if self.close <= self.open:
                raise ValueError("close must be after open")
            for b in self.breaks:
                if b.start < self.open or b.end > self.close:
                    raise ValueError("breaks must lie within the day's hours")
        elif self.breaks:
            raise ValueError("a closed day has no breaks")
        if not self.reason.strip():
            raise ValueError("reason must not be empty")


DayKind = Literal["regular", "extended", "holiday", "exception", "closed"]


@dataclass(frozen=True)
class DayHours:
    """What a calendar says about one local date: open intervals and why."""

    day: date
    kind: DayKind
    intervals: tuple[TimeRange, ...]
    reason: str = ""

    @property
    def is_closed(self) -> bool:
        return not self.intervals

    def is_open_at(self, t: time) -> bool:
        return any(r.contains(t) for r in self.intervals)


def _subtract(open_: time, close: time, breaks: tuple[TimeRange, ...]) -> tuple[TimeRange, ...]:
    """Opening hours minus breaks, as ordered non-empty intervals."""
    out: list[TimeRange] = []
    cursor = open_
    for b in sorted(breaks, key=lambda r: r.start):
        if cursor >= close:
            break
        if b.start > cursor:
            out.append(TimeRange(cursor, min(b.start, close)))
        cursor = max(cursor, b.end)
    if cursor < close:
        out.append(TimeRange(cursor, close))
    return tuple(out)


@dataclass(frozen=True)
class Calendar:
    """A working-hours calendar.

    Precedence for a date: dated exception, then extended hours, then public holiday, then the
    regular weekly hours; a weekday with no regular hours is closed.
    """

    code: str
    regular: tuple[WeeklyHours, ...]
    holidays: HolidayRule = field(default_factory=HolidayRule)
    extended: tuple[ExtendedHours, ...] = ()
    exceptions: tuple[DatedException, ...] = ()
    timezone: str = "Asia/Ho_Chi_Minh"

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for w in self.regular:
            for d in w.days:
                if d in seen:
                    raise ValueError(f"weekday '{d}' has regular hours twice")
                seen.add(d)
        dates = [e.day for e in self.exceptions]
        if len(dates) != len(set(dates)):
            raise ValueError("a date may have only one exception")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone '{self.timezone}' (use e.g. Asia/Ho_Chi_Minh)"
                             ) from None

    def hours_on(self, day: date, holidays: Mapping[str, Collection[date]]) -> DayHours:
        """Opening hours on a local date. ``holidays`` maps country code to its holiday dates."""
        for exc in self.exceptions:
            if exc.day == day:
                if exc.open is None or exc.close is None:
                    return DayHours(day, "closed", (), exc.reason)
                return DayHours(
                    day, "exception", _subtract(exc.open, exc.close, exc.breaks), exc.reason
                )
        is_holiday = any(day in holidays.get(c, ()) for c in self.holidays.observe)
        regular = self._regular_for(day)
        for ext in self.extended:
            if ext.covers(day) and (ext.include_holidays or not is_holiday):
                breaks = () if ext.lunch_through or regular is None else regular.breaks
                return DayHours(day, "extended", _subtract(ext.open, ext.close, breaks), ext.reason)
        if is_holiday:
            rule = self.holidays
            if rule.open is None or rule.close is None:
                return DayHours(day, "closed", (), "public holiday")
            return DayHours(day, "holiday", (TimeRange(rule.open, rule.close),), "public holiday")
        if regular is None:
            return DayHours(day, "closed", (), "no regular hours on this weekday")
        return DayHours(day, "regular", _subtract(regular.open, regular.close, regular.breaks))

    def is_open(self, at: datetime, holidays: Mapping[str, Collection[date]]) -> bool:
        """Whether the gate works at an aware instant."""
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        local = at.astimezone(ZoneInfo(self.timezone))
        return self.hours_on(local.date(), holidays).is_open_at(local.time())

    def _regular_for(self, day: date) -> WeeklyHours | None:
        wd = WEEKDAYS[day.weekday()]
        for w in self.regular:
            if wd in w.days:
                return w
        return None


@dataclass(frozen=True)
class FlowCapacity:
    """What a gate does in one direction: lanes, hourly capacity and the procedure followed."""

    direction: Flow
    lanes: int
    vehicles_per_hour: int
    procedure: str

    def __post_init__(self) -> None:
        if self.lanes < 1:
            raise ValueError("lanes must be at least 1")
        if self.vehicles_per_hour < 1:
            raise ValueError("vehicles_per_hour must be at least 1")


@dataclass(frozen=True)
class Yard:
    """A parking/inspection yard in a gate area."""

    code: str
    name: Names
    operator: str
    capacity: int
    area: Area
    directions: tuple[Flow, ...] = FLOWS

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError("capacity must be at least 1 vehicle")


@dataclass(frozen=True)
class PartnerGate:
    """The gate on the other side of the border."""

    name: Names
    country: str = "CN"
    yard_capacity: int | None = None
    """Vehicles the partner side's yard at this gate holds, when known: with the counts the
    partner side reports, it limits how many export trucks are sent across."""

    def __post_init__(self) -> None:
        if self.yard_capacity is not None and self.yard_capacity < 1:
            raise ValueError("yard_capacity must be at least 1 vehicle")


PRIORITY_CLASSES = ("urgent", "aeo_perishable", "perishable", "aeo", "normal")


@dataclass(frozen=True)
class GateRegulation:
    """How the dispatcher shares a gate's places among priority classes.

    ``strict``: always the highest class first. ``cycle``: the classes in the repeating
    ``cycle`` order (urgent always first), e.g. the eCherha rule 1 AEO-with-perishables :
    1 perishables : 1 AEO : 5 ordinary. ``green_channel``: inside the daily ``green_window``
    (local time) the ``green_classes`` (fresh goods) are called first and, unless
    ``share_green_window`` is false, others only when no green truck waits; outside it, strict.
    ``grace_minutes``: time a called truck has to reach the gate before it is a no-show (GoSwift
    uses 20; the default 90 matches the procedures' call-grace deadline). ``no_show``: what
    happens to a no-show: back of its class in the queue (``requeue``) or trip cancelled
    (``cancel``). ``reroute_after_minutes``: a waiting truck whose estimated call at this gate
    is later than that by more than another permitted gate would call it is moved there.
    ``partner_report_hours``: how long the partner side's latest yard count at this gate is
    used for planning (the counts are exchanged daily).
    """

    policy: Literal["strict", "cycle", "green_channel"] = "strict"
    cycle: tuple[str, ...] = (
        "aeo_perishable", "perishable", "aeo", "normal", "normal", "normal", "normal", "normal",
    )
    green_window: TimeRange | None = None
    green_classes: tuple[str, ...] = ("aeo_perishable", "perishable")
    share_green_window: bool = True
    grace_minutes: int = 90
    no_show: Literal["requeue", "cancel"] = "requeue"
    reroute_after_minutes: int = 120
    partner_report_hours: int = 36

    def __post_init__(self) -> None:
        for cls in (*self.cycle, *self.green_classes):
            if cls not in PRIORITY_CLASSES:
                raise ValueError(f"'{cls}' is not a priority class "
                                 f"({', '.join(PRIORITY_CLASSES)})")
        if self.policy == "cycle" and not self.cycle:
            raise ValueError("a cycle policy needs a cycle")
        if self.policy == "green_channel" and (self.green_window is None
                                               or not self.green_classes):
            raise ValueError("a green_channel policy needs a green_window and green_classes")
        if not 1 <= self.grace_minutes <= 24 * 60:
            raise ValueError("grace_minutes must be between 1 and 1440")
        if not 0 <= self.reroute_after_minutes <= 7 * 24 * 60:
            raise ValueError("reroute_after_minutes must be between 0 and 10080")
        if not 1 <= self.partner_report_hours <= 7 * 24:
            raise ValueError("partner_report_hours must be between 1 and 168")


@dataclass(frozen=True)
class BookingRules:
    """Abuse rules for bookings, for the whole network. A vehicle (plate) with ``bar_after``
    offences (no-shows, and cancellations less than ``late_cancellation_minutes`` before the
    booked slot) within ``window_days`` is barred from booking for ``bar_days`` after the last
    one (eCherha: 14 days). ``bar_after: 0`` turns barring off."""

    bar_after: int = 3
    window_days: int = 30
    bar_days: int = 14
    late_cancellation_minutes: int = 120

    def __post_init__(self) -> None:
        if self.bar_after < 0:
            raise ValueError("bar_after must be 0 (off) or more")
        if not 1 <= self.window_days <= 366 or not 1 <= self.bar_days <= 366:
            raise ValueError("window_days and bar_days must be between 1 and 366")
        if not 0 <= self.late_cancellation_minutes <= 7 * 24 * 60:
            raise ValueError("late_cancellation_minutes must be between 0 and 10080")


@dataclass(frozen=True)
class Gate:
    """A border gate or goods route, with its partner on the other side."""

    code: str
    name: Names
    kind: GateKind
    partner: PartnerGate
    location: Point
    area: Area
    calendar: str
    capacity: tuple[FlowCapacity, ...]
    yards: tuple[Yard, ...]
    goods: tuple[str, ...] = ("*",)
    landmarks: str | None = None
    transshipment: bool = False
    staging_area: str | None = None
    regulation: GateRegulation = field(default_factory=GateRegulation)
    road: str | None = None
    """The road (a ``map.roads`` code) on which trucks bound for the gate queue when it
    cannot take them yet; None: not named."""

    def __post_init__(self) -> None:
        dirs = [c.direction for c in self.capacity]
        if not dirs:
            raise ValueError("a gate must permit at least one direction")
        if len(dirs) != len(set(dirs)):
            raise ValueError("each direction may have only one capacity entry")

    @property
    def directions(self) -> tuple[Flow, ...]:
        return tuple(c.direction for c in self.capacity)

    def permits_direction(self, direction: Flow) -> bool:
        return direction in self.directions

    def permits_group(self, group_code: str) -> bool:
        return "*" in self.goods or group_code in self.goods

    def capacity_for(self, direction: Flow) -> FlowCapacity | None:
        for c in self.capacity:
            if c.direction == direction:
                return c
        return None


@dataclass(frozen=True)
class StagingArea:
    """A logistics park where trucks wait before they are called forward."""

    code: str
    name: Names
    operator: str
    vehicles_per_day: int
    capacity: int
    location: Point
    area: Area
    hectares: float | None = None
    road: str | None = None
    """The road (a ``map.roads`` code) on which trucks queue when the park is full; None: not
    named."""

    def __post_init__(self) -> None:
        if self.vehicles_per_day < 1 or self.capacity < 1:
            raise ValueError("vehicles_per_day and capacity must be positive")


@dataclass(frozen=True)
class Corridor:
    """An approach road watched as a geofence (e.g. National Highway 1 towards the gates)."""

    code: str
    name: Names
    area: Area


MapLineKind = Literal["border", "highway", "road"]


@dataclass(frozen=True)
class MapLine:
    """A line drawn on the control room's map (never a geofence): the border, a highway or
    a road, as a polyline of at least two points."""

    code: str
    name: Names
    line: tuple[Point, ...]
    kind: MapLineKind = "road"

    def __post_init__(self) -> None:
        if len(self.line) < 2:
            raise ValueError("a line needs at least 2 points")


@dataclass(frozen=True)
class NetworkMap:
    """What the control room's map draws besides the places: the border line, the roads
    between the staging park and the gates, and short names for the places' labels (keyed by
    gate or staging-area code). Approximate, for orientation only."""

    border: MapLine | None = None
    roads: tuple[MapLine, ...] = ()
    short_names: Mapping[str, Names] = field(default_factory=dict)

    def problems(self, places: Collection[str]) -> list[FieldError]:
        out: list[FieldError] = []
        if self.border is not None and self.border.kind != "border":
            out.append(FieldError("map.border.kind", "the border's kind must be 'border'"))
        for i, road in enumerate(self.roads):
            if road.kind == "border":
                out.append(FieldError(f"map.roads[{i}].kind", "a road is a highway or a road"))
        _unique(out, "map.roads", [r.code for r in self.roads])
        out += [FieldError(f"map.short_names.{code}", f"no gate or staging area '{code}'")
                for code in self.short_names if code not in places]
        return out


@dataclass(frozen=True)
class ValueRange:
    """The declared value per kilogram (US dollars) usual for a goods group: a value outside
    it is implausible enough to ask the declarant to check the figures."""

    min: float
    max: float

    def __post_init__(self) -> None:
        if not 0 < self.min < self.max:
            raise ValueError("min must be above 0 and max above min")


@dataclass(frozen=True)
class CommodityGroup:
    """A group of goods keyed by HS chapters (2 digits), headings (4) or subheadings (6+)."""

    code: str
    name: Names
    hs: tuple[str, ...]
    perishable: bool = False
    quarantine: QuarantineKind = "none"
    value_usd_per_kg: ValueRange | None = None

    def __post_init__(self) -> None:
        if not self.hs:
            raise ValueError("hs must list at least one chapter or heading")
        for prefix in self.hs:
            if not (prefix.isdigit() and len(prefix) in (2, 4, 6, 8, 10)):
                raise ValueError(f"hs prefix '{prefix}' must be 2, 4, 6, 8 or 10 digits")


@dataclass(frozen=True)
class Network:
    """A complete, immutable snapshot of the reference network."""

    format_version: int
    version: str
    name: Names
    timezone: str
    calendars: tuple[Calendar, ...]
    staging_areas: tuple[StagingArea, ...]
    gates: tuple[Gate, ...]
    goods: tuple[CommodityGroup, ...]
    corridors: tuple[Corridor, ...] = ()
    procedures: tuple[Procedure, ...] = ()
    reason_codes: tuple[ReasonCode, ...] = ()
    booking_rules: BookingRules = field(default_factory=BookingRules)
    map: NetworkMap | None = None

    def procedure(self, code: str) -> Procedure | None:
        return next((p for p in self.procedures if p.code == code), None)

    def procedure_for(self, gate_code: str, direction: Flow) -> Procedure | None:
        gate = self.gate(gate_code)
        capacity = gate.capacity_for(direction) if gate else None
        return self.procedure(capacity.procedure) if capacity else None

    def reason(self, code: str) -> ReasonCode | None:
        return next((r for r in self.reason_codes if r.code == code), None)

    def area_codes(self) -> dict[str, str]:
        """Every area a trip can be in, as ``kind:code`` -> the gate it belongs to ('' if
        none): staging areas, gate areas and yards."""
        out = {f"staging:{s.code}": "" for s in self.staging_areas}
        for g in self.gates:
            out[f"gate_area:{g.code}"] = g.code
            out.update({f"yard:{y.code}": g.code for y in g.yards})
        return out

    def gate(self, code: str) -> Gate | None:
        return next((g for g in self.gates if g.code == code), None)

    def calendar(self, code: str) -> Calendar | None:
        return next((c for c in self.calendars if c.code == code), None)

    def group(self, code: str) -> CommodityGroup | None:
        return next((g for g in self.goods if g.code == code), None)

    def yard(self, code: str) -> tuple[Gate, Yard] | None:
        for g in self.gates:
            for y in g.yards:
                if y.code == code:
                    return g, y
        return None

    def group_for_hs(self, hs_code: str) -> CommodityGroup | None:
        """The catalogue group for an HS code: the longest matching prefix wins."""
        best: tuple[int, CommodityGroup] | None = None
        for grp in self.goods:
            for prefix in grp.hs:
                if hs_code.startswith(prefix) and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), grp)
        return best[1] if best else None

    def gates_permitting(self, group_code: str, direction: Flow | None = None) -> list[Gate]:
        return [
            g
            for g in self.gates
            if g.permits_group(group_code) and (direction is None or g.permits_direction(direction))
        ]

    def problems(self) -> list[FieldError]:
        """Cross-reference checks a single dataclass cannot make on its own."""
        out: list[FieldError] = []
        if self.format_version != FORMAT_VERSION:
            out.append(
                FieldError("format_version", f"unsupported format {self.format_version}; "
                           f"this version reads format {FORMAT_VERSION}")
            )
        _unique(out, "calendars", [c.code for c in self.calendars])
        _unique(out, "staging_areas", [s.code for s in self.staging_areas])
        _unique(out, "gates", [g.code for g in self.gates])
        _unique(out, "goods", [g.code for g in self.goods])
        _unique(out, "corridors", [c.code for c in self.corridors])
        _unique(out, "yards", [y.code for g in self.gates for y in g.yards])
        _unique(out, "procedures", [p.code for p in self.procedures])
        _unique(out, "reason_codes", [r.code for r in self.reason_codes])
        if self.map is not None:
            out += self.map.problems([s.code for s in self.staging_areas]
                                     + [g.code for g in self.gates])
        out += self._road_problems()
        procedures = {p.code: p for p in self.procedures}
        calendars = {c.code for c in self.calendars}
        groups = {g.code for g in self.goods}
        staging = {s.code for s in self.staging_areas}
        for i, gate in enumerate(self.gates):
            where = f"gates[{i}]"
            if gate.calendar not in calendars:
                out.append(FieldError(f"{where}.calendar", f"unknown calendar '{gate.calendar}'"))
            if gate.staging_area is not None and gate.staging_area not in staging:
                out.append(
                    FieldError(f"{where}.staging_area", f"unknown staging area "
                               f"'{gate.staging_area}'")
                )
            for j, code in enumerate(gate.goods):
                if code != "*" and code not in groups:
                    out.append(FieldError(f"{where}.goods[{j}]", f"unknown goods group '{code}'"))
            for j, cap in enumerate(gate.capacity):
                proc = procedures.get(cap.procedure)
                if proc is None:
                    out.append(FieldError(f"{where}.capacity[{j}].procedure",
                                          f"unknown procedure '{cap.procedure}'"))
                elif proc.direction != cap.direction:
                    out.append(FieldError(f"{where}.capacity[{j}].procedure",
                                          f"procedure '{proc.code}' is for {proc.direction}, "
                                          f"not {cap.direction}"))
                elif (proc.step_of_kind("transport") is not None
                      and gate.staging_area is None):
                    out.append(FieldError(f"{where}.capacity[{j}].procedure",
                                          f"procedure '{proc.code}' stages trucks, but the "
                                          "gate names no staging_area"))
            for j, yard in enumerate(gate.yards):
                for d in yard.directions:
                    if not gate.permits_direction(d):
                        out.append(
                            FieldError(f"{where}.yards[{j}].directions",
                                       f"gate does not permit direction '{d}'")
                        )
        prefixes: dict[str, str] = {}
        for i, grp in enumerate(self.goods):
            for prefix in grp.hs:
                if prefix in prefixes:
                    out.append(
                        FieldError(f"goods[{i}].hs", f"'{prefix}' is already in group "
                                   f"'{prefixes[prefix]}'")
                    )
                prefixes[prefix] = grp.code
        return out


    def _road_problems(self) -> list[FieldError]:
        """Every road named by a staging area or a gate is a road of the map."""
        roads = {r.code for r in self.map.roads} if self.map is not None else set()
        named = [(f"staging_areas[{i}].road", s.road) for i, s in enumerate(self.staging_areas)]
        named += [(f"gates[{i}].road", g.road) for i, g in enumerate(self.gates)]
        return [FieldError(where, f"unknown road '{code}': name a road of map.roads")
                for where, code in named if code is not None and code not in roads]


def _unique(out: list[FieldError], where: str, codes: list[str]) -> None:
    seen: set[str] = set()
    for i, code in enumerate(codes):
        if code in seen:
            out.append(FieldError(f"{where}[{i}].code", f"duplicate code '{code}'"))
        seen.add(code)
