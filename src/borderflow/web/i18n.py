"""Languages of the web pages: Vietnamese (default), English and Chinese.

Catalogues are gettext ``.po`` files under ``web/locales/<lang>/LC_MESSAGES/`` (every ``.po``
there is read: ``messages.po`` for the pages, ``errors.po`` for the services' messages);
they are compiled in memory when first used, so running the platform needs no build step.
Numbers, dates and VND amounts are read and written per locale with Babel; codes are shown
as their labels (:mod:`borderflow.domain.labels`); the services' messages (:class:`Text`)
are shown in the page's language.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.lists import format_list
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import (
    NumberFormatError,
    format_currency,
    format_decimal,
    get_decimal_symbol,
    get_group_symbol,
    parse_decimal,
)
from babel.support import NullTranslations, Translations

from borderflow.clock import LOCAL_TZ
from borderflow.domain import labels
from borderflow.domain.network import Network
from borderflow.errors import N_, AppError, FieldError, Text, msg

LANGUAGES = ("vi", "en", "zh")
DEFAULT = "vi"
NAMES = {"vi": "Tiếng Việt", "en": "English", "zh": "中文"}
BABEL_LOCALE = {"vi": "vi_VN", "en": "en_GB", "zh": "zh_Hans_CN"}
LOCALES = Path(__file__).parent / "locales"


@cache
def translations(lang: str) -> NullTranslations:
    """Every catalogue of a language merged into one (fuzzy entries left out)."""
    paths = sorted((LOCALES / lang / "LC_MESSAGES").glob("*.po"))
    if not paths:
        return NullTranslations()
    merged = Catalog(locale=BABEL_LOCALE[lang])
    for path in paths:
        with path.open("rb") as f:
            for message in read_po(f, locale=BABEL_LOCALE[lang]):
                if message.id and message.string and not message.fuzzy:
                    merged[message.id] = message
    buf = io.BytesIO()
    write_mo(buf, merged)
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


PARAM_KINDS: dict[str, str] = {
    "gate": "gate", "gates": "gate", "flow": "direction", "direction": "direction",
    "directions": "direction", "step": "step", "steps": "step", "status": "status",
    "step_status": "step_status", "group": "goods_group", "groups": "goods_group",
    "yard": "yard", "yards": "yard", "park": "park", "area": "area", "reason": "reason",
    "reason_code": "reason", "channel": "channel", "priority": "priority",
    "vehicle_type": "vehicle_type", "document_type": "document_type", "unit": "unit",
    "control": "control_kind", "quarantine": "quarantine_kind", "role": "role",
    "roles": "role", "method": "payment_method", "invoice_status": "invoice_status",
}
"""A message parameter's name -> the kind of code it holds (shown as its label)."""

GENERIC: dict[str, str] = {
    "not_found": N_("Not found, or not yours to see."),
    "forbidden": N_("Your role may not do this."),
    "unauthorized": N_("Please log in again."),
    "conflict": N_("This cannot be done in the trip's current state; reload the page and "
                   "check."),
    "validation_failed": N_("This value is not accepted."),
    "unavailable": N_("The service is busy; please try again in a moment."),
}
"""What a page says for a service message that has no translation (never English on a
Vietnamese or Chinese page)."""
FALLBACK = N_("This could not be done.")

_SPACES = re.compile(r"[\s\u00a0\u202f']")
LANGUAGE_NAMES = {"vi": N_("Vietnamese"), "en": N_("English"), "zh": N_("Chinese")}


_Date = date
_DateTime = datetime


class NumberInputError(ValueError):
    """A number typed in a form that cannot be read (the message says how it was read)."""

    def __init__(self, text: Text) -> None:
        super().__init__(text)
        self.text = text


class Formatter:
    """Reading and writing for one page language: texts, labels of codes, the services'
    messages, numbers, money and dates."""

    def __init__(self, lang: str, network: Network | None = None) -> None:
        self.lang = lang
        self.locale = Locale.parse(BABEL_LOCALE[lang])
        self.network = network
        self.gettext: Callable[[str], str] = translations(lang).gettext

    # --- writing ------------------------------------------------------------------------------

    def number(self, value: float | int | Decimal, places: int | None = None) -> str:
        if places is not None:
            pattern = "#,##0" + ("." + "0" * places if places else "")
            return format_decimal(value, format=pattern, locale=self.locale)
        return format_decimal(value, locale=self.locale)

    def vnd(self, amount: int) -> str:
        return format_currency(amount, "VND", locale=self.locale)

    def usd_cents(self, cents: int) -> str:
        return format_currency(Decimal(cents) / 100, "USD", locale=self.locale)

    def time(self, at: datetime | None) -> str:
        if at is None:
            return "—"
        return format_time(at.astimezone(LOCAL_TZ), "short", locale=self.locale)

    def datetime(self, at: datetime) -> str:
        return format_datetime(at.astimezone(LOCAL_TZ), "medium", locale=self.locale)

    def date(self, day: _Date | _DateTime | str | None, form: str = "medium") -> str:
        if day is None:
            return "—"
        if isinstance(day, str):
            day = date.fromisoformat(day[:10])
        if isinstance(day, datetime):
            day = day.astimezone(LOCAL_TZ).date()
        return format_date(day, form, locale=self.locale)

    def listing(self, items: list[str]) -> str:
        return format_list(items, locale=self.locale) if items else "—"

    def name(self, names: object) -> str:
        """A vi/en/zh name in the page language."""
        return str(getattr(names, self.lang, None) or getattr(names, "en", ""))

    def label(self, kind: str, code: object, state: Mapping[str, Any] | None = None) -> str:
        """What people read for a code: the network's name, else the label tables."""
        if code is None or code == "":
            return "—"
        return labels.label(kind, str(code), self.lang, self.network, state)

    # --- the services' messages ----------------------------------------------------------------

    def param(self, name: str, value: Any) -> str:
        kind = PARAM_KINDS.get(name)
        if isinstance(value, (list, tuple, set, frozenset)):
            items = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
            return self.listing([self.param(name, v) for v in items])
        if kind is not None and isinstance(value, str):
            return self.label(kind, value)
        if isinstance(value, Text):
            return self.message(value)
        if isinstance(value, bool):
            return self.gettext("yes") if value else self.gettext("no")
        if isinstance(value, (int, float, Decimal)):
            return self.number(value)
        if isinstance(value, datetime):
            return self.datetime(value)
        if isinstance(value, date):
            return self.date(value)
        return str(value)

    def message(self, text: object, code: str | None = None) -> str:
        """A service's message in the page language: a :class:`Text` from its template
        (its parameters as labels and local numbers); an untranslated plain text only on
        English pages, else a general message for its kind of error."""
        if isinstance(text, Text):
            template = self.gettext(text.template)
            if template == text.template and self.lang != "en" and text.template not in \
                    _translated(self.lang):
                return self.gettext(GENERIC.get(code or "", FALLBACK))
            try:
                return template.format(**{k: self.param(k, v) for k, v in text.params.items()})
            except (KeyError, IndexError, ValueError):
                return self.gettext(GENERIC.get(code or "", FALLBACK))
        plain = str(text)
        if self.lang == "en" or plain in _translated(self.lang):
            return self.gettext(plain)
        return self.gettext(GENERIC.get(code or "", FALLBACK))

    def error(self, exc: AppError) -> str:
        """An error's message for the top of a page."""
        if len(exc.fields) == 1 and not isinstance(exc.message, Text):
            return self.message(exc.fields[0].reason, exc.code)
        return self.message(exc.message, exc.code)

    def field_errors(self, fields: list[FieldError]) -> dict[str, str]:
        """Field path -> its first message, in the page language."""
        out: dict[str, str] = {}
        for f in fields:
            out.setdefault(f.field, self.message(f.reason, "validation_failed"))
        return out

    # --- reading --------------------------------------------------------------------------------

    def parse_number(self, raw: str, places: int | None = None) -> Decimal | None:
        """A number as people type it in this language (Vietnamese ``1.200`` and
        ``21.000,50``; English and Chinese ``1,200`` and ``21000.50``; spaces between
        digit groups anywhere), or None when blank. What the locale's rules cannot decide
        (``1,200`` on a Vietnamese page, ``1.200`` on an English or Chinese one) is refused
        with both readings; so is a number with more decimals than ``places``."""
        text = _SPACES.sub("", raw or "")
        if not text:
            return None
        shown = (raw or "").strip()
        decimal_mark = get_decimal_symbol(self.locale)
        group_mark = get_group_symbol(self.locale)
        body = text.lstrip("+-")
        head, sep, tail = body.partition(decimal_mark)
        if (sep and group_mark not in body and tail.isdigit() and len(tail) == 3
                and head.isdigit() and 1 <= len(head) <= 3 and decimal_mark not in tail):
            small = Decimal(f"{head}.{tail}")
            large = Decimal(head + tail)
            raise NumberInputError(msg(
                "{value} could be read as {one} or as {other}; write {one} or {plain}",
                value=shown, one=self.number(small), other=self.number(large),
                plain=str(large)))
        try:
            value = parse_decimal(text, locale=self.locale, strict=True)
        except NumberFormatError as exc:
            suggestions = [s for s in getattr(exc, "suggestions", None) or [] if s]
            if suggestions:
                raise NumberInputError(msg("{value} is not a number as written here; "
                                           "did you mean {suggestion}?", value=shown,
                                           suggestion=suggestions[-1])) from None
            raise NumberInputError(msg("{value} is not a number", value=shown)) from None
        if places is not None and -value.as_tuple().exponent > places:  # type: ignore[operator]
            if places == 0:
                raise NumberInputError(msg("read as {number}; a whole number is needed here",
                                           number=self.number(value))) from None
            raise NumberInputError(msg("read as {number}; at most {places} decimals",
                                       number=self.number(value), places=places)) from None
        return value

    def number_input(self, value: float | int | Decimal | str | None,
                     places: int | None = None) -> str:
        """A stored number as a form shows it for editing in this language."""
        if value is None or value == "":
            return ""
        number = Decimal(str(value))
        exponent = number.normalize().as_tuple().exponent
        shown = max(0, -exponent) if isinstance(exponent, int) else 0
        if places is not None:
            shown = min(shown, places)
        return self.number(number, places=shown)


@cache
def _translated(lang: str) -> frozenset[str]:
    """The msgids a language's catalogues translate."""
    catalog = translations(lang)
    found: set[str] = set()
    if isinstance(catalog, Translations):
        found = {k for k in catalog._catalog if isinstance(k, str) and k}
    return frozenset(found)


def canonical(value: Decimal | None) -> str | None:
    """A number read from a form as the API's plain text (``1200``, ``21000.5``)."""
    return None if value is None else format(value, "f")
