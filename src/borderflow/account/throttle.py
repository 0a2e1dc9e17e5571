"""Password guessing is throttled: failed logins are counted per account and address, per
account and per address, and a caller past a limit is locked out for a while (429 with
``Retry-After``); each lockout is audited and counted (``borderflow_login_lockouts_total``).

Three counts, so that a lockout neither helps an attacker nor locks out the real user for
long: ``LOGIN_MAX_FAILURES`` for one account from one address (the common case of a mistyped
or guessed password), ``LOGIN_MAX_FAILURES_ACCOUNT`` for one account from every address
(guessing spread over many addresses), ``LOGIN_MAX_FAILURES_IP`` for one address over every
account (one address trying many accounts). A successful login clears only its own account
and address count: the failures other addresses made stay counted.

Every login path calls the same three functions::

    guard_login(request, username)          # before checking the password: 429 if locked
    login_failed(request, db, username)     # after a wrong password (or unknown user)
    login_succeeded(request, username)      # after a right one
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog
from fastapi import Request
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import Storage
from limits.strategies import MovingWindowRateLimiter
from prometheus_client import Counter
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.api.context import AppContext
from borderflow.api.ratelimit import client_ip, retry_after
from borderflow.config import Settings
from borderflow.domain.access import SYSTEM
from borderflow.errors import TooManyRequests, Unavailable, msg

log = structlog.get_logger("borderflow.login")

LOCKOUTS = Counter("borderflow_login_lockouts_total", "Logins locked out after failures",
                   ["scope"])
FAILURES = Counter("borderflow_login_failures_total", "Failed logins")


@dataclass(frozen=True)
class Lockout:
    """A limit that the last failure reached."""

    scope: str  # "account_ip", "account" or "ip"
    username: str
    ip: str
    failures: int
    seconds: int


class LoginThrottle:
    """Counts failed logins in a moving window of ``LOGIN_LOCKOUT_MINUTES``."""

    def __init__(self, storage: Storage, *, per_account_ip: int, per_account: int,
                 per_ip: int, minutes: int, enabled: bool = True) -> None:
        self.limiter = MovingWindowRateLimiter(storage)
        self.enabled = enabled
        self.items: dict[str, RateLimitItem] = {
            "account_ip": RateLimitItemPerMinute(per_account_ip, minutes),
            "account": RateLimitItemPerMinute(per_account, minutes),
            "ip": RateLimitItemPerMinute(per_ip, minutes),
        }

    @classmethod
    def from_settings(cls, settings: Settings, storage: Storage) -> LoginThrottle:
        return cls(storage, per_account_ip=settings.login_max_failures,
                   per_account=settings.login_max_failures_account,
                   per_ip=settings.login_max_failures_ip,
                   minutes=settings.login_lockout_minutes, enabled=settings.throttling)

    @staticmethod
    def _keys(username: str, ip: str) -> dict[str, tuple[str, ...]]:
        name = username.strip().casefold()
        return {"account_ip": ("login", name, ip), "account": ("login", name),
                "ip": ("login-ip", ip)}

    def locked_for(self, username: str, ip: str) -> int:
        """Seconds until this caller may try again (0: not locked)."""
        if not self.enabled:
            return 0
        wait = 0
        for scope, keys in self._keys(username, ip).items():
            item = self.items[scope]
            if not self.limiter.test(item, *keys):
                wait = max(wait, retry_after(self.limiter, item, *keys))
        return wait

    def failed(self, username: str, ip: str) -> list[Lockout]:
        """Count a failure; the limits it has just reached. (A locked-out caller is refused
        before its password is checked, so a limit is reached once per lockout.)"""
        if not self.enabled:
            return []
        reached: list[Lockout] = []
        for scope, keys in self._keys(username, ip).items():
            item = self.items[scope]
            self.limiter.hit(item, *keys)
            if not self.limiter.test(item, *keys):
                reached.append(Lockout(scope, username.strip(), ip, item.amount,
                                       retry_after(self.limiter, item, *keys)))
        return reached

    def succeeded(self, username: str, ip: str) -> None:
        """Clear this account's failures from this address (and only those)."""
        if self.enabled:
            self.limiter.clear(self.items["account_ip"], *self._keys(username, ip)["account_ip"])


def _throttle(request: Request) -> LoginThrottle | None:
    found: LoginThrottle | None = getattr(request.app.state, "login_throttle", None)
    return found


def _locked_message(seconds: int) -> str:
    return msg("too many failed logins; try again in {minutes} minutes",
               minutes=max(1, -(-seconds // 60)))


def guard_login(request: Request, username: str) -> None:
    """Refuse (429, ``Retry-After``) a login from a caller locked out for ``username``."""
    throttle = _throttle(request)
    if throttle is None:
        return
    try:
        wait = throttle.locked_for(username, client_ip(request))
    except Exception as exc:  # the store is down: refuse rather than allow unlimited guesses
        log.error("login throttle store unavailable", error=type(exc).__name__)
        raise Unavailable(msg("logins are unavailable for a moment; try again")) from None
    if wait:
        raise TooManyRequests(_locked_message(wait), wait)


def login_failed(request: Request, db: Session, username: str) -> None:
    """Count a failed login; a lockout it causes is audited in a transaction of its own
    (the failed login's transaction is rolled back) and counted in the metrics."""
    throttle = _throttle(request)
    FAILURES.inc()
    if throttle is None:
        return
    ip = client_ip(request)
    try:
        reached = throttle.failed(username, ip)
    except Exception as exc:
        log.error("login throttle store unavailable", error=type(exc).__name__)
        return
    if not reached:
        return
    ctx: AppContext = request.app.state.ctx
    db.rollback()  # releases the write lock (SQLite) before the audit's own transaction
    now = ctx.clock.now()
    with ctx.sessions() as session:
        for lock in reached:
            LOCKOUTS.labels(lock.scope).inc()
            log.warning("login locked out", scope=lock.scope, username=lock.username, ip=ip,
                        seconds=lock.seconds)
            audit.record(session, actor=SYSTEM, action="account.lockout",
                         target_type="account", target_id=lock.username[:120], at=now,
                         after={"scope": lock.scope, "ip": ip, "failures": lock.failures,
                                "until": (now + timedelta(seconds=lock.seconds)).isoformat()})
        session.commit()


def login_succeeded(request: Request, username: str) -> None:
    """A right password: clear this account's failures from this address."""
    throttle = _throttle(request)
    if throttle is None:
        return
    try:
        throttle.succeeded(username, client_ip(request))
    except Exception as exc:
        log.error("login throttle store unavailable", error=type(exc).__name__)


# --- accounts that serve themselves ---------------------------------------------------------

SELF_SERVICE_LIMITS: dict[str, tuple[int, int]] = {
    "register": (5, 60),          # registrations from one address an hour
    "reset_request": (5, 60),     # codes asked for one username (and from one address) an hour
    "reset_code": (10, 15),       # codes typed from one address (any username) in 15 minutes
}
"""How often, per moving window of minutes, a self-service action may be done: the limits
against abuse (sending SMS to strangers, guessing codes, filling the admins' queue)."""


def spend(request: Request, action: str, *keys: str) -> None:
    """Count one ``action`` for each key (e.g. the address, the username); refuse (429 with
    ``Retry-After``) a caller past its limit. Off when throttling is off."""
    throttle = _throttle(request)
    if throttle is None or not throttle.enabled:
        return
    amount, minutes = SELF_SERVICE_LIMITS[action]
    item = RateLimitItemPerMinute(amount, minutes)
    wait = 0
    try:
        counted = [f"ip:{client_ip(request)}", *(f"key:{k.strip().casefold()}" for k in keys)]
        for key in counted:
            if not throttle.limiter.hit(item, action, key):
                wait = max(wait, retry_after(throttle.limiter, item, action, key))
    except Exception as exc:  # the store is down: refuse rather than allow unlimited tries
        log.error("self-service throttle store unavailable", error=type(exc).__name__)
        raise Unavailable(msg("this is unavailable for a moment; try again")) from None
    if wait:
        raise TooManyRequests(msg("too many attempts; try again in {minutes} minutes",
                                  minutes=max(1, -(-wait // 60))), wait)
