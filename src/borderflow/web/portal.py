"""The enterprise portal: declarations made in a form with the API's rules and messages shown
next to each field, the trips with their status, fee and place in the queue, and paying a fee
online."""

from __future__ import annotations

import re
from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from borderflow.api.deps import Ctx, Db
from borderflow.declaration import service as declarations
from borderflow.declaration.schemas import DeclarationIn, Unit
from borderflow.dispatch import service as dispatch
from borderflow.domain.access import Principal, Role
from borderflow.domain.declaration import (
    DIRECTIONS,
    MAX_GOODS_LINES,
    MAX_VEHICLES,
    Container,
    VehicleType,
)
from borderflow.domain.values import DocumentType
from borderflow.errors import N_, AppError, ValidationFailed
from borderflow.fees import invoices
from borderflow.fees.online_endpoints import start_payment
from borderflow.jsondoc import pydantic_fields
from borderflow.network import service as networks
from borderflow.network.holidays import around
from borderflow.store.models import Trip
from borderflow.trip import service as trips
from borderflow.web import pages, session

router = APIRouter(include_in_schema=False)
GOODS_ROWS = 3
UNITS = get_args(Unit)
VEHICLE_TYPES = get_args(VehicleType)
DOCUMENT_TYPES = get_args(DocumentType)
CONTAINERS = get_args(Container)


def _enterprise(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return pages.signed_in(request, ctx, db, lambda p: Role.ENTERPRISE in p.roles,
                           N_("This page is for enterprises."))


@router.get("/portal", response_class=HTMLResponse)
def portal(request: Request, ctx: Ctx, db: Db, created: str = "") -> Response:
    """The enterprise's trips: status, fee, place in the queue."""
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    rows = db.scalars(select(Trip).where(trips.scope_clause(who, network))
                      .order_by(Trip.created_at.desc()).limit(50)).all()
    shown = []
    for row in rows:
        place = dispatch.place_of(db, network, row, now) if row.status in (
            "at_staging", "called", "declared") else {}
        inv = invoices.current(db, row.id)
        shown.append({"trip": row, "place": place, "invoice": inv,
                      "due": invoices.due(db, inv) if inv else 0})
    return pages.render(request, "portal.html", user=who, rows=shown, created=created)


def _form_to_document(form: dict[str, str], tax_code: str) -> dict[str, Any]:
    """The form's fields as a declaration document (the API's JSON shape)."""
    def v(name: str) -> str | None:
        value = (form.get(name) or "").strip()
        return value or None

    goods = []
    for i in range(GOODS_ROWS):
        row = {k: v(f"goods[{i}].{k}") for k in ("hs_code", "description", "quantity", "unit",
                                                  "net_weight_kg", "value_usd")}
        if any(row.values()):
            goods.append({k: x for k, x in row.items() if x is not None})
    driver = {k: v(f"vehicles[0].driver.{k}") for k in ("name", "document_type",
                                                         "document_number", "phone")}
    vehicle = {k: v(f"vehicles[0].{k}") for k in ("plate", "vehicle_type", "payload_tonnes",
                                                   "container")}
    doc: dict[str, Any] = {
        "direction": v("direction"), "requested_gate": v("requested_gate"),
        "requested_date": v("requested_date"),
        "enterprise": {"tax_code": tax_code, "name": v("enterprise.name")},
        "goods": goods,
        "vehicles": [{**{k: x for k, x in vehicle.items() if x is not None},
                      "driver": {**{k: x for k, x in driver.items() if x is not None},
                                 "crosses_border": form.get("vehicles[0].driver.crosses_border")
                                 == "on"}}],
    }
    if v("flow"):
        doc["flow"] = v("flow")
    if v("quarantine[0].certificate_number"):
        doc["quarantine"] = [{"kind": v("quarantine[0].kind") or "plant",
                              "certificate_number": v("quarantine[0].certificate_number")}]
    return {k: x for k, x in doc.items() if x is not None}


def _new_form(request: Request, who: Any, network: Any, form: dict[str, str],
              errors: dict[str, str], status: int = 200) -> Response:
    fmt = pages.formatter(request)
    return pages.render(request, "declaration_form.html", status=status, user=who,
                         form=form, errors=errors, units=UNITS,
                         gate_options=[(g.code, fmt.name(g.name)) for g in network.gates],
                         vehicle_types=VEHICLE_TYPES, document_types=DOCUMENT_TYPES,
                         directions=DIRECTIONS, goods_rows=range(GOODS_ROWS))


@router.get("/portal/declarations/new", response_class=HTMLResponse)
def new_declaration(request: Request, ctx: Ctx, db: Db) -> Response:
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    network = networks.in_force(db, ctx.clock.now())
    return _new_form(request, who, network, {"direction": "export"}, {})


@router.post("/portal/declarations/new", response_class=HTMLResponse)
async def submit_declaration(request: Request, ctx: Ctx, db: Db) -> Response:
    """Checked exactly like ``POST /api/v1/declarations``: every bad field is named next to
    it, all at once."""
    form = {k: str(x) for k, x in (await request.form()).items()}
    session.check_csrf(request, form.get("csrf"))
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    document = _form_to_document(form, who.enterprise_tax_code or "")
    try:
        try:
            data = DeclarationIn.model_validate(document)
        except ValidationError as exc:
            raise ValidationFailed(pydantic_fields(exc)) from None
        row = declarations.create(db, data, actor=who, now=now, network=network,
                                  holidays=around(data.requested_date))
    except ValidationFailed as exc:
        db.rollback()
        errors: dict[str, str] = {}
        for f in exc.fields:
            errors.setdefault(f.field, f.reason)
        return _new_form(request, who, network, form, errors, status=422)
    except AppError as exc:
        db.rollback()
        return _new_form(request, who, network, form, {"": exc.message}, status=exc.status_code)
    return RedirectResponse(f"/portal?created={row.reference}", status_code=303)


@router.post("/portal/invoices/{number}/pay")
async def pay_invoice(number: str, request: Request, ctx: Ctx, db: Db) -> Response:
    """Pay online: off to the gateway's payment page."""
    form = await request.form()
    session.check_csrf(request, str(form.get("csrf") or ""))
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    try:
        _attempt, url = start_payment(request, ctx, db, who, number)
    except AppError as exc:
        return pages.message_page(request, exc, exc.status_code, exc.code)
    return RedirectResponse(url, status_code=303)




@router.get("/portal/trips/{reference}", response_class=HTMLResponse)
def portal_trip(reference: str, request: Request, ctx: Ctx, db: Db) -> Response:
    """One of the enterprise's trips: status, steps, place in the queue, fee and timeline."""
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    try:
        row = trips.get(db, reference, actor=who, network=network)  # 404 unless theirs
    except AppError as exc:
        return pages.message_page(request, exc, exc.status_code, exc.code)
    inv = invoices.current(db, row.id)
    return pages.render(request, "portal_trip.html", user=who, trip=row, state=row.state,
                        place=dispatch.place_of(db, network, row, now), invoice=inv,
                        due=invoices.due(db, inv) if inv else 0,
                        timeline=trips.timeline(db, row))


SECTIONS: dict[str, tuple[str, ...]] = {
    "goods": ("hs_code", "description", "quantity", "unit", "net_weight_kg", "value_usd"),
    "vehicles": ("plate", "trailer_plate", "vehicle_type", "payload_tonnes", "container",
                 "driver.name", "driver.document_type", "driver.document_number",
                 "driver.phone", "driver.crosses_border"),
    "quarantine": ("kind", "certificate_number", "issued_by"),
}
"""The lists of a declaration the amend form shows whole, with the fields of each item."""
FLAGS = frozenset({"driver.crosses_border"})
LIMITS = {"goods": MAX_GOODS_LINES, "vehicles": MAX_VEHICLES, "quarantine": MAX_GOODS_LINES}
"""Rows the form shows at most: the API's limits for goods lines and vehicles; as many
quarantine certificates as goods lines (the API sets no limit there)."""
TOP_FIELDS = ("requested_gate", "requested_date", "note")


def _declaration_form(decl: Any) -> dict[str, str]:
    """A stored declaration as the amend form's fields (``goods[0].hs_code``...)."""
    document = declarations.input_document(decl)
    form = {"requested_gate": decl.requested_gate,
            "requested_date": decl.requested_date.isoformat(), "note": decl.note or "",
            "revision": str(decl.revision)}
    for section, names in SECTIONS.items():
        items = document.get(section) or []
        form[f"{section}_count"] = str(len(items))
        for i, item in enumerate(items):
            for name in names:
                value: Any = item
                for part in name.split("."):
                    value = value.get(part) if isinstance(value, dict) else None
                if name in FLAGS:
                    if value:
                        form[f"{section}[{i}].{name}"] = "on"
                elif value is not None:
                    form[f"{section}[{i}].{name}"] = str(value)
    return form


def _count(form: dict[str, str], section: str) -> int:
    try:
        return max(0, min(int(form.get(f"{section}_count") or 0), LIMITS[section]))
    except ValueError:
        return 0


def _kept_rows(form: dict[str, str], section: str) -> list[int]:
    """The form's rows of a section that stay: not marked for removal, and not a row added
    in the form and left empty."""
    kept = []
    for i in range(_count(form, section)):
        if form.get(f"{section}[{i}].remove") == "on":
            continue
        empty = not any((form.get(f"{section}[{i}].{n}") or "").strip()
                        for n in SECTIONS[section] if n not in FLAGS)
        if empty and form.get(f"{section}[{i}].added") == "on":
            continue
        kept.append(i)
    return kept


def _item(form: dict[str, str], section: str, i: int) -> dict[str, Any]:
    """One row of the form as an item of the declaration document (blank fields left out,
    so the API's rules name what is missing)."""
    item: dict[str, Any] = {}
    for name in SECTIONS[section]:
        key = f"{section}[{i}].{name}"
        value: Any = form.get(key) == "on" if name in FLAGS else (form.get(key) or "").strip()
        if value == "":
            continue
        *parents, leaf = name.split(".")
        target = item
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return item


def _amend_patch(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The whole amended document as a merge patch (lists replaced whole, as the API's
    ``PATCH /declarations/{id}``), and for each list which form row each item came from."""
    rows = {section: _kept_rows(form, section) for section in SECTIONS}
    patch: dict[str, Any] = {
        "requested_gate": (form.get("requested_gate") or "").strip(),
        "requested_date": (form.get("requested_date") or "").strip(),
        "note": (form.get("note") or "").strip() or None,
        **{section: [_item(form, section, i) for i in kept] for section, kept in rows.items()},
    }
    return patch, rows


_ITEM_PATH = re.compile(r"^(goods|vehicles|quarantine)\[(\d+)\]")


def _field_errors(fields: list[Any], rows: dict[str, list[int]]) -> dict[str, str]:
    """The API's field errors keyed by the form's field names (item ``k`` of a list is the
    form row it came from)."""
    errors: dict[str, str] = {}
    for f in fields:
        key = f.field
        found = _ITEM_PATH.match(key)
        if found and int(found.group(2)) < len(rows[found.group(1)]):
            key = f"{found.group(1)}[{rows[found.group(1)][int(found.group(2))]}]" \
                  f"{key[found.end():]}"
        errors.setdefault(key, f.reason)
    return errors


def _amend_form(request: Request, who: Principal, network: Any, decl: Any,
                form: dict[str, str], errors: dict[str, str], status: int = 200,
                focus: str = "") -> Response:
    fmt = pages.formatter(request)
    counts = {section: _count(form, section) for section in SECTIONS}
    shown = {*TOP_FIELDS, *SECTIONS} | {
        f"{section}[{i}].{name}" for section, names in SECTIONS.items()
        for i in range(counts[section]) for name in names}
    return pages.render(request, "declaration_amend.html", status=status, user=who,
                        decl=decl, form=form, errors=errors, counts=counts, limits=LIMITS,
                        focus=focus, other_errors={k: v for k, v in errors.items()
                                                   if k and k not in shown},
                        gate_options=[(g.code, fmt.name(g.name)) for g in network.gates],
                        units=UNITS, vehicle_types=VEHICLE_TYPES,
                        document_types=DOCUMENT_TYPES, containers=CONTAINERS)


@router.get("/portal/declarations/{reference}/amend", response_class=HTMLResponse)
def amend_page(reference: str, request: Request, ctx: Ctx, db: Db) -> Response:
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    network = networks.in_force(db, ctx.clock.now())
    try:
        decl = declarations.get(db, reference, actor=who, network=network)
    except AppError as exc:
        return pages.message_page(request, exc, exc.status_code, exc.code)
    return _amend_form(request, who, network, decl, _declaration_form(decl), {})


@router.post("/portal/declarations/{reference}/amend", response_class=HTMLResponse)
async def amend_declaration(reference: str, request: Request, ctx: Ctx, db: Db) -> Response:
    """The date, gate, note and every goods line, vehicle (with its driver) and quarantine
    certificate, added or removed, checked like ``PATCH /api/v1/declarations/{id}`` in one
    change (all or nothing); the trips follow. A change made meanwhile by someone else is
    refused (the revision the form was filled from). "Add a ..." shows the form again with
    one more empty row and saves nothing."""
    form = {k: str(x) for k, x in (await request.form()).items()}
    session.check_csrf(request, form.get("csrf"))
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    try:
        decl = declarations.get(db, reference, actor=who, network=network)
    except AppError as exc:
        return pages.message_page(request, exc, exc.status_code, exc.code)
    section = form.get("add", "")
    if section in SECTIONS:
        n = _count(form, section)
        if n < LIMITS[section]:
            form[f"{section}_count"] = str(n + 1)
            form[f"{section}[{n}].added"] = "on"
        return _amend_form(request, who, network, decl, form, {},
                           focus=f"{section}[{n}].{SECTIONS[section][0]}")
    patch, rows = _amend_patch(form)
    try:
        revision = int(form.get("revision") or decl.revision)
        decl = declarations.amend(db, decl.id, patch, actor=who, now=now, network=network,
                                  holidays=around(now.date()), if_match=revision)
    except ValidationFailed as exc:
        db.rollback()
        return _amend_form(request, who, network, decl, form,
                           _field_errors(exc.fields, rows) or {"": exc.message}, status=422)
    except (AppError, ValueError) as exc:
        db.rollback()
        message = exc.message if isinstance(exc, AppError) else N_("The form is out of date.")
        return pages.render(request, "message.html",
                            status=exc.status_code if isinstance(exc, AppError) else 400,
                            message=message)
    return RedirectResponse(f"/portal?created={decl.reference}", status_code=303)
