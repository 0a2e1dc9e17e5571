"""API shapes of notifications and their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Channel = Literal["in_app", "sms", "webhook"]
DeliveryStatus = Literal["pending", "sent", "failed"]


class Messages(BaseModel):
    vi: str
    en: str
    zh: str


class DeliveryState(BaseModel):
    channel: Channel
    status: DeliveryStatus
    attempts: int
    sent_at: datetime | None


class NotificationOut(BaseModel):
    id: int
    trip: str = Field(description="Trip reference")
    trip_id: str
    event: str = Field(description="The trip event that caused it, e.g. trip.called")
    kind: str = Field(description="call_forward, order_withdrawn, no_show, rerouted, "
                                  "booking_released, cancelled, held, rejected or prioritised")
    recipient_kind: Literal["driver", "enterprise"]
    recipient_key: str = Field(description="Driver's document number or enterprise tax code")
    language: str = Field(description="The recipient's language, used for SMS")
    messages: Messages
    payload: dict[str, Any] = Field(description="The facts in the text: gate, yard, arrive_by "
                                                "(UTC), reason, step, …")
    created_at: datetime
    read_at: datetime | None
    deliveries: list[DeliveryState]


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    total: int
    page: int
    page_size: int


class DeliveryOut(BaseModel):
    id: int
    notification_id: int
    channel: Channel
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    sent_at: datetime | None
    created_at: datetime
    trip: str
    event: str
    kind: str
    recipient_kind: str
    recipient_key: str
    phone: str | None = Field(description="Masked: only the last three digits")


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    total: int
    page: int
    page_size: int
