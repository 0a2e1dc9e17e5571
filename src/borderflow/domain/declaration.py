"""Pre-arrival declarations: customs regimes, status rules and checks against the network.

Field formats (plates, tax codes, HS codes...) are checked by :mod:`borderflow.domain.values`.
This module holds the rules that need the reference network: is the gate known and open, does
it permit the direction and the goods, is quarantine information present when the goods need it;
and the plausibility checks (:func:`plausibility`): figures that are allowed but so unusual that
the declarant is asked to check them (warnings, never refusals).

The rules work on what is known: a fact that could not be read from the document (``None``)
skips the rules that need it, so that a form shows every problem it can in one round.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from borderflow.domain.network import Flow, Gate, Network
from borderflow.errors import N_, FieldError, Text, english, msg

Direction = Literal[
    "export",
    "import",
    "transit",
    "temporary_import_reexport",
    "temporary_export_reimport",
    "transshipment",
]
DIRECTIONS: tuple[Direction, ...] = (
    "export",
    "import",
    "transit",
    "temporary_import_reexport",
    "temporary_export_reimport",
    "transshipment",
)

DEFAULT_FLOW: dict[Direction, Flow] = {"export": "export", "import": "import"}
"""Regimes whose physical direction at the gate is fixed; the others must state ``flow``."""

VehicleType = Literal[
    "truck", "container_truck", "tractor_trailer", "refrigerated_truck", "tanker", "van"
]
Container = Literal["none", "20ft", "40ft"]

Status = Literal["submitted", "cancelled"]
AMENDABLE: frozenset[str] = frozenset({"submitted"})
"""Statuses in which a declaration may still be amended or cancelled (before arrival)."""

MAX_DAYS_AHEAD = 60
MAX_VEHICLES = 50
MAX_GOODS_LINES = 200
LIGHT_LOAD_SHARE = Decimal("0.05")
"""A total net weight under this share of the vehicles' payload is implausibly light."""


def resolve_flow(direction: Direction, flow: Flow | None) -> tuple[Flow | None, FieldError | None]:
    """The vehicle's direction at the gate, from the regime and an optional explicit flow."""
    fixed = DEFAULT_FLOW.get(direction)
    if fixed is not None:
        if flow is not None and flow != fixed:
            return None, FieldError("flow", msg("a '{direction}' declaration crosses as '{flow}'",
                                                direction=direction, flow=fixed))
        return fixed, None
    if flow is None:
        return None, FieldError(
            "flow",
            msg("required for direction '{direction}': say 'export' (leaving Vietnam) or "
                "'import' (entering Vietnam)", direction=direction),
        )
    return flow, None


@dataclass(frozen=True)
class GoodsFacts:
    """One goods line; ``None`` where the document's value could not be read."""

    hs_code: str | None
    net_weight_kg: int | None
    value_usd_cents: int | None = None


@dataclass(frozen=True)
class VehicleFacts:
    plate_key: str | None
    trailer_plate_key: str | None
    payload_tonnes: float | Decimal | None


@dataclass(frozen=True)
class DeclarationFacts:
    """What the network rules need to know about a declaration (``None``: not known, because
    the document's value is missing or invalid and reported on its own)."""

    direction: Direction | None
    flow: Flow | None
    gate: str | None
    requested_date: date | None
    goods: Sequence[GoodsFacts]
    vehicles: Sequence[VehicleFacts]
    quarantine_kinds: Collection[str]
    quarantine_complete: bool = True
    """False when a certificate's kind could not be read: no certificate is then called
    unneeded."""


@dataclass(frozen=True)
class Derived:
    """Facts derived from the goods catalogue, stored with the declaration."""

    flow: Flow
    perishable: bool
    quarantine_kind: Literal["none", "plant", "animal", "plant_animal"]
    groups: tuple[str, ...]


@dataclass(frozen=True)
class DeclarationWarning:
    """A figure that is allowed but implausible: the declarant is asked to check it. ``code``
    says which check (``light_load``, ``value_per_kg_low``, ``value_per_kg_high``)."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


def _payload_kg(vehicles: Sequence[VehicleFacts]) -> Decimal | None:
    """The vehicles' payload in kilograms, exactly; None when one is not known."""
    total = Decimal(0)
    for v in vehicles:
        if v.payload_tonnes is None:
            return None
        total += Decimal(str(v.payload_tonnes)) * 1000
    return total


def _total_weight(goods: Sequence[GoodsFacts]) -> int | None:
    weights = [g.net_weight_kg for g in goods]
    if any(w is None for w in weights):
        return None
    return sum(w for w in weights if w is not None)


def _kg(value: Decimal) -> int | Decimal:
    return int(value) if value == value.to_integral_value() else value


def _plain(value: Decimal) -> Decimal:
    """A number without trailing zeros nor an exponent (``15``, ``0.1``, ``1000``)."""
    return value.to_integral_value() if value == value.to_integral_value() else value.normalize()


@dataclass(frozen=True)
class _GoodsSeen:
    """What the goods lines say, as far as their HS codes are known to the catalogue."""

    known: bool
    """Every line has an HS code the catalogue knows."""
    perishable: bool
    kinds: frozenset[str]
    """The quarantine kinds the goods need."""
    groups: tuple[str, ...]
    """Their goods groups, in the order of the lines."""


def check_declaration(
    facts: DeclarationFacts,
    network: Network,
    today: date,
    holidays: Mapping[str, Collection[date]],
) -> tuple[Derived | None, list[FieldError]]:
    """Check a declaration against the network in force; return derived facts or errors.

    Every rule whose facts are known is checked, so all problems are reported at once;
    derived facts come only with a complete declaration and no errors."""
    errors: list[FieldError] = []
    flow: Flow | None = facts.flow
    if facts.direction is not None:
        flow, flow_error = resolve_flow(facts.direction, facts.flow)
        if flow_error:
            errors.append(flow_error)
    gate = network.gate(facts.gate) if facts.gate else None
    errors += _gate_errors(facts.gate, gate, flow, network)
    errors += _date_errors(facts.requested_date, gate, flow, network, today, holidays)
    goods, goods_errors = _check_goods(facts.goods, gate, flow, network)
    errors += goods_errors
    errors += _quarantine_errors(facts, goods, network)
    errors += _vehicle_errors(facts.vehicles)
    payload_kg = _payload_kg(facts.vehicles)
    errors += _load_errors(facts, payload_kg)

    complete = (facts.direction is not None and gate is not None
                and facts.requested_date is not None and goods.known
                and all(g.net_weight_kg is not None for g in facts.goods)
                and payload_kg is not None)
    if errors or flow is None or not complete:
        return None, errors
    return Derived(flow=flow, perishable=goods.perishable,
                   quarantine_kind=_quarantine_kind(goods.kinds), groups=goods.groups), []


def _gate_errors(code: str | None, gate: Gate | None, flow: Flow | None,
                 network: Network) -> list[FieldError]:
    """The requested gate exists and takes the declaration's direction."""
    if code and gate is None:
        return [FieldError("requested_gate", msg(
            "unknown gate '{code}'; gates: {gates}", code=code,
            gates=[g.code for g in network.gates]))]
    if gate is not None and flow is not None and not gate.permits_direction(flow):
        return [FieldError("requested_gate", msg(
            "gate '{gate}' does not take {flow} traffic; gates that do: {gates}",
            gate=gate.code, flow=flow,
            gates=[g.code for g in network.gates if g.permits_direction(flow)]))]
    return []


def _date_errors(day: date | None, gate: Gate | None, flow: Flow | None, network: Network,
                 today: date, holidays: Mapping[str, Collection[date]]) -> list[FieldError]:
    """The requested date is today or later, not too far ahead, and the gate is open then
    (naming the gates that are)."""
    if day is None:
        return []
    if day < today:
        return [FieldError("requested_date",
                           msg("must be today ({today}) or later", today=today))]
    if (day - today).days > MAX_DAYS_AHEAD:
        return [FieldError("requested_date", msg(
            "must be at most {days} days ahead", days=MAX_DAYS_AHEAD))]
    if gate is None:
        return []
    calendar = network.calendar(gate.calendar)
    if calendar is None:
        return []
    hours = calendar.hours_on(day, holidays)
    if not hours.is_closed:
        return []
    open_gates = [
        g.code
        for g in network.gates
        if (cal := network.calendar(g.calendar)) is not None
        and not cal.hours_on(day, holidays).is_closed
        and (flow is None or g.permits_direction(flow))
    ]
    return [FieldError("requested_date", _closed(gate.code, day, hours.reason, open_gates))]


def _check_goods(goods: Sequence[GoodsFacts], gate: Gate | None, flow: Flow | None,
                 network: Network) -> tuple[_GoodsSeen, list[FieldError]]:
    """What the goods lines need (groups, perishable, quarantine), and the errors: HS codes
    not in the catalogue, goods the gate does not permit."""
    errors: list[FieldError] = []
    perishable = False
    kinds: set[str] = set()
    groups: list[str] = []
    known = True
    for i, line in enumerate(goods):
        if line.hs_code is None:
            known = False
            continue
        group = network.group_for_hs(line.hs_code)
        if group is None:
            known = False
            errors.append(FieldError(f"goods[{i}].hs_code", msg(
                "HS {hs} is not in the goods catalogue of this network", hs=line.hs_code)))
            continue
        if group.code not in groups:
            groups.append(group.code)
        perishable = perishable or group.perishable
        if group.quarantine != "none":
            kinds.add(group.quarantine)
        if gate is not None and not gate.permits_group(group.code):
            allowed = [g.code for g in network.gates_permitting(group.code, flow)]
            errors.append(FieldError(f"goods[{i}].hs_code",
                                     _not_permitted(group.code, group.name.en, line.hs_code,
                                                    gate.code, allowed)))
    return _GoodsSeen(known, perishable, frozenset(kinds), tuple(groups)), errors


def _quarantine_errors(facts: DeclarationFacts, goods: _GoodsSeen,
                       network: Network) -> list[FieldError]:
    """Every quarantine kind the goods need has its certificate (naming the lines that need
    it); a certificate no line needs is called unneeded only when all kinds are known."""
    errors: list[FieldError] = []
    given = set(facts.quarantine_kinds)
    for kind in sorted(goods.kinds - given):
        lines = [
            i + 1
            for i, line in enumerate(facts.goods)
            if line.hs_code is not None
            and (g := network.group_for_hs(line.hs_code)) is not None and g.quarantine == kind
        ]
        errors.append(FieldError("quarantine", msg(
            "a {quarantine} quarantine certificate is required for goods line(s) {lines}",
            quarantine=kind, lines=[str(n) for n in lines])))
    if goods.known and facts.quarantine_complete:
        for kind in sorted(given - goods.kinds):
            errors.append(FieldError("quarantine", msg(
                "no goods line needs {quarantine} quarantine; remove it", quarantine=kind)))
    return errors


def _vehicle_errors(vehicles: Sequence[VehicleFacts]) -> list[FieldError]:
    """No vehicle listed twice."""
    plates = [v.plate_key for v in vehicles]
    return [FieldError(f"vehicles[{i}].plate", msg("the same vehicle is listed twice"))
            for i, key in enumerate(plates) if key is not None and key in plates[:i]]


def _load_errors(facts: DeclarationFacts, payload_kg: Decimal | None) -> list[FieldError]:
    """The goods' total net weight fits the vehicles' payload."""
    total_weight = _total_weight(facts.goods)
    if facts.vehicles and total_weight is not None and payload_kg is not None \
            and total_weight > payload_kg:
        return [FieldError("goods", msg(
            "total net weight {weight} kg exceeds the vehicles' payload ({payload} kg); "
            "add a vehicle or correct the weights", weight=total_weight,
            payload=_kg(payload_kg)))]
    return []


def _quarantine_kind(kinds: Collection[str]) -> Literal["none", "plant", "animal",
                                                        "plant_animal"]:
    """The declaration's quarantine kind from the kinds its goods need."""
    if set(kinds) == {"plant", "animal"}:
        return "plant_animal"
    if set(kinds) == {"plant"}:
        return "plant"
    if set(kinds) == {"animal"}:
        return "animal"
    return "none"


def _not_permitted(group: str, name: str, hs: str, gate: str, allowed: list[str]) -> Text:
    """Goods a gate does not permit: named by their group (in English for the API, in the
    page's language on a page), with the gates that do permit them."""
    where = english(allowed) if allowed else "none of the gates"
    english_text = f"{name} (HS {hs}) may not pass gate '{gate}'; gates that permit it: {where}"
    if allowed:
        return Text(english_text,
                    N_("{group} (HS {hs}) may not pass gate '{gate}'; gates that permit it: "
                       "{gates}"), {"group": group, "hs": hs, "gate": gate, "gates": allowed})
    return Text(english_text, N_("{group} (HS {hs}) may not pass gate '{gate}' nor any other"),
                {"group": group, "hs": hs, "gate": gate})


def _closed(gate: str, day: date, reason: str, open_gates: list[str]) -> Text:
    """The gate is closed that day: the API's English text gives the calendar's reason (free
    text of the network file); a page says it without it, in its own language."""
    why = f" ({reason})" if reason else ""
    hint = f"; open that day: {english(open_gates)}" if open_gates else ""
    english_text = f"gate '{gate}' is closed on {english(day)}{why}{hint}"
    if open_gates:
        return Text(english_text, N_("gate '{gate}' is closed on {day}; open that day: {gates}"),
                    {"gate": gate, "day": day, "gates": open_gates})
    return Text(english_text, N_("gate '{gate}' is closed on {day}"), {"gate": gate, "day": day})


def plausibility(facts: DeclarationFacts, network: Network) -> list[DeclarationWarning]:
    """Figures that are allowed but implausible, for the declarant to check: a load under
    5 % of the vehicles' payload (a weight typed in tonnes, or a thousands separator read as
    a decimal point), and a value per kilogram outside the goods group's usual range. A load
    over the payload is an error of :func:`check_declaration`, not a warning."""
    out: list[DeclarationWarning] = []
    total_weight = _total_weight(facts.goods)
    payload_kg = _payload_kg(facts.vehicles)
    if facts.vehicles and facts.goods and total_weight is not None and payload_kg is not None \
            and total_weight < payload_kg * LIGHT_LOAD_SHARE:
        where = "goods[0].net_weight_kg" if len(facts.goods) == 1 else "goods"
        out.append(DeclarationWarning(where, "light_load", msg(
            "total net weight {weight} kg is under {share}% of the vehicles' payload "
            "({payload} kg); check the weights (in kg) and the payload (in tonnes)",
            weight=total_weight, share=int(LIGHT_LOAD_SHARE * 100),
            payload=_kg(payload_kg))))
    for i, line in enumerate(facts.goods):
        if line.hs_code is None or not line.net_weight_kg or line.value_usd_cents is None:
            continue
        group = network.group_for_hs(line.hs_code)
        usual = group.value_usd_per_kg if group is not None else None
        if group is None or usual is None:
            continue
        per_kg = Decimal(line.value_usd_cents) / 100 / line.net_weight_kg
        low, high = Decimal(str(usual.min)), Decimal(str(usual.max))
        if low <= per_kg <= high:
            continue
        shown = _plain(per_kg.quantize(Decimal("0.01") if per_kg >= 1 else Decimal("0.0001"),
                                       rounding=ROUND_HALF_UP))
        if per_kg < low:
            out.append(DeclarationWarning(f"goods[{i}].value_usd", "value_per_kg_low", msg(
                "{per_kg} USD per kg is below the usual range for {group} ({low} to {high} USD "
                "per kg); check the value (in USD) and the net weight (in kg)",
                per_kg=shown, group=group.code, low=_plain(low), high=_plain(high))))
        else:
            out.append(DeclarationWarning(f"goods[{i}].value_usd", "value_per_kg_high", msg(
                "{per_kg} USD per kg is above the usual range for {group} ({low} to {high} USD "
                "per kg); check the value (in USD) and the net weight (in kg)",
                per_kg=shown, group=group.code, low=_plain(low), high=_plain(high))))
    return out
