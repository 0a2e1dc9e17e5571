"""Decoders for the GPS protocols phones and fleet systems already speak. Pure: a request's
parameters or body go in, :class:`Fix` values or :class:`Rejection` reasons come out; nothing
here touches the clock (``now`` is passed in), the database or the network.

Speeds are converted at this edge to metres per second, the one unit used inside:

=================  ==========================  ==========
protocol           field                       unit sent
=================  ==========================  ==========
OsmAnd (Traccar)   ``speed``                   knots
Traccar Client 9+  ``location.coords.speed``   m/s
OwnTracks          ``vel``                     km/h
batch (fleet)      ``speed_mps``               m/s
=================  ==========================  ==========

Apps say "unknown" with ``-1``: Traccar Client on iOS sends ``speed: -1`` and ``heading: -1``
when the phone has no course, and a battery level of ``-1`` when it cannot read it. A
negative speed, bearing or battery is therefore read as unknown (stored as null), never as a
reason to drop the position; so is a bearing beyond 360 degrees (360 is 0). A negative
accuracy still rejects the fix: it is how iOS says the coordinates themselves are invalid.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

KNOT = 1852 / 3600
KMH = 1000 / 3600
MAX_SPEED_MPS = 200 * KMH
"""Faster than any truck on a road: a fix reporting more is a GPS glitch."""
MAX_AHEAD = timedelta(minutes=10)
"""A fix stamped further in the future than this is a wrong phone clock, not a position."""
MAX_AGE = timedelta(days=7)
"""Older fixes (a phone's backlog after a week offline) are not used."""


@dataclass(slots=True)
class Fix:
    """One validated GPS position of one device. Treated as immutable; not frozen because a
    frozen dataclass takes four times as long to build, and one is built per position at
    ingestion and again at the processor."""

    device_id: str
    fix_time: datetime
    lat: float
    lon: float
    protocol: str
    speed_mps: float | None = None
    bearing: float | None = None
    altitude: float | None = None
    accuracy: float | None = None
    battery: float | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejection:
    """A message or position that cannot be used, and why."""

    protocol: str
    reason: str
    device_id: str | None = None
    excerpt: str = ""


Decoded = list[Fix | Rejection]


class _Bad(ValueError):
    pass


def _number(value: Any, name: str) -> float:
    """A number as apps send it: 21.85, "21.85" or, from some locales, "21,85"."""
    if isinstance(value, bool):
        raise _Bad(f"{name} is not a number")
    if isinstance(value, int | float):
        try:
            out = float(value)
        except OverflowError:
            raise _Bad(f"{name} is not a finite number") from None
    else:
        text = str(value).strip().replace(",", ".")
        try:
            out = float(text)
        except ValueError:
            raise _Bad(f"{name} '{value}' is not a number") from None
    if not math.isfinite(out):
        raise _Bad(f"{name} is not a finite number")
    return out


def _optional(params: Mapping[str, Any], *names: str) -> float | None:
    for name in names:
        value = params.get(name)
        if value is None:
            continue
        kind = value.__class__
        if kind is float and math.isfinite(value):
            return value  # type: ignore[no-any-return]
        if str(value).strip() != "":
            return _number(value, name)
    return None


MAX_ATTRIBUTE_DEPTH = 8
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""What PostgreSQL refuses in ``text`` and ``jsonb``: NUL, and lone surrogates (JSON's
``"\\ud800"`` escapes decode to them; they have no UTF-8 form)."""


def storable(text: str) -> str:
    """A text as the store takes it: NUL removed, a lone surrogate replaced by U+FFFD."""
    if "\x00" not in text and not _UNSTORABLE.search(text):
        return text
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


def unstorable(text: str) -> bool:
    """Whether ``text`` holds a character the store refuses (see :func:`storable`)."""
    return "\x00" in text or _UNSTORABLE.search(text) is not None


def json_safe(value: Any, depth: int = 0) -> Any:
    """Extra fields as they can be kept (PostgreSQL ``jsonb``) and sent on the bus: numbers
    JSON cannot hold (NaN, infinity, integers beyond 64 bits) and anything nested deeper than
    :data:`MAX_ATTRIBUTE_DEPTH` become text; NUL characters and lone surrogates, which
    PostgreSQL refuses, are taken out of every text and key (:func:`storable`)."""
    kind = value.__class__
    if kind is str:
        return storable(value)
    if value is None or kind is bool:
        return value
    if kind is float:
        return value if math.isfinite(value) else str(value)
    if kind is int:
        return value if -(2**63) <= value < 2**63 else str(value)
    if depth >= MAX_ATTRIBUTE_DEPTH:
        return storable(str(value)[:300])
    if isinstance(value, Mapping):
        return {storable(str(k)): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value]
    return storable(str(value))


def _unknown_if_negative(value: float | None) -> float | None:
    """Speed, bearing and battery: ``-1`` (any negative value) is how apps say unknown."""
    return None if value is None or value < 0 else value


def _bearing(params: Mapping[str, Any], *names: str) -> float | None:
    """A course in degrees from north; negative (or beyond 360) is unknown, 360 is north."""
    value = _unknown_if_negative(_optional(params, *names))
    if value is None or value > 360:
        return None
    return value % 360


def parse_time(value: Any) -> datetime:
    """Unix seconds, Unix milliseconds, ISO 8601, or ``yyyy-MM-dd HH:mm:ss`` (UTC)."""
    if value.__class__ is str and len(value) >= 19 and value[4] == "-":  # ISO 8601, mostly
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else \
                parsed.astimezone(UTC)
    text = str(value).strip()
    if not text:
        raise _Bad("timestamp is empty")
    try:
        number = float(text.replace(",", "."))
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number) or number < 0:
            raise _Bad(f"timestamp '{value}' is not a time")
        seconds = number / 1000 if number > 1e11 else number  # ms since 1973 vs seconds
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise _Bad(f"timestamp '{value}' is out of range") from None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _Bad(f"timestamp '{value}' is neither Unix time nor ISO 8601") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def check(fix: Fix, now: datetime) -> Fix:
    """The filters every fix passes, whatever its protocol."""
    if not -90 <= fix.lat <= 90:
        raise _Bad(f"latitude {fix.lat} is outside ±90")
    if not -180 <= fix.lon <= 180:
        raise _Bad(f"longitude {fix.lon} is outside ±180")
    if fix.lat == 0 and fix.lon == 0:
        raise _Bad("position 0,0 (no GPS fix yet)")
    if fix.fix_time > now + MAX_AHEAD:
        raise _Bad(f"time {fix.fix_time.isoformat()} is in the future (phone clock wrong?)")
    if fix.fix_time < now - MAX_AGE:
        raise _Bad(f"time {fix.fix_time.isoformat()} is more than {MAX_AGE.days} days old")
    if fix.speed_mps is not None and not 0 <= fix.speed_mps <= MAX_SPEED_MPS:
        raise _Bad(f"speed {fix.speed_mps * 3.6:.0f} km/h is not a truck's")
    if fix.accuracy is not None and fix.accuracy < 0:
        raise _Bad("accuracy must not be negative")
    return fix


def _excerpt(data: Any) -> str:
    return storable(str(data)[:300])


MISSING_DEVICE_PREFIX = "device id is missing"
"""How the reason for a message without a device id begins."""


def device_missing(items: Decoded) -> Rejection | None:
    """The rejection of a message that names no device, if that is what ``items`` holds: the
    phone is misconfigured and should be told so (Traccar's own server answers 400)."""
    for item in items:
        if isinstance(item, Rejection) and item.device_id is None and \
                item.reason.startswith(MISSING_DEVICE_PREFIX):
            return item
    return None


UNSTORABLE_DEVICE_PREFIX = "device id holds a NUL character or a lone surrogate"
"""How the reason for a device id the store cannot keep begins."""


def device_refused(items: Decoded) -> tuple[Rejection, str] | None:
    """The rejection of a message whose device is missing or unusable, and its error code
    (``device_missing``, ``device_invalid``): the phone is misconfigured (or the message is
    forged) and should be told so, as Traccar's own server answers 400."""
    for item in items:
        if isinstance(item, Rejection) and item.device_id is None:
            if item.reason.startswith(MISSING_DEVICE_PREFIX):
                return item, "device_missing"
            if item.reason.startswith(UNSTORABLE_DEVICE_PREFIX):
                return item, "device_invalid"
    return None


def _device(value: Any, names: str = "id or deviceid") -> str:
    device = str(value if value is not None else "").strip()
    if not device:
        raise _Bad(f"{MISSING_DEVICE_PREFIX} ({names})")
    if len(device) > 100:
        raise _Bad("device id is longer than 100 characters")
    if unstorable(device):  # refused, not cleaned: it would name another device
        raise _Bad(f"{UNSTORABLE_DEVICE_PREFIX} ({names})")
    return device


_OSMAND_KNOWN = {"id", "deviceid", "lat", "lon", "location", "timestamp", "speed", "bearing",
                 "heading", "altitude", "accuracy", "hacc", "batt", "valid"}


def osmand(params: Mapping[str, str], now: datetime) -> Decoded:
    """The OsmAnd protocol as the Traccar Client app sends it (query string or form body)."""
    device_id: str | None = None
    try:
        device_id = _device(params.get("id") or params.get("deviceid"))
        if params.get("location"):
            parts = [p.strip() for p in str(params["location"]).split(",")]
            if len(parts) == 4:  # comma decimals: "21,85,106,76"
                parts = [f"{parts[0]}.{parts[1]}", f"{parts[2]}.{parts[3]}"]
            if len(parts) != 2:
                raise _Bad("location must be 'lat,lon'")
            lat, lon = _number(parts[0], "lat"), _number(parts[1], "lon")
        else:
            if params.get("lat") is None or params.get("lon") is None:
                raise _Bad("lat and lon (or location) are required")
            lat, lon = _number(params["lat"], "lat"), _number(params["lon"], "lon")
        when = parse_time(params["timestamp"]) if params.get("timestamp") else now
        speed = _unknown_if_negative(_optional(params, "speed"))
        fix = Fix(device_id, when, lat, lon, "osmand",
                  speed_mps=None if speed is None else speed * KNOT,
                  bearing=_bearing(params, "bearing", "heading"),
                  altitude=_optional(params, "altitude"),
                  accuracy=_optional(params, "accuracy", "hacc"),
                  battery=_unknown_if_negative(_optional(params, "batt")),
                  attributes=json_safe({k: v for k, v in params.items()
                                        if k not in _OSMAND_KNOWN}))
        return [check(fix, now)]
    except _Bad as exc:
        return [Rejection("osmand", storable(str(exc)), device_id, _excerpt(dict(params)))]


def traccar_json(body: Any, now: datetime) -> Decoded:
    """The JSON body of Traccar Client 9 and later (``location.coords.speed`` in m/s)."""
    device_id: str | None = None
    try:
        if not isinstance(body, Mapping):
            raise _Bad("body must be a JSON object")
        device_id = _device(body.get("device_id") or body.get("id"), "device_id")
        location = body.get("location")
        if not isinstance(location, Mapping) or not isinstance(location.get("coords"), Mapping):
            raise _Bad("location.coords is required")
        coords = location["coords"]
        if coords.get("latitude") is None or coords.get("longitude") is None:
            raise _Bad("location.coords.latitude and longitude are required")
        battery = location.get("battery")
        level = _unknown_if_negative(_optional(battery, "level")) if isinstance(
            battery, Mapping) else None
        fix = Fix(device_id,
                  parse_time(location["timestamp"]) if location.get("timestamp") else now,
                  _number(coords["latitude"], "latitude"), _number(coords["longitude"],
                                                                   "longitude"),
                  "traccar", speed_mps=_unknown_if_negative(_optional(coords, "speed")),
                  bearing=_bearing(coords, "heading"), altitude=_optional(coords, "altitude"),
                  accuracy=_optional(coords, "accuracy"),
                  battery=None if level is None else level * 100,
                  attributes=json_safe({k: location[k] for k in (
                      "is_moving", "odometer", "event", "activity", "mock", "extras")
                      if location.get(k) not in (None, {})}))
        return [check(fix, now)]
    except _Bad as exc:
        return [Rejection("traccar", storable(str(exc)), device_id, _excerpt(body))]


def owntracks(body: Any, now: datetime, topic: str | None = None,
              user: str | None = None, device: str | None = None) -> Decoded:
    """An OwnTracks message (HTTP mode or MQTT). Only ``_type: location`` carries a position;
    other types (transition, waypoint, lwt, ...) are acknowledged and left aside. The device
    is ``user/device`` from the topic ``owntracks/<user>/<device>``, the HTTP headers, or the
    message's own ``topic``."""
    device_id: str | None = None
    try:
        if not isinstance(body, Mapping):
            raise _Bad("body must be a JSON object")
        if body.get("_type") != "location":
            return []
        topic = topic or (body.get("topic") if isinstance(body.get("topic"), str) else None)
        if topic and topic.count("/") >= 2:
            _, user_part, device_part = topic.split("/", 2)
            device_id = _device(f"{user_part}/{device_part.split('/')[0]}")
        elif user and device:
            device_id = _device(f"{user}/{device}")
        else:
            device_id = _device(body.get("tid"), "X-Limit-U and X-Limit-D, topic or tid")
        if body.get("lat") is None or body.get("lon") is None:
            raise _Bad("lat and lon are required")
        if body.get("tst") is None:
            raise _Bad("tst (the fix time) is required")
        vel = _unknown_if_negative(_optional(body, "vel"))
        fix = Fix(device_id, parse_time(body["tst"]), _number(body["lat"], "lat"),
                  _number(body["lon"], "lon"), "owntracks",
                  speed_mps=None if vel is None else vel * KMH,
                  bearing=_bearing(body, "cog"), altitude=_optional(body, "alt"),
                  accuracy=_optional(body, "acc"),
                  battery=_unknown_if_negative(_optional(body, "batt")),
                  attributes=json_safe({k: body[k] for k in ("tid", "conn", "t", "bs")
                                        if k in body}))
        return [check(fix, now)]
    except _Bad as exc:
        return [Rejection("owntracks", storable(str(exc)), device_id, _excerpt(body))]


def batch_item(item: Any, now: datetime) -> Fix | Rejection:
    """One position of the batch endpoint for fleet systems (speed in m/s)."""
    device_id: str | None = None
    try:
        if not isinstance(item, Mapping):
            raise _Bad("each position must be a JSON object")
        device_id = _device(item.get("device_id"), "device_id")
        for key in ("lat", "lon", "time"):
            if item.get(key) is None:
                raise _Bad(f"{key} is required")
        attributes = item.get("attributes") or {}
        if not isinstance(attributes, Mapping):
            raise _Bad("attributes must be an object")
        fix = Fix(device_id, parse_time(item["time"]), _number(item["lat"], "lat"),
                  _number(item["lon"], "lon"), "batch",
                  speed_mps=_unknown_if_negative(_optional(item, "speed_mps")),
                  bearing=_bearing(item, "bearing"),
                  altitude=_optional(item, "altitude"), accuracy=_optional(item, "accuracy"),
                  battery=_unknown_if_negative(_optional(item, "battery")),
                  attributes=json_safe(attributes) if attributes else {})
        return check(fix, now)
    except _Bad as exc:
        return Rejection("batch", storable(str(exc)), device_id, _excerpt(item))
