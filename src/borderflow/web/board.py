"""The public board of gates, yards and queue, and its large-screen mode for the park's
display boards: one 1920x1080 screen, no header, a few gates at a time, turning to the next
gates every few seconds (each turn fetches fresh figures), with the time of the data and a
warning when it is more than a minute old."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from borderflow.api.deps import Ctx
from borderflow.demand import advice as forecasts
from borderflow.dispatch import board
from borderflow.domain.access import ANONYMOUS
from borderflow.network import service as networks
from borderflow.web import console, i18n, session
from borderflow.web.pages import REFRESH_SECONDS, _context, formatter, page_language, render

router = APIRouter(include_in_schema=False)

PER_SCREEN = 3
"""Gates side by side on one display-board screen (1920 px wide)."""
TURN_SECONDS = 10
"""How long a display board shows one screen of gates before turning to the next."""
STALE_SECONDS = 60
"""A display board whose figures are older than this says so (the park's network or the
platform is down): the page never fetched newer ones."""


@dataclass(frozen=True)
class Screen:
    """Which gates a display board shows now, and how it turns."""

    page: int
    pages: int
    per: int
    every: int

    @property
    def next(self) -> int:
        return (self.page + 1) % self.pages


@dataclass
class Figures(board.Board):
    """The board's figures and the newest forecast of the next days (no advice: that is for
    the control room), computed together once per interval and shared by every viewer."""

    forecast: forecasts.Week | None = None

    def forecast_of(self, gate: str) -> list[forecasts.Series]:
        """The gate's forecast series (export first), empty without a forecast."""
        return [s for s in self.forecast.series if s.gate == gate] if self.forecast else []


def _whole(raw: str | None, default: int, least: int, most: int) -> int:
    """A display board's setting from its address; anything unreadable is the default (a
    board on the wall has nobody to read an error)."""
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return min(max(value, least), most)


def _screen(request: Request, gates: int) -> Screen:
    q = request.query_params
    per = _whole(q.get("per"), PER_SCREEN, 1, 6)
    pages = max(1, -(-gates // per))
    return Screen(page=_whole(q.get("page"), 0, 0, 10_000) % pages, pages=pages, per=per,
                  every=_whole(q.get("every"), TURN_SECONDS, 1, 300))


def _shared(request: Request, ctx: Ctx) -> board.Shared:
    found = getattr(request.app.state, "board_figures", None)
    if not isinstance(found, board.Shared):
        found = board.Shared(ctx.settings.board_share_seconds)
        request.app.state.board_figures = found
    return found


class Panels:
    """The board's panel as drawn from one set of figures, per address and language: every
    viewer refreshing the same panel gets the same bytes, drawn once (a thousand screens cost
    what one does, in the template as in the database). Viewers asking for a drawing that
    another is making wait for it rather than drawing it again, or, on the event loop, get
    the drawing of the previous figures meanwhile (:meth:`shown`). The drawings of the two
    newest sets of figures are kept; older ones are dropped."""

    LIMIT = 256
    """Drawings kept of one set of figures (addresses and languages)."""
    KEPT = 2
    """Sets of figures whose drawings are kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bodies: dict[str, dict[tuple[str, str], bytes]] = {}
        self._drawing: dict[tuple[str, tuple[str, str]], threading.Event] = {}

    def get(self, digest: str, key: tuple[str, str], draw: Callable[[], bytes]) -> bytes:
        while True:
            with self._lock:
                body = self._find(digest, key)
                if body is not None:
                    return body
                other = self._drawing.get((digest, key))
                if other is None:
                    mine = self._drawing[(digest, key)] = threading.Event()
                    break
            other.wait(10)  # another viewer draws it; if that failed, draw it here
        try:
            body = draw()
            with self._lock:
                bodies = self._bodies.get(digest)
                if bodies is None:
                    while len(self._bodies) >= self.KEPT:
                        del self._bodies[next(iter(self._bodies))]  # the oldest
                    bodies = self._bodies[digest] = {}
                if len(bodies) >= self.LIMIT:
                    bodies.clear()
                bodies[key] = body
            return body
        finally:
            with self._lock:
                del self._drawing[(digest, key)]
            mine.set()

    def _find(self, digest: str, key: tuple[str, str]) -> bytes | None:
        bodies = self._bodies.get(digest)
        return None if bodies is None else bodies.get(key)

    def shown(self, digest: str, key: tuple[str, str]) -> tuple[str, bytes] | None:
        """What a viewer is shown of ``key`` without drawing: the drawing from the figures
        ``digest``, or, while another viewer draws it, the newest drawing from earlier
        figures (with their digest); else ``None``."""
        with self._lock:
            body = self._find(digest, key)
            if body is not None:
                return digest, body
            if (digest, key) not in self._drawing:
                return None
            for older in reversed(self._bodies):
                body = self._find(older, key)
                if body is not None:
                    return older, body
            return None


def _panels(request: Request) -> Panels:
    found = getattr(request.app.state, "board_panels", None)
    if not isinstance(found, Panels):
        found = Panels()
        request.app.state.board_panels = found
    return found


def _figures(request: Request, ctx: Ctx, shared: int = 0) -> tuple[board.Board, str]:
    """The shared figures and the ETag of this page drawn from them: the figures'
    fingerprint, the page's address and language, and the visitor its header greets. The
    database is read only when no figures are fresh, in a read session of the computation's
    own: a viewer served from fresh figures neither waits for a place at the database (the
    requests' admission) nor holds one, so the board keeps answering a burst of writes."""

    def compute() -> board.Board:
        with ctx.read_sessions() as db:
            now = ctx.clock.now()
            network = networks.in_force(db, now)
            figures = board.build(db, network, now)
            return Figures(**{f.name: getattr(figures, f.name) for f in fields(figures)},
                           forecast=forecasts.week(db, network, now=now))

    figures, digest = _shared(request, ctx).get(compute)
    request.state.board_digest = digest
    if shared:  # the same for every visitor (:func:`_shared_seconds`)
        return figures, _etag(request, digest, page_language(request), ANONYMOUS.username, "")
    frame = _context(request)  # the header differs by visitor: signed in or not, who
    who = getattr(frame["user"], "username", "")
    return figures, _etag(request, digest, frame["lang"], who, frame["csrf"])


def _shared_seconds(request: Request, ctx: Ctx) -> int:
    """How long a shared cache may keep this panel's answer, 0 if it may not: it is answered
    alike to everyone who asks for its address when the visitor has no session, the address
    names the language (as the board's page asks) and the figures are shared for at least a
    second. Such an answer sets no cookie, its ETag does not depend on the visitor, and it
    says ``s-maxage`` (the figures' interval): the load balancer in front of the API
    processes answers the public screens from its cache (deploy.md), so a thousand of them
    cost the API what one does. A browser, for which ``s-maxage`` says nothing, asks again
    each time with its ETag."""
    seconds = int(ctx.settings.board_share_seconds)
    if seconds < 1 or request.query_params.get("lang") not in i18n.LANGUAGES \
            or request.cookies.get(session.SESSION_COOKIE):
        return 0
    return seconds


def _etag(request: Request, digest: str, lang: str, who: str, csrf: str) -> str:
    """The ETag of this page drawn from the figures ``digest`` for this visitor."""
    page = f"{request.url.path}?{request.url.query}|{lang}|{who}|{csrf}"
    tag = hashlib.sha256(f"{digest}|{page}".encode()).hexdigest()[:20]
    return f'W/"board-{tag}"'


def _unchanged(request: Request, etag: str, shared: int = 0) -> Response | None:
    """304 when the browser already holds this page drawn from the same figures."""
    sent = request.headers.get("if-none-match", "")
    if etag in {t.strip() for t in sent.split(",")}:
        return Response(status_code=304, headers=_cache_headers(etag, shared))
    return None


def _cache_headers(etag: str, shared: int = 0) -> dict[str, str]:
    """The answer's ETag, and who may keep it: browsers ask again each time (the ETag makes
    that a 304 while the figures are the same); with ``shared`` seconds, a shared cache may
    answer it for that long (:func:`_shared_seconds`)."""
    return {"ETag": etag, "Cache-Control": f"s-maxage={shared}" if shared else "no-cache"}


def _answer(response: Response, etag: str, shared: int = 0) -> Response:
    response.headers.update(_cache_headers(etag, shared))
    return response


@router.get("/board", response_class=HTMLResponse)
def board_page(request: Request, ctx: Ctx) -> Response:
    """The public board: anyone, no login; ``?screen=large`` for the park's display boards
    (``per`` gates a screen, a new screen ``every`` seconds). Its figures are shared by every
    viewer for BOARD_SHARE_SECONDS; a browser holding the same drawing gets 304."""
    figures, etag = _figures(request, ctx)
    same = _unchanged(request, etag)
    if same is not None:
        return same
    if request.query_params.get("screen") == "large":
        return _answer(_large(request, figures, "board_large.html"), etag)
    return _answer(render(request, "board.html", board=figures, large=False,
                          refresh=REFRESH_SECONDS, **_forecast_words(request)), etag)


@router.get("/board/panel", response_class=HTMLResponse)
async def board_panel(request: Request, ctx: Ctx) -> Response:
    """The board's figures alone, for the page to refresh itself (the display board's next
    screen with ``screen=large``); shared and answered 304 as the board is, and drawn once
    per figures, address and language for every screen (:class:`Panels`). A public screen
    refreshing a panel already drawn from fresh figures is answered on the event loop
    (:func:`_drawn_panel`): it neither waits for a thread, which requests waiting for the
    database may all hold, nor reads the database."""
    drawn = _drawn_panel(request, ctx)
    return drawn if drawn is not None else await run_in_threadpool(_panel, request, ctx)


def _drawn_panel(request: Request, ctx: Ctx) -> Response | None:
    """The answer to a visitor without a session (the public screens) when the shared
    figures are fresh and this panel was drawn from them (or from the previous figures
    while another viewer draws it: :meth:`Panels.shown`), else ``None``. The same answer,
    ETag and cookie as :func:`_panel` gives for those figures."""
    if request.cookies.get(session.SESSION_COOKIE):
        return None  # the header greets a signed-in visitor: read in a thread
    fresh = _shared(request, ctx).fresh()
    if fresh is None:
        return None
    lang = page_language(request)
    shown = _panels(request).shown(fresh[1], (request.url.query, lang))
    if shown is None:
        return None
    digest, body = shown
    shared = _shared_seconds(request, ctx)
    etag = _etag(request, digest, lang, ANONYMOUS.username,
                 "" if shared else session.csrf_token(request))
    same = _unchanged(request, etag, shared)
    if same is not None:
        return same
    response = HTMLResponse(body)
    if not shared:
        session.remember_csrf(request, response)
    return _answer(response, etag, shared)


def _panel(request: Request, ctx: Ctx) -> Response:
    shared = _shared_seconds(request, ctx)
    figures, etag = _figures(request, ctx, shared)
    same = _unchanged(request, etag, shared)
    if same is not None:
        return same

    def draw() -> bytes:
        if request.query_params.get("screen") == "large":
            return bytes(_large(request, figures, "_board_large_panel.html").body)
        return bytes(render(request, "_board_panel.html", board=figures,
                            **_forecast_words(request)).body)

    body = _panels(request).get(request.state.board_digest,
                                (request.url.query, formatter(request).lang), draw)
    response = HTMLResponse(body)
    if not shared:
        session.remember_csrf(request, response)
    return _answer(response, etag, shared)


def _forecast_words(request: Request) -> dict[str, Any]:
    """How the board says the forecast's days and counts, in the page's language."""
    fmt = formatter(request)
    return {"day_label": lambda day: console.day_label(fmt, day),
            "trucks": lambda v: console.trucks(fmt, v),
            "interval": lambda lo, hi: console.interval(fmt, lo, hi)}


def _large(request: Request, figures: board.Board, template: str) -> Response:
    screen = _screen(request, len(figures.gates))
    shown = figures.gates[screen.page * screen.per:(screen.page + 1) * screen.per]
    return render(request, template, board=figures, gates=shown, screen=screen, large=True,
                  stale_seconds=STALE_SECONDS)
