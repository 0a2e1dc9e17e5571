"""Browser sessions: a random session token in an HttpOnly, SameSite=Lax cookie (Secure over
HTTPS) naming a row of ``web_sessions`` (see ``borderflow.account.sessions``), so a logout
ends the session at once; and CSRF protection for every form by the double-submit rule: a
random token in a cookie must come back in the form's ``csrf`` field. Both tokens are
replaced at login, at logout and when the account's privileges change. The roles and scoping
are the API's."""

from __future__ import annotations

import hmac
import secrets

import structlog
from fastapi import Request, Response
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from borderflow.account import second_factor, sessions
from borderflow.account import service as accounts
from borderflow.api.context import AppContext
from borderflow.api.deps import READ_METHODS, Db
from borderflow.config import Settings
from borderflow.domain.access import ANONYMOUS, OFFICIALS, Principal, Role
from borderflow.errors import Forbidden, msg

log = structlog.get_logger("borderflow.web.session")

SESSION_COOKIE = "bf_session"
CSRF_COOKIE = "bf_csrf"
MFA_COOKIE = "bf_mfa"
"""A login waiting for its second factor: a signed five-minute token of kind ``mfa``."""
MFA_MINUTES = 5


def idle_minutes(settings: Settings, roles: frozenset[Role]) -> int:
    """How long a session of these roles lasts without a request."""
    if roles & (OFFICIALS | second_factor.REQUIRED_FOR):
        return settings.web_idle_minutes_officials
    return settings.web_idle_minutes


def current(request: Request, ctx: AppContext, db: Db) -> sessions.Found | None:
    """The live session of the visitor's cookie (any stage), remembered for the request; its
    last request time is written at most once a minute, in its own short transaction."""
    known = getattr(request.state, "web_session", False)
    if known is not False:
        return known if isinstance(known, sessions.Found) else None
    token = request.cookies.get(SESSION_COOKIE)
    found = sessions.find(db, token, now=ctx.clock.now()) if token else None
    if found is not None and found.stale:
        _touch(request, ctx, db, found.row.id)
    request.state.web_session = found
    return found


def _touch(request: Request, ctx: AppContext, db: Db, session_id: int) -> None:
    """Write the session's last request time: with the request's own write transaction
    (forms), else in a short one of its own, given up when the database is busy (the next
    request writes it)."""
    if request.method not in READ_METHODS:
        sessions.touch(db, session_id, now=ctx.clock.now())
        return
    try:
        with ctx.sessions() as writer:
            sessions.touch(writer, session_id, now=ctx.clock.now())
            writer.commit()
    except (OperationalError, SQLAlchemyTimeoutError):
        log.info("session_touch_skipped", reason="database busy")


def principal(request: Request, ctx: AppContext, db: Db) -> Principal:
    """The signed-in user, or the anonymous public (an expired, idle, revoked or forged
    session, or one still setting up its second factor, counts as not signed in)."""
    found = current(request, ctx, db)
    if found is None or found.row.stage != "full":
        return ANONYMOUS
    return accounts.to_principal(found.account)


def csrf_token(request: Request) -> str:
    """The visitor's CSRF token (a new one if the cookie is missing or was just replaced)."""
    fresh = getattr(request.state, "csrf", None)
    if fresh:
        return str(fresh)
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and len(existing) >= 32:
        return existing
    token = secrets.token_urlsafe(32)
    request.state.csrf = token
    return token


def remember_csrf(request: Request, response: Response) -> None:
    """Set the CSRF cookie when this request made a new token."""
    token = getattr(request.state, "csrf", None)
    if token:
        response.set_cookie(CSRF_COOKIE, token, samesite="strict", httponly=True,
                            secure=request.url.scheme == "https")


def rotate_csrf(request: Request, response: Response) -> None:
    """A new CSRF token from now on (forms of pages shown before stop working)."""
    request.state.csrf = secrets.token_urlsafe(32)
    remember_csrf(request, response)


def check_csrf(request: Request, sent: str | None) -> None:
    expected = request.cookies.get(CSRF_COOKIE) or ""
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise Forbidden(msg("the form is out of date or was not sent from this site; reload "
                            "the page and try again"))


def set_session_cookie(response: Response, request: Request, token: str, hours: int) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=hours * 3600, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")
    response.delete_cookie(MFA_COOKIE)


def start(response: Response, request: Request, token: str, hours: int) -> None:
    """Give the browser its new session (and a new CSRF token)."""
    set_session_cookie(response, request, token, hours)
    rotate_csrf(request, response)


def end(response: Response, request: Request | None = None) -> None:
    """Forget the session cookie (and replace the CSRF token)."""
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(MFA_COOKIE)
    if request is not None:
        rotate_csrf(request, response)


def client_of(request: Request) -> tuple[str, str]:
    """The browser and address a session was opened from (shown in the list of sessions)."""
    return (request.headers.get("user-agent", "")[:200],
            request.client.host[:45] if request.client else "")
