"""Starting the demo traffic next to the server (``BORDERFLOW_DEMO_TRAFFIC=true``; ``make run``
turns it on): machine clients for a demo enterprise and for the officers, with fresh API keys
at each start (the previous ones are revoked), then the actors run until the server stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from sqlalchemy import select

from borderflow.account import service as accounts
from borderflow.api.context import AppContext
from borderflow.demo.traffic import GATE_SHARES, GOODS, Traffic
from borderflow.domain.access import SYSTEM, Role
from borderflow.domain.network import Network
from borderflow.network import service as networks
from borderflow.store.models import Account, ApiKey

log = structlog.get_logger("borderflow.demo")
ENTERPRISE = "demo-enterprise"
OFFICERS = "demo-officers"
TAX_CODE = "0100109106"
OFFICER_ROLES = (Role.CUSTOMS, Role.BORDER_GUARD, Role.QUARANTINE, Role.HEALTH,
                 Role.YARD_OPERATOR, Role.CASHIER)


def permitted_goods(network: Network) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for code in GATE_SHARES:
        gate = network.gate(code)
        if gate is None:
            continue
        for flow in ("export", "import"):
            if gate.permits_direction(flow):
                out[(code, flow)] = [g for g in GOODS if gate.permits_group(g)
                                     and network.procedure_for(code, flow) is not None]
    return out


def staged_gates(network: Network) -> frozenset[str]:
    return frozenset(g.code for g in network.gates if g.staging_area is not None)


def _client(ctx: AppContext, username: str, roles: tuple[Role, ...], network: Network,
            **scope: object) -> str:
    now = ctx.clock.now()
    with ctx.sessions() as session:
        account = session.scalar(select(Account).where(Account.username == username))
        if account is None:
            account = accounts.create_account(session, accounts.AccountSpec(
                username=username, display_name=f"Demo traffic ({username})", roles=roles,
                kind="client", **scope), actor=SYSTEM, now=now, network=network)  # type: ignore[arg-type]
        for key in session.scalars(select(ApiKey).where(ApiKey.account_id == account.id,
                                                        ApiKey.revoked_at.is_(None))):
            accounts.revoke_api_key(session, key.id, actor=SYSTEM, now=now)
        _row, full = accounts.create_api_key(session, account, "demo traffic", actor=SYSTEM,
                                             now=now)
        session.commit()
    return full


def build(ctx: AppContext) -> Traffic:
    with ctx.sessions() as session:
        network = networks.in_force(session, ctx.clock.now())
    yards = tuple(s.code for s in network.staging_areas) + tuple(
        y.code for g in network.gates for y in g.yards)
    settings = ctx.settings
    return Traffic(
        base_url=settings.public_base_url.rstrip("/"),
        enterprise_key=_client(ctx, ENTERPRISE, (Role.ENTERPRISE,), network,
                               enterprise_tax_code=TAX_CODE),
        officers_key=_client(ctx, OFFICERS, OFFICER_ROLES, network, yard_scope=yards,
                             gate_scope=tuple(g.code for g in network.gates)),
        tax_code=TAX_CODE, staged_gates=staged_gates(network),
        permitted=permitted_goods(network), clock=ctx.clock.now, speed=settings.demo_speed,
        trucks_per_day=settings.demo_trucks_per_day)


@asynccontextmanager
async def lifespan_with_demo(app: FastAPI) -> AsyncIterator[None]:
    ctx: AppContext = app.state.ctx
    if not ctx.settings.demo_traffic:
        yield
        return
    traffic = await asyncio.to_thread(build, ctx)
    app.state.demo = traffic
    stop = asyncio.Event()
    task = asyncio.create_task(traffic.run(stop))
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)
