"""Which device ids ingestion knows, without a database query per position.

Phones are told at once when they send under an id that moves nothing (Traccar's own server
answers 400 to an unknown device, so the app shows that it is not set up). Deciding that per
request from the database would cost a query per position; instead each process keeps a
snapshot of the devices that hold a token: the SHA-256 of each live token (with the device's
id and label), the hashes of revoked ones, and the plain ids of bound devices. One query loads
it; it is loaded again when it is older than :data:`TTL_SECONDS` and after any commit in this
process that binds, unbinds or revokes a device. An id the snapshot does not know is looked up
once (one query on the indexed token hash and id) the first time this process sees it, so a
phone bound through another process is known at its first position; an id seen before is
not looked up again (the next load says whether it was bound meanwhile), and at most
:data:`LOOKUPS_PER_SECOND` such look-ups run a second, so a flood of made-up ids costs a
bounded number of queries. A fleet system's batch (up to 1,000 positions) has the ids it names
that the snapshot does not know looked up together, in one query counted as one look-up.

The snapshot decides only the answer. Whether a position moves a trip is decided by the
processor from the database (:func:`borderflow.telemetry.service.ingest`), so a snapshot a few
seconds old can never let a revoked token move a trip.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session, sessionmaker

from borderflow.errors import AppError, Text, msg
from borderflow.store.models import Device
from borderflow.telemetry.decoders import Fix, Rejection
from borderflow.telemetry.service import DEVICES_CHANGED as CHANGED
from borderflow.telemetry.service import token_hash

TTL_SECONDS = 30.0
"""Longest a snapshot is used before it is loaded again."""
LOOKUPS_PER_SECOND = 20
"""Ids not in the snapshot looked up in the database, at most, per second and process."""
SEEN_LIMIT = 100_000
"""Unknown ids remembered (not looked up again) until the next load, at most."""

Verdict = Literal["live", "revoked", "plain", "unknown"]


@dataclass(frozen=True, slots=True)
class Live:
    """A device found by its live token."""

    id: str
    label: str


@dataclass
class Snapshot:
    """The devices that hold a token, as one load found them (and look-ups added since)."""

    live: dict[str, Live] = field(default_factory=dict)
    """Live token hash: the device."""
    revoked: set[str] = field(default_factory=set)
    """Hashes of revoked tokens."""
    bound: set[str] = field(default_factory=set)
    """Plain ids of devices that hold a token (live or revoked)."""
    loaded_at: float = float("-inf")
    generation: int = -1
    seen: set[str] = field(default_factory=set)
    """Ids looked up since the load and not found."""

    def add(self, rows: Iterable[Any]) -> None:
        """Rows of (id, token hash, label, live)."""
        for device_id, digest, label, live in rows:
            self.bound.add(device_id)
            if live:
                self.live[digest] = Live(device_id, label or "")
                self.revoked.discard(digest)
            else:
                self.revoked.add(digest)
                self.live.pop(digest, None)

    def device(self, sent: str) -> Live | None:
        """The device whose live token ``sent`` is (or, OwnTracks' ``<token>/<device>``,
        begins with)."""
        found = self.live.get(token_hash(sent))
        if found is None and "/" in sent:
            found = self.live.get(token_hash(sent.split("/", 1)[0]))
        return found

    def verdict(self, sent: str) -> Verdict:
        if self.device(sent) is not None:
            return "live"
        if token_hash(sent) in self.revoked or (
                "/" in sent and token_hash(sent.split("/", 1)[0]) in self.revoked):
            return "revoked"
        return "plain" if sent in self.bound else "unknown"


_COLUMNS = (Device.id, Device.token_sha256, Device.label, Device.revoked_at.is_(None))


def load(session: Session, now: float, generation: int) -> Snapshot:
    """The devices that hold a token, in one query."""
    snap = Snapshot(loaded_at=now, generation=generation)
    snap.add(session.execute(select(*_COLUMNS).where(Device.token_sha256.is_not(None))))
    return snap


def hashes_of(sent: str) -> list[str]:
    """The token hashes an id may name: its own, and for ``<token>/<device>`` its user's."""
    return [token_hash(sent), *([token_hash(sent.split("/", 1)[0])] if "/" in sent else [])]


_DIRECTORIES: weakref.WeakSet[DeviceDirectory] = weakref.WeakSet()


class DeviceDirectory:
    """The process's snapshot of the devices that hold a token (see the module's text)."""

    def __init__(self, sessions: sessionmaker[Session], *, ttl: float = TTL_SECONDS,
                 lookups_per_second: int = LOOKUPS_PER_SECOND,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.sessions, self.ttl, self.monotonic = sessions, ttl, monotonic
        self.lookups_per_second = lookups_per_second
        self._snapshot = Snapshot()
        self._generation = 0  # raised by every change seen in this process
        self._lock = threading.Lock()
        self._window = (float("-inf"), 0)  # the current second, look-ups in it
        self.loads = 0
        self.lookups = 0
        _DIRECTORIES.add(self)

    def changed(self) -> None:
        """A device was bound, unbound or revoked here: load again at the next use."""
        self._generation += 1

    def _stale(self, snap: Snapshot) -> bool:
        return snap.generation != self._generation or \
            self.monotonic() - snap.loaded_at >= self.ttl

    def snapshot(self) -> Snapshot:
        """The current snapshot, loaded again first when it is stale. Blocking: from the
        event loop use :meth:`asnapshot`."""
        snap = self._snapshot
        if not self._stale(snap):
            return snap
        with self._lock:  # one load at a time; the others then find it fresh
            snap = self._snapshot
            if self._stale(snap):
                generation = self._generation
                with self.sessions() as session:
                    snap = load(session, self.monotonic(), generation)
                self._snapshot = snap
                self.loads += 1
            return snap

    async def asnapshot(self) -> Snapshot:
        snap = self._snapshot
        if not self._stale(snap):
            return snap
        return await asyncio.to_thread(self.snapshot)

    def _spend_look_up(self) -> bool:
        """Whether the second's look-ups are not spent yet (counts one)."""
        now = self.monotonic()
        start, count = self._window
        if now - start >= 1.0:
            start, count = now, 0
        if count >= self.lookups_per_second:
            return False
        self._window = (start, count + 1)
        return True

    def _may_look_up(self, snap: Snapshot, sent: str) -> bool:
        """Whether ``sent``, which the snapshot does not know, is looked up: not seen since
        the load, and the second's look-ups not spent (counts the look-up)."""
        if sent in snap.seen or not self._spend_look_up():
            return False
        if len(snap.seen) >= SEEN_LIMIT:
            snap.seen.clear()
        snap.seen.add(sent)
        return True

    def look_up(self, snap: Snapshot, sent: str) -> None:
        """One query for an id the snapshot does not know (the token hashes it may name, and
        the id itself); what is found joins the snapshot."""
        self.look_up_many(snap, [sent])

    def look_up_many(self, snap: Snapshot, sent: list[str]) -> None:
        """One query for ids the snapshot does not know (the token hashes each may name, and
        the ids themselves); what is found joins the snapshot."""
        with self.sessions() as session:
            snap.add(session.execute(select(*_COLUMNS).where(
                Device.token_sha256.is_not(None),
                or_(Device.token_sha256.in_([h for s in sent for h in hashes_of(s)]),
                    Device.id.in_(sent)))).all())
        self.lookups += 1

    async def _known(self, sent: str, found: Callable[[Snapshot], bool]) -> Snapshot:
        snap = await self.asnapshot()
        if not found(snap) and self._may_look_up(snap, sent):
            await asyncio.to_thread(self.look_up, snap, sent)
        return snap

    async def abasic(self, user: str, password: str) -> Live | None:
        """The device whose HTTP Basic credentials these are (OwnTracks over HTTP): the
        password is its live token, the user its id, the part of its id before a slash
        (``29C12345`` for ``29C12345/phone``) or the token again."""
        digest = token_hash(password)
        snap = await self._known(password, lambda s: digest in s.live)
        found = snap.live.get(digest)
        if found is not None and user in (found.id, found.id.split("/", 1)[0], password):
            return found
        return None

    async def averdict(self, sent: str) -> Verdict:
        """What ``sent`` is (looked up if the snapshot does not know it, see the module)."""
        snap = await self._known(sent, lambda s: s.verdict(sent) == "live")
        return snap.verdict(sent)

    async def averdicts(self, sent: Iterable[str]) -> dict[str, Verdict]:
        """What each of ``sent`` is, for a batch of positions (a fleet system's): the ids the
        snapshot does not find live, and has not looked up since it was loaded, are looked
        up together in one query, which counts as one look-up."""
        ids = list(dict.fromkeys(sent))
        snap = await self.asnapshot()
        missing = [s for s in ids if s not in snap.seen and snap.verdict(s) != "live"]
        if missing and self._spend_look_up():
            if len(snap.seen) + len(missing) > SEEN_LIMIT:
                snap.seen.clear()
            snap.seen.update(missing)
            await asyncio.to_thread(self.look_up_many, snap, missing)
        return {s: snap.verdict(s) for s in ids}


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(CHANGED, False):
        for directory in list(_DIRECTORIES):
            directory.changed()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(CHANGED, None)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """User and password of an ``Authorization: Basic`` header (None without one, or when it
    cannot be read)."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode(
            "utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def sent_ids(items: Iterable[Fix | Rejection]) -> list[str]:
    """The device ids a message was sent under, in order, each once."""
    seen: dict[str, None] = {}
    for item in items:
        if item.device_id is not None:
            seen.setdefault(item.device_id, None)
    return list(seen)


def refusal(verdict: Verdict, sent: str, field_name: str) -> AppError | None:
    """Traccar's answer to a position from a device it does not know: 400
    (``device_unknown``), naming the field and what to do. Revoked tokens are not echoed."""
    if verdict == "live":
        return None
    shown = sent if len(sent) <= 40 else sent[:37] + "..."
    text: Text
    if verdict == "revoked":
        text = msg("this device's token was revoked: bind the device again for a new token")
    elif verdict == "plain":
        text = msg("device '{device}' is bound: send the token binding gave it as its id, "
                   "not this id", device=shown)
    else:
        text = msg("device '{device}' is not known here: bind it, then send the token "
                   "binding gave it as its id", device=shown)
    return AppError(text, 400, field_name, code="device_unknown")


async def check(directory: DeviceDirectory, items: Iterable[Fix | Rejection], field_name: str
                ) -> AppError | None:
    """The 400 to answer when a message came under an id that is not a live token."""
    for sent in sent_ids(items):
        error = refusal(await directory.averdict(sent), sent, field_name)
        if error is not None:
            return error
    return None
