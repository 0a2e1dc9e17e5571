"""The regulator's page of one truck (``/console/trips/{reference}``): its state, gate, booked
slot, place in the queue or open order, and re-routing it by hand to another gate (the gates
that take its direction and goods, each with its state now and its queue), with a required
reason and a confirmation. Regulators only (within their gate scope for writing); the change
is the same use case as ``POST /api/v1/trips/{trip}/reroute``, audited with the trip event."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.api.deps import Ctx, Db
from borderflow.dispatch import controls
from borderflow.dispatch import service as dispatch
from borderflow.domain.access import Principal
from borderflow.domain.network import Network
from borderflow.domain.trip import parse_time
from borderflow.errors import N_, AppError
from borderflow.network import service as networks
from borderflow.trip import service as trips
from borderflow.web.pages import STALE_FORM, csrf_ok, formatter, render, signed_in

router = APIRouter(include_in_schema=False)

REROUTABLE = ("declared", "at_staging")
"""Statuses in which a truck may change gate (a called truck is recalled first)."""


def _regulator(request: Request, ctx: Ctx, db: Db) -> Principal | Response:
    return signed_in(request, ctx, db, lambda p: p.may("trip.reroute"),
                     N_("This page is for the control room."))


def _choices(db: Db, network: Network, row: Any, now: datetime) -> list[dict[str, Any]]:
    """The gates the truck may go to instead: they take its direction and permit its goods;
    each with its state now (open, closed, calls paused) and its waiting trucks."""
    groups = row.state["facts"].get("goods_groups") or []
    waiting = Counter((q["gate"], q["direction"]) for q in dispatch.queue(db, network, now))
    stops: dict[str, str] = {}
    for c in controls.active(db, now):
        if c.starts_at <= now and c.direction in (None, row.flow) and c.kind in (
                "closure", "pause"):
            stops[c.gate] = "closure" if c.kind == "closure" else stops.get(c.gate, "pause")
    out = []
    for gate in network.gates:
        if gate.code == row.gate or network.procedure_for(gate.code, row.flow) is None:
            continue
        if not all(gate.permits_group(g) for g in groups):
            continue
        out.append({"code": gate.code, "state": stops.get(gate.code, "open"),
                    "waiting": waiting[(gate.code, row.flow)]})
    return out


def _view(request: Request, ctx: Ctx, db: Db, who: Principal, reference: str, *,
          status: int = 200, error: str | None = None, errors: dict[str, str] | None = None,
          typed: dict[str, str] | None = None, done: str = "") -> Response:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    row = trips.get(db, reference, actor=who, network=network)
    place = dispatch.place_of(db, network, row, now)
    order = place["order"] or {}
    fmt = formatter(request)
    return render(request, "trip_control.html", status=status, user=who, row=row,
                  facts=row.state["facts"], place=place, order=order,
                  arrive_by=parse_time(order["arrive_by"])
                  if order.get("arrive_by") else None,
                  choices=_choices(db, network, row, now), may_move=row.status in REROUTABLE,
                  error=error, errors=errors or {}, typed=typed or {},
                  notice=fmt.gettext(N_("Truck re-routed; the driver is told.")) if done
                  else None, here=f"/console/trips/{row.reference}")


@router.get("/console/trips/{reference}", response_class=HTMLResponse)
def trip_control_page(reference: str, request: Request, ctx: Ctx, db: Db,
                      done: str = "") -> Response:
    """A truck as the control room sees it, with the form to re-route it."""
    who = _regulator(request, ctx, db)
    if isinstance(who, Response):
        return who
    return _view(request, ctx, db, who, reference, done=done)


def _check(fmt: Any, gate: str, reason: str, confirm: str, choices: list[str]
           ) -> dict[str, str]:
    errors = {}
    if gate not in choices:
        errors["gate"] = fmt.gettext(N_("Choose the gate to send the truck to."))
    if not 3 <= len(reason) <= 2000:
        errors["reason"] = fmt.gettext(N_("Say why (3 to 2000 characters)."))
    if confirm != "yes":
        errors["confirm"] = fmt.gettext(N_("Tick the box to confirm the change of gate."))
    return errors


@router.post("/console/trips/{reference}/reroute")
def trip_control_reroute(reference: str, request: Request, ctx: Ctx, db: Db,
                         gate: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "",
                         confirm: Annotated[str, Form()] = "",
                         csrf: Annotated[str, Form()] = "") -> Response:
    """Re-route the truck. Sent twice (a double tap, a retry), the second finds the truck
    already at that gate for that reason and changes nothing."""
    fresh = csrf_ok(request, csrf)
    who = _regulator(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    typed = {"gate": gate.strip(), "reason": reason.strip(), "confirm": confirm}
    if not fresh:
        return _view(request, ctx, db, who, reference, status=403,
                     error=fmt.gettext(STALE_FORM), typed=typed)
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    row = trips.get(db, reference, actor=who, network=network, for_update=True)
    if row.gate == typed["gate"] and _rerouted_for(db, row.id, typed["reason"]):
        return RedirectResponse(f"/console/trips/{row.reference}?done=rerouted", 303)
    choices = [c["code"] for c in _choices(db, network, row, now)]
    errors = _check(fmt, typed["gate"], typed["reason"], confirm, choices)
    if errors:
        return _view(request, ctx, db, who, reference, status=422, errors=errors, typed=typed,
                     error=fmt.gettext(N_("The truck was not re-routed: see the fields "
                                          "marked below.")))
    if who.gate_scope and row.gate not in who.gate_scope:
        return _view(request, ctx, db, who, reference, status=403, typed=typed,
                     error=fmt.gettext(N_("Only the control room of the truck's gate may "
                                          "re-route it.")))
    try:
        dispatch.reroute(db, network, row, typed["gate"], typed["reason"], actor=who, now=now)
    except AppError as exc:
        db.rollback()
        return _view(request, ctx, db, who, reference, status=exc.status_code, typed=typed,
                     error=fmt.error(exc))
    return RedirectResponse(f"/console/trips/{row.reference}?done=rerouted", 303)


def _rerouted_for(db: Db, trip_id: str, reason: str) -> bool:
    """Whether the trip's latest change (its fees' follow-ups aside) is a re-route for
    ``reason``: the same form sent again."""
    moves = [e for e in trips.events_of(db, trip_id) if not e.type.startswith("fee.")]
    return bool(moves) and moves[-1].type == "trip.rerouted" and \
        str(moves[-1].payload.get("reason") or "") == reason
