"""HTTP API for declarations: parse, authorise, call one service, render."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import segno
from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response
from fastapi.responses import JSONResponse, RedirectResponse

from borderflow.api.deps import Ctx, Db, if_match_number, require, roles_doc
from borderflow.api.errors import ERROR_RESPONSES, ErrorResponse
from borderflow.api.idempotency import Idem
from borderflow.declaration import service
from borderflow.declaration.repository import ListFilter
from borderflow.declaration.schemas import CancelIn, DeclarationIn, DeclarationOut, DeclarationPage
from borderflow.domain import privacy
from borderflow.domain.access import Principal
from borderflow.domain.declaration import DIRECTIONS
from borderflow.errors import FieldError, ValidationFailed
from borderflow.network import service as networks
from borderflow.network.holidays import around

router = APIRouter(prefix="/api/v1/declarations", tags=["declarations"],
                   responses=ERROR_RESPONSES)
API_BASE = "/api/v1"

Reader = Annotated[Principal, Depends(require("declaration.read"))]
Creator = Annotated[Principal, Depends(require("declaration.create"))]
Amender = Annotated[Principal, Depends(require("declaration.amend"))]
Canceller = Annotated[Principal, Depends(require("declaration.cancel"))]
DeclId = Annotated[str, Path(description="Declaration id or its short reference (BF-XXXX-XXXX)")]
IfMatch = Annotated[
    str | None,
    Header(description='The revision you amend, as returned in ETag (e.g. "3"); a newer '
                       "revision on the server gives 412."),
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such declaration that you may see"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "No longer amendable, or key reused"},
    412: {"model": ErrorResponse, "description": "If-Match revision is stale"},
}


MASKED_DOC = (" Drivers' document numbers and phones are masked (`0010****2345`, "
              "`*********678`) except for " + ", ".join(sorted(privacy.PERSONAL_DATA_ROLES))
              + ".")


@router.post(
    "",
    status_code=201,
    response_model=DeclarationOut,
    responses={409: {"model": ErrorResponse, "description": "Idempotency-Key reused"}},
    summary="Submit a pre-arrival declaration",
    description="Declares goods, vehicles with their drivers, and quarantine certificates before "
    "arrival. Every bad field is reported at once (422). Goods the requested gate does not "
    "permit are refused with the list of gates that do. Figures that are allowed but "
    "implausible (a total net weight under 5 % of the vehicles' payload, a value per kilogram "
    "outside the goods group's usual range) do not block: the declaration is stored and the "
    "answer lists them in `warnings` (`[{field, code, message}]`). Send an `Idempotency-Key` "
    "to make retries safe." + roles_doc("declaration.create"),
)
def create_declaration(body: DeclarationIn, ctx: Ctx, db: Db, actor: Creator, idem: Idem
                       ) -> Response:
    if (replayed := idem.replay()) is not None:
        return replayed
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    row = service.create(db, body, actor=actor, now=now, network=network,
                         holidays=around(body.requested_date))
    response = idem.respond(_with_warnings(row, network), 201)
    response.headers["Location"] = f"{API_BASE}/declarations/{row.id}"
    response.headers["ETag"] = f'"{row.revision}"'
    return response


@router.get(
    "",
    response_model=DeclarationPage,
    summary="List declarations you may see",
    description="Enterprises see their own (as declarant or customs agent), drivers the ones "
    "naming them, cashiers and yard operators those for their gates; officials see all."
    + MASKED_DOC + roles_doc("declaration.read"),
)
def list_declarations(
    ctx: Ctx,
    db: Db,
    actor: Reader,
    status: Literal["submitted", "cancelled"] | None = None,
    direction: Annotated[str | None, Query(description=f"One of {', '.join(DIRECTIONS)}")] = None,
    flow: Literal["export", "import"] | None = None,
    gate: str | None = None,
    date_from: date | None = Query(default=None, description="Requested date on or after"),
    date_to: date | None = Query(default=None, description="Requested date on or before"),
    plate: str | None = Query(default=None, description="Any vehicle's plate, in any format"),
    tax_code: str | None = Query(default=None, description="Declaring enterprise's tax code"),
    perishable: bool | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    if direction is not None and direction not in DIRECTIONS:
        raise ValidationFailed([FieldError("direction", f"must be one of {', '.join(DIRECTIONS)}")])
    if date_from and date_to and date_to < date_from:
        raise ValidationFailed([FieldError("date_to", "must not be before date_from")])
    network = networks.in_force_or_none(db, ctx.clock.now())
    f = ListFilter(
        status=status, direction=direction, flow=flow, gate=gate, date_from=date_from,
        date_to=date_to, plate_key=service.plate_search_key(plate) if plate else None,
        tax_code_head=tax_code.replace("-", "").strip()[:10] if tax_code else None,
        perishable=perishable,
    )
    rows, total = service.list_page(db, f, page, page_size, actor=actor, network=network)
    items = [_masked_for(actor, _checked(service.to_out(r, API_BASE))) for r in rows]
    return JSONResponse({"items": items, "total": total, "page": page, "page_size": page_size})


_STAND_IN = {"name": privacy.PURGED, "document_type": "passport", "document_number": "PURGED",
             "phone": "+84900000000"}


def _checked(out: dict[str, Any]) -> dict[str, Any]:
    """The declaration checked against ``DeclarationOut``, as JSON. A driver anonymised after
    the retention period (whose masked number is no longer a valid document) is checked as a
    stand-in and answered as stored."""
    purged = {i: v["driver"] for i, v in enumerate(out["vehicles"])
              if v.get("driver", {}).get("name") == privacy.PURGED}
    if purged:
        out = {**out, "vehicles": [{**v, "driver": _STAND_IN} if i in purged else v
                                   for i, v in enumerate(out["vehicles"])]}
    body: dict[str, Any] = DeclarationOut.model_validate(out).model_dump(mode="json")
    for i, driver in purged.items():
        body["vehicles"][i]["driver"] = {**body["vehicles"][i]["driver"], **driver}
    return body


def _masked_for(actor: Principal, body: dict[str, Any]) -> dict[str, Any]:
    """Drivers' document numbers and phones masked for roles that do not need them."""
    if privacy.needs_personal_data(actor):
        return body
    return {**body, "vehicles": privacy.masked_vehicles(body["vehicles"])}


@router.get(
    "/{declaration_id}",
    response_model=DeclarationOut,
    responses=NOT_FOUND,
    summary="Read one declaration",
    description="By id or short reference. A declaration you may not see is reported as not "
    "found." + MASKED_DOC + roles_doc("declaration.read"),
)
def read_declaration(declaration_id: DeclId, ctx: Ctx, db: Db, actor: Reader) -> Response:
    network = networks.in_force_or_none(db, ctx.clock.now())
    row = service.get(db, declaration_id, actor=actor, network=network)
    return JSONResponse(_masked_for(actor, _checked(service.to_out(row, API_BASE))),
                        headers={"ETag": f'"{row.revision}"'})


def _with_warnings(row: Any, network: Any) -> dict[str, Any]:
    """The declaration with the plausibility warnings of its figures."""
    out = service.to_out(row, API_BASE)
    out["warnings"] = [w.as_dict() for w in service.warnings_of(row, network)]
    return out


def _amended(row: Any, idem: Any, network: Any = None) -> Response:
    body = _with_warnings(row, network) if network is not None else service.to_out(row, API_BASE)
    response: Response = idem.respond(body, 200)
    response.headers["ETag"] = f'"{row.revision}"'
    return response


@router.patch(
    "/{declaration_id}",
    response_model=DeclarationOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Amend fields of a declaration before arrival",
    description="JSON Merge Patch (RFC 7386): send only the fields to change, e.g. "
    '`{"requested_date": "2026-12-01"}`. Lists are replaced whole; to fix one goods line or '
    "one vehicle use the item endpoints. The amended declaration is checked with the same rules "
    "as a new one: a bad field and the network rules broken by the rest are reported together "
    "(422); implausible figures are answered in `warnings` and do not block."
    + roles_doc("declaration.amend"),
)
def amend_declaration(
    declaration_id: DeclId,
    ctx: Ctx,
    db: Db,
    actor: Amender,
    idem: Idem,
    patch: Annotated[dict[str, Any], Body(examples=[{"requested_date": "2026-12-01"}])],
    if_match: IfMatch = None,
) -> Response:
    if (replayed := idem.replay()) is not None:
        return replayed
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    row = service.amend(db, declaration_id, patch, actor=actor, now=now, network=network,
                        holidays=around(now.date()), if_match=if_match_number(if_match))
    return _amended(row, idem, network)


@router.patch(
    "/{declaration_id}/{section}/{position}",
    response_model=DeclarationOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Amend one goods line, vehicle or quarantine certificate",
    description="`section` is `goods`, `vehicles` or `quarantine`; `position` counts from 1. "
    'Send only what changes, e.g. `{"plate": "29C-123.46"}` or '
    '`{"driver": {"phone": "0912345678"}}`. Implausible figures are answered in `warnings`.'
    + roles_doc("declaration.amend"),
)
def amend_declaration_item(
    declaration_id: DeclId,
    section: Literal["goods", "vehicles", "quarantine"],
    position: Annotated[int, Path(ge=1)],
    ctx: Ctx,
    db: Db,
    actor: Amender,
    idem: Idem,
    patch: Annotated[dict[str, Any], Body(examples=[{"plate": "29C-123.46"}])],
    if_match: IfMatch = None,
) -> Response:
    if (replayed := idem.replay()) is not None:
        return replayed
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    row = service.amend(db, declaration_id, patch, actor=actor, now=now, network=network,
                        holidays=around(now.date()), if_match=if_match_number(if_match),
                        item=(section, position))
    return _amended(row, idem, network)


@router.post(
    "/{declaration_id}/cancel",
    response_model=DeclarationOut,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Cancel a declaration before arrival",
    description="Cancelling twice is harmless." + roles_doc("declaration.cancel"),
)
def cancel_declaration(declaration_id: DeclId, body: CancelIn, ctx: Ctx, db: Db,
                       actor: Canceller, idem: Idem) -> Response:
    if (replayed := idem.replay()) is not None:
        return replayed
    row = service.cancel(db, declaration_id, body.reason, actor=actor, now=ctx.clock.now(),
                         network=networks.in_force_or_none(db, ctx.clock.now()))
    return _amended(row, idem)


@router.get(
    "/{declaration_id}/qr.{fmt}",
    responses={**NOT_FOUND, 200: {"content": {"image/png": {}, "image/svg+xml": {}},
                                  "description": "The QR code"}},
    response_class=Response,
    summary="QR code of a declaration (PNG or SVG)",
    description="Encodes a link with the declaration's reference, for officers to scan. "
    "`fmt` is `png` or `svg`; `scale` sets the module size in pixels."
    + roles_doc("declaration.read"),
)
def declaration_qr(
    declaration_id: DeclId,
    fmt: Literal["png", "svg"],
    ctx: Ctx,
    db: Db,
    actor: Reader,
    scale: Annotated[int, Query(ge=1, le=40)] = 8,
) -> Response:
    import io

    network = networks.in_force_or_none(db, ctx.clock.now())
    row = service.get(db, declaration_id, actor=actor, network=network)
    qr = segno.make(service.qr_payload(row, ctx.settings.public_base_url), error="m")
    buf = io.BytesIO()
    qr.save(buf, kind=fmt, scale=scale, border=4)
    media = "image/png" if fmt == "png" else "image/svg+xml"
    return Response(buf.getvalue(), media_type=media,
                    headers={"Cache-Control": "private, max-age=300"})


short_router = APIRouter(tags=["declarations"])


@short_router.get("/d/{reference}", include_in_schema=False)
def short_link(reference: str) -> RedirectResponse:
    """Where a scanned QR code lands: the declaration (login required to read it)."""
    return RedirectResponse(f"{API_BASE}/declarations/{reference.upper()}", status_code=307)
