"""Plate-read formats of camera vendors, turned into Borderflow's reads.

Recognition software posts reads in its own shape; each shape has an adapter here that takes
the posted message (a JSON object, and the image when it came as a multipart form) and gives
the reads it holds, with confidence on Borderflow's 0..1 scale. Built in:

===================  ==============================================================  =========
format               recognised by                                                   confidence
===================  ==============================================================  =========
``platerecognizer``  ``data.results`` (Plate Recognizer Snapshot and Stream webhooks) 0..1
``openalpr_group``   ``data_type: alpr_group`` (OpenALPR / Rekor Scout)              percent
``openalpr_results`` ``data_type: alpr_results`` (OpenALPR / Rekor agent)            percent
===================  ==============================================================  =========

Anything else is Borderflow's own read shape. A camera's webhook URL may name its format
(``?format=platerecognizer``) instead of leaving it to the shape of the body.

Other vendors plug in through the entry point group ``borderflow.camera_formats``: each
entry point names an object (or a class taking no arguments) with a ``name``, a ``detect``
and a ``reads`` as :class:`CameraFormat` describes. Built-in names win over a plug-in's.

Pure: no clock, database or network; a bad message raises
:class:`~borderflow.errors.ValidationFailed` naming the field and the reason.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from borderflow.domain import telemetry_plates as plates
from borderflow.errors import FieldError, ValidationFailed, msg
from borderflow.telemetry.decoders import parse_time

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "borderflow.camera_formats"
OWN = "borderflow"
"""Borderflow's own read shape (``camera``, ``plate``, ``confidence``, ``time``...)."""
MAX_CANDIDATES = 20
IMAGE_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png",
               b"RIFF": "image/webp"}
"""What an image file begins with, and its type: only these are kept as a read's image."""


@dataclass(frozen=True)
class Image:
    """A picture sent with the read (a multipart form's file)."""

    content_type: str
    data: bytes

    def data_url(self) -> str:
        """The picture as the review queue shows it, kept in the read's ``image_ref``."""
        return f"data:{self.content_type};base64,{base64.b64encode(self.data).decode()}"


@dataclass(frozen=True)
class Message:
    """What the camera posted: the JSON object, and the image if one came with it."""

    body: Mapping[str, Any]
    image: Image | None = None


@dataclass(frozen=True)
class VendorRead:
    """One plate of a vendor's message, in Borderflow's terms."""

    plate: str
    confidence: float
    read_at: datetime
    candidates: tuple[plates.Reading, ...] = ()
    image_ref: str | None = None
    direction: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    """Where the message holds what Borderflow calls ``plate``, ``time``, ``candidates``:
    an error found later (a plate without a letter or digit, a time in the future) names
    the vendor's field."""

    def renamed(self, error: ValidationFailed) -> ValidationFailed:
        """The error with the vendor's field names."""
        def name(own: str) -> str:
            head, dot, rest = own.partition("[")
            return self.fields[head] + dot + rest if head in self.fields else own

        return ValidationFailed([FieldError(name(f.field), f.reason) for f in error.fields])


@runtime_checkable
class CameraFormat(Protocol):
    """A vendor's read format."""

    name: str

    def detect(self, body: Mapping[str, Any]) -> bool:
        """Whether a JSON body is in this format."""

    def reads(self, message: Message) -> list[VendorRead]:
        """The reads the message holds (none when the camera saw no plate); raises
        :class:`ValidationFailed` for a bad field."""


# --- helpers -----------------------------------------------------------------------------------


def bad(field: str, reason: str, **params: Any) -> ValidationFailed:
    """The error for one bad field of a vendor's message."""
    return ValidationFailed([FieldError(field, msg(reason, **params))])


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise bad(field, "must be a JSON object")
    return value


def _list(value: Any, field: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise bad(field, "must be a list")
    return value


def _text(value: Any, field: str) -> str:
    if value is None:
        raise bad(field, "this field is required")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise bad(field, "must be text")
    text = str(value).strip()
    if not text:
        raise bad(field, "is empty")
    if len(text) > 32:
        raise bad(field, "at most {count} characters", count=32)
    return text


def _score(value: Any, field: str, *, percent: bool) -> float:
    """A confidence as sent (0..1, or 0..100 with ``percent``) on the 0..1 scale."""
    if value is None:
        raise bad(field, "this field is required")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(field, "must be a number")
    top = 100 if percent else 1
    if not 0 <= value <= top:
        raise bad(field, "must be between 0 and {top}", top=top)
    return float(value) / top


def _time(value: Any, field: str) -> datetime:
    """Unix seconds or milliseconds, or ISO 8601 (no timezone: UTC)."""
    if value is None:
        raise bad(field, "this field is required")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise bad(field, "must be a time (ISO 8601 or Unix time)")
    try:
        return parse_time(value)
    except ValueError as exc:
        raise bad(field, "{problem}", problem=str(exc)) from None


def _candidates(items: Any, field: str, plate: str, *, percent: bool,
                score_key: str) -> tuple[plates.Reading, ...]:
    """Other readings of the plate; the plate itself (vendors list it first) is left out.
    A candidate without a score counts as unsure (0)."""
    if items is None:
        return ()
    out: list[plates.Reading] = []
    for i, item in enumerate(_list(items, field)):
        where = f"{field}[{i}]"
        entry = _object(item, where)
        text = _text(entry.get("plate"), f"{where}.plate")
        if plates.normalise(text) == plates.normalise(plate):
            continue
        score = entry.get(score_key)
        confidence = 0.0 if score is None else _score(score, f"{where}.{score_key}",
                                                      percent=percent)
        out.append(plates.Reading(text, confidence))
    return tuple(out[:MAX_CANDIDATES])


# --- Plate Recognizer ------------------------------------------------------------------------


class PlateRecognizer:
    """Plate Recognizer's webhook (Snapshot and Stream): ``{"hook": {...}, "data":
    {"camera_id", "timestamp", "results": [{"plate", "score", "dscore", "region",
    "candidates": [{"plate", "score"}]}]}}``, as JSON or as a multipart form whose ``json``
    field holds it and whose ``upload`` file is the picture. ``score`` (0..1) is the read's
    confidence (``dscore`` is how sure the plate was *found*, not read); a result without a
    plate (a vehicle only) is left out; a message without any plate stores nothing."""

    name = "platerecognizer"

    def detect(self, body: Mapping[str, Any]) -> bool:
        data = body.get("data")
        return isinstance(data, Mapping) and "results" in data

    def reads(self, message: Message) -> list[VendorRead]:
        data = _object(message.body.get("data"), "data")
        results = _list(data.get("results"), "data.results")
        found = [(i, r) for i, r in enumerate(results)
                 if not isinstance(r, Mapping) or r.get("plate") is not None]
        if not found:
            return []
        read_at = _time(data.get("timestamp"), "data.timestamp")
        image = message.image.data_url() if message.image else None
        out = []
        for i, result in found:
            where = f"data.results[{i}]"
            entry = _object(result, where)
            plate = _text(entry.get("plate"), f"{where}.plate").upper()
            out.append(VendorRead(
                plate=plate, confidence=_score(entry.get("score"), f"{where}.score",
                                               percent=False),
                read_at=read_at, image_ref=image,
                fields={"plate": f"{where}.plate", "time": "data.timestamp",
                        "candidates": f"{where}.candidates"},
                candidates=tuple(plates.Reading(c.text.upper(), c.confidence)
                                 for c in _candidates(entry.get("candidates"),
                                                      f"{where}.candidates", plate,
                                                      percent=False, score_key="score"))))
        return out


# --- OpenALPR / Rekor --------------------------------------------------------------------------


class OpenAlprGroup:
    """OpenALPR / Rekor Scout's ``alpr_group``: one vehicle seen over several frames, with
    ``best_plate_number``, ``best_confidence`` (percent), ``epoch_start`` (Unix
    milliseconds), ``candidates`` (percent) and ``best_uuid`` (the picture's id in the
    agent's store)."""

    name = "openalpr_group"

    def detect(self, body: Mapping[str, Any]) -> bool:
        return body.get("data_type") == "alpr_group"

    def reads(self, message: Message) -> list[VendorRead]:
        body = message.body
        plate = _text(body.get("best_plate_number"), "best_plate_number")
        candidates = body.get("candidates")
        where = "candidates"
        if candidates is None and isinstance(body.get("best_plate"), Mapping):
            candidates, where = body["best_plate"].get("candidates"), "best_plate.candidates"
        uuid = body.get("best_uuid")
        return [VendorRead(
            plate=plate, confidence=_score(body.get("best_confidence"), "best_confidence",
                                           percent=True),
            read_at=_time(body.get("epoch_start"), "epoch_start"),
            candidates=_candidates(candidates, where, plate, percent=True,
                                   score_key="confidence"),
            fields={"plate": "best_plate_number", "time": "epoch_start", "candidates": where},
            image_ref=message.image.data_url() if message.image else (
                str(uuid)[:1000] if uuid else None))]


class OpenAlprResults:
    """OpenALPR / Rekor agent's ``alpr_results``: one frame, ``epoch_time`` (Unix
    milliseconds), each of ``results`` a plate with ``confidence`` (percent) and
    ``candidates``; ``uuid`` is the frame's id in the agent's store."""

    name = "openalpr_results"

    def detect(self, body: Mapping[str, Any]) -> bool:
        return body.get("data_type") == "alpr_results"

    def reads(self, message: Message) -> list[VendorRead]:
        body = message.body
        results = _list(body.get("results"), "results")
        if not results:
            return []
        read_at = _time(body.get("epoch_time"), "epoch_time")
        uuid = body.get("uuid")
        image = message.image.data_url() if message.image else (
            str(uuid)[:1000] if uuid else None)
        out = []
        for i, result in enumerate(results):
            where = f"results[{i}]"
            entry = _object(result, where)
            plate = _text(entry.get("plate"), f"{where}.plate")
            out.append(VendorRead(
                plate=plate, confidence=_score(entry.get("confidence"), f"{where}.confidence",
                                               percent=True),
                read_at=read_at, image_ref=image,
                fields={"plate": f"{where}.plate", "time": "epoch_time",
                        "candidates": f"{where}.candidates"},
                candidates=_candidates(entry.get("candidates"), f"{where}.candidates", plate,
                                       percent=True, score_key="confidence")))
        return out


BUILT_IN: tuple[CameraFormat, ...] = (PlateRecognizer(), OpenAlprGroup(), OpenAlprResults())


# --- the registry ------------------------------------------------------------------------------


def _load(loader: Callable[[], Any], name: str) -> CameraFormat | None:
    try:
        found = loader()
        candidate = found() if isinstance(found, type) else found
    except Exception:  # a broken plug-in must not stop the cameras of the built-in formats
        log.exception("camera format plug-in %s could not be loaded", name)
        return None
    if not isinstance(candidate, CameraFormat):
        log.error("camera format plug-in %s has no name, detect and reads", name)
        return None
    return candidate


@cache
def formats() -> tuple[CameraFormat, ...]:
    """The built-in formats, then those of installed plug-ins (entry point group
    :data:`ENTRY_POINT_GROUP`), each name once."""
    out = list(BUILT_IN)
    names = {f.name for f in out} | {OWN}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        found = _load(point.load, point.name)
        if found is None:
            continue
        if found.name in names:
            log.error("camera format plug-in %s: the name %s is taken", point.name, found.name)
            continue
        names.add(found.name)
        out.append(found)
    return tuple(out)


def names() -> list[str]:
    """Every format a camera's URL may name, Borderflow's own first."""
    return [OWN, *(f.name for f in formats())]


def choose(body: Mapping[str, Any], requested: str | None = None) -> CameraFormat | None:
    """The vendor format of a message: the one the camera's URL names (``?format=``), else
    the first whose shape the body has; None for Borderflow's own shape."""
    if requested:
        if requested == OWN:
            return None
        for f in formats():
            if f.name == requested:
                return f
        raise bad("format", "unknown read format '{name}'; formats: {names}", name=requested,
                  names=names())
    for f in formats():
        if f.detect(body):
            return f
    return None


def image_of(data: bytes, field: str = "upload") -> Image:
    """A picture sent with a read, if it is one the review queue can show."""
    for magic, kind in IMAGE_TYPES.items():
        if data.startswith(magic) and (kind != "image/webp" or data[8:12] == b"WEBP"):
            return Image(kind, data)
    raise bad(field, "is not a JPEG, PNG or WebP picture")
