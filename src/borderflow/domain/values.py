"""Value objects: tax codes, plates, HS codes, phone numbers, identity documents.

Each ``parse_*`` function takes user input and returns the canonical form, or raises
``ValueError`` with a message written for the person who typed the value. The same messages
appear in the API (422) and on the web forms.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

import phonenumbers
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric
from stdnum.vn import mst

from borderflow.errors import msg

# --- Vietnamese tax code (mã số thuế) ---------------------------------------------------------


def parse_tax_code(value: str) -> str:
    """A Vietnamese tax code: 10 digits, or 10 + 3-digit branch suffix (``0100109106-001``).

    Returns the canonical form with a hyphen before the branch suffix.
    """
    raw = value.strip()
    if not raw:
        raise ValueError(msg("tax code is required"))
    try:
        number = mst.validate(raw)
    except stdnum_errors.InvalidLength:
        raise ValueError(msg(
            "tax code must have 10 digits, or 10 digits and a 3-digit branch suffix "
            "(e.g. 0100109106 or 0100109106-001)"
        )) from None
    except stdnum_errors.InvalidFormat:
        raise ValueError(msg("tax code may contain only digits and one hyphen")) from None
    except stdnum_errors.InvalidChecksum:
        raise ValueError(msg("tax code check digit (10th digit) is wrong; check for a "
                             "typo")) from None
    except stdnum_errors.ValidationError:
        raise ValueError(msg("tax code is not a valid Vietnamese tax code")) from None
    return str(mst.format(number))


def tax_code_head(tax_code: str) -> str:
    """The 10-digit enterprise part of a tax code (branches share it)."""
    return tax_code[:10]


# --- Vehicle plates ---------------------------------------------------------------------------

# Vietnamese plates: 2-digit province code, a series of one or two letters optionally followed by
# a digit (C, H, LD, R for trailers, ...), then 4 digits (old) or 5 digits (shown as 123.45).
# Without a separator "29C12345" is read as series C and number 123.45; a series with a digit
# (C1) needs the hyphen: "29C1-2345".
_VN_PLATE = re.compile(r"^(\d{2})([A-Z]{1,2})-?(\d{3}\.?\d{2}|\d{4})$")
_VN_PLATE_DIGIT_SERIES = re.compile(r"^(\d{2})([A-Z]{1,2}\d)-(\d{3}\.?\d{2}|\d{4})$")
_CN_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Chinese plates: province character, issuing-authority letter, then 5 characters (6 for new
# energy vehicles); trailers end in 挂.
_CN_PLATE = re.compile(
    rf"^([{_CN_PROVINCES}])([A-Z])[·•\.\- ]?([A-HJ-NP-Z0-9]{{5,6}}|[A-HJ-NP-Z0-9]{{4}}挂)$"
)


@dataclass(frozen=True, slots=True)
class Plate:
    """A registration plate in canonical display form, with its country and match key."""

    text: str
    country: Literal["VN", "CN"]

    @property
    def key(self) -> str:
        """Letters and digits only: what cameras and searches compare."""
        return plate_key(self.text)


def plate_key(text: str) -> str:
    """Upper-case letters, digits and CJK characters only (``29C-123.45`` -> ``29C12345``)."""
    norm = unicodedata.normalize("NFKC", text).upper()
    return "".join(ch for ch in norm if ch.isalnum())


def parse_plate(value: str) -> Plate:
    """A Vietnamese plate (``29C-123.45``, ``12H-01234``) or a Chinese plate (``桂A12345``)."""
    raw = unicodedata.normalize("NFKC", value).strip().upper()
    if not raw:
        raise ValueError(msg("plate is required"))
    compact = re.sub(r"\s+", "", raw)
    m = _VN_PLATE.match(compact) or _VN_PLATE_DIGIT_SERIES.match(compact)
    if m:
        province, series, number = m.groups()
        if not 11 <= int(province) <= 99:
            raise ValueError(msg("'{province}' is not a Vietnamese province code (11-99)",
                                 province=province))
        digits = number.replace(".", "")
        if len(digits) == 5:
            return Plate(f"{province}{series}-{digits[:3]}.{digits[3:]}", "VN")
        return Plate(f"{province}{series}-{digits}", "VN")
    m = _CN_PLATE.match(compact)
    if m:
        province, authority, rest = m.groups()
        return Plate(f"{province}{authority}·{rest}", "CN")
    raise ValueError(msg(
        "not a recognised plate: use a Vietnamese plate such as 29C-123.45 or 12H-01234, "
        "or a Chinese plate such as 桂A·12345"
    ))


# --- HS codes ---------------------------------------------------------------------------------


def parse_hs_code(value: str) -> str:
    """An HS code of 4 to 10 digits (dots and spaces allowed: ``0810.90``); chapter 01-97."""
    raw = re.sub(r"[\s.]", "", unicodedata.normalize("NFKC", value).strip())
    if not raw:
        raise ValueError(msg("HS code is required"))
    if not (raw.isascii() and raw.isdigit()):
        raise ValueError(msg("HS code may contain only digits (dots and spaces are ignored)"))
    if not 4 <= len(raw) <= 10:
        raise ValueError(msg("HS code must have 4 to 10 digits (heading at least)"))
    if len(raw) % 2:
        raise ValueError(msg("HS code must have an even number of digits (4, 6, 8 or 10)"))
    chapter = int(raw[:2])
    if not 1 <= chapter <= 97 or chapter == 77:
        raise ValueError(msg("HS chapter {chapter} does not exist (chapters are 01-97, not 77)",
                                 chapter=raw[:2]))
    return raw


# --- Phone numbers ----------------------------------------------------------------------------


def parse_phone(value: str, default_region: str = "VN") -> str:
    """A phone number, returned in E.164 (``+84912345678``). National numbers are Vietnamese."""
    raw = value.strip()
    if not raw:
        raise ValueError(msg("phone number is required"))
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        raise ValueError(msg("not a phone number (e.g. 0912 345 678 or "
                             "+86 138 0013 8000)")) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(msg("not a valid phone number for its country"))
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


# --- Identity documents -----------------------------------------------------------------------

DocumentType = Literal["vn_citizen_id", "vn_id_card", "passport", "cn_resident_id", "border_pass"]


def parse_document(doc_type: DocumentType, value: str) -> str:
    """An identity document number of the given type, canonicalised."""
    raw = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", value).strip()).upper()
    if not raw:
        raise ValueError(msg("document number is required"))
    if not raw.isascii():
        raise ValueError(msg("document number may contain only Latin letters and digits"))
    if doc_type == "vn_citizen_id":
        if not re.fullmatch(r"\d{12}", raw):
            raise ValueError(msg("a Vietnamese citizen ID (CCCD) has 12 digits"))
        province = int(raw[:3])
        if not 1 <= province <= 96:
            raise ValueError(msg("a citizen ID starts with a province code 001-096"))
        return raw
    if doc_type == "vn_id_card":
        if not re.fullmatch(r"\d{9}", raw):
            raise ValueError(msg("an old Vietnamese ID card (CMND) has 9 digits"))
        return raw
    if doc_type == "cn_resident_id":
        try:
            return str(ric.validate(raw))
        except stdnum_errors.ValidationError:
            raise ValueError(msg(
                "not a valid Chinese resident ID (18 characters with a check character)"
            )) from None
    if doc_type in ("passport", "border_pass"):
        if not re.fullmatch(r"[A-Z0-9]{6,12}", raw):
            raise ValueError(msg("a passport or border pass number has 6 to 12 letters and digits"))
        return raw
    raise ValueError(msg("unknown document type '{document_type}'", document_type=doc_type))


# --- Money ------------------------------------------------------------------------------------


_USD = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d{1,13})(?:\.\d{1,2})?", re.ASCII)


def usd_to_cents(value: str) -> int:
    """A USD amount with at most 2 decimals, as integer cents (never floats).

    Commas are accepted only as thousands separators (``1,234.50``); ``12,5`` is refused
    rather than guessed.
    """
    raw = value.strip()
    if not _USD.fullmatch(raw):
        raise ValueError(msg(
            "amount must be a non-negative number with at most 2 decimals, a dot as decimal "
            "mark (e.g. 1234.50 or 1,234.50)"
        ))
    whole, _, frac = raw.replace(",", "").partition(".")
    if len(whole) > 13:
        raise ValueError(msg("amount must be a non-negative number with at most 2 decimals "
                             "(and below 10^13)"))
    return int(whole) * 100 + int((frac + "00")[:2])


def cents_to_usd(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"
