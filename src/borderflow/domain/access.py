"""Roles, principals and the permission matrix.

The matrix below is the one place that says which roles may do what. Endpoints name an action
(``require("declaration.create")``); ``docs/roles.md`` is checked against this table by a test.
Scoping (which records a role may see) is enforced by the repositories with the rules in
:func:`declaration_scope`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from borderflow.errors import Forbidden


class Role(StrEnum):
    ADMIN = "admin"
    REGULATOR = "regulator"
    ENTERPRISE = "enterprise"
    DRIVER = "driver"
    YARD_OPERATOR = "yard_operator"
    CUSTOMS = "customs"
    BORDER_GUARD = "border_guard"
    QUARANTINE = "quarantine"
    HEALTH = "health"
    TRAFFIC_POLICE = "traffic_police"
    CASHIER = "cashier"
    PARTNER_LIAISON = "partner_liaison"
    CAMERA = "camera"
    PUBLIC = "public"


ROLE_DESCRIPTIONS: dict[Role, str] = {
    Role.ADMIN: "Runs the platform: accounts, reference network, audit log.",
    Role.REGULATOR: "Control room: regulates the queue and the gates; reads all declarations.",
    Role.ENTERPRISE: "Declares goods; sees only its own enterprise's declarations (by tax code).",
    Role.DRIVER: "Sees the declarations that name them as driver (by document number).",
    Role.YARD_OPERATOR: "Runs yards; sees declarations for gates whose yards are in scope.",
    Role.CUSTOMS: "Customs officer at the checkpoints; reads all declarations.",
    Role.BORDER_GUARD: "Border-guard officer; reads all declarations.",
    Role.QUARANTINE: "Plant/animal quarantine officer; reads all declarations.",
    Role.HEALTH: "Medical examination of drivers; reads all declarations.",
    Role.TRAFFIC_POLICE: "Traffic police on the approach roads; reads all declarations.",
    Role.CASHIER: "Collects fees; sees declarations for the gates in scope.",
    Role.PARTNER_LIAISON: "Exchanges the daily bulletin with the partner side.",
    Role.CAMERA: "A plate-reading camera at a checkpoint (machine client): posts its reads.",
    Role.PUBLIC: "Anyone, without logging in: public figures and the reference network.",
}

OFFICIALS = frozenset(
    {
        Role.ADMIN,
        Role.REGULATOR,
        Role.CUSTOMS,
        Role.BORDER_GUARD,
        Role.QUARANTINE,
        Role.HEALTH,
        Role.TRAFFIC_POLICE,
    }
)
"""Roles that see every declaration in the province."""

STEP_OWNERS = frozenset(
    {Role.YARD_OPERATOR, Role.CUSTOMS, Role.BORDER_GUARD, Role.QUARANTINE, Role.HEALTH,
     Role.CASHIER}
)
"""Roles that record checkpoint steps (each step names its one owner role)."""

_ALL = frozenset(Role)
_SIGNED_IN = _ALL - {Role.PUBLIC}

PERMISSIONS: dict[str, frozenset[Role]] = {
    # reference network
    "network.read": _ALL,
    "network.write": frozenset({Role.ADMIN}),
    # accounts
    "account.read_self": _SIGNED_IN,
    "account.manage": frozenset({Role.ADMIN}),
    "audit.read": frozenset({Role.ADMIN}),
    # declarations
    "declaration.create": frozenset({Role.ENTERPRISE, Role.ADMIN}),
    "declaration.read": OFFICIALS
    | {Role.ENTERPRISE, Role.DRIVER, Role.YARD_OPERATOR, Role.CASHIER},
    "declaration.amend": frozenset({Role.ENTERPRISE, Role.ADMIN}),
    "declaration.cancel": frozenset({Role.ENTERPRISE, Role.ADMIN}),
    # trips and checkpoints
    "trip.read": OFFICIALS | {Role.ENTERPRISE, Role.DRIVER, Role.YARD_OPERATOR, Role.CASHIER},
    "trip.record": frozenset(STEP_OWNERS),
    "trip.call": frozenset({Role.REGULATOR}),
    "trip.prioritise": frozenset({Role.REGULATOR}),
    "trip.reroute": frozenset({Role.REGULATOR}),
    "vehicle.standing": OFFICIALS | {Role.ENTERPRISE, Role.DRIVER},
    "vehicle.pardon": frozenset({Role.REGULATOR}),
    "trip.acknowledge": frozenset({Role.DRIVER}),
    "dispatch.run": frozenset({Role.REGULATOR}),
    "gate.control": frozenset({Role.REGULATOR}),
    "partner_yard.record": frozenset({Role.REGULATOR}),
    "queue.read": OFFICIALS,
    "enterprise.read": OFFICIALS,
    "enterprise.manage": frozenset({Role.ADMIN}),
    "trip.move": frozenset({Role.YARD_OPERATOR, Role.BORDER_GUARD, Role.REGULATOR}),
    "trip.return": frozenset({Role.BORDER_GUARD}),
    "occupancy.read": _ALL,
    "booking.manage": frozenset({Role.ENTERPRISE, Role.DRIVER, Role.REGULATOR, Role.ADMIN}),
    "alerts.read": frozenset({Role.ADMIN, Role.REGULATOR, Role.BORDER_GUARD}),
    # telemetry: phones send without an account (the device id identifies them)
    "telemetry.ingest": _ALL,
    "telemetry.batch": frozenset({Role.ENTERPRISE, Role.REGULATOR, Role.ADMIN}),
    "telemetry.read": OFFICIALS,
    "telemetry.dead_letters": frozenset({Role.REGULATOR, Role.ADMIN}),
    "device.bind": frozenset({Role.DRIVER, Role.REGULATOR, Role.ADMIN}),
    "device.revoke": frozenset({Role.REGULATOR, Role.ADMIN}),
    "reports.read": OFFICIALS,
    # statistics and reports (an enterprise sees only its own figures)
    "statistics.read": OFFICIALS | {Role.ENTERPRISE},
    "statistics.target": frozenset({Role.ADMIN, Role.REGULATOR}),
    "situation.read": OFFICIALS,
    "history.import": frozenset({Role.ADMIN}),
    # demand forecasts: read by officials, made on demand by regulators, weather by admins
    "forecast.read": OFFICIALS,
    "forecast.refresh": frozenset({Role.ADMIN, Role.REGULATOR}),
    "forecast.weather": frozenset({Role.ADMIN}),
    "sim.run": frozenset({Role.REGULATOR, Role.ADMIN}),
    "notifications.read": frozenset({Role.DRIVER, Role.ENTERPRISE, Role.REGULATOR, Role.ADMIN}),
    "notifications.admin": frozenset({Role.ADMIN}),
    # fees and payments
    "tariff.read": _ALL,
    "tariff.write": frozenset({Role.ADMIN}),
    "invoice.read": OFFICIALS | {Role.ENTERPRISE, Role.DRIVER, Role.CASHIER},
    "invoice.waive": frozenset({Role.REGULATOR}),
    "payment.record": frozenset({Role.CASHIER}),
    "payment.void": frozenset({Role.CASHIER, Role.REGULATOR}),
    "payment.refund": frozenset({Role.REGULATOR, Role.ADMIN}),
    "payment.pay_online": frozenset({Role.ENTERPRISE, Role.DRIVER}),
    # the gateway's callback is authenticated by its signature, the return page shows only
    "payment.callback": _ALL,
    "payment.return": _ALL,
    "receipt.verify": _ALL,
    "reconciliation.run": frozenset({Role.REGULATOR, Role.ADMIN}),
    "revenue.read": OFFICIALS | {Role.CASHIER},
    # the daily bulletin exchanged with the partner side
    "exchange.public": _ALL,
    "bulletin.read": frozenset({Role.PARTNER_LIAISON, Role.REGULATOR, Role.ADMIN}),
    "bulletin.publish": frozenset({Role.PARTNER_LIAISON, Role.REGULATOR, Role.ADMIN}),
    "bulletin.import": frozenset({Role.PARTNER_LIAISON, Role.REGULATOR, Role.ADMIN}),
    "exchange_key.manage": frozenset({Role.ADMIN}),
    # cameras (ANPR) and their plate reads
    "camera.manage": frozenset({Role.ADMIN}),
    "camera.read": frozenset({Role.ADMIN, Role.REGULATOR}),
    "plate_read.submit": frozenset({Role.CAMERA}),
    "plate_read.review": frozenset({Role.BORDER_GUARD, Role.REGULATOR, Role.ADMIN}),
}


def roles_for(action: str) -> frozenset[Role]:
    try:
        return PERMISSIONS[action]
    except KeyError:
        raise KeyError(f"no permission entry for action '{action}'") from None


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in user, a machine client, or the anonymous public."""

    id: int | None
    username: str
    kind: Literal["user", "client", "anonymous"]
    roles: frozenset[Role]
    enterprise_tax_code: str | None = None
    driver_document: str | None = None
    gate_scope: frozenset[str] = field(default_factory=frozenset)
    yard_scope: frozenset[str] = field(default_factory=frozenset)
    display_name: str = ""
    """The person's name as the pages greet them (the username when none is set)."""

    def may(self, action: str) -> bool:
        return bool(self.roles & roles_for(action))

    @property
    def is_official(self) -> bool:
        return bool(self.roles & OFFICIALS)


DISPATCHER = Principal(id=None, username="dispatcher", kind="client",
                       roles=frozenset({Role.REGULATOR}))
"""The dispatcher, as the actor of the orders, no-shows and re-routes it records."""


ANONYMOUS = Principal(id=None, username="public", kind="anonymous", roles=frozenset({Role.PUBLIC}))
SYSTEM = Principal(id=None, username="system", kind="client", roles=frozenset({Role.ADMIN}))
"""The platform itself (CLI set-up, migrations, reference data loads)."""


@dataclass(frozen=True)
class DeclarationScope:
    """Which declarations a principal may see; ``everything`` wins over the narrower lists."""

    everything: bool = False
    tax_code_heads: frozenset[str] = frozenset()
    driver_documents: frozenset[str] = frozenset()
    gates: frozenset[str] = frozenset()

    @property
    def nothing(self) -> bool:
        return not (self.everything or self.tax_code_heads or self.driver_documents or self.gates)


def declaration_scope(p: Principal, gates_of_yards: dict[str, str]) -> DeclarationScope:
    """The declarations ``p`` may read. ``gates_of_yards`` maps yard code to its gate code."""
    if p.is_official:
        return DeclarationScope(everything=True)
    heads: set[str] = set()
    drivers: set[str] = set()
    gates: set[str] = set()
    if Role.ENTERPRISE in p.roles and p.enterprise_tax_code:
        heads.add(p.enterprise_tax_code[:10])
    if Role.DRIVER in p.roles and p.driver_document:
        drivers.add(p.driver_document)
    if Role.CASHIER in p.roles:
        gates |= p.gate_scope
    if Role.YARD_OPERATOR in p.roles:
        gates |= {gates_of_yards[y] for y in p.yard_scope if y in gates_of_yards}
    return DeclarationScope(
        tax_code_heads=frozenset(heads), driver_documents=frozenset(drivers), gates=frozenset(gates)
    )


def statistics_scope(p: Principal, requested: str | None) -> str | None:
    """The enterprise (tax code head) whose figures ``p`` gets: officials any (or all, None);
    an enterprise only its own, whatever it asks for."""
    if p.is_official or Role.ADMIN in p.roles:
        return requested
    if Role.ENTERPRISE in p.roles and p.enterprise_tax_code:
        return p.enterprise_tax_code[:10]
    raise Forbidden("this account has no enterprise, so no statistics of its own")


def may_change_declaration(p: Principal, declarant_tax: str, agent_tax: str | None) -> bool:
    """Only the declaring enterprise (or its customs agent) and admins amend or cancel."""
    if Role.ADMIN in p.roles:
        return True
    if Role.ENTERPRISE in p.roles and p.enterprise_tax_code:
        head = p.enterprise_tax_code[:10]
        return head == declarant_tax[:10] or (agent_tax is not None and head == agent_tax[:10])
    return False


def acts_at_gate(p: Principal, gate: str, gates_of_yards: dict[str, str]) -> bool:
    """Whether ``p`` may act at ``gate``: officials with no gate scope act everywhere; cashiers
    and officials with a gate scope act at those gates; yard operators at the gates of their
    yards."""
    if Role.YARD_OPERATOR in p.roles and any(
        gates_of_yards.get(y) == gate for y in p.yard_scope
    ):
        return True
    if p.roles & (OFFICIALS | {Role.CASHIER}):
        return (not p.gate_scope and Role.CASHIER not in p.roles) or gate in p.gate_scope
    return False


def may_record_step(p: Principal, owner_role: str, gate: str,
                    gates_of_yards: dict[str, str]) -> bool:
    """Only the step's owning role, acting at the trip's gate, records a step."""
    return owner_role in {r.value for r in p.roles} and acts_at_gate(p, gate, gates_of_yards)


def may_move(p: Principal, area: str, area_gate: str, gates_of_yards: dict[str, str]) -> bool:
    """Who records a vehicle entering or leaving an area.

    Staging areas and yards: their operator (in ``yard_scope``); gate areas: the border guard
    at that gate; the regulator anywhere in its gate scope; border guards also record yard
    movements at their gates.
    """
    kind, _, code = area.partition(":")
    if Role.REGULATOR in p.roles and (not area_gate or acts_at_gate(p, area_gate, {})):
        return True
    if kind in ("staging", "yard") and Role.YARD_OPERATOR in p.roles and code in p.yard_scope:
        return True
    return kind in ("gate_area", "yard") and Role.BORDER_GUARD in p.roles and acts_at_gate(
        p, area_gate, gates_of_yards
    )
