"""The admin's page of cameras and GPS devices: each with its state (last heard, stale),
registering a plate-reading camera (its key shown once), binding a device to a driver or a
vehicle (its token and the phone's set-up codes shown once) and unbinding it. Role: admin."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.domain.access import Principal
from borderflow.errors import N_, AppError, FieldError, ValidationFailed, msg
from borderflow.network import service as networks
from borderflow.store import paging
from borderflow.store.paging import MAX_CURSOR
from borderflow.telemetry import cameras
from borderflow.telemetry import service as telemetry
from borderflow.telemetry import views as devices
from borderflow.web import phone_setup
from borderflow.web.admin import admin_only, page, problems, refused_form
from borderflow.web.pages import formatter

router = APIRouter(include_in_schema=False)

CHECKPOINTS = {
    "gate_in": N_("Entering the gate area"),
    "gate_out": N_("Leaving the gate area inland"),
}
DONE = {
    "revoked": N_("Device token revoked: its positions move no trip until it is bound again."),
    "bound": N_("Device bound."),
    "unbound": N_("Device unbound: its positions go to no trip now."),
}
CAMERA_FIELDS = ("code", "name", "gate", "checkpoint", "direction")
BIND_FIELDS = ("device_id", "driver_document", "plate", "label")


def _devices(
    db: Db, now: datetime, silent: int, q: str, cursor: str, before: str
) -> paging.Page[devices.DeviceRow]:
    """A page of the devices; a cursor the list did not give shows the first page."""
    try:
        return devices.device_page(
            db,
            now=now,
            silent_minutes=silent,
            query=q,
            cursor=cursor or None,
            before=before or None,
        )
    except ValidationFailed:
        return devices.device_page(db, now=now, silent_minutes=silent, query=q)


def _view(
    request: Request,
    ctx: Ctx,
    db: Db,
    who: Principal,
    *,
    status: int = 200,
    q: str = "",
    notice: str | None = None,
    error: str | None = None,
    which: str = "",
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    key: dict[str, Any] | None = None,
    token: dict[str, str] | None = None,
    cursor: str = "",
    before: str = "",
) -> Response:
    now = ctx.clock.now()
    network = networks.in_force_or_none(db, now)
    silent = ctx.settings.device_silent_minutes
    blank = dict.fromkeys((*CAMERA_FIELDS, *BIND_FIELDS), "")
    setup = (
        phone_setup.shown(request, ctx.settings, token["device"], token["token"]) if token else None
    )
    response = page(
        request,
        "admin_devices.html",
        who,
        status=status,
        q=q,
        cameras=cameras.cameras(db),
        checkpoints=CHECKPOINTS,
        gates=[g.code for g in network.gates] if network else [],
        devices=_devices(db, now, silent, q, cursor, before),
        summary=devices.device_summary(db, now=now, silent_minutes=silent),
        notice=notice,
        error=error,
        which=which,
        form={**blank, **(form or {})},
        errors=errors or {},
        key=key,
        token=token,
        setup=setup,
    )
    if key or token:  # a secret shown this once: nothing keeps a copy of the answer
        response.headers.update(phone_setup.NOT_STORED)
    return response


@router.get("/admin/devices", response_class=HTMLResponse)
def devices_page(
    request: Request,
    ctx: Ctx,
    db: Db,
    q: str = "",
    done: str = "",
    cursor: Annotated[str, Query(max_length=MAX_CURSOR)] = "",
    before: Annotated[str, Query(max_length=MAX_CURSOR)] = "",
) -> Response:
    """Cameras (where each looks, its key live or not, its last read) and GPS devices (bound
    to whom, last heard, stale; a page at a time, latest heard first), with the forms to
    register, bind and unbind. Role: admin."""
    who = admin_only(request, ctx, db)
    if isinstance(who, Response):
        return who
    notice = formatter(request).gettext(DONE[done]) if done in DONE else None
    return _view(request, ctx, db, who, q=q, notice=notice, cursor=cursor, before=before)


@router.post("/admin/cameras")
def register_camera(
    request: Request,
    ctx: Ctx,
    db: Db,
    csrf: Annotated[str, Form()] = "",
    code: Annotated[str, Form(max_length=100)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    gate: Annotated[str, Form(max_length=40)] = "",
    checkpoint: Annotated[str, Form(max_length=20)] = "",
    direction: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Register a plate-reading camera: its machine client and API key, the key shown on
    the page that answers, once (audited). Role: admin."""
    who = admin_only(request, ctx, db)
    if isinstance(who, Response):
        return who
    form = {
        "code": code,
        "name": name,
        "gate": gate,
        "checkpoint": checkpoint,
        "direction": direction,
    }
    stale = refused_form(request, csrf)
    if stale:
        return _view(request, ctx, db, who, status=422, error=stale, which="camera", form=form)
    now = ctx.clock.now()
    try:
        missing = [
            FieldError(f, msg("this field is required"))
            for f, v in (("code", code), ("name", name), ("gate", gate))
            if not v.strip()
        ]
        if code.strip() and not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,39}", code.strip()):
            missing.append(
                FieldError("code", msg("lower-case letters, digits and dashes, 2 to 40 characters"))
            )
        if missing:
            raise ValidationFailed(missing)
        camera, key = cameras.register(
            db,
            cameras.CameraSpec(
                code=code.strip(),
                name=name.strip(),
                gate=gate,
                checkpoint=checkpoint,
                direction="export"
                if direction == "export"
                else "import"
                if direction == "import"
                else None,
            ),
            actor=who,
            network=networks.in_force(db, now),
            now=now,
        )
    except AppError as exc:
        error, errors = problems(request, exc)
        return _view(
            request,
            ctx,
            db,
            who,
            status=exc.status_code,
            error=error,
            which="camera",
            form=form,
            errors=errors,
        )
    return _view(
        request,
        ctx,
        db,
        who,
        status=201,
        key={"camera": camera.code, "key": key, "name": camera.name},
    )


@router.post("/admin/devices/bind")
def bind_device(
    request: Request,
    ctx: Ctx,
    db: Db,
    csrf: Annotated[str, Form()] = "",
    device_id: Annotated[str, Form(max_length=200)] = "",
    driver_document: Annotated[str, Form(max_length=40)] = "",
    plate: Annotated[str, Form(max_length=20)] = "",
    label: Annotated[str, Form(max_length=120)] = "",
) -> Response:
    """Bind a GPS device to a driver (document number) or a vehicle (plate) (audited); the
    answer shows its token and the set-up codes that configure the phone's app in one scan
    (Traccar Client, OwnTracks, OwnTracks in MQTT mode when offered), this once. Role:
    admin."""
    who = admin_only(request, ctx, db)
    if isinstance(who, Response):
        return who
    form = {
        "device_id": device_id,
        "driver_document": driver_document,
        "plate": plate,
        "label": label,
    }
    stale = refused_form(request, csrf)
    if stale:
        return _view(request, ctx, db, who, status=422, error=stale, which="bind", form=form)
    try:
        device, token = telemetry.bind(
            db,
            device_id,
            actor=who,
            now=ctx.clock.now(),
            driver_document=driver_document.strip().upper() or None,
            plate=plate.strip() or None,
            label=label,
        )
    except AppError as exc:
        error, errors = problems(request, exc)
        return _view(
            request,
            ctx,
            db,
            who,
            status=exc.status_code,
            error=error,
            which="bind",
            form=form,
            errors=errors,
        )
    # the token is shown on this answer only (its hash is kept): no redirect to lose it on
    return _view(request, ctx, db, who, status=201, token={"device": device.id, "token": token})


def _device_action(
    request: Request,
    ctx: Ctx,
    db: Db,
    csrf: str,
    device_id: str,
    act: Callable[..., object],
    done: str,
) -> Response:
    """One audited change to a device from the page: the form checked, the change made, back
    to the list with its notice, or the list again with the error."""
    who = admin_only(request, ctx, db)
    if isinstance(who, Response):
        return who
    stale = refused_form(request, csrf)
    if stale:
        return _view(request, ctx, db, who, status=422, error=stale)
    try:
        act(db, device_id, actor=who, now=ctx.clock.now())
    except AppError as exc:
        error, _ = problems(request, exc)
        return _view(request, ctx, db, who, status=exc.status_code, error=error)
    return RedirectResponse(f"/admin/devices?done={done}", status_code=303)


@router.post("/admin/devices/revoke")
def revoke_device(
    request: Request,
    ctx: Ctx,
    db: Db,
    csrf: Annotated[str, Form()] = "",
    device_id: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Revoke a device's token: its positions move no trip until it is bound again (audited).
    Role: admin."""
    return _device_action(request, ctx, db, csrf, device_id, telemetry.revoke, "revoked")


@router.post("/admin/devices/unbind")
def unbind_device(
    request: Request,
    ctx: Ctx,
    db: Db,
    csrf: Annotated[str, Form()] = "",
    device_id: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Take a device off its driver or vehicle (audited). Role: admin."""
    return _device_action(request, ctx, db, csrf, device_id, telemetry.unbind, "unbound")
