"""Pre-arrival declarations: customs regimes, status rules and checks against the network.

Field formats (plates, tax codes, HS codes...) are checked by :mod:`borderflow.domain.values`.
This module holds the rules that need the reference network: is the gate known and open, does
it permit the direction and the goods, is quarantine information present when the goods need it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from borderflow.domain.network import Flow, Network
from borderflow.errors import FieldError

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


def resolve_flow(direction: Direction, flow: Flow | None) -> tuple[Flow | None, FieldError | None]:
    """The vehicle's direction at the gate, from the regime and an optional explicit flow."""
    fixed = DEFAULT_FLOW.get(direction)
    if fixed is not None:
        if flow is not None and flow != fixed:
            return None, FieldError("flow", f"a '{direction}' declaration crosses as '{fixed}'")
        return fixed, None
    if flow is None:
        return None, FieldError(
            "flow",
            f"required for direction '{direction}': say 'export' (leaving Vietnam) or "
            "'import' (entering Vietnam)",
        )
    return flow, None


@dataclass(frozen=True)
class GoodsFacts:
    hs_code: str
    net_weight_kg: int


@dataclass(frozen=True)
class VehicleFacts:
    plate_key: str
    trailer_plate_key: str | None
    payload_tonnes: float


@dataclass(frozen=True)
class DeclarationFacts:
    """What the network rules need to know about a declaration."""

    direction: Direction
    flow: Flow | None
    gate: str
    requested_date: date
    goods: Sequence[GoodsFacts]
    vehicles: Sequence[VehicleFacts]
    quarantine_kinds: Collection[str]


@dataclass(frozen=True)
class Derived:
    """Facts derived from the goods catalogue, stored with the declaration."""

    flow: Flow
    perishable: bool
    quarantine_kind: Literal["none", "plant", "animal", "plant_animal"]
    groups: tuple[str, ...]


def check_declaration(
    facts: DeclarationFacts,
    network: Network,
    today: date,
    holidays: Mapping[str, Collection[date]],
) -> tuple[Derived | None, list[FieldError]]:
    """Check a declaration against the network in force; return derived facts or errors."""
    errors: list[FieldError] = []
    flow, flow_error = resolve_flow(facts.direction, facts.flow)
    if flow_error:
        errors.append(flow_error)

    gate = network.gate(facts.gate)
    if gate is None:
        known = ", ".join(g.code for g in network.gates)
        errors.append(FieldError("requested_gate", f"unknown gate '{facts.gate}'; gates: {known}"))
    elif flow is not None and not gate.permits_direction(flow):
        others = ", ".join(g.code for g in network.gates if g.permits_direction(flow))
        errors.append(
            FieldError(
                "requested_gate",
                f"gate '{gate.code}' does not take {flow} traffic; gates that do: {others}",
            )
        )

    if facts.requested_date < today:
        errors.append(FieldError("requested_date", f"must be today ({today}) or later"))
    elif (facts.requested_date - today).days > MAX_DAYS_AHEAD:
        errors.append(
            FieldError("requested_date", f"must be at most {MAX_DAYS_AHEAD} days ahead")
        )
    elif gate is not None:
        calendar = network.calendar(gate.calendar)
        if calendar is not None:
            hours = calendar.hours_on(facts.requested_date, holidays)
            if hours.is_closed:
                open_gates = [
                    g.code
                    for g in network.gates
                    if (cal := network.calendar(g.calendar)) is not None
                    and not cal.hours_on(facts.requested_date, holidays).is_closed
                    and (flow is None or g.permits_direction(flow))
                ]
                reason = f" ({hours.reason})" if hours.reason else ""
                hint = f"; open that day: {', '.join(open_gates)}" if open_gates else ""
                errors.append(
                    FieldError(
                        "requested_date",
                        f"gate '{gate.code}' is closed on {facts.requested_date}{reason}{hint}",
                    )
                )

    perishable = False
    kinds: set[str] = set()
    groups: list[str] = []
    for i, line in enumerate(facts.goods):
        group = network.group_for_hs(line.hs_code)
        if group is None:
            errors.append(
                FieldError(f"goods[{i}].hs_code",
                           f"HS {line.hs_code} is not in the goods catalogue of this network")
            )
            continue
        if group.code not in groups:
            groups.append(group.code)
        perishable = perishable or group.perishable
        if group.quarantine != "none":
            kinds.add(group.quarantine)
        if gate is not None and not gate.permits_group(group.code):
            allowed = [g.code for g in network.gates_permitting(group.code, flow)]
            where = ", ".join(allowed) if allowed else "none of the gates"
            errors.append(
                FieldError(
                    f"goods[{i}].hs_code",
                    f"{group.name.en} (HS {line.hs_code}) may not pass gate '{gate.code}'; "
                    f"gates that permit it: {where}",
                )
            )

    given = set(facts.quarantine_kinds)
    for kind in sorted(kinds - given):
        lines = [
            str(i + 1)
            for i, line in enumerate(facts.goods)
            if (g := network.group_for_hs(line.hs_code)) is not None and g.quarantine == kind
        ]
        errors.append(
            FieldError(
                "quarantine",
                f"a {kind} quarantine certificate is required for goods line(s) "
                f"{', '.join(lines)}",
            )
        )
    for kind in sorted(given - kinds):
        errors.append(
            FieldError("quarantine", f"no goods line needs {kind} quarantine; remove it")
        )

    plates = [v.plate_key for v in facts.vehicles]
    for i, key in enumerate(plates):
        if key in plates[:i]:
            errors.append(FieldError(f"vehicles[{i}].plate", "the same vehicle is listed twice"))
    total_weight = sum(g.net_weight_kg for g in facts.goods)
    payload_kg = sum(v.payload_tonnes for v in facts.vehicles) * 1000
    if facts.vehicles and total_weight > payload_kg:
        errors.append(
            FieldError(
                "goods",
                f"total net weight {total_weight:,} kg exceeds the vehicles' payload "
                f"({payload_kg:,.0f} kg); add a vehicle or correct the weights",
            )
        )

    if errors or flow is None:
        return None, errors
    if kinds == {"plant", "animal"}:
        qkind: Literal["none", "plant", "animal", "plant_animal"] = "plant_animal"
    elif kinds == {"plant"}:
        qkind = "plant"
    elif kinds == {"animal"}:
        qkind = "animal"
    else:
        qkind = "none"
    return Derived(flow=flow, perishable=perishable, quarantine_kind=qkind,
                   groups=tuple(groups)), []
