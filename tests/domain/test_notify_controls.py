"""What drivers are told when the control room closes, pauses or slows a gate (pure rules):
which waiting trucks a control affects, each told once, and what the notice says in the
driver's language; a called truck's recall says to wait, why and until when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from borderflow.domain import trip as domain
from borderflow.domain.notify import (
    Control,
    Queued,
    affected_by_control,
    control_notices,
    control_seq,
    notices_for,
)
from tests.domain.test_notify import NETWORK, REGULATOR, T0, _at_staging, _called

END = T0 + timedelta(hours=3)  # 11:00 in Lang Son


def _control(kind: str = "closure", direction: str | None = None) -> Control:
    return Control(7, "huu-nghi", direction, kind, "landslide on the approach road", END)


def test_a_recalled_driver_is_told_to_wait_why_and_until_when() -> None:
    called = _called(_at_staging())[1]
    recall = domain.Event("trip.recalled", T0, "regulator", {
        "reason": "landslide on the approach road", "control": 7, "control_kind": "closure",
        "until": END.isoformat()})
    driver, _enterprise = notices_for(recall, called, domain.apply(called, recall),
                                     actor=REGULATOR, network=NETWORK)
    assert driver.language == "vi"
    assert driver.text.vi.startswith("BF-TEST-0001-1 (29C-123.45): KHÔNG đi vào Cửa khẩu")
    assert "đóng cửa đến 11:00 ngày 25/11" in driver.text.vi
    assert "Lý do: landslide on the approach road." in driver.text.vi
    assert "do NOT go to" in driver.text.en
    assert "gate closed until 11:00 on 25 Nov (Vietnam time)" in driver.text.en
    assert "请勿前往" in driver.text.zh
    assert "口岸关闭至越南时间11月25日11:00" in driver.text.zh
    assert driver.payload["until"] == END.isoformat()
    assert "huu-nghi" not in driver.text.vi  # the gate by its name, never its code


def test_a_waiting_truck_hears_its_new_expected_call_and_its_lost_slot() -> None:
    state = _at_staging()
    q = Queued("t1", "huu-nghi", "export", T0 + timedelta(minutes=30),
               T0 + timedelta(hours=3, minutes=30), booked_slot=T0 + timedelta(minutes=30))
    [notice] = control_notices(_control(), q, state, network=NETWORK)
    assert (notice.kind, notice.recipient, notice.language) == ("call_delayed", "driver", "vi")
    assert "đóng cửa đến 11:00 ngày 25/11" in notice.text.vi
    assert "Dự kiến được gọi: 11:30 ngày 25/11." in notice.text.vi
    assert "Không giữ được khung giờ đã đặt 08:30 ngày 25/11." in notice.text.vi
    assert "Stay at Viettel Lang Son Logistics Park" in notice.text.en
    assert "Expected call: 11:30 on 25 Nov (Vietnam time)." in notice.text.en
    assert "预计叫号时间：越南时间11月25日11:30。" in notice.text.zh
    unknown = control_notices(_control("pause"), Queued("t1", "huu-nghi", "export", None, None),
                              state, network=NETWORK)[0]
    assert "not calling trucks until" in unknown.text.en
    assert "Expected call: not before 11:00 on 25 Nov (Vietnam time)." in unknown.text.en
    assert control_seq(7) == -7  # below every trip event's sequence number


_TIMES = st.one_of(st.none(), st.integers(0, 48).map(lambda i: T0 + timedelta(minutes=15 * i)))
_QUEUED = st.builds(Queued, trip_id=st.sampled_from([f"t{i}" for i in range(8)]),
                    gate=st.sampled_from(["huu-nghi", "tan-thanh-dedicated"]),
                    direction=st.sampled_from(["export", "import"]), before=_TIMES,
                    after=_TIMES)


@given(queued=st.lists(_QUEUED, max_size=20),
       told=st.sets(st.sampled_from([f"t{i}" for i in range(8)]), max_size=4),
       kind=st.sampled_from(["closure", "pause", "capacity", "extended_hours"]),
       direction=st.sampled_from([None, "export", "import"]))
def test_every_affected_truck_gets_exactly_one_notice(
    queued: list[Queued], told: set[str], kind: str, direction: str | None
) -> None:
    control = _control(kind, direction)
    out = affected_by_control(control, queued, told)
    ids = [q.trip_id for q in out]
    assert len(ids) == len(set(ids))  # once per truck per control, however often it is listed
    assert not set(ids) & told  # a truck already told by its own event is not told again
    at_gate = [q for q in queued if q.gate == "huu-nghi" and direction in (None, q.direction)
               and q.trip_id not in told]
    if kind in ("closure", "pause"):  # every truck that waited for the gate, first listing
        assert ids == list(dict.fromkeys(q.trip_id for q in at_gate))
    elif kind == "capacity":  # only those whose call moved a slot later or out of sight
        for q in out:
            assert q.after is None or (q.before is not None
                                       and q.after - q.before >= timedelta(minutes=30))
    else:
        assert out == []
    state = _at_staging()
    for q in out:
        notices = control_notices(control, q, state, network=NETWORK)
        assert [n.recipient for n in notices] == ["driver"]
        assert all("11:00" in text for text in (notices[0].text.vi, notices[0].text.en,
                                                notices[0].text.zh))


def test_the_times_are_local_whatever_the_clock_zone() -> None:
    q = Queued("t1", "huu-nghi", "export", None, datetime(2026, 11, 25, 4, 0, tzinfo=UTC))
    [notice] = control_notices(_control("capacity"), q, _at_staging(), network=NETWORK)
    assert "giảm lượt xe qua" in notice.text.vi
    assert "Dự kiến được gọi: 11:00 ngày 25/11." in notice.text.vi
