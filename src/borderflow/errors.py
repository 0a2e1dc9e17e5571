"""Application errors.

Every error the platform reports to a caller is an :class:`AppError`. One HTTP handler maps
them to one JSON shape::

    {"error": {"code": "...", "message": "...", "fields": [{"field": "...", "reason": "..."}]}}

This module is plain Python so that the pure layers (``domain``) can raise these errors too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any


class Text(str):
    """A message for people: its English text (what the API answers) together with the
    template it was made from and the parameters, so that a page can show it in its own
    language (the template is the catalogue's msgid; codes among the parameters become
    labels there). Made with :func:`msg`."""

    __slots__ = ("params", "template")
    template: str
    params: Mapping[str, Any]

    def __new__(cls, english: str, template: str, params: Mapping[str, Any]) -> Text:
        self = super().__new__(cls, english)
        self.template = template
        self.params = dict(params)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (Text, (str(self), self.template, self.params))


def english(value: Any) -> str:
    """A parameter as the English text shows it: lists joined with commas, dates in ISO
    form, numbers with thousands separators."""
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return ", ".join(english(v) for v in items)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value == int(value) else f"{value:,}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def msg(template: str, **params: Any) -> Text:
    """A message from a catalogue template with named parameters::

        msg("gate {gate} does not take {flow} traffic", gate="chi-ma", flow="import")

    The template (English) is the msgid translated in the catalogues; parameter names say
    what a value is (``gate``, ``gates``, ``flow``, ``step``, ``status``, ``date``...), so a
    page shows a gate's name where the API shows its code."""
    return Text(template.format(**{k: english(v) for k, v in params.items()}), template,
                params)


def reason_of(exc: BaseException) -> str:
    """An exception's message as raised, keeping a translatable :class:`Text` (``str(exc)``
    would drop its template and parameters)."""
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, str) else str(exc)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad field: a dotted path (``goods[0].hs_code``) and why it is wrong (a
    :class:`Text` where the page should show it in its own language)."""

    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


class AppError(Exception):
    """Base error with an HTTP status and a machine-readable code."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        field: str | None = None,
        *,
        fields: Iterable[FieldError] = (),
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if code is not None:
            self.code = code
        collected = list(fields)
        if field is not None:
            collected.insert(0, FieldError(field, message))
        self.fields: list[FieldError] = collected

    def as_dict(self) -> dict[str, object]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "fields": [f.as_dict() for f in self.fields],
            }
        }


class ValidationFailed(AppError):
    status_code = 422
    code = "validation_failed"

    def __init__(self, fields: Iterable[FieldError], message: str | None = None) -> None:
        collected = list(fields)
        if message is None:
            if len(collected) == 1:
                message = f"{collected[0].field}: {collected[0].reason}"
            else:
                message = f"{len(collected)} fields are invalid"
        super().__init__(message, fields=collected)


class Unavailable(AppError):
    """A service the request needs cannot be reached now; the client should send again
    (``Retry-After`` says when)."""

    status_code = 503
    code = "unavailable"
    retry_after_seconds = 5


class TooManyRequests(AppError):
    """Too many requests (or failed logins) from this caller in a while; send again after
    ``Retry-After`` seconds."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = max(1, int(retry_after_seconds))


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


def N_(message: str) -> str:
    """Marks a text for translation where it is defined; it is translated where shown."""
    return message
