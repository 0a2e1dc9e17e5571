"""HTTP API of plate-reading cameras: register and list cameras, the webhook cameras post
their reads to, and the officers' review queue."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from borderflow.api.bounds import Instant
from borderflow.api.deps import Ctx, Db, require, roles_doc
from borderflow.api.errors import ERROR_RESPONSES, ErrorResponse
from borderflow.api.idempotency import Idem
from borderflow.domain import telemetry_plates as plates
from borderflow.domain.access import Principal
from borderflow.errors import FieldError, ValidationFailed, msg
from borderflow.network import service as networks
from borderflow.telemetry import camera_vendors as vendors
from borderflow.telemetry import cameras as service
from borderflow.telemetry import decoders

router = APIRouter(prefix="/api/v1", tags=["cameras"], responses=ERROR_RESPONSES)

Manager = Annotated[Principal, Depends(require("camera.manage"))]
Reader = Annotated[Principal, Depends(require("camera.read"))]
CameraClient = Annotated[Principal, Depends(require("plate_read.submit"))]
Reviewer = Annotated[Principal, Depends(require("plate_read.review"))]
ReadId = Annotated[int, Path(description="The plate read's id")]
REVIEW_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such read at a gate you work at"},
    409: {"model": ErrorResponse,
          "description": "The read is already resolved (`already_resolved`), or the trip's "
                         "rules refuse the movement (`invalid_transition`, `step_not_ready`)"},
}


# --- shapes ------------------------------------------------------------------------------------


class CameraIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$",
                      description="Short name, lower case, digits and dashes: "
                                  "`huu-nghi-in-1`. Its client is `camera.<code>`.")
    name: str = Field(min_length=1, max_length=200)
    gate: str = Field(min_length=1, max_length=40)
    checkpoint: plates.CheckpointCode = Field(
        description="`gate_in`: vehicles entering the gate area; `gate_out`: leaving it.")
    direction: Literal["export", "import"] | None = Field(
        default=None, description="The traffic its lanes carry; none: both.")


class CameraKeyOut(BaseModel):
    id: int
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class CameraOut(BaseModel):
    code: str
    name: str
    gate: str
    checkpoint: str
    direction: str | None
    account_id: int
    username: str
    active: bool = Field(description="False once its API keys are revoked or its client is "
                                     "disabled.")
    keys: list[CameraKeyOut]
    last_read_at: datetime | None
    created_at: datetime
    created_by: str


class CameraCreated(CameraOut):
    key: str = Field(description="The camera's API key (`X-API-Key`). Shown only once.")


class CandidateIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    plate: str = Field(min_length=1, max_length=32)
    confidence: float = Field(ge=0, le=1)


class PlateReadIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    camera: str = Field(min_length=1, max_length=40, description="The posting camera's code.")
    plate: str = Field(min_length=1, max_length=32, description="The plate as read.")
    confidence: float = Field(ge=0, le=1, description="How sure the reader is, 0 to 1.")
    candidates: list[CandidateIn] = Field(default_factory=list, max_length=20,
                                          description="Other readings, e.g. `29C-I23.45`.")
    time: Instant = Field(description="When the plate was read: ISO 8601 with a timezone, "
                                       "or Unix seconds.")
    direction: Literal["in", "out"] | None = Field(
        default=None, description="Which way the vehicle moved, if the camera can tell.")
    image_ref: str | None = Field(default=None, max_length=1000,
                                  description="Where the picture is kept (URL or id).")

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a timezone, e.g. 2026-11-23T08:00:00+07:00, or Unix seconds")
        return value


class MatchOut(BaseModel):
    trip_id: str
    reference: str
    plate: str
    cost: int = Field(description="Characters changed from the reading to the trip's plate.")
    confidence: float
    read_as: str


class CandidateTripOut(MatchOut):
    gate: str
    status: str
    location: str | None
    expected: bool = Field(description="The checkpoint expects this trip now.")


class PlateReadOut(BaseModel):
    id: int
    camera: str
    gate: str
    checkpoint: str
    plate: str = Field(description="As read.")
    plate_key: str
    plate_display: str = Field(description="The key in its usual written form.")
    confidence: float
    candidates: list[dict[str, Any]]
    matches: list[MatchOut] = Field(description="Expected trips it could be, when read.")
    read_at: datetime
    received_at: datetime
    direction: str | None
    image_ref: str | None
    status: Literal["matched", "review", "confirmed", "dismissed"]
    reason: str
    trip: str | None = Field(description="The trip's reference, once matched or confirmed.")
    trip_id: str | None
    events: list[str]
    repeat_of: int | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_note: str | None


class PlateReadPosted(PlateReadOut):
    others: list[int] = Field(
        default_factory=list, description="A vendor's message with several plates: the ids "
        "of the reads stored for the other plates (this answer is the first).")


class ReviewItem(PlateReadOut):
    candidate_trips: list[CandidateTripOut] = Field(
        description="The trips it may be now, those expected first.")


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    trip: str = Field(min_length=1, max_length=80, description="Trip id or reference.")
    note: str | None = Field(default=None, max_length=2000)


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=2000)


def _json(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = model.model_validate(data).model_dump(mode="json")
    return out


# --- cameras -----------------------------------------------------------------------------------


@router.post("/cameras", response_model=CameraCreated, status_code=201,
             responses={409: {"model": ErrorResponse, "description": "Code taken"}},
             summary="Register a plate-reading camera",
             description="Creates the camera's machine client (`camera.<code>`, role `camera`, "
             "scoped to the gate) and its API key, returned **once**: configure the camera to "
             "send it as `X-API-Key` with every read. Revoking the key "
             "(`DELETE /api/v1/api-keys/{id}`) disables the camera; a new key "
             "(`POST /api/v1/accounts/{account_id}/api-keys`) enables it again."
             + roles_doc("camera.manage"))
def register_camera(body: CameraIn, ctx: Ctx, db: Db, actor: Manager, idem: Idem) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    now = ctx.clock.now()
    camera, key = service.register(
        db, service.CameraSpec(code=body.code, name=body.name, gate=body.gate,
                               checkpoint=body.checkpoint, direction=body.direction),
        actor=actor, network=networks.in_force(db, now), now=now)
    [out] = service.cameras(db, code=camera.code)
    return idem.respond(_json(CameraCreated, {**out, "key": key}), 201)


@router.get("/cameras", response_model=list[CameraOut], summary="Plate-reading cameras",
            description="Where each camera looks, whether its key is live, when it last sent "
            "a read." + roles_doc("camera.read"))
def list_cameras(db: Db, _caller: Reader, gate: str | None = None) -> list[dict[str, Any]]:
    return [_json(CameraOut, c) for c in service.cameras(db, gate=gate)]


# --- plate reads -------------------------------------------------------------------------------


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its nested models written in place (for the request body
    the OpenAPI document shows)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    out: dict[str, Any] = walk(schema)
    return out


READ_JSON_CHARS = 1_000_000
"""Longest read, as JSON in a form's field (the vendors' reads are a few kilobytes; the
picture travels in its own field)."""
READ_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"oneOf": [
        _inline(PlateReadIn.model_json_schema()),
        {"type": "object", "title": "Vendor message",
         "description": "A vendor's read as its software posts it: Plate Recognizer's "
         "webhook (`data.results`), OpenALPR / Rekor `alpr_group` or `alpr_results`."}]}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["json"], "properties": {
        "json": {"type": "string", "maxLength": READ_JSON_CHARS,
                 "description": "The read as JSON (any format above)."},
        "upload": {"type": "string", "format": "binary",
                   "description": "The picture (JPEG, PNG or WebP), kept with the read."}}}},
}}}


async def _message(request: Request) -> vendors.Message:
    """The posted read: a JSON body, or a form with a ``json`` field (and, multipart, an
    ``upload`` picture: Plate Recognizer's webhook with image)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    image = None
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            form = await request.form()
        except Exception:  # a malformed form is the sender's mistake, never a 500
            raise vendors.bad("body", "is not a readable multipart form") from None
        raw = form.get("json")
        if raw is None:
            raise vendors.bad("json", "this field is required: the read as JSON")
        if isinstance(raw, UploadFile):
            raw = (await raw.read()).decode("utf-8", "replace")
        upload = form.get("upload")
        if isinstance(upload, UploadFile):
            image = vendors.image_of(await upload.read())
        elif upload is not None:
            raise vendors.bad("upload", "must be a file")
        if not 1 <= len(raw) <= READ_JSON_CHARS:
            raise vendors.bad("json", "must be 1 to {count} characters",
                              count=READ_JSON_CHARS)
        text, field = raw, "json"
    else:
        text, field = (await request.body()).decode("utf-8", "replace"), "body"
    try:
        body = json.loads(text)
    except ValueError:
        raise ValidationFailed([FieldError(field, msg("is not valid JSON"))]) from None
    if not isinstance(body, dict):
        raise vendors.bad(field, "must be a JSON object")
    unstorable = _unstorable_at(body)
    if unstorable is not None:
        raise ValidationFailed([FieldError(
            unstorable or field, msg("holds a NUL character (or a lone surrogate), which "
                                     "cannot be stored: send the text without it"))])
    return vendors.Message(body, image)


def _unstorable_at(value: Any, path: str = "", depth: int = 0) -> str | None:
    """Where in a posted read a text (or key) holds what the store refuses, as a field path
    (``results[0].plate``); None if nowhere. Refused rather than cleaned: a plate or a camera
    code without its NUL would be another one."""
    if isinstance(value, str):
        return path if decoders.unstorable(value) else None
    if depth > 32:
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            name = decoders.storable(str(key))
            at = f"{path}.{name}" if path else name
            if decoders.unstorable(str(key)):
                return at
            found = _unstorable_at(item, at, depth + 1)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _unstorable_at(item, f"{path}[{i}]", depth + 1)
            if found is not None:
                return found
    return None


def _own(message: vendors.Message) -> list[service.ReadIn]:
    """A read in Borderflow's own shape."""
    try:
        body = PlateReadIn.model_validate(message.body)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                      for e in exc.errors()]) from None
    image_ref = message.image.data_url() if message.image else body.image_ref
    return [service.ReadIn(camera=body.camera, plate=body.plate, confidence=body.confidence,
                           read_at=body.time,
                           candidates=tuple(plates.Reading(c.plate, c.confidence)
                                            for c in body.candidates),
                           direction=body.direction, image_ref=image_ref)]


@router.post("/plate-reads", response_model=PlateReadPosted, status_code=201,
             responses={200: {"description": "A vendor's message without any plate (its "
                                             "software reports every frame): nothing stored",
                              "content": {"application/json": {"example": {"stored": 0}}}},
                        403: {"model": ErrorResponse,
                              "description": "Not a camera, or another camera's code"}},
             openapi_extra=READ_BODY,
             summary="A camera's plate read (webhook)",
             description="Sent by the camera or its recognition software with the camera's "
             "own key. Takes Borderflow's read shape and the vendors' own: Plate Recognizer's "
             "webhook (JSON, or a multipart form with `json` and the `upload` picture), "
             "OpenALPR / Rekor `alpr_group` and `alpr_results` (confidence in percent), "
             "recognised by their shape or named in the URL (`?format=`, see "
             "docs/cameras.md). The read is stored; when it is confidently one of the trips "
             "expected at the camera's checkpoint (one trip, the plate as read or one "
             "confused character away, confidence at least `BORDERFLOW_ANPR_MIN_CONFIDENCE`) "
             "the movement is recorded on that trip (`status: matched`); a repeat of a read "
             "just matched records nothing (`matched`, `repeat_of`); anything else waits for "
             "an officer (`review`, with the `reason`)." + roles_doc("plate_read.submit"))
async def submit_read(
    request: Request, ctx: Ctx, db: Db, actor: CameraClient, idem: Idem,
    read_format: Annotated[str | None, Query(
        alias="format", max_length=40, description="The camera's read format "
        "(`borderflow`, `platerecognizer`, `openalpr_group`, `openalpr_results`, or a "
        "plug-in's); without it, the body's shape says.")] = None,
) -> Any:
    if (replayed := await run_in_threadpool(idem.replay)) is not None:
        return replayed
    message = await _message(request)
    vendor = vendors.choose(message.body, read_format)
    return await run_in_threadpool(_submit, message, vendor, ctx, db, actor, idem)


def _submit(message: vendors.Message, vendor: vendors.CameraFormat | None, ctx: Any,
            db: Any, actor: Principal, idem: Any) -> Any:
    """Store the message's reads (the database work, off the event loop)."""
    found: list[vendors.VendorRead] = []
    if vendor is None:
        reads = _own(message)
    else:
        camera = service.camera_of(db, actor).code
        found = vendor.reads(message)
        reads = [service.ReadIn(camera=camera, plate=r.plate, confidence=r.confidence,
                                read_at=r.read_at, candidates=r.candidates,
                                direction=r.direction, image_ref=r.image_ref)
                 for r in found]
    if not reads:
        return idem.respond({"stored": 0}, 200)
    settings = ctx.settings
    rows = []
    for i, read in enumerate(reads):
        try:
            rows.append(service.submit(
                db, read, actor=actor, now=ctx.clock.now(),
                min_confidence=settings.anpr_min_confidence,
                repeat_window=timedelta(seconds=settings.anpr_repeat_seconds)))
        except ValidationFailed as exc:
            raise found[i].renamed(exc) if found else exc from None
    out = {**service.read_out(db, rows[0]), "others": [r.id for r in rows[1:]]}
    return idem.respond(_json(PlateReadPosted, out), 201)


@router.get("/plate-reads/review", response_model=list[ReviewItem],
            summary="Plate reads waiting for an officer",
            description="Oldest first, at the gates you work at (your gate scope, or every "
            "gate), each with the trips it may be: those the checkpoint expects first, then "
            "the closest plates." + roles_doc("plate_read.review"))
def review_queue(
    db: Db, actor: Reviewer,
    gate: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    return [_json(ReviewItem, {**service.read_out(db, row), "candidate_trips": found})
            for row, _camera, found in service.review_queue(db, actor=actor, gate=gate,
                                                           limit=limit)]


@router.get("/plate-reads/{read_id}", response_model=ReviewItem,
            responses={404: REVIEW_ERRORS[404]}, summary="One plate read",
            description="With the trips it may be now." + roles_doc("plate_read.review"))
def read_plate_read(read_id: ReadId, db: Db, actor: Reviewer) -> dict[str, Any]:
    row, camera = service.get(db, read_id, actor=actor)
    return _json(ReviewItem, {**service.read_out(db, row),
                              "candidate_trips": service.candidates(db, row, camera)})


@router.post("/plate-reads/{read_id}/confirm", response_model=PlateReadOut,
             responses=REVIEW_ERRORS, summary="Confirm which trip a read is",
             description="Records the movement the camera saw on that trip (entering or "
             "leaving the gate area, at the time of the read), with you as actor and source "
             "`officer_screen`." + roles_doc("plate_read.review"))
def confirm_read(read_id: ReadId, body: ConfirmIn, ctx: Ctx, db: Db, actor: Reviewer,
                 idem: Idem) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    now = ctx.clock.now()
    row = service.confirm(db, read_id, body.trip, actor=actor,
                          network=networks.in_force(db, now), now=now, note=body.note)
    return idem.respond(_json(PlateReadOut, service.read_out(db, row)))


@router.post("/plate-reads/{read_id}/dismiss", response_model=PlateReadOut,
             responses=REVIEW_ERRORS, summary="Dismiss a read",
             description="Not a vehicle on any trip, a misread, a repeat: the read leaves the "
             "queue with your reason and records nothing." + roles_doc("plate_read.review"))
def dismiss_read(read_id: ReadId, body: DismissIn, ctx: Ctx, db: Db, actor: Reviewer,
                 idem: Idem) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    row = service.dismiss(db, read_id, body.reason, actor=actor, now=ctx.clock.now())
    return idem.respond(_json(PlateReadOut, service.read_out(db, row)))
