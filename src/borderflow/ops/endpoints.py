"""Health, readiness and metrics endpoints, plus the request middleware."""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from borderflow import __version__
from borderflow.api.deps import Ctx
from borderflow.ops.readiness import schema_revision

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
        rev = schema_revision(ctx.engine)
        checks["database"] = "ok"
        checks["schema"] = rev
    except Exception as exc:  # any failure means "not ready", reported, never raised
        checks["database"] = f"unavailable: {type(exc).__name__}"
        return JSONResponse({"status": "unavailable", "checks": checks}, status_code=503)
    return JSONResponse({"status": "ok", "checks": checks})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            description="Prometheus text format.\n\n**Roles:** anyone (expose it only to your "
            "monitoring network).")
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class RequestMiddleware:
    """Give every request an id, log it as one JSON line, count it for Prometheus. A plain
    ASGI middleware: it adds nothing to the request's path but a header and a log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            REQUESTS.labels(method, template, str(status)).inc()
            LATENCY.labels(method, template).observe(elapsed)
            log.info("request", method=method, path=scope.get("path", ""), status=status,
                     ms=round(elapsed * 1000, 1))
