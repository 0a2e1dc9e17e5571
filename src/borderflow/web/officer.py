"""The officer's checkpoint screen: find a trip, read what the step checks, record the
outcome."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.account import directory
from borderflow.api.deps import Ctx, Db
from borderflow.domain.access import (
    OFFICIALS,
    STEP_OWNERS,
    Principal,
    may_record_step,
)
from borderflow.domain.trip import MOVEMENT_KINDS, parse_time, pending_steps
from borderflow.errors import N_, AppError
from borderflow.network import service as networks
from borderflow.trip import service as trips
from borderflow.web import i18n
from borderflow.web.pages import (
    STALE_FORM,
    csrf_ok,
    formatter,
    message_page,
    render,
    signed_in,
)

router = APIRouter(include_in_schema=False)


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
                  timeline=[entry(fmt, e, state, names) for e in timeline],
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


def entry(fmt: i18n.Formatter, e: dict[str, Any], state: dict[str, Any],
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
    fresh = csrf_ok(request, csrf)
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
