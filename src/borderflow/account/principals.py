"""An account row as the caller the rest of the platform authorises: a domain ``Principal``."""

from __future__ import annotations

from borderflow.domain.access import Principal, Role
from borderflow.store.models import Account


def to_principal(account: Account) -> Principal:
    return Principal(
        id=account.id,
        username=account.username,
        kind="client" if account.kind == "client" else "user",
        roles=frozenset(Role(r) for r in account.roles),
        enterprise_tax_code=account.enterprise_tax_code,
        driver_document=account.driver_document,
        gate_scope=frozenset(account.gate_scope or ()),
        yard_scope=frozenset(account.yard_scope or ()),
        display_name=account.display_name or account.username,
    )
