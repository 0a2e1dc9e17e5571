"""What a trip event tells whom: the notices for the trip's driver and its declaring enterprise.

Pure: an event, the trip's state before and after it, who caused it and (optionally) the
reference network for names go in; zero or more :class:`Notice` come out. No I/O, no clock.

- The **driver** gets the notices that change where or when to drive: the call-forward order,
  its withdrawal, a lapsed order (no-show), a change of gate, a released booking, a cancelled
  trip.
- The **enterprise** (by the 10-digit head of the declarant's tax code) gets all of them, and
  also holds and refusals at checkpoint steps and priority changes.
- A booking released or a trip cancelled by the driver or the enterprise themselves (or their
  customs agent) notifies no one: they know.

Every notice carries its text in Vietnamese, English and Chinese; times are local
(Asia/Ho_Chi_Minh), marked as Vietnam time in the English and Chinese texts because a Chinese
driver's phone shows Beijing time, one hour ahead.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from borderflow.domain import labels
from borderflow.domain.access import Principal, Role
from borderflow.domain.network import Network
from borderflow.domain.trip import Event

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

Recipient = Literal["driver", "enterprise"]
Language = Literal["vi", "en", "zh"]
LANGUAGES: tuple[Language, ...] = ("vi", "en", "zh")


@dataclass(frozen=True)
class Texts:
    """One text in Vietnamese, English and Chinese."""

    vi: str
    en: str
    zh: str

    def get(self, language: str) -> str:
        return {"vi": self.vi, "en": self.en, "zh": self.zh}.get(language, self.en)


@dataclass(frozen=True)
class Notice:
    """One message for one recipient about one trip event."""

    kind: str
    recipient: Recipient
    key: str
    """The driver's document number, or the enterprise's 10-digit tax code head."""
    phone: str | None
    language: Language
    """The language the recipient most likely reads (for SMS)."""
    text: Texts
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Draft:
    kind: str
    text: Texts
    payload: dict[str, Any]
    to_driver: bool
    driver_note: Texts | None = None
    """Appended to the driver's copy only (e.g. how to acknowledge)."""


@dataclass(frozen=True)
class _Seen:
    event: Event
    before: Mapping[str, Any]
    after: Mapping[str, Any]
    network: Network | None


# --- names and times ---------------------------------------------------------------------------


def _same(text: str) -> Texts:
    return Texts(text, text, text)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def local_time(value: str | datetime) -> Texts:
    """A time as people at the gate read it: ``09:00 ngày 23/11``, ``09:00 on 23 Nov (Vietnam
    time)``, ``越南时间11月23日09:00``."""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = at.astimezone(LOCAL_TZ)
    hm = local.strftime("%H:%M")
    return Texts(
        vi=f"{hm} ngày {local.day:02d}/{local.month:02d}",
        en=f"{hm} on {local.day} {_MONTHS[local.month - 1]} (Vietnam time)",
        zh=f"越南时间{local.month}月{local.day}日{hm}",
    )


def _named(kind: str, code: str, fallback: Texts, network: Network | None = None,
           state: Mapping[str, Any] | None = None) -> Texts:
    """A code's name from the one table of labels (:func:`borderflow.domain.labels.names`),
    or ``fallback`` when nobody names it."""
    name = labels.names(kind, code, network, state)
    return fallback if name is None else Texts(name.vi, name.en, name.zh)


def _gate(network: Network | None, code: str | None) -> Texts:
    fallback = Texts(f"cửa khẩu {code}", f"gate {code}", f"{code}口岸")
    return _named("gate", code, fallback, network) if code else fallback


def _yard(network: Network | None, code: str | None) -> Texts | None:
    if not code:
        return None
    return _named("yard", code, Texts(f"bãi {code}", f"yard {code}", f"{code}停车场"), network)


def _staging(network: Network | None, location: Any) -> Texts:
    code = location.partition(":")[2] if isinstance(location, str) and location.startswith(
        "staging:") else None
    fallback = Texts("bãi chờ", "the staging area", "待检停车场")
    return _named("park", code, fallback, network) if code else fallback


def _reason_code(network: Network | None, code: str) -> Texts:
    return _named("reason", code, _same(code), network)


def _step(state: Mapping[str, Any], code: str) -> Texts:
    return _named("step", code, _same(code), state=state)


def _priority(code: str) -> Texts:
    """A priority class's name, lower-cased to sit mid-sentence."""
    name = _named("priority", code, _same(code))
    return Texts(name.vi[:1].lower() + name.vi[1:], name.en[:1].lower() + name.en[1:],
                 name.zh)


def _head(s: _Seen) -> Texts:
    ref = s.after["reference"]
    plate = s.after["facts"]["plate"]
    return Texts(f"{ref} ({plate}): ", f"{ref} ({plate}): ", f"{ref}（{plate}）：")


def _join(*parts: Texts) -> Texts:
    return Texts("".join(p.vi for p in parts), "".join(p.en for p in parts),
                 "".join(p.zh for p in parts))


def _reason_text(reason: Any) -> Texts:
    text = str(reason or "").strip()
    if not text:
        return _same("")
    return Texts(f" Lý do: {text}.", f" Reason: {text}.", f"原因：{text}。")


def _code_and_note(s: _Seen) -> Texts:
    p = s.event.payload
    reason = _reason_code(s.network, str(p.get("reason_code") or ""))
    note = str(p.get("note") or "").strip()
    if not note:
        return reason
    return Texts(f"{reason.vi} — {note}", f"{reason.en} — {note}", f"{reason.zh}——{note}")


# --- one rule per event type -------------------------------------------------------------------


def _called(s: _Seen) -> _Draft:
    p = s.event.payload
    order = s.after.get("order") or {}
    gate_code = p.get("gate") or order.get("gate") or s.after["gate"]
    yard_code = p.get("yard") or order.get("yard")
    arrive_by = p.get("arrive_by") or order.get("arrive_by")
    gate, yard = _gate(s.network, gate_code), _yard(s.network, yard_code)
    where = gate if yard is None else Texts(f"{gate.vi}, {yard.vi}", f"{gate.en}, {yard.en}",
                                            f"{gate.zh}，{yard.zh}")
    when = local_time(arrive_by) if arrive_by else None
    text = Texts(
        f"xe được gọi vào {where.vi}" + (f"; có mặt trước {when.vi}." if when else "."),
        f"proceed to {where.en}" + (f"; arrive by {when.en}." if when else "."),
        f"请前往{where.zh}" + (f"，于{when.zh}前到达。" if when else "。"),
    )
    return _Draft("call_forward", _join(_head(s), text),
                  {"gate": gate_code, "yard": yard_code, "arrive_by": arrive_by}, to_driver=True,
                  driver_note=Texts(" Xác nhận lệnh trong ứng dụng.",
                                    " Acknowledge the order in the app.", "请在应用中确认指令。"))


_STOPPED = {
    "closure": Texts("đóng cửa", "closed", "关闭"),
    "pause": Texts("tạm dừng gọi xe", "not calling trucks", "暂停叫号"),
    "capacity": Texts("giảm lượt xe qua", "taking fewer trucks", "减少通行车辆"),
}
"""What a gate control does to a gate, to sit mid-sentence."""


def _until(kind: str | None, until: Any) -> Texts:
    """`` (gate closed until 15:00 on 23 Nov)`` when a control says until when, else nothing."""
    stopped = _STOPPED.get(str(kind or ""))
    if not until or stopped is None:
        return _same("")
    when = local_time(until)
    return Texts(f" (cửa khẩu {stopped.vi} đến {when.vi})", f" (gate {stopped.en} until "
                 f"{when.en})", f"（口岸{stopped.zh}至{when.zh}）")


def _recalled(s: _Seen) -> _Draft:
    p = s.event.payload
    reason = p.get("reason")
    gate_code = (s.before.get("order") or {}).get("gate") or s.before["gate"]
    gate = _gate(s.network, gate_code)
    staging = _staging(s.network, s.after.get("location"))
    until = _until(p.get("control_kind"), p.get("until"))
    text = Texts(
        f"KHÔNG đi vào {gate.vi}: lệnh gọi vào {gate.vi} đã bị rút lại; chờ tại {staging.vi} "
        f"đến khi được gọi lại{until.vi}.",
        f"do NOT go to {gate.en}: the order to proceed to {gate.en} is withdrawn; wait at "
        f"{staging.en} until you are called again{until.en}.",
        f"请勿前往{gate.zh}：前往{gate.zh}的指令已撤回，请在{staging.zh}等候再次叫号{until.zh}。",
    )
    return _Draft("order_withdrawn", _join(_head(s), text, _reason_text(reason)),
                  {"gate": gate_code, "reason": reason, "until": p.get("until"),
                   "control_kind": p.get("control_kind")}, to_driver=True)


def _no_show(s: _Seen) -> _Draft:
    reason = s.event.payload.get("reason")
    order = s.before.get("order") or {}
    gate_code = order.get("gate") or s.before["gate"]
    gate = _gate(s.network, gate_code)
    arrive_by = order.get("arrive_by")
    if arrive_by:
        when = local_time(arrive_by)
        text = Texts(
            f"xe không có mặt tại {gate.vi} trước {when.vi}; lệnh gọi đã hết hiệu lực.",
            f"not at {gate.en} by {when.en}; the order to proceed has lapsed.",
            f"未在{when.zh}前到达{gate.zh}，叫号指令已失效。",
        )
    else:
        text = Texts(f"xe không có mặt tại {gate.vi}; lệnh gọi đã hết hiệu lực.",
                     f"not at {gate.en} in time; the order to proceed has lapsed.",
                     f"未按时到达{gate.zh}，叫号指令已失效。")
    return _Draft("no_show", _join(_head(s), text, _reason_text(reason)),
                  {"gate": gate_code, "arrive_by": arrive_by, "reason": reason,
                   "no_shows": s.after.get("no_shows")}, to_driver=True)


def _rerouted(s: _Seen) -> _Draft:
    p = s.event.payload
    old_code = p.get("from_gate") or s.before["gate"]
    new_code = p.get("gate") or s.after["gate"]
    old, new = _gate(s.network, old_code), _gate(s.network, new_code)
    text = Texts(f"đổi cửa khẩu từ {old.vi} sang {new.vi}.",
                 f"gate changed from {old.en} to {new.en}.",
                 f"通关口岸由{old.zh}改为{new.zh}。")
    extra: list[Texts] = []
    yard = _yard(s.network, p.get("yard"))
    if yard is not None:
        extra.append(Texts(f" Bãi: {yard.vi}.", f" Yard: {yard.en}.", f"停车场：{yard.zh}。"))
    if p.get("arrive_by"):
        when = local_time(p["arrive_by"])
        extra.append(Texts(f" Có mặt trước {when.vi}.", f" Arrive by {when.en}.",
                           f"请于{when.zh}前到达。"))
    if not p.get("arrive_by"):
        extra.append(Texts(f" Chờ tại bãi chờ đến khi được gọi vào {new.vi}.",
                           f" Wait at the staging area until you are called to {new.en}.",
                           f"请在待检停车场等候{new.zh}叫号。"))
    return _Draft("rerouted", _join(_head(s), text, *extra, _reason_text(p.get("reason"))),
                  {"from_gate": old_code, "gate": new_code, "yard": p.get("yard"),
                   "arrive_by": p.get("arrive_by"), "reason": p.get("reason")}, to_driver=True)


FOLLOWED_BY_OWN_NOTICE = ("trip_cancelled", "rerouted")
"""Bookings released because the trip is cancelled or changes gate: that event's notice says
it, so the release itself notifies no one."""


def _unbooked(s: _Seen) -> _Draft | None:
    if s.event.payload.get("cause") in FOLLOWED_BY_OWN_NOTICE:
        return None
    reason = str(s.event.payload.get("reason") or "")
    booking = s.before.get("booking") or {}
    gate_code = booking.get("gate") or s.before["gate"]
    gate = _gate(s.network, gate_code)
    slot = booking.get("slot_start")
    if slot:
        when = local_time(slot)
        text = Texts(f"lượt đặt chỗ khung giờ {when.vi} tại {gate.vi} đã bị hủy.",
                     f"the booking for the {when.en} slot at {gate.en} is released.",
                     f"{gate.zh}{when.zh}时段的预约已取消。")
    else:
        text = Texts(f"lượt đặt chỗ tại {gate.vi} đã bị hủy.",
                     f"the booking at {gate.en} is released.", f"{gate.zh}的预约已取消。")
    return _Draft("booking_released", _join(_head(s), text, _reason_text(reason)),
                  {"gate": gate_code, "slot_start": slot, "reason": reason}, to_driver=True)


def _cancelled(s: _Seen) -> _Draft:
    reason = s.event.payload.get("reason")
    text = Texts("chuyến xe đã bị hủy, không đưa xe đến cửa khẩu.",
                 "the trip is cancelled; do not bring the truck to the gate.",
                 "本车次已取消，请勿前往口岸。")
    return _Draft("cancelled", _join(_head(s), text, _reason_text(reason)),
                  {"gate": s.after["gate"], "reason": reason}, to_driver=True)


def _held(s: _Seen) -> _Draft:
    p = s.event.payload
    step, why = _step(s.after, str(p.get("step"))), _code_and_note(s)
    text = Texts(f"bước {step.vi} tạm dừng: {why.vi}.", f"step {step.en} on hold: {why.en}.",
                 f"{step.zh}环节暂停：{why.zh}。")
    return _Draft("held", _join(_head(s), text),
                  {"gate": s.after["gate"], "step": p.get("step"),
                   "reason_code": p.get("reason_code"), "note": p.get("note") or None},
                  to_driver=False)


def _rejected(s: _Seen) -> _Draft:
    p = s.event.payload
    step, why = _step(s.after, str(p.get("step"))), _code_and_note(s)
    text = Texts(f"bị từ chối ở bước {step.vi}: {why.vi}. Xe không được qua cửa khẩu.",
                 f"refused at step {step.en}: {why.en}. The truck may not cross.",
                 f"在{step.zh}环节被拒绝：{why.zh}。该车不得通关。")
    return _Draft("rejected", _join(_head(s), text),
                  {"gate": s.after["gate"], "step": p.get("step"),
                   "reason_code": p.get("reason_code"), "note": p.get("note") or None},
                  to_driver=False)


def _prioritised(s: _Seen) -> _Draft:
    p = s.event.payload
    priority = str(p.get("priority"))
    name = _priority(priority)
    text = Texts(f"hạng ưu tiên đổi thành: {name.vi}.",
                 f"priority class changed to {name.en}.", f"优先等级调整为：{name.zh}。")
    return _Draft("prioritised", _join(_head(s), text, _reason_text(p.get("reason"))),
                  {"priority": priority, "reason": p.get("reason")}, to_driver=False)


_RULES: dict[str, Callable[[_Seen], _Draft | None]] = {
    "trip.called": _called,
    "trip.recalled": _recalled,
    "trip.no_show": _no_show,
    "trip.rerouted": _rerouted,
    "trip.unbooked": _unbooked,
    "trip.cancelled": _cancelled,
    "step.held": _held,
    "step.rejected": _rejected,
    "trip.prioritised": _prioritised,
}
NOTIFYING: frozenset[str] = frozenset(_RULES)
"""The event types that may notify someone."""

QUIET_WHEN_OWN: frozenset[str] = frozenset({"trip.unbooked", "trip.cancelled"})
"""Events that notify no one when the driver or the enterprise caused them."""


# --- who ---------------------------------------------------------------------------------------


def is_party(actor: Principal, state: Mapping[str, Any]) -> bool:
    """Whether ``actor`` is the trip's driver, its declaring enterprise or its customs agent."""
    facts = state["facts"]
    if Role.DRIVER in actor.roles and actor.driver_document == facts["driver"]["document_number"]:
        return True
    if Role.ENTERPRISE in actor.roles and actor.enterprise_tax_code:
        head = actor.enterprise_tax_code[:10]
        agent = facts.get("customs_agent_tax_code") or ""
        return head in (facts["enterprise_tax_code"][:10], agent[:10])
    return False


def driver_language(facts: Mapping[str, Any]) -> Language:
    """Chinese for a Chinese document or phone, Vietnamese for Vietnamese ones, else English."""
    driver = facts.get("driver") or {}
    phone = str(driver.get("phone") or "")
    document = str(driver.get("document_type") or "")
    if document == "cn_resident_id" or phone.startswith("+86"):
        return "zh"
    if document.startswith("vn_") or phone.startswith("+84"):
        return "vi"
    return "en"


def notices_for(event: Event, before: Mapping[str, Any] | None, after: Mapping[str, Any], *,
                actor: Principal | None = None, network: Network | None = None
                ) -> list[Notice]:
    """The notices ``event`` gives rise to (``after`` is the trip's state with it applied)."""
    rule = _RULES.get(event.type)
    if rule is None:
        return []
    if event.type in QUIET_WHEN_OWN and actor is not None and is_party(actor, after):
        return []
    draft = rule(_Seen(event, before or after, after, network))
    if draft is None:
        return []
    facts = after["facts"]
    payload = {"event": event.type, "trip": after["reference"], "plate": facts["plate"],
               **{k: v for k, v in draft.payload.items() if v is not None}}
    out: list[Notice] = []
    if draft.to_driver:
        driver = facts["driver"]
        note = draft.driver_note
        text = draft.text if note is None else _join(draft.text, note)
        out.append(Notice(draft.kind, "driver", str(driver["document_number"]),
                          driver.get("phone") or None, driver_language(facts), text,
                          dict(payload)))
    out.append(Notice(draft.kind, "enterprise", str(facts["enterprise_tax_code"])[:10], None,
                      "vi", draft.text, dict(payload)))
    return out


# --- gate controls: the waiting trucks whose expected call moves -------------------------------

CONTROL_KINDS_TOLD: frozenset[str] = frozenset({"closure", "pause", "capacity"})
"""The controls that may delay waiting trucks (extended hours only bring calls forward)."""


@dataclass(frozen=True)
class Control:
    """A regulator's control over a gate, as drivers are told of it."""

    id: int
    gate: str
    direction: str | None
    kind: str
    reason: str
    ends_at: datetime


@dataclass(frozen=True)
class Queued:
    """A truck waiting in the virtual queue for a gate, with its expected call just before and
    just after a control came into force (``None``: not within the dispatcher's horizon, or no
    longer waiting there)."""

    trip_id: str
    gate: str
    direction: str
    before: datetime | None
    after: datetime | None
    booked_slot: datetime | None = None


def control_seq(control_id: int) -> int:
    """The sequence number a control's notices are filed under for a trip: ``-id``, below every
    trip event's (which start at 1), so one control tells one truck once."""
    return -control_id


def affected_by_control(control: Control, queued: Iterable[Queued], told: Collection[str], *,
                        slot_minutes: int = 30) -> list[Queued]:
    """The waiting trucks ``control`` must tell, each once, in the order given.

    A truck is told when it waited for the controlled gate (and direction) before the control,
    is not already told by the same change through an event of its own (``told``: recalled,
    re-routed or called in the cycle that followed), and, for a capacity cut, its expected call
    moved at least a slot later (or out of sight). A closure or pause tells every such truck.
    Other controls tell no one."""
    if control.kind not in CONTROL_KINDS_TOLD:
        return []
    step = timedelta(minutes=slot_minutes)
    out: list[Queued] = []
    seen: set[str] = set(told)
    for q in queued:
        if q.trip_id in seen or q.gate != control.gate:
            continue
        if control.direction is not None and q.direction != control.direction:
            continue
        if control.kind == "capacity" and not (
                q.after is None or (q.before is not None and q.after - q.before >= step)):
            continue
        seen.add(q.trip_id)
        out.append(q)
    return out


def control_notices(control: Control, queued: Queued, state: Mapping[str, Any], *,
                    network: Network | None = None) -> list[Notice]:
    """What a waiting truck's driver is told of a control at its gate: the gate stopped until
    when and why, to stay in the staging area, and the expected call now (or that it is not
    known yet); a booked slot that cannot be kept is named."""
    gate = _gate(network, control.gate)
    stopped = _STOPPED.get(control.kind, _STOPPED["closure"])
    until = local_time(control.ends_at)
    staging = _staging(network, state.get("location"))
    parts = [Texts(
        f"{gate.vi} {stopped.vi} đến {until.vi}. Ở lại {staging.vi}, chưa đi vào cửa khẩu.",
        f"{gate.en} is {stopped.en} until {until.en}. Stay at {staging.en}; do not go to the "
        f"gate yet.",
        f"{gate.zh}{stopped.zh}至{until.zh}。请留在{staging.zh}，暂勿前往口岸。")]
    if queued.booked_slot is not None and (queued.after is None
                                           or queued.after > queued.booked_slot):
        slot = local_time(queued.booked_slot)
        parts.append(Texts(f" Không giữ được khung giờ đã đặt {slot.vi}.",
                           f" Your booked slot at {slot.en} cannot be kept.",
                           f"已预约的{slot.zh}时段无法保留。"))
    if queued.after is not None:
        when = local_time(queued.after)
        parts.append(Texts(f" Dự kiến được gọi: {when.vi}.", f" Expected call: {when.en}.",
                           f"预计叫号时间：{when.zh}。"))
    else:
        parts.append(Texts(f" Dự kiến được gọi: không sớm hơn {until.vi}.",
                           f" Expected call: not before {until.en}.",
                           f"预计叫号时间：不早于{until.zh}。"))
    parts.append(_reason_text(control.reason))
    facts = state["facts"]
    head = Texts(*(f"{state['reference']} ({facts['plate']}): ",) * 2,
                 f"{state['reference']}（{facts['plate']}）：")
    driver = facts["driver"]
    payload = {"event": f"gate_control.{control.kind}", "trip": state["reference"],
               "plate": facts["plate"], "gate": control.gate, "control": control.id,
               "control_kind": control.kind, "until": control.ends_at.isoformat(),
               "reason": control.reason,
               "expected_call": queued.after.isoformat() if queued.after else None,
               "was_expected": queued.before.isoformat() if queued.before else None}
    return [Notice("call_delayed", "driver", str(driver["document_number"]),
                   driver.get("phone") or None, driver_language(facts),
                   _join(head, *parts), {k: v for k, v in payload.items() if v is not None})]
