"""What every file the platform writes for people shares: the font that prints Vietnamese and
Chinese alike, and spreadsheet cells that never run as formulas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FONT = Path(__file__).resolve().parent / "data" / "fonts" / "NotoSansSC-Regular.ttf"
"""Noto Sans SC Regular (SIL Open Font License, shipped in the package with its licence, see
``data/fonts/README.md``): receipts, bulletins and reports embed it, and the web pages load it
for Chinese text."""

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula: text starting with = + - @, tab or
    carriage return gets a leading apostrophe; numbers and other values stay as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
