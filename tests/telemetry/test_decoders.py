"""Recorded-style messages of each protocol, odd ones included, and the unit each protocol's
speed is in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderflow.telemetry import decoders
from borderflow.telemetry.decoders import Fix, Rejection

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
T = 1795395000  # 2026-11-23T00:50:00Z


def one(items: list[Fix | Rejection]) -> Fix:
    assert len(items) == 1
    assert isinstance(items[0], Fix), items[0]
    return items[0]


def reason(items: list[Fix | Rejection]) -> str:
    assert len(items) == 1
    assert isinstance(items[0], Rejection), items[0]
    return items[0].reason


def test_osmand_as_traccar_client_sends_it() -> None:
    fix = one(decoders.osmand({"id": "123456", "timestamp": str(T), "lat": "21.912",
                               "lon": "106.703", "speed": "10", "bearing": "45.5",
                               "altitude": "260", "accuracy": "8.0", "batt": "87.0",
                               "charge": "false"}, NOW))
    assert (fix.device_id, fix.lat, fix.lon) == ("123456", 21.912, 106.703)
    assert fix.fix_time == datetime(2026, 11, 23, 0, 50, tzinfo=UTC)
    assert fix.speed_mps == pytest.approx(10 * 1852 / 3600)  # knots
    assert (fix.bearing, fix.altitude, fix.accuracy, fix.battery) == (45.5, 260, 8.0, 87.0)
    assert fix.attributes == {"charge": "false"}


@pytest.mark.parametrize("stamp", [str(T), str(T * 1000), "2026-11-23T00:50:00Z",
                                   "2026-11-23T07:50:00+07:00", "2026-11-23 00:50:00"])
def test_osmand_times_in_every_form_apps_use(stamp: str) -> None:
    fix = one(decoders.osmand({"deviceid": "a1", "timestamp": stamp,
                               "location": "21.912,106.703"}, NOW))
    assert fix.fix_time == datetime(2026, 11, 23, 0, 50, tzinfo=UTC)


def test_osmand_odd_but_valid_requests() -> None:
    comma = one(decoders.osmand({"id": "a1", "timestamp": str(T), "lat": "21,912",
                                 "lon": "106,703", "speed": "0,0"}, NOW))
    assert (comma.lat, comma.lon, comma.speed_mps) == (21.912, 106.703, 0.0)
    location = one(decoders.osmand({"id": "a1", "location": "21,912,106,703"}, NOW))
    assert (location.lat, location.lon, location.fix_time) == (21.912, 106.703, NOW)
    bare = one(decoders.osmand({"id": "a1", "lat": "21.9", "lon": "106.7", "heading": "90"},
                               NOW))
    assert (bare.speed_mps, bare.bearing, bare.battery) == (None, 90.0, None)


@pytest.mark.parametrize(("params", "why"), [
    ({"lat": "21.9", "lon": "106.7"}, "device id"),
    ({"id": "a", "lat": "91", "lon": "106.7"}, "outside ±90"),
    ({"id": "a", "lat": "21.9", "lon": "186.7"}, "outside ±180"),
    ({"id": "a", "lat": "0", "lon": "0"}, "0,0"),
    ({"id": "a", "lat": "abc", "lon": "106.7"}, "not a number"),
    ({"id": "a", "lat": "21.9"}, "required"),
    ({"id": "a", "lat": "21.9", "lon": "106.7", "timestamp": str(T + 86400)}, "future"),
    ({"id": "a", "lat": "21.9", "lon": "106.7", "timestamp": "2020-01-01T00:00:00Z"}, "old"),
    ({"id": "a", "lat": "21.9", "lon": "106.7", "timestamp": "yesterday"}, "neither"),
    ({"id": "a", "lat": "21.9", "lon": "106.7", "speed": "300"}, "truck"),
    ({"id": "a", "lat": "nan", "lon": "106.7"}, "finite"),
])
def test_bad_positions_are_rejected_with_a_reason(params: dict[str, str], why: str) -> None:
    assert why in reason(decoders.osmand(params, NOW))


def test_traccar_client_9_json_speed_is_metres_per_second() -> None:
    body = {"device_id": "phone-7", "location": {
        "timestamp": "2026-11-23T00:50:00.000Z", "is_moving": True, "odometer": 1200,
        "coords": {"latitude": 21.912, "longitude": 106.703, "accuracy": 5, "speed": 10,
                   "heading": 180, "altitude": 255},
        "battery": {"level": 0.87, "is_charging": False}, "activity": {"type": "in_vehicle"}}}
    fix = one(decoders.traccar_json(body, NOW))
    assert fix.speed_mps == 10
    assert fix.battery == pytest.approx(87)
    assert fix.attributes["odometer"] == 1200
    assert "coords" in reason(decoders.traccar_json({"device_id": "x", "location": {}}, NOW))
    assert "object" in reason(decoders.traccar_json([1, 2], NOW))


def test_owntracks_speed_is_kilometres_per_hour_and_the_topic_names_the_device() -> None:
    msg = {"_type": "location", "lat": 21.912, "lon": 106.703, "tst": T, "vel": 36,
           "acc": 12, "batt": 64, "tid": "ng", "conn": "m"}
    fix = one(decoders.owntracks(msg, NOW, topic="owntracks/nguyen/phone"))
    assert fix.device_id == "nguyen/phone"
    assert fix.speed_mps == pytest.approx(10)
    assert (fix.accuracy, fix.battery, fix.attributes["tid"]) == (12, 64, "ng")
    assert one(decoders.owntracks(msg, NOW, user="u", device="d")).device_id == "u/d"
    assert one(decoders.owntracks(msg, NOW)).device_id == "ng"
    assert decoders.owntracks({"_type": "transition", "event": "enter"}, NOW) == []
    assert "tst" in reason(decoders.owntracks({"_type": "location", "lat": 1, "lon": 2,
                                               "tid": "x"}, NOW))


def test_batch_items() -> None:
    fix = decoders.batch_item({"device_id": "fleet-1", "time": "2026-11-23T00:50:00Z",
                               "lat": 21.9, "lon": 106.7, "speed_mps": 12.5,
                               "attributes": {"ignition": True}}, NOW)
    assert isinstance(fix, Fix)
    assert (fix.speed_mps, fix.attributes) == (12.5, {"ignition": True})
    bad = decoders.batch_item({"device_id": "fleet-1", "lat": 21.9, "lon": 106.7}, NOW)
    assert isinstance(bad, Rejection)
    assert "time" in bad.reason


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "deviceid", "lat", "lon", "location",
                                        "timestamp", "speed", "bearing", "batt", "x"]),
                       st.text(max_size=30)))
def test_no_input_breaks_the_decoder(params: dict[str, str]) -> None:
    items = decoders.osmand(params, NOW)
    assert len(items) == 1
    if isinstance(items[0], Fix):
        assert -90 <= items[0].lat <= 90
        assert -180 <= items[0].lon <= 180


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers(min_value=-(2**80), max_value=2**80)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                               max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["device_id", "time", "lat", "lon", "speed_mps",
                                        "bearing", "battery", "attributes"]), json_values),
       json_values)
def test_any_json_in_a_batch_item_is_a_fix_or_a_reason_and_crosses_the_bus(
        item: dict[str, object], attributes: object) -> None:
    """Whatever a fleet system sends (NaN, huge integers, deep nesting), the decoder answers
    with a fix or a reason, and a fix can be sent on the bus and kept in jsonb."""
    from borderflow.telemetry import wire

    item = {"device_id": "fleet-1", "time": "2026-11-23T00:50:00Z", "lat": 21.9, "lon": 106.7,
            **item}
    if isinstance(attributes, dict):
        item["attributes"] = attributes
    got = decoders.batch_item(item, NOW)
    assert isinstance(got, Fix | Rejection)
    decoded, _at = wire.decode(wire.encode([got], NOW))
    assert decoded == [got]
    for found in (decoders.owntracks({"_type": "location", "tid": "ng", **item}, NOW),
                  decoders.traccar_json({"device_id": "p", "location": item}, NOW)):
        assert wire.decode(wire.encode(found, NOW))[0] == found
