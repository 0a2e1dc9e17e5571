"""Web pages. Handlers are thin: they gather figures from the services and render a
template in the visitor's language."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context

from borderflow.api.context import AppContext
from borderflow.api.deps import Ctx, Db
from borderflow.documents import FONT
from borderflow.domain.access import (
    ANONYMOUS,
    STEP_OWNERS,
    Principal,
    Role,
)
from borderflow.domain.network import Network
from borderflow.errors import N_, AppError
from borderflow.network import service as networks
from borderflow.web import i18n, session

HERE = Path(__file__).parent
CJK_FONT = FONT
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["zip_self"] = lambda values: [(v, v) for v in values]


@pass_context
def _label(context: Any, code: object, kind: str, state: Any = None) -> str:
    """``{{ trip.status | label("status") }}``: what people read for a code, in the page's
    language (the network's names first)."""
    fmt: i18n.Formatter = context["fmt"]
    return fmt.label(kind, str(code) if code is not None else None, state)


@pass_context
def _say(context: Any, text: object, code: str | None = None) -> str:
    """``{{ error | say }}``: a service's message in the page's language."""
    fmt: i18n.Formatter = context["fmt"]
    return fmt.message(text, code)


templates.env.filters["label"] = _label
templates.env.filters["say"] = _say
router = APIRouter(include_in_schema=False)
LANG_COOKIE = "lang"
REFRESH_SECONDS = 15


NAV: tuple[tuple[str, str, str | None], ...] = (
    ("/board", N_("Board"), None),
    ("/portal", N_("My declarations"), "enterprise"),
    ("/portal/declarations/new", N_("New declaration"), "enterprise"),
    ("/portal/bookings", N_("Slots"), "enterprise"),
    ("/portal/team", N_("My team"), "enterprise"),
    ("/admin/registrations", N_("Enterprise registrations"), "account.manage"),
    ("/driver", N_("My trips"), "driver"),
    ("/officer", N_("Checkpoint"), "officer"),
    ("/yard", N_("Yard"), "yard_operator"),
    ("/cashier", N_("Cashier desk"), "payment.record"),
    ("/console", N_("Control room"), "gate.control"),
    ("/reports", N_("Reports"), "statistics.read"),
    ("/sim", N_("Scenario lab"), "sim.run"),
    ("/exchange", N_("Partner bulletin"), "bulletin.read"),
    ("/admin", N_("Administration"), "account.manage"),
)
"""The pages of the header's menu, each with who sees it (a role, or an action they may do)."""


def _may_open(who: Principal, need: str | None) -> bool:
    if need is None:
        return True
    if need == "enterprise":
        return Role.ENTERPRISE in who.roles
    if need == "driver":
        return Role.DRIVER in who.roles and bool(who.driver_document)
    if need == "yard_operator":  # others who may record movements do it from their pages
        return Role.YARD_OPERATOR in who.roles
    if need == "officer":
        return who.may("trip.record")
    return who.may(need)


def menu(who: Principal) -> list[tuple[str, str]]:
    """The pages of the visitor's roles, for the header."""
    return [(path, text) for path, text, need in NAV if (who.kind != "anonymous"
            and _may_open(who, need)) or need is None]


def visitor(request: Request) -> Principal:
    """Who is looking at the page (remembered for the request once known)."""
    known = request.state.__dict__.get("principal")
    if isinstance(known, Principal):
        return known
    who = ANONYMOUS
    if request.cookies.get(session.SESSION_COOKIE):
        ctx: AppContext = request.app.state.ctx
        with ctx.read_sessions() as db:
            who = session.principal(request, ctx, db)
    request.state.principal = who
    return who


def page_network(request: Request) -> Network | None:
    """The network in force, for the labels of a page (read once per request)."""
    if "network" in request.state.__dict__:
        found: Network | None = request.state.network
        return found
    ctx: AppContext = request.app.state.ctx
    try:
        with ctx.read_sessions() as db:
            network: Network | None = networks.in_force(db, ctx.clock.now())
    except AppError:
        network = None
    request.state.network = network
    return network


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _context(request: Request, **values: Any) -> dict[str, Any]:
    fmt = formatter(request)
    lang = fmt.lang
    who = values.pop("user", None) or visitor(request)
    return {"request": request, "lang": lang, "languages": i18n.NAMES, "fmt": fmt,
            "_": fmt.gettext, "csrf": session.csrf_token(request), "user": who,
            "menu": menu(who), "here": _here(request), "path": request.url.path, **values}


def page_language(request: Request) -> str:
    """The page's language: ``?lang=``, the cookie, the browser's languages, else
    Vietnamese (no database read)."""
    return i18n.choose(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE),
                       request.headers.get("accept-language"))


def formatter(request: Request) -> i18n.Formatter:
    """Formatting and texts in the visitor's language: ``?lang=``, the cookie, the
    browser's languages, else Vietnamese; codes named by the network in force."""
    known = request.state.__dict__.get("formatter")
    if isinstance(known, i18n.Formatter):
        return known
    fmt = i18n.Formatter(page_language(request), page_network(request))
    request.state.formatter = fmt
    return fmt


def render(request: Request, template: str, status: int = 200, **values: Any) -> Response:
    response = templates.TemplateResponse(request, template, _context(request, **values),
                                          status_code=status)
    session.remember_csrf(request, response)
    return response


def message_page(request: Request, message: object, status: int, code: str | None = None,
                 back: str | None = None) -> Response:
    """A page saying what went wrong, in the visitor's language, with a way back (the page
    the visitor came from on this site, else their home page)."""
    fmt = formatter(request)
    text = fmt.message(message, code) if not isinstance(message, AppError) else \
        fmt.error(message)
    who = visitor(request)
    return render(request, "message.html", status=status, message=text,
                  back=back or _back_link(request) or home_of(who.roles))


def _back_link(request: Request) -> str | None:
    referer = request.headers.get("referer") or ""
    base = str(request.base_url)
    if referer.startswith(base):
        referer = "/" + referer[len(base):]
    target = _local_path(referer)
    return target if target and target != _here(request) else None


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not an API client): content negotiation for errors."""
    if request.url.path.startswith(("/api/", "/openapi", "/docs", "/redoc", "/metrics")):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept


def error_page(request: Request, err: AppError) -> Response | None:
    """A browser's error as a page: a GET on the address of a form (a reload after an error,
    a language switch there) goes back to the form's page; anything else is a page in the
    visitor's language with a link back. None for API clients (they get the JSON shape)."""
    if not wants_html(request):
        return None
    if err.status_code == 405 and request.method == "GET":
        page = _page_of_form(request)
        if page is not None:
            return RedirectResponse(page, status_code=303)
    if err.status_code == 401:
        return login_first(request)
    return message_page(request, err, err.status_code, err.code)


def _page_of_form(request: Request) -> str | None:
    """The nearest page above a form's address (``/officer/trips/X/steps/Y`` ->
    ``/officer/trips/X``)."""
    from starlette.routing import Match

    parts = request.url.path.rstrip("/").split("/")
    while len(parts) > 1:
        parts.pop()
        candidate = "/".join(parts) or "/"
        scope = {"type": "http", "path": candidate, "method": "GET", "root_path": ""}
        for route in request.app.router.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return candidate
    return None


def _local_path(target: str | None) -> str | None:
    """Only paths of this site are followed after a login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


@router.get("/", response_class=RedirectResponse)
def home() -> RedirectResponse:
    return RedirectResponse("/board", status_code=307)


@router.get("/static/fonts/NotoSansSC-Regular.ttf")
def cjk_font() -> Response:
    """The Chinese font of the pages, the package's copy that the receipts embed too:
    browsers without a CJK font still show Chinese, with no internet."""
    return FileResponse(CJK_FONT, media_type="font/ttf",
                        headers={"Cache-Control": "public, max-age=31536000, immutable"})


@router.get("/lang/{code}")
def set_language(code: str, request: Request, next: str = "") -> RedirectResponse:
    """Remember the chosen language and go back to the same page (only a page of this
    site)."""
    target = _local_path(next) or _back_link(request) or "/board"
    response = RedirectResponse(target, status_code=303)
    if code in i18n.LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax",
                            httponly=True)
    return response


# --- signing in ----------------------------------------------------------------------------------


def home_of(roles: frozenset[Role]) -> str:
    if Role.DRIVER in roles:
        return "/driver"
    if Role.ENTERPRISE in roles:
        return "/portal"
    if Role.REGULATOR in roles:
        return "/console"
    if Role.CASHIER in roles:
        return "/cashier"
    if Role.YARD_OPERATOR in roles:
        return "/yard"
    if roles & STEP_OWNERS:
        return "/officer"
    return "/board"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return render(request, "login.html", next=_local_path(request.query_params.get("next"))
                   or "", error=None, username=None)


def login_first(request: Request) -> Response:
    """Off to the login page, and back here afterwards (a form's address goes back to its
    page)."""
    back = _here(request) if request.method == "GET" else (
        _page_of_form(request) or request.url.path)
    return RedirectResponse(f"/login?next={quote(back, safe='/')}", status_code=303)


def signed_in(request: Request, ctx: Ctx, db: Db, allowed: Callable[[Principal], bool],
              refusal: str) -> Principal | Response:
    """The signed-in visitor if the page is for them; else the login page (not signed in)
    or a 403 page saying whom the page is for."""
    who = session.principal(request, ctx, db)
    if who.kind == "anonymous":
        found = session.current(request, ctx, db)
        if found is not None and found.row.stage == "enrol":
            return RedirectResponse("/account", status_code=303)  # second factor first
        return login_first(request)
    request.state.principal = who
    if not allowed(who):
        return message_page(request, refusal, 403, "forbidden")
    return who


def csrf_ok(request: Request, csrf: str) -> bool:
    """Whether the form came from this site's page (a stale or forged form is shown again,
    with what was typed, rather than refused on a bare page)."""
    try:
        session.check_csrf(request, csrf)
    except AppError:
        return False
    return True


STALE_FORM = N_("This form had expired. Check what you typed and send it again.")
