"""One JSON error shape for every failure: AppError, bad requests, unexpected errors."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from borderflow.errors import AppError, FieldError, Unavailable, ValidationFailed
from borderflow.jsondoc import clean_message, loc_to_path

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
        out.append(FieldError(loc_to_path(loc), msg))
    return out


def headers_for(err: AppError) -> dict[str, str] | None:
    """The headers an error's answer carries: how to authenticate, when to send again."""
    if err.status_code == 401:
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(err, Unavailable):
        return {"Retry-After": str(err.retry_after_seconds)}
    return None


def install(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def app_error(_: Request, exc: AppError) -> JSONResponse:
        return _json(exc, headers_for(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _json(ValidationFailed(request_validation_fields(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        err = AppError(str(exc.detail), exc.status_code, code=codes.get(exc.status_code, "http"))
        return _json(err, dict(exc.headers) if exc.headers else None)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        err = AppError("internal error; it has been logged", 500, code="internal")
        return _json(err)
