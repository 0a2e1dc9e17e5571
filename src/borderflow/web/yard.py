"""The yard operator's page: record trucks into and out of the staging park and the yards the
operator runs, found by plate, reference, scanned QR code or a recent camera read; the
occupancy of those areas and the trucks inside."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.domain.access import Principal, declaration_scope
from borderflow.domain.network import Network
from borderflow.domain.trip import TERMINAL, EventType
from borderflow.errors import N_, AppError
from borderflow.network import service as networks
from borderflow.trip import checkpoint_view as checkpoint
from borderflow.trip import service as trips
from borderflow.web.pages import STALE_FORM, csrf_ok, formatter, render, signed_in

router = APIRouter(include_in_schema=False)

MOVES: dict[str, EventType] = {"enter": "area.entered", "leave": "area.left"}
YARD_DONE = {"enter": N_("Recorded: {plate} entered {area}."),
             "leave": N_("Recorded: {plate} left {area}.")}
"""``?done=...`` after a movement: what the page confirms."""
_TOKEN = re.compile(r"[0-9a-f]{32}")
INSIDE_PAGE = 25
"""Trucks inside shown on a page."""


def _operator(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(request, ctx, db, lambda p: p.may("trip.move"),
                     N_("This page is for yard operators."))


def moves_for(trip: Any, areas: list[str], network: Network) -> list[tuple[str, str]]:
    """The movements the operator may record for a truck now: out of the area it is in (one
    of theirs), into their staging park when it is nowhere yet, into one of their yards of its
    gate from the gate area. The trip's rules have the last word."""
    if trip.status in TERMINAL or trip.status == "completed":
        return []
    here = trip.location
    out: list[tuple[str, str]] = [("leave", here)] if here in areas else []
    for area in areas:
        kind, _, code = area.partition(":")
        if area == here:
            continue
        if kind == "staging" and here is None:
            out.append(("enter", area))
        found = network.yard(code) if kind == "yard" else None
        if found and found[0].code == trip.gate and here == f"gate_area:{trip.gate}":
            out.append(("enter", area))
    return out


def _occupancy(db: Db, network: Network, areas: list[str]) -> list[dict[str, Any]]:
    figures = {a["area"]: a for a in trips.occupancy(db, network)}
    return [{"area": a, "vehicles": figures.get(a, {}).get("vehicles", 0),
             "capacity": figures.get(a, {}).get("capacity", 0)} for a in areas]


def inside_page(rows: list[dict[str, Any]], number: int) -> dict[str, Any]:
    """One page of the trucks inside (their number is bounded by the areas' room, so they
    are read whole and shown ``INSIDE_PAGE`` at a time): the rows, the page and the pages."""
    pages = max(1, -(-len(rows) // INSIDE_PAGE))
    number = min(max(1, number), pages)
    return {"rows": rows[(number - 1) * INSIDE_PAGE:number * INSIDE_PAGE], "total": len(rows),
            "page": number, "pages": pages}


def _yard_view(request: Request, ctx: Ctx, db: Db, who: Principal, *, q: str = "",
               status: int = 200, error: str | None = None, notice: str | None = None,
               number: int = 1) -> Response:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    areas = checkpoint.yard_areas(who, network)
    found: list[Any] = []
    if q.strip():
        found, _total = trips.search(db, q, actor=who, network=network, limit=10)
    gates = set(declaration_scope(who, trips.gates_of_yards(network)).gates)
    return render(request, "yard.html", status=status, user=who, q=q, areas=areas,
                  occupancy=_occupancy(db, network, areas), found=found,
                  moves={t.id: moves_for(t, areas, network) for t in found},
                  inside=inside_page(checkpoint.inside(db, areas, who, network), number),
                  reads=checkpoint.recent_reads(db, gates, now), token=uuid.uuid4().hex,
                  error=error, notice=notice)


@router.get("/yard", response_class=HTMLResponse)
def yard_page(request: Request, ctx: Ctx, db: Db, q: str = "", done: str = "",
              trip: str = "", area: str = "",
              page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    """Find a truck (plate, reference, scanned QR, a camera's read) and record it in or out;
    the occupancy of the operator's areas and the trucks inside. For whoever records
    movements (yard operators for their staging park and yards; border guards for the yards
    of their gates; the regulator), scoped as the API is."""
    who = _operator(request, ctx, db)
    if isinstance(who, Response):
        return who
    notice = None
    if done in YARD_DONE and trip:
        network = networks.in_force(db, ctx.clock.now())
        try:
            row = trips.get(db, trip, actor=who, network=network)
        except AppError:
            row = None
        if row is not None and area in network.area_codes():
            fmt = formatter(request)
            notice = fmt.gettext(YARD_DONE[done]).format(plate=row.state["facts"]["plate"],
                                                         area=fmt.label("area", area))
    return _yard_view(request, ctx, db, who, q=q, notice=notice, number=page)


@router.post("/yard/moves")
def yard_move(request: Request, ctx: Ctx, db: Db, trip: Annotated[str, Form()] = "",
              action: Annotated[str, Form()] = "", area: Annotated[str, Form()] = "",
              token: Annotated[str, Form()] = "", q: Annotated[str, Form()] = "",
              csrf: Annotated[str, Form()] = "") -> Response:
    """Record a truck entering or leaving one of the operator's areas, as the API's
    movements do (the trip's rules, scoping, audit). The form's token makes a second send
    of the same form (a double click, a retry) record nothing more."""
    fresh = csrf_ok(request, csrf)
    who = _operator(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    if not fresh:
        return _yard_view(request, ctx, db, who, q=q, status=403, error=fmt.gettext(STALE_FORM))
    if action not in MOVES or not trip.strip() or not area.strip():
        return _yard_view(request, ctx, db, who, q=q, status=422, error=fmt.gettext(
            N_("Choose a truck and whether it goes in or out.")))
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    key = f"yard-{token}-{action}-{area}"[:200] if _TOKEN.fullmatch(token) else None
    try:
        row, _changed = trips.record(db, trip.strip(), MOVES[action], {"area": area},
                                     actor=who, network=network, now=now,
                                     source="officer_screen", idempotency_key=key)
    except AppError as exc:
        db.rollback()
        return _yard_view(request, ctx, db, who, q=q, status=exc.status_code,
                          error=fmt.error(exc))
    query = {"done": action, "trip": row.reference, "area": area, **({"q": q} if q else {})}
    return RedirectResponse(f"/yard?{urlencode(query)}", status_code=303)
