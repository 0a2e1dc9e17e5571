"""Plate reads as camera vendors' software posts them: Plate Recognizer's webhook (JSON, and a
multipart form with the picture), OpenALPR / Rekor ``alpr_group`` and ``alpr_results``; a
plug-in format; bad messages refused naming the field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from borderflow.clock import FixedClock
from borderflow.errors import ValidationFailed
from borderflow.telemetry import camera_vendors as vendors
from borderflow.telemetry.decoders import parse_time
from tests.conftest import NOW
from tests.telemetry.test_cameras import GATE_AREA, LATER, _called, _camera
from tests.web.test_driver import _login

SEEN = NOW + timedelta(minutes=9)
SEEN_MS = int(SEEN.timestamp() * 1000)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64


def plate_recognizer(*results: dict[str, Any], timestamp: str | None = None
                     ) -> dict[str, Any]:
    return {"hook": {"target": "https://gate.example/api/v1/plate-reads", "id": 479,
                     "event": "image.done"},
            "data": {"camera_id": "huu-nghi-in-1", "filename": "lane1.jpg",
                     "timestamp": timestamp or SEEN.strftime("%Y-%m-%d %H:%M:%S.%f"),
                     "timestamp_camera": None, "processing_time": 288.758,
                     "results": list(results)}}


def pr_result(plate: str, score: float, **extra: Any) -> dict[str, Any]:
    return {"box": {"xmin": 153, "ymin": 91, "xmax": 302, "ymax": 125}, "plate": plate,
            "region": {"code": "vn", "score": 0.62}, "score": score, "dscore": 0.99,
            "candidates": [{"score": score, "plate": plate}, {"score": 0.41,
                                                              "plate": plate[:-1] + "6"}],
            "vehicle": {"score": 0.84, "type": "Big Truck"}, **extra}


ALPR_GROUP = {
    "data_type": "alpr_group", "version": 2, "epoch_start": SEEN_MS,
    "epoch_end": SEEN_MS + 1800, "frame_start": 141, "frame_end": 163,
    "company_id": "c0a8e1f2", "agent_uid": "Ld0GrXMwrx2LVVOQ5NAq", "agent_version": "4.1.1",
    "agent_type": "alprd", "camera_id": 1738411392,
    "web_server_config": {"camera_label": "Huu Nghi lane 1", "agent_label": "gate-pc"},
    "country": "vn", "best_plate_number": "29C12345", "best_confidence": 93.75,
    "best_uuid": "Ld0GrXMwrx2LVVOQ5NAq-1738411392-1795395541963",
    "best_plate": {"plate": "29C12345", "confidence": 93.75, "matches_template": 0,
                   "plate_index": 0, "region": "vn", "region_confidence": 0},
    "candidates": [{"plate": "29C12345", "confidence": 93.75, "matches_template": 0},
                   {"plate": "29C12346", "confidence": 71.2, "matches_template": 0}],
    "travel_direction": 181.2, "is_parked": False, "is_preview": False,
    "vehicle": {"color": [{"name": "white", "confidence": 90.1}]},
}

ALPR_RESULTS = {
    "version": 2, "data_type": "alpr_results", "epoch_time": SEEN_MS, "img_width": 1280,
    "img_height": 720, "processing_time_ms": 54.2,
    "uuid": "Ld0GrXMwrx2LVVOQ5NAq-1738411392-1795395541963", "camera_id": 1738411392,
    "agent_uid": "Ld0GrXMwrx2LVVOQ5NAq", "agent_type": "alprd", "site_id": "huu-nghi",
    "regions_of_interest": [],
    "results": [{"plate": "29C12345", "confidence": 94.2, "matches_template": 0,
                 "plate_index": 0, "region": "vn", "region_confidence": 0,
                 "processing_time_ms": 12.1, "requested_topn": 10,
                 "coordinates": [{"x": 306, "y": 351}, {"x": 405, "y": 350},
                                 {"x": 405, "y": 381}, {"x": 306, "y": 382}],
                 "candidates": [{"plate": "29C12345", "confidence": 94.2,
                                 "matches_template": 0},
                                {"plate": "29C1234S", "confidence": 80.0,
                                 "matches_template": 0}]}],
}


def _post(client: TestClient, key: str, body: Any = None, **kwargs: Any) -> Any:
    return client.post("/api/v1/plate-reads", headers={"X-API-Key": key},
                       json=body, **kwargs)


def _field(r: Any) -> list[str]:
    assert r.status_code == 422, r.text
    return [f["field"] for f in r.json()["error"]["fields"]]


def test_plate_recognizer_json_moves_the_called_truck(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    key = _camera(client, auth)
    ref = _called(client, auth)
    clock.set(LATER)
    r = _post(client, key, plate_recognizer(pr_result("29c12345", 0.953)))
    assert r.status_code == 201, r.text
    read = r.json()
    assert (read["status"], read["trip"], read["camera"]) == ("matched", ref, "huu-nghi-in-1")
    assert read["confidence"] == pytest.approx(0.953)
    assert read["read_at"].startswith(SEEN.isoformat()[:19])
    assert read["candidates"] == [{"plate": "29C12346", "confidence": 0.41}]
    assert read["events"] == [f"area.entered {GATE_AREA}"]
    assert read["others"] == []


def test_plate_recognizer_with_the_picture_shows_it_in_the_review_queue(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    key = _camera(client, auth)
    clock.set(LATER)
    message = plate_recognizer(pr_result("51d99999", 0.88), pr_result("29c77777", 0.4))
    r = client.post("/api/v1/plate-reads", headers={"X-API-Key": key},
                    data={"json": json.dumps(message)},
                    files={"upload": ("lane1.jpg", JPEG, "image/jpeg")})
    assert r.status_code == 201, r.text
    read = r.json()
    assert read["status"] == "review"
    assert read["image_ref"].startswith("data:image/jpeg;base64,/9j/")
    assert len(read["others"]) == 1
    queue = client.get("/api/v1/plate-reads/review", headers=auth("regulator")).json()
    assert [q["plate"] for q in queue] == ["51D99999", "29C77777"]
    assert all(q["image_ref"] == read["image_ref"] for q in queue)
    client.cookies.clear()
    _login(client, "regulator")
    page = client.get("/console/plate-reads", params={"lang": "en"}).text
    assert 'src="data:image/jpeg;base64,/9j/' in page


def test_a_frame_without_a_plate_stores_nothing_and_is_answered_ok(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    """Plate Recognizer sends a webhook for every image and drops a hook that keeps failing."""
    key = _camera(client, auth)
    clock.set(LATER)
    r = _post(client, key, plate_recognizer())
    assert (r.status_code, r.json()) == (200, {"stored": 0})
    vehicle_only = _post(client, key, plate_recognizer({"plate": None, "vehicle": {}}))
    assert vehicle_only.status_code == 200, vehicle_only.text
    assert client.get("/api/v1/plate-reads/review", headers=auth("regulator")).json() == []


def test_openalpr_group_in_percent(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    key = _camera(client, auth)
    ref = _called(client, auth)
    clock.set(LATER)
    read = _post(client, key, ALPR_GROUP).json()
    assert (read["status"], read["trip"]) == ("matched", ref)
    assert read["confidence"] == pytest.approx(0.9375)
    assert read["candidates"] == [{"plate": "29C12346", "confidence": pytest.approx(0.712)}]
    assert read["image_ref"] == ALPR_GROUP["best_uuid"]
    assert read["read_at"].startswith(SEEN.isoformat()[:19])


def test_openalpr_results_in_percent(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    key = _camera(client, auth)
    ref = _called(client, auth)
    clock.set(LATER)
    read = _post(client, key, ALPR_RESULTS).json()
    assert (read["status"], read["trip"]) == ("matched", ref)
    assert read["confidence"] == pytest.approx(0.942)
    assert read["candidates"] == [{"plate": "29C1234S", "confidence": pytest.approx(0.8)}]


def test_the_url_may_name_the_format(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    key = _camera(client, auth)
    clock.set(LATER)
    r = client.post("/api/v1/plate-reads?format=openalpr_results",
                    headers={"X-API-Key": key}, json={**ALPR_RESULTS, "data_type": None})
    assert r.status_code == 201, r.text
    wrong = client.post("/api/v1/plate-reads?format=hikvision", headers={"X-API-Key": key},
                        json=ALPR_RESULTS)
    assert _field(wrong) == ["format"]
    assert "platerecognizer" in wrong.json()["error"]["fields"][0]["reason"]
    own = client.post("/api/v1/plate-reads?format=borderflow", headers={"X-API-Key": key},
                      json=ALPR_RESULTS)
    assert set(_field(own)) >= {"camera", "plate", "confidence", "time"}


@pytest.mark.parametrize(("body", "field"), [
    (plate_recognizer(pr_result("29c12345", 1.7)), "data.results[0].score"),
    (plate_recognizer(pr_result("29c12345", 0.9), timestamp="yesterday"), "data.timestamp"),
    (plate_recognizer(pr_result("", 0.9)), "data.results[0].plate"),
    (plate_recognizer("29c12345"), "data.results[0]"),  # type: ignore[arg-type]
    ({"data": {"results": {"plate": "x"}}}, "data.results"),
    ({**ALPR_GROUP, "best_confidence": "high"}, "best_confidence"),
    ({**ALPR_GROUP, "best_confidence": 120}, "best_confidence"),
    ({**ALPR_GROUP, "best_plate_number": None}, "best_plate_number"),
    ({**ALPR_GROUP, "epoch_start": None}, "epoch_start"),
    ({**ALPR_GROUP, "candidates": [{"plate": "29C1", "confidence": -3}]},
     "candidates[0].confidence"),
    ({**ALPR_RESULTS, "results": [{"plate": "29C12345"}]}, "results[0].confidence"),
    ({**ALPR_RESULTS, "epoch_time": [1]}, "epoch_time"),
])
def test_a_bad_vendor_message_names_the_field(
    client: TestClient, auth: Any, clock: FixedClock, body: dict[str, Any], field: str
) -> None:
    key = _camera(client, auth)
    clock.set(LATER)
    r = _post(client, key, body)
    assert _field(r) == [field]
    assert r.json()["error"]["code"] == "validation_failed"


def test_bad_bodies_and_forms_are_refused_with_the_field_never_a_500(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    key = _camera(client, auth)
    clock.set(LATER)
    headers = {"X-API-Key": key}
    assert _field(client.post("/api/v1/plate-reads", headers={
        **headers, "Content-Type": "application/json"}, content=b"[1, 2]")) == ["body"]
    no_json = client.post("/api/v1/plate-reads", headers=headers, data={"x": "1"},
                          files={"upload": ("a.jpg", JPEG, "image/jpeg")})
    assert _field(no_json) == ["json"]
    broken = client.post("/api/v1/plate-reads", headers=headers, data={"json": "{nope"},
                         files={"upload": ("a.jpg", JPEG, "image/jpeg")})
    assert _field(broken) == ["json"]
    not_image = client.post("/api/v1/plate-reads", headers=headers,
                            data={"json": json.dumps(plate_recognizer(
                                pr_result("29c12345", 0.9)))},
                            files={"upload": ("a.jpg", b"MZ\x90\x00", "image/jpeg")})
    assert _field(not_image) == ["upload"]


def test_a_vendor_message_needs_the_camera_key(client: TestClient) -> None:
    r = client.post("/api/v1/plate-reads", json=ALPR_GROUP)
    assert r.status_code == 401


# --- the adapters alone ------------------------------------------------------------------------


def test_detection_by_shape() -> None:
    assert vendors.choose(plate_recognizer()).name == "platerecognizer"  # type: ignore[union-attr]
    assert vendors.choose(ALPR_GROUP).name == "openalpr_group"  # type: ignore[union-attr]
    assert vendors.choose(ALPR_RESULTS).name == "openalpr_results"  # type: ignore[union-attr]
    assert vendors.choose({"camera": "c", "plate": "p"}) is None


@given(percent=st.floats(min_value=0, max_value=100))
def test_percentages_become_the_zero_to_one_scale(percent: float) -> None:
    [read] = vendors.OpenAlprGroup().reads(vendors.Message(
        {**ALPR_GROUP, "best_confidence": percent}))
    assert 0 <= read.confidence <= 1
    assert read.confidence == pytest.approx(percent / 100)


@given(body=st.dictionaries(st.sampled_from(["data", "results", "data_type", "epoch_time",
                                             "best_plate_number", "best_confidence",
                                             "epoch_start", "candidates"]),
                            st.recursive(st.none() | st.booleans() | st.integers() |
                                         st.floats() | st.text(max_size=5),
                                         lambda inner: st.lists(inner, max_size=3) |
                                         st.dictionaries(st.text(max_size=8), inner,
                                                         max_size=3),
                                         max_leaves=8)))
def test_any_message_gives_reads_or_a_field_error(body: dict[str, Any]) -> None:
    for kind in vendors.BUILT_IN:
        problems: list[str] = []
        try:
            reads = kind.reads(vendors.Message(body))
        except ValidationFailed as exc:
            problems = [f.field for f in exc.fields]
            reads = []
            assert problems
            assert all(problems)
        assert all(0 <= r.confidence <= 1 for r in reads)


class _Sighting:
    """A made-up vendor: ``{"sighting": {"reg", "pct", "at"}}``."""

    name = "sighting"

    def detect(self, body: Mapping[str, Any]) -> bool:
        return "sighting" in body

    def reads(self, message: vendors.Message) -> list[vendors.VendorRead]:
        s = message.body["sighting"]
        return [vendors.VendorRead(plate=s["reg"], confidence=s["pct"] / 100,
                                   read_at=parse_time(s["at"]))]


class _EntryPoint:
    def __init__(self, name: str, target: Any) -> None:
        self.name, self._target = name, target

    def load(self) -> Any:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def test_a_plug_in_format_through_the_entry_point_group(
    client: TestClient, auth: Any, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def found(group: str) -> list[_EntryPoint]:
        assert group == vendors.ENTRY_POINT_GROUP
        return [_EntryPoint("sighting", _Sighting), _EntryPoint("broken", ImportError("x")),
                _EntryPoint("clash", vendors.PlateRecognizer())]

    monkeypatch.setattr(vendors, "entry_points", found)
    vendors.formats.cache_clear()
    try:
        assert vendors.names() == ["borderflow", "platerecognizer", "openalpr_group",
                                   "openalpr_results", "sighting"]
        key = _camera(client, auth)
        ref = _called(client, auth)
        clock.set(LATER)
        read = _post(client, key, {"sighting": {"reg": "29C-123.45", "pct": 97,
                                                "at": SEEN.isoformat()}}).json()
        assert (read["status"], read["trip"]) == ("matched", ref)
    finally:
        vendors.formats.cache_clear()


def test_a_vendor_read_refused_later_names_the_vendors_field(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    key = _camera(client, auth)
    clock.set(LATER)
    future = plate_recognizer(pr_result("29c12345", 0.9),
                              timestamp=(LATER + timedelta(hours=1)).isoformat())
    assert _field(_post(client, key, future)) == ["data.timestamp"]
    unreadable = plate_recognizer(pr_result("29c12345", 0.9), pr_result("---", 0.9))
    assert _field(_post(client, key, unreadable)) == ["data.results[1].plate"]
    blank = _post(client, key, {**ALPR_GROUP, "best_plate_number": "-.-"})
    assert _field(blank) == ["best_plate_number"]
    late = _post(client, key, {**ALPR_RESULTS,
                               "epoch_time": int((LATER + timedelta(hours=1)).timestamp())})
    assert _field(late) == ["epoch_time"]


def test_borderflow_s_own_read_with_its_picture_as_a_form(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    key = _camera(client, auth)
    clock.set(LATER)
    own = {"camera": "huu-nghi-in-1", "plate": "29C-777.77", "confidence": 0.5,
           "time": SEEN.isoformat(), "image_ref": "https://cams.example/1.jpg"}
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    r = client.post("/api/v1/plate-reads", headers={"X-API-Key": key},
                    data={"json": json.dumps(own)},
                    files={"upload": ("lane1.png", png, "image/png")})
    assert r.status_code == 201, r.text
    assert r.json()["image_ref"].startswith("data:image/png;base64,")
    plain = client.post("/api/v1/plate-reads", headers={"X-API-Key": key},
                        data={"json": json.dumps(own)})
    assert plain.status_code == 201, plain.text
    assert plain.json()["image_ref"] == "https://cams.example/1.jpg"
    assert plain.json()["others"] == []


JSON = st.recursive(st.none() | st.booleans() | st.integers() |
                    st.floats(allow_nan=False, allow_infinity=False) |
                    st.text(max_size=12), lambda inner: st.lists(inner, max_size=4) |
                    st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
SHAPES = st.one_of(
    st.builds(lambda d: {**ALPR_GROUP, **d}, st.dictionaries(st.sampled_from(list(ALPR_GROUP)),
                                                             JSON, max_size=3)),
    st.builds(lambda d: {**ALPR_RESULTS, **d}, st.dictionaries(
        st.sampled_from(list(ALPR_RESULTS)), JSON, max_size=3)),
    st.builds(lambda r: plate_recognizer(r), st.dictionaries(
        st.sampled_from(["plate", "score", "candidates", "region"]), JSON, max_size=4)),
    JSON,
)


def test_whatever_a_camera_posts_is_answered_never_a_500(
    client: TestClient, auth: Any
) -> None:
    key = _camera(client, auth)

    @settings(max_examples=60, deadline=None)
    @given(body=SHAPES)
    def post(body: Any) -> None:
        r = client.post("/api/v1/plate-reads", headers={"X-API-Key": key}, json=body)
        assert r.status_code in (200, 201, 422), r.text
        if r.status_code == 422:
            assert all(f["field"] for f in r.json()["error"]["fields"])

    post()
