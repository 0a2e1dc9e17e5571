"""One JSON error shape for every failure: AppError, bad requests, unexpected errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from borderflow.api.openapi import allowed_methods
from borderflow.errors import (
    AppError,
    FieldError,
    TooManyRequests,
    Unavailable,
    ValidationFailed,
    msg,
)
from borderflow.jsondoc import clean_message, loc_to_path, pydantic_reason

log = structlog.get_logger("borderflow.api")


class FieldErrorOut(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: list[FieldErrorOut]


class ErrorResponse(BaseModel):
    """The shape of every error response."""

    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Not logged in, or the token/key is invalid"},
    403: {"model": ErrorResponse, "description": "Your role may not do this"},
    422: {"model": ErrorResponse, "description": "Invalid input: each bad field and why"},
}


def _json(err: AppError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(err.as_dict(), status_code=err.status_code, headers=headers)


def request_validation_fields(exc: RequestValidationError) -> list[FieldError]:
    out: list[FieldError] = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        msg = clean_message(str(err.get("msg", "invalid")))
        if err.get("type") == "json_invalid":
            out.append(FieldError("body", "the request body is not valid JSON"))
            continue
        if err.get("type") == "missing":
            msg = "this field is required"
        out.append(FieldError(loc_to_path(loc), pydantic_reason(err, english=msg)))
    return out


def headers_for(err: AppError) -> dict[str, str] | None:
    """The headers an error's answer carries: how to authenticate, when to send again."""
    if err.status_code == 401:
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(err, (Unavailable, TooManyRequests)):
        return {"Retry-After": str(err.retry_after_seconds)}
    return None


HtmlErrors = Callable[[Request, AppError], Response | None]
"""How the web pages answer a browser's error (a page instead of JSON), or None for an API
client; set by the application as ``app.state.html_errors``."""


def install(app: FastAPI, html: HtmlErrors | None = None) -> None:
    """One JSON error shape for API clients; for a browser asking for a page, ``html``
    answers with a page in the visitor's language (content negotiation)."""

    async def answer(request: Request, err: AppError,
                     headers: dict[str, str] | None = None) -> Response:
        if html is not None:
            page = await run_in_threadpool(html, request, err)
            if page is not None:
                for name, value in (headers or {}).items():  # Retry-After on a page too
                    page.headers.setdefault(name, value)
                return page
        return _json(err, headers)

    @app.exception_handler(AppError)
    async def app_error(request: Request, exc: AppError) -> Response:
        return await answer(request, exc, headers_for(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        return await answer(request, ValidationFailed(request_validation_fields(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        texts = {404: msg("There is no such page."),
                 405: msg("This address is reached through a form.")}
        message = texts.get(exc.status_code) if exc.detail in (
            "Not Found", "Method Not Allowed") else None
        err = AppError(message or str(exc.detail), exc.status_code,
                       code=codes.get(exc.status_code, "http"))
        headers = dict(exc.headers) if exc.headers else {}
        if exc.status_code == 405:  # every method the document lists for this address
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
        return await answer(request, err, headers or None)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", path=request.url.path)
        err = AppError(msg("internal error; it has been logged"), 500, code="internal")
        try:
            return await answer(request, err)
        except Exception:  # the error page itself failed: the plain shape still answers
            log.exception("error page failed", path=request.url.path)
            return _json(err)
