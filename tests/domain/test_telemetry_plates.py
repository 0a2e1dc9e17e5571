"""Plate reads: normalisation, camera confusions by position, matching to expected trips
(borderflow.domain.telemetry_plates, pure)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from borderflow.domain import telemetry_plates as plates
from borderflow.domain.telemetry_plates import (
    CHECKPOINTS,
    Reading,
    decide,
    display,
    normalise,
    variants,
)

GATE_IN = CHECKPOINTS["gate_in"]
GATE_OUT = CHECKPOINTS["gate_out"]


# --- normalising and reading plates -------------------------------------------------------------


@pytest.mark.parametrize(("text", "key"), [
    ("29C-123.45", "29C12345"),
    ("29c 123 45", "29C12345"),
    ("２９Ｃ－１２３．４５", "29C12345"),  # full-width characters from some software
    ("29LD-123.45", "29LD12345"),
    ("桂A·12345", "桂A12345"),
])
def test_keys_are_those_trips_store(text: str, key: str) -> None:
    assert normalise(text) == key


@pytest.mark.parametrize(("read", "meant"), [
    ("29C-I23.45", "29C12345"),  # I where a digit must be
    ("2OC-123.45", "20C12345"),  # O in the province code
    ("29C-123.4S", "29C12345"),
    ("Z9C-123.45", "29C12345"),
    ("298-123.45", "29B12345"),  # 8 where the series letter must be
    ("290-123.45", "29D12345"),  # 0 read for the series letter D
    ("29C-1B3.45", "29C18345"),
    ("29LO-123.45", "29LD12345"),  # O and D confused inside the series
    ("29C1-234.5S", "29C123455"),  # a series with a digit, 5 digits after it
])
def test_one_confusion_is_resolved_by_position(read: str, meant: str) -> None:
    assert variants(read)[meant] == 1


def test_the_key_as_read_always_stands_for_itself() -> None:
    assert variants("29C-123.45")["29C12345"] == 0
    assert variants("ABC") == {"ABC": 0}  # no plate shape: only itself


def test_no_variant_has_an_impossible_province() -> None:
    assert all(not k[:2].isdigit() or 11 <= int(k[:2]) <= 99
               for k in variants("O1C-123.45"))
    assert "01C12345" not in variants("O1C-123.45")


def test_confusions_count_each_changed_character() -> None:
    assert variants("S1C-0O1.23")["51C00123"] == 2


@pytest.mark.parametrize("text", ["桂A·12345", "桂A·I2345", "粤B·D1234挂"])
def test_chinese_plates_are_compared_as_read(text: str) -> None:
    assert variants(text) == {normalise(text): 0}


@pytest.mark.parametrize(("key", "shown"), [
    ("29C12345", "29C-123.45"),
    ("12H01234", "12H-012.34"),
    ("29C112345", "29C1-123.45"),
    ("29LD12345", "29LD-123.45"),
    ("桂A12345", "桂A·12345"),
    ("GARBAGE", "GARBAGE"),
])
def test_display(key: str, shown: str) -> None:
    assert display(key) == shown


# --- deciding -----------------------------------------------------------------------------------


def test_an_exact_confident_read_matches() -> None:
    d = decide([Reading("29C-123.45", 0.97)], [("a", "29C12345"), ("b", "29C12346")], 0.9)
    assert d.trip == "a"
    assert d.reason == ""


def test_one_confusion_away_still_matches() -> None:
    assert decide([Reading("29C-I23.45", 0.95)], [("a", "29C12345")], 0.9).trip == "a"


def test_low_confidence_goes_to_review() -> None:
    d = decide([Reading("29C-123.45", 0.6)], [("a", "29C12345")], 0.9)
    assert d.trip is None
    assert "below 0.90" in d.reason
    assert [m.trip for m in d.matches] == ["a"]


def test_no_expected_trip_goes_to_review() -> None:
    d = decide([Reading("51D-999.99", 0.99)], [("a", "29C12345")], 0.9)
    assert d.trip is None
    assert d.matches == ()
    assert d.reason == "no expected trip has this plate"


def test_two_expected_trips_equally_close_go_to_review() -> None:
    d = decide([Reading("29C-123.45", 0.99)], [("a", "29C12345"), ("b", "29C12345")], 0.9)
    assert d.trip is None
    assert "2 expected trips" in d.reason


def test_an_exact_match_wins_over_a_confusion() -> None:
    d = decide([Reading("29C-123.45", 0.99)], [("a", "29C12345"), ("b", "29CI2345")], 0.9)
    assert d.trip == "a"


def test_two_confusions_away_goes_to_review() -> None:
    d = decide([Reading("29C-I2B.45", 0.99)], [("a", "29C12845")], 0.9)
    assert d.trip is None
    assert "2 characters away" in d.reason


def test_a_confident_candidate_can_match() -> None:
    readings = [Reading("29C-123.4", 0.95), Reading("29C-123.45", 0.93)]
    d = decide(readings, [("a", "29C12345")], 0.9)
    assert d.trip == "a"
    assert d.matches[0].read_as == "29C-123.45"


def test_an_unsure_candidate_does_not() -> None:
    readings = [Reading("29C-123.4", 0.95), Reading("29C-123.45", 0.4)]
    assert decide(readings, [("a", "29C12345")], 0.9).trip is None


# --- checkpoints --------------------------------------------------------------------------------


def _state(status: str, location: str | None, kinds: tuple[str, ...] = (
        "declaration", "transport", "vehicle_control", "crossing"), **extra: Any
           ) -> dict[str, Any]:
    return {"gate": "huu-nghi", "flow": "export", "status": status, "location": location,
            "procedure": {"steps": [{"kind": k} for k in kinds]}, **extra}


@pytest.mark.parametrize(("status", "location", "kinds", "expected"), [
    ("called", "staging:park", ("transport", "vehicle_control"), True),
    ("at_staging", "staging:park", ("transport", "vehicle_control"), False),
    ("declared", None, ("transport", "vehicle_control"), False),  # must go to staging first
    ("declared", None, ("vehicle_control",), True),  # gates without a staging area
    ("declared", None, ("crossing",), False),  # imports enter by the crossing step
    ("in_gate_area", "gate_area:huu-nghi", ("transport", "vehicle_control"), False),
])
def test_who_is_expected_entering(status: str, location: str | None, kinds: tuple[str, ...],
                                  expected: bool) -> None:
    assert plates.is_expected(_state(status, location, kinds), GATE_IN, "huu-nghi") is expected


def test_entering_elsewhere_or_another_flow_is_not_expected() -> None:
    state = _state("called", None)
    assert not plates.is_expected(state, GATE_IN, "chi-ma")
    assert not plates.is_expected(state, GATE_IN, "huu-nghi", flow="import")
    assert plates.is_expected(state, GATE_IN, "huu-nghi", flow="export")


@pytest.mark.parametrize(("location", "expected"), [
    ("gate_area:huu-nghi", True), ("yard:huu-nghi-export", True), ("staging:park", False),
    (None, False), ("partner", False),
])
def test_who_is_expected_leaving(location: str | None, expected: bool) -> None:
    state = _state("in_gate_area", location)
    assert plates.is_expected(state, GATE_OUT, "huu-nghi") is expected


def test_events_for_each_checkpoint() -> None:
    assert plates.events_for(_state("called", None), GATE_IN, "huu-nghi") == [
        ("area.entered", "gate_area:huu-nghi")]
    assert plates.events_for(_state("in_gate_area", "gate_area:huu-nghi"), GATE_OUT,
                             "huu-nghi") == [("area.left", "gate_area:huu-nghi")]
    assert plates.events_for(_state("in_gate_area", "yard:huu-nghi-export"), GATE_OUT,
                             "huu-nghi") == [("area.left", "yard:huu-nghi-export"),
                                             ("area.left", "gate_area:huu-nghi")]


def test_a_read_going_the_other_way_is_refused() -> None:
    assert plates.sense_conflict(GATE_IN, None) is None
    assert plates.sense_conflict(GATE_IN, "in") is None
    assert plates.sense_conflict(GATE_IN, "out") is not None


# --- property: one confusion finds its own trip and never a different one ---------------------

SERIES_LETTERS = "ABCDEFGHKLMNPSTUVXYZ"  # letters Vietnamese series use


@st.composite
def vn_keys(draw: st.DrawFn) -> str:
    province = draw(st.integers(11, 99))
    series = draw(st.text(SERIES_LETTERS, min_size=1, max_size=2))
    number = draw(st.text("0123456789", min_size=4, max_size=5))
    return f"{province:02d}{series}{number}"


def _group(ch: str) -> str:
    return next((g for g in plates.CONFUSIONS if ch in g), ch)


@given(own=vn_keys(), data=st.data())
def test_a_plate_with_one_confusion_matches_its_own_trip_only(own: str, data: Any) -> None:
    confusable = [i for i, ch in enumerate(own) if len(_group(ch)) > 1]
    if not confusable:
        return
    i = data.draw(st.sampled_from(confusable), label="confused position")
    wrong = data.draw(st.sampled_from([c for c in _group(own[i]) if c != own[i]]),
                      label="read instead")
    read = own[:i] + wrong + own[i + 1:]
    j = data.draw(st.integers(0, len(own) - 1), label="other trip differs at")
    alphabet = "0123456789" if own[j].isdigit() else SERIES_LETTERS
    other_char = data.draw(st.sampled_from([c for c in alphabet if c not in _group(own[j])]),
                           label="other trip has")
    other = own[:j] + other_char + own[j + 1:]

    decision = decide([Reading(read, 0.95)], [("own", own), ("other", other)], 0.9)

    assert decision.trip == "own"
    assert "other" not in [m.trip for m in decision.matches]


# --- purity -------------------------------------------------------------------------------------


def test_the_matcher_does_no_io() -> None:
    source = Path(plates.__file__).read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    allowed_stdlib = {"__future__", "itertools", "re", "collections.abc", "dataclasses",
                      "typing"}
    assert imported - allowed_stdlib <= {"borderflow.domain.trip", "borderflow.domain.values"}
