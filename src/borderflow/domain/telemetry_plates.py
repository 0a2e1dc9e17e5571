"""Camera plate reads (ANPR): what a camera read, the plates it can stand for, and which of
the trips expected at a checkpoint it is. Pure: no clock, no database.

Cameras confuse a few characters: ``0``/``O``/``D``, ``1``/``I``, ``8``/``B``, ``5``/``S`` and
``2``/``Z``. A Vietnamese plate has a fixed shape — a 2-digit province code (11-99), a series of
one or two letters, then 4 to 6 digits (``29C-123.45``, ``29LD-123.45``, ``29C1-234.56``) — so
the position of a character says whether it must be a digit or a letter: ``29C-I23.45`` can
only be ``29C-123.45`` and ``2OC-123.45`` only ``20C-123.45``. :func:`variants` lists every
plate key a read can stand for with the number of characters changed to get there (its
*cost*); :func:`decide` compares a read and the alternative candidates the recognition
software gave with the plate keys of the expected trips. Chinese plates (``桂A·12345``) are
compared as read.

Keys are those of :func:`borderflow.domain.values.plate_key`, the same the trips store:
letters, digits and CJK characters only, upper case (``29C-123.45`` -> ``29C12345``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from borderflow.domain.trip import EventType
from borderflow.domain.values import parse_plate, plate_key

CONFUSIONS: tuple[str, ...] = ("0OD", "1I", "8B", "5S", "2Z")
"""Groups of characters cameras read for one another. Each group holds exactly one digit."""
_GROUP = {ch: group for group in CONFUSIONS for ch in group}

MAX_CONFIDENT_COST = 1
"""A read is matched on its own only if it is the trip's plate exactly or one confusion away."""
REVIEW_MAX_COST = 2
"""Trips further from the read than this are not even offered to the officer reviewing it."""

_PROVINCES = range(11, 100)
_SERIES_LETTERS = (1, 2)
_TAIL_DIGITS = range(4, 7)
_DIGIT_SERIES = re.compile(r"(\d{2}[A-Z]{1,2}\d)(\d{4,5})")

Kind = Literal["digit", "letter"]
Sense = Literal["in", "out"]


# --- checkpoints --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """Where a camera looks: which kind of area, and whether vehicles enter or leave it there.

    The camera's gate names the area (``gate_area:<gate>``). Cameras at the staging park would
    be ``staging_in`` / ``staging_out`` on ``staging:<code>``: one more entry in
    :data:`CHECKPOINTS` and a rule in :func:`is_expected` and :func:`events_for`.
    """

    code: str
    area_kind: Literal["gate_area"]
    sense: Sense
    description: str


CHECKPOINTS: dict[str, Checkpoint] = {
    c.code: c
    for c in (
        Checkpoint("gate_in", "gate_area", "in", "vehicles entering the gate area"),
        Checkpoint("gate_out", "gate_area", "out", "vehicles leaving the gate area inland"),
    )
}
CheckpointCode = Literal["gate_in", "gate_out"]


def sense_conflict(checkpoint: Checkpoint, direction: str | None) -> str | None:
    """Why a read whose vehicle moved ``direction`` cannot be taken at this checkpoint."""
    if direction is None or direction == checkpoint.sense:
        return None
    return (f"the camera reported a vehicle going {direction} at a {checkpoint.code} "
            "checkpoint")


def is_expected(state: Mapping[str, Any], checkpoint: Checkpoint, gate: str,
                flow: str | None = None) -> bool:
    """Whether a camera at ``checkpoint`` of ``gate`` (watching lanes of ``flow``, or all) can
    expect this trip now.

    Entering a gate area: the gate's export trips (those admitted by vehicle control) that have
    been called forward, or, at gates without a staging area, that are declared. Leaving it:
    trips in the gate area or one of its yards.
    """
    if state["gate"] != gate or (flow is not None and state["flow"] != flow):
        return False
    kinds = {s["kind"] for s in state["procedure"]["steps"]}
    location = state["location"]
    if checkpoint.sense == "in":
        if "vehicle_control" not in kinds:
            return False  # imports enter the gate area by the crossing step
        if state["status"] == "called":
            return True
        return state["status"] == "declared" and "transport" not in kinds
    return location == f"gate_area:{gate}" or (
        isinstance(location, str) and location.startswith("yard:"))


def events_for(state: Mapping[str, Any], checkpoint: Checkpoint, gate: str
               ) -> list[tuple[EventType, str]]:
    """The movements a read at ``checkpoint`` records on the trip, in order: entering the gate
    area; or leaving the yard it is in (if any), then the gate area."""
    area = f"gate_area:{gate}"
    if checkpoint.sense == "in":
        return [("area.entered", area)]
    location = state["location"]
    out: list[tuple[EventType, str]] = []
    if isinstance(location, str) and location.startswith("yard:"):
        out.append(("area.left", location))
    out.append(("area.left", area))
    return out


# --- plate keys ---------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """The plate key of what a camera read (``29c 123.45`` -> ``29C12345``)."""
    return plate_key(text)


def _fits(ch: str, kind: Kind) -> bool:
    return ch.isascii() and (ch.isdigit() if kind == "digit" else ch.isalpha())


def _options(ch: str, kind: Kind) -> list[tuple[str, int]]:
    """What ``ch`` can stand for where a ``kind`` is expected, with what it costs."""
    out = [(ch, 0)] if _fits(ch, kind) else []
    out += [(alt, 1) for alt in _GROUP.get(ch, "") if alt != ch and _fits(alt, kind)]
    return out


def variants(text: str) -> dict[str, int]:
    """Every plate key ``text`` can stand for, with the fewest characters changed to get it.

    The key as read always stands for itself (cost 0). A Latin key that has the length of a
    Vietnamese plate also stands for each way of reading it as one: in every layout (one or
    two series letters, 4 to 6 digits after them), each character either fits its position or
    is replaced by a character of its confusion group that does.
    """
    key = normalise(text)
    out: dict[str, int] = {key: 0} if key else {}
    if not key.isascii():
        return out  # a Chinese plate: compared as read
    for letters in _SERIES_LETTERS:
        tail = len(key) - 2 - letters
        if tail not in _TAIL_DIGITS:
            continue
        digit: list[Kind] = ["digit"]
        letter: list[Kind] = ["letter"]
        kinds = digit * 2 + letter * letters + digit * tail
        choices = [_options(ch, kind) for ch, kind in zip(key, kinds, strict=True)]
        if not all(choices):
            continue
        for combo in itertools.product(*choices):
            candidate = "".join(ch for ch, _ in combo)
            if int(candidate[:2]) not in _PROVINCES:
                continue
            cost = sum(c for _, c in combo)
            if cost < out.get(candidate, cost + 1):
                out[candidate] = cost
    return out


def display(key: str) -> str:
    """The plate in its usual written form (``29C12345`` -> ``29C-123.45``), or the key."""
    series = _DIGIT_SERIES.fullmatch(key)
    spellings = [key] + ([f"{series[1]}-{series[2]}"] if series else [])
    for text in spellings:
        try:
            return parse_plate(text).text
        except ValueError:
            continue
    return key


# --- matching -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """One way the recognition software read the plate, and how sure it was (0 to 1)."""

    text: str
    confidence: float


@dataclass(frozen=True)
class Match:
    """A trip the read can be: ``cost`` characters away from its plate key, through the
    reading ``read_as`` of the given confidence."""

    trip: str
    key: str
    cost: int
    confidence: float
    read_as: str


def keys_of(readings: Iterable[Reading]) -> set[str]:
    """Every plate key any of the readings can stand for (to look trips up by)."""
    return {k for r in readings for k in variants(r.text)}


def match(readings: Sequence[Reading], trips: Iterable[tuple[str, str]],
          max_cost: int = REVIEW_MAX_COST) -> list[Match]:
    """The trips (id, plate key) the readings can be, best first: fewest characters changed,
    then the most confident reading."""
    read = [(r, variants(r.text)) for r in readings]
    out: list[Match] = []
    for trip, key in trips:
        best: Match | None = None
        for r, keys in read:
            cost = keys.get(key)
            if cost is None or cost > max_cost:
                continue
            if best is None or (cost, -r.confidence) < (best.cost, -best.confidence):
                best = Match(trip, key, cost, r.confidence, r.text)
        if best is not None:
            out.append(best)
    return sorted(out, key=lambda m: (m.cost, -m.confidence, m.trip))


@dataclass(frozen=True)
class Decision:
    """``trip`` when the read is confidently that expected trip; otherwise ``reason`` says why
    an officer has to look, and ``matches`` lists what it could be."""

    trip: str | None
    reason: str
    matches: tuple[Match, ...]


def decide(readings: Sequence[Reading], expected: Iterable[tuple[str, str]],
           min_confidence: float) -> Decision:
    """Match a read against the trips expected at the checkpoint.

    Confident when exactly one expected trip is closest, it is the plate as read or one
    confusion away, and the reading that gives it is at least ``min_confidence`` sure.
    """
    found = tuple(match(readings, expected))
    if not found:
        return Decision(None, "no expected trip has this plate", found)
    best = found[0]
    tied = [m for m in found if m.cost == best.cost]
    if len(tied) > 1:
        return Decision(None, f"{len(tied)} expected trips match equally well", found)
    if best.cost > MAX_CONFIDENT_COST:
        return Decision(None, f"the closest expected trip is {best.cost} characters away",
                        found)
    if best.confidence < min_confidence:
        return Decision(None, f"confidence {best.confidence:.2f} is below "
                              f"{min_confidence:.2f}", found)
    return Decision(best.trip, "", found)
