"""Roles, the permission matrix and declaration scoping (borderflow.domain.access)."""

from __future__ import annotations

from typing import Any

import pytest

from borderflow.domain.access import (
    ANONYMOUS,
    OFFICIALS,
    PERMISSIONS,
    ROLE_DESCRIPTIONS,
    SYSTEM,
    DeclarationScope,
    Principal,
    Role,
    declaration_scope,
    may_change_declaration,
    roles_for,
)

TAX = "0100109106"
BRANCH = "0100109106-001"
OTHER_TAX = "0312687878"
AGENT_TAX = "0314409058"
YARDS = {"TT-Y1": "TAN-THANH", "HN-Y1": "HUU-NGHI"}


def user(*roles: Role, **kwargs: Any) -> Principal:
    return Principal(id=1, username="u", kind="user", roles=frozenset(roles), **kwargs)


# --- the matrix -------------------------------------------------------------------------------


def test_every_role_in_the_matrix_is_a_role() -> None:
    for action, roles in PERMISSIONS.items():
        assert roles, f"{action} is granted to nobody"
        assert all(isinstance(r, Role) for r in roles), action


def test_every_role_has_a_description() -> None:
    assert set(ROLE_DESCRIPTIONS) == set(Role)
    assert all(text.strip() for text in ROLE_DESCRIPTIONS.values())


PUBLIC_ACTIONS = {"network.read", "occupancy.read", "telemetry.ingest", "tariff.read",
                  "payment.callback", "payment.return", "receipt.verify", "exchange.public"}
"""Reading the network and the yard figures, and phones sending positions (GPS apps such as
Traccar Client cannot log in; the device id identifies them and only bound devices move
trips); the bulletin schema and our public key, which the partner side needs."""


def test_public_is_granted_only_reading_the_network_and_tariff_and_sending_positions() -> None:
    public_actions = {a for a, roles in PERMISSIONS.items() if Role.PUBLIC in roles}
    assert public_actions == PUBLIC_ACTIONS


def test_public_is_not_an_official() -> None:
    assert Role.PUBLIC not in OFFICIALS
    assert not ANONYMOUS.is_official


def test_every_signed_in_role_may_read_its_own_account() -> None:
    assert roles_for("account.read_self") == frozenset(Role) - {Role.PUBLIC}


@pytest.mark.parametrize("action", ["network.write", "account.manage", "audit.read"])
def test_admin_only_actions(action: str) -> None:
    assert roles_for(action) == frozenset({Role.ADMIN})


@pytest.mark.parametrize(
    "action", ["declaration.create", "declaration.amend", "declaration.cancel"]
)
def test_only_enterprises_and_admins_write_declarations(action: str) -> None:
    assert roles_for(action) == frozenset({Role.ENTERPRISE, Role.ADMIN})


def test_declaration_readers() -> None:
    readers = roles_for("declaration.read")
    assert readers >= OFFICIALS
    assert {Role.ENTERPRISE, Role.DRIVER, Role.YARD_OPERATOR, Role.CASHIER} <= readers
    assert Role.PUBLIC not in readers
    assert Role.PARTNER_LIAISON not in readers


def test_unknown_action_is_an_error_not_a_denial() -> None:
    with pytest.raises(KeyError, match=r"no permission entry for action 'declaration\.delete'"):
        roles_for("declaration.delete")
    with pytest.raises(KeyError, match=r"declaration\.delete"):
        user(Role.ADMIN).may("declaration.delete")


# --- Principal.may ----------------------------------------------------------------------------


def test_anonymous_may_only_read_the_network_tariff_and_occupancy_and_send_positions() -> None:
    for action in PUBLIC_ACTIONS:
        assert ANONYMOUS.may(action), action
    for action in set(PERMISSIONS) - PUBLIC_ACTIONS:
        assert not ANONYMOUS.may(action), action


def test_system_is_an_admin() -> None:
    for action, roles in PERMISSIONS.items():
        assert SYSTEM.may(action) == (Role.ADMIN in roles), action
    assert SYSTEM.is_official


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        (Role.ENTERPRISE, "declaration.create", True),
        (Role.ENTERPRISE, "network.write", False),
        (Role.DRIVER, "declaration.read", True),
        (Role.DRIVER, "declaration.create", False),
        (Role.CUSTOMS, "declaration.read", True),
        (Role.CUSTOMS, "declaration.amend", False),
        (Role.REGULATOR, "audit.read", False),
        (Role.PARTNER_LIAISON, "declaration.read", False),
        (Role.PARTNER_LIAISON, "network.read", True),
    ],
)
def test_may_follows_the_matrix(role: Role, action: str, allowed: bool) -> None:
    assert user(role).may(action) is allowed


def test_may_with_several_roles_is_the_union() -> None:
    p = user(Role.DRIVER, Role.ENTERPRISE)
    assert p.may("declaration.create")
    assert p.may("declaration.read")
    assert not p.may("account.manage")


def test_principal_without_roles_may_nothing() -> None:
    p = user()
    assert not any(p.may(action) for action in PERMISSIONS)


# --- declaration_scope ------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(OFFICIALS))
def test_officials_see_everything(role: Role) -> None:
    scope = declaration_scope(user(role), YARDS)
    assert scope == DeclarationScope(everything=True)
    assert not scope.nothing


def test_official_role_wins_over_narrower_roles() -> None:
    p = user(Role.CUSTOMS, Role.ENTERPRISE, enterprise_tax_code=TAX)
    assert declaration_scope(p, YARDS) == DeclarationScope(everything=True)


def test_enterprise_sees_its_tax_code_head() -> None:
    scope = declaration_scope(user(Role.ENTERPRISE, enterprise_tax_code=BRANCH), YARDS)
    assert scope == DeclarationScope(tax_code_heads=frozenset({TAX}))


def test_enterprise_without_tax_code_sees_nothing() -> None:
    assert declaration_scope(user(Role.ENTERPRISE), YARDS).nothing


def test_tax_code_is_ignored_without_the_enterprise_role() -> None:
    assert declaration_scope(user(Role.CASHIER, enterprise_tax_code=TAX), YARDS).nothing


def test_driver_sees_own_document() -> None:
    scope = declaration_scope(user(Role.DRIVER, driver_document="B1234567"), YARDS)
    assert scope == DeclarationScope(driver_documents=frozenset({"B1234567"}))
    assert declaration_scope(user(Role.DRIVER), YARDS).nothing


def test_cashier_sees_gates_in_scope() -> None:
    p = user(Role.CASHIER, gate_scope=frozenset({"TAN-THANH"}))
    assert declaration_scope(p, YARDS) == DeclarationScope(gates=frozenset({"TAN-THANH"}))


def test_gate_scope_is_ignored_without_the_cashier_role() -> None:
    p = user(Role.DRIVER, gate_scope=frozenset({"TAN-THANH"}))
    assert declaration_scope(p, YARDS).nothing


def test_yard_operator_sees_gates_of_its_yards() -> None:
    p = user(Role.YARD_OPERATOR, yard_scope=frozenset({"TT-Y1", "GONE-Y9"}))
    assert declaration_scope(p, YARDS) == DeclarationScope(gates=frozenset({"TAN-THANH"}))


def test_yard_operator_with_unknown_yards_sees_nothing() -> None:
    p = user(Role.YARD_OPERATOR, yard_scope=frozenset({"GONE-Y9"}))
    assert declaration_scope(p, YARDS).nothing


def test_combined_roles_add_up() -> None:
    p = user(
        Role.ENTERPRISE,
        Role.DRIVER,
        Role.CASHIER,
        Role.YARD_OPERATOR,
        enterprise_tax_code=TAX,
        driver_document="B1234567",
        gate_scope=frozenset({"HUU-NGHI"}),
        yard_scope=frozenset({"TT-Y1"}),
    )
    assert declaration_scope(p, YARDS) == DeclarationScope(
        tax_code_heads=frozenset({TAX}),
        driver_documents=frozenset({"B1234567"}),
        gates=frozenset({"HUU-NGHI", "TAN-THANH"}),
    )


@pytest.mark.parametrize("principal", [ANONYMOUS, user(Role.PARTNER_LIAISON), user()])
def test_others_see_nothing(principal: Principal) -> None:
    assert declaration_scope(principal, YARDS).nothing


# --- may_change_declaration -------------------------------------------------------------------


def test_admin_may_change_any_declaration() -> None:
    assert may_change_declaration(user(Role.ADMIN), OTHER_TAX, None)
    assert may_change_declaration(SYSTEM, OTHER_TAX, None)


@pytest.mark.parametrize("own", [TAX, BRANCH])
@pytest.mark.parametrize("declarant", [TAX, BRANCH, TAX + "-002"])
def test_declaring_enterprise_and_its_branches_may_change(own: str, declarant: str) -> None:
    assert may_change_declaration(user(Role.ENTERPRISE, enterprise_tax_code=own), declarant, None)


def test_customs_agent_may_change() -> None:
    agent = user(Role.ENTERPRISE, enterprise_tax_code=AGENT_TAX)
    assert may_change_declaration(agent, TAX, AGENT_TAX)
    assert may_change_declaration(agent, TAX, AGENT_TAX + "-001")


def test_other_enterprise_may_not_change() -> None:
    other = user(Role.ENTERPRISE, enterprise_tax_code=OTHER_TAX)
    assert not may_change_declaration(other, TAX, None)
    assert not may_change_declaration(other, TAX, AGENT_TAX)


def test_declarant_is_not_mistaken_for_agent_when_there_is_none() -> None:
    agent = user(Role.ENTERPRISE, enterprise_tax_code=AGENT_TAX)
    assert not may_change_declaration(agent, TAX, None)


def test_enterprise_without_tax_code_may_not_change() -> None:
    assert not may_change_declaration(user(Role.ENTERPRISE), TAX, None)
    assert not may_change_declaration(user(Role.ENTERPRISE, enterprise_tax_code=""), TAX, None)


@pytest.mark.parametrize("role", [r for r in Role if r not in (Role.ADMIN, Role.ENTERPRISE)])
def test_other_roles_may_not_change_even_with_matching_tax_code(role: Role) -> None:
    assert not may_change_declaration(user(role, enterprise_tax_code=TAX), TAX, TAX)
