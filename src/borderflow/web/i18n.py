"""Languages of the web pages: Vietnamese (default), English and Chinese.

Catalogues are gettext ``.po`` files under ``web/locales/<lang>/LC_MESSAGES/messages.po``
(extract new strings with ``pybabel extract -F babel.cfg``); they are compiled in memory when
first used, so running the platform needs no build step. Numbers, dates and VND amounts are
formatted per locale with Babel.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import NullTranslations, Translations

from borderflow.clock import LOCAL_TZ

LANGUAGES = ("vi", "en", "zh")
DEFAULT = "vi"
NAMES = {"vi": "Tiếng Việt", "en": "English", "zh": "中文"}
BABEL_LOCALE = {"vi": "vi_VN", "en": "en_GB", "zh": "zh_Hans_CN"}
LOCALES = Path(__file__).parent / "locales"


@cache
def translations(lang: str) -> NullTranslations:
    path = LOCALES / lang / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as f:
        catalog = read_po(f, locale=BABEL_LOCALE[lang])
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


def choose(query: str | None, cookie: str | None, accept: str | None) -> str:
    """The page language: ``?lang=``, else the ``lang`` cookie, else the browser's first
    language we have, else Vietnamese."""
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    for part in (accept or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT


def N_(message: str) -> str:
    """Marks a text for translation where it is defined; it is translated where shown."""
    return message


class Formatter:
    """Locale-aware formatting for one page language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.locale = Locale.parse(BABEL_LOCALE[lang])
        self.gettext: Callable[[str], str] = translations(lang).gettext

    def number(self, value: float | int) -> str:
        return format_decimal(value, locale=self.locale)

    def vnd(self, amount: int) -> str:
        return format_currency(amount, "VND", locale=self.locale)

    def time(self, at: datetime | None) -> str:
        if at is None:
            return "—"
        return format_time(at.astimezone(LOCAL_TZ), "short", locale=self.locale)

    def datetime(self, at: datetime) -> str:
        return format_datetime(at.astimezone(LOCAL_TZ), "medium", locale=self.locale)

    def name(self, names: object) -> str:
        """A vi/en/zh name in the page language."""
        return str(getattr(names, self.lang, None) or getattr(names, "en", ""))
