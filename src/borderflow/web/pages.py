"""Web pages. Handlers are thin: they gather figures from the services and render a
template in the visitor's language."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from sqlalchemy import select

from borderflow.account import service as accounts
from borderflow.api.context import AppContext
from borderflow.api.deps import Ctx, Db
from borderflow.dispatch import controls
from borderflow.dispatch import service as dispatch
from borderflow.documents import FONT
from borderflow.domain.access import ANONYMOUS, STEP_OWNERS, Principal, Role, may_record_step
from borderflow.domain.network import Network
from borderflow.domain.trip import MOVEMENT_KINDS, TERMINAL, parse_time, pending_steps
from borderflow.errors import N_, AppError, FieldError, Unauthorized, ValidationFailed
from borderflow.network import service as networks
from borderflow.store.models import Device, Trip
from borderflow.telemetry import service as telemetry
from borderflow.trip import service as trips
from borderflow.web import board, console, i18n, session

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
    ("/driver", N_("My trips"), "driver"),
    ("/officer", N_("Checkpoint"), "officer"),
    ("/console", N_("Control room"), "gate.control"),
    ("/reports", N_("Reports"), "statistics.read"),
    ("/sim", N_("Scenario lab"), "sim.run"),
)
"""The pages of the header's menu, each with who sees it (a role, or an action they may do)."""


def _may_open(who: Principal, need: str | None) -> bool:
    if need is None:
        return True
    if need == "enterprise":
        return Role.ENTERPRISE in who.roles
    if need == "driver":
        return Role.DRIVER in who.roles and bool(who.driver_document)
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


def formatter(request: Request) -> i18n.Formatter:
    """Formatting and texts in the visitor's language: ``?lang=``, the cookie, the
    browser's languages, else Vietnamese; codes named by the network in force."""
    known = request.state.__dict__.get("formatter")
    if isinstance(known, i18n.Formatter):
        return known
    fmt = i18n.Formatter(i18n.choose(request.query_params.get("lang"),
                                     request.cookies.get(LANG_COOKIE),
                                     request.headers.get("accept-language")),
                         page_network(request))
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


@router.get("/board", response_class=HTMLResponse)
def board_page(request: Request, ctx: Ctx, db: Db) -> Response:
    """The public board: anyone, no login; ``?screen=large`` for the park's display boards."""
    now = ctx.clock.now()
    figures = board.build(db, networks.in_force(db, now), now)
    return templates.TemplateResponse(request, "board.html", _context(
        request, board=figures, large=request.query_params.get("screen") == "large",
        refresh=REFRESH_SECONDS))


@router.get("/board/panel", response_class=HTMLResponse)
def board_panel(request: Request, ctx: Ctx, db: Db) -> Response:
    """The board's figures alone, for the page to refresh itself."""
    now = ctx.clock.now()
    figures = board.build(db, networks.in_force(db, now), now)
    return templates.TemplateResponse(request, "_board_panel.html", _context(
        request, board=figures))


@router.get("/static/fonts/NotoSansSC-Regular.ttf")
def cjk_font() -> Response:
    """The Chinese font of the pages, from the package that also gives it to the receipts:
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
    if roles & STEP_OWNERS:
        return "/officer"
    return "/board"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return render(request, "login.html", next=_local_path(request.query_params.get("next"))
                   or "", error=None, username=None)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, ctx: Ctx, db: Db, username: Annotated[str, Form()],
          password: Annotated[str, Form()], csrf: Annotated[str, Form()] = "",
          next: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(request, csrf)
    fmt = formatter(request)
    try:
        token = accounts.login(db, username, password, key=ctx.secret_key, now=ctx.clock.now(),
                               minutes=ctx.settings.web_session_hours * 60, kind="web")
    except Unauthorized:
        return render(request, "login.html", status=401, next=next, username=username,
                       error=fmt.gettext("Wrong username or password."))
    who = accounts.principal_for_token(db, token, key=ctx.secret_key, now=ctx.clock.now(),
                                       kind="web")
    response = RedirectResponse(_local_path(next) or home_of(who.roles), status_code=303)
    session.start(response, request, token, ctx.settings.web_session_hours)
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(request, csrf)
    response = RedirectResponse("/board", status_code=303)
    session.end(response)
    return response


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
        return login_first(request)
    request.state.principal = who
    if not allowed(who):
        return message_page(request, refusal, 403, "forbidden")
    return who


def record_on_trip(request: Request, ctx: Ctx, db: Db, who: Principal, reference: str,
                   event: Any, payload: dict[str, Any], *, source: str,
                   back: Callable[[Trip], str]) -> Response:
    """Record one event on a trip the visitor may see (the API's rules), then go back; a
    refusal is shown as a page with the API's message."""
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    try:
        row = trips.get(db, reference, actor=who, network=network)
        trips.record(db, row.id, event, payload, actor=who, network=network, now=now,
                     source=source)
    except AppError as exc:
        return message_page(request, exc, exc.status_code, exc.code)
    return RedirectResponse(back(row), status_code=303)


# --- the driver's page ---------------------------------------------------------------------------

STATUS_TEXT = {"declared": N_("Declared"), "at_staging": N_("Waiting in the staging area"),
               "called": N_("Called to the gate"), "in_gate_area": N_("In the gate area"),
               "completed": N_("Completed")}


@router.get("/driver", response_class=HTMLResponse)
def driver_page(request: Request, ctx: Ctx, db: Db) -> Response:
    """The driver's phone: the current order, place in the queue, expected call, GPS set-up."""
    who = signed_in(request, ctx, db,
                    lambda p: Role.DRIVER in p.roles and bool(p.driver_document),
                    N_("This page is for drivers."))
    if isinstance(who, Response):
        return who
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    rows = db.scalars(select(Trip).where(Trip.driver_document == who.driver_document,
                                         Trip.status.notin_((*TERMINAL, "completed")))
                      .order_by(Trip.created_at)).all()
    fmt = formatter(request)
    shown = []
    for row in rows:
        place = dispatch.place_of(db, network, row, now)
        order = place["order"] or None
        gate = network.gate(row.gate)
        shown.append({
            **place, "plate": row.state["facts"]["plate"],
            "gate_name": fmt.name(gate.name) if gate else row.gate,
            "status_text": STATUS_TEXT.get(row.status, row.status),
            "arrive_by": parse_time(order["arrive_by"]) if order else None,
            "acknowledged_at": parse_time(order["acknowledged_at"])
            if order and order.get("acknowledged_at") else None})
    linked = db.scalars(select(Device.id).where(
        Device.driver_document == who.driver_document)).all()
    return render(request, "driver.html", user=who, trips=shown, linked=list(linked),
                   gps_url=ctx.settings.public_base_url.rstrip("/") + "/api/v1/telemetry/osmand")


@router.post("/driver/trips/{reference}/acknowledge")
def driver_acknowledge(reference: str, request: Request, ctx: Ctx, db: Db,
                       csrf: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(request, csrf)
    who = session.principal(request, ctx, db)
    if who.kind == "anonymous":
        return login_first(request)
    return record_on_trip(request, ctx, db, who, reference, "trip.order_acknowledged", {},
                          source="api", back=lambda _row: "/driver")


@router.post("/driver/device")
def driver_device(request: Request, ctx: Ctx, db: Db, device_id: Annotated[str, Form()],
                  csrf: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(request, csrf)
    who = session.principal(request, ctx, db)
    if who.kind == "anonymous" or Role.DRIVER not in who.roles:
        return login_first(request)
    try:
        telemetry.bind(db, device_id, actor=who, now=ctx.clock.now(),
                       driver_document=who.driver_document)
    except AppError as exc:
        return message_page(request, exc, exc.status_code, exc.code)
    return RedirectResponse("/driver", status_code=303)


# --- the officer's checkpoint screen -------------------------------------------------------------


def _officer(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(request, ctx, db, lambda p: p.may("trip.record"),
                     N_("This page is for checkpoint officers."))


@router.get("/officer", response_class=HTMLResponse)
def officer_search(request: Request, ctx: Ctx, db: Db, q: str = "") -> Response:
    """Find a trip by plate, declaration or trip reference, or a scanned QR code (a USB
    scanner types into the field and presses Enter)."""
    who = _officer(request, ctx, db)
    if isinstance(who, Response):
        return who
    found: list[Trip] = []
    if q.strip():
        network = networks.in_force(db, ctx.clock.now())
        found, _total = trips.search(db, q, actor=who, network=network, status=None,
                                     gate=None, limit=20, offset=0)
        if len(found) == 1:
            return RedirectResponse(f"/officer/trips/{found[0].reference}", status_code=303)
    return render(request, "officer_search.html", user=who, q=q, found=found)


@router.get("/officer/trips/{reference}", response_class=HTMLResponse)
def officer_trip(reference: str, request: Request, ctx: Ctx, db: Db) -> Response:
    who = _officer(request, ctx, db)
    if isinstance(who, Response):
        return who
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    try:
        row = trips.get(db, reference, actor=who, network=network)
    except AppError as exc:
        return message_page(request, exc, exc.status_code, exc.code)
    roles = {r.value for r in who.roles}
    yards = trips.gates_of_yards(network)
    mine = [s for s in pending_steps(row.state, roles)
            if may_record_step(who, s["role"], row.gate, yards)
            and s["kind"] not in MOVEMENT_KINDS]
    held = [code for code, st in row.state["steps"].items() if st["status"] == "held"
            and next(s for s in row.state["procedure"]["steps"] if s["code"] == code)["role"]
            in roles]
    gate = network.gate(row.gate)
    fmt = formatter(request)
    return render(request, "officer_trip.html", user=who, trip=row, state=row.state,
                   gate_name=fmt.name(gate.name) if gate else row.gate, mine=mine, held=held,
                   hold_reasons=[r for r in network.reason_codes if r.use in ("hold", "both")],
                   reject_reasons=[r for r in network.reason_codes
                                   if r.use in ("reject", "both")],
                   timeline=trips.timeline(db, row))


@router.post("/officer/trips/{reference}/steps/{step}")
def officer_record(reference: str, step: str, request: Request, ctx: Ctx, db: Db,
                   outcome: Annotated[str, Form()], csrf: Annotated[str, Form()] = "",
                   channel: Annotated[str, Form()] = "", reason_code: Annotated[str, Form()] = "",
                   note: Annotated[str, Form()] = "") -> Response:
    """Pass, hold, reject or release a step: the same rules as the API."""
    session.check_csrf(request, csrf)
    who = _officer(request, ctx, db)
    if isinstance(who, Response):
        return who
    try:
        if outcome == "release":
            event: Any = "step.released"
            payload: dict[str, Any] = {"step": step, **({"note": note} if note else {})}
        else:
            event, payload = trips.step_outcome(step, outcome, channel=channel or None,
                                                reason_code=reason_code or None,
                                                note=note or None)
    except AppError as exc:
        return message_page(request, exc, exc.status_code, exc.code)
    return record_on_trip(request, ctx, db, who, reference, event, payload,
                          source="officer_screen",
                          back=lambda row: f"/officer/trips/{row.reference}")


# --- the regulator's console ---------------------------------------------------------------------


def _regulator(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(request, ctx, db, lambda p: p.may("gate.control"),
                     N_("This page is for the control room."))


@router.get("/console", response_class=HTMLResponse)
def console_page(request: Request, ctx: Ctx, db: Db, gate: str = "") -> Response:
    """The control room: the network with counts and fill levels, the virtual queue, the
    dispatcher's orders, alerts, the regulator's controls and trucks per hour."""
    who = _regulator(request, ctx, db)
    if isinstance(who, Response):
        return who
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    fmt = formatter(request)
    hours = console.crossings_per_hour(db, now)
    return render(
        request, "console.html", user=who, gate=gate, gates=network.gates,
        nodes=console.schematic(network, trips.occupancy(db, network), fmt.name),
        width=console.WIDTH, height=console.HEIGHT,
        queue=dispatch.queue(db, network, now, gate or None),
        orders=console.recent_orders(db, now),
        alerts=console.alerts(db, actor=who, now=now, silent_after=timedelta(
            minutes=ctx.settings.device_silent_minutes)),
        controls=controls.active(db, now), hours=hours, peak=max(hours) or 1,
        park=(park := console.park_queue_by_hour(db, now)), park_peak=max(park) or 1)


@router.post("/console/controls")
def console_control(request: Request, ctx: Ctx, db: Db, gate: Annotated[str, Form()],
                    kind: Annotated[Literal["closure", "capacity", "pause", "extended_hours"],
                                    Form()],
                    reason: Annotated[str, Form()],
                    hours: Annotated[float, Form()] = 1.0,
                    direction: Annotated[str, Form()] = "",
                    vehicles_per_hour: Annotated[str, Form()] = "",
                    csrf: Annotated[str, Form()] = "") -> Response:
    """Close a gate, change its capacity, extend its hours or pause calls from now on."""
    session.check_csrf(request, csrf)
    who = _regulator(request, ctx, db)
    if isinstance(who, Response):
        return who
    now = ctx.clock.now()
    try:
        if not 0 < hours <= 24 * 14:
            raise ValidationFailed([FieldError("hours", "between 0 and 336 hours")])
        per_hour = int(vehicles_per_hour) if vehicles_per_hour.strip() else None
        controls.create(db, networks.in_force(db, now), gate=gate,
                        direction=direction or None, kind=kind, starts_at=now,
                        ends_at=now + timedelta(hours=hours), vehicles_per_hour=per_hour,
                        reason=reason.strip(), actor=who, now=now)
    except ValueError:
        return render(request, "message.html", status=422,
                       message=N_("Vehicles per hour must be a whole number."))
    except AppError as exc:
        return message_page(request, exc, exc.status_code, exc.code)
    return RedirectResponse("/console", status_code=303)


@router.post("/console/priority")
def console_priority(request: Request, ctx: Ctx, db: Db, trip: Annotated[str, Form()],
                     reason: Annotated[str, Form()], csrf: Annotated[str, Form()] = "",
                     priority: Annotated[str, Form()] = "urgent") -> Response:
    """Grant a trip urgent priority (or set another class), with a reason."""
    session.check_csrf(request, csrf)
    who = _regulator(request, ctx, db)
    if isinstance(who, Response):
        return who
    return record_on_trip(request, ctx, db, who, trip, "trip.prioritised",
                          {"priority": priority, "reason": reason.strip()}, source="regulator",
                          back=lambda _row: "/console")


@router.post("/console/controls/{control_id}/lift")
def console_lift(control_id: int, request: Request, ctx: Ctx, db: Db,
                 csrf: Annotated[str, Form()] = "") -> Response:
    session.check_csrf(request, csrf)
    who = _regulator(request, ctx, db)
    if isinstance(who, Response):
        return who
    now = ctx.clock.now()
    try:
        controls.lift(db, networks.in_force(db, now), control_id, actor=who, now=now)
    except AppError as exc:
        return message_page(request, exc, exc.status_code, exc.code)
    return RedirectResponse("/console", status_code=303)
