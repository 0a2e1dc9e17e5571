"""The admin's account pages: find accounts (search and pages), create one with its roles
and scopes, change them, disable or enable it, reset its second factor. Every change is the
account service's, audited there. Role: admin."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow import audit
from borderflow.account import admin_views, second_factor
from borderflow.account import service as accounts
from borderflow.api.deps import Ctx, Db
from borderflow.domain.access import Principal, Role
from borderflow.errors import N_, AppError, FieldError, ValidationFailed, msg
from borderflow.network import service as networks
from borderflow.web.admin import admin_only, page, problems, refused_form
from borderflow.web.pages import formatter

router = APIRouter(include_in_schema=False)

GIVEN_ROLES = tuple(r for r in Role if r not in (Role.PUBLIC, Role.CAMERA))
"""The roles an admin gives people (cameras get theirs when registered)."""
DONE = {"created": N_("Account created."), "saved": N_("Changes saved."),
        "disabled": N_("Account disabled: its sessions were ended."),
        "enabled": N_("Account enabled."), "reset": N_("Second factor reset: the account "
                                                       "sets up a new one at its next login.")}
ACTIONS = {
    "account.create": N_("Account created"), "account.update": N_("Account changed"),
    "account.roles_change": N_("Roles or scopes changed"),
    "account.password_change": N_("Password changed"), "account.disable": N_("Disabled"),
    "mfa.reset": N_("Second factor reset"), "mfa.enrol": N_("Second factor set up"),
    "auth.login": N_("Logged in"), "auth.login_failed": N_("Login refused"),
    "session.revoke": N_("Session ended"), "api_key.create": N_("API key issued"),
}
"""What each audited act on an account is called on its page."""
FORM_FIELDS = ("username", "display_name", "password", "enterprise_tax_code",
               "driver_document")


def _field(path: str) -> str:
    """``gate_scope[1]`` -> ``gate_scope``: the form's input for a service's field path."""
    return re.sub(r"\[\d+\]$", "", path)


def _choices(db: Db, now: datetime) -> dict[str, Any]:
    """What the form offers: the roles, the gates and the yards and parks to scope to."""
    network = networks.in_force_or_none(db, now)
    gates = [g.code for g in network.gates] if network else []
    yards = ([(y.code, "yard") for g in network.gates for y in g.yards]
             + [(s.code, "park") for s in network.staging_areas]) if network else []
    return {"roles": [r.value for r in GIVEN_ROLES], "gates": gates, "yards": yards}


def _roles(values: list[str]) -> tuple[Role, ...]:
    return tuple(Role(v) for v in values if v in {r.value for r in GIVEN_ROLES})


def _list_view(request: Request, ctx: Ctx, db: Db, who: Principal, *, q: str = "",
               number: int = 1, status: int = 200, notice: str | None = None,
               error: str | None = None, form: dict[str, Any] | None = None,
               errors: dict[str, str] | None = None) -> Response:
    found = admin_views.accounts_page(db, query=q, page=number)
    blank: dict[str, Any] = dict.fromkeys(FORM_FIELDS, "")
    blank.update(roles=[], gate_scope=[], yard_scope=[])
    return page(request, "admin_accounts.html", who, status=status, found=found, q=q,
                notice=notice, error=error, form={**blank, **(form or {})},
                errors=errors or {}, **_choices(db, ctx.clock.now()))


@router.get("/admin/accounts", response_class=HTMLResponse)
def accounts_page(request: Request, ctx: Ctx, db: Db, q: str = "", page: int = 1
                  ) -> Response:
    """Accounts found by username, name, tax code or driver document, a page at a time,
    and the form to create one. Role: admin."""
    who = admin_only(request, ctx, db)
    if isinstance(who, Response):
        return who
    return _list_view(request, ctx, db, who, q=q, number=page)


@router.post("/admin/accounts")
def create_account(
    request: Request, ctx: Ctx, db: Db, csrf: Annotated[str, Form()] = "",
    username: Annotated[str, Form(max_length=200)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    enterprise_tax_code: Annotated[str, Form(max_length=40)] = "",
    driver_document: Annotated[str, Form(max_length=40)] = "",
    gate_scope: Annotated[list[str] | None, Form()] = None,
    yard_scope: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Create a person's account with its roles and scopes (audited). Role: admin."""
    who = admin_only(request, ctx, db)
    if isinstance(who, Response):
        return who
    form = {"username": username, "display_name": display_name,
            "enterprise_tax_code": enterprise_tax_code, "driver_document": driver_document,
            "roles": roles or [], "gate_scope": gate_scope or [], "yard_scope": yard_scope or []}
    stale = refused_form(request, csrf)
    if stale:
        return _list_view(request, ctx, db, who, status=422, error=stale, form=form)
    now = ctx.clock.now()
    spec = accounts.AccountSpec(
        username=username.strip(), display_name=display_name, roles=_roles(roles or []),
        password=password or None, enterprise_tax_code=enterprise_tax_code.strip() or None,
        driver_document=driver_document.strip() or None, gate_scope=tuple(gate_scope or ()),
        yard_scope=tuple(yard_scope or ()))
    try:
        if username.strip() and not re.fullmatch(r"[A-Za-z0-9._@-]{1,80}", username.strip()):
            raise ValidationFailed([FieldError("username", msg(
                "letters without accents, digits and . _ @ - only"))])
        account = accounts.create_account(db, spec, actor=who, now=now,
                                          network=networks.in_force_or_none(db, now))
    except AppError as exc:
        error, errors = problems(request, exc, _field)
        return _list_view(request, ctx, db, who, status=exc.status_code, error=error,
                          form=form, errors=errors)
    return RedirectResponse(f"/admin/accounts/{account.id}?done=created", status_code=303)


def _account_view(request: Request, ctx: Ctx, db: Db, who: Principal, account_id: int, *,
                  status: int = 200, notice: str | None = None, error: str | None = None,
                  form: dict[str, Any] | None = None, errors: dict[str, str] | None = None
                  ) -> Response:
    account = accounts.get_account(db, account_id)
    current = {"display_name": account.display_name, "roles": list(account.roles),
               "enterprise_tax_code": account.enterprise_tax_code or "",
               "driver_document": account.driver_document or "",
               "gate_scope": list(account.gate_scope or ()),
               "yard_scope": list(account.yard_scope or ())}
    history, _ = audit.search(db, target_type="account", target_id=str(account.id), size=15)
    return page(request, "admin_account.html", who, status=status, account=account,
                form={**current, **(form or {})}, errors=errors or {}, notice=notice,
                error=error, enrolled=admin_views.has_second_factor(db, account.id),
                history=history, actions=ACTIONS, **_choices(db, ctx.clock.now()))


@router.get("/admin/accounts/{account_id}", response_class=HTMLResponse)
def account_page(request: Request, ctx: Ctx, db: Db, account_id: int, done: str = ""
                 ) -> Response:
    """One account: its roles and scopes to change, disable or enable it, reset its second
    factor, and what was done to it lately. Role: admin."""
    who = admin_only(request, ctx, db)
    if isinstance(who, Response):
        return who
    notice = formatter(request).gettext(DONE[done]) if done in DONE else None
    return _account_view(request, ctx, db, who, account_id, notice=notice)


@router.post("/admin/accounts/{account_id}")
def change_account(
    request: Request, ctx: Ctx, db: Db, account_id: int, csrf: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    enterprise_tax_code: Annotated[str, Form(max_length=40)] = "",
    driver_document: Annotated[str, Form(max_length=40)] = "",
    gate_scope: Annotated[list[str] | None, Form()] = None,
    yard_scope: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Change an account's name, roles and scopes (audited; its sessions end when its
    roles or scopes change). Role: admin."""
    who = admin_only(request, ctx, db)
    if isinstance(who, Response):
        return who
    form = {"display_name": display_name, "roles": roles or [],
            "enterprise_tax_code": enterprise_tax_code, "driver_document": driver_document,
            "gate_scope": gate_scope or [], "yard_scope": yard_scope or []}
    stale = refused_form(request, csrf)
    if stale:
        return _account_view(request, ctx, db, who, account_id, status=422, error=stale,
                             form=form)
    now = ctx.clock.now()
    changes = {"display_name": display_name.strip() or None,
               "roles": [r.value for r in _roles(roles or [])],
               "enterprise_tax_code": enterprise_tax_code.strip() or None,
               "driver_document": driver_document.strip() or None,
               "gate_scope": gate_scope or [], "yard_scope": yard_scope or []}
    try:
        account = accounts.get_account(db, account_id)
        if not changes["roles"]:
            raise ValidationFailed([FieldError("roles", msg("give at least one role"))])
        accounts.update_account(db, account, changes, actor=who, now=now,
                                network=networks.in_force_or_none(db, now))
    except AppError as exc:
        if exc.status_code == 404:
            raise
        error, errors = problems(request, exc, _field)
        return _account_view(request, ctx, db, who, account_id, status=exc.status_code,
                             error=error, form=form, errors=errors)
    return RedirectResponse(f"/admin/accounts/{account_id}?done=saved", status_code=303)


@router.post("/admin/accounts/{account_id}/active")
def set_active(request: Request, ctx: Ctx, db: Db, account_id: int,
               csrf: Annotated[str, Form()] = "", active: Annotated[str, Form()] = "") -> Response:
    """Disable an account (its sessions and tokens end at once) or enable it again
    (audited). Role: admin."""
    who = admin_only(request, ctx, db)
    if isinstance(who, Response):
        return who
    stale = refused_form(request, csrf)
    if stale:
        return _account_view(request, ctx, db, who, account_id, status=422, error=stale)
    now = ctx.clock.now()
    account = accounts.get_account(db, account_id)
    wanted = active == "1"
    if account.active != wanted:  # sent twice: the second time changes nothing
        try:
            accounts.update_account(db, account, {"active": wanted}, actor=who, now=now,
                                    network=networks.in_force_or_none(db, now))
        except AppError as exc:
            error, _ = problems(request, exc)
            return _account_view(request, ctx, db, who, account_id, status=exc.status_code,
                                 error=error)
    done = "enabled" if wanted else "disabled"
    return RedirectResponse(f"/admin/accounts/{account_id}?done={done}", status_code=303)


@router.post("/admin/accounts/{account_id}/second-factor/reset")
def reset_second_factor(request: Request, ctx: Ctx, db: Db, account_id: int,
                        csrf: Annotated[str, Form()] = "") -> Response:
    """Remove an account's second factor and recovery codes (audited), e.g. a lost phone.
    Role: admin."""
    who = admin_only(request, ctx, db)
    if isinstance(who, Response):
        return who
    stale = refused_form(request, csrf)
    if stale:
        return _account_view(request, ctx, db, who, account_id, status=422, error=stale)
    account = accounts.get_account(db, account_id)
    if second_factor.confirmed(db, account.id) is not None:
        second_factor.reset(db, account.id, actor=who, now=ctx.clock.now())
    return RedirectResponse(f"/admin/accounts/{account_id}?done=reset", status_code=303)
