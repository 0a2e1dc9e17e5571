"""Web pages. Handlers are thin: they gather figures from the services and render a
template in the visitor's language."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context

from borderflow.account import directory
from borderflow.api.context import AppContext
from borderflow.api.deps import Ctx, Db
from borderflow.dispatch import board, controls
from borderflow.dispatch import service as dispatch
from borderflow.dispatch import views as control_room
from borderflow.documents import FONT
from borderflow.domain.access import (
    ANONYMOUS,
    OFFICIALS,
    STEP_OWNERS,
    Principal,
    Role,
    may_record_step,
)
from borderflow.domain.network import Network
from borderflow.domain.trip import MOVEMENT_KINDS, parse_time, pending_steps
from borderflow.errors import N_, AppError, msg
from borderflow.network import service as networks
from borderflow.telemetry import service as telemetry
from borderflow.telemetry import views as telemetry_views
from borderflow.trip import service as trips
from borderflow.trip import views as trip_views
from borderflow.web import console, i18n, session

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


# --- the driver's page ---------------------------------------------------------------------------

DRIVER_DONE = {"acknowledged": N_("Thank you: the control room knows you have seen the order."),
               "linked": N_("Phone linked: its positions now go with your trips.")}
"""``?done=`` after a driver's form: what the page confirms."""


def _driver(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(request, ctx, db,
                     lambda p: Role.DRIVER in p.roles and bool(p.driver_document),
                     N_("This page is for drivers."))


@router.get("/driver", response_class=HTMLResponse)
def driver_page(request: Request, ctx: Ctx, db: Db, done: str = "") -> Response:
    """The driver's phone: the current order, place in the queue, expected call, GPS set-up."""
    who = _driver(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    notice = fmt.gettext(DRIVER_DONE[done]) if done in DRIVER_DONE else None
    return _driver_view(request, ctx, db, who, notice=notice)


def _driver_view(request: Request, ctx: Ctx, db: Db, who: Principal, *, status: int = 200,
                 notice: str | None = None, error: str | None = None,
                 device_id: str = "", device_error: str | None = None,
                 error_trip: str | None = None) -> Response:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    rows = trip_views.under_way_for_driver(db, who.driver_document)
    shown = []
    for row in rows:
        place = dispatch.place_of(db, network, row, now)
        order = place["order"] or None
        shown.append({
            **place, "plate": row.state["facts"]["plate"],
            "arrive_by": parse_time(order["arrive_by"])
            if order and order.get("arrive_by") else None,
            "acknowledged_at": parse_time(order["acknowledged_at"])
            if order and order.get("acknowledged_at") else None})
    linked = telemetry_views.device_ids_of_driver(db, who.driver_document)
    return render(request, "driver.html", status=status, user=who, trips=shown,
                  linked=linked, notice=notice, error=error, error_trip=error_trip,
                  device_id=device_id, device_error=device_error, here="/driver",
                  gps_url=ctx.settings.public_base_url.rstrip("/") + "/api/v1/telemetry/osmand")


def _csrf_ok(request: Request, csrf: str) -> bool:
    """Whether the form came from this site's page (a stale or forged form is shown again,
    with what was typed, rather than refused on a bare page)."""
    try:
        session.check_csrf(request, csrf)
    except AppError:
        return False
    return True


STALE_FORM = N_("This form had expired. Check what you typed and send it again.")


@router.post("/driver/trips/{reference}/acknowledge")
def driver_acknowledge(reference: str, request: Request, ctx: Ctx, db: Db,
                       csrf: Annotated[str, Form()] = "") -> Response:
    fresh = _csrf_ok(request, csrf)
    who = _driver(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    if not fresh:
        return _driver_view(request, ctx, db, who, status=403, error=fmt.gettext(STALE_FORM),
                            error_trip=reference)
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    try:
        row = trips.get(db, reference, actor=who, network=network)
        trips.record(db, row.id, "trip.order_acknowledged", {}, actor=who, network=network,
                     now=now, source="api")
    except AppError as exc:
        db.rollback()
        return _driver_view(request, ctx, db, who, status=exc.status_code,
                            error=fmt.error(exc), error_trip=reference)
    return RedirectResponse("/driver?done=acknowledged", status_code=303)


@router.post("/driver/device")
def driver_device(request: Request, ctx: Ctx, db: Db, device_id: Annotated[str, Form()] = "",
                  csrf: Annotated[str, Form()] = "") -> Response:
    fresh = _csrf_ok(request, csrf)
    who = _driver(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    typed = device_id.strip()
    if not fresh:
        return _driver_view(request, ctx, db, who, status=403, error=fmt.gettext(STALE_FORM),
                            device_id=typed)
    if not 0 < len(typed) <= 100:
        problem = fmt.gettext(N_("Type the device identifier shown in the app (1 to 100 "
                                 "characters)."))
        return _driver_view(request, ctx, db, who, status=422, error=problem,
                            device_id=typed, device_error=problem)
    try:
        telemetry.bind(db, typed, actor=who, now=ctx.clock.now(),
                       driver_document=who.driver_document)
    except AppError as exc:
        db.rollback()
        fields = fmt.field_errors(exc.fields)
        return _driver_view(request, ctx, db, who, status=exc.status_code,
                            error=fmt.error(exc), device_id=typed,
                            device_error=fields.get("device_id"))
    return RedirectResponse("/driver?done=linked", status_code=303)


# --- the officer's checkpoint screen -------------------------------------------------------------

OFFICER_DONE = {"passed": N_("Step passed: {step}."),
                "held": N_("Step put on hold: {step}."),
                "released": N_("Hold released: {step}."),
                "rejected": N_("Step rejected: {step}. The trip ends here.")}
"""``?done=...&step=...`` after an officer's form: what the trip's page confirms."""
OUTCOME_DONE = {"pass": "passed", "hold": "held", "release": "released", "reject": "rejected"}
TRIP_READERS = OFFICIALS | STEP_OWNERS
"""Roles whose people read a trip on the checkpoint's trip page (enterprises and drivers have
their own pages)."""


def _officer(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(request, ctx, db, lambda p: p.may("trip.record"),
                     N_("This page is for checkpoint officers."))


def may_read_trip_page(who: Principal) -> bool:
    """Whether the checkpoint's trip page is for this visitor (read-only unless they record
    steps); which trips they see is the service's scoping."""
    return who.may("trip.read") and bool(who.roles & TRIP_READERS)


@router.get("/officer", response_class=HTMLResponse)
def officer_search(request: Request, ctx: Ctx, db: Db, q: str = "") -> Response:
    """Find a trip by plate, declaration or trip reference, or a scanned QR code (a USB
    scanner types into the field and presses Enter)."""
    who = _officer(request, ctx, db)
    if isinstance(who, Response):
        return who
    if not q.strip():
        return render(request, "officer_search.html", user=who, q=q, found=[])
    network = networks.in_force(db, ctx.clock.now())
    found, _total = trips.search(db, q, actor=who, network=network, status=None,
                                 gate=None, limit=20, offset=0)
    if len(found) == 1:
        return RedirectResponse(f"/officer/trips/{found[0].reference}", status_code=303)
    return render(request, "officer_search.html", user=who, q=q, found=found)


@router.get("/officer/trips/{reference}", response_class=HTMLResponse)
def officer_trip(reference: str, request: Request, ctx: Ctx, db: Db, done: str = "",
                 step: str = "") -> Response:
    """A trip's facts, steps and timeline; the forms to pass, hold, reject or release the
    steps of the visitor's role. Officials who do not record steps (the control room) read
    it without the forms."""
    who = signed_in(request, ctx, db, may_read_trip_page,
                    N_("This page is for officials of the border gate."))
    if isinstance(who, Response):
        return who
    return _trip_view(request, ctx, db, who, reference, done=done, done_step=step)


def _trip_view(request: Request, ctx: Ctx, db: Db, who: Principal, reference: str, *,
               status: int = 200, error: str | None = None, form: dict[str, str] | None = None,
               field_error: str | None = None, done: str = "", done_step: str = ""
               ) -> Response:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    fmt = formatter(request)
    try:
        row = trips.get(db, reference, actor=who, network=network)
    except AppError as exc:
        return message_page(request, exc, exc.status_code, exc.code)
    state = row.state
    specs = {s["code"]: s for s in state["procedure"]["steps"]}
    records = who.may("trip.record")
    roles = {r.value for r in who.roles}
    mine: list[dict[str, Any]] = []
    held: list[str] = []
    if records:
        yards = trips.gates_of_yards(network)
        mine = [s for s in pending_steps(state, roles)
                if may_record_step(who, s["role"], row.gate, yards)
                and s["kind"] not in MOVEMENT_KINDS]
        held = [code for code, st in state["steps"].items() if st["status"] == "held"
                and code in specs and specs[code]["role"] in roles]
    notice = None
    if done in OFFICER_DONE and done_step in specs:
        notice = fmt.gettext(OFFICER_DONE[done]).format(
            step=fmt.label("step", done_step, state))
    timeline = trips.timeline(db, row)
    names = directory.people(db, {e["actor"] for e in timeline}
                    | {st.get("by") for st in state["steps"].values() if st.get("by")})
    shown_form = form or {}
    typed_lost = bool(shown_form.get("note")) and not (
        any(s["code"] == shown_form.get("step") for s in mine)
        or shown_form.get("step") in held)
    return render(request, "officer_trip.html", status=status, user=who, trip=row,
                  state=state, records=records, mine=mine, held=held,
                  hold_reasons=[r for r in network.reason_codes if r.use in ("hold", "both")],
                  reject_reasons=[r for r in network.reason_codes
                                  if r.use in ("reject", "both")],
                  timeline=[_entry(fmt, e, state, names) for e in timeline],
                  steps=[{"spec": s, "status": state["steps"].get(s["code"], {}),
                          "by": _who(fmt, state["steps"].get(s["code"], {}).get("by"), None,
                                     names)} for s in state["procedure"]["steps"]],
                  notice=notice, error=error, form=shown_form, field_error=field_error,
                  typed_lost=typed_lost, here=f"/officer/trips/{row.reference}")


def _who(fmt: i18n.Formatter, username: str | None, source: str | None,
         names: dict[str, tuple[str, list[str]]]) -> str:
    """An actor as people read it: a person's name and role; a machine by what it is (the
    dispatcher, a camera, the GPS) through the event's source."""
    if not username:
        return ""
    if username in names:
        name, roles = names[username]
        if roles:
            return f"{name} ({fmt.listing([fmt.label('role', r) for r in roles])})"
        return name
    return fmt.label("source", source or "system")


def _entry(fmt: i18n.Formatter, e: dict[str, Any], state: dict[str, Any],
           names: dict[str, tuple[str, list[str]]]) -> dict[str, Any]:
    """One line of the timeline in the page's language: what happened, to which step, why,
    and who did it."""
    p = e["payload"]
    what = fmt.label("event", e["type"])
    details: list[str] = []
    if e.get("step"):
        details.append(fmt.label("step", e["step"], state))
    if p.get("channel"):
        details.append(fmt.label("channel", p["channel"]))
    if p.get("reason_code"):
        details.append(fmt.label("reason", p["reason_code"]))
    if e["type"].startswith("area."):
        details.append(fmt.label("area", p.get("area")))
    if e["type"] in ("trip.called", "trip.rerouted") and p.get("gate"):
        details.append(fmt.label("gate", p["gate"]))
    if e["type"] == "trip.called" and p.get("yard"):
        details.append(fmt.label("yard", p["yard"]))
    if e["type"] == "trip.called" and p.get("arrive_by"):
        details.append(fmt.gettext(N_("arrive by {time}")).format(
            time=fmt.time(parse_time(p["arrive_by"]))))
    if e["type"] == "trip.prioritised" and p.get("priority"):
        details.append(fmt.label("priority", p["priority"]))
    if e["type"] == "trip.booked" and p.get("slot_start"):
        details.append(fmt.datetime(parse_time(p["slot_start"])))
    if e["type"].startswith("fee.") and isinstance(p.get("total"), int):
        details.append(fmt.vnd(p["total"]))
    note = p.get("note") or (p.get("reason") if e["type"] in (
        "trip.prioritised", "trip.cancelled") else None)
    return {"at": e["occurred_at"], "what": what, "details": details, "note": note,
            "type": e["type"], "who": _who(fmt, e["actor"], e.get("source"), names)}


@router.post("/officer/trips/{reference}/steps/{step}")
def officer_record(reference: str, step: str, request: Request, ctx: Ctx, db: Db,
                   outcome: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "",
                   channel: Annotated[str, Form()] = "", reason_code: Annotated[str, Form()] = "",
                   note: Annotated[str, Form()] = "") -> Response:
    """Pass, hold, reject or release a step: the same rules as the API. A refusal shows the
    trip's page again with the message and what was typed."""
    fresh = _csrf_ok(request, csrf)
    who = _officer(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    form = {"step": step, "outcome": outcome, "channel": channel,
            "reason_code": reason_code, "note": note}

    def again(status: int, error: str, field_error: str | None = None) -> Response:
        return _trip_view(request, ctx, db, who, reference, status=status, error=error,
                          form=form, field_error=field_error)

    if not fresh:
        return again(403, fmt.gettext(STALE_FORM))
    if outcome not in OUTCOME_DONE:
        return again(422, fmt.gettext(N_("Choose pass, hold, reject or release.")))
    if outcome in ("hold", "reject") and not reason_code:
        problem = fmt.gettext(N_("Choose a reason."))
        return again(422, problem, problem)
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    try:
        row = trips.get(db, reference, actor=who, network=network)
        spec = next((s for s in row.state["procedure"]["steps"] if s["code"] == step), None)
        if outcome == "pass" and spec is not None and spec["kind"] == "customs" \
                and not channel:
            problem = fmt.gettext(N_("Choose the inspection channel."))
            return again(422, problem, problem)
        if outcome == "release":
            event: Any = "step.released"
            payload: dict[str, Any] = {"step": step, **({"note": note} if note else {})}
        else:
            event, payload = trips.step_outcome(step, outcome, channel=channel or None,
                                                reason_code=reason_code or None,
                                                note=note or None)
        trips.record(db, row.id, event, payload, actor=who, network=network, now=now,
                     source="officer_screen")
    except AppError as exc:
        db.rollback()
        fields = fmt.field_errors(exc.fields)
        return again(exc.status_code, fmt.error(exc),
                     fields.get("reason_code") or fields.get("channel"))
    return RedirectResponse(f"/officer/trips/{row.reference}?done={OUTCOME_DONE[outcome]}"
                            f"&step={quote(step)}", status_code=303)


# --- the regulator's console ---------------------------------------------------------------------

CONSOLE_DONE = {"control": N_("Control applied."), "lifted": N_("Control lifted."),
                "priority": N_("Urgent priority granted.")}
"""``?done=`` after a console form (the control's id or the trip's reference make it exact)."""
CONTROL_KINDS = ("pause", "closure", "capacity", "extended_hours")


def _regulator(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(request, ctx, db, lambda p: p.may("gate.control"),
                     N_("This page is for the control room."))


@router.get("/console", response_class=HTMLResponse)
def console_page(request: Request, ctx: Ctx, db: Db, gate: str = "", done: str = "",
                 control: int | None = None, trip: str = "") -> Response:
    """The control room: the network with counts and fill levels, the virtual queue, the
    dispatcher's orders, alerts, the regulator's controls and trucks per hour."""
    who = _regulator(request, ctx, db)
    if isinstance(who, Response):
        return who
    return _console_view(request, ctx, db, who, gate=gate,
                         notice=_console_notice(request, ctx, db, who, done, control, trip))


def _console_notice(request: Request, ctx: Ctx, db: Db, who: Principal, done: str,
                    control_id: int | None, reference: str) -> str | None:
    """The confirmation of the last console form, from the records (never text from the
    address)."""
    if done not in CONSOLE_DONE:
        return None
    fmt = formatter(request)
    now = ctx.clock.now()
    if done == "control" and control_id is not None:
        found = next((c for c in controls.active(db, now) if c.id == control_id), None)
        if found is not None:
            return fmt.gettext(N_("Control applied: {gate}, {control} until {time}.")).format(
                gate=fmt.label("gate", found.gate), control=fmt.label("control_kind", found.kind),
                time=console.when(fmt, found.ends_at, now))
    if done == "priority" and reference:
        try:
            row = trips.get(db, reference, actor=who, network=networks.in_force(db, now))
        except AppError:
            row = None
        if row is not None:
            return fmt.gettext(N_("Urgent priority granted to {trip}.")).format(
                trip=row.reference)
    return fmt.gettext(CONSOLE_DONE[done])


def _console_view(request: Request, ctx: Ctx, db: Db, who: Principal, *, gate: str = "",
                  status: int = 200, notice: str | None = None, error: str | None = None,
                  form: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                  which: str = "") -> Response:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    fmt = formatter(request)
    hours = control_room.crossings_per_hour(db, now)
    defaults = {"gate": "", "kind": "", "direction": "", "hours": "1", "vehicles_per_hour": "",
                "reason": "", "trip": "", "priority_reason": ""}
    return render(
        request, "console.html", status=status, user=who, gate=gate, gates=network.gates,
        nodes=console.schematic(network, trips.occupancy(db, network), fmt.name),
        width=console.WIDTH, height=console.HEIGHT,
        queue=dispatch.queue(db, network, now, gate or None),
        orders=control_room.recent_orders(db, now),
        alerts=control_room.alerts(db, actor=who, now=now, silent_after=timedelta(
            minutes=ctx.settings.device_silent_minutes)),
        controls=controls.active(db, now), hours=hours, peak=max(hours) or 1,
        park=(park := control_room.park_queue_by_hour(db, now)), park_peak=max(park) or 1,
        kinds=CONTROL_KINDS, notice=notice, error=error, which=which,
        form={**defaults, **(form or {})}, errors=errors or {},
        when=lambda at: console.when(fmt, at, now),
        here="/console" + (f"?gate={quote(gate)}" if gate else ""))


def _hours(fmt: i18n.Formatter, raw: str) -> Decimal | None:
    """Hours typed in the form: as a number field sends it (``1.5``), or as people write
    them in the page's language (``1,5`` on a Vietnamese page)."""
    text = raw.strip()
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        pass
    try:
        return fmt.parse_number(text)
    except i18n.NumberInputError:
        return None


@router.post("/console/controls")
def console_control(request: Request, ctx: Ctx, db: Db, gate: Annotated[str, Form()] = "",
                    kind: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "",
                    hours: Annotated[str, Form()] = "", direction: Annotated[str, Form()] = "",
                    vehicles_per_hour: Annotated[str, Form()] = "",
                    csrf: Annotated[str, Form()] = "") -> Response:
    """Close a gate, change its capacity, extend its hours or pause calls from now on; a
    refusal shows the console again with the form as it was typed."""
    fresh = _csrf_ok(request, csrf)
    who = _regulator(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    form = {"gate": gate, "kind": kind, "direction": direction, "hours": hours,
            "vehicles_per_hour": vehicles_per_hour, "reason": reason}
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    errors: dict[str, str] = {}
    if network.gate(gate) is None:
        errors["gate"] = fmt.gettext(N_("Choose a gate."))
    if kind not in CONTROL_KINDS:
        errors["kind"] = fmt.gettext(N_("Choose what to do."))
    span = _hours(fmt, hours)
    if span is None or not 0 < span <= 24 * 14:
        errors["hours"] = fmt.gettext(N_("Give the number of hours, more than 0 and at most "
                                         "336."))
    per_hour: int | None = None
    if vehicles_per_hour.strip():
        count = _hours(fmt, vehicles_per_hour)
        if count is None or count != count.to_integral_value() or count < 0:
            errors["vehicles_per_hour"] = fmt.gettext(N_("Vehicles per hour must be a whole "
                                                         "number."))
        else:
            per_hour = int(count)
    if kind == "capacity" and per_hour is None and "vehicles_per_hour" not in errors:
        errors["vehicles_per_hour"] = fmt.gettext(N_("Give the vehicles per hour the gate "
                                                     "takes (0 or more)."))
    if kind in ("pause", "closure") and per_hour is not None:
        errors["vehicles_per_hour"] = fmt.gettext(N_("Only a capacity change or extended hours "
                                                     "takes vehicles per hour; leave it "
                                                     "empty."))
    if len(reason.strip()) < 3:
        errors["reason"] = fmt.gettext(N_("Say why, in 3 characters or more."))
    if not fresh:
        return _console_view(request, ctx, db, who, status=403, error=fmt.gettext(STALE_FORM),
                             form=form, errors=errors, which="control")
    if errors:
        return _console_view(request, ctx, db, who, status=422,
                             error=fmt.gettext(N_("The control was not applied: see the "
                                                  "fields marked below.")),
                             form=form, errors=errors, which="control")
    try:
        made, _effects = controls.create(
            db, network, gate=gate, direction=direction or None, kind=kind,  # type: ignore[arg-type]
            starts_at=now, ends_at=now + timedelta(seconds=float(span or 0) * 3600),
            vehicles_per_hour=per_hour, reason=reason.strip(), actor=who, now=now)
    except AppError as exc:
        db.rollback()
        return _console_view(request, ctx, db, who, status=exc.status_code,
                             error=fmt.error(exc), form=form,
                             errors=fmt.field_errors(exc.fields), which="control")
    return RedirectResponse(f"/console?done=control&control={made.id}", status_code=303)


@router.post("/console/priority")
def console_priority(request: Request, ctx: Ctx, db: Db, trip: Annotated[str, Form()] = "",
                     reason: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "",
                     priority: Annotated[str, Form()] = "urgent") -> Response:
    """Grant a trip urgent priority (or set another class), with a reason; the trip is named
    by its reference or its plate."""
    fresh = _csrf_ok(request, csrf)
    who = _regulator(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    form = {"trip": trip, "priority_reason": reason}
    errors: dict[str, str] = {}
    if not trip.strip():
        errors["trip"] = fmt.gettext(N_("Give the trip's reference or plate."))
    if len(reason.strip()) < 3:
        errors["priority_reason"] = fmt.gettext(N_("Say why, in 3 characters or more."))

    def again(status: int, error: str) -> Response:
        return _console_view(request, ctx, db, who, status=status, error=error, form=form,
                             errors=errors, which="priority")

    if not fresh:
        return again(403, fmt.gettext(STALE_FORM))
    if errors:
        return again(422, fmt.gettext(N_("The priority was not granted: see the fields "
                                         "marked below.")))
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    row = trip_views.by_reference_or_plate(db, trip, who, network)
    if row is None:
        errors["trip"] = fmt.message(msg("No trip {trip} among those you may see.",
                                         trip=trip.strip()))
        return again(404, errors["trip"])
    try:
        trips.record(db, row.id, "trip.prioritised",
                     {"priority": priority, "reason": reason.strip()}, actor=who,
                     network=network, now=now, source="regulator")
    except AppError as exc:
        db.rollback()
        return again(exc.status_code, fmt.error(exc))
    return RedirectResponse(f"/console?done=priority&trip={quote(row.reference)}",
                            status_code=303)


@router.post("/console/controls/{control_id}/lift")
def console_lift(control_id: int, request: Request, ctx: Ctx, db: Db,
                 csrf: Annotated[str, Form()] = "") -> Response:
    fresh = _csrf_ok(request, csrf)
    who = _regulator(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    if not fresh:
        return _console_view(request, ctx, db, who, status=403, error=fmt.gettext(STALE_FORM))
    now = ctx.clock.now()
    try:
        controls.lift(db, networks.in_force(db, now), control_id, actor=who, now=now)
    except AppError as exc:
        db.rollback()
        return _console_view(request, ctx, db, who, status=exc.status_code,
                             error=fmt.error(exc))
    return RedirectResponse("/console?done=lifted", status_code=303)
