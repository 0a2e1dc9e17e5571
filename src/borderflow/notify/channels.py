"""Where notifications go: one :class:`Notifier` per channel.

- :class:`InAppChannel`: nothing to send, the stored notification is the message the app shows.
- :class:`WebhookChannel`: POSTs the notification as JSON to the enterprise systems' URL, signed
  with HMAC-SHA256 (``X-Borderflow-Signature: sha256=<hex>``) and carrying an
  ``Idempotency-Key`` that is the same on every retry.
- :class:`SmsChannel`: hands the text, in the recipient's language, to an :class:`SmsGateway`.
  :class:`LoggingSmsGateway` (the default) writes it to the log. A real provider is a class with
  ``send(phone, text, *, reference)`` registered under the ``borderflow.sms_gateways`` entry
  point group as a callable taking the settings and returning the gateway.

A notifier raises :class:`DeliveryFailed` (or any exception) when the message did not get
through; the sender retries it later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any, Protocol

import httpx
import structlog

from borderflow import __version__
from borderflow.config import Settings, secret
from borderflow.domain.notify import Texts
from borderflow.store.models import Notification

log = structlog.get_logger("borderflow.notify")

SIGNATURE_HEADER = "X-Borderflow-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Borderflow-Event"
SMS_GATEWAY_GROUP = "borderflow.sms_gateways"


class DeliveryFailed(Exception):
    """The channel did not take the message; the reason is kept on the delivery."""


@dataclass(frozen=True)
class Message:
    """A notification as sent: a plain snapshot, so sending needs no database session."""

    id: int
    idempotency_key: str
    trip_id: str
    trip_reference: str
    event_type: str
    kind: str
    recipient_kind: str
    recipient_key: str
    phone: str | None
    language: str
    text: Texts
    created_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, row: Notification) -> Message:
        return cls(
            id=row.id, idempotency_key=f"{row.trip_id}:{row.event_seq}:{row.recipient_kind}",
            trip_id=row.trip_id, trip_reference=row.trip_reference, event_type=row.event_type,
            kind=row.kind, recipient_kind=row.recipient_kind, recipient_key=row.recipient_key,
            phone=row.phone, language=row.language,
            text=Texts(row.message_vi, row.message_en, row.message_zh),
            created_at=row.created_at, payload=dict(row.payload),
        )

    def document(self) -> dict[str, Any]:
        """The JSON body a webhook receives."""
        return {
            "id": self.id,
            "idempotency_key": self.idempotency_key,
            "event": self.event_type,
            "kind": self.kind,
            "trip": {"id": self.trip_id, "reference": self.trip_reference},
            "recipient": {"kind": self.recipient_kind, "key": self.recipient_key},
            "messages": {"vi": self.text.vi, "en": self.text.en, "zh": self.text.zh},
            "payload": self.payload,
            "created_at": self.created_at.isoformat(),
        }


class Notifier(Protocol):
    """One delivery channel."""

    name: str

    def send(self, message: Message) -> None:
        """Deliver ``message`` or raise (:class:`DeliveryFailed` with a readable reason)."""


class InAppChannel:
    """The stored notification is what the app lists: nothing to send."""

    name = "in_app"

    def send(self, message: Message) -> None:
        return None


def sign(body: bytes, secret: str) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """POST the notification as JSON; any answer but 2xx, a timeout or a network error fails."""

    name = "webhook"

    def __init__(self, url: str, secret: str, timeout: float = 10.0) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout

    def body(self, message: Message) -> bytes:
        return json.dumps(message.document(), ensure_ascii=False, sort_keys=True,
                          separators=(",", ":")).encode("utf-8")

    def send(self, message: Message) -> None:
        body = self.body(message)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"borderflow/{__version__}",
            SIGNATURE_HEADER: sign(body, self.secret),
            IDEMPOTENCY_HEADER: message.idempotency_key,
            EVENT_HEADER: message.event_type,
        }
        try:
            response = httpx.post(self.url, content=body, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"HTTP {response.status_code}: {response.text[:200]}")


class SmsGateway(Protocol):
    """An SMS provider. ``reference`` is the same on every retry of one message."""

    def send(self, phone: str, text: str, *, reference: str) -> None: ...


def mask_phone(phone: str) -> str:
    """Every character but the last three hidden: ``+84912345678`` -> ``*********678``."""
    return "*" * max(0, len(phone) - 3) + phone[-3:]


class LoggingSmsGateway:
    """Writes each SMS to the log (phone masked) instead of sending it."""

    def send(self, phone: str, text: str, *, reference: str) -> None:
        log.info("sms", to=mask_phone(phone), text=text, reference=reference)


class SmsChannel:
    """The text in the recipient's language, through the gateway."""

    name = "sms"

    def __init__(self, gateway: SmsGateway) -> None:
        self.gateway = gateway

    def send(self, message: Message) -> None:
        if not message.phone:
            raise DeliveryFailed("no phone number for this recipient")
        self.gateway.send(message.phone, message.text.get(message.language),
                          reference=message.idempotency_key)


SMS_GATEWAYS: dict[str, Callable[[Settings], SmsGateway]] = {
    "log": lambda _settings: LoggingSmsGateway(),
}


def sms_gateway(settings: Settings) -> SmsGateway:
    """The gateway named by ``BORDERFLOW_SMS_GATEWAY``: built in, or from an entry point."""
    name = settings.sms_gateway
    if name in SMS_GATEWAYS:
        return SMS_GATEWAYS[name](settings)
    for point in entry_points(group=SMS_GATEWAY_GROUP):
        if point.name == name:
            factory: Callable[[Settings], SmsGateway] = point.load()
            return factory(settings)
    raise ValueError(f"unknown SMS gateway '{name}'; use one of {', '.join(SMS_GATEWAYS)} or "
                     f"register it under the '{SMS_GATEWAY_GROUP}' entry point group")


def build_channels(settings: Settings) -> dict[str, Notifier]:
    """The notifiers for ``BORDERFLOW_NOTIFY_CHANNELS``."""
    out: dict[str, Notifier] = {}
    for name in settings.notify_channel_list:
        if name == "in_app":
            out[name] = InAppChannel()
        elif name == "sms":
            out[name] = SmsChannel(sms_gateway(settings))
        elif name == "webhook":
            hook_secret = secret(settings.webhook_secret)
            if not (settings.webhook_url and hook_secret):
                raise ValueError("the webhook channel needs a URL and a secret")
            out[name] = WebhookChannel(settings.webhook_url, hook_secret,
                                       settings.webhook_timeout_seconds)
    return out
