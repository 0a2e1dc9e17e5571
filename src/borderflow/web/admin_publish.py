"""The admin's pages that publish a new reference network or fee schedule: the document is
edited (the network as YAML or JSON, typed or uploaded; the fees rate by rate, or as a whole
document), checked, and its changes against the version in force shown BEFORE it is
published; the admin then confirms. Invalid documents name each field and why. Role: admin."""

from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.clock import LOCAL_TZ
from borderflow.domain import network_diff
from borderflow.domain.access import Principal
from borderflow.domain.network_diff import Change, Entry, EntryChange
from borderflow.errors import N_, AppError, FieldError, ValidationFailed, msg
from borderflow.fees import tariffs
from borderflow.network import service as networks
from borderflow.web import i18n
from borderflow.web.admin import admin_only, page, problems, refused_form
from borderflow.web.pages import formatter

router = APIRouter(include_in_schema=False)

MAX_DOCUMENT = 2 * 1024 * 1024
SECTIONS = {"gates": N_("Gate"), "staging_areas": N_("Staging area"),
            "calendars": N_("Calendar"), "corridors": N_("Corridor"),
            "goods": N_("Goods group"), "procedures": N_("Procedure"),
            "reason_codes": N_("Reason"), "yards": N_("Yard"), "capacity": N_("Capacity"),
            "vehicle_categories": N_("Vehicle category"), "goods_classes": N_("Goods class"),
            "multipliers": N_("Multiplier"), "steps": N_("Step")}
"""What a section's entries are called on the preview."""
FIELDS = {"vehicles_per_hour": N_("Vehicles per hour"), "lanes": N_("Lanes"),
          "capacity": N_("Capacity"), "open": N_("Opens"), "close": N_("Closes"),
          "name": N_("Name"), "breaks": N_("Breaks"), "regular": N_("Regular hours"),
          "extended": N_("Extended hours"), "exceptions": N_("Exceptions"),
          "holidays": N_("Public holidays"), "days": N_("Days"), "calendar": N_("Calendar"),
          "goods": N_("Goods"), "directions": N_("Directions"), "version": N_("Version"),
          "procedure": N_("Procedure"), "percent": N_("Percent"), "title": N_("Title"),
          "operator": N_("Operator"), "vehicles_per_day": N_("Vehicles per day"),
          "area": N_("Area"), "location": N_("Location"), "regulation": N_("Regulation"),
          "transshipment": N_("Transshipment"), "staging_area": N_("Staging area"),
          "notes": N_("Notes"), "legal_basis": N_("Legal basis"), "when": N_("Applies when"),
          "effective_from": N_("In force from"), "effective_to": N_("In force until")}
"""Names of the fields people change most; others are shown as written in the file."""
DONE = {"published": N_("Published: the new version is in force."),
        "unchanged": N_("This version is in force already: nothing was published again.")}


# --- the changes as people read them -----------------------------------------------------------


def _value(fmt: i18n.Formatter, value: Any) -> dict[str, Any]:
    """A value of the document as the page shows it (``plain``: as written in the file)."""
    if value is None:
        return {"text": "—", "plain": False}
    if isinstance(value, bool):
        return {"text": fmt.gettext(N_("yes") if value else N_("no")), "plain": False}
    if isinstance(value, int | float | Decimal):
        return {"text": fmt.number(value), "plain": False}
    if isinstance(value, dict) and set(value) <= {"vi", "en", "zh"} and value:
        return {"text": str(value.get(fmt.lang) or value.get("en") or next(iter(
            value.values()))), "plain": True}
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return {"text": text if len(text) <= 240 else text[:239] + "…", "plain": True}


def _at(document: Any, entries: tuple[Entry, ...], section_path: tuple[Any, ...]) -> Any:
    """The entry a change is about, in a document (None when it is not there)."""
    node = document
    try:
        for step in section_path:
            if isinstance(step, Entry):
                node = next(i for i in node if i.get(step.key) == step.name)
            else:
                node = node[step]
    except (KeyError, StopIteration, TypeError, IndexError):
        return None
    return node


def _title(fmt: i18n.Formatter, path: tuple[Any, ...], old: Any, new: Any) -> list[dict[str, Any]]:
    """Where an entry is: each section's word and the entry's own name (from the document,
    else its code)."""
    out = []
    for i, step in enumerate(path):
        if not isinstance(step, Entry):
            continue
        section = path[i - 1] if i and isinstance(path[i - 1], str) else ""
        word = fmt.gettext(SECTIONS[section]) if section in SECTIONS else ""
        if step.key == "direction":
            out.append({"word": word, "name": fmt.label("direction", step.name),
                        "plain": False})
            continue
        node = _at(new, (), path[:i + 1]) or _at(old, (), path[:i + 1]) or {}
        names = node.get("name") if isinstance(node, dict) else None
        shown = _value(fmt, names)["text"] if isinstance(names, dict) else step.name
        out.append({"word": word, "name": shown, "plain": True})
    return out


def _field_name(fmt: i18n.Formatter, path: tuple[Any, ...]) -> dict[str, Any]:
    """A field's name: the words of the fields people change most (``Regular hours 1 ·
    Closes``), else its path as written in the file."""
    words = []
    for step in path:
        if isinstance(step, int):
            words.append(fmt.number(step + 1))
        elif isinstance(step, str) and step in FIELDS:
            words.append(fmt.gettext(FIELDS[step]))
        else:
            parts = [p.name if isinstance(p, Entry) else str(p) for p in path]
            return {"text": ".".join(parts), "plain": True}
    return {"text": " · ".join(words), "plain": False}


def describe(fmt: i18n.Formatter, changes: list[Change], old: Any, new: Any
             ) -> list[dict[str, Any]]:
    """The changes grouped by entry, each with where it is, what happened and its fields'
    old and new values, for the preview."""
    out = []
    for group in network_diff.by_entry(changes):
        path = _group_path(group, changes)
        out.append({
            "where": _title(fmt, path, old, new), "kind": group.kind,
            "fields": [{"name": _field_name(fmt, f.path), "kind": f.kind,
                        "old": _value(fmt, f.old), "new": _value(fmt, f.new)}
                       for f in group.fields],
        })
    return out


def _group_path(group: EntryChange, changes: list[Change]) -> tuple[Any, ...]:
    """The path of a group's entry (up to its last named entry)."""
    if not group.entries:
        return ()
    for c in changes:
        if group.entries[-1] in c.path:
            cut = c.path.index(group.entries[-1]) + 1
            if tuple(s for s in c.path[:cut] if isinstance(s, Entry)) == group.entries:
                return c.path[:cut]
    return ()


def _errors(request: Request, exc: AppError) -> tuple[str, list[dict[str, str]]]:
    """A refused document: the message and each field path with its reason, in the page's
    language."""
    fmt = formatter(request)
    return fmt.error(exc), [{"field": f.field, "reason": fmt.message(f.reason,
                                                                      "validation_failed")}
                            for f in exc.fields]


async def _text(document: str, file: UploadFile | None) -> str:
    if file is not None and file.filename:
        data = await file.read(MAX_DOCUMENT + 1)
        if len(data) > MAX_DOCUMENT:
            raise ValidationFailed([FieldError("file", msg("a document is at most 2 MiB"))])
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed([FieldError("file", msg(
                "is not a text file in UTF-8"))]) from None
    return document


# --- the network ---------------------------------------------------------------------------


def _network_view(request: Request, ctx: Ctx, db: Db, who: Principal, *, status: int = 200,
                  document: str | None = None, note: str = "", notice: str | None = None,
                  error: str | None = None, fields: list[dict[str, str]] | None = None,
                  seen: networks.Preview | None = None) -> Response:
    row = networks.version_in_force(db, ctx.clock.now())
    if document is None:
        document = networks.to_yaml(networks.network_of(row)) if row is not None else ""
    fmt = formatter(request)
    changes = describe(fmt, seen.changes, seen.base.document if seen and seen.base else {},
                       seen.document) if seen else None
    return page(request, "admin_network.html", who, status=status, row=row,
                document=document, note=note, notice=notice, error=error,
                fields=fields or [], changes=changes, seen=seen,
                base=seen.base.id if seen and seen.base else "")


@router.get("/admin/network", response_class=HTMLResponse)
def network_page(request: Request, ctx: Ctx, db: Db, done: str = "") -> Response:
    """The network in force as a document to edit or replace by a file, to preview and
    publish. Role: admin."""
    who = admin_only(request, ctx, db)
    if isinstance(who, Response):
        return who
    notice = formatter(request).gettext(DONE[done]) if done in DONE else None
    return _network_view(request, ctx, db, who, notice=notice)


@router.post("/admin/network")
async def network_form(
    request: Request, ctx: Ctx, db: Db, csrf: Annotated[str, Form()] = "",
    document: Annotated[str, Form(max_length=MAX_DOCUMENT)] = "",
    file: Annotated[UploadFile | None, File()] = None,
    note: Annotated[str, Form(max_length=500)] = "", base: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "preview",
) -> Response:
    """Preview a network document's changes against the version in force, or publish the
    document previewed (audited; sent again, it publishes nothing more). Role: admin."""
    who = admin_only(request, ctx, db)
    if isinstance(who, Response):
        return who
    stale = refused_form(request, csrf)
    if stale:
        return _network_view(request, ctx, db, who, status=422, document=document, note=note,
                             error=stale)
    now = ctx.clock.now()
    text = document
    try:
        text = await _text(document, file)
        parsed = networks.read_text(text)
        if action == "publish":
            seen_base = int(base) if base.isdigit() else None
            _, created = networks.publish_previewed(db, parsed, seen_base=seen_base, actor=who,
                                                    now=now, note=note.strip())
            done = "published" if created else "unchanged"
            return RedirectResponse(f"/admin/network?done={done}", status_code=303)
        seen = networks.preview(db, parsed, now=now)
    except AppError as exc:
        error, fields = _errors(request, exc)
        return _network_view(request, ctx, db, who, status=exc.status_code, document=text,
                             note=note, error=error, fields=fields)
    return _network_view(request, ctx, db, who, document=text, note=note, seen=seen)


# --- the fee schedule ----------------------------------------------------------------------


def _tomorrow(now: datetime) -> str:
    day = now.astimezone(LOCAL_TZ).date() + timedelta(days=1)
    return datetime.combine(day, time(0)).strftime("%Y-%m-%dT%H:%M")


def _cell(cls: str, cat: str) -> str:
    return f"rate:{cls}:{cat}"


def _fee_field(path: str) -> str:
    """``rates.general.4t-10t`` -> the grid's input ``rate:general:4t-10t``."""
    found = re.fullmatch(r"rates\.([^.]+)\.([^.]+)", path)
    return _cell(found.group(1), found.group(2)) if found else path


def _fee_view(request: Request, ctx: Ctx, db: Db, who: Principal, *, status: int = 200,
              form: dict[str, str] | None = None, notice: str | None = None,
              error: str | None = None, errors: dict[str, str] | None = None,
              fields: list[dict[str, str]] | None = None,
              seen: tariffs.Preview | None = None) -> Response:
    now = ctx.clock.now()
    found = tariffs.in_force_or_none(db, now)
    row = found[0] if found else None
    doc: dict[str, Any] = row.document if row is not None else {}
    fmt = formatter(request)
    values = {"version": "", "effective_from": _tomorrow(now), "note": "", "document": ""}
    for cls, line in (doc.get("rates") or {}).items():
        for cat, amount in line.items():
            values[_cell(cls, cat)] = fmt.number_input(amount)
    values.update(form or {})
    others = describe(fmt, seen.others, doc, seen.document) if seen else None
    shown = {**doc, **(seen.document if seen else {})}  # names of new classes too
    classes = {c["code"]: _value(fmt, c.get("name"))["text"]
               for d in (doc, shown) for c in d.get("goods_classes", [])}
    categories = {c["code"]: _value(fmt, c.get("name"))["text"]
                  for d in (doc, shown) for c in d.get("vehicle_categories", [])}
    return page(request, "admin_fees.html", who, status=status, row=row, doc=doc,
                form=values, cell=_cell, classes=classes, categories=categories,
                notice=notice, error=error, errors=errors or {},
                fields=fields or [], seen=seen, others=others,
                versions=list(reversed(tariffs.versions(db)))[:5])


@router.get("/admin/fees", response_class=HTMLResponse)
def fees_page(request: Request, ctx: Ctx, db: Db, done: str = "") -> Response:
    """The fee schedule in force, its rates to change (or a whole schedule to upload), to
    preview and publish. Role: admin."""
    who = admin_only(request, ctx, db)
    if isinstance(who, Response):
        return who
    notice = formatter(request).gettext(DONE[done]) if done in DONE else None
    return _fee_view(request, ctx, db, who, notice=notice)


def _from_grid(fmt: i18n.Formatter, base: dict[str, Any], form: dict[str, str]
               ) -> dict[str, Any]:
    """The schedule in force with the rates, version and start typed in the grid."""
    problems_found: list[FieldError] = []
    rates: dict[str, dict[str, Any]] = {}
    for cls, line in (base.get("rates") or {}).items():
        rates[cls] = {}
        for cat in line:
            raw = form.get(_cell(cls, cat), "")
            try:
                amount = fmt.parse_number(raw, places=0)
            except i18n.NumberInputError as exc:
                problems_found.append(FieldError(_cell(cls, cat), exc.text))
                continue
            if amount is None:
                problems_found.append(FieldError(_cell(cls, cat), msg("this field is "
                                                                       "required")))
                continue
            rates[cls][cat] = int(amount)
    start = _start(form.get("effective_from", ""), problems_found)
    if not form.get("version", "").strip():
        problems_found.append(FieldError("version", msg("this field is required")))
    if problems_found:
        raise ValidationFailed(problems_found)
    return {**base, "rates": rates, "version": form["version"].strip(),
            "effective_from": start, "effective_to": None}


def _start(raw: str, out: list[FieldError]) -> str | None:
    try:
        local = datetime.strptime(raw.strip(), "%Y-%m-%dT%H:%M")  # noqa: DTZ007 (local)
    except ValueError:
        out.append(FieldError("effective_from", msg("give a date and time")))
        return None
    return local.replace(tzinfo=LOCAL_TZ).isoformat()


@router.post("/admin/fees")
async def fees_form(request: Request, ctx: Ctx, db: Db,
                    file: Annotated[UploadFile | None, File()] = None) -> Response:
    """Preview a fee schedule's changes (each rate old → new) against the one in force, or
    publish the schedule previewed (audited; sent again, it publishes nothing more). Role:
    admin."""
    who = admin_only(request, ctx, db)
    if isinstance(who, Response):
        return who
    sent = await request.form()
    form = {k: v for k, v in sent.items() if isinstance(v, str) and len(v) <= MAX_DOCUMENT}
    stale = refused_form(request, form.get("csrf", ""))
    if stale:
        return _fee_view(request, ctx, db, who, status=422, form=form, error=stale)
    now = ctx.clock.now()
    fmt = formatter(request)
    found = tariffs.in_force_or_none(db, now)
    base = found[0].document if found else {}
    try:
        text = await _text(form.get("document", ""), file)
        document = networks.read_text(text) if text.strip() else _from_grid(fmt, base, form)
        if form.get("action") == "publish":
            _, created = tariffs.publish_previewed(db, document, actor=who, now=now,
                                                     note=form.get("note", "").strip())
            done = "published" if created else "unchanged"
            return RedirectResponse(f"/admin/fees?done={done}", status_code=303)
        seen = tariffs.preview(db, document, now=now)
    except AppError as exc:
        error, errors = problems(request, exc, _fee_field)
        _, fields = _errors(request, exc)
        return _fee_view(request, ctx, db, who, status=exc.status_code, form=form,
                         error=error, errors=errors, fields=fields)
    return _fee_view(request, ctx, db, who, form=form, seen=seen)
