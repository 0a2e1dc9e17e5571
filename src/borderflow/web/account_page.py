"""The visitor's own account page (second factor, sessions still running, log out
everywhere) and the login's second step (the authenticator app's code)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow import audit
from borderflow.account import (
    password_reset,
    registration,
    second_factor,
    security,
    sessions,
    throttle,
)
from borderflow.account import service as accounts
from borderflow.api.context import AppContext
from borderflow.api.deps import Ctx, Db
from borderflow.domain.values import parse_phone
from borderflow.errors import (
    N_,
    AppError,
    FieldError,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
    msg,
    reason_of,
)
from borderflow.web import session
from borderflow.web.pages import _local_path, formatter, home_of, login_first, render

if TYPE_CHECKING:
    from borderflow.store.models import Account

router = APIRouter(include_in_schema=False)

QR_TITLE = N_("QR code for the authenticator app")
ENROLLED = N_("Second factor set up. Your other sessions were ended.")
ACCOUNT_DONE = {"ended": N_("The session was ended."), "enrolled": ENROLLED,
                "password": N_("Your password was changed. Your other sessions were ended."),
                "phone": N_("Your phone number was saved.")}
AWAITING = N_("Your registration is waiting for an admin's confirmation. You will be told by "
              "SMS; you can log in once it is confirmed.")
"""``?done=`` after a form of the account page: what the page confirms."""


def open_signed_in(request: Request, ctx: AppContext, db: Db, account: Account,
                   next_path: str, *, how: str) -> Response:
    """After the password (and the code, where the account has a second factor): a new
    session, a new CSRF token, the visitor's page (or the second factor's set-up where it is
    required and missing). A session the browser still had is ended."""
    now = ctx.clock.now()
    old = session.current(request, ctx, db)
    if old is not None:
        sessions.revoke(db, old.row, actor=accounts.to_principal(old.account), now=now,
                        reason="replaced")
    roles = second_factor.roles_of(account)
    enrol = (second_factor.required(ctx.settings, roles)
             and second_factor.confirmed(db, account.id) is None)
    agent, ip = session.client_of(request)
    row, token = sessions.open_session(
        db, account, now=now, hours=ctx.settings.web_session_hours,
        idle_minutes=session.idle_minutes(ctx.settings, roles),
        stage="enrol" if enrol else "full", user_agent=agent, ip=ip)
    accounts.logged_in(db, account, now=now, channel="web", session_id=row.id,
                      second_factor=how)
    target = "/account" if enrol else (_local_path(next_path) or home_of(roles))
    response = RedirectResponse(target, status_code=303)
    session.start(response, request, token, ctx.settings.web_session_hours)
    return response


def after_password(request: Request, ctx: AppContext, db: Db, account: Account,
                   next_path: str) -> Response:
    """The password was right: ask for the code if the account has a second factor."""
    if second_factor.confirmed(db, account.id) is None:
        return open_signed_in(request, ctx, db, account, next_path, how="none")
    pending = security.issue_token(account.id, account.username, key=ctx.secret_key,
                                   now=ctx.clock.now(), minutes=session.MFA_MINUTES, kind="mfa",
                                   version=account.token_version or 0)
    response = render(request, "login_code.html", next=next_path, error=None)
    response.set_cookie(session.MFA_COOKIE, pending, max_age=session.MFA_MINUTES * 60,
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


@router.post("/login/code", response_class=HTMLResponse)
def login_code(request: Request, ctx: Ctx, db: Db, code: Annotated[str, Form()] = "",
               csrf: Annotated[str, Form()] = "", next: Annotated[str, Form()] = ""
               ) -> Response:
    """The login's second step: the authenticator app's code or a recovery code."""
    session.check_csrf(request, csrf)
    fmt = formatter(request)
    now = ctx.clock.now()
    account: Account | None = None
    try:
        account_id, version = security.read_claims(
            request.cookies.get(session.MFA_COOKIE) or "", key=ctx.secret_key, now=now,
            kind="mfa")
        account = accounts.get_account(db, account_id)
    except AppError:
        account = None
    if account is None or not account.active or version != (account.token_version or 0):
        return RedirectResponse("/login", status_code=303)
    try:
        throttle.guard_login(request, account.username)
    except TooManyRequests as exc:
        page = render(request, "login_code.html", status=429, next=next, error=fmt.error(exc))
        page.headers["Retry-After"] = str(exc.retry_after_seconds)
        return page
    try:
        accounts.second_factor_passes(db, account, code[:40], now=now, required=True,
                                      channel="web")
    except Unauthorized:
        throttle.login_failed(request, db, account.username)
        return render(request, "login_code.html", status=401, next=next,
                      error=fmt.gettext("Wrong or expired code."))
    throttle.login_succeeded(request, account.username)
    return open_signed_in(request, ctx, db, account, next, how="totp")


def _mine(request: Request, ctx: AppContext, db: Db) -> sessions.Found | Response:
    found = session.current(request, ctx, db)
    if found is None:
        return login_first(request)
    request.state.principal = accounts.to_principal(found.account) \
        if found.row.stage == "full" else None
    return found


def _view(request: Request, ctx: AppContext, db: Db, found: sessions.Found, *,
          status: int = 200, notice: str | None = None, error: str | None = None,
          recovery_codes: list[str] | None = None,
          password_errors: dict[str, str] | None = None,
          phone_error: str | None = None, phone: str | None = None) -> Response:
    account = found.account
    now = ctx.clock.now()
    enrolment = second_factor.pending(db, account)
    who = accounts.to_principal(account)
    return render(
        request, "account.html", status=status, user=who, account=account,
        enrolling=found.row.stage == "enrol",
        enrolled=second_factor.confirmed(db, account.id) is not None,
        required=second_factor.required(ctx.settings, second_factor.roles_of(account)),
        enrolment=enrolment,
        qr=enrolment.qr_svg(formatter(request).gettext(QR_TITLE)) if enrolment else None,
        sessions=sessions.live_sessions(db, account.id, now=now), this=found.row.id,
        notice=notice, error=error, recovery_codes=recovery_codes,
        password_errors=password_errors or {}, phone_error=phone_error,
        contact=password_reset.contact_of(db, account.id), phone=phone)


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, ctx: Ctx, db: Db, done: str = "") -> Response:
    """Your second factor and the sessions of your account still running."""
    found = _mine(request, ctx, db)
    if isinstance(found, Response):
        return found
    fmt = formatter(request)
    notice = fmt.gettext(ACCOUNT_DONE[done]) if done in ACCOUNT_DONE else None
    return _view(request, ctx, db, found, notice=notice)


@router.post("/account/second-factor/start")
def start_second_factor(request: Request, ctx: Ctx, db: Db,
                        csrf: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(request, csrf)
    found = _mine(request, ctx, db)
    if isinstance(found, Response):
        return found
    if second_factor.confirmed(db, found.account.id) is None:
        second_factor.start(db, found.account, now=ctx.clock.now())
    return RedirectResponse("/account#second-factor", status_code=303)


@router.post("/account/second-factor/confirm", response_class=HTMLResponse)
def confirm_second_factor(request: Request, ctx: Ctx, db: Db, code: Annotated[str, Form()] = "",
                          csrf: Annotated[str, Form()] = "") -> Response:
    """The first code: the second factor is set up, every session of the account (this one
    too) is ended and a new one opened in its place; the recovery codes are shown once."""
    session.check_csrf(request, csrf)
    found = _mine(request, ctx, db)
    if isinstance(found, Response):
        return found
    fmt = formatter(request)
    now = ctx.clock.now()
    account = found.account
    who = accounts.to_principal(account)
    try:
        codes = second_factor.confirm(db, account, code[:40], actor=who, now=now)
    except AppError as exc:
        return _view(request, ctx, db, found, status=exc.status_code, error=fmt.error(exc))
    sessions.revoke_all(db, account, actor=who, now=now, reason="mfa_enrol")
    agent, ip = session.client_of(request)
    roles = second_factor.roles_of(account)
    row, token = sessions.open_session(
        db, account, now=now, hours=ctx.settings.web_session_hours,
        idle_minutes=session.idle_minutes(ctx.settings, roles), user_agent=agent, ip=ip)
    fresh = sessions.Found(row, account, stale=False)
    request.state.web_session = fresh
    request.state.principal = who
    session.rotate_csrf(request, Response())  # the page below carries (and sets) the new token
    response = _view(request, ctx, db, fresh, notice=fmt.gettext(ENROLLED),
                     recovery_codes=codes)
    session.set_session_cookie(response, request, token, ctx.settings.web_session_hours)
    return response


@router.post("/account/sessions/{session_id}/end")
def end_session(session_id: int, request: Request, ctx: Ctx, db: Db,
                csrf: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(request, csrf)
    found = _mine(request, ctx, db)
    if isinstance(found, Response):
        return found
    who = accounts.to_principal(found.account)
    sessions.revoke_own(db, found.account.id, session_id, actor=who, now=ctx.clock.now())
    if session_id == found.row.id:
        response = RedirectResponse("/board", status_code=303)
        session.end(response, request)
        return response
    return RedirectResponse("/account?done=ended", status_code=303)


@router.post("/account/sessions/end-all")
def end_all_sessions(request: Request, ctx: Ctx, db: Db,
                     csrf: Annotated[str, Form()] = "") -> Response:
    """Log out everywhere: every session of the account and its API tokens."""
    session.check_csrf(request, csrf)
    found = _mine(request, ctx, db)
    if isinstance(found, Response):
        return found
    sessions.revoke_all(db, found.account, actor=accounts.to_principal(found.account),
                        now=ctx.clock.now(), reason="logout_everywhere")
    response = RedirectResponse("/login", status_code=303)
    session.end(response, request)
    return response


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, ctx: Ctx, db: Db, username: Annotated[str, Form()],
          password: Annotated[str, Form()], csrf: Annotated[str, Form()] = "",
          next: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(request, csrf)
    fmt = formatter(request)
    try:
        throttle.guard_login(request, username)
    except TooManyRequests as exc:
        page = render(request, "login.html", status=429, next=next, username=username,
                      error=fmt.error(exc))
        page.headers["Retry-After"] = str(exc.retry_after_seconds)
        return page
    try:
        account = accounts.authenticate(db, username, password, now=ctx.clock.now(),
                                        channel="web")
    except Unauthorized:
        throttle.login_failed(request, db, username)
        waiting = registration.awaiting(db, username, password)
        return render(request, "login.html", status=401, next=next, username=username,
                      error=fmt.gettext(AWAITING if waiting else "Wrong username or password."))
    throttle.login_succeeded(request, username)
    return after_password(request, ctx, db, account, next)


@router.post("/logout")
def logout_form(request: Request, ctx: Ctx, db: Db,
                csrf: Annotated[str, Form()] = "") -> Response:
    """Ends the session at once: its cookie opens nothing any more."""
    session.check_csrf(request, csrf)
    return logout(request, ctx, db)


def logout(request: Request, ctx: AppContext, db: Db) -> Response:
    """End this browser's session at once (audited)."""
    found = session.current(request, ctx, db)
    if found is not None:
        who = accounts.to_principal(found.account)
        sessions.revoke(db, found.row, actor=who, now=ctx.clock.now(), reason="logout")
        audit.record(db, actor=who, action="auth.logout", target_type="account",
                     target_id=str(found.account.id), at=ctx.clock.now(),
                     after={"session": found.row.id})
    response = RedirectResponse("/board", status_code=303)
    session.end(response, request)
    return response


@router.post("/account/password", response_class=HTMLResponse)
def change_password(request: Request, ctx: Ctx, db: Db,
                    current_password: Annotated[str, Form(max_length=200)] = "",
                    new_password: Annotated[str, Form(max_length=200)] = "",
                    new_password_again: Annotated[str, Form(max_length=200)] = "",
                    csrf: Annotated[str, Form()] = "") -> Response:
    """The current password and the new one twice: the policy is checked, every other
    session of the account and its API tokens end, this browser stays signed in."""
    session.check_csrf(request, csrf)
    found = _mine(request, ctx, db)
    if isinstance(found, Response):
        return found
    fmt = formatter(request)
    account = found.account
    try:
        throttle.guard_login(request, account.username)
    except TooManyRequests as exc:
        page = _view(request, ctx, db, found, status=429, error=fmt.error(exc))
        page.headers["Retry-After"] = str(exc.retry_after_seconds)
        return page
    try:
        if new_password != new_password_again:
            raise ValidationFailed([FieldError("new_password_again",
                                               msg("the two passwords differ"))])
        password_reset.change_password(db, account, current_password, new_password,
                                       actor=accounts.to_principal(account),
                                       now=ctx.clock.now(), keep_session=found.row.id)
    except ValidationFailed as exc:
        if any(f.field == "current_password" for f in exc.fields):
            throttle.login_failed(request, db, account.username)
        return _view(request, ctx, db, found, status=422,
                     password_errors=fmt.field_errors(exc.fields))
    return RedirectResponse("/account?done=password#password", status_code=303)


@router.post("/account/phone", response_class=HTMLResponse)
def save_phone(request: Request, ctx: Ctx, db: Db,
               phone: Annotated[str, Form(max_length=30)] = "",
               csrf: Annotated[str, Form()] = "") -> Response:
    """The phone a password reset code is sent to (and the page's language for its SMS)."""
    session.check_csrf(request, csrf)
    found = _mine(request, ctx, db)
    if isinstance(found, Response):
        return found
    fmt = formatter(request)
    try:
        number = parse_phone(phone)
    except ValueError as exc:
        return _view(request, ctx, db, found, status=422, phone=phone,
                     phone_error=fmt.message(reason_of(exc), "validation_failed"))
    password_reset.set_contact(db, found.account, number, fmt.lang,
                               actor=accounts.to_principal(found.account), now=ctx.clock.now())
    return RedirectResponse("/account?done=phone#phone", status_code=303)
