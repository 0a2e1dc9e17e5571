"""The catalogues are complete: every text a page, a service's message or a label can show
has a Vietnamese and a Chinese translation (not fuzzy), with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from borderflow.web import i18n

SRC = Path(__file__).resolve().parents[2] / "src" / "borderflow"
KEYWORDS = {"_": None, "gettext": None, "N_": None, "msg": None}
PLACEHOLDER = re.compile(r"\{(\w*)[^}]*\}")


def used_texts() -> set[str]:
    """Every msgid of the code and the templates (``msg(...)``, ``N_(...)``, ``_(...)``)."""
    found = {m[2] for m in extract_from_dir(
        str(SRC), method_map=[("web/templates/**.html", "jinja2"), ("**.py", "python")],
        keywords=KEYWORDS)}
    return {m for m in found if isinstance(m, str) and m}


def test_every_text_has_a_vietnamese_and_a_chinese_translation() -> None:
    used = used_texts()
    assert len(used) > 200
    for lang in ("vi", "zh"):
        known = i18n._translated(lang)
        missing = sorted(m for m in used if m not in known)
        assert missing == [], (lang, len(missing), missing[:40])


def test_no_catalogue_entry_is_fuzzy_and_placeholders_match() -> None:
    for lang in ("vi", "zh"):
        for path in sorted((i18n.LOCALES / lang / "LC_MESSAGES").glob("*.po")):
            with path.open("rb") as f:
                catalogue = read_po(f)
            for message in catalogue:
                if not message.id:
                    continue
                assert not message.fuzzy, (path.name, message.id)
                assert message.string, (path.name, message.id)
                wanted = set(PLACEHOLDER.findall(str(message.id)))
                assert set(PLACEHOLDER.findall(str(message.string))) == wanted, (
                    path.name, message.id, message.string)
