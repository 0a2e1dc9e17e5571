"""No SQL in the HTTP layer: the pages (``borderflow.web``) and every ``*endpoints.py`` parse,
authorise, call one function per read model or use case, and shape the answer. Queries live
in the features (``<feature>/service.py``, ``views.py``, ``queries.py``...), so the HTTP
modules import neither SQLAlchemy nor the storage models, except where listed below with the
reason."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "borderflow"

ANNOTATIONS_ONLY: dict[str, str] = {
    "borderflow/web/account_page.py": "the account a login step passes on (Account)",
    "borderflow/exchange/endpoints.py": "the bulletin row the API shapes (Bulletin)",
    "borderflow/notify/endpoints.py": "the notification and delivery rows the API shapes",
    "borderflow/trip/endpoints.py": "the trip row the API shapes (Trip)",
}
"""Modules that name storage rows in annotations only: imported under ``if TYPE_CHECKING:``,
so nothing of them exists at run time and no query can be built from them."""

EXCEPTIONS: dict[tuple[str, str], str] = {
    ("borderflow/web/session.py", "sqlalchemy.exc"):
        "the session's last-request time is a best-effort write given up when the database "
        "is busy: the page catches the database's busy errors (no query is built)",
}
"""Imports of SQLAlchemy or the storage models kept at run time, each with its reason."""


def http_modules() -> list[Path]:
    return sorted({*(PACKAGE / "web").rglob("*.py"), *PACKAGE.rglob("*endpoints.py")})


def _forbidden(module: str) -> bool:
    return (module == "sqlalchemy" or module.startswith("sqlalchemy.")
            or module == "borderflow.store.models"
            or module.startswith("borderflow.store.models."))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def storage_imports(tree: ast.AST) -> list[tuple[int, str, bool]]:
    """(line, module, under TYPE_CHECKING) of every import of SQLAlchemy or the storage
    models, at any depth (functions included)."""
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, typing_only: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name, typing_only) for a in node.names
                         if _forbidden(a.name))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if _forbidden(node.module):
                found.append((node.lineno, node.module, typing_only))
            elif node.module == "borderflow.store" and any(
                    a.name == "models" for a in node.names):
                found.append((node.lineno, "borderflow.store.models", typing_only))
        for child in ast.iter_child_nodes(node):
            under = typing_only or (isinstance(node, ast.If) and _is_type_checking(node)
                                    and child in node.body)
            visit(child, under)

    visit(tree, False)
    return found


def test_the_check_sees_the_pages_and_every_endpoints_module() -> None:
    names = {p.relative_to(SRC).as_posix() for p in http_modules()}
    assert {"borderflow/web/pages.py", "borderflow/web/console.py",
            "borderflow/fees/endpoints.py", "borderflow/trip/endpoints.py"} <= names
    assert len(names) >= 20


def test_pages_and_endpoints_import_neither_sqlalchemy_nor_the_storage_models() -> None:
    problems = []
    used: set[object] = set()
    for path in http_modules():
        name = path.relative_to(SRC).as_posix()
        for line, module, typing_only in storage_imports(ast.parse(path.read_text("utf-8"))):
            if (name, module) in EXCEPTIONS:
                used.add((name, module))
            elif typing_only and module.startswith("borderflow.store.models") \
                    and name in ANNOTATIONS_ONLY:
                used.add(name)
            else:
                where = " (under TYPE_CHECKING, not listed in ANNOTATIONS_ONLY)" \
                    if typing_only else ""
                problems.append(f"src/{name}:{line} imports {module}{where}: move the query "
                                "into the feature (a views.py or queries.py module) and call it")
    assert not problems, "\n".join(problems)
    stale = [str(k) for k in [*EXCEPTIONS, *ANNOTATIONS_ONLY] if k not in used]
    assert not stale, f"exceptions no longer needed, remove them: {stale}"


def test_the_check_catches_imports_at_any_depth() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "import sqlalchemy as sa\n"
        "from borderflow.store import models\n"
        "if TYPE_CHECKING:\n"
        "    from borderflow.store.models import Trip\n"
        "def f():\n"
        "    from sqlalchemy import select\n")
    assert storage_imports(tree) == [(2, "sqlalchemy", False),
                                     (3, "borderflow.store.models", False),
                                     (5, "borderflow.store.models", True),
                                     (7, "sqlalchemy", False)]
