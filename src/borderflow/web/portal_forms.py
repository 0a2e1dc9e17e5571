"""The enterprise's declaration forms: declare a trip, amend a declaration."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, timedelta
from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.clock import LOCAL_TZ
from borderflow.declaration import service as declarations
from borderflow.declaration.schemas import Unit
from borderflow.domain.access import Principal
from borderflow.domain.declaration import (
    DIRECTIONS,
    MAX_DAYS_AHEAD,
    MAX_GOODS_LINES,
    MAX_VEHICLES,
    Container,
    DeclarationWarning,
    VehicleType,
)
from borderflow.domain.network import Network
from borderflow.domain.values import DocumentType
from borderflow.errors import N_, AppError, FieldError
from borderflow.jsondoc import merge_patch
from borderflow.network import service as networks
from borderflow.network.holidays import around
from borderflow.web import i18n, pages, session
from borderflow.web.portal import _enterprise, _portal_page

router = APIRouter(include_in_schema=False)
UNITS = get_args(Unit)
VEHICLE_TYPES = get_args(VehicleType)
DOCUMENT_TYPES = get_args(DocumentType)
CONTAINERS = get_args(Container)
QUARANTINE_KINDS = ("plant", "animal")

NUMBERS = {"quantity": 3, "net_weight_kg": 0, "value_usd": 2, "payload_tonnes": 2}
"""The number fields of a declaration form (the last part of their names) and the decimals
each may have; read in the page's locale."""

FIELD_NAMES = {
    "direction": N_("Customs regime"), "flow": N_("Direction at the gate (other regimes)"),
    "requested_gate": N_("Gate"), "requested_date": N_("Date"), "note": N_("Note"),
    "enterprise.name": N_("Enterprise name"), "enterprise.tax_code": N_("Tax code"),
    "customs_agent_tax_code": N_("Customs agent's tax code"), "goods": N_("Goods"),
    "vehicles": N_("Vehicles and drivers"), "quarantine": N_("Quarantine"),
}
"""What a form calls a field whose error cannot be shown next to it."""
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
_ITEM_PATH = re.compile(r"^(goods|vehicles|quarantine)\[(\d+)\]")
ROW_TITLES = {"goods": N_("Goods line"), "vehicles": N_("Vehicle"),
              "quarantine": N_("Certificate")}
"""What a form calls a row of each list (with its number)."""
FIELD_LABELS = {
    "hs_code": N_("HS code"), "description": N_("Description"), "quantity": N_("Quantity"),
    "unit": N_("Unit"), "net_weight_kg": N_("Net weight (kg)"), "value_usd": N_("Value (USD)"),
    "plate": N_("Plate"), "trailer_plate": N_("Trailer plate"),
    "vehicle_type": N_("Vehicle type"), "payload_tonnes": N_("Payload (t)"),
    "container": N_("Container"), "driver.name": N_("Driver's name"),
    "driver.document_type": N_("Identity document"),
    "driver.document_number": N_("Document number"), "driver.phone": N_("Driver's phone"),
    "kind": N_("Kind"), "certificate_number": N_("Certificate number"),
    "issued_by": N_("Issued by"),
}
"""The labels of a row's fields (the last part of their names), for the list of errors."""
CONFIRM = "figures_checked"
"""The checkbox saying the declarant has checked the figures the warnings are about."""


def _read_numbers(fmt: i18n.Formatter, form: dict[str, str]
                  ) -> tuple[dict[str, str], list[FieldError]]:
    """The form with every number field read in the page's locale and written as the API
    reads it (``1.200`` on a Vietnamese page -> ``1200``); a number that cannot be read is
    left out and said why, at its field."""
    out = dict(form)
    problems: list[FieldError] = []
    for key, raw in form.items():
        places = NUMBERS.get(key.rsplit(".", 1)[-1])
        if places is None or not raw.strip():
            continue
        try:
            out[key] = i18n.canonical(fmt.parse_number(raw, places=places)) or ""
        except i18n.NumberInputError as exc:
            out[key] = ""
            problems.append(FieldError(key, exc.text))
    return out, problems


def _form_to_document(form: dict[str, str], tax_code: str,
                      typed: dict[str, str] | None = None
                      ) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The new declaration form's fields as a declaration document (the API's JSON shape),
    and for each list which form row each item came from. A row is in it when anything was
    typed in it (``typed``: the form as sent, before its numbers were read) and it is not
    marked for removal."""
    def v(name: str) -> str | None:
        value = (form.get(name) or "").strip()
        return value or None

    typed = typed if typed is not None else form
    rows = {section: _new_rows(typed, section) for section in NEW_SECTIONS}
    rows["quarantine"] = [0] if v("quarantine[0].certificate_number") else []
    doc: dict[str, Any] = {
        "direction": v("direction"), "requested_gate": v("requested_gate"),
        "requested_date": v("requested_date"),
        "enterprise": {"tax_code": tax_code, "name": v("enterprise.name")},
        **{section: [_item(form, section, i) for i in rows[section]]
           for section in NEW_SECTIONS},
    }
    if v("flow"):
        doc["flow"] = v("flow")
    if rows["quarantine"]:
        doc["quarantine"] = [{"kind": v("quarantine[0].kind") or "plant",
                              "certificate_number": v("quarantine[0].certificate_number")}]
    return {k: x for k, x in doc.items() if x is not None}, rows


def _fingerprint(checked: declarations.Checked) -> str:
    """What the declarant confirms: the declaration as read and the warnings about it. Any
    change to the figures makes another fingerprint, and the warnings are shown again."""
    data = checked.data.model_dump(mode="json") if checked.data is not None else None
    text = json.dumps([data, [w.as_dict() for w in checked.warnings]], sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _confirmed(form: dict[str, str], checked: declarations.Checked) -> bool:
    return form.get(CONFIRM) == "on" and form.get("figures") == _fingerprint(checked)


def _warnings(fmt: i18n.Formatter, warnings: list[DeclarationWarning],
              key: Any = None) -> dict[str, str]:
    """The warnings by the form field they are about, in the page's language."""
    out: dict[str, str] = {}
    for w in warnings:
        field = key(w.field) if key is not None else w.field
        text = fmt.message(w.message, "validation_failed")
        out[field] = f"{out[field]} {text}" if field in out else text
    return out


def _first(order: list[str], *found: dict[str, str]) -> str:
    """The first field of the form (in the form's order) that has something to say."""
    keys = {k for d in found for k in d}
    return next((name for name in order if name in keys), order[0] if order else "")


# --- the gate and date choices ------------------------------------------------------------------


def _gate_choices(fmt: i18n.Formatter, network: Network, today: date) -> list[dict[str, Any]]:
    """Each gate with what the form's script needs to offer it only where it can be valid:
    the directions it takes, the goods groups it permits, its closed days in the next
    :data:`MAX_DAYS_AHEAD` days (shown next to the date)."""
    holidays = around(today)
    out = []
    for gate in network.gates:
        calendar = network.calendar(gate.calendar)
        closed = [today + timedelta(days=n) for n in range(MAX_DAYS_AHEAD + 1)
                  if calendar is not None
                  and calendar.hours_on(today + timedelta(days=n), holidays).is_closed]
        out.append({
            "code": gate.code, "name": fmt.name(gate.name), "flows": " ".join(gate.directions),
            "groups": " ".join(gate.goods),
            "closed": [d.isoformat() for d in closed],
            "closed_text": fmt.listing([fmt.date(d) for d in closed]) if closed else "",
        })
    return out


def _hs_groups(network: Network) -> str:
    """HS prefix -> goods group, for the script to find the group of a typed HS code."""
    return json.dumps({p: g.code for g in network.goods for p in g.hs}, separators=(",", ":"))


def _choices(fmt: i18n.Formatter, network: Network, today: date) -> dict[str, Any]:
    """The options of the declaration forms, as labels in the page's language."""
    return {
        "directions": [(d, fmt.label("direction", d)) for d in DIRECTIONS],
        "flows": [(f, fmt.label("direction", f)) for f in ("export", "import")],
        "units": [(u, fmt.label("unit", u)) for u in UNITS],
        "vehicle_types": [(v, fmt.label("vehicle_type", v)) for v in VEHICLE_TYPES],
        "document_types": [(d, fmt.label("document_type", d)) for d in DOCUMENT_TYPES],
        "containers": [(c, fmt.label("container", c)) for c in CONTAINERS],
        "quarantine_kinds": [(q, fmt.label("quarantine_kind", q)) for q in QUARANTINE_KINDS],
        "gates": _gate_choices(fmt, network, today),
        "hs_groups": _hs_groups(network),
        "min_date": today.isoformat(),
        "max_date": (today + timedelta(days=MAX_DAYS_AHEAD)).isoformat(),
        "field_names": {k: fmt.gettext(v) for k, v in FIELD_NAMES.items()},
    }


# --- a new declaration ------------------------------------------------------------------------

NEW_SECTIONS = ("goods", "vehicles")
"""The lists of the new declaration form with as many rows as the declarant adds."""
NEW_ROWS = {"goods": 3, "vehicles": 1}
"""The rows an empty new declaration form shows."""
TYPED = {"goods": ("hs_code", "description", "quantity", "unit", "net_weight_kg", "value_usd"),
         "vehicles": ("plate", "trailer_plate", "payload_tonnes", "driver.name",
                      "driver.document_number", "driver.phone")}
"""The fields of a row that, typed in, put the row in the declaration (lists with a
preselected choice alone do not)."""
TOP_NEW = ("direction", "flow", "requested_gate", "requested_date", "enterprise.name")


def _new_count(form: dict[str, str], section: str) -> int:
    """The rows of a list the form has: its ``<list>_count``, else as many as the fields sent
    name (a form sent by a client that does not count them), at least the empty form's."""
    raw = form.get(f"{section}_count")
    if raw is None:
        seen = [int(m.group(2)) for k in form
                if (m := _ITEM_PATH.match(k)) is not None and m.group(1) == section]
        n = max(max(seen, default=-1) + 1, NEW_ROWS[section])
    else:
        try:
            n = int(raw)
        except ValueError:
            n = NEW_ROWS[section]
    return max(1, min(n, LIMITS[section]))


def _new_rows(form: dict[str, str], section: str) -> list[int]:
    """The rows of a list that go into the declaration: something typed in them and not
    marked for removal. With no vehicle typed at all, the first row still goes in, so what is
    missing is named at its fields."""
    rows = [i for i in range(_new_count(form, section))
            if form.get(f"{section}[{i}].remove") != "on"]
    filled = [i for i in rows
              if any((form.get(f"{section}[{i}].{n}") or "").strip() for n in TYPED[section])]
    return filled if filled or section == "goods" else rows[:1]


def _compact(form: dict[str, str], section: str) -> dict[str, str]:
    """The form without the rows of a list marked for removal, the others renumbered in
    order (what was typed in them kept)."""
    count = _new_count(form, section)
    kept = [i for i in range(count) if form.get(f"{section}[{i}].remove") != "on"]
    out = {k: x for k, x in form.items()
           if (m := _ITEM_PATH.match(k)) is None or m.group(1) != section}
    for new, old in enumerate(kept):
        prefix = f"{section}[{old}]."
        for key, value in form.items():
            if key.startswith(prefix) and key != f"{prefix}remove":
                out[f"{section}[{new}].{key[len(prefix):]}"] = value
    out[f"{section}_count"] = str(max(1, len(kept)))
    return out


def _new_order(counts: dict[str, int]) -> list[str]:
    """The new declaration form's fields in the order they are shown."""
    order = list(TOP_NEW)
    for section in NEW_SECTIONS:
        order += [f"{section}[{i}].{n}" for i in range(counts[section])
                  for n in SECTIONS[section] if n not in FLAGS]
        order.append(section)
    return [*order, "quarantine[0].kind", "quarantine[0].certificate_number", "quarantine"]


def _summary(fmt: i18n.Formatter, errors: dict[str, str], order: list[str]
             ) -> list[tuple[str, str]]:
    """Every error of the form, in the form's order, each naming its row and field
    ("Goods line 4, Net weight (kg): ..."), with the field it links to."""
    out = []
    for key in [*(k for k in order if k in errors), *(k for k in errors if k not in order)]:
        found = _ITEM_PATH.match(key)
        label = FIELD_LABELS.get(key[found.end() + 1:]) if found else None
        if found and label:
            row = f"{fmt.gettext(ROW_TITLES[found.group(1)])} {int(found.group(2)) + 1}"
            text = fmt.gettext(N_("{row}, {field}: {reason}")).format(
                row=row, field=fmt.gettext(label), reason=errors[key])
        elif key in FIELD_NAMES:
            text = f"{fmt.gettext(FIELD_NAMES[key])}: {errors[key]}"
        else:
            text = errors[key]
        out.append((key if key in order else "", text))
    return out


def _new_form(request: Request, who: Any, network: Network, today: date,
              form: dict[str, str], errors: dict[str, str], status: int = 200, *,
              warnings: dict[str, str] | None = None, figures: str = "",
              focus: str = "") -> Response:
    fmt = pages.formatter(request)
    warnings = warnings or {}
    counts = {section: _new_count(form, section) for section in NEW_SECTIONS}
    order = _new_order(counts)
    return pages.render(request, "declaration_form.html", status=status, user=who,
                        form=form, errors=errors, warnings=warnings, figures=figures,
                        confirm=CONFIRM, counts=counts, limits=LIMITS,
                        focus=focus or _first(order, errors, warnings),
                        summary=_summary(fmt, errors, order),
                        other_warnings={k: x for k, x in warnings.items() if k not in order},
                        **_choices(fmt, network, today))


def _today(ctx: Ctx) -> date:
    return ctx.clock.now().astimezone(LOCAL_TZ).date()


@router.get("/portal/declarations/new", response_class=HTMLResponse)
def new_declaration(request: Request, ctx: Ctx, db: Db) -> Response:
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    network = networks.in_force(db, ctx.clock.now())
    return _new_form(request, who, network, _today(ctx), {"direction": "export"}, {})


@router.post("/portal/declarations/new", response_class=HTMLResponse)
async def submit_declaration(request: Request, ctx: Ctx, db: Db) -> Response:
    """Checked like ``POST /api/v1/declarations``, in one round: every bad field and every
    network rule the rest breaks, each next to its field. Implausible figures are shown as
    warnings, and the declaration is stored only once the declarant confirms them."""
    form = {k: str(x) for k, x in (await request.form()).items()}
    session.check_csrf(request, form.get("csrf"))
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = pages.formatter(request)
    now = ctx.clock.now()
    today = _today(ctx)
    network = networks.in_force(db, now)
    section = form.get("add", "")
    if section in NEW_SECTIONS:
        for each in NEW_SECTIONS:
            form = _compact(form, each)
        n = _new_count(form, section)
        if n < LIMITS[section]:
            form[f"{section}_count"] = str(n + 1)
        return _new_form(request, who, network, today, form, {},
                         focus=f"{section}[{n}].{SECTIONS[section][0]}")
    numbers, unreadable = _read_numbers(fmt, form)
    document, rows = _form_to_document(numbers, who.enterprise_tax_code or "", form)
    checked = declarations.check_document(document, network=network, now=now,
                                          holidays=around(today))
    if unreadable or checked.errors or checked.data is None:
        errors = _field_errors(fmt, checked.errors, rows) | fmt.field_errors(unreadable)
        return _new_form(request, who, network, today, form, errors, status=422)
    if checked.warnings and not _confirmed(form, checked):
        return _new_form(request, who, network, today, {**form, CONFIRM: ""}, {},
                         warnings=_warnings(fmt, checked.warnings,
                                            lambda k: _form_key(k, rows)),
                         figures=_fingerprint(checked))
    try:
        row = declarations.create(db, checked.data, actor=who, now=now, network=network,
                                  holidays=around(checked.data.requested_date))
    except AppError as exc:
        db.rollback()
        errors = (_field_errors(fmt, exc.fields, rows) if exc.fields
                  else {"": fmt.error(exc)})
        return _new_form(request, who, network, today, form, errors, status=exc.status_code)
    return RedirectResponse(f"/portal?created={row.reference}", status_code=303)


# --- amending a declaration ---------------------------------------------------------------------

TOP_FIELDS = ("requested_gate", "requested_date", "note")


def _declaration_form(fmt: i18n.Formatter, decl: Any) -> dict[str, str]:
    """A stored declaration as the amend form's fields (``goods[0].hs_code``...), numbers
    written in the page's locale."""
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
                elif value is not None and name in NUMBERS:
                    form[f"{section}[{i}].{name}"] = fmt.number_input(value, NUMBERS[name])
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


def _amend_patch(form: dict[str, str], typed: dict[str, str] | None = None
                 ) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The whole amended document as a merge patch (lists replaced whole, as the API's
    ``PATCH /declarations/{id}``), and for each list which form row each item came from.
    ``typed`` is the form as sent (rows are kept or dropped by what was typed there)."""
    rows = {section: _kept_rows(typed or form, section) for section in SECTIONS}
    patch: dict[str, Any] = {
        "requested_gate": (form.get("requested_gate") or "").strip(),
        "requested_date": (form.get("requested_date") or "").strip(),
        "note": (form.get("note") or "").strip() or None,
        **{section: [_item(form, section, i) for i in kept] for section, kept in rows.items()},
    }
    return patch, rows




def _form_key(key: str, rows: dict[str, list[int]]) -> str:
    """A path of the document as the form's field name (item ``k`` of a list is the form
    row it came from)."""
    found = _ITEM_PATH.match(key)
    if found and int(found.group(2)) < len(rows[found.group(1)]):
        return f"{found.group(1)}[{rows[found.group(1)][int(found.group(2))]}]" \
               f"{key[found.end():]}"
    return key


def _field_errors(fmt: i18n.Formatter, fields: list[FieldError], rows: dict[str, list[int]]
                  ) -> dict[str, str]:
    """The API's field errors keyed by the form's field names, in the page's language."""
    return fmt.field_errors([FieldError(_form_key(f.field, rows), f.reason) for f in fields])


def _amend_order(counts: dict[str, int]) -> list[str]:
    order = list(TOP_FIELDS)
    for section, names in SECTIONS.items():
        order.append(section)
        order += [f"{section}[{i}].{n}" for i in range(counts[section]) for n in names
                  if n not in FLAGS]
    return order


def _amend_form(request: Request, who: Principal, network: Network, today: date, decl: Any,
                form: dict[str, str], errors: dict[str, str], status: int = 200,
                focus: str = "", *, warnings: dict[str, str] | None = None, figures: str = "",
                notice: str = "") -> Response:
    fmt = pages.formatter(request)
    warnings = warnings or {}
    counts = {section: _count(form, section) for section in SECTIONS}
    order = _amend_order(counts)
    shown = set(order)
    return pages.render(request, "declaration_amend.html", status=status, user=who,
                        decl=decl, form=form, errors=errors, counts=counts, limits=LIMITS,
                        warnings=warnings, figures=figures, confirm=CONFIRM, notice=notice,
                        focus=focus or _first(order, errors, warnings),
                        other_errors={k: v for k, v in errors.items() if k and k not in shown},
                        other_warnings={k: v for k, v in warnings.items() if k not in shown},
                        flow=decl.flow, **_choices(fmt, network, today))


@router.get("/portal/declarations/{reference}/amend", response_class=HTMLResponse)
def amend_page(reference: str, request: Request, ctx: Ctx, db: Db) -> Response:
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    network = networks.in_force(db, ctx.clock.now())
    fmt = pages.formatter(request)
    try:
        decl = declarations.get(db, reference, actor=who, network=network)
    except AppError as exc:
        return _portal_page(request, ctx, db, who, error=fmt.error(exc), status=exc.status_code)
    return _amend_form(request, who, network, _today(ctx), decl, _declaration_form(fmt, decl),
                       {})


@router.post("/portal/declarations/{reference}/amend", response_class=HTMLResponse)
async def amend_declaration(reference: str, request: Request, ctx: Ctx, db: Db) -> Response:
    """The date, gate, note and every goods line, vehicle (with its driver) and quarantine
    certificate, added or removed, checked like ``PATCH /api/v1/declarations/{id}`` in one
    change (all or nothing) and in one round; the trips follow. Implausible figures are
    confirmed first, as in a new declaration. A change made meanwhile by someone else is
    refused (the revision the form was filled from) and the form shown again with what was
    typed. "Add a ..." shows the form again with one more empty row and saves nothing."""
    form = {k: str(x) for k, x in (await request.form()).items()}
    session.check_csrf(request, form.get("csrf"))
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    today = _today(ctx)
    fmt = pages.formatter(request)
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    try:
        decl = declarations.get(db, reference, actor=who, network=network)
    except AppError as exc:
        return _portal_page(request, ctx, db, who, error=fmt.error(exc), status=exc.status_code)
    section = form.get("add", "")
    if section in SECTIONS:
        n = _count(form, section)
        if n < LIMITS[section]:
            form[f"{section}_count"] = str(n + 1)
            form[f"{section}[{n}].added"] = "on"
        return _amend_form(request, who, network, today, decl, form, {},
                           focus=f"{section}[{n}].{SECTIONS[section][0]}")
    numbers, unreadable = _read_numbers(fmt, form)
    patch, rows = _amend_patch(numbers, form)
    try:
        revision = int(form.get("revision") or decl.revision)
    except ValueError:
        revision = decl.revision
    checked = declarations.check_document(
        merge_patch(declarations.input_document(decl), patch), network=network, now=now,
        holidays=around(today))
    if unreadable or checked.errors:
        errors = _field_errors(fmt, checked.errors, rows) | fmt.field_errors(unreadable)
        return _amend_form(request, who, network, today, decl, form, errors, status=422)
    if checked.warnings and not _confirmed(form, checked):
        return _amend_form(request, who, network, today, decl, {**form, CONFIRM: ""}, {},
                           warnings=_warnings(fmt, checked.warnings,
                                              lambda k: _form_key(k, rows)),
                           figures=_fingerprint(checked))
    try:
        decl = declarations.amend(db, decl.id, patch, actor=who, now=now, network=network,
                                  holidays=around(today), if_match=revision)
    except AppError as exc:
        db.rollback()
        if exc.status_code == 412:
            return _stale(request, ctx, db, who, network, reference, form, fmt.error(exc))
        if exc.fields:
            return _amend_form(request, who, network, today, decl, form,
                               _field_errors(fmt, exc.fields, rows), status=exc.status_code)
        return _portal_page(request, ctx, db, who, error=fmt.error(exc), status=exc.status_code)
    return RedirectResponse(f"/portal?created={decl.reference}", status_code=303)


def _stale(request: Request, ctx: Ctx, db: Db, who: Principal, network: Network,
           reference: str, form: dict[str, str], message: str) -> Response:
    """Someone changed the declaration since the form was filled: the form again with what
    was typed and the message on top, with a link to the current version; saving again
    replaces the other change (the revision is now the current one)."""
    fmt = pages.formatter(request)
    try:
        decl = declarations.get(db, reference, actor=who, network=network)
    except AppError as exc:
        return _portal_page(request, ctx, db, who, error=fmt.error(exc), status=exc.status_code)
    notice = fmt.gettext(N_("Your changes below are kept but not saved. Open the current "
                            "version to see what was changed, or save again to replace it "
                            "with yours."))
    return _amend_form(request, who, network, _today(ctx), decl,
                       {**form, "revision": str(decl.revision)}, {"": message}, status=412,
                       notice=notice)
