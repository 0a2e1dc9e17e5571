"""Scenario files: what a simulation run assumes, checked field by field.

A scenario is a YAML document (see docs/simulation.md for every field). It names the reference
network (the packaged Lang Son network by default), the simulated period, the demand (trucks
per day by hour, weekday and season, split by direction, gate, goods and priority class), the
regulation (call-forward through the staging area by the live dispatch policy, or none), and
per-gate changes (hours, closures, capacity, partner-side acceptance, stations).

A scenario's ``name`` and ``description`` are either plain text or given per language
(``name: {vi: ..., en: ..., zh: ...}``); as a string each is its English text (else the
Vietnamese, else the first given), and :meth:`LocalText.in_` picks a language.

Validation errors name the field path and the reason (``demand.export_share: Input should be
less than or equal to 1``), through :class:`ScenarioError`; each reason is a message
(:func:`borderflow.errors.msg`) that a page shows in its own language.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import core_schema

from borderflow.domain.network import WEEKDAYS, Network
from borderflow.errors import Text, msg
from borderflow.jsondoc import pydantic_reason

PACKAGED_NETWORK = Path(__file__).resolve().parent.parent / "data" / "network" / "lang-son.yaml"
CLASSES = ("urgent", "aeo_perishable", "perishable", "aeo", "normal")


LANGS = ("vi", "en", "zh")


class ScenarioError(ValueError):
    """A scenario file that cannot be used; ``problems`` lists (field path, reason), each
    reason a message (:class:`borderflow.errors.Text`) whose English is what it says."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = "; ".join(f"{path}: {reason}" for path, reason in problems)
        super().__init__(f"{source}: {lines}")

    def messages(self) -> list[Text]:
        """Each problem as a message naming the file and the field."""
        name = Path(self.source).name
        return [msg("{file}, {field}: {problem}", file=name, field=path,
                    problem=reason if isinstance(reason, Text)
                    else msg("This value is not accepted."))
                for path, reason in self.problems]


class LocalText(str):
    """A scenario's name or description: plain text, or text per language (vi, en, zh).
    As a string it is the English (else the Vietnamese, else the first given)."""

    translations: dict[str, str]

    def __new__(cls, value: str | Mapping[str, str]) -> LocalText:
        translations = {} if isinstance(value, str) else {k: str(v) for k, v in value.items()}
        plain = value if isinstance(value, str) else (
            translations.get("en") or translations.get("vi")
            or next(iter(translations.values()), ""))
        self = super().__new__(cls, plain)
        self.translations = translations
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (LocalText, (self.translations or str(self),))

    def in_(self, lang: str) -> str:
        """The text in ``lang`` (the plain text when it is not given in that language)."""
        return self.translations.get(lang) or str(self)

    @classmethod
    def _check(cls, value: Any) -> LocalText:
        if isinstance(value, LocalText):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, Mapping) and value:
            wrong = [k for k in value if k not in LANGS]
            if wrong:
                raise ValueError(msg("languages are vi, en and zh, not {keys}",
                                     keys=[str(k) for k in wrong]))
            if not all(isinstance(v, str) for v in value.values()):
                raise ValueError(msg("each language's text must be text"))
            return cls({str(k): v for k, v in value.items()})
        raise ValueError(msg("text, or text per language (vi, en, zh)"))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler
                                     ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._check, serialization=core_schema.plain_serializer_function_ser_schema(
                lambda v: v.translations or str(v)))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Share = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]


class Distribution(_Model):
    """A service or travel time in minutes. ``exponential`` (mean), ``lognormal`` and
    ``gamma`` (mean and coefficient of variation ``cv``), ``constant`` (mean)."""

    dist: Literal["exponential", "lognormal", "gamma", "constant"] = "lognormal"
    mean: Positive
    cv: Annotated[float, Field(ge=0.0, le=5.0)] = 0.5


class Station(_Model):
    """One procedure step at a gate: parallel servers (officers, lanes, bays) and the service
    time of one truck. ``servers`` omitted: enough for the gate's hourly capacity with 25%
    spare (ceil(1.25 × vehicles_per_hour × mean / 60))."""

    servers: Annotated[int, Field(ge=1, le=500)] | None = None
    service: Distribution


class Closure(_Model):
    """The gate stops (no call-forward, no service, no entry) for ``hours`` from ``start``
    (local time)."""

    start: datetime
    hours: Positive
    reason: str = "closure"


class Control(_Model):
    """A regulator's control over a gate for a period, as the dispatch controls have it
    (``POST /api/v1/gates/{gate}/controls``): ``closure`` (no truck called; without
    ``direction`` the gate area stops too), ``capacity`` (call-forward places per hour,
    ``vehicles_per_hour``), ``extended_hours`` (the gate opens for the period even where its
    calendar is closed; without ``direction`` the gate area works then too) and ``pause`` (no
    truck called; the gate area goes on). Slot places and pauses follow the live rules
    (:func:`borderflow.domain.booking.controlled_places` and
    :func:`~borderflow.domain.booking.paused`)."""

    gate: str
    direction: Literal["export", "import"] | None = None
    """Omitted: both directions."""
    kind: Literal["closure", "capacity", "extended_hours", "pause"]
    start: datetime
    """Local time unless it names its offset."""
    hours: Annotated[float, Field(gt=0.0, le=24.0 * 60)]
    vehicles_per_hour: Annotated[int, Field(ge=0, le=10_000)] | None = None
    """For ``capacity`` (required) and ``extended_hours`` (omitted: the gate's rate)."""

    @model_validator(mode="after")
    def _rate(self) -> Control:
        if self.kind == "capacity" and self.vehicles_per_hour is None:
            raise ValueError(msg("a capacity control needs vehicles_per_hour"))
        return self


class PartnerCount(_Model):
    """A count of the vehicles in the partner side's yard at a gate (export trucks), as the
    daily exchange or a regulator records it (``POST /api/v1/gates/{gate}/partner-yard``):
    the lab limits the exports it calls to that gate by the room it leaves, as the live
    dispatcher does."""

    gate: str
    counted_at: datetime
    """Local time unless it names its offset."""
    vehicles: Annotated[int, Field(ge=0)]
    capacity: Annotated[int, Field(ge=0)] | None = None
    """The partner yard's capacity (omitted: the network's)."""


class GateChange(_Model):
    """Changes to one gate of the network for this scenario."""

    open: bool = True
    """False: the gate takes no trucks (its demand goes to the other gates of the direction
    that permit the goods)."""
    extra_hours: Annotated[float, Field(ge=0.0, le=12.0)] = 0.0
    """Hours added after closing on every working day."""
    lunch_through: bool = False
    """Work through the lunch break on every working day."""
    vehicles_per_hour: dict[Literal["export", "import"], Annotated[int, Field(ge=0)]] = {}
    """Call-forward places per hour of open time, replacing the network's."""
    partner_per_hour: Annotated[float, Field(gt=0.0)] | None = None
    """Trucks per hour the partner side accepts at this gate (the crossing step of exports);
    omitted: no limit beyond the crossing station."""
    yard_factor: Annotated[float, Field(ge=0.0, le=10.0)] = 1.0
    """Multiplies the capacity of the gate's yards."""
    closures: list[Closure] = []
    stations: dict[str, Station] = {}
    """Per step code, replacing the scenario-wide station."""


class Period(_Model):
    """A season: from ``start`` to ``end`` (local dates, inclusive) demand is multiplied by
    ``factor`` and the perishable share by ``perishable_factor`` (capped at 1)."""

    start: date
    end: date
    factor: Annotated[float, Field(ge=0.0, le=10.0)] = 1.0
    perishable_factor: Annotated[float, Field(ge=0.0, le=10.0)] = 1.0
    export_factor: Annotated[float, Field(ge=0.0, le=10.0)] = 1.0
    """Multiplies the export share (capped at 1)."""

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(msg("end must not be before start"))
        return self


class ForecastDay(_Model):
    """One day's forecast trucks at one gate and direction (the platform's demand forecast,
    see docs/forecasting.md): the mean and the bounds of the 80 % and 95 % intervals."""

    date: date
    gate: str
    direction: Literal["export", "import"]
    mean: Annotated[float, Field(ge=0.0)]
    lo80: Annotated[float, Field(ge=0.0)]
    hi80: Annotated[float, Field(ge=0.0)]
    lo95: Annotated[float, Field(ge=0.0)]
    hi95: Annotated[float, Field(ge=0.0)]

    @model_validator(mode="after")
    def _ordered(self) -> ForecastDay:
        if not self.lo95 <= self.lo80 <= self.mean <= self.hi80 <= self.hi95:
            raise ValueError(msg("must hold lo95 <= lo80 <= mean <= hi80 <= hi95"))
        return self

    def quantile(self, u: float) -> float:
        """The trucks at probability ``u``: linear between the interval bounds (the mean taken
        as the median), the tails extended with the slope of the outer band, never below 0."""
        tail = 0.025 / 0.075
        xs = (0.0, 0.025, 0.1, 0.5, 0.9, 0.975, 1.0)
        ys = (max(0.0, self.lo95 - (self.lo80 - self.lo95) * tail), self.lo95, self.lo80,
              self.mean, self.hi80, self.hi95, self.hi95 + (self.hi95 - self.hi80) * tail)
        for i in range(1, len(xs)):
            if u <= xs[i]:
                w = (u - xs[i - 1]) / (xs[i] - xs[i - 1])
                return ys[i - 1] + w * (ys[i] - ys[i - 1])
        return ys[-1]


class Demand(_Model):
    trucks_per_day: Positive
    """Average trucks per day arriving over all gates and both directions."""
    export_share: Share
    hourly_profile: list[Annotated[float, Field(ge=0.0)]] = Field(min_length=24, max_length=24)
    """Relative arrivals in each local hour 0–23 (normalised)."""
    weekday_factors: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                          Annotated[float, Field(ge=0.0)]] = {}
    periods: list[Period] = []
    gates: dict[Literal["export", "import"], dict[str, Annotated[float, Field(ge=0.0)]]]
    """Share of each direction's trucks preferring each gate (normalised)."""
    perishable_share: dict[Literal["export", "import"], Share]
    quarantine_share: Share = 0.3
    """Share of non-perishable trucks whose goods need plant or animal quarantine (perishable
    goods always do)."""
    aeo_share: Share = 0.1
    urgent_share: Share = 0.005
    driver_crosses: dict[Literal["export", "import"], Share] = {"export": 0.3, "import": 1.0}
    forecast: list[ForecastDay] = []
    """"The next days as forecast": when given, each replication draws each day's trucks at
    each gate and direction from its forecast (a fresh draw per replication, so the
    replications spread over the forecast's uncertainty) and spreads them over the day by
    ``hourly_profile``; ``trucks_per_day``, the weekday factors, the periods and the gate shares
    then set nothing, and a day or gate the list leaves out gets no trucks."""

    @model_validator(mode="after")
    def _shares(self) -> Demand:
        if sum(self.hourly_profile) <= 0:
            raise ValueError(msg("hourly_profile must have at least one positive hour"))
        for direction in ("export", "import"):
            shares = self.gates.get(direction)
            if not shares or sum(shares.values()) <= 0:
                raise ValueError(msg("gates.{code} must give at least one gate a share",
                                     code=direction))
        return self


class Dispatch(_Model):
    cycle_minutes: Annotated[int, Field(ge=1, le=60)] = 10
    """How often the dispatcher decides (the live one runs every minute; slot places are per
    30-minute slot, as live)."""
    priority: bool = True
    """False: every truck is called as an ordinary one (first come first served)."""
    policy: Literal["network", "strict", "cycle"] = "network"
    """``network``: each gate's policy from the reference network."""
    travel: Distribution = Distribution(dist="lognormal", mean=25.0, cv=0.3)
    """Drive from the staging area to the gate after the call."""
    no_show_probability: Share = 0.02
    booked_share: Share = 0.0
    """Share of the trucks called forward from a staging area that book a slot ahead, as
    through the live booking service: each books the first 30-minute slot of its gate that
    still takes a booking, from the slot in which it reaches the staging area (a slot takes
    as many bookings as it has call-forward places). A booked truck is called first in its
    class once its slot has come, and not before; a move to another gate gives its booking
    back."""
    reroute: bool = True
    """Hourly, move trucks waiting for an overloaded or closed gate to another by the live
    re-routing planner."""


def _not_empty(text: LocalText) -> LocalText:
    if not text.strip() or not all(v.strip() for v in text.translations.values()):
        raise ValueError(msg("a name is needed"))
    return text


class Scenario(_Model):
    name: Annotated[LocalText, AfterValidator(_not_empty)]
    """Plain text, or per language: ``{vi: ..., en: ..., zh: ...}``."""
    description: LocalText = LocalText("")
    """Plain text, or per language, like ``name``."""
    network: str | None = None
    """Path of a network file (relative to the scenario file); omitted: the packaged Lang Son
    network."""
    start: date
    days: Annotated[int, Field(ge=1, le=800)]
    warmup_days: Annotated[int, Field(ge=0, le=60)] = 1
    regulation: Literal["staging", "none"] = "staging"
    """``staging``: trucks wait in the staging area and are called forward by the live
    dispatch policy; ``none``: they drive straight to their gate, first come first served."""
    staging_capacity: Annotated[int, Field(ge=0)] | None = None
    """Trucks the staging area holds (omitted: the network's)."""
    truck_spacing_m: Positive = 20.0
    """Road length one queued truck takes (vehicle and gap), for queue kilometres."""
    demand: Demand
    dispatch: Dispatch = Dispatch()
    stations: dict[str, Station]
    """Service per procedure step code (medical, border_guard, quarantine, customs,
    transshipment, fee, crossing, exit)."""
    gates: dict[str, GateChange] = {}
    controls: list[Control] = []
    """The regulator's controls during the scenario (closures, capacity, extended hours,
    pauses), each as the live dispatcher applies it."""
    partner_counts: list[PartnerCount] = []
    """The partner side's yard counts during the scenario: each is used for the gate's
    ``partner_report_hours`` to limit the exports called there, as the live dispatcher
    does."""

    @model_validator(mode="after")
    def _warmup(self) -> Scenario:
        if self.warmup_days >= self.days:
            raise ValueError(msg("warmup_days must be fewer than days"))
        return self


_network_adapter: TypeAdapter[Network] = TypeAdapter(Network)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "document"


def parse(document: Any, source: str = "scenario") -> Scenario:
    """A scenario document checked into a :class:`Scenario` (all problems at once)."""
    if not isinstance(document, dict):
        raise ScenarioError(source, [("document", msg("a scenario must be a mapping"))])
    try:
        return Scenario.model_validate(document)
    except ValidationError as exc:
        raise ScenarioError(source, _problems(exc)) from None


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    return [(_path(e["loc"]), pydantic_reason(e)) for e in exc.errors()]


def load_network(path: Path) -> Network:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(str(path), [("network", msg("cannot read the network: {detail}",
                                                         detail=str(exc)))]) from None
    try:
        network = _network_adapter.validate_python(document)
    except ValidationError as exc:
        raise ScenarioError(str(path), _problems(exc)) from None
    problems = network.problems()
    if problems:
        raise ScenarioError(str(path), [(p.field, p.reason) for p in problems])
    return network


def check_against(scenario: Scenario, network: Network, source: str) -> None:
    """Cross-checks a scenario against its network: gate and step codes exist."""
    problems: list[tuple[str, str]] = []
    codes = {g.code for g in network.gates}
    steps = {s.code for p in network.procedures for s in p.steps}
    for direction, shares in scenario.demand.gates.items():
        for code in shares:
            gate = network.gate(code)
            if gate is None:
                problems.append((f"demand.gates.{direction}.{code}", msg("no such gate")))
            elif not gate.permits_direction(direction):
                problems.append((f"demand.gates.{direction}.{code}",
                                 msg("the gate takes no {direction} traffic",
                                     direction=direction)))
    for code, change in scenario.gates.items():
        if code not in codes:
            problems.append((f"gates.{code}", msg("no such gate")))
        problems += [(f"gates.{code}.stations.{s}", msg("no such procedure step"))
                     for s in change.stations if s not in steps]
    problems += [(f"stations.{s}", msg("no such procedure step"))
                 for s in scenario.stations if s not in steps]
    for i, f in enumerate(scenario.demand.forecast):
        problems += _gate_problems(network, f"demand.forecast.{i}", f.gate, f.direction)
    for i, c in enumerate(scenario.controls):
        problems += _gate_problems(network, f"controls[{i}]", c.gate, c.direction)
    for i, pc in enumerate(scenario.partner_counts):
        found = _gate_problems(network, f"partner_counts[{i}]", pc.gate, "export",
                               direction_field="gate")
        gate = network.gate(pc.gate)
        if not found and gate is not None and pc.capacity is None \
                and gate.partner.yard_capacity is None:
            found = [(f"partner_counts[{i}].capacity",
                      msg("the network gives no capacity for the partner yard at this gate: "
                          "give the count's"))]
        problems += found
    for day in scenario.demand.weekday_factors:
        if day not in WEEKDAYS:  # pragma: no cover - the Literal already refuses it
            problems.append((f"demand.weekday_factors.{day}", msg("not a weekday")))
    if problems:
        raise ScenarioError(source, problems)


def _gate_problems(network: Network, path: str, code: str, direction: str | None,
                   direction_field: str = "direction") -> list[tuple[str, Any]]:
    """A gate a scenario names (at ``path``) that the network lacks, or that takes no
    ``direction`` traffic."""
    gate = network.gate(code)
    if gate is None:
        return [(f"{path}.gate", msg("no such gate"))]
    if direction is not None and not gate.permits_direction(direction):  # type: ignore[arg-type]
        return [(f"{path}.{direction_field}",
                 msg("the gate takes no {direction} traffic", direction=direction))]
    return []


def merge(base: Any, change: Any) -> Any:
    """``change`` over ``base``: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(change, dict):
        out = dict(base)
        for k, v in change.items():
            out[k] = merge(base.get(k), v) if k in base else v
        return out
    return change


OWN = ("name", "description")
"""What a scenario that extends another always says for itself, in every language it gives."""


def read_document(path: Path, seen: tuple[Path, ...] = ()) -> Any:
    """A scenario document with what it ``extends`` (another scenario file, relative to it)
    merged under it (its ``name`` and ``description`` replace the other's whole)."""
    if path.resolve() in seen:
        raise ScenarioError(str(path), [("extends",
                                         msg("scenarios extend each other in a loop"))])
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(str(path), [("document", msg("not valid YAML: {detail}",
                                                          detail=str(exc)))]) from None
    except OSError as exc:
        raise ScenarioError(str(path), [("document", msg("cannot read the file: {detail}",
                                                          detail=exc.strerror or str(exc)))]
                            ) from None
    if isinstance(document, dict) and "extends" in document:
        document = dict(document)
        parent = document.pop("extends")
        if not isinstance(parent, str):
            raise ScenarioError(str(path), [("extends",
                                             msg("the path of another scenario file"))])
        base = read_document(path.parent / parent, (*seen, path.resolve()))
        if isinstance(base, dict):  # a name or description is replaced whole, never merged
            base = {k: v for k, v in base.items() if k not in OWN or k not in document}
        document = merge(base, document)
        if isinstance(base, dict) and "network" in base and "network" not in document:
            document["network"] = str(Path(parent).parent / base["network"])
    return document


def load(path: Path) -> tuple[Scenario, Network]:
    """A scenario file and the network it runs on."""
    return load_document(read_document(path), str(path), path.parent)


def load_document(document: Any, source: str, folder: Path | None = None
                  ) -> tuple[Scenario, Network]:
    """A scenario document (a file's, or one made by the platform, e.g. the next days as
    forecast) and the network it runs on (a ``network`` path is relative to ``folder``)."""
    scenario = parse(document, source)
    network_path = (PACKAGED_NETWORK if not scenario.network
                    else (folder or Path.cwd()) / scenario.network)
    network = load_network(network_path)
    check_against(scenario, network, source)
    return scenario, network
