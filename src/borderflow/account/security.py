"""Password hashing (Argon2), access tokens (JWT, HS256 only) and API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from borderflow.errors import Unauthorized

if TYPE_CHECKING:
    from borderflow.config import Settings

ALGORITHM = "HS256"
API_KEY_PREFIX = "bfk"


@dataclass(frozen=True)
class HashCost:
    """What one Argon2id hash costs: passes over memory, memory in KiB and lanes. The default
    is RFC 9106's second recommended set (argon2-cffi's own default)."""

    time_cost: int = 3
    memory_kib: int = 65536
    parallelism: int = 4


MINIMUM_COST = HashCost(time_cost=2, memory_kib=19456, parallelism=1)
"""The least production accepts (OWASP's password storage minimum for Argon2id: 19 MiB, two
passes, one lane)."""


class _Hashing:
    """The process's hasher for its cost, and a hash of nothing at that cost to verify
    against when there is no stored hash (made at once: the first unknown username costs
    what every other one does)."""

    def __init__(self, cost: HashCost) -> None:
        self.cost = cost
        self.hasher = PasswordHasher(time_cost=cost.time_cost, memory_cost=cost.memory_kib,
                                     parallelism=cost.parallelism)
        self.dummy = self.hasher.hash("not-a-real-password")


_hashing = _Hashing(HashCost())


def use_cost(cost: HashCost) -> None:
    """Hash new passwords and codes at ``cost`` from now on (``BORDERFLOW_PASSWORD_HASH_*``,
    set when a process builds its context). Stored hashes keep their own cost, which is
    written in each; a password verified at another cost is rehashed at login."""
    global _hashing
    if cost != _hashing.cost:
        _hashing = _Hashing(cost)


def use_settings(settings: Settings) -> None:
    """:func:`use_cost` with the cost ``settings`` give (``BORDERFLOW_PASSWORD_HASH_*``)."""
    use_cost(HashCost(time_cost=settings.password_hash_time_cost,
                      memory_kib=settings.password_hash_memory_kib,
                      parallelism=settings.password_hash_parallelism))


def hash_password(password: str) -> str:
    return _hashing.hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-ish time: an unknown user still costs one Argon2 verification."""
    hashing = _hashing
    try:
        return (hashing.hasher.verify(stored_hash or hashing.dummy, password)
                and stored_hash is not None)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hashing.hasher.check_needs_rehash(stored_hash)


def issue_token(account_id: int, username: str, *, key: str, now: datetime, minutes: int,
                kind: str = "access", version: int = 0) -> str:
    """A signed token: ``access`` for the API (Bearer), ``mfa`` for a login waiting for its
    second factor (HttpOnly cookie); one never passes for the other. ``version`` is the
    account's token version: raising it revokes every token issued before."""
    claims = {
        "sub": str(account_id),
        "name": username,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=minutes)).timestamp()),
        "typ": kind,
        "ver": version,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def read_token(token: str, *, key: str, now: datetime, kind: str = "access") -> int:
    """The account id in a valid, unexpired token of that kind."""
    return read_claims(token, key=key, now=now, kind=kind)[0]


def read_claims(token: str, *, key: str, now: datetime, kind: str = "access"
                ) -> tuple[int, int]:
    """The account id and token version in a valid, unexpired token of that kind."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            # time claims are checked below against the application's clock, not the host's
            options={"require": ["sub", "exp", "iat"], "verify_exp": False,
                     "verify_iat": False, "verify_nbf": False},
        )
    except jwt.InvalidTokenError:
        raise Unauthorized("access token is invalid; log in again") from None
    if claims.get("typ") != kind:
        raise Unauthorized(f"not an {kind} token" if kind == "access" else
                           f"not a {kind} token")
    if int(claims["exp"]) <= int(now.timestamp()):
        raise Unauthorized("access token has expired; log in again")
    if int(claims["iat"]) > int(now.timestamp()) + 60:
        raise Unauthorized("access token is not valid yet; check the clock")
    try:
        return int(claims["sub"]), int(claims.get("ver", 0))
    except (TypeError, ValueError):
        raise Unauthorized("access token is invalid; log in again") from None


def new_api_key() -> tuple[str, str, str]:
    """A fresh key: (full key shown once, lookup prefix, SHA-256 of the secret part).

    The secret has 256 bits of entropy, so a fast digest is safe to store (unlike passwords).
    """
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"{API_KEY_PREFIX}_{prefix}_{secret}", prefix, digest(secret)


def split_api_key(key: str) -> tuple[str, str]:
    parts = key.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1] or not parts[2]:
        raise Unauthorized("API key is malformed")
    return parts[1], parts[2]


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)
