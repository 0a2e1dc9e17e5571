"""Per-device MQTT accounts, checked by the broker itself (Mosquitto's password file and ACL
file), written by ``borderflow devices mqtt-credentials``.

Each bound device with a live token gets an account:

- **user**: the SHA-256 of its token (64 hexadecimal characters), what the platform keeps of
  the token. OwnTracks publishes to ``owntracks/<user>/<device>``, and a topic whose user is a
  live token's hash is that device's (:func:`borderflow.telemetry.service.ingest`), as a
  ``<token>/<device>`` id is over HTTP. HTTP ingestion refuses such ids: only the broker, which
  checked the password, may send them.
- **password**: derived from the token's hash with the server's secret key
  (HMAC-SHA256, 32 URL-safe characters), so that it can be written again at any time from
  what the database keeps, and is worth nothing without the secret. It changes when the device
  is bound again; a revoked or unbound device has no account.
- **ACL**: the device may publish only under its own topic (``owntracks/<user>/<device>`` and
  below), and read its own ``cmd`` topic; the subscriber accounts named read ``owntracks/#``.

Mosquitto's password file holds ``user:$7$<iterations>$<salt>$<hash>`` lines: PBKDF2 with
HMAC-SHA512, 101 iterations and a 12-byte salt, as ``mosquitto_passwd`` writes them (Mosquitto
2.0). Lines of other users (the subscriber's account, operators') are kept as they are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow.store.models import Device
from borderflow.telemetry.service import TOKEN_HASH
from borderflow.telemetry.setup_codes import owntracks_identity

ITERATIONS = 101
"""``mosquitto_passwd``'s PBKDF2 iterations (Mosquitto 2.0)."""
SALT_BYTES = 12
TOPIC_PREFIX = "owntracks"


def password_hash(password: str, *, salt: bytes | None = None,
                  iterations: int = ITERATIONS) -> str:
    """Mosquitto's ``$7$`` form of a password (PBKDF2-HMAC-SHA512)."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return (f"$7${iterations}${base64.b64encode(salt).decode()}$"
            f"{base64.b64encode(digest).decode()}")


def password_of(secret_key: str, token_sha256: str) -> str:
    """A device's MQTT password: the server's secret key and its token's hash give it."""
    mac = hmac.new(secret_key.encode(), b"borderflow mqtt device password\x00"
                   + token_sha256.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode()[:32]


@dataclass(frozen=True)
class Account:
    device_id: str
    username: str
    password: str
    topic: str
    """Where the device publishes (OwnTracks' ``owntracks/<user>/<device>``)."""


def account(secret_key: str, device_id: str, token_sha256: str) -> Account:
    device = owntracks_identity(device_id)[1]
    return Account(device_id, token_sha256, password_of(secret_key, token_sha256),
                   f"{TOPIC_PREFIX}/{token_sha256}/{device}")


def accounts(session: Session, secret_key: str) -> list[Account]:
    """The accounts of every device bound with a live token, by device id."""
    rows = session.execute(select(Device.id, Device.token_sha256).where(
        Device.token_sha256.is_not(None), Device.revoked_at.is_(None),
        Device.bound_at.is_not(None)).order_by(Device.id))
    return [account(secret_key, device_id, digest) for device_id, digest in rows if digest]


def _safe_topic_part(text: str) -> bool:
    return bool(text) and not any(c in text for c in "+#/\n\r\x00") and " " not in text


def password_lines(found: Sequence[Account], kept: Iterable[str]) -> list[str]:
    """The password file: the lines of users that are not device accounts, as they were,
    then one line per device."""
    out = [line for line in kept
           if line.strip() and not TOKEN_HASH.fullmatch(line.split(":", 1)[0])]
    out += [f"{a.username}:{password_hash(a.password)}" for a in found]
    return out


def acl_lines(found: Sequence[Account], subscribers: Sequence[str]) -> list[str]:
    """Mosquitto's ACL file: the subscribers read every device's topics; each device publishes
    under its own topic only."""
    out = ["# Written by `borderflow devices mqtt-credentials`: each device publishes only",
           "# under its own topic; written again after binding or revoking devices.", ""]
    for name in subscribers:
        out += [f"user {name}", f"topic read {TOPIC_PREFIX}/#", ""]
    for a in found:
        out += [f"# device {a.device_id}" if _printable(a.device_id) else "# device",
                f"user {a.username}", f"topic write {a.topic}", f"topic write {a.topic}/#",
                f"topic read {a.topic}/cmd", ""]
    return out


def _printable(text: str) -> bool:
    return text.isprintable() and "\n" not in text


def write_atomically(path: Path, lines: Sequence[str], mode: int = 0o640) -> None:
    """``path`` replaced by ``lines`` at once (a broker reading it meanwhile sees the old file
    or the new one), keeping its permissions if it existed."""
    if path.exists():
        mode = path.stat().st_mode & 0o777
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(name, mode)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Written:
    devices: int
    kept: int
    skipped: list[str]


def write(found: Sequence[Account], password_file: Path, acl_file: Path | None,
          subscribers: Sequence[str]) -> Written:
    """Write the password file (keeping other users' lines) and the ACL file. A device whose
    OwnTracks device name cannot be a topic level is skipped (and named)."""
    usable = [a for a in found if _safe_topic_part(a.topic.rsplit("/", 1)[1])]
    skipped = [a.device_id for a in found if a not in usable]
    existing = password_file.read_text(encoding="utf-8").splitlines() \
        if password_file.exists() else []
    lines = password_lines(usable, existing)
    write_atomically(password_file, lines)
    if acl_file is not None:
        write_atomically(acl_file, acl_lines(usable, subscribers))
    return Written(len(usable), len(lines) - len(usable), skipped)
