"""Credentials never reach the logs: the passwords of URLs (NATS, MQTT, Redis, the database)
are hidden in every log field, message and exception text."""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@")


def redact(text: str) -> str:
    """A text with the passwords of URLs in it hidden: ``nats://user:secret@host`` ->
    ``nats://user:***@host``."""
    return _CREDENTIALS.sub(r"\g<scheme>\g<user>:***@", text)


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_redacted(v) for v in value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    return value


def redact_credentials(_logger: Any, _name: str, event: MutableMapping[str, Any]
                       ) -> MutableMapping[str, Any]:
    """structlog processor: :func:`redact` every string in the event (run it after the
    exception is formatted, before rendering)."""
    for key, value in event.items():
        event[key] = _redacted(value)
    return event
