"""HTTP API of telemetry: position ingestion in the protocols phones speak, device binding,
tracks, latest positions, alerts for silent devices."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from borderflow.api.admission import DATABASE_ERRORS, busy, is_busy_error
from borderflow.api.deps import Authenticated, Ctx, Db, require, roles_doc
from borderflow.api.errors import ERROR_RESPONSES, ErrorResponse, headers_for
from borderflow.api.paging import (
    DEFAULT_LIMIT,
    PAGED_DOC,
    PAGED_RESPONSES,
    Cursor,
    Limit,
    link_next,
)
from borderflow.domain import privacy
from borderflow.domain.access import Principal, roles_for
from borderflow.domain.telemetry_geofence import Fences
from borderflow.errors import AppError, FieldError, Forbidden, Unauthorized, ValidationFailed, msg
from borderflow.network import service as networks
from borderflow.telemetry import dead_letters, decoders, directory, mqtt_accounts, service
from borderflow.telemetry.bus import Bus, InlineBus
from borderflow.trip import service as trips

router = APIRouter(prefix="/api/v1", tags=["telemetry"], responses=ERROR_RESPONSES)

MAX_BATCH = 1000
#: what the short OsmAnd route answers itself (it is outside the framework's error handlers)
_ANSWERED: tuple[type[Exception], ...] = (AppError, *DATABASE_ERRORS)
Reader = Annotated[Principal, Depends(require("telemetry.read"))]
TripReader = Annotated[Principal, Depends(require("trip.read"))]
Binder = Annotated[Principal, Depends(require("device.bind"))]
Revoker = Annotated[Principal, Depends(require("device.revoke"))]
AlertReader = Annotated[Principal, Depends(require("alerts.read"))]


async def bus_of(request: Request) -> Bus:
    bus: Bus = request.app.state.telemetry
    return bus


TelemetryBus = Annotated[Bus, Depends(bus_of)]


def directory_of(state: Any) -> directory.DeviceDirectory:
    """The process's snapshot of the devices that hold a token (made at first use)."""
    found: directory.DeviceDirectory | None = getattr(state, "device_directory", None)
    if found is None:
        found = state.device_directory = directory.DeviceDirectory(state.ctx.sessions)
    return found


async def known(request: Request) -> directory.DeviceDirectory:
    return directory_of(request.app.state)


Devices = Annotated[directory.DeviceDirectory, Depends(known)]


def _principal_without_write(action: str) -> Callable[..., Awaitable[Principal]]:
    """The caller, if allowed ``action``. Ingestion writes through the bus in its own
    transaction: the request holds no transaction of its own, and the caller is looked up
    in a short read transaction (:func:`~borderflow.api.deps.authenticate`)."""
    allowed = roles_for(action)

    async def check(found: Authenticated) -> Principal:
        if isinstance(found, AppError):
            raise found
        if found.roles & allowed:
            return found
        if found.kind == "anonymous":
            raise Unauthorized(msg("log in to do this (Authorization: Bearer <token> or "
                                     "X-API-Key)"))
        raise Forbidden(msg("your role may not do '{action}'", action=action))

    return check


class IngestOut(BaseModel):
    accepted: int = Field(description="Positions taken for processing.")
    rejected: list[dict[str, Any]] = Field(
        description="Positions that cannot be used, with the reason (index for a batch).")
    processed: dict[str, Any] | None = Field(
        default=None, description="What processing did, when it ran within the request: "
        "stored, duplicates, late, unknown_devices, trip events.")


class MovesNothingOut(BaseModel):
    index: int = Field(description="The position's place in `positions`, from 0.")
    field: str = Field(description="The field at fault: `positions[<index>].device_id`.")
    device_id: str | None = Field(description="The id as sent; null for a revoked token "
                                  "(never echoed).")
    reason: str = Field(description="Why the position moves no trip: the device is not known "
                        "(nobody bound this id, or it is an old token), is bound and sends "
                        "its plain id instead of its token, or its token was revoked.")


class BatchOut(IngestOut):
    moves_no_trip: list[MovesNothingOut] = Field(
        description="Positions taken (counted in `accepted`) and kept for diagnosis that "
        "move no trip, because their `device_id` is not a live device token: an id nobody "
        "bound, or an old token (stored, the id listed in `GET /api/v1/devices?unknown=true`), "
        "a bound device's plain id or a revoked token (stored as rejected positions, with the "
        "same reason). Each with its index, the field and the reason; a revoked token is not "
        "echoed (`device_id` null, here and in `rejected`). Positions under a live token are "
        "never listed.")


UNKNOWN_DEVICE = "device not known: bind it, then send the token binding gave it as its id"
MOVES_NO_TRIP: dict[directory.Verdict, str] = {
    "unknown": UNKNOWN_DEVICE, "plain": service.PLAIN_ID, "revoked": service.REVOKED}
"""Why a batch's position under an id that is not a live token moves no trip (the plain id's
and the revoked token's are the reasons the positions are kept under)."""


OSMAND_DOC = (
    "Point Traccar Client's server URL here. Accepts the OsmAnd parameters in the query string "
    "or a form body (`id`/`deviceid`, `lat`/`lon` or `location=lat,lon`, `timestamp` as Unix "
    "seconds or milliseconds, ISO 8601 or `yyyy-MM-dd HH:mm:ss`, `speed` in knots, "
    "`bearing`/`heading`, `altitude`, `accuracy`, `batt`; other fields are kept) and the JSON "
    "body of Traccar Client 9+ (`location.coords.speed` in m/s). A position that cannot be "
    "used is answered 200 with the reason and counted, so the phone's queue never blocks on "
    "it; a message with no device id at all is answered 400 (`device_missing`), as Traccar's "
    "own server does, so the phone shows that it is not set up. The id the phone sends is "
    "the token binding gave it (`POST /api/v1/devices/{id}/bind`): only positions under a "
    "live token move a trip. A message under any other id is kept for diagnosis and "
    "answered 400 (`device_unknown`, naming the field), as Traccar's own server answers a "
    "device it does not know: positions under ids nobody bound (or an old token) are stored "
    "and move nothing; those under a bound device's plain id or a revoked token are "
    "rejected with the reason. Whether an id is known is read from a snapshot of the "
    "devices each server process keeps (a few seconds old at most), not from the database "
    "at each request. "
    "Answered 503 with `Retry-After` when the telemetry "
    "bus cannot take positions: the app sends them again." + roles_doc("telemetry.ingest"))
OSMAND_SUMMARY = "A position from Traccar Client (OsmAnd protocol)"


NAMELESS: dict[int | str, dict[str, Any]] = {400: {
    "model": ErrorResponse, "description": "The message names no device (`device_missing`, "
    "field `id`, or `device_id` in a JSON body): the app is not set up; its device id "
    "holds a NUL character (`device_invalid`); or its device id is not a live device token "
    "(`device_unknown`: not bound, an old or revoked token, or a bound device's plain id; "
    "the positions are kept for diagnosis and move no trip)"}}


@router.get("/telemetry/osmand", response_model=IngestOut, operation_id="osmand_get",
            summary=OSMAND_SUMMARY, description=OSMAND_DOC, responses=NAMELESS)
@router.post("/telemetry/osmand", response_model=IngestOut, operation_id="osmand_post",
             summary=OSMAND_SUMMARY, description=OSMAND_DOC, responses=NAMELESS)
async def osmand(request: Request, ctx: Ctx, bus: TelemetryBus, devices: Devices
                 ) -> dict[str, Any]:
    now = ctx.clock.now()
    params: dict[str, str] = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    items: list[decoders.Fix | decoders.Rejection]
    if request.method == "POST" and "json" in content_type:
        raw = await request.body()
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        items = decoders.traccar_json(body, now) if body is not None else [
            decoders.Rejection("traccar", "body is not JSON", None, decoders.storable(
                raw[:300].decode("utf-8", "replace")))]
        field = "device_id"
    else:
        if request.method == "POST":
            form = await request.form()
            params.update({k: str(v) for k, v in form.items()})
        items = decoders.osmand(params, now)
        field = "id"
    _refuse_nameless(items, field)
    answer = await _publish(bus, items, ctx)
    await _refuse_unknown(devices, items, field)
    return answer


def _refuse_nameless(items: list[decoders.Fix | decoders.Rejection], field: str) -> None:
    """A message that names no device is answered 400, as Traccar's own server does: the
    phone shows the error and its user learns that the app is not set up (a 200 would have
    the phone go on sending to nobody)."""
    refused = decoders.device_refused(items)
    if refused is not None:  # missing, or holding what the store refuses (NUL)
        raise AppError(refused[0].reason, 400, field, code=refused[1])


async def _refuse_unknown(devices: directory.DeviceDirectory,
                          items: list[decoders.Fix | decoders.Rejection], field: str) -> None:
    """A message sent under an id that is not a live device token is answered 400, as
    Traccar's own server answers a device it does not know, once its positions are stored
    (for diagnosis: they move no trip). Decided from the process's snapshot of the devices,
    not a query per position."""
    refused = await directory.check(devices, items, field)
    if refused is not None:
        raise refused


BROKER_ONLY = "a device id '<token hash>/<device>' is a device's MQTT account: taken only " \
    "from the broker, which checks its password"


def broker_only(items: list[decoders.Fix | decoders.Rejection]
                ) -> list[decoders.Fix | decoders.Rejection]:
    """Ids whose user is a token's hash are the devices' MQTT accounts, which the broker
    authenticates; over HTTP they are rejected (kept for diagnosis), never the device's."""
    if not any(isinstance(i, decoders.Fix) and "/" in i.device_id and
               service.TOKEN_HASH.fullmatch(i.device_id.split("/", 1)[0]) for i in items):
        return items
    return [decoders.Rejection(i.protocol, BROKER_ONLY, i.device_id, "")
            if isinstance(i, decoders.Fix) and "/" in i.device_id
            and service.TOKEN_HASH.fullmatch(i.device_id.split("/", 1)[0]) else i
            for i in items]


async def _publish(bus: Bus, items: list[decoders.Fix | decoders.Rejection], ctx: Any,
                   index: bool = False) -> dict[str, Any]:
    items = broker_only(items)
    report = await bus.apublish(items, ctx.clock.now()) if items else None
    return _answer(items, report, index)


def _answer(items: list[decoders.Fix | decoders.Rejection],
            report: service.IngestReport | None, index: bool = False) -> dict[str, Any]:
    rejected = [{"index": i, "device_id": r.device_id, "reason": r.reason} if index else
                {"device_id": r.device_id, "reason": r.reason}
                for i, r in enumerate(items) if isinstance(r, decoders.Rejection)]
    processed = None if report is None else {
        "stored": report.stored, "duplicates": report.duplicates, "late": report.late,
        "unknown_devices": report.unknown_devices, "events": report.events}
    return {"accepted": sum(isinstance(i, decoders.Fix) for i in items), "rejected": rejected,
            "processed": processed}


@dataclass(frozen=True)
class _Route:
    path: str


class OsmandRoute:
    """``GET /api/v1/telemetry/osmand`` with its position in the query string (how Traccar
    Client sends), answered without the framework's routing and dependency injection: one
    such request per position per phone is the platform's most frequent call. Everything else
    (POST, form and JSON bodies, and the inline bus, whose answer says what was processed)
    goes on to the documented route, which gives the same answer."""

    PATH = "/api/v1/telemetry/osmand"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        bus: Bus = state.telemetry
        if isinstance(bus, InlineBus):
            await self.app(scope, receive, send)
            return
        now = state.ctx.clock.now()
        params = dict(parse_qsl(scope["query_string"].decode("latin-1"),
                                keep_blank_values=True))
        items = decoders.osmand(params, now)
        status, headers = 200, [(b"content-type", b"application/json")]
        try:
            _refuse_nameless(items, "id")
            items = broker_only(items)
            answer = _answer(items, await bus.apublish(items, now))
            await _refuse_unknown(directory_of(state), items, "id")
        except _ANSWERED as caught:
            # this route is outside the framework's error handlers: a busy database (the
            # device directory read while every writer holds it) is answered 503 with
            # Retry-After as elsewhere, a fault is raised on
            if not isinstance(caught, AppError) and not is_busy_error(caught):
                raise
            exc = caught if isinstance(caught, AppError) else busy()
            status, answer = exc.status_code, exc.as_dict()
            headers += [(k.lower().encode(), v.encode())
                        for k, v in (headers_for(exc) or {}).items()]
        body = json.dumps(answer, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode()
        scope["route"] = _Route(self.PATH)  # for the request log and metrics
        await send({"type": "http.response.start", "status": status, "headers": [
            *headers, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


OWNTRACKS_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The message came under an id that is not a "
          "live device token and without the device's credentials (`device_unknown`): it is "
          "kept for diagnosis and moves no trip."},
    401: {"model": ErrorResponse, "description": "HTTP Basic credentials that are not a bound "
          "device's (`credentials_invalid`; the message is kept for diagnosis under the id "
          "it names and moves no trip)."}}


@router.post("/telemetry/owntracks", summary="A message from OwnTracks (HTTP mode)",
             responses=OWNTRACKS_REFUSED,
             description="Point OwnTracks (Mode: HTTP) here. Location messages (`_type: "
             "location`: `lat`, `lon`, `tst`, `vel` in km/h, `acc`, `batt`, `tid`) become "
             "positions; other message types are acknowledged and left aside. A bound device "
             "signs in with HTTP Basic credentials (OwnTracks' Identification: user = the "
             "device's id, or its part before a slash, `29C12345` for `29C12345/phone`; "
             "password = the token binding gave it; the set-up code on the driver's page fills "
             "them in): its messages are then the device's whatever id they name. Without "
             "credentials the device is `<user>/<device>` from the `X-Limit-U` / `X-Limit-D` "
             "headers OwnTracks sends, or the `u` and `d` parameters of the address as "
             "OwnTracks Recorder takes them "
             "(`/api/v1/telemetry/owntracks?u=29C12345&d=phone`), or the message's `topic`, "
             "or `tid`; only a user that is a live token (`<token>/<device>`) makes the "
             "positions the device's. Answers `[]` as OwnTracks expects; rejected messages are "
             "counted. Wrong credentials are answered 401, an id that is not a live token 400 "
             "(`device_unknown`), as Traccar answers OwnTracks; either way the message is kept "
             "for diagnosis and moves no trip." + roles_doc("telemetry.ingest"))
async def owntracks(request: Request, ctx: Ctx, bus: TelemetryBus, devices: Devices
                    ) -> Any:
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        body = None
    now = ctx.clock.now()
    # OwnTracks sends X-Limit-U/D; OwnTracks Recorder's URLs carry ?u=&d= instead
    user = request.headers.get("x-limit-u") or request.query_params.get("u")
    device = request.headers.get("x-limit-d") or request.query_params.get("d")
    items: list[decoders.Fix | decoders.Rejection] = decoders.owntracks(
        body, now, user=user, device=device) if body is not None else [
        decoders.Rejection("owntracks", "body is not JSON", None,
                           decoders.storable(raw[:300].decode("utf-8", "replace")))]
    credentials = directory.basic_credentials(request.headers.get("authorization"))
    signed_in = None if credentials is None else await devices.abasic(*credentials)
    if signed_in is not None and credentials is not None:
        # the device's: its fixes go under its token (the processor finds the device by it),
        # what cannot be used under its id (the token is written nowhere)
        items = [replace(i, device_id=credentials[1]) if isinstance(i, decoders.Fix)
                 else replace(i, device_id=signed_in.id) for i in items]
    await _publish(bus, items, ctx)
    if credentials is not None and signed_in is None:
        refused = AppError(msg("these credentials are not a bound device's: its user is the "
                               "device's id, its password the token binding gave it"),
                           401, "Authorization", code="credentials_invalid")
        return JSONResponse(refused.as_dict(), status_code=401, headers={
            "WWW-Authenticate": 'Basic realm="Borderflow", charset="UTF-8"'})
    if signed_in is None:
        field = "X-Limit-U" if request.headers.get("x-limit-u") else "u" if \
            request.query_params.get("u") else "tid"
        await _refuse_unknown(devices, items, field)
    return []


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    positions: list[dict[str, Any]] = Field(
        max_length=MAX_BATCH,
        description=f"Up to {MAX_BATCH} positions: `device_id`, `time` (ISO 8601 or Unix), "
        "`lat`, `lon`, and optionally `speed_mps`, `bearing`, `altitude`, `accuracy`, "
        "`battery` (%), `attributes` (object).")


@router.post("/telemetry/positions", response_model=BatchOut,
             summary="A batch of positions from a fleet system",
             description=f"Up to {MAX_BATCH} positions per request; each bad one is rejected "
             "with its index and reason, the others are taken. Each unit sends the token "
             "binding gave it (`POST /api/v1/devices/{id}/bind`) as its `device_id`: only "
             "positions under a live token move a trip. A position under any other id (nobody "
             "bound it, an old or revoked token, a bound device's plain id) is taken and kept "
             "for diagnosis, moves no trip, and is listed in `moves_no_trip` with its index, "
             "the field and the reason (a revoked token is not echoed); the request is still "
             "answered 200, so one unit not set up never holds back the others. Whether an id "
             "is a live token is read from the server process's snapshot of the devices (at "
             "most 30 seconds old; ids it does not know are looked up, together, once) and "
             "says what the answer lists; whether a position moves a trip is decided from the "
             "database. 503 with `Retry-After` when the telemetry bus cannot take them: send "
             "the request again (a position sent twice is stored once)."
             + roles_doc("telemetry.batch"),
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": BatchIn.model_json_schema()}}}})
async def batch(request: Request, ctx: Ctx, bus: TelemetryBus, devices: Devices,
                _caller: Annotated[Principal, Depends(_principal_without_write(
                    "telemetry.batch"))]) -> dict[str, Any]:
    positions = batch_positions(await request.body())
    now = ctx.clock.now()
    items = broker_only([decoders.batch_item(p, now) for p in positions])
    answer = await _publish(bus, items, ctx, index=True)
    verdicts = await devices.averdicts(i.device_id for i in items if i.device_id is not None)
    return moves_no_trip(answer, items, verdicts)


def moves_no_trip(answer: dict[str, Any], items: list[decoders.Fix | decoders.Rejection],
                  verdicts: dict[str, directory.Verdict]) -> dict[str, Any]:
    """A batch's answer with the positions taken that move no trip (their id is not a live
    token), by index, field and reason; revoked tokens shown nowhere in it."""
    listed = [{"index": i, "field": f"positions[{i}].device_id",
               "device_id": None if verdicts[item.device_id] == "revoked" else item.device_id,
               "reason": MOVES_NO_TRIP[verdicts[item.device_id]]}
              for i, item in enumerate(items)
              if isinstance(item, decoders.Fix) and verdicts[item.device_id] != "live"]
    rejected = [{**r, "device_id": None}
                if r["device_id"] is not None and verdicts.get(r["device_id"]) == "revoked"
                else r for r in answer["rejected"]]
    return {**answer, "rejected": rejected, "moves_no_trip": listed}


def batch_positions(raw: bytes) -> list[Any]:
    """The positions of a batch request's body, read without building a model of each (a
    fleet system sends up to 1,000 per request; each is checked by the decoder, and a bad
    one is rejected alone)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValidationFailed([FieldError("body", msg("the request body is not valid JSON"))]
                               ) from None
    if not isinstance(body, dict):
        raise ValidationFailed([FieldError("body",
                                           msg("must be a JSON object with `positions`"))])
    unknown = sorted(set(body) - {"positions"})
    if unknown:
        raise ValidationFailed([FieldError(k, msg("unknown field; the body has only `positions`"))
                                for k in unknown])
    positions = body.get("positions")
    if positions is None:
        raise ValidationFailed([FieldError("positions", msg("this field is required"))])
    if not isinstance(positions, list):
        raise ValidationFailed([FieldError("positions", msg("must be a list of positions"))])
    if len(positions) > MAX_BATCH:
        raise ValidationFailed([FieldError("positions", msg(
            "at most {limit} per request; got {count}", limit=MAX_BATCH,
            count=len(positions)))])
    return positions


class BindIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    driver_document: str | None = Field(default=None, max_length=40)
    plate: str | None = Field(default=None, max_length=20)
    label: str = Field(default="", max_length=120)


class DeviceOut(BaseModel):
    id: str = Field(description="The device's own identifier (an IMEI, a plate, OwnTracks' "
                    "`user/device`), as the regulator knows it.")
    protocol: str
    label: str
    driver_document: str | None
    plate_key: str | None
    bound: bool
    trip: str | None = Field(description="The active trip the device's positions go to.")
    revoked_at: Any = Field(default=None, description="When its token was revoked: its "
                            "positions then move no trip until it is bound again.")
    first_seen_at: Any
    last_seen_at: Any
    last_fix_at: Any
    positions: int
    inside: list[str] = Field(description="Geofences the device is in now.")
    silent: bool


class MqttAccountOut(BaseModel):
    username: str = Field(description="The SHA-256 of the token.")
    password: str = Field(description="Derived from the token's hash with the server's "
                          "secret key.")
    topic: str = Field(description="Where the device publishes (`owntracks/<user>/<device>`).")


class BoundOut(DeviceOut):
    token: str = Field(description="The device's token, shown only this once (only its hash "
                       "is kept): the phone sends it as its id from now on (Traccar Client's "
                       "device identifier, the batch's `device_id`, OwnTracks' user: its id "
                       "is then `<token>/<device>`, or OwnTracks' HTTP Basic password). "
                       "Positions under the device's plain id, or under an old token, move no "
                       "trip.")
    mqtt: MqttAccountOut = Field(description="The device's MQTT account, for OwnTracks in "
                                 "MQTT mode: the broker takes it once `borderflow devices "
                                 "mqtt-credentials` has written its password file again.")


def _silent(ctx: Any) -> timedelta:
    return timedelta(minutes=ctx.settings.device_silent_minutes)


@router.post("/devices/{device_id:path}/bind", response_model=BoundOut,
             summary="Bind a GPS device to a driver or a vehicle",
             description="Its positions then go to the driver's (or vehicle's) active trip. A "
             "driver binds their own phone to their own document number; the regulator binds "
             "any device. The id may hold slashes, as OwnTracks ids do (`29C12345/phone`), "
             "written as they are or encoded (`29C12345%2Fphone`). Binding "
             "issues the device a new token (answered once, in `token`; the old one stops "
             "working): the phone sends the token as its id, and only positions under it move "
             "a trip, recorded under the device (`device:<label>`). Audited."
             + roles_doc("device.bind"))
def bind(device_id: str, body: BindIn, ctx: Ctx, db: Db, actor: Binder) -> dict[str, Any]:
    now = ctx.clock.now()
    device, token = service.bind(db, device_id, actor=actor, now=now,
                                 driver_document=body.driver_document, plate=body.plate,
                                 label=body.label)
    mqtt = mqtt_accounts.account(ctx.settings.resolved_secret_key(), device.id,
                                 service.token_hash(token))
    return {**service.device_out(db, device, now, _silent(ctx)), "token": token,
            "mqtt": {"username": mqtt.username, "password": mqtt.password,
                     "topic": mqtt.topic}}


@router.post("/devices/{device_id:path}/revoke", response_model=DeviceOut,
             summary="Revoke a GPS device's token",
             description="From now on the device's positions change no trip: they are "
             "rejected with the reason `device revoked` and kept for diagnosis. Binding the "
             "device again issues a new token. Revoking twice changes nothing; a device with no "
             "token is refused (422, field `device_id`). The id may hold slashes, as in "
             "binding. Audited." + roles_doc("device.revoke"))
def revoke(device_id: str, ctx: Ctx, db: Db, actor: Revoker) -> dict[str, Any]:
    now = ctx.clock.now()
    device = service.revoke(db, device_id, actor=actor, now=now)
    return service.device_out(db, device, now, _silent(ctx))


@router.get("/devices", response_model=list[DeviceOut], summary="GPS devices",
            responses=PAGED_RESPONSES,
            description="Every device that has sent positions or been bound, latest heard "
            "first; `unknown=true` lists those whose positions go to no trip. Drivers' "
            "document numbers are masked (`0010****2345`) except for those who bind devices "
            "and " + ", ".join(sorted(privacy.PERSONAL_DATA_ROLES)) + "." + PAGED_DOC
            + roles_doc("telemetry.read"))
def list_devices(request: Request, response: Response, ctx: Ctx, db: Db, actor: Reader,
                 unknown: bool = False, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
                 ) -> list[dict[str, Any]]:
    found = service.devices(db, now=ctx.clock.now(), silent_after=_silent(ctx),
                            unknown_only=unknown, cursor=cursor, limit=limit)
    link_next(request, response, found)
    return _masked_for(actor, found.items)


def _masked_for(actor: Principal, devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drivers' document numbers masked for roles that do not need them (those who bind
    devices to drivers see the bindings)."""
    if privacy.needs_personal_data(actor) or actor.may("device.bind"):
        return devices
    return [{**d, "driver_document": privacy.mask_document(d["driver_document"])}
            if d.get("driver_document") else d for d in devices]


@router.get("/alerts/devices", response_model=list[DeviceOut],
            summary="Silent devices of active trips",
            description="Devices bound to an active trip that have not reported for "
            "`BORDERFLOW_DEVICE_SILENT_MINUTES`." + roles_doc("alerts.read"))
def silent(ctx: Ctx, db: Db, actor: AlertReader) -> list[dict[str, Any]]:
    return _masked_for(actor, service.silent_devices(db, now=ctx.clock.now(),
                                                     silent_after=_silent(ctx)))


@router.get("/telemetry/latest", summary="Latest position of every active truck",
            description="For the console map: trip, plate, gate, status, location and the "
            "device's latest fix." + roles_doc("telemetry.read"))
def latest(db: Db, _caller: Reader) -> list[dict[str, Any]]:
    return service.latest(db)


@router.get("/telemetry/stats", summary="Ingestion figures",
            description="Positions stored and rejected (by reason) in the last `hours`, and "
            "devices nobody has bound." + roles_doc("telemetry.read"))
def stats(ctx: Ctx, db: Db, _caller: Reader, hours: int = 24) -> dict[str, Any]:
    if not 1 <= hours <= 24 * 31:
        raise ValidationFailed([FieldError("hours", msg("between 1 and 744"))])
    return service.stats(db, ctx.clock.now() - timedelta(hours=hours))


DeadLetterReader = Annotated[Principal, Depends(require("telemetry.dead_letters"))]


class DeadLetterOut(BaseModel):
    id: int
    at: datetime = Field(description="When it was set aside.")
    source: str = Field(description="`nats` (a processor of the stream) or `memory` (the "
                                    "in-process queue).")
    subject: str | None = Field(description="The stream's subject (partition) it came on.")
    sequence: int | None = Field(description="Its sequence number in the stream.")
    deliveries: int = Field(description="Times it was tried.")
    positions: int = Field(description="Positions (and rejections) the message holds.")
    reason: str = Field(description="Why it could not be stored, the last time.")
    retried_at: datetime | None = Field(description="When it was sent through again and "
                                                    "stored.")
    excerpt: str = Field(description="The start of the message as it travelled on the bus.")


@router.get("/telemetry/dead-letters", response_model=list[DeadLetterOut],
            summary="Telemetry messages set aside",
            description="Messages of positions the processor could not store after their "
            "retries (`BORDERFLOW_NATS_MAX_DELIVER`), set aside so that the rest of the "
            "stream goes on: latest first, `limit` at a time (at most "
            f"{dead_letters.LIST_MAX}); `before` gives the next page (the last id seen). "
            "Send them through again with `borderflow telemetry dead-letters retry ID` once "
            "the cause is fixed." + roles_doc("telemetry.dead_letters"))
def list_dead_letters(db: Db, _caller: DeadLetterReader,
                      limit: Annotated[int, Query(ge=1, le=dead_letters.LIST_MAX)] = 100,
                      before: Annotated[int | None, Query(ge=1)] = None
                      ) -> list[dict[str, Any]]:
    return dead_letters.listing(db, limit=limit, before=before)


@router.get("/trips/{trip}/track", summary="A trip's GPS track",
            description="Positions in time order (speed in km/h). Enterprises and drivers see "
            "their own trips only." + roles_doc("trip.read"))
def track(trip: str, ctx: Ctx, db: Db, actor: TripReader) -> list[dict[str, Any]]:
    network = networks.in_force(db, ctx.clock.now())
    row = trips.get(db, trip, actor=actor, network=network)
    return service.track(db, row)


@router.get("/trips/{trip}/eta", summary="Estimated arrival at the staging area",
            description="From the trip's last positions: straight-line distance to the park "
            "over the recent average speed (a lower bound: roads are longer)."
            + roles_doc("trip.read"))
def eta(trip: str, request: Request, ctx: Ctx, db: Db, actor: TripReader) -> dict[str, Any]:
    now = ctx.clock.now()
    version, network = networks.network_at(db, now)
    row = trips.get(db, trip, actor=actor, network=network)
    cache = request.app.state.fences
    fences = cache.get(str(version.id), lambda: Fences(network, cache.margin_m))
    return service.eta_to_staging(db, network, fences, row, now)
