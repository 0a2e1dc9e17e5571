"""A forgotten password, reset from the login page (anyone): ``/password/forgot`` takes the
username and sends a one-time code by SMS to the account's phone (the page says the same
whether or not the username exists), ``/password/reset`` takes the code and the new password
twice. Both in the page's language."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.account import password_reset, throttle
from borderflow.account.endpoints import sms_after_commit
from borderflow.api.deps import Ctx, Db
from borderflow.errors import N_, FieldError, TooManyRequests, ValidationFailed, msg
from borderflow.web import pages

router = APIRouter(include_in_schema=False)

SENT = N_("If this username has an account with a phone number, a code was just sent to it by "
          "SMS. It is valid for 10 minutes and works once.")
FIELD_NAMES = {"username": N_("Username"), "code": N_("Code from the SMS"),
               "new_password": N_("New password"), "new_password_again": N_("New password again")}


def _refused(exc: TooManyRequests, page: Response) -> Response:
    page.headers["Retry-After"] = str(exc.retry_after_seconds)
    return page


@router.get("/password/forgot", response_class=HTMLResponse)
def forgot_page(request: Request, username: str = "") -> Response:
    return pages.render(request, "password_forgot.html", username=username[:80], error=None)


@router.post("/password/forgot", response_class=HTMLResponse)
def forgot(request: Request, ctx: Ctx, db: Db, tasks: BackgroundTasks,
           username: Annotated[str, Form(max_length=80)] = "",
           csrf: Annotated[str, Form()] = "") -> Response:
    """Send a code if the account exists and has a phone; the same page either way."""
    fmt = pages.formatter(request)
    if not pages.csrf_ok(request, csrf):
        return pages.render(request, "password_forgot.html", status=400, username=username,
                            error=fmt.gettext(pages.STALE_FORM))
    if not username.strip():
        return pages.render(request, "password_forgot.html", status=422, username=username,
                            error=fmt.message(msg("give your username")))
    try:
        throttle.spend(request, "reset_request", username)
    except TooManyRequests as exc:
        return _refused(exc, pages.render(request, "password_forgot.html", status=429,
                                          username=username, error=fmt.error(exc)))
    password_reset.request_reset(db, username, now=ctx.clock.now())
    sms_after_commit(request, tasks)
    lang = request.query_params.get("lang")
    also = f"&lang={_quoted(lang)}" if lang else ""
    return RedirectResponse(f"/password/reset?sent=1&username={_quoted(username.strip())}"
                            f"{also}", status_code=303)


def _quoted(text: str) -> str:
    return quote(text, safe="")


def _reset_form(request: Request, *, status: int = 200, username: str = "",
                errors: dict[str, str] | None = None, error: str | None = None,
                sent: bool = False) -> Response:
    return pages.render(request, "password_reset.html", status=status, username=username,
                        errors=errors or {}, error=error, sent=sent, field_names=FIELD_NAMES)


@router.get("/password/reset", response_class=HTMLResponse)
def reset_page(request: Request, username: str = "", sent: str = "") -> Response:
    return _reset_form(request, username=username[:80], sent=sent == "1")


@router.post("/password/reset", response_class=HTMLResponse)
def reset(request: Request, ctx: Ctx, db: Db,
          username: Annotated[str, Form(max_length=80)] = "",
          code: Annotated[str, Form(max_length=20)] = "",
          new_password: Annotated[str, Form(max_length=200)] = "",
          new_password_again: Annotated[str, Form(max_length=200)] = "",
          csrf: Annotated[str, Form()] = "") -> Response:
    """The code and the new password: every session of the account ends; off to the login."""
    fmt = pages.formatter(request)
    if not pages.csrf_ok(request, csrf):
        return _reset_form(request, status=400, username=username,
                           error=fmt.gettext(pages.STALE_FORM))
    try:
        throttle.spend(request, "reset_code")
    except TooManyRequests as exc:
        return _refused(exc, _reset_form(request, status=429, username=username,
                                         error=fmt.error(exc)))
    if new_password != new_password_again:
        errors = fmt.field_errors([FieldError("new_password_again",
                                              msg("the two passwords differ"))])
        return _reset_form(request, status=422, username=username, errors=errors)
    try:
        password_reset.complete_reset(db, username, code, new_password, now=ctx.clock.now())
    except ValidationFailed as exc:
        db.commit()  # the wrong try stays counted
        return _reset_form(request, status=422, username=username,
                           errors=fmt.field_errors(exc.fields))
    return RedirectResponse("/login?reset=1", status_code=303)
