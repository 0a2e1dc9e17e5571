"""An enterprise registers itself (anyone: ``/register``) and an admin confirms or refuses the
waiting registrations (``/admin/registrations``). The registration form answers a wrong
field next to it, with what was typed kept (the password excepted); the applicant learns the
outcome by SMS."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.account import registration, throttle
from borderflow.account.endpoints import sms_after_commit
from borderflow.api.deps import Ctx, Db
from borderflow.domain.access import Principal, Role
from borderflow.errors import N_, AppError, FieldError, TooManyRequests, ValidationFailed, msg
from borderflow.web import pages

router = APIRouter(include_in_schema=False)

FIELDS = ("enterprise_name", "tax_code", "contact_name", "phone", "username")
FIELD_NAMES = {"enterprise_name": N_("Enterprise name"), "tax_code": N_("Tax code"),
               "contact_name": N_("Contact person"), "phone": N_("Phone number"),
               "username": N_("Username"), "password": N_("Password"),
               "password_again": N_("Password again")}
ADMIN_DONE = {"confirmed": N_("The registration was confirmed: the account works now and the "
                              "applicant was told by SMS."),
              "refused": N_("The registration was refused; the applicant was told by SMS.")}


def _admin(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return pages.signed_in(request, ctx, db, lambda p: Role.ADMIN in p.roles,
                           N_("This page is for the admins of the platform."))


def _form(request: Request, *, status: int = 200, typed: dict[str, str] | None = None,
          errors: dict[str, str] | None = None, error: str | None = None) -> Response:
    return pages.render(request, "register.html", status=status, typed=typed or {},
                        errors=errors or {}, error=error, field_names=FIELD_NAMES)


@router.get("/register", response_class=HTMLResponse)
def register_page(request: Request) -> Response:
    """The registration form (anyone)."""
    return _form(request)


@router.post("/register", response_class=HTMLResponse)
def register(request: Request, ctx: Ctx, db: Db,
             enterprise_name: Annotated[str, Form(max_length=200)] = "",
             tax_code: Annotated[str, Form(max_length=30)] = "",
             contact_name: Annotated[str, Form(max_length=200)] = "",
             phone: Annotated[str, Form(max_length=30)] = "",
             username: Annotated[str, Form(max_length=80)] = "",
             password: Annotated[str, Form(max_length=200)] = "",
             password_again: Annotated[str, Form(max_length=200)] = "",
             csrf: Annotated[str, Form()] = "") -> Response:
    fmt = pages.formatter(request)
    typed = {"enterprise_name": enterprise_name, "tax_code": tax_code,
             "contact_name": contact_name, "phone": phone, "username": username}
    if not pages.csrf_ok(request, csrf):
        return _form(request, status=400, typed=typed, error=fmt.gettext(pages.STALE_FORM))
    try:
        throttle.spend(request, "register")
        if password != password_again:
            check = registration.check(db, registration.Application(
                enterprise_name, tax_code, contact_name, phone, username, password))[1]
            raise ValidationFailed([*check, FieldError("password_again",
                                                       msg("the two passwords differ"))])
        registration.register(db, registration.Application(
            enterprise_name, tax_code, contact_name, phone, username, password, fmt.lang),
            now=ctx.clock.now())
    except TooManyRequests as exc:
        page = _form(request, status=429, typed=typed, error=fmt.error(exc))
        page.headers["Retry-After"] = str(exc.retry_after_seconds)
        return page
    except ValidationFailed as exc:
        return _form(request, status=422, typed=typed, errors=fmt.field_errors(exc.fields))
    return RedirectResponse("/register/sent", status_code=303)


@router.get("/register/sent", response_class=HTMLResponse)
def register_sent(request: Request) -> Response:
    """What happens next, after a registration."""
    return pages.render(request, "register_sent.html")


@router.get("/admin/registrations", response_class=HTMLResponse)
def registrations_page(request: Request, ctx: Ctx, db: Db, done: str = "") -> Response:
    """The registrations waiting, to confirm or refuse (admins), and the latest decided."""
    who = _admin(request, ctx, db)
    if isinstance(who, Response):
        return who
    return _admin_view(request, db, done=done)


def _admin_view(request: Request, db: Db, *, done: str = "", status: int = 200,
                error: str | None = None, failed: int | None = None,
                reason: str = "") -> Response:
    fmt = pages.formatter(request)
    decided = [r for r in registration.listed(db, None) if r.status != "pending"][-20:][::-1]
    return pages.render(
        request, "admin_registrations.html", status=status,
        waiting=registration.listed(db), decided=decided, error=error, failed=failed,
        reason=reason, notice=fmt.gettext(ADMIN_DONE[done]) if done in ADMIN_DONE else None)


@router.post("/admin/registrations/{registration_id}/confirm", response_class=HTMLResponse)
def confirm(registration_id: int, request: Request, ctx: Ctx, db: Db, tasks: BackgroundTasks,
            csrf: Annotated[str, Form()] = "") -> Response:
    who = _admin(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = pages.formatter(request)
    if not pages.csrf_ok(request, csrf):
        return _admin_view(request, db, status=400, error=fmt.gettext(pages.STALE_FORM))
    try:
        registration.confirm(db, registration_id, actor=who, now=ctx.clock.now())
    except AppError as exc:
        db.rollback()
        return _admin_view(request, db, status=exc.status_code, error=fmt.error(exc))
    sms_after_commit(request, tasks)
    return RedirectResponse("/admin/registrations?done=confirmed", status_code=303)


@router.post("/admin/registrations/{registration_id}/refuse", response_class=HTMLResponse)
def refuse(registration_id: int, request: Request, ctx: Ctx, db: Db, tasks: BackgroundTasks,
           reason: Annotated[str, Form(max_length=600)] = "",
           csrf: Annotated[str, Form()] = "") -> Response:
    who = _admin(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = pages.formatter(request)
    if not pages.csrf_ok(request, csrf):
        return _admin_view(request, db, status=400, error=fmt.gettext(pages.STALE_FORM),
                           failed=registration_id, reason=reason)
    try:
        registration.refuse(db, registration_id, reason, actor=who, now=ctx.clock.now())
    except AppError as exc:
        db.rollback()
        return _admin_view(request, db, status=exc.status_code, error=fmt.error(exc),
                           failed=registration_id, reason=reason)
    sms_after_commit(request, tasks)
    return RedirectResponse("/admin/registrations?done=refused", status_code=303)
