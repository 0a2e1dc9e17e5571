"""The officer's checkpoint screen: find a trip, read what the step checks, record the
outcome."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from borderflow.account import directory
from borderflow.api.deps import Ctx, Db
from borderflow.clock import LOCAL_TZ
from borderflow.domain.access import (
    OFFICIALS,
    STEP_OWNERS,
    Principal,
    Role,
    may_record_step,
)
from borderflow.domain.trip import MOVEMENT_KINDS, fee_settled, parse_time, pending_steps
from borderflow.errors import N_, AppError, ValidationFailed
from borderflow.network import service as networks
from borderflow.store import paging
from borderflow.store.paging import MAX_CURSOR
from borderflow.trip import checkpoint_view as checkpoint
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

QUEUE_PAGE = 20
"""Trips of the work queue shown on a page of the checkpoint screen."""
LATE_PAGE = 20
"""Trips past a deadline shown on a page of the checkpoint screen."""


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


def _queue(db: Db, who: Principal, network: Any, cursor: str, before: str) -> paging.Page[Any]:
    """A page of the officer's work queue; a cursor the list did not give shows the first
    page."""
    try:
        return trips.work_queue(db, actor=who, network=network, cursor=cursor or None,
                                before=before or None, limit=QUEUE_PAGE)
    except ValidationFailed:
        return trips.work_queue(db, actor=who, network=network, limit=QUEUE_PAGE)


def _late(db: Db, who: Principal, network: Any, now: Any, cursor: str, before: str
          ) -> paging.Page[Any] | None:
    """A page of the trips past a deadline, for those who read the deadline alerts."""
    if not who.may("alerts.read"):
        return None
    try:
        found = trips.overdue(db, actor=who, network=network, now=now, cursor=cursor or None,
                              before=before or None, limit=LATE_PAGE)
    except ValidationFailed:
        found = trips.overdue(db, actor=who, network=network, now=now, limit=LATE_PAGE)
    return paging.Page([(t, [{**d, "due": parse_time(d["due_at"])} for d in late])
                        for t, late in found.items], found.next_cursor, found.prev_cursor)


Cursor = Annotated[str, Query(max_length=MAX_CURSOR)]


@router.get("/officer", response_class=HTMLResponse)
def officer_search(request: Request, ctx: Ctx, db: Db, q: str = "", cursor: Cursor = "",
                   before: Cursor = "", late_cursor: Cursor = "", late_before: Cursor = ""
                   ) -> Response:
    """Find a trip by plate, declaration or trip reference, or a scanned QR code (a USB
    scanner types into the field and presses Enter); without a search, the trips with
    steps the officer can record now (the API's work queue) and, for those who read the
    deadline alerts, the trips past a deadline, each a page at a time."""
    who = _officer(request, ctx, db)
    if isinstance(who, Response):
        return who
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    if not q.strip():
        return render(request, "officer_search.html", user=who, q=q, found=[],
                      queue=_queue(db, who, network, cursor, before),
                      late=_late(db, who, network, now, late_cursor, late_before))
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


@router.get("/officer/trips/{reference}/live", response_class=HTMLResponse)
def officer_trip_live(reference: str, request: Request, ctx: Ctx, db: Db, v: int = 0
                      ) -> Response:
    """The live part of the trip's page, polled every few seconds: the trip's status and
    steps as they are now, and, when someone changed the trip after the page was opened
    (version ``v``), what they did, with a link to load it again. Same readers as the
    page."""
    who = signed_in(request, ctx, db, may_read_trip_page,
                    N_("This page is for officials of the border gate."))
    if isinstance(who, Response):
        if request.headers.get("hx-request") and who.status_code == 303:
            return Response(status_code=204, headers={"HX-Redirect": who.headers["location"]})
        return who
    network = networks.in_force(db, ctx.clock.now())
    try:
        row = trips.get(db, reference, actor=who, network=network)
    except AppError as exc:
        return message_page(request, exc, exc.status_code, exc.code)
    fmt = formatter(request)
    names = _names_of(db, row.state, [])
    return render(request, "_officer_live.html", user=who, trip=row, state=row.state,
                  steps=_steps(fmt, row.state, names), seen=v,
                  changes=_changes(db, fmt, row, v), **_fee(who, row))


def _names_of(db: Db, state: dict[str, Any], actors: list[str]
              ) -> dict[str, tuple[str, list[str]]]:
    return directory.people(db, set(actors) | {st.get("by") for st in state["steps"].values()
                                               if st.get("by")})


def _steps(fmt: i18n.Formatter, state: dict[str, Any],
           names: dict[str, tuple[str, list[str]]]) -> list[dict[str, Any]]:
    return [{"spec": s, "status": state["steps"].get(s["code"], {}),
             "by": _who(fmt, state["steps"].get(s["code"], {}).get("by"), None, names)}
            for s in state["procedure"]["steps"]]


def _changes(db: Db, fmt: i18n.Formatter, row: Any, version: int) -> list[dict[str, Any]]:
    """What was recorded on the trip after ``version``, as timeline lines."""
    if version <= 0:
        return []
    found = checkpoint.changes_since(db, row, version)
    names = directory.people(db, {e.actor_name for e in found})
    return [entry(fmt, {"type": e.type, "step": e.payload.get("step"), "payload": e.payload,
                        "occurred_at": e.occurred_at, "actor": e.actor_name,
                        "source": e.source}, row.state, names) for e in found]


def _mine(who: Principal, row: Any, network: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The steps the visitor's role may record now, and the role's steps on hold."""
    if not who.may("trip.record"):
        return [], []
    state = row.state
    specs = {s["code"]: s for s in state["procedure"]["steps"]}
    roles = {r.value for r in who.roles}
    yards = trips.gates_of_yards(network)
    mine = [s for s in pending_steps(state, roles)
            if may_record_step(who, s["role"], row.gate, yards)
            and s["kind"] not in MOVEMENT_KINDS]
    held = [code for code, st in state["steps"].items() if st["status"] == "held"
            and code in specs and specs[code]["role"] in roles]
    return mine, held


def _checks(db: Db, fmt: i18n.Formatter, who: Principal, row: Any, now: Any
            ) -> dict[str, Any]:
    """What the officer checks: the declaration's goods and certificates, the enterprise,
    vehicle and driver, earlier holds and rejections, the plate-camera reads."""
    earlier = checkpoint.holds(db, row)
    names = directory.people(db, {h["actor"] for h in earlier})
    decl = checkpoint.declaration_of(db, row)
    return {
        "decl": decl,
        "enterprise": checkpoint.enterprise_of(db, row, now.astimezone(LOCAL_TZ).date()),
        "facts": checkpoint.facts_for(who, row),
        "holds": [{**h, "who": _who(fmt, h["actor"], h["source"], names)} for h in earlier],
        "reads": checkpoint.plate_reads(db, row),
        "checkpoints": READ_CHECKPOINTS,
        "goods": [_goods_line(g) for g in decl["goods"]],
        **_fee(who, row),
    }


def _fee(who: Principal, row: Any) -> dict[str, Any]:
    """The trip's fee, and whether to send a cashier to the cashier desk for it."""
    fee = row.state.get("fee")
    return {"fee": fee, "fee_open": fee is not None and not fee_settled(row.state),
            "cashier": Role.CASHIER in who.roles}


def _goods_line(g: dict[str, Any]) -> dict[str, Any]:
    """A goods line with its figures as numbers (quantity, value in US cents) for the
    page's formatter."""
    try:
        quantity: Decimal | None = Decimal(str(g["quantity"]))
        cents = int(Decimal(str(g["value_usd"])) * 100)
    except (InvalidOperation, TypeError, ValueError):
        quantity, cents = None, 0
    return {**g, "quantity": quantity, "value_cents": cents, "hs_shown": hs_shown(g["hs_code"])}


def hs_shown(code: str) -> str:
    """An HS code as customs write it: the heading, then pairs of digits (``08109000`` ->
    ``0810.90.00``)."""
    digits = "".join(c for c in str(code) if c.isdigit())
    if len(digits) <= 4:
        return digits
    return ".".join([digits[:4], *(digits[i:i + 2] for i in range(4, len(digits), 2))])


READ_CHECKPOINTS = {"gate_in": N_("Gate entry"), "gate_out": N_("Gate exit")}
"""Where a plate camera stands, as the trip page names it."""


def _trip_view(request: Request, ctx: Ctx, db: Db, who: Principal, reference: str, *,
               status: int = 200, error: str | None = None, form: dict[str, str] | None = None,
               field_error: str | None = None, done: str = "", done_step: str = "",
               stale_since: int = 0) -> Response:
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    fmt = formatter(request)
    try:
        row = trips.get(db, reference, actor=who, network=network)
    except AppError as exc:
        return message_page(request, exc, exc.status_code, exc.code)
    state = row.state
    specs = {s["code"]: s for s in state["procedure"]["steps"]}
    mine, held = _mine(who, row, network)
    notice = None
    if done in OFFICER_DONE and done_step in specs:
        notice = fmt.gettext(OFFICER_DONE[done]).format(
            step=fmt.label("step", done_step, state))
    timeline = trips.timeline(db, row)
    names = _names_of(db, state, [e["actor"] for e in timeline])
    shown_form = form or {}
    typed_lost = bool(shown_form.get("note")) and not (
        any(s["code"] == shown_form.get("step") for s in mine)
        or shown_form.get("step") in held)
    return render(request, "officer_trip.html", status=status, user=who, trip=row,
                  state=state, records=who.may("trip.record"), mine=mine, held=held,
                  hold_reasons=[r for r in network.reason_codes if r.use in ("hold", "both")],
                  reject_reasons=[r for r in network.reason_codes
                                  if r.use in ("reject", "both")],
                  timeline=[entry(fmt, e, state, names) for e in timeline],
                  steps=_steps(fmt, state, names), seen=row.version,
                  changes=[], stale_changes=_changes(db, fmt, row, stale_since),
                  notice=notice, error=error, form=shown_form, field_error=field_error,
                  typed_lost=typed_lost, here=f"/officer/trips/{row.reference}",
                  **_checks(db, fmt, who, row, now))


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


REASON_FIELDS = {"hold": N_("Hold because"), "reject": N_("Reject because")}
STALE_TRIP = N_("Another officer changed this trip after you opened it. Nothing was recorded: "
                "check the trip as it is now, then act again.")


def _version(raw: str) -> int | None:
    """The trip's version the form was built from (None from a form without one)."""
    return int(raw) if raw.strip().isdigit() else None


@router.post("/officer/trips/{reference}/steps/{step}")
def officer_record(reference: str, step: str, request: Request, ctx: Ctx, db: Db,
                   outcome: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "",
                   channel: Annotated[str, Form()] = "", reason_code: Annotated[str, Form()] = "",
                   note: Annotated[str, Form()] = "", version: Annotated[str, Form()] = ""
                   ) -> Response:
    """Pass, hold, reject or release a step: the same rules as the API. The form carries the
    trip's version: when another officer recorded something since, nothing is recorded and
    the page shows the trip as it is now with what changed. A refusal shows the trip's page
    again with the message and what was typed."""
    fresh = csrf_ok(request, csrf)
    who = _officer(request, ctx, db)
    if isinstance(who, Response):
        return who
    fmt = formatter(request)
    form = {"step": step, "outcome": outcome, "channel": channel,
            "reason_code": reason_code, "note": note}
    seen = _version(version)

    def again(status: int, error: str, field_error: str | None = None,
              stale: bool = False) -> Response:
        return _trip_view(request, ctx, db, who, reference, status=status, error=error,
                          form=form, field_error=field_error,
                          stale_since=(seen or 0) if stale else 0)

    if not fresh:
        return again(403, fmt.gettext(STALE_FORM))
    if outcome not in OUTCOME_DONE:
        return again(422, fmt.gettext(N_("Choose pass, hold, reject or release.")))
    now = ctx.clock.now()
    network = networks.in_force(db, now)
    try:
        row = trips.get(db, reference, actor=who, network=network)
        if seen is not None and seen != row.version:
            return again(409, fmt.gettext(STALE_TRIP), stale=True)
        if outcome in REASON_FIELDS and not reason_code:
            problem = fmt.gettext(N_("Choose a reason in “{field}”.")).format(
                field=fmt.gettext(REASON_FIELDS[outcome]))
            return again(422, problem, problem)
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
                     source="officer_screen", expected_version=seen)
    except AppError as exc:
        db.rollback()
        if exc.code == "version_conflict":
            return again(409, fmt.gettext(STALE_TRIP), stale=True)
        fields = fmt.field_errors(exc.fields)
        return again(exc.status_code, fmt.error(exc),
                     fields.get("reason_code") or fields.get("channel"))
    return RedirectResponse(f"/officer/trips/{row.reference}?done={OUTCOME_DONE[outcome]}"
                            f"&step={quote(step)}", status_code=303)
