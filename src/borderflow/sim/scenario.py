"""Scenario files: what a simulation run assumes, checked field by field.

A scenario is a YAML document (see docs/simulation.md for every field). It names the reference
network (the packaged Lang Son network by default), the simulated period, the demand (trucks
per day by hour, weekday and season, split by direction, gate, goods and priority class), the
regulation (call-forward through the staging area by the live dispatch policy, or none), and
per-gate changes (hours, closures, capacity, partner-side acceptance, stations).

Validation errors name the field path and the reason (``demand.export_share: Input should be
less than or equal to 1``), through :class:`ScenarioError`.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from borderflow.domain.network import WEEKDAYS, Network

PACKAGED_NETWORK = Path(__file__).resolve().parent.parent / "data" / "network" / "lang-son.yaml"
CLASSES = ("urgent", "aeo_perishable", "perishable", "aeo", "normal")


class ScenarioError(ValueError):
    """A scenario file that cannot be used; ``problems`` lists (field path, reason)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = "; ".join(f"{path}: {reason}" for path, reason in problems)
        super().__init__(f"{source}: {lines}")


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
            raise ValueError("end must not be before start")
        return self


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

    @model_validator(mode="after")
    def _shares(self) -> Demand:
        if sum(self.hourly_profile) <= 0:
            raise ValueError("hourly_profile must have at least one positive hour")
        for direction in ("export", "import"):
            shares = self.gates.get(direction)
            if not shares or sum(shares.values()) <= 0:
                raise ValueError(f"gates.{direction} must give at least one gate a share")
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
    reroute: bool = True
    """Hourly, move trucks waiting for an overloaded or closed gate to another by the live
    re-routing planner."""


class Scenario(_Model):
    name: str = Field(min_length=1)
    description: str = ""
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

    @model_validator(mode="after")
    def _warmup(self) -> Scenario:
        if self.warmup_days >= self.days:
            raise ValueError("warmup_days must be fewer than days")
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
        raise ScenarioError(source, [("document", "a scenario must be a mapping")])
    try:
        return Scenario.model_validate(document)
    except ValidationError as exc:
        raise ScenarioError(source, [(_path(e["loc"]), e["msg"]) for e in exc.errors()]
                            ) from None


def load_network(path: Path) -> Network:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(str(path), [("network", f"cannot read the network: {exc}")]
                            ) from None
    try:
        network = _network_adapter.validate_python(document)
    except ValidationError as exc:
        raise ScenarioError(str(path), [(_path(e["loc"]), e["msg"]) for e in exc.errors()]
                            ) from None
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
                problems.append((f"demand.gates.{direction}.{code}", "no such gate"))
            elif not gate.permits_direction(direction):
                problems.append((f"demand.gates.{direction}.{code}",
                                 f"the gate takes no {direction} traffic"))
    for code, change in scenario.gates.items():
        if code not in codes:
            problems.append((f"gates.{code}", "no such gate"))
        problems += [(f"gates.{code}.stations.{s}", "no such procedure step")
                     for s in change.stations if s not in steps]
    problems += [(f"stations.{s}", "no such procedure step")
                 for s in scenario.stations if s not in steps]
    for day in scenario.demand.weekday_factors:
        if day not in WEEKDAYS:  # pragma: no cover - the Literal already refuses it
            problems.append((f"demand.weekday_factors.{day}", "not a weekday"))
    if problems:
        raise ScenarioError(source, problems)


def merge(base: Any, change: Any) -> Any:
    """``change`` over ``base``: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(change, dict):
        out = dict(base)
        for k, v in change.items():
            out[k] = merge(base.get(k), v) if k in base else v
        return out
    return change


def read_document(path: Path, seen: tuple[Path, ...] = ()) -> Any:
    """A scenario document with what it ``extends`` (another scenario file, relative to it)
    merged under it."""
    if path.resolve() in seen:
        raise ScenarioError(str(path), [("extends", "scenarios extend each other in a loop")])
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(str(path), [("document", f"not valid YAML: {exc}")]) from None
    except OSError as exc:
        raise ScenarioError(str(path), [("document", str(exc))]) from None
    if isinstance(document, dict) and "extends" in document:
        document = dict(document)
        parent = document.pop("extends")
        if not isinstance(parent, str):
            raise ScenarioError(str(path), [("extends", "the path of another scenario file")])
        base = read_document(path.parent / parent, (*seen, path.resolve()))
        document = merge(base, document)
        if isinstance(base, dict) and "network" in base and "network" not in document:
            document["network"] = str(Path(parent).parent / base["network"])
    return document


def load(path: Path) -> tuple[Scenario, Network]:
    """A scenario file and the network it runs on."""
    document = read_document(path)
    scenario = parse(document, str(path))
    network_path = (path.parent / scenario.network) if scenario.network else PACKAGED_NETWORK
    network = load_network(network_path)
    check_against(scenario, network, str(path))
    return scenario, network
