"""docs/security.md: the ASVS checklist covers every chapter, each row has a status, and every
test it points to exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
STATUSES = {"met", "partly", "not met", "n/a"}


def _checklist() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index("## ASVS level 2 checklist"):]


def _rows() -> list[list[str]]:
    rows = []
    for line in _checklist().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and re.fullmatch(r"\d+\.\d+\.\d+", cells[0]):
            rows.append(cells)
    return rows


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")}


def test_every_chapter_and_row_has_a_status_and_a_proof_or_reason() -> None:
    rows = _rows()
    chapters = {int(cells[0].split(".")[0]) for cells in rows}
    assert chapters == set(range(1, 15))
    ids = [cells[0] for cells in rows]
    assert len(ids) == len(set(ids)), "each requirement once"
    assert len(rows) > 200
    for cells in rows:
        assert len(cells) == 4, cells
        assert cells[2] in STATUSES, cells
        assert cells[3], f"{cells[0]} needs its proof or the reason it does not apply"


def test_the_summary_counts_the_rows() -> None:
    rows = _rows()
    found = re.search(r"In all, (\d+) requirements: (\d+) met, (\d+) partly, (\d+) not met, "
                      r"(\d+) not applicable", " ".join(_checklist().split()))
    assert found, "the checklist opens with its counts"
    statuses = [cells[2] for cells in rows]
    assert [int(n) for n in found.groups()] == [
        len(rows), statuses.count("met"), statuses.count("partly"), statuses.count("not met"),
        statuses.count("n/a")]


def test_every_test_the_security_guide_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`(?:tests/)?([\w/]+\.py)::(test_\w+)`", text))
    # a name after a first `file::test` in the same cell may be written `::test_name` alone
    missing = []
    for path, name in sorted(named):
        file = ROOT / "tests" / path
        if not file.is_file() or name not in _tests_in(file):
            missing.append(f"{path}::{name}")
    assert len(named) > 50
    assert missing == []


def test_every_test_file_the_security_guide_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    files = set(re.findall(r"`(?:tests/)?((?:api|security|privacy|robustness|web|e2e|fees|"
                           r"exchange|trip|domain|notify|report|docs|store)/[\w/]+\.py)", text))
    assert [f for f in sorted(files) if not (ROOT / "tests" / f).is_file()] == []
