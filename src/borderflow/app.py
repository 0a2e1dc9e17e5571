"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

from borderflow import __version__, handlers
from borderflow.account import remembered
from borderflow.account.endpoints import router as account_router
from borderflow.account.throttle import LoginThrottle
from borderflow.api import errors, openapi
from borderflow.api.admission import install_database_errors
from borderflow.api.bounds import BodyLimits, InputBounds
from borderflow.api.context import AppContext
from borderflow.api.protect import SecurityHeaders
from borderflow.api.ratelimit import RATE_LIMITED, RequestLimits, build_storage, rate_limit
from borderflow.booking.endpoints import router as booking_router
from borderflow.booking.vehicle_endpoints import router as vehicle_router
from borderflow.clock import Clock
from borderflow.config import SANDBOX_PATH, Settings, get_settings, secret
from borderflow.declaration.endpoints import router as declaration_router
from borderflow.declaration.endpoints import short_router
from borderflow.demand.endpoints import router as forecast_router
from borderflow.demo.run import lifespan_with_demo
from borderflow.dispatch.endpoints import controls_router
from borderflow.dispatch.endpoints import router as dispatch_router
from borderflow.dispatch.endpoints import trips_router as dispatch_trips_router
from borderflow.dispatch.loop import lifespan_with_dispatch_nudges
from borderflow.exchange.endpoints import router as exchange_router
from borderflow.fees.endpoints import router as fees_router
from borderflow.fees.endpoints import verify_router
from borderflow.fees.online_endpoints import IPN_PATH, build_gateway
from borderflow.fees.online_endpoints import router as online_router
from borderflow.fees.sandbox import SandboxGateway
from borderflow.logging import configure_logging
from borderflow.network.endpoints import router as network_router
from borderflow.notify.endpoints import router as notify_router
from borderflow.ops.endpoints import RequestMiddleware
from borderflow.ops.endpoints import router as ops_router
from borderflow.ops.worker import background, build_context, install_state
from borderflow.report.endpoints import router as report_router
from borderflow.sim_jobs.endpoints import router as sim_router
from borderflow.telemetry.bus import count_dead_letters
from borderflow.telemetry.camera_endpoints import router as camera_router
from borderflow.telemetry.endpoints import OsmandRoute
from borderflow.telemetry.endpoints import router as telemetry_router
from borderflow.trip.endpoints import router as trip_router
from borderflow.web.pages import STATIC
from borderflow.web.pages import error_page as web_error_page
from borderflow.web.routes import ROUTERS as WEB_ROUTERS

DESCRIPTION = """
Borderflow regulates freight trucks through land border gates: enterprises pre-declare goods,
vehicles, drivers and quarantine certificates; trucks wait in a staging park and are called
forward to gates with room; officers record each checkpoint step.

**Authentication.** People log in at `POST /api/v1/auth/token` (OAuth2 password flow) and send
`Authorization: Bearer <token>`; machine clients send `X-API-Key`. Each endpoint's description
ends with the roles that may call it.

**Errors** always have the shape
`{"error": {"code": "...", "message": "...", "fields": [{"field": "...", "reason": "..."}]}}`.

**Retries.** Writes accept an `Idempotency-Key` header: a retry with the same key returns the
first response and has no second effect.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The background work next to the API unless ``BORDERFLOW_BACKGROUND=none`` (then the
    changes it commits wake the workers' dispatcher); the demo when asked; positions still
    queued for the telemetry processor are written before the process ends."""
    ctx: AppContext = app.state.ctx
    try:
        async with AsyncExitStack() as stack:
            if ctx.settings.background == "all":
                await stack.enter_async_context(background(app))
            else:  # the workers run it; /metrics still counts the telemetry's dead letters
                count_dead_letters(ctx.sessions)
                await stack.enter_async_context(lifespan_with_dispatch_nudges(app))
            await stack.enter_async_context(lifespan_with_demo(app))
            yield
    finally:
        await app.state.telemetry.aclose()


ROUTERS = (ops_router, account_router, network_router, declaration_router, trip_router,
           booking_router, dispatch_router, dispatch_trips_router, controls_router,
           vehicle_router, telemetry_router, notify_router, camera_router, fees_router,
           online_router, short_router, verify_router, report_router, forecast_router,
           exchange_router, sim_router, *WEB_ROUTERS)
"""Every router of the platform, in the order they are matched."""
_INCLUDED: dict[int, BaseRoute] = {}
"""Per router (by id: the routers live as long as the process), its inclusion as the
process's first app made it (see :func:`create_app`)."""


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    handlers.install()  # the features' reactions to trip events (borderflow/handlers.py)
    ctx = build_context(settings, clock)
    remembered.install()
    app = FastAPI(
        title="Borderflow",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url="/redoc",
        openapi_url="/openapi.json",
        lifespan=lifespan,
        dependencies=[Depends(rate_limit)],
        responses=RATE_LIMITED,
    )
    install_state(app, ctx)
    limit_store = build_storage(settings)
    app.state.request_limits = RequestLimits.from_settings(settings, limit_store)
    app.state.login_throttle = LoginThrottle.from_settings(settings, limit_store)
    app.state.gateway = build_gateway(settings)
    if settings.payment_gateway == "sandbox" and not settings.production:
        app.state.sandbox = SandboxGateway(
            settings.vnpay_tmn_code, secret(settings.vnpay_hash_secret) or "",
            settings.public_base_url.rstrip("/") + IPN_PATH, clock=ctx.clock)
        app.mount(SANDBOX_PATH, app.state.sandbox.app)
    errors.install(app, html=web_error_page)
    install_database_errors(app)
    app.add_middleware(OsmandRoute)  # inside the request log and metrics
    app.add_middleware(InputBounds, limits=BodyLimits(
        default=settings.max_body_bytes, telemetry=settings.max_body_telemetry_bytes,
        image=settings.max_body_image_bytes, upload=settings.max_body_upload_bytes,
        history=settings.max_body_history_bytes))
    app.add_middleware(SecurityHeaders, settings=settings)
    app.add_middleware(RequestMiddleware)
    for router in ROUTERS:
        app.include_router(router)
        # FastAPI builds an included router's routes (each handler's dependencies and response
        # model) at the first request an app gets, for that app. Every app Borderflow makes
        # includes the same routers under the same app-wide dependency and responses, so a
        # process builds them once and its later apps share them: a server has one app per
        # process, the test suite one per test (a fifth of a second each). (Dependency
        # overrides, which the platform does not use, would follow the first app's.)
        app.router.routes[-1] = _INCLUDED.setdefault(id(router), app.router.routes[-1])

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    openapi.install(app)
    return app


def create_server_app() -> FastAPI:
    """The app as ``borderflow serve`` runs it (in each worker process): :func:`create_app`,
    then the runtime tuned for a long-running server."""
    from borderflow.ops.runtime import tune_gc

    app = create_app()
    tune_gc()
    return app

