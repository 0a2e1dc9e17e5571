"""The documentation states what the code does."""

from __future__ import annotations

from pathlib import Path

from borderflow.config import Settings
from borderflow.domain.access import PERMISSIONS, Role

ROOT = Path(__file__).resolve().parents[2]


def test_roles_matrix_in_the_docs_matches_the_code() -> None:
    text = (ROOT / "docs" / "roles.md").read_text(encoding="utf-8")
    table = text.split("<!-- roles-matrix:start -->")[1].split("<!-- roles-matrix:end -->")[0]
    rows = [line for line in table.strip().splitlines() if line.startswith("| `")]
    header = [c.strip() for c in table.strip().splitlines()[0].strip("|").split("|")][1:]
    assert header == [r.value for r in Role]
    documented: dict[str, frozenset[Role]] = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        action = cells[0].strip("`")
        documented[action] = frozenset(Role(h) for h, c in zip(header, cells[1:], strict=True)
                                       if c == "✔")
    assert documented == PERMISSIONS


def test_readme_first_screen_shows_the_two_commands() -> None:
    first_screen = "\n".join(
        (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:40])
    assert "make run" in first_screen
    assert "make test" in first_screen


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"BORDERFLOW_{name.upper()}" in readme, name
