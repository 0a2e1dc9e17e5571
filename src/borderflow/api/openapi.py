"""The OpenAPI document lists every status code a route can answer, and a 405 names in its
``Allow`` header exactly the methods the document lists for that address.

Besides what each route declares, the answers every route shares are added once here:

- 400 (a request the route cannot carry out as sent) and 422 (a field refused: the input
  bounds check every URL before routing), on every operation;
- 413 (body too large) on every operation that takes a body;
- 404 on every operation with a path parameter (no such object, or not yours);
- 401 and 403 on every operation that needs a login;
- 429 (too many requests) and 503 (a service it needs is unavailable), with ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import iter_route_contexts
from starlette.routing import Match
from starlette.types import Scope

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
PUBLIC_MARK = "anyone, no login needed"
BODY_METHODS = frozenset({"post", "put", "patch"})

SHARED: dict[str, str] = {
    "400": "The request cannot be carried out as sent (the message says why)",
    "422": "Invalid input: each bad field and why (also malformed or too deeply nested JSON, "
           "control characters, numbers or dates out of range)",
    "429": "Too many requests: send again after Retry-After seconds",
    "503": "A service this needs is unavailable now: send again after Retry-After seconds",
}
TOO_LARGE = "The body is larger than this route class accepts"
NOT_FOUND = "No such object, or not one you may see"
UNAUTHORIZED = "Not logged in, or the token/key is invalid"
FORBIDDEN = "Your role may not do this"


def _response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def expected_codes(path: str, method: str, operation: dict[str, Any]) -> set[str]:
    """The status codes every operation of its kind can answer (see the module)."""
    codes = set(SHARED)
    if method in BODY_METHODS or "requestBody" in operation:
        codes.add("413")
    if "{" in path:
        codes.add("404")
    if "**Roles:**" in operation.get("description", "") and \
            PUBLIC_MARK not in operation.get("description", ""):
        codes |= {"401", "403"}
    return codes


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with the shared error answers added to every operation."""
    texts = {**SHARED, "413": TOO_LARGE, "404": NOT_FOUND, "401": UNAUTHORIZED,
             "403": FORBIDDEN}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code in sorted(expected_codes(path, method, operation)):
                responses.setdefault(code, _response(texts[code]))
    return document


def install(app: FastAPI) -> None:
    """Serve the completed document as the application's OpenAPI document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version,
                                   description=app.description, routes=app.routes,
                                   tags=app.openapi_tags, servers=app.servers)
            app.openapi_schema = complete(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def allowed_methods(app: Any, scope: Scope) -> list[str]:
    """The methods the document lists for this request's address (for a 405's ``Allow``):
    those of the most specific path template that matches it (the fewest parameters, so
    ``/tariffs/quote`` rather than ``/tariffs/{version}``)."""
    by_template: dict[str, set[str]] = {}
    for context in iter_route_contexts(app.routes):
        path = getattr(context, "path", None)
        route_methods = getattr(context, "methods", None) or set()
        if path is None or not route_methods:
            continue
        probe = {**scope, "method": next(iter(route_methods))}
        try:
            match, _ = context.matches(probe)
        except Exception:  # noqa: S112 - a route that cannot judge this address
            continue
        if match == Match.FULL:
            by_template.setdefault(path, set()).update(route_methods)
    if not by_template:
        return []
    template = min(by_template, key=lambda p: p.count("{"))
    return sorted(by_template[template] - {"HEAD"})
