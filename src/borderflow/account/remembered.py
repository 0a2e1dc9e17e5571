"""Who a credential is, remembered for a moment, so that a burst of requests with one token
or API key (an enterprise's system sending its declarations, a page refreshing) costs one
look-up of the account, not one each.

A remembered caller is forgotten:

- after ``seconds`` (one second by default), so another process of the platform sees a
  revoked token, a disabled account or a changed role within that time;
- at once in this process when any account or API key is written here (a logout, a password
  change, a role change, a disabled account, a revoked key): every session of the process
  reports it (:func:`install`), and everything remembered is dropped.

An access token is checked again at each use all the same (signature, expiry on the
platform's clock): only the database look-up is spared. Refusals are never remembered.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from borderflow.domain.access import Principal
from borderflow.store.models import Account, ApiKey

DEFAULT_SECONDS = 1.0
LARGEST = 10_000
"""Credentials remembered at most (a burst of new tokens cannot grow it without end)."""

_generation = 0
"""Bumped whenever an account or API key is written in this process."""
_lock = threading.Lock()


class Remembered:
    """The callers of one application, by the digest of their credential."""

    def __init__(self, seconds: float = DEFAULT_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self._monotonic = seconds, monotonic
        self._found: dict[bytes, tuple[float, int, Principal]] = {}

    @staticmethod
    def _key(kind: str, credential: str) -> bytes:
        return hashlib.sha256(f"{kind}:{credential}".encode()).digest()

    def get(self, kind: str, credential: str) -> Principal | None:
        found = self._found.get(self._key(kind, credential))
        if found is None:
            return None
        until, generation, principal = found
        if generation != _generation or self._monotonic() >= until:
            self._found.pop(self._key(kind, credential), None)
            return None
        return principal

    def put(self, kind: str, credential: str, principal: Principal) -> None:
        if self.seconds <= 0:
            return
        if len(self._found) >= LARGEST:
            self._found.clear()
        self._found[self._key(kind, credential)] = (self._monotonic() + self.seconds,
                                                    _generation, principal)


def _forget_all() -> None:
    global _generation
    with _lock:
        _generation += 1


def _touches_callers(session: Session, _context: Any) -> None:
    if any(isinstance(o, Account | ApiKey)
           for o in (*session.new, *session.dirty, *session.deleted)):
        session.info["callers_changed"] = True


def _after_commit(session: Session) -> None:
    if session.info.pop("callers_changed", False):
        _forget_all()


def _after_rollback(session: Session) -> None:
    session.info.pop("callers_changed", None)


_installed = False


def install() -> None:
    """Listen to every session of the process (once): a commit that wrote an account or an
    API key forgets every remembered caller."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_flush", _touches_callers)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_soft_rollback", lambda s, _t: _after_rollback(s))
    _installed = True
