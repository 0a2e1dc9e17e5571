"""The public board of gates, yards and queue, and its large-screen mode for the park's
display boards."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.dispatch import board
from borderflow.network import service as networks
from borderflow.web.pages import REFRESH_SECONDS, _context, templates

router = APIRouter(include_in_schema=False)


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
