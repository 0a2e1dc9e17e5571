"""The password policy (ASVS 2.1): at least 12 characters, not a common or breached password
(a list shipped in the package, data/passwords/common.txt; nothing is looked up on the
network), and not containing the username. Every rule a password breaks is reported, each
as a translatable message."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources

from borderflow.errors import Text, msg

MIN_LENGTH = 12
MIN_DISTINCT = 5
_PADDING = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_SEQUENCES = ("0123456789012345678901234567890", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnop",
              "qwertyuiopasdfghjklzxcvbnm", "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
              "qazwsxedcrfvtgbyhnujmikolp")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list, lower case (about 5,000 of the most common breached passwords)."""
    text = (resources.files("borderflow") / "data" / "passwords" / "common.txt").read_text(
        encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def is_common(password: str) -> bool:
    """In the list, as written or once digits and symbols around a word are taken off
    (``Password2024!``, ``dragon123456``), or a run of the keyboard or of the alphabet."""
    word = _normal(password).strip()
    listed = common_passwords()
    if word in listed:
        return True
    core = _PADDING.sub("", word)
    if len(core) >= 4 and core in listed:
        return True
    squeezed = word.replace(" ", "")
    return any(squeezed in run or squeezed in run[::-1] for run in _SEQUENCES)


def problems(password: str, username: str | None = None) -> list[Text]:
    """Why ``password`` is refused (empty: it is accepted)."""
    found: list[Text] = []
    if len(password) < MIN_LENGTH:
        found.append(msg("must have at least {count} characters", count=MIN_LENGTH))
    if is_common(password):
        found.append(msg("is a common password found in lists of breached passwords; choose "
                         "another"))
    elif len(set(_normal(password))) < MIN_DISTINCT:
        found.append(msg("has too few different characters"))
    name = _normal(username or "").strip()
    if len(name) >= 3 and name in _normal(password):
        found.append(msg("must not contain the username"))
    return found
