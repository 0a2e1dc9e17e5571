"""Starting the demo traffic next to the server (``BORDERFLOW_DEMO_TRAFFIC=true``; ``make run``
turns it on): machine clients for a demo enterprise, for the officers and for demo drivers
(who have the phone app), and an entry camera at each gate of the demo, with fresh
API keys at each start (the previous ones are revoked), then the actors run until the server
stops. They reach the server at the public base URL; when it does not answer there, they stop
with an error saying what to set."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from sqlalchemy import select

from borderflow.account import service as accounts
from borderflow.api.context import AppContext
from borderflow.demo import traffic as actors
from borderflow.demo.traffic import GATE_SHARES, GOODS, Driver, Route, Traffic
from borderflow.domain.access import SYSTEM, Role
from borderflow.domain.network import Network
from borderflow.network import service as networks
from borderflow.store.models import Account, ApiKey, Camera
from borderflow.telemetry import cameras as camera_service

log = structlog.get_logger("borderflow.demo")
ENTERPRISE = "demo-enterprise"
OFFICERS = "demo-officers"
TAX_CODE = "0100109106"
OFFICER_ROLES = (Role.CUSTOMS, Role.BORDER_GUARD, Role.QUARANTINE, Role.HEALTH,
                 Role.YARD_OPERATOR, Role.CASHIER)
DRIVERS = 40
"""Demo drivers with the phone app (each on one trip at a time)."""
SHORT_OF_GATE_KM = 1.2
"""Where the phones' road ends: this far from the gate's centre, outside the gate area (the
entry camera records the truck entering it)."""


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
        full = _fresh_key(session, account, now)
        session.commit()
    return full


def _fresh_key(session: Any, account: Account, now: Any) -> str:
    """A new API key for the account; its previous ones are revoked."""
    for key in session.scalars(select(ApiKey).where(ApiKey.account_id == account.id,
                                                    ApiKey.revoked_at.is_(None))):
        accounts.revoke_api_key(session, key.id, actor=SYSTEM, now=now)
    _row, full = accounts.create_api_key(session, account, "demo traffic", actor=SYSTEM,
                                         now=now)
    return full


def driver_document(i: int) -> str:
    """A demo driver's citizen ID (12 digits)."""
    return f"001090{990000 + i:06d}"


def _drivers(ctx: AppContext, network: Network) -> list[Driver]:
    return [Driver(document=driver_document(i), device=f"demo-phone-{i:02d}",
                   key=_client(ctx, f"demo-driver-{i:02d}", (Role.DRIVER,), network,
                               driver_document=driver_document(i)))
            for i in range(1, DRIVERS + 1)]


def _cameras(ctx: AppContext, network: Network) -> dict[str, tuple[str, str]]:
    """An entry camera on the export lanes of each gate of the demo (``gate_in``), registered
    as an admin does, each with its own key."""
    now = ctx.clock.now()
    out: dict[str, tuple[str, str]] = {}
    with ctx.sessions() as session:
        for code in GATE_SHARES:
            gate = network.gate(code)
            if gate is None or not gate.permits_direction("export"):
                continue
            camera_code = f"demo-{code}-in"
            row = session.scalar(select(Camera).where(Camera.code == camera_code))
            if row is None:
                _camera, key = camera_service.register(session, camera_service.CameraSpec(
                    code=camera_code, name=f"Demo entry camera, {code}", gate=code,
                    checkpoint="gate_in", direction="export"), actor=SYSTEM, network=network,
                    now=now)
            else:
                key = _fresh_key(session, session.get_one(Account, row.account_id), now)
            out[code] = (camera_code, key)
        session.commit()
    return out


def routes(network: Network) -> dict[str, Route]:
    """For each gate with a staging area: the road from the park to just short of the gate
    area (a straight line), and the gate."""
    out = {}
    for gate in network.gates:
        park = next((s for s in network.staging_areas if s.code == gate.staging_area), None)
        if park is None:
            continue
        (lat0, lon0), (lat1, lon1) = (park.location.lat, park.location.lon), (
            gate.location.lat, gate.location.lon)
        km = math.hypot((lat1 - lat0) * 111.0, (lon1 - lon0) * 111.0 * math.cos(
            math.radians(lat1)))
        keep = max(0.0, 1 - SHORT_OF_GATE_KM / km) if km else 0.0
        out[gate.code] = Route(park=(lat0, lon0), road_end=(
            lat0 + (lat1 - lat0) * keep, lon0 + (lon1 - lon0) * keep), gate=(lat1, lon1))
    return out


def build(ctx: AppContext) -> Traffic:
    with ctx.sessions() as session:
        network = networks.in_force(session, ctx.clock.now())
    yards = tuple(s.code for s in network.staging_areas) + tuple(
        y.code for g in network.gates for y in g.yards)
    settings = ctx.settings
    return Traffic(  # it reaches the server as anyone does: at the public base URL
        base_url=settings.public_base_url.rstrip("/"),
        enterprise_key=_client(ctx, ENTERPRISE, (Role.ENTERPRISE,), network,
                               enterprise_tax_code=TAX_CODE),
        officers_key=_client(ctx, OFFICERS, OFFICER_ROLES, network, yard_scope=yards,
                             gate_scope=tuple(g.code for g in network.gates)),
        tax_code=TAX_CODE, staged_gates=staged_gates(network),
        permitted=permitted_goods(network), clock=ctx.clock.now, speed=settings.demo_speed,
        trucks_per_day=settings.demo_trucks_per_day, drivers=_drivers(ctx, network),
        cameras=_cameras(ctx, network), routes=routes(network),
        connect_wait=actors.CONNECT_WAIT)


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
