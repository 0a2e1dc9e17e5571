"""HTTP API of notifications: the caller's own, marking one read, deliveries for admins."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query

from borderflow.api.deps import Ctx, Db, require, roles_doc
from borderflow.api.errors import ERROR_RESPONSES, ErrorResponse
from borderflow.domain import privacy
from borderflow.domain.access import Principal
from borderflow.notify import service
from borderflow.notify.schemas import (
    Channel,
    DeliveryOut,
    DeliveryPage,
    DeliveryStatus,
    NotificationOut,
    NotificationPage,
)

if TYPE_CHECKING:
    from borderflow.store.models import Notification, NotificationDelivery

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"],
                   responses=ERROR_RESPONSES)

Reader = Annotated[Principal, Depends(require("notifications.read"))]
Admin = Annotated[Principal, Depends(require("notifications.admin"))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such notification that you may see"}}


def _out(row: Notification, deliveries: list[NotificationDelivery], actor: Principal
         ) -> dict[str, Any]:
    key = row.recipient_key
    if row.recipient_kind == "driver" and not privacy.needs_personal_data(actor):
        key = privacy.mask_document(key)  # a driver's document number, masked for the regulator
    return NotificationOut.model_validate({
        "id": row.id, "trip": row.trip_reference, "trip_id": row.trip_id,
        "event": row.event_type, "kind": row.kind, "recipient_kind": row.recipient_kind,
        "recipient_key": key, "language": row.language,
        "messages": {"vi": row.message_vi, "en": row.message_en, "zh": row.message_zh},
        "payload": row.payload, "created_at": row.created_at, "read_at": row.read_at,
        "deliveries": [{"channel": d.channel, "status": d.status, "attempts": d.attempts,
                        "sent_at": d.sent_at} for d in deliveries],
    }).model_dump(mode="json")


@router.get("", response_model=NotificationPage, summary="My notifications",
            description="Orders and changes to trips, newest first, in Vietnamese, English and "
            "Chinese: a driver sees those sent to their document number, an enterprise those "
            "sent to its tax code, regulators and admins all. `trip` is a trip id or reference; "
            "`unread=true` leaves out those already read." + roles_doc("notifications.read"))
def list_notifications(
    db: Db, actor: Reader,
    trip: str | None = None,
    unread: bool | None = None,
    kind: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    rows, total = service.list_page(db, actor=actor, trip=trip, unread=unread, kind=kind,
                                    page=page, page_size=page_size)
    deliveries = service.deliveries_of(db, [r.id for r in rows])
    return {"items": [_out(r, deliveries[r.id], actor) for r in rows], "total": total, "page": page,
            "page_size": page_size}


@router.get("/deliveries", response_model=DeliveryPage, summary="Deliveries and their state",
            description="Each notification's sending per channel: attempts, last error, next "
            "attempt. `status=failed` lists those that gave up after the last retry."
            + roles_doc("notifications.admin"))
def list_deliveries(
    db: Db, _admin: Admin,
    status: DeliveryStatus | None = None,
    channel: Channel | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    items, total = service.deliveries_page(db, status=status, channel=channel, page=page,
                                           page_size=page_size)
    return {"items": items, "total": total, "page": page, "page_size": page_size}


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryOut,
             responses={404: {"model": ErrorResponse, "description": "No such delivery"},
                        409: {"model": ErrorResponse, "description": "Already sent"}},
             summary="Send a delivery again",
             description="Puts a failed (or waiting) delivery back to be sent now, with a fresh "
             "count of attempts. Audited." + roles_doc("notifications.admin"))
def retry_delivery(delivery_id: int, ctx: Ctx, db: Db, actor: Admin) -> dict[str, Any]:
    return service.retry(db, delivery_id, actor=actor, now=ctx.clock.now())


@router.post("/{notification_id}/read", response_model=NotificationOut, responses=NOT_FOUND,
             summary="Mark a notification read",
             description="Only by its recipient; marking it again changes nothing."
             + roles_doc("notifications.read"))
def mark_read(notification_id: int, ctx: Ctx, db: Db, actor: Reader) -> dict[str, Any]:
    row = service.mark_read(db, notification_id, actor=actor, now=ctx.clock.now())
    return _out(row, service.deliveries_of(db, [row.id])[row.id], actor)
