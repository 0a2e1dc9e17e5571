"""Which trip events notify whom, and what the texts say (pure: no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from borderflow.config import DEFAULT_NETWORK_FILE
from borderflow.domain import trip as domain
from borderflow.domain.access import SYSTEM, Principal, Role
from borderflow.domain.notify import NOTIFYING, driver_language, local_time, notices_for
from borderflow.network import service as networks

NETWORK = networks.parse(networks.read_file(DEFAULT_NETWORK_FILE))
T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # 08:00 in Lang Son
DRIVER_DOC = "001089012345"
TAX = "0100109106"
REGULATOR = Principal(id=2, username="regulator", kind="user", roles=frozenset({Role.REGULATOR}))
DRIVER = Principal(id=5, username="driver", kind="user", roles=frozenset({Role.DRIVER}),
                   driver_document=DRIVER_DOC)
ENTERPRISE = Principal(id=3, username="enterprise", kind="user",
                       roles=frozenset({Role.ENTERPRISE}), enterprise_tax_code=TAX)
OTHER_ENTERPRISE = Principal(id=4, username="enterprise2", kind="user",
                             roles=frozenset({Role.ENTERPRISE}), enterprise_tax_code="0101245486")


def _created(document_type: str = "vn_citizen_id", phone: str = "+84912345678") -> domain.Event:
    procedure = NETWORK.procedure_for("huu-nghi", "export")
    assert procedure is not None
    facts = {"plate": "29C-123.45", "plate_key": "29C12345", "vehicle_country": "VN",
             "driver": {"name": "Nguyen Van Tai", "document_type": document_type,
                        "document_number": DRIVER_DOC, "phone": phone},
             "driver_crosses": False, "quarantine_kind": "none", "perishable": False,
             "enterprise_tax_code": f"{TAX}-001", "customs_agent_tax_code": None}
    return domain.Event("trip.created", T0, "enterprise", {
        "id": "t1", "declaration_id": "d1", "reference": "BF-TEST-0001-1", "gate": "huu-nghi",
        "flow": "export", "direction": "export", "priority": "normal", "transshipment": False,
        "procedure": domain.procedure_to_dict(procedure), "facts": facts})


def _at_staging(**kwargs: Any) -> dict[str, Any]:
    state = domain.apply(None, _created(**kwargs))
    return domain.apply(state, domain.Event("area.entered", T0, "yard",
                                            {"area": "staging:viettel-logistics-park"}))


def _called(state: dict[str, Any]) -> tuple[domain.Event, dict[str, Any]]:
    event = domain.Event("trip.called", T0, "dispatcher",
                         {"gate": "huu-nghi", "yard": "huu-nghi-export",
                          "arrive_by": (T0 + timedelta(minutes=60)).isoformat()})
    return event, domain.apply(state, event)


def test_a_call_forward_tells_the_driver_and_the_enterprise_gate_yard_and_local_time() -> None:
    before = _at_staging()
    event, after = _called(before)
    driver, enterprise = notices_for(event, before, after, actor=REGULATOR, network=NETWORK)
    assert (driver.recipient, driver.key, driver.phone) == ("driver", DRIVER_DOC, "+84912345678")
    assert (enterprise.recipient, enterprise.key, enterprise.phone) == ("enterprise", TAX, None)
    assert driver.kind == enterprise.kind == "call_forward"
    # names from the network in each language, the time in Lang Son (UTC+7)
    assert "Cửa khẩu quốc tế Hữu Nghị" in driver.text.vi
    assert "Bãi xe hàng xuất khẩu Hữu Nghị" in driver.text.vi
    assert "09:00 ngày 25/11" in driver.text.vi
    assert "Huu Nghi International Border Gate" in driver.text.en
    assert "Huu Nghi export yard" in driver.text.en
    assert "arrive by 09:00 on 25 Nov (Vietnam time)" in driver.text.en
    assert "友谊国际口岸" in driver.text.zh
    assert "越南时间11月25日09:00" in driver.text.zh
    assert driver.text.en.startswith("BF-TEST-0001-1 (29C-123.45): ")
    # only the driver is asked to acknowledge
    assert "Acknowledge" in driver.text.en
    assert "Acknowledge" not in enterprise.text.en
    assert driver.payload == {"event": "trip.called", "trip": "BF-TEST-0001-1",
                              "plate": "29C-123.45", "gate": "huu-nghi",
                              "yard": "huu-nghi-export",
                              "arrive_by": (T0 + timedelta(minutes=60)).isoformat()}


def test_without_the_network_codes_stand_in_for_names() -> None:
    before = _at_staging()
    event, after = _called(before)
    driver, _ = notices_for(event, before, after, actor=REGULATOR, network=None)
    assert "gate huu-nghi" in driver.text.en
    assert "yard huu-nghi-export" in driver.text.en


def test_recall_no_show_and_reroute() -> None:
    called = _called(_at_staging())[1]
    recall = domain.Event("trip.recalled", T0, "regulator",
                          {"reason": "gate huu-nghi closure: road works"})
    notes = notices_for(recall, called, domain.apply(called, recall), actor=REGULATOR,
                        network=NETWORK)
    assert [(n.recipient, n.kind) for n in notes] == [("driver", "order_withdrawn"),
                                                     ("enterprise", "order_withdrawn")]
    assert "Viettel Lang Son Logistics Park" in notes[0].text.en
    assert "Reason: gate huu-nghi closure: road works." in notes[0].text.en
    assert "原因：gate huu-nghi closure: road works" in notes[0].text.zh

    late = domain.Event("trip.no_show", T0 + timedelta(hours=2), "dispatcher",
                        {"reason": "not at the gate within the grace time"})
    notes = notices_for(late, called, domain.apply(called, late), actor=REGULATOR,
                        network=NETWORK)
    assert [n.kind for n in notes] == ["no_show", "no_show"]
    assert "by 09:00 on 25 Nov" in notes[0].text.en  # the lapsed order's arrive-by
    assert notes[0].payload["no_shows"] == 1

    waiting = _at_staging()
    reroute = domain.Event("trip.rerouted", T0, "dispatcher",
                           {"from_gate": "huu-nghi", "gate": "chi-ma",
                            "reason": "huu-nghi closed until 14:00"})
    notes = notices_for(reroute, waiting, waiting, actor=REGULATOR, network=NETWORK)
    assert [n.recipient for n in notes] == ["driver", "enterprise"]
    assert "from Huu Nghi International Border Gate to" in notes[0].text.en
    assert "Chi Ma" in notes[0].text.en
    assert "Reason: huu-nghi closed until 14:00." in notes[0].text.en
    assert notes[0].payload["from_gate"] == "huu-nghi"
    assert notes[0].payload["gate"] == "chi-ma"


def test_steps_held_or_rejected_and_priority_go_to_the_enterprise_only() -> None:
    state = domain.apply(_called(_at_staging())[1], domain.Event(
        "area.entered", T0, "borderguard", {"area": "gate_area:huu-nghi", "gate": "huu-nghi"}))
    held = domain.Event("step.held", T0, "customs",
                        {"step": "fee", "reason_code": "fee-unpaid", "note": "invoice 42"})
    (notice,) = notices_for(held, state, domain.apply(state, held), actor=REGULATOR,
                            network=NETWORK)
    assert (notice.recipient, notice.kind) == ("enterprise", "held")
    assert "Infrastructure fee" in notice.text.en
    assert "Fee not paid — invoice 42" in notice.text.en
    assert "Chưa nộp phí" in notice.text.vi
    assert "未缴费" in notice.text.zh
    assert notice.payload["reason_code"] == "fee-unpaid"

    rejected = domain.Event("step.rejected", T0, "borderguard",
                            {"step": "border_guard", "reason_code": "driver-unfit"})
    (notice,) = notices_for(rejected, state, domain.apply(state, rejected), actor=REGULATOR,
                            network=NETWORK)
    assert notice.kind == "rejected"
    assert "Driver not fit or not permitted" in notice.text.en
    assert "may not cross" in notice.text.en

    urgent = domain.Event("trip.prioritised", T0, "regulator",
                          {"priority": "urgent", "reason": "medicine"})
    (notice,) = notices_for(urgent, state, domain.apply(state, urgent), actor=REGULATOR,
                            network=NETWORK)
    assert (notice.recipient, notice.kind) == ("enterprise", "prioritised")
    assert "urgent" in notice.text.en
    assert "khẩn cấp" in notice.text.vi


def _booked() -> dict[str, Any]:
    return domain.apply(_at_staging(), domain.Event(
        "trip.booked", T0, "enterprise",
        {"booking_id": 7, "gate": "huu-nghi", "slot_start": "2026-11-25T03:00:00+00:00"}))


@pytest.mark.parametrize(("actor", "notified"), [
    (DRIVER, False), (ENTERPRISE, False), (REGULATOR, True), (SYSTEM, True),
    (OTHER_ENTERPRISE, True),
])
def test_a_released_booking_notifies_unless_the_driver_or_enterprise_released_it(
    actor: Principal, notified: bool
) -> None:
    before = _booked()
    event = domain.Event("trip.unbooked", T0, actor.username,
                         {"booking_id": 7, "reason": "gate huu-nghi closed: flood"})
    notes = notices_for(event, before, domain.apply(before, event), actor=actor, network=NETWORK)
    assert bool(notes) is notified
    if notified:
        assert [n.kind for n in notes] == ["booking_released", "booking_released"]
        assert "10:00 on 25 Nov" in notes[0].text.en  # the slot, in local time


@pytest.mark.parametrize(("reason", "cause"), [
    ("trip cancelled: declaration withdrawn", "trip_cancelled"),
    ("re-routed from huu-nghi to chi-ma: closed", "rerouted")])
def test_a_booking_released_by_a_cancellation_or_a_reroute_leaves_it_to_that_notice(
    reason: str, cause: str
) -> None:
    before = _booked()
    event = domain.Event("trip.unbooked", T0, "regulator",
                         {"booking_id": 7, "reason": reason, "cause": cause})
    assert notices_for(event, before, domain.apply(before, event), actor=REGULATOR) == []


@pytest.mark.parametrize(("actor", "notified"), [(ENTERPRISE, False), (SYSTEM, True),
                                                 (REGULATOR, True)])
def test_a_cancelled_trip_notifies_when_someone_else_cancelled_it(
    actor: Principal, notified: bool
) -> None:
    before = domain.apply(None, _created())
    event = domain.Event("trip.cancelled", T0, actor.username, {"reason": "no-show limit"})
    notes = notices_for(event, before, domain.apply(before, event), actor=actor, network=NETWORK)
    assert [n.recipient for n in notes] == (["driver", "enterprise"] if notified else [])


def test_other_events_notify_no_one() -> None:
    state = _at_staging()
    event = domain.Event("area.left", T0, "yard", {"area": "staging:viettel-logistics-park"})
    assert notices_for(event, state, domain.apply(state, event), actor=REGULATOR) == []
    assert "trip.order_acknowledged" not in NOTIFYING
    assert "step.passed" not in NOTIFYING


@pytest.mark.parametrize(("document_type", "phone", "language"), [
    ("vn_citizen_id", "+84912345678", "vi"),
    ("cn_resident_id", "+8613800138000", "zh"),
    ("passport", "+8613800138000", "zh"),
    ("passport", "+4915112345678", "en"),
])
def test_the_driver_gets_texts_in_their_language(document_type: str, phone: str,
                                                  language: str) -> None:
    state = _at_staging(document_type=document_type, phone=phone)
    assert driver_language(state["facts"]) == language
    event, after = _called(state)
    driver, enterprise = notices_for(event, state, after, actor=REGULATOR, network=NETWORK)
    assert driver.language == language
    assert enterprise.language == "vi"


def test_local_time_crosses_midnight() -> None:
    text = local_time("2026-12-31T17:30:00+00:00")
    assert text.vi == "00:30 ngày 01/01"
    assert text.en == "00:30 on 1 Jan (Vietnam time)"
    assert text.zh == "越南时间1月1日00:30"
