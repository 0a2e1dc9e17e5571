"""Every input bounded where it enters, before any handler or the database sees it.

One ASGI middleware (:class:`InputBounds`) checks each request against the route it will
reach:

- the body is at most the size allowed for its route class (``Content-Length`` first, then
  the bytes actually received), else 413;
- a JSON body is valid JSON, at most :data:`MAX_JSON_DEPTH` levels deep, its numbers within
  :data:`JSON_INT_LIMIT`, its strings free of control characters, else 422 naming the field;
- form fields, the path and every query value hold no control character;
- the route's declared path, query and header parameters are within range: whole numbers
  within 32 bits, dates within :data:`DATE_MIN`..:data:`DATE_MAX`, date-times with a time
  zone (a time without one is refused rather than guessed), strings at most
  :data:`MAX_PARAM_LENGTH` characters (headers :data:`MAX_HEADER_LENGTH`).

The body is read (up to its limit) before the route sees it, then handed on unchanged.

Refusals go through the application's own error handler, so the answer has the common
error shape (or a page, for a browser). The same checks hold on SQLite and PostgreSQL:
nothing the database would refuse (NUL, numbers past its integer types, dates past the
calendar) reaches it. Request models add each field's storage limit with the annotated
types of :mod:`borderflow.fieldtypes` (:data:`Instant`, :data:`Day`, :data:`Year`,
:data:`Code`; re-exported here).
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.requests import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from borderflow.errors import AppError, FieldError, PayloadTooLarge, ValidationFailed, msg
from borderflow.fieldtypes import DATE_MAX as DATE_MAX
from borderflow.fieldtypes import DATE_MIN as DATE_MIN
from borderflow.fieldtypes import Code as Code
from borderflow.fieldtypes import Day as Day
from borderflow.fieldtypes import Instant as Instant
from borderflow.fieldtypes import Year as Year

INT32_MAX = 2**31 - 1
JSON_INT_LIMIT = 2**53 - 1
"""Whole numbers in JSON beyond this are not exact in JSON and fit no column."""
MAX_JSON_DEPTH = 32
MAX_PARAM_LENGTH = 500
MAX_HEADER_LENGTH = 200
"""Declared headers (``Idempotency-Key``, ``If-Match``): the key's storage limit."""
MAX_PATH_LENGTH = 400
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Control characters refused in free text (tab, line feed and carriage return pass)."""


def control_free(value: str, *, text_block: bool = False) -> bool:
    return (_CONTROL_IN_TEXT if text_block else _CONTROL).search(value) is None


# ---- body size per route class -------------------------------------------------------------


@dataclass(frozen=True)
class BodyLimits:
    """The largest body accepted, per route class, in bytes."""

    default: int = 256 * 1024
    telemetry: int = 1024 * 1024
    image: int = 8 * 1024 * 1024
    upload: int = 10 * 1024 * 1024
    history: int = 64 * 1024 * 1024

    def for_path(self, path: str) -> tuple[str, int]:
        for prefix, kind in ROUTE_CLASSES:
            if path.startswith(prefix):
                return kind, getattr(self, kind)
        return "default", self.default


LENIENT_JSON = frozenset({"/api/v1/telemetry/osmand", "/api/v1/telemetry/owntracks"})
"""Routes whose handler answers a body that is not JSON itself (a phone's queue must not
stop on one bad message); control characters and depth are still refused there."""

ROUTE_CLASSES: tuple[tuple[str, str], ...] = (
    ("/api/v1/telemetry/", "telemetry"),
    ("/api/v1/plate-reads", "image"),
    ("/api/v1/exchange/bulletins", "upload"),
    ("/api/v1/reconciliations", "upload"),
    ("/api/v1/network", "upload"),
    ("/api/v1/tariffs", "upload"),
    ("/api/v1/reports/history", "history"),
)
"""Route classes by path prefix (declarations and every other body: ``default``)."""


# ---- parameters declared by the route ------------------------------------------------------


@dataclass(frozen=True)
class _Param:
    name: str  # as sent (alias)
    where: str  # path, query, header
    kind: str  # int, date, datetime, str, other


def _kind(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _kind(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        kinds = {_kind(a) for a in typing.get_args(annotation) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else "other"
    if origin in (list, tuple, set, frozenset):
        args = typing.get_args(annotation)
        return _kind(args[0]) if args else "other"
    if annotation is bool:
        return "other"
    if annotation is int:
        return "int"
    if annotation is datetime:
        return "datetime"
    if annotation is date:
        return "date"
    if annotation is str:
        return "str"
    return "other"


def _params_of(route: APIRoute) -> list[_Param]:
    from fastapi.dependencies.utils import get_flat_params

    out: list[_Param] = []
    for field in get_flat_params(route.dependant):
        where = type(field.field_info).__name__.lower()
        if where not in ("path", "query", "header"):
            continue
        out.append(_Param(field.alias, where, _kind(field.field_info.annotation)))
    return out


def _check_value(param: _Param, value: str) -> str | None:
    """Why a raw parameter value is refused, or None."""
    limit = MAX_HEADER_LENGTH if param.where == "header" else MAX_PARAM_LENGTH
    if not control_free(value):
        return msg("Control characters are not accepted.")
    if param.kind == "int":
        try:
            number = int(value.strip())
        except ValueError:
            return None  # the framework says it is not a number
        if not -INT32_MAX <= number <= INT32_MAX:
            return msg("Must be at most {limit}.", limit=INT32_MAX)
    elif param.kind in ("date", "datetime"):
        return _check_when(param.kind, value.strip())
    elif param.kind == "str" and len(value) > limit:
        return msg("At most {count} characters.", count=limit)
    return None


def _check_when(kind: str, value: str) -> str | None:
    if kind == "date":
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return None if len(value) <= 40 else msg("Enter a date.")
        return None if DATE_MIN <= day <= DATE_MAX else msg(
            "Give a date from {start} to {end}.", start=DATE_MIN, end=DATE_MAX)
    try:
        when = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return None if len(value) <= 40 else msg("Enter a date and time.")
        return msg("Give a time with its time zone (for example {example}).",
                   example=f"{day.isoformat()}T00:00:00+07:00")
    if when.tzinfo is None:
        return msg("Give a time with its time zone (for example {example}).",
                   example=when.isoformat() + "+07:00")
    if not DATE_MIN <= when.astimezone(UTC).date() <= DATE_MAX:
        return msg("Give a date from {start} to {end}.", start=DATE_MIN, end=DATE_MAX)
    return None


# ---- JSON and form bodies ------------------------------------------------------------------


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def json_problems(document: Any, limit: int = 20) -> list[FieldError]:
    """What is refused in a parsed JSON document: too deep, numbers too large, control
    characters in strings (keys included)."""
    out: list[FieldError] = []
    stack: list[tuple[str, Any, int]] = [("", document, 1)]
    while stack and len(out) < limit:
        where, value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            out.append(FieldError(where or "body", msg(
                "Nested more than {count} levels deep.", count=MAX_JSON_DEPTH)))
            continue
        items: Iterator[tuple[str | int, Any]]
        if isinstance(value, dict):
            for key in value:
                if not control_free(key, text_block=True):
                    out.append(FieldError(where or "body",
                                          msg("Control characters are not accepted.")))
            items = iter(value.items())
        elif isinstance(value, list):
            items = iter(enumerate(value))
        else:
            reason = _scalar_problem(value)
            if reason is not None:
                out.append(FieldError(where or "body", reason))
            continue
        stack.extend((_path(where, k), v, depth + 1) for k, v in items)
    return out


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return None if control_free(value, text_block=True) else msg(
            "Control characters are not accepted.")
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and abs(value) > JSON_INT_LIMIT:
        return msg("Must be at most {limit}.", limit=JSON_INT_LIMIT)
    if (isinstance(value, float) and value != value) or value in (float("inf"), float("-inf")):
        return msg("Enter a number.")
    return None


def _no_constants(name: str) -> Any:
    raise ValueError(name)


NOT_JSON = object()
"""What :func:`parse_json` gives for a body that is not UTF-8 JSON text."""


_MAYBE_CONTROL = re.compile(rb"\\(?:u00[01]|u007[fF]|[bf])")
"""How a control character that :func:`json_problems` refuses can be written in JSON text:
as an escape (raw ones are not JSON in a string; tab, line feed and carriage return are
accepted) or, for DEL, raw (looked for apart). An escaped backslash before a ``b`` or an
``f`` only sends a clean document the long way."""
FLOAT_EXACT = float(2**53)


def _clean_tree(value: Any, depth: int = 1) -> bool:
    """Whether a document parsed by orjson is surely clean: no value more than
    :data:`MAX_JSON_DEPTH` levels deep (the document itself is level 1), whole numbers
    within :data:`JSON_INT_LIMIT`, floats below ``2**53`` (orjson reads a whole number past
    64 bits as a float, so a larger float may have been a whole number: the long way tells).
    Strings are left to the text."""
    kind = type(value)
    if kind is dict:
        values: Any = value.values()
    elif kind is list:
        values = value
    else:
        return _clean_scalar(value)
    if depth >= MAX_JSON_DEPTH and values:  # its values would be past the limit
        return False
    for inner in values:
        kinds = type(inner)
        if kinds is dict or kinds is list:
            if not _clean_tree(inner, depth + 1):
                return False
        elif kinds is int:
            if not -JSON_INT_LIMIT <= inner <= JSON_INT_LIMIT:
                return False
        elif kinds is float and not -FLOAT_EXACT < inner < FLOAT_EXACT:
            return False
    return True


def _clean_scalar(value: Any) -> bool:
    if type(value) is int:
        return bool(-JSON_INT_LIMIT <= value <= JSON_INT_LIMIT)
    if type(value) is float:
        return bool(-FLOAT_EXACT < value < FLOAT_EXACT)
    return True


def parse_json(body: bytes) -> tuple[Any, list[FieldError]]:
    """A JSON body parsed, or why it cannot be: not UTF-8, not JSON (with line and column;
    the document is then :data:`NOT_JSON`), too deep, or refused by :func:`json_problems`.

    A clean body (the usual case: a fleet system's 1,000 positions) is parsed by orjson and
    seen to be clean from its text (no escape of a control character) and one pass over its
    containers (depth and numbers); anything else takes the long way (the standard
    library's parser, for its line and column, and :func:`json_problems` over every value),
    so the answer is the same either way."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # refused below, with the reason the standard parser gives
    else:
        if (b"\x7f" not in body and _MAYBE_CONTROL.search(body) is None
                and _clean_tree(document)):
            return document, []
    return _parse_json_walked(body)


def _parse_json_walked(body: bytes) -> tuple[Any, list[FieldError]]:
    """:func:`parse_json` the long way: every value visited."""
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError:
        return NOT_JSON, [FieldError("body", msg("The request body is not UTF-8 text."))]
    except RecursionError:
        return None, [FieldError("body", msg("Nested more than {count} levels deep.",
                                             count=MAX_JSON_DEPTH))]
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError):
            return NOT_JSON, [FieldError("body", msg(
                "The request body is not valid JSON: {problem} (line {line}, column {column}).",
                problem=exc.msg, line=exc.lineno, column=exc.colno))]
        return NOT_JSON, [FieldError("body", msg("The request body is not valid JSON: {problem}.",
                                             problem=f"{exc} is not a JSON number"))]
    return document, json_problems(document)


def form_problems(body: bytes) -> list[FieldError]:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return [FieldError("body", msg("The request body is not UTF-8 text."))]
    return [FieldError(key if control_free(key) else "body",
                       msg("Control characters are not accepted."))
            for key, value in pairs
            if not (control_free(key) and control_free(value, text_block=True))][:20]


# ---- the middleware ------------------------------------------------------------------------


_TABLES: dict[tuple[Any, ...], list[tuple[Any, list[_Param]]]] = {}
"""Route tables by the shape of the application's routes (see :func:`_route_table`)."""


def _route_table(app: Any) -> list[tuple[Any, list[_Param]]]:
    """Every API route of ``app`` with its declared parameters. Listing them makes FastAPI
    build every route's effective context, once per process (the applications of a process
    share their routers' routes: :func:`borderflow.app.create_app`), and reading every
    route's parameters then takes 13–15 ms; the table is kept for the process by the shape of
    the application's routes (the same routers under the same prefixes, the same other
    routes): an application made afresh from the same code (a test's, a worker's) matches the
    same addresses to the same parameters."""
    shape = tuple(
        ("router", id(r.original_router), r.include_context.prefix, len(r.original_router.routes))
        if hasattr(r, "original_router") else
        (type(r).__name__, getattr(r, "path", None), tuple(sorted(getattr(r, "methods", None)
                                                                  or ())))
        for r in app.routes)
    table = _TABLES.get(shape)
    if table is None:
        table = [(context, _params_of(context.original_route))
                 for context in iter_route_contexts(app.routes)
                 if isinstance(context.original_route, APIRoute)]
        _TABLES[shape] = table
    return table


class _Refused(Exception):
    def __init__(self, error: AppError) -> None:
        self.error = error


class InputBounds:
    """Checks each request's size, URL, parameters and body before routing (see the module
    documentation); ``limits`` come from the settings."""

    def __init__(self, app: ASGIApp, limits: BodyLimits | None = None) -> None:
        self.app = app
        self.limits = limits or BodyLimits()
        self._routes: list[tuple[Any, list[_Param]]] | None = None
        self._found: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_url(scope)
            receive = await self._check_body(scope, receive)
        except _Refused as refused:
            await self._refuse(scope, receive, send, refused.error)
            return
        await self.app(scope, receive, send)

    # URL and declared parameters

    def _route_params(self, scope: Scope) -> tuple[dict[str, Any], list[_Param]] | None:
        """The path parameters and declared parameters of the route this request reaches
        (remembered for the most recent addresses: finding it costs a pass over the
        routes)."""
        key = (scope["method"], scope["path"])
        if key not in self._found:
            if len(self._found) >= 4096:
                self._found.clear()
            self._found[key] = self._match(scope)
        found: tuple[dict[str, Any], list[_Param]] | None = self._found[key]
        return found

    def _match(self, scope: Scope) -> tuple[dict[str, Any], list[_Param]] | None:
        if self._routes is None:
            self._routes = _route_table(scope["app"])
        partial = None
        for context, params in self._routes:
            match, child = context.matches(scope)
            if match == Match.FULL:
                return child.get("path_params", {}), params
            if match == Match.PARTIAL and partial is None:
                partial = (child.get("path_params", {}), params)
        return partial

    def _check_url(self, scope: Scope) -> None:
        path: str = scope["path"]
        problems: list[FieldError] = []
        if len(path) > MAX_PATH_LENGTH:
            problems.append(FieldError("path", msg("At most {count} characters.",
                                                   count=MAX_PATH_LENGTH)))
        raw_query = scope.get("query_string", b"")
        try:
            query = parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True,
                              encoding="utf-8", errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise _Refused(ValidationFailed([FieldError(
                "query", msg("The address is not UTF-8 text."))])) from None
        for name, value in query:
            if not (control_free(name) and control_free(value)):
                problems.append(FieldError(name if control_free(name) else "query",
                                           msg("Control characters are not accepted.")))
        found = self._route_params(scope) if not problems else None
        if found is None:
            if not control_free(path):
                problems.append(FieldError("path", msg("Control characters are not accepted.")))
            if problems:
                raise _Refused(ValidationFailed(problems))
            return
        path_values, params = found
        if not control_free(path) and not any(
                not control_free(str(v)) for v in path_values.values()):
            problems.append(FieldError("path", msg("Control characters are not accepted.")))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        for param in params:
            values: list[str]
            if param.where == "path":
                values = [str(path_values[param.name])] if param.name in path_values else []
            elif param.where == "query":
                values = [v for k, v in query if k == param.name]
            else:
                header = headers.get(param.name.lower().replace("_", "-"))
                values = [header] if header is not None else []
            for value in values:
                reason = _check_value(param, value)
                if reason is not None:
                    problems.append(FieldError(param.name, reason))
                    break
        if problems:
            raise _Refused(ValidationFailed(problems))

    # body

    async def _check_body(self, scope: Scope, receive: Receive) -> Receive:
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE") and not _has_body(scope):
            return receive
        kind, limit = self.limits.for_path(scope["path"])
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared > limit:
                raise _Refused(_too_large(kind, limit))
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return _replay(b"", receive, disconnected=True)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _Refused(_too_large(kind, limit))
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if body and (content_type == "application/json" or content_type.endswith("+json")):
            document, problems = parse_json(body)
            if document is NOT_JSON and scope["path"] in LENIENT_JSON:
                problems = []
            if problems:
                raise _Refused(ValidationFailed(problems))
        elif body and content_type == "application/x-www-form-urlencoded":
            problems = form_problems(body)
            if problems:
                raise _Refused(ValidationFailed(problems))
        return _replay(body, receive)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send,
                      error: AppError) -> None:
        app = scope["app"]
        handler: Callable[..., Any] | None = app.exception_handlers.get(AppError)
        if handler is None:  # pragma: no cover - the application installs one
            from starlette.responses import JSONResponse

            response: Any = JSONResponse(error.as_dict(), status_code=error.status_code)
        else:
            response = await handler(Request(scope, receive), error)
        if isinstance(error, PayloadTooLarge):
            response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    return (length not in (None, "0")) or _header(scope, b"transfer-encoding") is not None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _too_large(kind: str, limit: int) -> AppError:
    return PayloadTooLarge(msg("The request body is larger than {size} bytes.", size=limit),
                           field="body")


def _replay(body: bytes, original: Receive, *, disconnected: bool = False) -> Receive:
    """The body read once, then the connection's own messages (a disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if disconnected:
            return {"type": "http.disconnect"}
        if sent:
            return await original()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
