"""What real phone apps send, odd parts included: every message shape of Traccar's own OsmAnd
decoder tests and OwnTracks' documented payloads (recorded anew with this platform's place and
time), ``-1`` for unknown, OwnTracks ids with a slash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from borderflow.store.models import Position
from borderflow.telemetry import decoders
from borderflow.telemetry.decoders import Fix, Rejection
from tests import factories
from tests.conftest import NOW, Peek

T = int((NOW - timedelta(minutes=5)).timestamp())
WHEN = datetime.fromtimestamp(T, UTC)
ISO = WHEN.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def one(items: list[Fix | Rejection]) -> Fix:
    assert len(items) == 1
    assert isinstance(items[0], Fix), items[0]
    return items[0]


def reason(items: list[Fix | Rejection]) -> str:
    assert len(items) == 1
    assert isinstance(items[0], Rejection), items[0]
    return items[0].reason


# --- OsmAnd query strings, one per shape of Traccar's decoder tests ------------------------------


@pytest.mark.parametrize(("params", "expected"), [
    # ISO time with Z, hdop and altitude kept, speed 0
    ({"id": "902064", "lat": "21.85", "lon": "106.76", "timestamp": ISO.replace(".000", ""),
      "hdop": "6.0", "altitude": "224.0", "speed": "0.0"},
     {"altitude": 224.0, "speed_mps": 0.0, "attributes": {"hdop": "6.0"}}),
    # Unix milliseconds
    ({"id": "902064", "lat": "21.85", "lon": "106.76", "timestamp": str(T * 1000),
      "hdop": "6.0", "altitude": "224.0", "speed": "0.0"}, {"fix_time": WHEN}),
    # "yyyy-MM-dd HH:mm:ss" (the + of the query string is a space), id last
    ({"lat": "21.85", "lon": "106.76", "timestamp": WHEN.strftime("%Y-%m-%d %H:%M:%S"),
      "altitude": "384.7", "speed": "0.0", "id": "353861053849681"},
     {"device_id": "353861053849681", "fix_time": WHEN}),
    # bearing, hdop
    ({"id": "123456", "timestamp": str(T), "lat": "21.85", "lon": "106.76", "speed": "0.0",
      "bearing": "0.0", "altitude": "0", "hdop": "0.0"}, {"bearing": 0.0}),
    # the bare minimum
    ({"id": "123456", "timestamp": str(T), "lat": "21.85", "lon": "106.76"},
     {"speed_mps": None, "bearing": None, "battery": None}),
    # deviceid, heading, vertical and horizontal accuracy, no time (taken as received)
    ({"lat": "21.85", "lon": "106.76", "speed": "0.0", "heading": "0.0", "vacc": "0",
      "hacc": "4", "altitude": "0", "deviceid": "123456"},
     {"device_id": "123456", "fix_time": NOW, "accuracy": 4.0, "attributes": {"vacc": "0"}}),
    # speed with many decimals, battery
    ({"id": "861001000719969", "lat": "21.666667", "lon": "106.883333",
      "altitude": "350.059479", "speed": "0.000000", "batt": "87"}, {"battery": 87.0}),
    # location=lat,lon
    ({"id": "123456", "timestamp": str(T), "location": "21.85,106.76"}, {"lat": 21.85}),
    # knots, a fractional bearing, vehicle attributes
    ({"id": "123456789012345", "timestamp": str(T), "lat": "21.7232948571",
      "lon": "106.0061408571", "bearing": "7.19889788244", "speed": "40", "ignition": "true",
      "rpm": "933", "fuel": "24"},
     {"speed_mps": pytest.approx(40 * 1852 / 3600), "bearing": pytest.approx(7.19889788244),
      "attributes": {"ignition": "true", "rpm": "933", "fuel": "24"}}),
])
def test_osmand_query_strings_of_every_shape_traccar_knows(
    params: dict[str, str], expected: dict[str, Any]
) -> None:
    fix = one(decoders.osmand(params, NOW))
    for name, value in expected.items():
        assert getattr(fix, name) == value, name


def test_osmand_without_a_fix_or_without_a_device_is_rejected_with_the_reason() -> None:
    cells = reason(decoders.osmand({"id": "123456", "timestamp": str(T),
                                    "cell": "452,04,16,2223,-90",
                                    "wifi": "00-1C-B3-09-85-15,-70"}, NOW))
    assert "lat and lon" in cells
    items = decoders.osmand({"timestamp": str(T), "lat": "21.85", "lon": "106.76"}, NOW)
    assert reason(items) == "device id is missing (id or deviceid)"
    assert decoders.device_missing(items) is items[0]
    assert decoders.device_missing(decoders.osmand({"id": "x"}, NOW)) is None


# --- the JSON body of Traccar Client 9 -----------------------------------------------------------


def _traccar(coords: dict[str, Any], battery: dict[str, Any], **location: Any
             ) -> dict[str, Any]:
    return {"location": {"timestamp": ISO, "coords": coords, "battery": battery,
                         **location}, "device_id": "48241179"}


def test_traccar_client_9_on_android() -> None:
    fix = one(decoders.traccar_json(_traccar(
        {"latitude": 21.85, "longitude": 106.76, "accuracy": 5, "speed": 0, "heading": -1,
         "altitude": 5},
        {"level": 1, "is_charging": False}, is_moving=False, odometer=0,
        event="motionchange", activity={"type": "still"},
        extras={"device_string_test": "long", "device_double_test": 1.345},
        _="&id=48241179&lat=21.85&lon=106.76&"), NOW))
    assert (fix.device_id, fix.fix_time, fix.speed_mps, fix.bearing) == (
        "48241179", WHEN, 0.0, None)
    assert (fix.accuracy, fix.altitude, fix.battery) == (5, 5, 100.0)
    assert fix.attributes["extras"] == {"device_string_test": "long",
                                        "device_double_test": 1.345}
    assert fix.attributes["event"] == "motionchange"


def test_traccar_client_9_on_ios_with_nothing_known_but_the_place() -> None:
    fix = one(decoders.traccar_json(_traccar(
        {"speed_accuracy": -1, "speed": -1, "longitude": 106.76, "ellipsoidal_altitude": 0,
         "floor": None, "heading_accuracy": -1, "latitude": 21.85, "accuracy": 5,
         "altitude_accuracy": -1, "altitude": 0, "heading": -1},
        {"level": -1, "is_charging": False}, mock=True, age=188,
        uuid="2FB04C65-99CF-42AB-8DD3-EBCB4B108BF8"), NOW))
    assert (fix.speed_mps, fix.bearing, fix.battery) == (None, None, None)
    assert fix.attributes["mock"] is True


def test_traccar_client_9_moving() -> None:
    fix = one(decoders.traccar_json(_traccar(
        {"latitude": 21.8148096, "longitude": 106.6837015, "accuracy": 3.8, "speed": 18.67,
         "speed_accuracy": 0.26, "heading": 63, "heading_accuracy": 0.28, "altitude": 35.7,
         "altitude_accuracy": 3.8},
        {"is_charging": False, "level": 0.79}, event="motionchange", is_moving=False,
        extras={}), NOW))
    assert (fix.speed_mps, fix.bearing) == (18.67, 63)
    assert fix.battery == pytest.approx(79)
    assert "extras" not in fix.attributes


def test_traccar_json_without_a_device_says_which_field() -> None:
    items = decoders.traccar_json({"location": {"coords": {"latitude": 1, "longitude": 2}}},
                                  NOW)
    assert reason(items) == "device id is missing (device_id)"
    assert decoders.device_missing(items) is not None


# --- minus one is unknown --------------------------------------------------------------------


@given(speed=st.sampled_from(["-1", "-1.0", "-0.5"]), heading=st.sampled_from(["-1", "-90"]),
       battery=st.sampled_from(["-1", "-1.0"]))
def test_negative_speed_heading_and_battery_are_unknown_never_a_rejection(
    speed: str, heading: str, battery: str
) -> None:
    fix = one(decoders.osmand({"id": "a1", "timestamp": str(T), "lat": "21.85",
                               "lon": "106.76", "speed": speed, "heading": heading,
                               "batt": battery}, NOW))
    assert (fix.speed_mps, fix.bearing, fix.battery) == (None, None, None)


def test_a_bearing_of_360_is_north_and_beyond_it_unknown() -> None:
    base = {"id": "a1", "lat": "21.85", "lon": "106.76"}
    assert one(decoders.osmand({**base, "bearing": "360"}, NOW)).bearing == 0
    assert one(decoders.osmand({**base, "bearing": "725"}, NOW)).bearing is None


def test_a_negative_accuracy_still_rejects_the_fix() -> None:
    """iOS marks coordinates it could not get with a negative accuracy."""
    assert "accuracy" in reason(decoders.osmand(
        {"id": "a1", "lat": "21.85", "lon": "106.76", "accuracy": "-1"}, NOW))


def test_minus_one_from_every_protocol() -> None:
    ot = one(decoders.owntracks({"_type": "location", "lat": 21.85, "lon": 106.76, "tst": T,
                                 "vel": -1, "cog": -1, "batt": -1}, NOW, user="u", device="d"))
    assert (ot.speed_mps, ot.bearing, ot.battery) == (None, None, None)
    batch = decoders.batch_item({"device_id": "unit-7", "time": T, "lat": 21.85,
                                 "lon": 106.76, "speed_mps": -1, "bearing": -1,
                                 "battery": -1}, NOW)
    assert isinstance(batch, Fix)
    assert (batch.speed_mps, batch.bearing, batch.battery) == (None, None, None)


# --- OwnTracks ---------------------------------------------------------------------------------


LOCATION = {"_type": "location", "tid": "ph", "tst": T, "lat": 21.85, "lon": 106.76,
            "acc": 12, "alt": 260, "batt": 81, "bs": 1, "vel": 36, "cog": 270, "conn": "m",
            "t": "u", "vac": 3, "m": 2, "created_at": T + 1,
            "inregions": ["park"], "BSSID": "b0:f2:8:45:94:33", "SSID": "Gate"}


def test_owntracks_location_as_documented() -> None:
    fix = one(decoders.owntracks(LOCATION, NOW, user="29C12345", device="phone"))
    assert (fix.device_id, fix.fix_time, fix.lat, fix.lon) == ("29C12345/phone", WHEN, 21.85,
                                                               106.76)
    assert fix.speed_mps == pytest.approx(10.0)  # 36 km/h
    assert (fix.bearing, fix.altitude, fix.accuracy, fix.battery) == (270, 260, 12, 81)
    assert fix.attributes == {"tid": "ph", "conn": "m", "t": "u", "bs": 1}


def test_owntracks_device_from_user_and_device_or_the_topic() -> None:
    assert one(decoders.owntracks(LOCATION, NOW, user="29C12345", device="phone")
               ).device_id == "29C12345/phone"
    topic = {**LOCATION, "topic": "owntracks/29C12345/phone"}
    assert one(decoders.owntracks(topic, NOW)).device_id == "29C12345/phone"
    assert one(decoders.owntracks(LOCATION, NOW)).device_id == "ph"  # tid, last resort


@pytest.mark.parametrize("message", [
    {"_type": "transition", "wtst": T - 600, "lat": 21.85, "lon": 106.76, "tst": T,
     "acc": 10, "tid": "ph", "event": "enter", "desc": "Park", "t": "c"},
    {"_type": "waypoint", "desc": "Park", "lat": 21.85, "lon": 106.76, "rad": 300, "tst": T},
    {"_type": "lwt", "tst": T},
    {"_type": "status", "iOS": {"locale": "vi_VN"}},
    {"_type": "card", "name": "Tai", "tid": "ph"},
])
def test_owntracks_messages_without_a_position_are_answered_and_stored_nowhere(
    message: dict[str, Any]
) -> None:
    assert decoders.owntracks(message, NOW, user="u", device="d") == []


def test_owntracks_without_any_identity_is_rejected_naming_what_to_send() -> None:
    body = {k: v for k, v in LOCATION.items() if k != "tid"}
    assert reason(decoders.owntracks(body, NOW)).startswith("device id is missing (X-Limit-U")


# --- through the API -----------------------------------------------------------------------


def test_an_ios_fix_with_unknown_speed_is_stored_with_nulls(
    client: TestClient, db: Peek
) -> None:
    r = client.post("/api/v1/telemetry/osmand", json=_traccar(
        {"latitude": 21.85, "longitude": 106.76, "accuracy": 5, "speed": -1, "heading": -1,
         "altitude": 0}, {"level": -1}))
    assert r.status_code == 400, r.text  # nobody bound the phone: stored, and it is told
    assert r.json()["error"]["fields"][0]["field"] == "device_id"
    stored = db.one(select(Position).where(Position.device_id == "48241179"))
    assert (stored.speed_mps, stored.bearing, stored.battery) == (None, None, None)


@pytest.mark.parametrize("written", ["29C12345/phone", "29C12345%2Fphone"])
def test_an_owntracks_id_binds_through_the_api(
    client: TestClient, auth: Any, written: str
) -> None:
    r = client.post(f"/api/v1/devices/{written}/bind",
                    json={"driver_document": factories.DRIVER_DOC},
                    headers=auth("regulator"))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "29C12345/phone"
    plain = client.post("/api/v1/devices/phone-3/bind", json={"plate": "29C-123.45"},
                        headers=auth("regulator"))
    assert plain.status_code == 200, plain.text
    assert plain.json()["id"] == "phone-3"
