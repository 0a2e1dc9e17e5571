"""First-run set-up shared by the CLI and tests: migrate, load the network, demo accounts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow.account import service as accounts
from borderflow.clock import Clock
from borderflow.domain.access import SYSTEM, Role
from borderflow.fees import tariffs
from borderflow.network import service as networks
from borderflow.store.models import Account, NetworkVersion, TariffVersion


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    roles: tuple[Role, ...]
    enterprise_tax_code: str | None = None
    driver_document: str | None = None
    gate_scope: tuple[str, ...] = ()
    yard_scope: tuple[str, ...] = ()


def demo_accounts(first_gate: str, first_yard: str, staging: str) -> list[DemoAccount]:
    """One account per role; the cashier works at the first gate, the yard operator runs the
    staging area and the first yard of the network."""
    return [
        DemoAccount("admin", "Platform administrator", (Role.ADMIN,)),
        DemoAccount("regulator", "Control room regulator", (Role.REGULATOR,)),
        DemoAccount("enterprise", "Cong ty TNHH Xuat nhap khau Demo", (Role.ENTERPRISE,),
                    enterprise_tax_code="0100109106"),
        DemoAccount("enterprise2", "Cong ty CP Nong san Demo", (Role.ENTERPRISE,),
                    enterprise_tax_code="0101245486"),
        DemoAccount("driver", "Nguyen Van Tai (driver)", (Role.DRIVER,),
                    driver_document="001089012345"),
        DemoAccount("yard", "Yard operator", (Role.YARD_OPERATOR,),
                    yard_scope=tuple(c for c in (staging, first_yard) if c)),
        DemoAccount("customs", "Customs officer", (Role.CUSTOMS,)),
        DemoAccount("borderguard", "Border-guard officer", (Role.BORDER_GUARD,)),
        DemoAccount("quarantine", "Quarantine officer", (Role.QUARANTINE,)),
        DemoAccount("health", "Medical officer", (Role.HEALTH,)),
        DemoAccount("police", "Traffic police", (Role.TRAFFIC_POLICE,)),
        DemoAccount("cashier", "Fee cashier", (Role.CASHIER,), gate_scope=(first_gate,)),
        DemoAccount("liaison", "Partner liaison", (Role.PARTNER_LIAISON,)),
    ]


def ensure_tariff(session: Session, clock: Clock, path: Path) -> TariffVersion | None:
    """Load the tariff file if no tariff has been loaded yet; return the new version."""
    if session.scalar(select(TariffVersion.id).limit(1)) is not None:
        return None
    tariff = tariffs.parse(tariffs.read_file(path))
    return tariffs.publish(session, tariff, actor=SYSTEM, now=clock.now(), allow_past=True,
                           note=f"initial load from {path.name}")


def ensure_network(session: Session, clock: Clock, path: Path) -> NetworkVersion | None:
    """Load the network file if no network has been loaded yet; return the new version."""
    if session.scalar(select(NetworkVersion.id).limit(1)) is not None:
        return None
    network = networks.parse(networks.read_file(path))
    return networks.publish(session, network, actor=SYSTEM, now=clock.now(),
                            note=f"initial load from {path.name}")


def create_demo_accounts(session: Session, clock: Clock) -> list[tuple[DemoAccount, str]]:
    """Create the demo accounts that do not exist yet; return them with their new passwords."""
    _, network = networks.network_at(session, clock.now())
    gate = network.gates[0]
    yard = next((y.code for g in network.gates for y in g.yards), "")
    staging = network.staging_areas[0].code if network.staging_areas else ""
    created: list[tuple[DemoAccount, str]] = []
    for demo in demo_accounts(gate.code, yard, staging):
        if session.scalar(select(Account.id).where(Account.username == demo.username)):
            continue
        password = secrets.token_urlsafe(12)
        accounts.create_account(
            session,
            accounts.AccountSpec(
                username=demo.username, display_name=demo.display_name, roles=demo.roles,
                password=password, enterprise_tax_code=demo.enterprise_tax_code,
                driver_document=demo.driver_document, gate_scope=demo.gate_scope,
                yard_scope=demo.yard_scope,
            ),
            actor=SYSTEM, now=clock.now(), network=network,
        )
        created.append((demo, password))
    return created
