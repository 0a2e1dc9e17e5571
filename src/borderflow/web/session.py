"""Browser sessions: a signed session token in an HttpOnly, SameSite=Lax cookie (Secure over
HTTPS), and CSRF protection for every form by the double-submit rule: a random token in a
cookie must come back in the form's ``csrf`` field. The roles and scoping are the API's."""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response
from sqlalchemy.orm import Session

from borderflow.account import service as accounts
from borderflow.api.context import AppContext
from borderflow.domain.access import ANONYMOUS, Principal
from borderflow.errors import AppError, Forbidden, msg

SESSION_COOKIE = "bf_session"
CSRF_COOKIE = "bf_csrf"


def principal(request: Request, ctx: AppContext, db: Session) -> Principal:
    """The signed-in user, or the anonymous public (an expired or forged cookie counts as
    not signed in)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return ANONYMOUS
    try:
        return accounts.principal_for_token(db, token, key=ctx.secret_key,
                                            now=ctx.clock.now(), kind="web")
    except AppError:
        return ANONYMOUS


def csrf_token(request: Request) -> str:
    """The visitor's CSRF token (a new one if the cookie is missing)."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and len(existing) >= 32:
        return existing
    token: str = request.state.__dict__.setdefault("csrf", secrets.token_urlsafe(32))
    return token


def remember_csrf(request: Request, response: Response) -> None:
    """Set the CSRF cookie when this request made a new token."""
    token = request.state.__dict__.get("csrf")
    if token:
        response.set_cookie(CSRF_COOKIE, token, samesite="strict", httponly=True,
                            secure=request.url.scheme == "https")


def check_csrf(request: Request, sent: str | None) -> None:
    expected = request.cookies.get(CSRF_COOKIE) or ""
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise Forbidden(msg("the form is out of date or was not sent from this site; reload "
                            "the page and try again"))


def start(response: Response, request: Request, token: str, hours: int) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=hours * 3600, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")


def end(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE)
