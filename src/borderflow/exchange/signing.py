"""Ed25519 keys and signatures of bulletins.

Our private key is a PEM file (PKCS#8, unencrypted, readable by the server only), created once
by ``borderflow setup`` or ``borderflow exchange keygen`` (or on first use). A key is named by
its ``key_id``: ``bf-`` and the first 16 hex digits of the SHA-256 of the raw 32-byte public
key. The signature covers the canonical form of the bulletin (see ``domain.exchange``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from borderflow.domain.exchange import canonical
from borderflow.errors import FieldError, ValidationFailed, msg

ALG = "Ed25519"


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(public: bytes) -> str:
    return "bf-" + hashlib.sha256(public).hexdigest()[:16]


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public(self) -> bytes:
        return raw_public(self.private.public_key())

    @property
    def key_id(self) -> str:
        return key_id_of(self.public)

    @property
    def public_pem(self) -> str:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, bulletin: dict[str, Any]) -> dict[str, Any]:
        """The signed envelope of a bulletin."""
        value = self.private.sign(canonical(bulletin))
        return {"bulletin": bulletin,
                "signature": {"alg": ALG, "key_id": self.key_id,
                              "value": base64.b64encode(value).decode()}}


def generate(path: Path) -> bool:
    """Create a new private key at ``path`` unless one is there; True if created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    if path.exists():
        return False
    # written aside, then linked into place: a reader never sees half a key, and of two
    # processes creating it at once one wins and the other keeps the winner's
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True


def load(path: Path) -> SigningKey:
    """Our signing key from ``path``, created there first if missing."""
    generate(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path} holds no usable private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} holds a private key that is not Ed25519")
    return SigningKey(key)


def parse_public_key(text: str) -> bytes:
    """A public key given as PEM (SubjectPublicKeyInfo) or as the base64 of its 32 raw bytes;
    its raw bytes, or a 422 naming ``public_key``."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode())
        except ValueError:
            raise ValidationFailed([FieldError("public_key", msg("is not a readable PEM "
                                                                 "public key"))]) from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValidationFailed([FieldError("public_key", msg("is not an Ed25519 key"))])
        return raw_public(key)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValidationFailed([FieldError(
            "public_key", msg("give a PEM public key or the base64 of the 32-byte Ed25519 "
                              "key"))])
    return raw


def verifies(public: bytes, bulletin: dict[str, Any], value: str) -> bool:
    """Whether ``value`` (base64) is the signature of ``bulletin`` by ``public``."""
    try:
        signature = base64.b64decode(value, validate=True)
        Ed25519PublicKey.from_public_bytes(public).verify(signature, canonical(bulletin))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
