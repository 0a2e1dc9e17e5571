"""The daily bulletin exchange: build and publish ours, receive the partner side's.

Ours is built from the live projections (vehicles in each yard and staging area by direction,
planned volumes per gate for the next day from declarations and the newest stored demand
forecast for the undeclared rest, with bookings and slot capacities, working hours from the
network's calendars, regulator controls) and signed with our Ed25519 key. Theirs is checked
against the schema, the bulletin rules and the signature of a key an admin registered for that
side; every version is kept, a re-sent bulletin is recognised by the hash of its content, and
its yard counts are fed to the dispatcher and the public board (``partner_yard_counts``,
source ``bulletin``). Services never commit.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.booking import service as bookings
from borderflow.clock import LOCAL_TZ
from borderflow.demand import service as demand
from borderflow.dispatch import controls, partner
from borderflow.dispatch import service as dispatcher
from borderflow.domain import exchange as rules
from borderflow.domain.access import Principal
from borderflow.domain.network import Names, Network
from borderflow.errors import Conflict, FieldError, NotFound, ValidationFailed, msg
from borderflow.exchange import schema
from borderflow.exchange.signing import SigningKey, key_id_of, parse_public_key, verifies
from borderflow.network.holidays import around
from borderflow.store import paging
from borderflow.store.models import (
    Booking,
    Bulletin,
    Declaration,
    ExchangeKey,
    PartnerYardCount,
    Trip,
)

SLOTS_PER_DAY = 24 * 60 // bookings.SLOT_MINUTES


def _instant(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _names(n: Names) -> dict[str, str]:
    return {"vi": n.vi, "zh": n.zh, "en": n.en}


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)


# --- ours --------------------------------------------------------------------------------------


V1_PLAN = ("gate", "direction", "declared", "booked", "capacity")
"""What a plan of schema version 1 holds."""


def build(session: Session, network: Network, *, side: str, now: datetime,
          version: int = rules.SCHEMA_VERSION) -> dict[str, Any]:
    """Our bulletin for today (local), counted now, in schema ``version`` (1: for a partner
    side that reads only version 1 — the plans are the declared trucks, no forecast)."""
    day = now.astimezone(LOCAL_TZ).date()
    planned_day = day + timedelta(days=1)
    located: Counter[tuple[str, str]] = Counter()
    for location, flow, n in session.execute(
            select(Trip.location, Trip.flow, func.count()).where(Trip.location.is_not(None))
            .group_by(Trip.location, Trip.flow)).all():
        located[(str(location), str(flow))] += int(n)

    def vehicles(area: str) -> dict[str, int]:
        return {d: located[(area, d)] for d in rules.DIRECTIONS}

    yards = [{"gate": g.code, "code": y.code, "name": _names(y.name), "capacity": y.capacity,
              "vehicles": vehicles(f"yard:{y.code}")} for g in network.gates for y in g.yards]
    staging = [{"code": s.code, "name": _names(s.name), "capacity": s.capacity,
                "vehicles": vehicles(f"staging:{s.code}")} for s in network.staging_areas]
    plans = _plans(session, network, planned_day)
    if version == 1:
        plans = {"planned": [{k: p[k] for k in V1_PLAN} for p in plans["planned"]]}
    return {
        "schema_version": version,
        "side": side,
        "issuer": f"{network.name.vi} / {network.name.zh}",
        "date": day.isoformat(),
        "timezone": str(LOCAL_TZ),
        "issued_at": _instant(now),
        "counted_at": _instant(now),
        "yards": yards,
        "staging_areas": staging,
        "planned_date": planned_day.isoformat(),
        **plans,
        "hours": [h for d in (day, planned_day) for h in _hours(network, d)],
        "closures": [{"gate": c.gate, "direction": c.direction, "kind": c.kind,
                      "starts_at": _instant(c.starts_at), "ends_at": _instant(c.ends_at),
                      "vehicles_per_hour": c.vehicles_per_hour, "reason": c.reason}
                     for c in controls.active(session, now)],
    }


def _plans(session: Session, network: Network, day: date) -> dict[str, Any]:
    """``planned`` and ``planned_forecast``: per gate and direction, the trucks declared for
    the day plus the newest forecast run's trucks beyond them, with its intervals (see
    :func:`rules.planned_figures`); where the run has no forecast of the day (or there is no
    run) the plan is the declared trucks alone (``basis: declarations``). ``planned_forecast``
    names the run used, or is null when no gate's plan uses one."""
    forecasts = {(f.gate, f.direction): f for f in demand.latest(session, first=day, last=day)}
    planned = _planned(session, network, day)
    used = None
    for p in planned:
        f = forecasts.get((p["gate"], p["direction"]))
        p.update(rules.planned_figures(p["declared"], None if f is None else {
            "mean": f.mean, "lo80": f.lo80, "hi80": f.hi80, "lo95": f.lo95, "hi95": f.hi95}))
        if f is not None:
            used = {"model_version": f.model_version, "created_at": _instant(f.created_at)}
    return {"planned_forecast": used, "planned": planned}


def _planned(session: Session, network: Network, day: date) -> list[dict[str, Any]]:
    """Per gate and direction: trucks declared for the day, slots booked in it, places."""
    start = _day_start(day)
    end = _day_start(day + timedelta(days=1))
    declared = Counter({(g, f): int(n) for g, f, n in session.execute(
        select(Trip.gate, Trip.flow, func.count()).join(
            Declaration, Declaration.id == Trip.declaration_id).where(
            Declaration.requested_date == day, Trip.status.notin_(("cancelled", "rejected")))
        .group_by(Trip.gate, Trip.flow)).all()})
    booked = Counter({(g, d): int(n) for g, d, n in session.execute(
        select(Booking.gate, Booking.direction, func.count()).where(
            Booking.status == "active", Booking.slot_start >= start, Booking.slot_start < end)
        .group_by(Booking.gate, Booking.direction)).all()})
    starts = [start + timedelta(minutes=bookings.SLOT_MINUTES * i) for i in range(SLOTS_PER_DAY)]
    out = []
    for g in network.gates:
        for d in g.directions:
            out.append({"gate": g.code, "direction": d, "declared": declared[(g.code, d)],
                        "booked": booked[(g.code, d)],
                        "capacity": sum(bookings.capacities(session, network, g.code, d,
                                                            starts))})
    return out


def _hours(network: Network, day: date) -> list[dict[str, Any]]:
    out = []
    for g in network.gates:
        calendar = network.calendar(g.calendar)
        if calendar is None:
            continue
        hours = calendar.hours_on(day, around(day))
        out.append({"gate": g.code, "date": day.isoformat(), "kind": hours.kind,
                    "open": [{"from": r.start.strftime("%H:%M"), "to": r.end.strftime("%H:%M")}
                             for r in hours.intervals],
                    "note": hours.reason})
    return out


def _substance(body: dict[str, Any]) -> dict[str, Any]:
    """A bulletin less the moments it was issued and counted."""
    return {k: v for k, v in body.items() if k not in ("issued_at", "counted_at")}


def publish(session: Session, network: Network, key: SigningKey, *, side: str,
            actor: Principal, now: datetime, version: int = rules.SCHEMA_VERSION
            ) -> tuple[Bulletin, bool]:
    """Build, sign and keep our bulletin as a new version of today's, unless nothing but the
    time changed since the latest version (then that version is returned). Audited."""
    body = build(session, network, side=side, now=now, version=version)
    day = date.fromisoformat(body["date"])
    _lock(session, side, day)
    latest = session.scalar(select(Bulletin).where(Bulletin.side == side, Bulletin.day == day)
                            .order_by(Bulletin.version.desc()).limit(1))
    if latest is not None and _substance(latest.body) == _substance(body):
        return latest, False
    same = session.scalar(select(Bulletin).where(
        Bulletin.side == side, Bulletin.day == day,
        Bulletin.sha256 == rules.content_sha256(body)))
    if same is not None:  # published already, at this very moment
        return same, False
    envelope = key.sign(body)
    return _keep(session, envelope, origin="published", source="publish", fed=[],
                 actor=actor, now=now), True


# --- theirs ------------------------------------------------------------------------------------


def check(session: Session, document: Any, *, our_side: str) -> dict[str, Any]:
    """The envelope if it matches the schema and the rules and is signed by a registered,
    unrevoked key of its side; otherwise a 422 saying what is wrong and where."""
    envelope = schema.validate(document)
    body, signature = envelope["bulletin"], envelope["signature"]
    problems = rules.problems(body, our_side=our_side)
    if problems:
        raise ValidationFailed(problems)
    key = session.scalar(select(ExchangeKey).where(ExchangeKey.key_id == signature["key_id"]))
    if key is None:
        raise ValidationFailed([FieldError("signature.key_id", msg(
            "unknown key '{key}': an admin registers the partner side's public key first",
            key=signature["key_id"]))], message=msg("signature refused: unknown key"))
    if key.revoked_at is not None:
        raise ValidationFailed([FieldError("signature.key_id", msg(
            "key '{key}' was revoked on {date}", key=key.key_id, date=key.revoked_at.date()))],
                               message=msg("signature refused: revoked key"))
    if key.side != body["side"]:
        raise ValidationFailed([FieldError("signature.key_id", msg(
            "key '{key}' belongs to side {side}, not {other_side}", key=key.key_id,
            side=key.side, other_side=body["side"]))],
                               message=msg("signature refused: key of another side"))
    if not verifies(base64.b64decode(key.public_key), body, signature["value"]):
        raise ValidationFailed([FieldError("signature.value", msg(
            "does not match the bulletin: it was changed after signing, or signed with "
            "another key"))],
                               message=msg("signature refused: the bulletin does not match it"))
    return envelope


def receive(session: Session, network: Network, document: Any, *, source: str, our_side: str,
            actor: Principal, now: datetime) -> tuple[Bulletin, bool]:
    """Keep a partner bulletin as a new version and feed its yard counts (audited, then the
    dispatcher runs). The same bulletin again returns the version kept, with no new effect."""
    envelope = check(session, document, our_side=our_side)
    body = envelope["bulletin"]
    day = date.fromisoformat(body["date"])
    _lock(session, body["side"], day)
    sha = rules.content_sha256(body)
    existing = session.scalar(select(Bulletin).where(
        Bulletin.side == body["side"], Bulletin.day == day, Bulletin.sha256 == sha))
    if existing is not None:
        return existing, False
    fed = _feed(session, network, body, actor=actor, now=now)
    row = _keep(session, envelope, origin="received", source=source, fed=fed, actor=actor,
                now=now)
    if any(f["used"] for f in fed):
        dispatcher.run_cycle(session, network, now)
    return row, True


def _feed(session: Session, network: Network, body: dict[str, Any], *, actor: Principal,
          now: datetime) -> list[dict[str, Any]]:
    """Record the bulletin's yard counts per gate and direction; say which were not used."""
    counted = rules.parse_instant(body["counted_at"])
    if counted > now + rules.ISSUE_SKEW:
        raise ValidationFailed([FieldError("bulletin.counted_at", msg("is in the future"))])
    plan: list[tuple[rules.PartnerCount, str | None]] = []
    problems = []
    for count in rules.partner_counts(body):
        why = None
        if network.gate(count.gate) is None:
            why = "no such gate in our network"
        elif counted < now - partner.MAX_AGE_FOR_NEW_COUNTS:
            why = "counted more than 7 days ago: kept, not used for planning"
        elif session.scalar(select(PartnerYardCount.id).where(
                PartnerYardCount.gate == count.gate,
                PartnerYardCount.direction == count.direction,
                PartnerYardCount.counted_at > counted).limit(1)) is not None:
            why = "a later count of this gate is already in use"
        elif count.capacity and count.vehicles > count.capacity * 3:
            problems.append(FieldError(
                f"bulletin.yards[{count.yards[0]}].vehicles",
                msg("{vehicles} vehicles at gate {gate} is more than three times its yards' "
                    "capacity ({capacity}); check the figures", vehicles=count.vehicles,
                    gate=count.gate, capacity=count.capacity)))
        plan.append((count, why))
    if problems:
        raise ValidationFailed(problems)
    fed = []
    note = f"daily bulletin of side {body['side']} for {body['date']}"
    for count, why in plan:
        if why is None:
            partner.record(session, network, gate=count.gate, direction=count.direction,
                           vehicles=count.vehicles, capacity=count.capacity or None,
                           counted_at=counted, note=note, source="bulletin", actor=actor,
                           now=now)
        fed.append({"gate": count.gate, "direction": count.direction,
                    "vehicles": count.vehicles, "capacity": count.capacity,
                    "used": why is None, "reason": why})
    return fed


# --- versions ----------------------------------------------------------------------------------


def _lock(session: Session, side: str, day: date) -> None:
    """Serialise writers of one side's day (SQLite writers are serialised already)."""
    if session.get_bind().dialect.name == "postgresql":
        k = int.from_bytes(hashlib.sha256(f"bulletin:{side}:{day}".encode()).digest()[:8],
                           "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": k})


def _keep(session: Session, envelope: dict[str, Any], *, origin: str, source: str,
          fed: list[dict[str, Any]], actor: Principal, now: datetime) -> Bulletin:
    body, signature = envelope["bulletin"], envelope["signature"]
    day = date.fromisoformat(body["date"])
    version = (session.scalar(select(func.max(Bulletin.version)).where(
        Bulletin.side == body["side"], Bulletin.day == day)) or 0) + 1
    row = Bulletin(side=body["side"], day=day, version=version,
                   sha256=rules.content_sha256(body), body=body, signature=signature,
                   origin=origin, source=source, fed=fed, created_by=actor.username,
                   created_at=now)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise Conflict(msg("another version of this bulletin was kept at the same moment; "
                           "send it again")) from None
    audit.record(session, actor=actor, action=f"bulletin.{origin}", target_type="bulletin",
                 target_id=str(row.id), at=now, before=None,
                 after={"side": row.side, "date": day.isoformat(), "version": version,
                        "sha256": row.sha256, "key_id": signature["key_id"], "source": source,
                        "fed": fed})
    return row


def envelope_of(row: Bulletin) -> dict[str, Any]:
    return {"bulletin": row.body, "signature": row.signature}


VERSION_KEYS = (paging.Key(Bulletin.day, date, descending=True), paging.Key(Bulletin.side, str),
                paging.Key(Bulletin.version, int, descending=True))
"""The order of kept versions: newest day first, then side, then newest version (side, day
and version are unique together)."""


def _versions(side: str | None, day: date | None) -> Select[Any]:
    query = select(Bulletin)
    if side:
        query = query.where(Bulletin.side == side)
    if day:
        query = query.where(Bulletin.day == day)
    return query


def versions(session: Session, *, side: str | None, day: date | None, cursor: str | None = None,
             limit: int = paging.DEFAULT_LIMIT, before: str | None = None
             ) -> paging.Page[Bulletin]:
    """Kept versions, ours and the partner side's, a page after ``cursor`` (or before
    ``before``)."""
    return paging.page(session, _versions(side, day), VERSION_KEYS, cursor=cursor, limit=limit,
                       key_of=lambda b: (b.day, b.side, b.version), before=before)


def get(session: Session, bulletin_id: int) -> Bulletin:
    row = session.get(Bulletin, bulletin_id)
    if row is None:
        raise NotFound(msg("no bulletin {number}", number=str(bulletin_id)))
    return row


# --- partner keys ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeySpec:
    side: str
    public_key: str
    key_id: str | None = None
    note: str = ""


def register_key(session: Session, spec: KeySpec, *, our_side: str, actor: Principal,
                 now: datetime) -> ExchangeKey:
    """Accept bulletins of ``spec.side`` signed with this key from now on. Audited."""
    raw = parse_public_key(spec.public_key)
    if spec.side == our_side:
        raise ValidationFailed([FieldError("side", msg("is our own side ({side}); register "
                                                       "the partner side's keys",
                                                       side=our_side))])
    key_id = spec.key_id or key_id_of(raw)
    if session.scalar(select(ExchangeKey.id).where(ExchangeKey.key_id == key_id)) is not None:
        raise Conflict(msg("a key '{key}' is already registered", key=key_id), field="key_id")
    row = ExchangeKey(key_id=key_id, side=spec.side, public_key=base64.b64encode(raw).decode(),
                      note=spec.note, created_by=actor.username, created_at=now)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise Conflict(msg("a key '{key}' is already registered", key=key_id),
                       field="key_id") from None
    audit.record(session, actor=actor, action="exchange_key.registered",
                 target_type="exchange_key", target_id=key_id, at=now, before=None,
                 after={"side": row.side, "public_key": row.public_key, "note": row.note})
    return row


def revoke_key(session: Session, key_id: str, *, actor: Principal, now: datetime
               ) -> ExchangeKey:
    """Refuse bulletins signed with this key from now on (those kept stay). Audited."""
    row = session.scalar(select(ExchangeKey).where(ExchangeKey.key_id == key_id)
                         .with_for_update())
    if row is None:
        raise NotFound(msg("no key '{key}'", key=key_id))
    if row.revoked_at is None:
        row.revoked_at = now
        audit.record(session, actor=actor, action="exchange_key.revoked",
                     target_type="exchange_key", target_id=key_id, at=now,
                     before={"revoked_at": None}, after={"revoked_at": now.isoformat()})
    return row


def keys(session: Session) -> list[ExchangeKey]:
    return list(session.scalars(select(ExchangeKey).order_by(ExchangeKey.id)))


# --- the partner side's counts entered by hand ----------------------------------------------------

BY_HAND = "manual"
"""The source of a partner bulletin typed in from its paper or message (no signature)."""
_PLACEHOLDER_SIGNATURE = {"alg": "Ed25519", "key_id": "by-hand", "value": "A" * 86 + "=="}


@dataclass(frozen=True)
class HandCount:
    """The partner side's vehicles at one gate, as its bulletin gives them (its directions:
    ``export`` leaves the partner's country towards us)."""

    gate: str
    export: int
    import_: int
    capacity: int | None = None


def partner_side(network: Network) -> str:
    """The partner side's code (the country of the gates on the other side)."""
    return network.gates[0].partner.country if network.gates else "CN"


def hand_body(network: Network, counts: list[HandCount], *, counted_at: datetime,
              now: datetime, issuer: str) -> dict[str, Any]:
    """The partner bulletin for today made of counts typed by hand: one yard per gate."""
    day = now.astimezone(LOCAL_TZ).date()
    return {
        "schema_version": 1,  # the first version: counts typed by hand have no plans
        "side": partner_side(network),
        "issuer": issuer[:200] or "-", "date": day.isoformat(), "timezone": str(LOCAL_TZ),
        "issued_at": _instant(now), "counted_at": _instant(counted_at),
        "yards": [{"gate": c.gate, "code": f"{c.gate}-partner"[:40], "capacity": c.capacity,
                   "vehicles": {"export": c.export, "import": c.import_}} for c in counts],
        "staging_areas": [], "planned_date": (day + timedelta(days=1)).isoformat(),
        "planned": [], "hours": [], "closures": [],
    }


def enter_by_hand(session: Session, network: Network, counts: list[HandCount], *,
                  counted_at: datetime, our_side: str, actor: Principal, now: datetime
                  ) -> tuple[Bulletin, bool]:
    """Keep the partner side's counts typed from its bulletin as a new version of its
    today's bulletin and feed them like a received one (audited, the dispatcher runs). Checked
    against the schema and the bulletin's rules; each problem names its field
    (``bulletin.yards[0].vehicles.export``). The same counts again change nothing."""
    body = hand_body(network, counts, counted_at=counted_at, now=now,
                     issuer=f"{actor.display_name or actor.username}")
    schema.validate({"bulletin": body, "signature": _PLACEHOLDER_SIGNATURE})
    problems = rules.problems(body, our_side=our_side)
    if problems:
        raise ValidationFailed(problems)
    day = date.fromisoformat(body["date"])
    _lock(session, body["side"], day)
    latest = session.scalar(select(Bulletin).where(
        Bulletin.side == body["side"], Bulletin.day == day)
        .order_by(Bulletin.version.desc()).limit(1))
    if latest is not None and latest.source == BY_HAND and \
            _substance(latest.body) == _substance(body):
        return latest, False
    fed = _feed(session, network, body, actor=actor, now=now)
    signature = {"alg": "none", "key_id": f"by-hand:{actor.username}"[:64], "value": ""}
    row = _keep(session, {"bulletin": body, "signature": signature}, origin="received",
                source=BY_HAND, fed=fed, actor=actor, now=now)
    if any(f["used"] for f in fed):
        dispatcher.run_cycle(session, network, now)
    return row, True


def today(session: Session, side: str, now: datetime) -> list[Bulletin]:
    """The versions of a side's bulletin for today (local), newest first."""
    query = _versions(side, now.astimezone(LOCAL_TZ).date())
    return list(session.scalars(query.order_by(*paging.ordered(VERSION_KEYS)).limit(500)))
