"""Security headers on every answer, and, in production, /metrics and the API documentation
only for operators (a bearer token or an allowed network).

The Content-Security-Policy allows scripts, styles, fonts and images from this site only: no
inline script, no ``on...=`` handler attribute, no inline style, no framing by any site. The
interactive documentation (/docs, /redoc) is the one exception: its pages are made by FastAPI
with an inline script and Swagger UI or ReDoc from the jsDelivr CDN, so they get a policy of
their own that allows exactly that (and, in production, only operators reach them).
"""

from __future__ import annotations

import hmac
import ipaddress
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from borderflow.config import Settings, secret

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "font-src 'self'; media-src 'self' blob:; connect-src 'self'; object-src 'none'; "
       "base-uri 'self'; frame-ancestors 'none'")
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net "
            "https://fonts.googleapis.com; "
            "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
            "font-src 'self' https://fonts.gstatic.com; worker-src 'self' blob:; "
            "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'")
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
OPS_PATHS = DOCS_PATHS | {"/metrics", "/openapi.json"}
HSTS = "max-age=63072000; includeSubDomains"


def security_headers(path: str, *, production: bool) -> list[tuple[bytes, bytes]]:
    """The headers every answer for ``path`` carries."""
    headers = [
        (b"content-security-policy", (DOCS_CSP if path in DOCS_PATHS else CSP).encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(self), geolocation=(), microphone=(), payment=()"),
    ]
    if production:
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


class SecurityHeaders:
    """Adds :func:`security_headers` to every HTTP answer (pages, API, static files, errors);
    in production also guards /metrics and the documentation (see :class:`OpsGuard`)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.production = settings.production
        self.guard = OpsGuard(settings) if settings.production else None
        # made once: the same two lists for every answer
        self._docs = security_headers(next(iter(DOCS_PATHS)), production=self.production)
        self._pages = security_headers("/", production=self.production)
        self._names = frozenset(name for name, _ in self._pages)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        extra = self._docs if path in DOCS_PATHS else self._pages
        names = self._names

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, secure_cookie(v) if self.production and k.lower() == b"set-cookie"
                         else v)
                        for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + extra}
            await send(message)

        if self.guard is not None and path in OPS_PATHS and not self.guard.allows(scope):
            await not_found(send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def secure_cookie(value: bytes) -> bytes:
    """A ``Set-Cookie`` value with the ``Secure`` attribute (production: every cookie, even
    when TLS ends at a proxy in front and the request reached us over plain HTTP)."""
    attributes = [a.strip().lower() for a in value.split(b";")[1:]]
    return value if b"secure" in attributes else value + b"; Secure"


class OpsGuard:
    """Who may read /metrics and the documentation in production: a request with
    ``Authorization: Bearer <OPS_TOKEN>``, or one from an address in OPS_NETWORKS."""

    def __init__(self, settings: Settings) -> None:
        token = secret(settings.ops_token)
        self.token = token.encode() if token else None
        self.networks = settings.ops_network_list

    def allows(self, scope: Scope) -> bool:
        if self.token is not None:
            for name, value in scope.get("headers", ()):
                if name == b"authorization" and value[:7].lower() == b"bearer " and \
                        hmac.compare_digest(value[7:].strip(), self.token):
                    return True
        client = scope.get("client")
        if client and self.networks:
            try:
                address = ipaddress.ip_address(client[0])
            except ValueError:
                return False
            return any(address in net for net in self.networks)
        return False


async def not_found(send: Send) -> None:
    """The common 404 answer (the address is not shown to others)."""
    body = json.dumps({"error": {"code": "not_found", "message": "There is no such page.",
                                 "fields": []}}).encode()
    await send({"type": "http.response.start", "status": 404,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
