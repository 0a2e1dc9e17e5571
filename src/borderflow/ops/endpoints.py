"""Health, readiness and metrics endpoints, plus the request middleware."""

from __future__ import annotations

import time
import uuid
from typing import Any

import anyio
import anyio.to_thread
import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from borderflow import __version__
from borderflow.api.deps import Ctx
from borderflow.ops import metrics as process_metrics
from borderflow.ops.readiness import schema_revision

router = APIRouter(tags=["operations"])
log = structlog.get_logger("borderflow.http")

REQUESTS = Counter("borderflow_http_requests_total", "HTTP requests, by route template",
                   ["method", "route", "status"])
LATENCY = Histogram("borderflow_http_request_seconds", "HTTP request duration, by route template",
                    ["method", "route"])


@router.get("/healthz", summary="Liveness", description="The process is up.\n\n**Roles:** anyone.")
def healthz() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


READY_TIMEOUT_SECONDS = 3.0
"""How long the readiness check waits for the database before answering 503."""
READY_FRESH_SECONDS = 1.0
"""A successful check answers the checks that follow for this long (HAProxy asks every second
per process; a burst of checks costs one query)."""


@router.get("/readyz", summary="Readiness",
            description="The database answers and the schema is migrated; 503 otherwise, or "
            f"when the database has not answered within {READY_TIMEOUT_SECONDS:g} s. The "
            "check runs on a thread of its own, never queued behind the requests' threads or "
            "their admission to the database, so a process busy with a burst still says that "
            "it is ready while its database answers."
            "\n\n**Roles:** anyone.",
            responses={503: {"description": "Not ready"}})
async def readyz(request: Request) -> Response:
    state = request.app.state
    ctx = state.ctx  # not the Ctx dependency: a plain function's dependency takes a thread
    fresh = getattr(state, "ready_at", None)
    if fresh is not None and time.monotonic() - fresh[0] < READY_FRESH_SECONDS:
        return JSONResponse({"status": "ok", "checks": fresh[1]})
    limiter = getattr(state, "ready_limiter", None)
    if limiter is None:
        limiter = state.ready_limiter = anyio.CapacityLimiter(1)
    checks: dict[str, str] = {}
    with anyio.move_on_after(READY_TIMEOUT_SECONDS):
        try:
            rev = await anyio.to_thread.run_sync(schema_revision, ctx.engine, limiter=limiter,
                                                 abandon_on_cancel=True)
        except Exception as exc:  # any failure means "not ready", reported, never raised
            checks["database"] = f"unavailable: {type(exc).__name__}"
            return JSONResponse({"status": "unavailable", "checks": checks}, status_code=503)
        checks = {"database": "ok", "schema": rev}
        state.ready_at = (time.monotonic(), checks)
        return JSONResponse({"status": "ok", "checks": checks})
    checks["database"] = f"unavailable: no answer within {READY_TIMEOUT_SECONDS:g} s"
    return JSONResponse({"status": "unavailable", "checks": checks}, status_code=503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            description="Prometheus text format: the sum over every process of the machine "
            "in multi-process mode (BORDERFLOW_METRICS_DIR, or serve --workers over 1), and "
            "the figures read from the database (outbox, trucks per gate, dead letters). "
            "Every metric and the alerts to set: docs/monitoring.md."
            "\n\n**Roles:** anyone (expose it only to your monitoring network).")
def metrics(ctx: Ctx) -> Response:
    return Response(process_metrics.render(ctx), media_type=CONTENT_TYPE_LATEST)


def route_template(scope: Scope, root_path: str) -> str:
    """The template of the route that answered (``/api/v1/trips/{trip_id}``), never the raw
    path, so the metrics' labels stay few: a mounted application's routes are prefixed with
    where it is mounted, files under a mount count as the mount's, anything unmatched as
    ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    mounted = str(scope.get("root_path", ""))
    prefix = mounted[len(root_path):] if mounted.startswith(root_path) else ""
    if isinstance(route, Mount) or (path is None and prefix):
        return f"{prefix or path}/{{path}}"
    if path is None:
        return "unmatched"
    return f"{prefix}{path}"


class RequestMiddleware:
    """Give every request an id, log it as one JSON line, count it for Prometheus. A plain
    ASGI middleware: it adds nothing to the request's path but a header and a log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        process_metrics.mark_dead_at_exit()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for key, value in scope.get("headers", ()):
            if key == b"x-request-id":
                request_id = value.decode("latin-1")[:64]
                break
        request_id = request_id or uuid.uuid4().hex
        root_path = str(scope.get("root_path", ""))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            template = route_template(scope, root_path)
            method = scope.get("method", "")
            REQUESTS.labels(method, template, str(status)).inc()
            LATENCY.labels(method, template).observe(elapsed)
            log.info("request", method=method, path=scope.get("path", ""), status=status,
                     ms=round(elapsed * 1000, 1))
