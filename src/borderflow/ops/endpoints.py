"""Health, readiness and metrics endpoints, plus the request middleware."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import text

from borderflow import __version__
from borderflow.api.deps import Ctx

router = APIRouter(tags=["operations"])
log = structlog.get_logger("borderflow.http")

REQUESTS = Counter("borderflow_http_requests_total", "HTTP requests",
                   ["method", "route", "status"])
LATENCY = Histogram("borderflow_http_request_seconds", "HTTP request duration",
                    ["method", "route"])


@router.get("/healthz", summary="Liveness", description="The process is up.\n\n**Roles:** anyone.")
def healthz() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@router.get("/readyz", summary="Readiness",
            description="The database answers and the schema is migrated. 503 otherwise."
            "\n\n**Roles:** anyone.",
            responses={503: {"description": "Not ready"}})
def readyz(ctx: Ctx) -> Response:
    checks: dict[str, str] = {}
    try:
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        checks["database"] = "ok"
        checks["schema"] = str(rev)
    except Exception as exc:  # any failure means "not ready", reported, never raised
        checks["database"] = f"unavailable: {type(exc).__name__}"
        return JSONResponse({"status": "unavailable", "checks": checks}, status_code=503)
    return JSONResponse({"status": "ok", "checks": checks})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            description="Prometheus text format.\n\n**Roles:** anyone (expose it only to your "
            "monitoring network).")
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def request_middleware(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Give every request an id, log it as one JSON line, count it for Prometheus."""
    request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id[:64])
    start = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        response.headers["X-Request-ID"] = request_id[:64]
        return response
    finally:
        elapsed = time.perf_counter() - start
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        REQUESTS.labels(request.method, template, str(status)).inc()
        LATENCY.labels(request.method, template).observe(elapsed)
        log.info("request", method=request.method, path=request.url.path, status=status,
                 ms=round(elapsed * 1000, 1))
