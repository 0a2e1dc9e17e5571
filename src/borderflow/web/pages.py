"""Web pages. Handlers are thin: they gather figures from the services and render a
template in the visitor's language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from borderflow.api.deps import Ctx, Db
from borderflow.network import service as networks
from borderflow.web import board, i18n

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)
LANG_COOKIE = "lang"
REFRESH_SECONDS = 15


def _context(request: Request, **values: Any) -> dict[str, Any]:
    lang = i18n.choose(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE),
                       request.headers.get("accept-language"))
    fmt = i18n.Formatter(lang)
    return {"request": request, "lang": lang, "languages": i18n.NAMES, "fmt": fmt,
            "_": fmt.gettext, **values}


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


@router.get("/lang/{code}")
def set_language(code: str, request: Request) -> RedirectResponse:
    """Remember the chosen language and go back (only to a page of this site)."""
    back = request.headers.get("referer") or "/board"
    target = back if back.startswith(str(request.base_url)) or back.startswith("/") else "/"
    response = RedirectResponse(target, status_code=303)
    if code in i18n.LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax",
                            httponly=True)
    return response
