"""An enterprise's team (``/portal/team``, enterprises): its accounts and the drivers it
added; it adds a user of its own tax code or a driver, and disables one. The new person sets
their own password from an SMS invitation (see :mod:`borderflow.account.team`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.account import team
from borderflow.account.endpoints import sms_after_commit
from borderflow.api.deps import Ctx, Db
from borderflow.domain.access import Principal, Role
from borderflow.errors import N_, AppError, ValidationFailed
from borderflow.web import pages

router = APIRouter(include_in_schema=False)

FIELD_NAMES = {"kind": N_("Kind of person"), "username": N_("Username"),
               "display_name": N_("Person's name"), "phone": N_("Phone number"),
               "driver_document": N_("Their driver's document number"),
               "enterprise_tax_code": N_("Tax code")}
DONE = {"added": N_("Added. An SMS tells them how to set their password."),
        "disabled": N_("The account was disabled; its sessions were ended.")}


def _enterprise(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return pages.signed_in(request, ctx, db, lambda p: Role.ENTERPRISE in p.roles
                           and bool(p.enterprise_tax_code), N_("This page is for enterprises."))


def _view(request: Request, db: Db, who: Principal, *, status: int = 200,
          typed: dict[str, str] | None = None, errors: dict[str, str] | None = None,
          error: str | None = None, done: str = "") -> Response:
    fmt = pages.formatter(request)
    return pages.render(
        request, "team.html", status=status, members=team.members(db, who), me=who,
        typed=typed or {"kind": "driver"}, errors=errors or {}, error=error,
        field_names=FIELD_NAMES, notice=fmt.gettext(DONE[done]) if done in DONE else None)


@router.get("/portal/team", response_class=HTMLResponse)
def team_page(request: Request, ctx: Ctx, db: Db, done: str = "") -> Response:
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    return _view(request, db, who, done=done)


@router.post("/portal/team", response_class=HTMLResponse)
def add(request: Request, ctx: Ctx, db: Db, tasks: BackgroundTasks,
        kind: Annotated[Literal["user", "driver"], Form()] = "driver",
        username: Annotated[str, Form(max_length=80)] = "",
        display_name: Annotated[str, Form(max_length=200)] = "",
        phone: Annotated[str, Form(max_length=30)] = "",
        driver_document: Annotated[str, Form(max_length=40)] = "",
        enterprise_tax_code: Annotated[str, Form(max_length=20)] = "",
        csrf: Annotated[str, Form()] = "") -> Response:
    """Add a user of the enterprise's own tax code or a driver."""
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = pages.formatter(request)
    typed = {"kind": kind, "username": username, "display_name": display_name,
             "phone": phone, "driver_document": driver_document,
             "enterprise_tax_code": enterprise_tax_code}
    if not pages.csrf_ok(request, csrf):
        return _view(request, db, who, status=400, typed=typed,
                     error=fmt.gettext(pages.STALE_FORM))
    member = team.Member(kind, username, display_name, phone,
                         driver_document if kind == "driver" else "", fmt.lang,
                         enterprise_tax_code if kind == "user" else "")
    try:
        team.add_member(db, member, actor=who, now=ctx.clock.now())
    except ValidationFailed as exc:
        db.rollback()
        return _view(request, db, who, status=422, typed=typed,
                     errors=fmt.field_errors(exc.fields))
    except AppError as exc:
        db.rollback()
        return _view(request, db, who, status=exc.status_code, typed=typed,
                     error=fmt.error(exc))
    sms_after_commit(request, tasks)
    return RedirectResponse("/portal/team?done=added", status_code=303)


@router.post("/portal/team/{account_id}/disable", response_class=HTMLResponse)
def disable(account_id: int, request: Request, ctx: Ctx, db: Db,
            csrf: Annotated[str, Form()] = "") -> Response:
    who = _enterprise(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = pages.formatter(request)
    if not pages.csrf_ok(request, csrf):
        return _view(request, db, who, status=400, error=fmt.gettext(pages.STALE_FORM))
    try:
        team.disable_member(db, account_id, actor=who, now=ctx.clock.now())
    except AppError as exc:
        db.rollback()
        return _view(request, db, who, status=exc.status_code, error=fmt.error(exc))
    return RedirectResponse("/portal/team?done=disabled", status_code=303)
