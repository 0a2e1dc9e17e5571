"""Functions stay readable: none in src/borderflow is longer than MAX_LINES lines (from its
``def`` to its last line, nested functions included). Split a longer one where its parts have
names. ALLOWED lists what cannot sensibly be split now, each with its reason; delete an entry
as soon as its function is split (the test fails on entries that are no longer needed)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "borderflow"
MAX_LINES = 80

ALLOWED: dict[str, str] = {
    # "<path under src/borderflow>::<function>" (a path ending in "/" covers a folder)
    "store/migrations/versions/": "migrations are the schema's history as Alembic generated "
                                  "and applied it; they are never edited afterwards",
    "sim/kernels.py::advance": "the gate areas' event loop compiled by numba as one function: "
                               "split into calls, each passing some 30 arrays, an event took "
                               "550 ns instead of 105 (a year is tens of millions of events); "
                               "its parts are named by comments and mirrored, method by "
                               "method, by sim/reference.py, which tests check it against",
}


def _long_functions() -> dict[str, int]:
    """``path::name`` (qualified by enclosing functions and classes) -> length in lines."""
    found: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()

        def visit(node: ast.AST, prefix: str, rel: str = rel) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    name = f"{prefix}{child.name}"
                    if not isinstance(child, ast.ClassDef):
                        length = (child.end_lineno or child.lineno) - child.lineno + 1
                        if length > MAX_LINES:
                            found[f"{rel}::{name}"] = length
                    visit(child, f"{name}.")
                else:
                    visit(child, prefix)

        visit(ast.parse(path.read_text(encoding="utf-8"), filename=rel), "")
    return found


def _allowed(key: str) -> bool:
    path = key.split("::", 1)[0]
    return key in ALLOWED or any(entry.endswith("/") and path.startswith(entry)
                                 for entry in ALLOWED)


def test_no_function_is_longer_than_the_limit_unless_allowed() -> None:
    found = _long_functions()
    too_long = {k: n for k, n in found.items() if not _allowed(k)}
    assert too_long == {}, (
        f"functions longer than {MAX_LINES} lines (split them where their parts have names, "
        f"or add them to ALLOWED in {Path(__file__).name} with the reason): "
        + ", ".join(f"{k} ({n} lines)" for k, n in sorted(too_long.items())))
    unneeded = sorted(k for k in ALLOWED if not k.endswith("/") and k not in found)
    assert unneeded == [], (f"now within {MAX_LINES} lines, so take them out of ALLOWED: "
                            + ", ".join(unneeded))


def test_every_allowed_entry_names_a_file_and_gives_a_reason() -> None:
    for entry, reason in ALLOWED.items():
        path = entry.split("::", 1)[0]
        assert (PACKAGE / path).exists(), f"ALLOWED names a missing path: {entry}"
        assert entry.endswith("/") or "::" in entry, f"name the function: {entry}"
        assert reason.strip(), f"give the reason for {entry}"
