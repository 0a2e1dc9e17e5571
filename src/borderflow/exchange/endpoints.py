"""HTTP API of the daily bulletin exchange with the partner side."""

from __future__ import annotations

import base64
import datetime as dt
import json
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from borderflow.api.context import AppContext
from borderflow.api.deps import Ctx, Db, require, roles_doc
from borderflow.api.errors import ERROR_RESPONSES, ErrorResponse
from borderflow.api.idempotency import MAX_KEY_LENGTH, Idem, Idempotency
from borderflow.api.paging import (
    DEFAULT_LIMIT,
    PAGED_DOC,
    PAGED_RESPONSES,
    Cursor,
    Limit,
    link_next,
)
from borderflow.clock import LOCAL_TZ
from borderflow.domain.access import Principal
from borderflow.errors import AppError, FieldError, PayloadTooLarge, ValidationFailed, msg
from borderflow.exchange import render, schema, service, signing
from borderflow.network import service as networks

if TYPE_CHECKING:
    from borderflow.store.models import Bulletin

router = APIRouter(prefix="/api/v1/exchange", tags=["partner exchange"],
                   responses=ERROR_RESPONSES)

Anyone = Annotated[Principal, Depends(require("exchange.public"))]
Reader = Annotated[Principal, Depends(require("bulletin.read"))]
Publisher = Annotated[Principal, Depends(require("bulletin.publish"))]
Importer = Annotated[Principal, Depends(require("bulletin.import"))]
KeyAdmin = Annotated[Principal, Depends(require("exchange_key.manage"))]

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
Format = Literal["json", "csv", "pdf"]
FORMAT_DOC = ("`format`: `json` (the signed envelope, as sent), `csv` (one row per figure, "
              "UTF-8 with a byte-order mark) or `pdf` (Vietnamese and Chinese).")


def our_key(ctx: AppContext) -> signing.SigningKey:
    try:
        return signing.load(ctx.settings.exchange_key_path)
    except (OSError, ValueError) as exc:
        raise AppError(msg("our bulletin signing key cannot be used: {detail}",
                           detail=str(exc)), 503,
                       code="exchange_key_unusable") from None


def gate_names(db: Db, ctx: AppContext) -> dict[str, str]:
    """Gate codes to their Vietnamese and Chinese names, for the PDF."""
    network = networks.in_force_or_none(db, ctx.clock.now())
    return {g.code: f"{g.name.vi} / {g.name.zh}" for g in network.gates} if network else {}


def rendered(envelope: dict[str, Any], fmt: Format, name: str,
             gates: dict[str, str] | None = None) -> Response:
    if fmt == "csv":
        return Response("\ufeff" + render.to_csv(envelope), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if fmt == "pdf":
        return Response(render.to_pdf(envelope, gates), media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{name}.pdf"'})
    return JSONResponse(envelope, headers={"Content-Disposition":
                                           f'inline; filename="{name}.json"'})


class FedOut(BaseModel):
    gate: str
    direction: str = Field(description="Ours: export = our trucks in the partner side's yard.")
    vehicles: int
    capacity: int | None
    used: bool = Field(description="Recorded as the partner side's yard count of the gate.")
    reason: str | None = Field(description="Why it was not used.")


class BulletinOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    side: str
    date: dt.date
    version: int
    sha256: str = Field(description="SHA-256 of the bulletin's canonical form.")
    origin: str = Field(description="`published` (ours) or `received` (the partner side's).")
    source: str
    key_id: str
    fed: list[FedOut]
    created_by: str
    created_at: datetime


def _out(row: Bulletin, **extra: Any) -> dict[str, Any]:
    data = BulletinOut.model_validate({
        "id": row.id, "side": row.side, "date": row.day, "version": row.version,
        "sha256": row.sha256, "origin": row.origin, "source": row.source,
        "key_id": row.signature["key_id"], "fed": row.fed, "created_by": row.created_by,
        "created_at": row.created_at}).model_dump(mode="json")
    return {**data, **extra}


class ReceivedOut(BulletinOut):
    duplicate: bool = Field(description="True when this very bulletin had already been "
                            "received: nothing new was recorded.")


@router.get("/schema", summary="The bulletin's JSON Schema of a version",
            description="The schema a bulletin of that `version` matches, ours and the "
            "partner side's (docs/exchange.md explains each field): `1` (the default, the "
            "first one published) or `2` (the version of ours: next-day plans with the "
            "forecast of the undeclared rest and its intervals). Both are read."
            + roles_doc("exchange.public"))
def read_schema(_caller: Anyone, version: Annotated[int, Query(
        ge=1, le=2, description="The schema version.")] = 1) -> dict[str, Any]:
    return schema.schema(version)


class PublicKeyOut(BaseModel):
    side: str
    alg: str
    key_id: str
    public_key: str = Field(description="Base64 of the 32 raw bytes of the Ed25519 key.")
    pem: str


@router.get("/public-key", response_model=PublicKeyOut, summary="Our public key",
            description="The key that verifies our bulletins' signatures: the partner side "
            "registers it once." + roles_doc("exchange.public"))
def read_public_key(ctx: Ctx, _caller: Anyone) -> dict[str, Any]:
    key = our_key(ctx)
    return {"side": ctx.settings.exchange_side, "alg": signing.ALG, "key_id": key.key_id,
            "public_key": base64.b64encode(key.public).decode(), "pem": key.public_pem}


@router.get("/bulletins/ours", summary="Our bulletin for today, as it stands now",
            description="Built from the live figures and signed: vehicles in each yard and "
            "staging area by direction now, planned volumes per gate for tomorrow, working "
            "hours today and tomorrow, closures and other controls in force or planned. "
            "Nothing is kept: publish it (`POST .../bulletins/ours`) to keep the version sent. "
            "`date` must be today (Lang Son); earlier days' published versions are listed at "
            "`GET .../bulletins?side=VN&date=`. " + FORMAT_DOC + roles_doc("bulletin.read"))
def read_ours(ctx: Ctx, db: Db, _caller: Reader,
              day: Annotated[date | None, Query(alias="date")] = None,
              fmt: Annotated[Format, Query(alias="format")] = "json") -> Response:
    now = ctx.clock.now()
    today = now.astimezone(LOCAL_TZ).date()
    if day is not None and day != today:
        raise ValidationFailed([FieldError("date", msg(
            "our bulletin is built for today ({today}); published versions of other days are "
            "listed at GET {address}", today=today.isoformat(),
            address=f"/api/v1/exchange/bulletins?side={ctx.settings.exchange_side}"
                    f"&date={day.isoformat()}"))])
    network = networks.in_force(db, now)
    envelope = our_key(ctx).sign(service.build(
        db, network, side=ctx.settings.exchange_side,
        version=ctx.settings.exchange_schema_version, now=now))
    return rendered(envelope, fmt, f"bulletin-{ctx.settings.exchange_side}-{today}",
                    gate_names(db, ctx))


@router.post("/bulletins/ours", response_model=BulletinOut, status_code=201,
             responses={200: {"model": BulletinOut, "description": "Nothing but the time "
                              "changed since the latest version: that version"}},
             summary="Publish our bulletin for today",
             description="Builds, signs and keeps our bulletin as a new version of today's "
             "(201). If nothing but the time changed since the latest version, that version "
             "is returned instead (200). Download it with `GET .../bulletins/{id}`. Audited."
             + roles_doc("bulletin.publish"))
def publish_ours(ctx: Ctx, db: Db, actor: Publisher, idem: Idem) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    row, created = service.publish(db, network, our_key(ctx), side=ctx.settings.exchange_side,
                                   version=ctx.settings.exchange_schema_version,
                                   actor=actor, now=now)
    return idem.respond(_out(row), 201 if created else 200)


def _receive(ctx: AppContext, db: Db, document: Any, source: str, actor: Principal,
             idem: Idempotency) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    row, created = service.receive(db, network, document, source=source,
                                   our_side=ctx.settings.exchange_side, actor=actor, now=now)
    return idem.respond(_out(row, duplicate=not created), 201 if created else 200)


RECEIVE_DOC = ("Checks the bulletin against the schema and its rules, then its Ed25519 "
               "signature with the partner key an admin registered for its side: a malformed, "
               "unsigned, altered or unknown-key bulletin is refused (422) with each problem "
               "and its JSON path, and nothing is recorded. A new content for the same side "
               "and day is kept as a new version (201); the same bulletin again changes "
               "nothing and returns the version kept (200, `duplicate: true`). Its yard counts "
               "become the partner side's counts at each gate (directions turned into ours) "
               "for the dispatcher and the public board, and the dispatcher runs. Audited.")


@router.post("/bulletins", response_model=ReceivedOut, status_code=201,
             summary="Receive the partner side's bulletin (JSON)",
             description=RECEIVE_DOC + roles_doc("bulletin.import"))
def receive_json(ctx: Ctx, db: Db, actor: Importer, idem: Idem,
                 document: Annotated[dict[str, Any], Body(
                     description="The signed envelope: `{\"bulletin\": {...}, \"signature\": "
                     "{\"alg\": \"Ed25519\", \"key_id\": ..., \"value\": ...}}`.")]) -> Any:
    return _receive(ctx, db, document, "api", actor, idem)


@router.post("/bulletins/upload", response_model=ReceivedOut, status_code=201,
             summary="Receive the partner side's bulletin (file upload)",
             description="The same as `POST .../bulletins`, for the JSON file sent by the "
             "partner side, as the multipart field `file` (at most 2 MiB). " + RECEIVE_DOC
             + roles_doc("bulletin.import"))
async def receive_file(
    request: Request, ctx: Ctx, db: Db, actor: Importer, file: UploadFile,
    idempotency_key: Annotated[str | None, Header(
        description="Any unique string; a retry with the same key has exactly one effect.")]
    = None,
) -> Any:
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(msg("a bulletin file is at most 2 MiB"), field="file")
    # the form has consumed the request body: the file's bytes identify the request
    key = idempotency_key.strip() if idempotency_key is not None else None
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise ValidationFailed([FieldError("Idempotency-Key",
                                           msg("must be 1 to {count} characters",
                                               count=MAX_KEY_LENGTH))])
    idem = Idempotency(db, actor, key, "POST", request.url.path, data, ctx.clock.now())
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed([FieldError("file", msg("is not a JSON document: {detail}",
                                                       detail=str(exc)))]) from None
    return _receive(ctx, db, document, "upload", actor, idem)


@router.get("/bulletins", response_model=list[BulletinOut], responses=PAGED_RESPONSES,
            summary="Kept bulletin versions, ours and the partner side's",
            description="Newest day first, then side, then newest version; filter by `side` "
            "(e.g. `VN`, `CN`) and `date`." + PAGED_DOC + roles_doc("bulletin.read"))
def list_bulletins(db: Db, _caller: Reader, request: Request, response: Response,
                   side: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
                   day: Annotated[date | None, Query(alias="date")] = None,
                   limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
                   ) -> list[dict[str, Any]]:
    found = service.versions(db, side=side, day=day, cursor=cursor, limit=limit)
    link_next(request, response, found)
    return [_out(r) for r in found.items]


@router.get("/bulletins/{bulletin_id}", summary="One kept bulletin version",
            description="Exactly as signed. " + FORMAT_DOC + roles_doc("bulletin.read"))
def read_bulletin(bulletin_id: int, ctx: Ctx, db: Db, _caller: Reader,
                  fmt: Annotated[Format, Query(alias="format")] = "json") -> Response:
    row = service.get(db, bulletin_id)
    return rendered(service.envelope_of(row), fmt,
                    f"bulletin-{row.side}-{row.day.isoformat()}-v{row.version}",
                    gate_names(db, ctx))


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    side: str = Field(pattern=r"^[A-Z]{2}$", description="The partner side, e.g. `CN`.")
    public_key: str = Field(min_length=40, max_length=1000,
                            description="PEM (SubjectPublicKeyInfo) or the base64 of the "
                            "32 raw bytes of the Ed25519 key.")
    key_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
                               description="The id the partner side puts in its signatures "
                               "(default: `bf-` and 16 hex digits of the key's SHA-256).")
    note: str = Field(default="", max_length=2000)


class KeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key_id: str
    side: str
    public_key: str
    note: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


@router.post("/keys", response_model=KeyOut, status_code=201,
             responses={409: {"model": ErrorResponse,
                              "description": "A key with this key_id is already registered"}},
             summary="Register a partner side's public key",
             description="Bulletins of that side signed with this key are accepted from now "
             "on. Audited." + roles_doc("exchange_key.manage"))
def register_key(body: KeyIn, ctx: Ctx, db: Db, actor: KeyAdmin, idem: Idem) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    row = service.register_key(
        db, service.KeySpec(side=body.side, public_key=body.public_key, key_id=body.key_id,
                            note=body.note),
        our_side=ctx.settings.exchange_side, actor=actor, now=ctx.clock.now())
    return idem.respond(KeyOut.model_validate(row).model_dump(mode="json"), 201)


@router.get("/keys", response_model=list[KeyOut], summary="Registered partner keys",
            description=roles_doc("exchange_key.manage"))
def list_keys(db: Db, _caller: KeyAdmin) -> list[KeyOut]:
    return [KeyOut.model_validate(k) for k in service.keys(db)]


@router.post("/keys/{key_id}/revoke", response_model=KeyOut, summary="Revoke a partner key",
             description="Bulletins signed with it are refused from now on; those received "
             "stay. Audited." + roles_doc("exchange_key.manage"))
def revoke_key(key_id: str, ctx: Ctx, db: Db, actor: KeyAdmin) -> KeyOut:
    return KeyOut.model_validate(service.revoke_key(db, key_id, actor=actor,
                                                    now=ctx.clock.now()))
