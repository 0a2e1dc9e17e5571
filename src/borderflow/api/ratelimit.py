"""Request rate limits (the ``limits`` library): per client on writes, per IP address on
public reads and on telemetry ingestion. Counts live in Redis when ``BORDERFLOW_REDIS_URL``
is set (shared by every worker), else in this process's memory (the embedded default).

Every route of the application depends on :func:`rate_limit` (an application-wide
dependency), so a refusal is an ordinary :class:`TooManyRequests` error: the common JSON
shape with ``Retry-After`` for API clients, a page in the visitor's language for browsers.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import Request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter
from prometheus_client import Counter

from borderflow.api.errors import ErrorResponse
from borderflow.config import Settings
from borderflow.errors import TooManyRequests, msg

log = structlog.get_logger("borderflow.ratelimit")

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TELEMETRY_PATHS = frozenset({"/api/v1/telemetry/osmand", "/api/v1/telemetry/owntracks",
                             "/api/v1/telemetry/positions"})
"""Where phones and fleet systems send positions (limited per IP address)."""
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorResponse, "description": "Too many requests: send again after the "
          "seconds in `Retry-After`"}}

REFUSED = Counter("borderflow_rate_limited_total", "Requests refused by a rate limit",
                  ["limit"])


def build_storage(settings: Settings) -> Storage:
    """Redis (``BORDERFLOW_REDIS_URL``) or this process's memory."""
    url = settings.redis_url.get_secret_value() if settings.redis_url else None
    if url:
        return RedisStorage(url, key_prefix="borderflow")
    return MemoryStorage()


def retry_after(limiter: MovingWindowRateLimiter, item: RateLimitItem, *keys: str) -> int:
    """Whole seconds until the window of ``item`` for ``keys`` has room again (at least 1)."""
    reset = limiter.get_window_stats(item, *keys).reset_time
    return max(1, math.ceil(reset - time.time()))


def anonymised(credential: str) -> str:
    """A short digest of a credential: the key a client is counted under (the credential
    itself is never stored)."""
    return hashlib.sha256(credential.encode()).hexdigest()[:24]


def client_ip(request: Request) -> str:
    """The caller's address as the server sees it (behind a proxy, run uvicorn with
    ``--proxy-headers --forwarded-allow-ips`` so that this is the client's)."""
    return request.client.host if request.client else "unknown"


@dataclass
class RequestLimits:
    """The limits of one application, and where their counts live."""

    storage: Storage
    writes: RateLimitItem
    public_reads: RateLimitItem
    telemetry: RateLimitItem
    enabled: bool = True

    @classmethod
    def from_settings(cls, settings: Settings, storage: Storage) -> RequestLimits:
        return cls(storage=storage, writes=parse(settings.rate_limit_writes),
                   public_reads=parse(settings.rate_limit_public_reads),
                   telemetry=parse(settings.rate_limit_telemetry),
                   enabled=settings.throttling)

    def __post_init__(self) -> None:
        self.limiter = MovingWindowRateLimiter(self.storage)

    def classify(self, method: str, path: str, credential: str | None,
                 ip: str) -> tuple[str, RateLimitItem, str] | None:
        """Which limit a request counts against, and under which key; None: no limit."""
        if path in UNLIMITED_PATHS or path.startswith("/static/"):
            return None
        if path in TELEMETRY_PATHS:
            return "telemetry", self.telemetry, ip
        if method not in READ_METHODS:
            return "writes", self.writes, anonymised(credential) if credential else ip
        if credential is None:
            return "public_reads", self.public_reads, ip
        return None

    def check(self, method: str, path: str, credential: str | None, ip: str) -> None:
        """Count the request; raise :class:`TooManyRequests` when its limit is reached."""
        if not self.enabled:
            return
        kind = self.classify(method, path, credential, ip)
        if kind is None:
            return
        name, item, key = kind
        try:
            if self.limiter.hit(item, name, key):
                return
            wait = retry_after(self.limiter, item, name, key)
        except Exception as exc:  # the store is down: serve rather than refuse everyone
            log.warning("rate limit store unavailable", error=type(exc).__name__)
            return
        REFUSED.labels(name).inc()
        raise TooManyRequests(msg("too many requests; try again in {seconds} seconds",
                                  seconds=wait), wait)


def credential_of(request: Request) -> str | None:
    """The API key or bearer token the request carries (or the browser session cookie)."""
    key = request.headers.get("x-api-key")
    if key:
        return key
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.cookies.get("bf_session") or None


async def rate_limit(request: Request) -> None:
    """Application-wide dependency: count the request against its limit."""
    limits: RequestLimits | None = getattr(request.app.state, "request_limits", None)
    if limits is None:
        return
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    limits.check(request.method, path, credential_of(request), client_ip(request))
