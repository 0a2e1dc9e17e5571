"""Value objects: what a user types and what the platform keeps (borderflow.domain.values)."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric
from stdnum.vn import mst

from borderflow.domain.values import (
    Plate,
    cents_to_usd,
    parse_document,
    parse_hs_code,
    parse_phone,
    parse_plate,
    parse_tax_code,
    plate_key,
    tax_code_head,
    usd_to_cents,
)

FAST = settings(max_examples=60, database=None, deadline=None)
DIGITS = "0123456789"

# --- tax codes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("0100109106", "0100109106"),
        ("  0100109106 ", "0100109106"),
        ("0100109106-001", "0100109106-001"),
        ("0100109106001", "0100109106-001"),
        ("0100109106 001", "0100109106-001"),
        ("０１００１０９１０６", "0100109106"),
    ],
)
def test_tax_code_valid_is_canonicalised(raw: str, canonical: str) -> None:
    assert parse_tax_code(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "tax code is required"),
        ("   ", "tax code is required"),
        ("0100109107", r"check digit \(10th digit\) is wrong"),
        ("010010910", "must have 10 digits"),
        ("01001091061", "must have 10 digits"),
        ("0100109106-01", "3-digit branch suffix"),
        ("01001091O6", "only digits"),
        ("0100109106-ABC", "only digits"),
        ("0100109106-000", "not a valid Vietnamese tax code"),
    ],
)
def test_tax_code_invalid_says_why(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_tax_code(raw)


def test_tax_code_head_is_shared_by_branches() -> None:
    assert tax_code_head(parse_tax_code("0100109106-001")) == "0100109106"
    assert tax_code_head(parse_tax_code("0100109106")) == "0100109106"


def _tax_prefix_and_check(prefix: str) -> str:
    assume(prefix[2:9] != "0000000")  # stdnum rejects an all-zero sequence number
    check = mst.calc_check_digit(prefix)
    assume(len(check) == 1)  # a weighted sum divisible by 11 gives no usable check digit
    return check


@FAST
@given(prefix=st.text(DIGITS, min_size=9, max_size=9), branch=st.integers(1, 999))
def test_tax_code_with_computed_check_digit_validates(prefix: str, branch: int) -> None:
    check = _tax_prefix_and_check(prefix)
    assert parse_tax_code(prefix + check) == prefix + check
    suffix = f"{branch:03d}"
    assert parse_tax_code(prefix + check + suffix) == f"{prefix}{check}-{suffix}"


@FAST
@given(prefix=st.text(DIGITS, min_size=9, max_size=9), wrong=st.sampled_from(DIGITS))
def test_tax_code_with_changed_check_digit_fails(prefix: str, wrong: str) -> None:
    check = _tax_prefix_and_check(prefix)
    assume(wrong != check)
    with pytest.raises(ValueError, match="check digit"):
        parse_tax_code(prefix + wrong)


# --- plates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text", "country"),
    [
        ("29C-123.45", "29C-123.45", "VN"),
        ("12H-01234", "12H-012.34", "VN"),
        ("29c12345", "29C-123.45", "VN"),
        (" 29C 123 45 ", "29C-123.45", "VN"),
        ("２９Ｃ１２３４５", "29C-123.45", "VN"),
        ("29LD-123.45", "29LD-123.45", "VN"),
        ("29C-1234", "29C-1234", "VN"),
        ("29C1234", "29C-1234", "VN"),
        ("29C1-2345", "29C1-2345", "VN"),
        ("29C1-123.45", "29C1-123.45", "VN"),
        ("11C-123.45", "11C-123.45", "VN"),
        ("99C-123.45", "99C-123.45", "VN"),
        ("桂A12345", "桂A·12345", "CN"),
        ("桂a.12345", "桂A·12345", "CN"),
        ("桂AD12345", "桂A·D12345", "CN"),
        ("桂A·1234挂", "桂A·1234挂", "CN"),
        ("桂A1234挂", "桂A·1234挂", "CN"),
    ],
)
def test_plate_valid_is_canonicalised(raw: str, text: str, country: str) -> None:
    assert parse_plate(raw) == Plate(text, country)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "plate is required"),
        ("  ", "plate is required"),
        ("05C-123.45", "'05' is not a Vietnamese province code"),
        ("10C-123.45", "'10' is not a Vietnamese province code"),
        ("00C-1234", "'00' is not a Vietnamese province code"),
        ("garbage", "not a recognised plate"),
        ("29C-123.4", "not a recognised plate"),
        ("29C-123456", "not a recognised plate"),
        # a series with a digit needs the hyphen, otherwise the number is ambiguous
        ("29C112345", "not a recognised plate"),
        ("京A1234I", "not a recognised plate"),  # I and O are not used on Chinese plates
        ("XA12345", "not a recognised plate"),  # not a Chinese province
    ],
)
def test_plate_invalid_says_why(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_plate(raw)


def test_plate_error_shows_examples_of_accepted_forms() -> None:
    with pytest.raises(ValueError, match=r"29C-123\.45.*桂A·12345"):
        parse_plate("ABC")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("29C-123.45", "29C12345"),
        ("29c 123.45", "29C12345"),
        ("桂A·12345", "桂A12345"),
        ("桂A·1234挂", "桂A1234挂"),
        ("２９Ｃ－１２３．４５", "29C12345"),
    ],
)
def test_plate_key_keeps_only_letters_digits_and_cjk(text: str, key: str) -> None:
    assert plate_key(text) == key


def test_plate_key_property_matches_canonical_text() -> None:
    assert parse_plate("29c 123 45").key == "29C12345"
    assert parse_plate("桂A12345").key == "桂A12345"


_separators = st.sampled_from(["", " "])


@st.composite
def vn_plate_inputs(draw: st.DrawFn) -> tuple[str, str]:
    """A valid Vietnamese plate as a user might type it, and its expected canonical text."""
    province = f"{draw(st.integers(11, 99)):02d}"
    letters = draw(st.text("ABCDEFGHKLMNPSTUVXYZ", min_size=1, max_size=2))
    digit = draw(st.sampled_from(["", *DIGITS]))
    series = letters + digit
    number = draw(st.text(DIGITS, min_size=4, max_size=5))
    if len(number) == 5:
        shown = f"{number[:3]}.{number[3:]}"
        typed = number[:3] + draw(st.sampled_from(["", "."])) + number[3:]
    else:
        shown = typed = number
    hyphen = "-" if digit else draw(st.sampled_from(["", "-"]))
    raw = province + draw(_separators) + series + hyphen + draw(_separators) + typed
    if draw(st.booleans()):
        raw = raw.lower()
    return f" {raw} " if draw(st.booleans()) else raw, f"{province}{series}-{shown}"


@FAST
@given(case=vn_plate_inputs())
def test_vn_plate_parse_gives_expected_canonical_text(case: tuple[str, str]) -> None:
    raw, canonical = case
    assert parse_plate(raw) == Plate(canonical, "VN")


@FAST
@given(case=vn_plate_inputs())
def test_vn_plate_parse_is_idempotent(case: tuple[str, str]) -> None:
    plate = parse_plate(case[0])
    assert parse_plate(plate.text) == plate


@FAST
@given(case=vn_plate_inputs())
def test_plate_key_of_canonical_equals_key_of_input(case: tuple[str, str]) -> None:
    raw = case[0]
    assert plate_key(parse_plate(raw).text) == plate_key(raw)
    assert plate_key(raw) == re.sub(r"[^0-9A-Z]", "", raw.upper())


@FAST
@given(
    province=st.sampled_from("京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"),
    authority=st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZ"),
    rest=st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=5, max_size=6),
    sep=st.sampled_from(["", "·", ".", "-", " "]),
)
def test_cn_plate_parse_is_idempotent(province: str, authority: str, rest: str, sep: str) -> None:
    plate = parse_plate(province + authority + sep + rest)
    assert plate == Plate(f"{province}{authority}·{rest}", "CN")
    assert parse_plate(plate.text) == plate


# --- HS codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("0810", "0810"),
        ("0810.90", "081090"),
        (" 0810 90 10 ", "08109010"),
        ("0810.90.10.00", "0810901000"),
        ("0101", "0101"),
        ("9701", "9701"),
        ("7601", "7601"),
        ("7801", "7801"),
    ],
)
def test_hs_code_valid_is_canonicalised(raw: str, canonical: str) -> None:
    assert parse_hs_code(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "HS code is required"),
        (" . . ", "HS code is required"),
        ("08ab", "only digits"),
        ("0810-90", "only digits"),
        ("081", "4 to 10 digits"),
        ("08", "4 to 10 digits"),
        ("081090100012", "4 to 10 digits"),
        ("08109", "even number of digits"),
        ("0810901", "even number of digits"),
        ("0010", "chapter 00 does not exist"),
        ("7701", "chapter 77 does not exist"),
        ("9801", "chapter 98 does not exist"),
        ("9901", "chapter 99 does not exist"),
    ],
)
def test_hs_code_invalid_says_why(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hs_code(raw)


def test_hs_code_full_width_digits_are_canonicalised_to_ascii() -> None:
    assert parse_hs_code("０８１０.９０") == "081090"


def test_hs_code_compatibility_digits_are_normalised_or_refused_with_a_user_message() -> None:
    assert parse_hs_code("0²10") == "0210"  # NFKC folds superscripts to ASCII digits
    with pytest.raises(ValueError, match="only digits"):
        parse_hs_code("٠٨١٠")  # Arabic-Indic digits are not ASCII after NFKC


# --- phone numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("0912345678", "VN", "+84912345678"),
        ("0912 345 678", "VN", "+84912345678"),
        ("+84 912 345 678", "VN", "+84912345678"),
        ("+86 138 0013 8000", "VN", "+8613800138000"),
        ("+8613800138000", "VN", "+8613800138000"),
        ("138 0013 8000", "CN", "+8613800138000"),
    ],
)
def test_phone_valid_is_e164(raw: str, region: str, e164: str) -> None:
    assert parse_phone(raw, region) == e164


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "phone number is required"),
        ("   ", "phone number is required"),
        ("garbage", "not a phone number"),
        ("091", "not a valid phone number"),
        ("12345", "not a valid phone number"),
        # a Chinese mobile without +86 is read as a Vietnamese national number
        ("13800138000", "not a valid phone number"),
    ],
)
def test_phone_invalid_says_why(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_phone(raw)


# --- identity documents -----------------------------------------------------------------------

_CN_RIC_BODY = "11010519491231002"
# calc_check_digit expects the full 18 characters and ignores the last one
CN_RIC_VALID = _CN_RIC_BODY + ric.calc_check_digit(_CN_RIC_BODY + "?")


@pytest.mark.parametrize(
    ("doc_type", "raw", "canonical"),
    [
        ("vn_citizen_id", "001234567890", "001234567890"),
        ("vn_citizen_id", "096234567890", "096234567890"),
        ("vn_citizen_id", " 001 234 567 890 ", "001234567890"),
        ("vn_citizen_id", "001-234-567-890", "001234567890"),
        ("vn_id_card", "123456789", "123456789"),
        ("vn_id_card", "123 456 789", "123456789"),
        ("passport", "b1234567", "B1234567"),
        ("passport", "E12345", "E12345"),
        ("passport", "EA1234567890", "EA1234567890"),
        ("border_pass", "ab-123456", "AB123456"),
        ("cn_resident_id", CN_RIC_VALID, CN_RIC_VALID),
        ("cn_resident_id", CN_RIC_VALID.lower(), CN_RIC_VALID),
    ],
)
def test_document_valid_is_canonicalised(doc_type: str, raw: str, canonical: str) -> None:
    assert parse_document(doc_type, raw) == canonical  # type: ignore[arg-type]


def _wrong_check(body: str) -> str:
    right = ric.calc_check_digit(body + "?")
    return body + ("1" if right != "1" else "2")


@pytest.mark.parametrize(
    ("doc_type", "raw", "message"),
    [
        ("vn_citizen_id", "", "document number is required"),
        ("vn_citizen_id", "00123456789", r"citizen ID \(CCCD\) has 12 digits"),
        ("vn_citizen_id", "0012345678901", r"citizen ID \(CCCD\) has 12 digits"),
        ("vn_citizen_id", "00123456789A", r"citizen ID \(CCCD\) has 12 digits"),
        ("vn_citizen_id", "000234567890", "province code 001-096"),
        ("vn_citizen_id", "097234567890", "province code 001-096"),
        ("vn_id_card", "12345678", r"ID card \(CMND\) has 9 digits"),
        ("vn_id_card", "1234567890", r"ID card \(CMND\) has 9 digits"),
        ("passport", "B1234", "6 to 12 letters and digits"),
        ("passport", "B1234567890123", "6 to 12 letters and digits"),
        ("passport", "B12345/67", "6 to 12 letters and digits"),
        ("border_pass", "AB12", "6 to 12 letters and digits"),
        ("cn_resident_id", _wrong_check(_CN_RIC_BODY), "not a valid Chinese resident ID"),
        ("cn_resident_id", CN_RIC_VALID[:-1], "not a valid Chinese resident ID"),
        ("driving_licence", "123456", "unknown document type 'driving_licence'"),
    ],
)
def test_document_invalid_says_why(doc_type: str, raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_document(doc_type, raw)  # type: ignore[arg-type]


def test_document_full_width_digits_are_canonicalised_to_ascii() -> None:
    assert parse_document("vn_citizen_id", "００１２３４５６７８９０") == "001234567890"


# --- money ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "cents"),
    [
        ("0", 0),
        ("12", 1200),
        ("12.3", 1230),
        ("12.34", 1234),
        ("0.05", 5),
        (" 7 ", 700),
        ("1,234.56", 123456),
        ("1,000,000", 100000000),
        ("9999999999999.99", 999999999999999),
    ],
)
def test_usd_to_cents_valid(raw: str, cents: int) -> None:
    result = usd_to_cents(raw)
    assert result == cents
    assert type(result) is int


@pytest.mark.parametrize(
    "raw",
    ["", "abc", "-1", "-0.50", "12.345", "1.", ".5", "1e3", "12.3.4", "$12", "10000000000000"],
)
def test_usd_to_cents_invalid_says_why(raw: str) -> None:
    with pytest.raises(ValueError, match="non-negative number with at most 2 decimals"):
        usd_to_cents(raw)


def test_usd_to_cents_rejects_comma_that_is_not_a_thousands_separator() -> None:
    with pytest.raises(ValueError, match="amount"):
        usd_to_cents("12,5")


@pytest.mark.parametrize(
    ("cents", "text"),
    [(0, "0.00"), (5, "0.05"), (50, "0.50"), (100, "1.00"), (123456, "1234.56")],
)
def test_cents_to_usd(cents: int, text: str) -> None:
    assert cents_to_usd(cents) == text


def test_cents_to_usd_negative_is_not_silently_wrong() -> None:
    try:
        text = cents_to_usd(-5)
    except ValueError:
        return  # rejecting negative amounts is acceptable
    assert text == "-0.05"


@FAST
@given(cents=st.integers(min_value=0, max_value=10**15 - 1))
def test_usd_round_trip(cents: int) -> None:
    text = cents_to_usd(cents)
    assert re.fullmatch(r"\d+\.\d{2}", text)
    assert usd_to_cents(text) == cents


@FAST
@given(cents=st.integers(min_value=0, max_value=10**15 - 1))
def test_usd_with_thousands_separators(cents: int) -> None:
    assert usd_to_cents(f"{cents // 100:,}.{cents % 100:02d}") == cents
